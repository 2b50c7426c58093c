"""How long the stepper takes to build: the frames and the whole HTML page.

    python benchmarks/stepper_build.py [--repeat N]

For two course graphs, exercise problem 1.3 (Scalars, 10 iterations) and the finals'
attention block (Tensors, 16 iterations), it times with the public API

* ``ag.viz.frames(run, fixed_layout=True)``: one Graphviz graph per iteration, laid
  out as the stepper lays them out (no SVG yet);
* ``ag.stepper.html(run)``: the whole offline page, every frame drawn by ``dot``.

Each figure is the median (and min) of ``--repeat`` runs in milliseconds. To compare two
versions, run this file in each checkout in turn, alternating (interleaved rounds), so
that both see the same machine load.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import runpy
import statistics
import time
from pathlib import Path

import ag
from ag import stepper, viz

# The exercises of the checkout whose ag is imported (so one copy of this file times either).
ROOT = Path(ag.__file__).resolve().parents[1]


def course_runs() -> dict[str, object]:
    """The backward traces of problem 1.3 and of the attention block, from the exercises."""
    runs = {}
    for name, file in (("problem 1.3", "problem_1_3.py"), ("attention", "attention_block.py")):
        with ag.trace() as t, contextlib.redirect_stdout(io.StringIO()):
            runpy.run_path(str(ROOT / "exercises" / file), run_name="__main__")
        runs[name] = t.runs[0]
    return runs


def timed(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), min(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    for name, run in course_runs().items():
        frames_ms = timed(lambda run=run: viz.frames(run, fixed_layout=True), args.repeat)
        page_ms = timed(lambda run=run: stepper.html(run), args.repeat)
        print(f"{name:12s} ({len(run.steps):2d} iterations): frames() {frames_ms[0]:7.1f} ms "
              f"(min {frames_ms[1]:6.1f}),  stepper page {page_ms[0]:7.1f} ms (min {page_ms[1]:6.1f})")


if __name__ == "__main__":
    main()
