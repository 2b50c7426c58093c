"""What the copy of a backward seed costs: ``y.backward(G)`` on the course's conv workload.

    python benchmarks/seed_copy.py [--rounds 40]

``y.backward(G)`` copies ``G`` before it becomes ``y.grad`` (issue 24, item 1: a graph's
grad must never alias an array the caller can still change). Before that fix the
root's grad was a read-only view of ``G``. This file times the conv step of
``benchmarks/course_workloads.py`` (the public API, as a student writes it) with the copy,
and with the copy swapped for that former read-only view, interleaved round by round
in one process; the figure is the median of the per-round ratio.

The swap replaces a private function (``ag.ops.core._own_copy``) for the measurement
only: it is the one place the seed is copied, and the view is what the code did before.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import course_workloads as workloads  # noqa: E402  (sets the BLAS/OpenMP settings first)
import numpy as np  # noqa: E402

import ag.ops.core as core  # noqa: E402


def read_only_view(raw, dtype, xp):
    """The seed as the code before the fix kept it: a read-only view of the caller's array."""
    view = xp.asarray(raw, dtype=dtype).view()
    view.flags.writeable = False
    return view


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args(argv)
    own_copy = core._own_copy
    for dtype in (np.float32, np.float64):
        arrays = workloads.conv_arrays(dtype)
        step = workloads.conv_ag(arrays)

        def with_seed(copy, step=step):
            def run():
                core._own_copy = copy
                try:
                    return step()
                finally:
                    core._own_copy = own_copy
            return run

        steps = {"copy": with_seed(own_copy), "view": with_seed(read_only_view)}
        for a, b in zip(steps["copy"](), steps["view"]()):
            np.testing.assert_array_equal(a, b)
        times = workloads.interleaved(steps, args.rounds, burst=10)
        ratio = statistics.median(c / v for c, v in zip(times["copy"], times["view"]))
        G = arrays["G"]
        print(f"conv step, {np.dtype(dtype).name}, G {G.shape} ({G.nbytes / 1e6:.1f} MB): "
              f"with the copy {1e3 * statistics.median(times['copy']):.3f} ms, with a read-only view "
              f"{1e3 * statistics.median(times['view']):.3f} ms; ratio {ratio:.3f} ({args.rounds} rounds)")


if __name__ == "__main__":
    main()
