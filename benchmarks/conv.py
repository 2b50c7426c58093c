"""Conv2d forward + backward: the sparse im2col path against the strided one and PyTorch.

    python benchmarks/conv.py                 # N=32, Cin=3, 32x32, Cout=16, K=3
    python benchmarks/conv.py --repeats 300 --padding 1
    python benchmarks/conv.py --tuned-malloc          # glibc keeps freed memory (see below)

One step is ``out = conv(x)`` then ``out.backward(seed)``, with gradients for the
input, the weight and the bias (a conv layer in the middle of a network needs all
three); a second table leaves the input's gradient out (a first layer). The
methods run interleaved in one process (step i of every method before step i+1 of
any), so a machine that gets busier midway slows all of them alike; the table
gives medians (the figure to quote) and minimums (the least disturbed step, a
check when the machine is shared), with ratios. PyTorch (CPU) is an optional column, with its default
thread count and with one thread (ag's sparse products run on one core).

With glibc's defaults, a freed multi-MB array goes back to the OS and the next
step's array of that size is page-faulted in again; on a VM that costs about 1.3 ms
per 3 MB, more than the im2col product itself, and float32 arrays of this size fall
just under NumPy's 4 MB huge-page threshold. ``--tuned-malloc`` reruns the script
with ``MALLOC_TRIM_THRESHOLD_`` and ``MALLOC_MMAP_THRESHOLD_`` raised, which removes
that cost for every column (PyTorch's included).

Also prints the memory of the im2col matrix (CSR data + indices + indptr) against
a dense matrix of the same shape, and the size of the patches it produces.
"""

from __future__ import annotations

import os
import sys

# Before NumPy/PyTorch load: idle BLAS/OpenMP threads sleep soon instead of spinning
# on the 2-core machines this runs on (a spinning thread steals the other's core).
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
os.environ.setdefault("GOMP_SPINCOUNT", "10000")

# --tuned-malloc: glibc reads these only at start-up, so run this script again with them.
# They keep freed memory in the process instead of handing it back to the OS, so a
# multi-MB temporary is not page-faulted in afresh on every step.
TUNED_MALLOC = {"MALLOC_TRIM_THRESHOLD_": "1073741824", "MALLOC_MMAP_THRESHOLD_": "1073741824"}
if "--tuned-malloc" in sys.argv and any(os.environ.get(k) != v for k, v in TUNED_MALLOC.items()):
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **TUNED_MALLOC})

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import ag  # noqa: E402
from ag.nn.im2col import im2col_matrix, output_size  # noqa: E402

try:
    import torch  # noqa: E402

    TORCH_THREADS = torch.get_num_threads()
except ImportError:  # PyTorch is optional
    torch = None


def ag_step(method: str, x: np.ndarray, weight: np.ndarray, bias: np.ndarray, seed: np.ndarray,
            padding: int, input_grad: bool):
    """A closure doing one forward + backward of ag's Conv2d with the given method."""
    Cin = x.shape[1]
    K = int(round((weight.shape[0] / Cin) ** 0.5))
    conv = ag.nn.Conv2d(Cin, weight.shape[1], K, padding=padding, method=method, dtype=x.dtype)
    conv.weight.value[...] = weight
    conv.bias.value[...] = bias
    xt = ag.Tensor(x, requires_grad=input_grad)

    def step():
        conv.weight.grad = conv.bias.grad = xt.grad = None
        conv(xt).backward(seed)
        return conv.weight.grad

    return step


def torch_step(x, weight, bias, seed, padding, input_grad, threads):
    Cout, Cin = weight.shape[1], x.shape[1]
    K = int(round((weight.shape[0] / Cin) ** 0.5))
    xt = torch.from_numpy(x.copy()).requires_grad_(input_grad)
    wt = torch.from_numpy(np.ascontiguousarray(weight.T.reshape(Cout, Cin, K, K))).requires_grad_()
    bt = torch.from_numpy(bias.copy()).requires_grad_()
    st = torch.from_numpy(seed)

    def step():
        torch.set_num_threads(threads)  # ~2 us; the columns share one process
        wt.grad = bt.grad = xt.grad = None
        torch.nn.functional.conv2d(xt, wt, bt, padding=padding).backward(st)
        return wt.grad.numpy().reshape(Cout, -1).T

    return step


