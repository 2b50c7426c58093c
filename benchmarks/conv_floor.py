"""How fast the course's sparse conv path can be at all: its products alone, against torch.

    python benchmarks/conv_floor.py --rounds 41

The course's conv2d is five lines: flatten, multiply by the im2col matrix, reshape
into patches, ``@ weight``, move the channel axis forward. Its forward and backward
are five passes over a patch-sized array (for x (32, 3, 32, 32) and a 3x3 kernel,
32 x 900 x 27 entries: 3.1 MB in float32): the gather of the patches, the product
with the weight, the patches' gradient, the weight's gradient, and the gradient's
scatter back onto the pixels. This script runs exactly those kernels by hand, with
no graph, no checks and no allocation (every output preallocated), each split over
the cores the way ag's ops split them (``ag.parallel``), and times them interleaved
with ``ag.nn.functional.conv2d`` and with ``torch.nn.functional.conv2d`` (2 threads)
as in ``course_workloads.py``. What it prints for "floor" is what ag would take with
no overhead at all; its ratio to torch bounds what ag's ratio can reach on the path.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
os.environ.setdefault("GOMP_SPINCOUNT", "10000")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import course_workloads as cw  # noqa: E402

from ag import parallel  # noqa: E402
from ag.nn.im2col import im2col_matrix  # noqa: E402

try:  # scipy's CSR kernel, as ag's im2col gradient calls it (private, stable for years)
    from scipy.sparse._sparsetools import csr_matvec
except ImportError:  # pragma: no cover
    csr_matvec = None


def conv_floor(arrays: dict[str, np.ndarray]):
    x, w, G = arrays["x"], arrays["w"], arrays["G"]
    N, Cin, H, W = x.shape
    K, Cout = 3, w.shape[1]
    P, E = (H - K + 1) * (W - K + 1), Cin * K * K
    M = im2col_matrix(Cin, H, W, K, dtype=x.dtype)
    rows = M.tocsc().indices.astype(np.intp)  # the pixel each patch entry copies
    x_flat = x.reshape(N, -1)
    dt = x.dtype
    patches, y = np.empty((N, P * E), dt), np.empty((N * P, Cout), dt)
    g_patches, gx, gw_parts = np.empty((N, P, E), dt), np.empty((N, Cin * H * W), dt), None
    G3 = G.reshape(N, Cout, P)
    g3 = G3.transpose(0, 2, 1)
    wT = w.T
    n_row, n_col = M.shape

    def gather(i, j):
        np.take(x_flat[i:j], rows, axis=1, mode="clip", out=patches[i:j])

    def scatter(i, j):
        gx[i:j] = 0
        flat = g_patches.reshape(N, -1)
        for r in range(i, j):
            csr_matvec(n_row, n_col, M.indptr, M.indices, M.data, flat[r], gx[r])

    def split(kernel, work, blas=False):
        return parallel.split_rows(kernel, N, 0, work=work, blas=blas,
                                   head_start=(1 << 20) if blas else None)

    def step():
        nonlocal gw_parts
        split(gather, patches.size)
        p3 = patches.reshape(N, P, E)
        np.matmul(patches.reshape(N * P, E), w, out=y)  # OpenBLAS's own threads
        split(lambda i, j: np.matmul(g3[i:j], wT, out=g_patches[i:j]), g_patches.size * Cout, True)
        gw_parts = split(lambda i, j: np.matmul(G3[i:j], p3[i:j]).sum(axis=0), p3.size * Cout, True)
        split(scatter, g_patches.size)
        return [gx.reshape(x.shape), sum(gw_parts).T]

    return step


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--dtypes", nargs="+", choices=("float32", "float64"),
                        default=["float32", "float64"])
    args = parser.parse_args(argv)
    if cw.torch is None or csr_matvec is None:
        print("conv_floor: needs torch (the reference) and scipy's CSR kernel")
        return
    for dtype in args.dtypes:
        arrays = cw.conv_arrays(np.dtype(dtype))
        steps: dict[str, Any] = {"torch": cw.conv_torch(arrays), "ag": cw.conv_ag(arrays),
                                 "floor": conv_floor(arrays)}
        want = steps["torch"]()
        for name in ("ag", "floor"):
            for g, ref in zip(steps[name](), want):
                cw.assert_close(f"conv {name}", g, ref, np.dtype(dtype))
        times = cw.interleaved(steps, args.rounds, burst=3)
        cw.report(f"conv2d x {cw.CONV_X}, weight {cw.CONV_W}, {dtype}: ag and the kernels alone "
                  "(floor) against torch", times, "torch", None)


if __name__ == "__main__":
    main()
