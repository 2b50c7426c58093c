"""What loading ag costs: `import ag`, and the first Tensor (medians of fresh processes).

    python benchmarks/import_time.py [--runs 21] [--check]

Four commands, each run in a fresh interpreter, interleaved round by round so that
machine noise hits all of them alike:

* ``pass``: a bare interpreter;
* ``import numpy``;
* ``import ag``;
* ``import ag``, then a first Tensor, one op and its backward
  (``x = ag.tensor([1.0]); (x * 2).backward()``).

Targets: ``import ag`` at most 50 ms over a bare interpreter (it loads no NumPy),
and the first Tensor at most 50 ms over ``import numpy`` (ag's own modules; SciPy
and threadpoolctl load only when a sparse product, a conv or a split needs them).
``--check`` exits with status 1 when a median misses its target. ``--cpu-time``
times each process by its CPU time (user + system) instead of the wall clock: steadier
on a busy machine, where the wall clock also counts waiting for a core.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 50.0
COMMANDS = {
    "bare": "pass",
    "numpy": "import numpy",
    "ag": "import ag",
    "first Tensor": "import ag; x = ag.tensor([1.0]); (x * 2).backward()",
}


def run_once(code: str, cpu_time: bool) -> float:
    """Seconds one fresh interpreter takes to run ``code``: wall clock, or its CPU time."""
    before, start = os.times(), time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    if not cpu_time:
        return time.perf_counter() - start
    after = os.times()
    return (after.children_user - before.children_user) + (after.children_system - before.children_system)


def measure(runs: int, cpu_time: bool = False) -> dict[str, list[float]]:
    """The times of each command, in ms."""
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(runs):  # interleaved
        for name, code in COMMANDS.items():
            times[name].append(1e3 * run_once(code, cpu_time))
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--cpu-time", action="store_true", help="CPU time instead of wall clock")
    args = parser.parse_args()
    times = measure(args.runs, args.cpu_time)
    ms = {name: statistics.median(t) for name, t in times.items()}
    clock = "CPU time" if args.cpu_time else "wall clock"
    for name, value in ms.items():
        print(f"{name:>13}: {value:6.1f} ms median, {min(times[name]):6.1f} ms least "
              f"({clock}, {args.runs} fresh processes)")
    ag_cost = ms["ag"] - ms["bare"]
    tensor_cost = ms["first Tensor"] - ms["numpy"]
    print(f"import ag over a bare interpreter: {ag_cost:5.1f} ms (target <= {TARGET_MS:.0f} ms)")
    print(f"first Tensor over import numpy:    {tensor_cost:5.1f} ms (target <= {TARGET_MS:.0f} ms)")
    missed = ag_cost > TARGET_MS or tensor_cost > TARGET_MS
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
