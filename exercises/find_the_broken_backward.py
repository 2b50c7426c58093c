"""Find the broken backward: one of these ops has a subtly wrong backward rule.

    python exercises/find_the_broken_backward.py --seed 3          # the exercise
    python exercises/find_the_broken_backward.py --seed 3 --solve  # gradcheck every op
    python exercises/find_the_broken_backward.py --seed 3 --key    # the answer key

Each op is made with ``ag.custom_op(value, inputs, op, rules)``: a forward and one
rule ``rule(g, out, ctx, *inputs)`` per input. Their forwards are all right; in one
of them a rule is wrong. Check each op with ``ag.testing.gradcheck`` (central finite
differences in float64) and say which rule is wrong, and how. Every seed gives
another set of ops (see ``ag.exam.bug_hunt``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ag.exam.bug_hunt import FORWARD_TEXT, exercise, find_broken  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--solve", action="store_true", help="run gradcheck on every op")
    parser.add_argument("--key", action="store_true", help="print the answer key")
    args = parser.parse_args(argv)
    ex = exercise(args.seed)
    print(f"Find the broken backward (seed {args.seed}): one of these ops has a wrong rule.\n")
    for name in ex.ops:
        shapes = ", ".join(str(a.shape) for a in ex.inputs[name])
        print(f"  {name}: {FORWARD_TEXT[name]}; input shape(s) {shapes}")
    print("\nCheck each with ag.testing.gradcheck(op, *tensors), e.g.\n"
          "    from ag.exam.bug_hunt import exercise\n"
          f"    ex = exercise({args.seed})\n"
          "    for name, op in ex.ops.items():\n"
          "        ts = [ag.tensor(a, requires_grad=True) for a in ex.inputs[name]]\n"
          "        print(name, bool(gradcheck(op, *ts, raise_exception=False)))")
    if args.solve:
        failing = find_broken(ex)
        print("\ngradcheck fails for: " + (", ".join(failing) or "none"))
    if args.key:
        print("\nAnswer key: " + ex.key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