def measure(steps: dict, repeats: int, warmup: int = 5) -> dict[str, float]:
    for step in steps.values():
        for _ in range(warmup):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():  # interleaved
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {
        "median": {name: 1e3 * statistics.median(t) for name, t in times.items()},
        "min": {name: 1e3 * min(t) for name, t in times.items()},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=32)
    parser.add_argument("--cin", type=int, default=3)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--cout", type=int, default=16)
    parser.add_argument("--K", type=int, default=3)
    parser.add_argument("--padding", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--tuned-malloc", action="store_true",
                        help="rerun with MALLOC_TRIM_THRESHOLD_/MALLOC_MMAP_THRESHOLD_ raised (glibc)")
    args = parser.parse_args(argv)
    N, Cin, S, Cout, K, pad = args.N, args.cin, args.size, args.cout, args.K, args.padding
    Hout = output_size(S, K, 1, pad)
    P = Hout * Hout

    print(f"Conv2d forward + backward: N={N}, Cin={Cin}, {S}x{S}, Cout={Cout}, K={K}, padding={pad}; "
          f"median and min of {args.repeats} interleaved steps, ms")
    print(f"numpy {np.__version__}" + (f", torch {torch.__version__} (torch: {TORCH_THREADS} threads, "
                                       "torch1: 1 thread)" if torch else ", torch not installed"))
    print(f"load average before: {os.getloadavg()[0]:.2f} (other processes on the machine skew all columns)")
    tuned = all(os.environ.get(k) == v for k, v in TUNED_MALLOC.items())
    print("glibc malloc: " + ("tuned (freed memory kept)" if tuned else "defaults (try --tuned-malloc)"))
    for input_grad in (True, False):
        print()
        print("gradients for input, weight and bias" if input_grad else "gradients for weight and bias only")
        header = f"{'dtype':8} {'':6} {'sparse':>8} {'strided':>8}"
        if torch is not None:
            header += f" {'torch':>8} {'torch1':>8} {'sparse/torch':>13} {'strided/torch':>14}"
            header += f" {'sparse/torch1':>14}"
        print(header + f" {'sparse/strided':>15}")
        for dtype in (np.float32, np.float64):
            rng = np.random.default_rng(0)
            x = rng.standard_normal((N, Cin, S, S)).astype(dtype)
            w = (rng.standard_normal((Cin * K * K, Cout)) * 0.1).astype(dtype)
            b = rng.standard_normal(Cout).astype(dtype)
            seed = rng.standard_normal((N, Cout, Hout, Hout)).astype(dtype)
            steps = {m: ag_step(m, x, w, b, seed, pad, input_grad) for m in ("sparse", "strided")}
            if torch is not None:
                steps["torch"] = torch_step(x, w, b, seed, pad, input_grad, TORCH_THREADS)
                steps["torch1"] = torch_step(x, w, b, seed, pad, input_grad, 1)
            # The methods must agree before their speed means anything.
            reference = steps["sparse"]()
            tol = 1e-3 if dtype == np.float32 else 1e-9
            for name, step in steps.items():
                np.testing.assert_allclose(step(), reference, rtol=tol, atol=tol * np.abs(reference).max(),
                                           err_msg=f"{name} disagrees with sparse")
            for stat, ms in measure(steps, args.repeats).items():
                line = f"{np.dtype(dtype).name:8} {stat:6} {ms['sparse']:8.2f} {ms['strided']:8.2f}"
                if torch is not None:
                    t, t1 = ms["torch"], ms["torch1"]
                    line += f" {t:8.2f} {t1:8.2f} {ms['sparse'] / t:13.2f} {ms['strided'] / t:14.2f}"
                    line += f" {ms['sparse'] / t1:14.2f}"
                print(line + f" {ms['sparse'] / ms['strided']:15.2f}")

    print()
    for dtype in (np.float32, np.float64):
        M = im2col_matrix(Cin, S, S, K, 1, pad, dtype=dtype)
        sparse_bytes = M.data.nbytes + M.indices.nbytes + M.indptr.nbytes
        dense_bytes = M.shape[0] * M.shape[1] * M.dtype.itemsize
        patches_bytes = N * P * Cin * K * K * M.dtype.itemsize
        print(f"im2col matrix ({np.dtype(dtype).name}): shape {M.shape}, nnz {M.nnz}: "
              f"{sparse_bytes / 2**20:.2f} MiB as CSR, {dense_bytes / 2**20:.1f} MiB dense "
              f"({dense_bytes / sparse_bytes:.0f}x); the patches it makes: {patches_bytes / 2**20:.2f} MiB "
              f"(input {N * Cin * S * S * M.dtype.itemsize / 2**20:.2f} MiB)")


if __name__ == "__main__":
    main()
