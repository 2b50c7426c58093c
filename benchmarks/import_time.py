"""How long `import ag` takes over a bare interpreter (median of fresh processes).

    python benchmarks/import_time.py [--runs 15]

Target: at most 100 ms more than `python -c pass`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def wall(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    bare, with_ag = [], []
    for _ in range(args.runs):  # interleaved so machine noise hits both
        bare.append(wall("pass"))
        with_ag.append(wall("import ag"))
    b, a = statistics.median(bare), statistics.median(with_ag)
    print(f"bare interpreter {b * 1e3:.1f} ms, import ag {a * 1e3:.1f} ms, "
          f"difference {(a - b) * 1e3:.1f} ms (target <= 100 ms)")


if __name__ == "__main__":
    main()
