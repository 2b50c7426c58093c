"""How degenerate are the default exam problems? The figures of issue 25, item 10.

Over the default problems of ``ag exam --seeds 1-30`` (or the seeds given), counts

* leaf grads that are 0 (a student writing 0 everywhere earns this share of leaf credit),
* outputs that are 0,
* the distinct arguments of ``exp`` and ``log`` (``exp`` only ever at 0 and ``log`` only
  at 1 teaches one fact each),
* grads of the key that are not short decimals (printed with an exact form such as
  ``e^-6`` or ``ln 2``).

Run: ``python benchmarks/exam_problem_figures.py [--seeds 1-30] [--difficulty exam]``.
:func:`figures` is what ``tests/exam/test_exam_figures.py`` asserts on.
"""

from __future__ import annotations

import argparse
from typing import Any

from ag.exam import generate
from ag.exam.handout import parse_seeds


def figures(seeds: list[int], **controls: Any) -> dict[str, Any]:
    """The counts above over ``generate(seed=s, **controls)`` for every seed."""
    leaf_grads = zero_leaf = zero_out = not_short = grads = 0
    exp_args: set[float] = set()
    log_args: set[float] = set()
    for seed in seeds:
        p = generate(seed=seed, **controls)
        run = p.run
        values = dict(zip((run.name(n) for n in run.order), run.values))
        final = run.final_grads()
        for g in p.answers.values():
            leaf_grads += 1
            zero_leaf += g == 0
        zero_out += values[run.name(run.root)] == 0
        for n in run.order:
            if n.op in ("exp", "log"):
                arg = values[run.name(n.inputs[0])]
                (exp_args if n.op == "exp" else log_args).add(round(arg, 9))
        for g in final.values():
            grads += 1
            not_short += abs(g * 100 - round(g * 100)) > 1e-9 * max(1.0, abs(g * 100))
    return {
        "problems": len(seeds), "leaf_grads": leaf_grads, "zero_leaf_grads": zero_leaf,
        "zero_leaf_share": zero_leaf / max(leaf_grads, 1), "zero_outputs": zero_out,
        "exp_arguments": sorted(exp_args), "log_arguments": sorted(log_args),
        "grads": grads, "grads_in_exact_form": not_short,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1-30")
    parser.add_argument("--difficulty", default="exam")
    args = parser.parse_args()
    f = figures(parse_seeds(args.seeds), difficulty=args.difficulty)
    print(f"{f['problems']} problems ({args.difficulty}, seeds {args.seeds})")
    print(f"leaf grads 0:        {f['zero_leaf_grads']} of {f['leaf_grads']} ({f['zero_leaf_share']:.0%})")
    print(f"outputs 0:           {f['zero_outputs']} of {f['problems']}")
    print(f"distinct exp args:   {len(f['exp_arguments'])} {[float(f'{a:g}') for a in f['exp_arguments']]}")
    print(f"distinct log args:   {len(f['log_arguments'])} {[float(f'{a:.6g}') for a in f['log_arguments']]}")
    print(f"grads in exact form: {f['grads_in_exact_form']} of {f['grads']} (not short decimals)")


if __name__ == "__main__":
    main()
