"""The course's im2col questions, answered for any sizes: shapes, cost and memory.

    python exercises/im2col_questions.py                          # N=32, Cin=3, 32x32, K=3, Cout=16
    python exercises/im2col_questions.py --N 8 --cin 16 --H 28 --W 28 --K 5 --cout 32 --padding 2

For the course's Conv2d forward::

    Xin_flat         = Xin.reshape(-1, Cin*Hin*Win)
    Xin_im2col       = ag.spcmatmul(Xin_flat, self.im2col_mat)
    Xin_patches_flat = Xin_im2col.reshape(N, P, Cin*K*K)
    Xout_flat        = (Xin_patches_flat @ self.weight) + self.bias
    Xout             = ag.moveaxis(Xout_flat, 1, 2).reshape(N, Cout, Hout, Wout)

it prints ``self.im2col_mat.shape``, ``self.weight.shape``, the cost of ``Xout_flat``
(multiply-adds), and the memory of the sparse matrix against a dense one, each as a
formula and as a number. The answers are formulas; the script then builds the real
layer and matrix and checks that every formula matches what the kit produces.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import ag  # noqa: E402
from ag.nn.im2col import im2col_matrix, output_size  # noqa: E402


def answers(N: int, Cin: int, H: int, W: int, K: int, Cout: int, stride: int = 1, padding: int = 0,
            itemsize: int = 8) -> dict:
    """The answers from the formulas alone (no matrix is built here)."""
    Hout, Wout = output_size(H, K, stride, padding), output_size(W, K, stride, padding)
    P = Hout * Wout
    patch = Cin * K * K
    # Pairs (output row, kernel row) that land on the image, and likewise for columns:
    # each such pair, times each channel, is one stored 1 of the sparse matrix.
    Vh = sum(1 for ho in range(Hout) for ki in range(K) if 0 <= ho * stride + ki - padding < H)
    Vw = sum(1 for wo in range(Wout) for kj in range(K) if 0 <= wo * stride + kj - padding < W)
    nnz = Cin * Vh * Vw
    rows, cols = Cin * H * W, P * patch
    index_bytes = 4  # scipy uses int32 indices while they fit
    return {
        "Hout, Wout": (Hout, Wout),
        "P": P,
        "im2col_mat.shape": (rows, cols),
        "weight.shape": (patch, Cout),
        "bias.shape": (Cout,),
        "Xin_im2col.shape": (N, cols),
        "Xin_patches_flat.shape": (N, P, patch),
        "Xout_flat.shape": (N, P, Cout),
        "Xout.shape": (N, Cout, Hout, Wout),
        "Xout_flat multiply-adds": N * P * patch * Cout,
        "bias additions": N * P * Cout,
        "im2col_mat nnz": nnz,
        "im2col_mat bytes (CSR)": nnz * (itemsize + index_bytes) + (rows + 1) * index_bytes,
        "im2col_mat bytes (dense)": rows * cols * itemsize,
        "Xin_im2col bytes": N * cols * itemsize,
        "Xin bytes": N * Cin * H * W * itemsize,
    }


def mib(n: int) -> str:
    return f"{n / 2**20:,.2f} MiB"


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description="Answer the course's im2col questions for given sizes")
    for name, default in (("N", 32), ("cin", 3), ("H", 32), ("W", 32), ("K", 3), ("cout", 16),
                          ("stride", 1), ("padding", 0)):
        p.add_argument(f"--{name}", type=int, default=default)
    a = p.parse_args(argv)
    N, Cin, H, W, K, Cout, s, pad = a.N, a.cin, a.H, a.W, a.K, a.cout, a.stride, a.padding
    ans = answers(N, Cin, H, W, K, Cout, s, pad)
    Hout, Wout = ans["Hout, Wout"]
    P = ans["P"]

    print(f"Xin: (N, Cin, Hin, Win) = ({N}, {Cin}, {H}, {W}); K={K}, Cout={Cout}, stride={s}, padding={pad}")
    print(f"Hout = (Hin + 2*padding - K)//stride + 1 = ({H} + {2 * pad} - {K})//{s} + 1 = {Hout}; "
          f"Wout = {Wout}; P = Hout*Wout = {P}")
    print()
    print(f"self.im2col_mat.shape = (Cin*Hin*Win, P*Cin*K*K) = ({Cin}*{H}*{W}, {P}*{Cin}*{K}*{K}) "
          f"= {ans['im2col_mat.shape']}")
    print(f"self.weight.shape     = (Cin*K*K, Cout) = ({Cin}*{K}*{K}, {Cout}) = {ans['weight.shape']}")
    print(f"Cost of Xout_flat     = N*P*(Cin*K*K)*Cout multiply-adds = {N}*{P}*{Cin * K * K}*{Cout} "
          f"= {ans['Xout_flat multiply-adds']:,}  (+ {ans['bias additions']:,} bias additions)")
    print()
    print("shapes along the way:")
    for key in ("Xin_im2col.shape", "Xin_patches_flat.shape", "Xout_flat.shape", "Xout.shape"):
        print(f"  {key:24} {ans[key]}")
    print()
    print("memory (float64):")
    print(f"  im2col_mat: {ans['im2col_mat nnz']:,} nonzeros (at most one per column: each patch entry "
          f"copies one pixel{'; padded entries are empty columns' if pad else ''})")
    print(f"    sparse (CSR: values + column indices + row pointers) {mib(ans['im2col_mat bytes (CSR)'])}")
    print(f"    dense                                                 {mib(ans['im2col_mat bytes (dense)'])}"
          f"  ({ans['im2col_mat bytes (dense)'] / ans['im2col_mat bytes (CSR)']:,.0f}x more)")
    print(f"  Xin_im2col (\"memory expensive\") {mib(ans['Xin_im2col bytes'])} against Xin "
          f"{mib(ans['Xin bytes'])} (~K*K = {K * K}x)")

    # The kit builds the real thing and the formulas must agree with it.
    M = im2col_matrix(Cin, H, W, K, s, pad)
    conv = ag.nn.Conv2d(Cin, Cout, K, stride=s, padding=pad)
    out = conv(np.zeros((N, Cin, H, W)))
    built = {
        "im2col_mat.shape": M.shape,
        "im2col_mat nnz": M.nnz,
        "im2col_mat bytes (CSR)": M.data.nbytes + M.indices.nbytes + M.indptr.nbytes,
        "weight.shape": conv.weight.shape,
        "Xout.shape": out.shape,
    }
    for key, value in built.items():
        assert tuple(np.atleast_1d(value)) == tuple(np.atleast_1d(ans[key])), (key, value, ans[key])
    print()
    print("checked against the kit: im2col_matrix(...) and Conv2d(...) give the same shapes, nnz and bytes")
    return ans


if __name__ == "__main__":
    main()
