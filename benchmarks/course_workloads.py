"""The course's four Tensor workloads, as a student writes them, against their references.

    python benchmarks/course_workloads.py                   # all four, both dtypes
    python benchmarks/course_workloads.py --only attention conv --rounds 60
    python benchmarks/course_workloads.py --cpu-time         # steadier on a busy machine

Each workload is written with the public API only (``ag.Tensor``, operators,
``ag.softmax``, ``ag.moveaxis``, ``ag.nn.functional``) and timed against a
reference in the same process:

* attention + MLP block, X (32, 64, 64), hidden 128, X needs no grad: against
  NumPy with a hand-written backward;
* ``ag.nn.functional.conv2d`` (sparse im2col, the default), x (32, 3, 32, 32)
  (needs grad, as ``ag.tensor`` gives by default), weight (27, 16), no bias,
  stride 1, no padding, ``y.backward(G)`` with a fixed G: against
  ``torch.nn.functional.conv2d`` + autograd (2 threads);
* MLP 16-32-32-4 at batch 8 and 784-256-256-10 at batch 128: ``h @ W + b``,
  relu, ``ag.nn.functional.cross_entropy`` with NumPy int labels, ``p.grad =
  None``, backward, SGD update under ``ag.no_grad()``: against a hand NumPy step
  (PyTorch eager is printed for reference).

Method: rounds, each timing a short burst of steps of every implementation, in an
order that alternates from round to round (the warm-up steps take turns too); the
figure is the median over rounds of the per-round ratio ag / reference (a slower
machine midway slows both sides of a round alike), with its interquartile range.
Medians of the times are printed too, and each implementation's page faults per
step: with glibc's default settings a step whose arrays do not fit the heap's free
space page-faults them in afresh, which can cost more than its arithmetic, and
which side of a comparison pays it depends on how the two share the heap.
OPENBLAS_THREAD_TIMEOUT and GOMP_SPINCOUNT are set below before NumPy and
PyTorch load, so that idle BLAS/OpenMP threads sleep instead of spinning on the
other library's cores. Every implementation's gradients are checked against the
reference before it is timed.
"""

from __future__ import annotations

import os

# Before NumPy/PyTorch load their thread pools (both read these only at start-up).
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
os.environ.setdefault("GOMP_SPINCOUNT", "10000")

import argparse  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import ag  # noqa: E402
import ag.nn.functional as agF  # noqa: E402
import ag.parallel  # noqa: E402

try:
    import torch  # noqa: E402

    torch.set_num_threads(2)
except ImportError:  # PyTorch is optional except for the conv reference
    torch = None

LR = 0.01
# wall-clock time, or with --cpu-time this thread's CPU time (one BLAS/torch thread)
CLOCK: list[Callable[[], float]] = [time.perf_counter]


# --- timing --------------------------------------------------------------------------------


def quartiles(values: list[float]) -> tuple[float, float, float]:
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def interleaved(steps: dict[str, Callable[[], Any]], rounds: int, burst: int,
                warmup: int = 3) -> dict[str, list[float]]:
    """Seconds per step of each implementation, one entry per round; the page faults
    per step of each are kept under the key ``(name, "faults")``."""
    names = list(steps)
    for _ in range(warmup):  # warmed up in turn too, as they are timed
        for name in names:
            steps[name]()
    times: dict[Any, list[float]] = {name: [] for name in names}
    faults: dict[str, int] = dict.fromkeys(names, 0)
    clock = CLOCK[0]
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            step = steps[name]
            f0 = _minor_faults()
            start = clock()
            for _ in range(burst):
                step()
            times[name].append((clock() - start) / burst)
            faults[name] += _minor_faults() - f0
    for name in names:
        times[(name, "faults")] = [faults[name] / (rounds * burst)]
    return times


def report(title: str, times: dict[str, list[float]], reference: str, target: float | None) -> dict:
    """Print one table: each column's median time, and its per-round ratio to ``reference``."""
    print(title)
    print(f"  {'':8} {'median ms':>10} {'ratio to ' + reference:>16} {'IQR of ratio':>15} "
          f"{'faults/step':>12}")
    ref = times[reference]
    names = [name for name in times if not isinstance(name, tuple)]
    result: dict[str, Any] = {}
    for name in names:
        ts = times[name]
        ms = statistics.median(ts) * 1e3
        faults = f"{times[(name, 'faults')][0]:12.0f}"
        if name == reference:
            print(f"  {name:8} {ms:10.3f} {'1':>16} {'':>15} {faults}")
            continue
        ratios = [t / r for t, r in zip(ts, ref)]
        q1, q2, q3 = quartiles(ratios)
        mark = ""
        if name == "ag" and target is not None:
            mark = f"   target <= {target:.2f}x: " + ("met" if q2 <= target else "NOT met")
        print(f"  {name:8} {ms:10.3f} {q2:15.3f}x {q1:7.3f}-{q3:.3f} {faults}{mark}")
        result[name] = (q2, q1, q3)
    result["ms"] = {name: statistics.median(times[name]) * 1e3 for name in names}
    print(f"  ({len(ref)} rounds; load average {os.getloadavg()[0]:.2f})")
    return result


def assert_close(name: str, got: Any, want: Any, dtype: Any) -> None:
    tol = 2e-3 if dtype == np.float32 else 1e-8
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    scale = np.abs(want).max() + 1e-30
    err = float(np.abs(got - want).max() / scale)
    if not err <= tol:
        raise AssertionError(f"{name}: relative difference {err:.2e} from the reference")


# --- attention + MLP block ----------------------------------------------------------------

N_ATT, T_ATT, F_ATT, H_ATT = 32, 64, 64, 128


def attention_arrays(dtype: Any) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    s = 1.0 / np.sqrt(F_ATT)
    return {
        "X": rng.standard_normal((N_ATT, T_ATT, F_ATT)).astype(dtype),
        "Wq": (rng.standard_normal((F_ATT, F_ATT)) * s).astype(dtype),
        "Wk": (rng.standard_normal((F_ATT, F_ATT)) * s).astype(dtype),
        "Wv": (rng.standard_normal((F_ATT, F_ATT)) * s).astype(dtype),
        "Wh": (rng.standard_normal((F_ATT, H_ATT)) * s).astype(dtype),
        "bh": (rng.standard_normal(H_ATT) * 0.1).astype(dtype),
        "Wo": (rng.standard_normal((H_ATT, F_ATT)) / np.sqrt(H_ATT)).astype(dtype),
        "bo": (rng.standard_normal(F_ATT) * 0.1).astype(dtype),
    }


def attention_ag(arrays: dict[str, np.ndarray]):
    X = ag.tensor(arrays["X"], requires_grad=False)
    Wq, Wk, Wv, Wh, bh, Wo, bo = (ag.tensor(arrays[k]) for k in ("Wq", "Wk", "Wv", "Wh", "bh", "Wo", "bo"))
    params = [Wq, Wk, Wv, Wh, bh, Wo, bo]

    def step():
        for p in params:
            p.grad = None
        Q, K = X @ Wq, X @ Wk
        S = ag.softmax(K @ ag.moveaxis(Q, 1, 2), axis=1)
        out = ag.moveaxis(ag.moveaxis(X, 1, 2) @ S, 1, 2) @ Wv
        Y = ag.relu(out @ Wh + bh) @ Wo + bo
        loss = (Y * Y).sum()
        loss.backward()
        return [p.grad for p in params]

    return step


def attention_numpy(arrays: dict[str, np.ndarray]):
    X = arrays["X"]
    Wq, Wk, Wv, Wh, bh, Wo, bo = (arrays[k] for k in ("Wq", "Wk", "Wv", "Wh", "bh", "Wo", "bo"))
    n, t, f = X.shape
    X2 = X.reshape(n * t, f)

    def step():
        # forward
        Q, K = X @ Wq, X @ Wk
        A = K @ Q.transpose(0, 2, 1)
        E = np.exp(A - A.max(axis=1, keepdims=True))
        S = E / E.sum(axis=1, keepdims=True)
        P = X.transpose(0, 2, 1) @ S                  # (n, f, t)
        att = P.transpose(0, 2, 1) @ Wv               # (n, t, f)
        Z = att @ Wh + bh
        Hd = np.maximum(Z, 0)
        Y = Hd @ Wo + bo
        loss = float((Y * Y).sum())
        # backward, by hand; a weight shared across the batch gets one 2-D product
        dY = 2 * Y
        dWo = Hd.reshape(-1, Hd.shape[-1]).T @ dY.reshape(-1, f)
        dbo = dY.sum(axis=(0, 1))
        dZ = (dY @ Wo.T) * (Z > 0)
        dWh = att.reshape(-1, f).T @ dZ.reshape(-1, dZ.shape[-1])
        dbh = dZ.sum(axis=(0, 1))
        datt = dZ @ Wh.T
        dWv = att_in_2d(P).T @ datt.reshape(-1, f)
        dP = (datt @ Wv.T).transpose(0, 2, 1)         # (n, f, t)
        dS = X @ dP                                   # (n, t, t)
        dA = S * (dS - (dS * S).sum(axis=1, keepdims=True))
        dK = dA @ Q
        dQ = dA.transpose(0, 2, 1) @ K
        dWq = X2.T @ dQ.reshape(-1, f)
        dWk = X2.T @ dK.reshape(-1, f)
        del loss
        return [dWq, dWk, dWv, dWh, dbh, dWo, dbo]

    def att_in_2d(P):
        return P.transpose(0, 2, 1).reshape(-1, P.shape[1])

    return step


def run_attention(dtype: Any, rounds: int) -> dict:
    arrays = attention_arrays(dtype)
    steps = {"numpy": attention_numpy(arrays), "ag": attention_ag(arrays)}
    want = steps["numpy"]()
    for g, w in zip(steps["ag"](), want):
        assert_close("attention ag", g, w, dtype)
    times = interleaved(steps, rounds, burst=3)
    title = (f"attention + MLP block, X {(N_ATT, T_ATT, F_ATT)}, hidden {H_ATT}, "
             f"{np.dtype(dtype).name}, forward + backward")
    return report(title, times, "numpy", 1.10)


# --- conv2d --------------------------------------------------------------------------------

CONV_X, CONV_W = (32, 3, 32, 32), (27, 16)


def conv_arrays(dtype: Any) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    N, _, S, _ = CONV_X
    Hout = S - 3 + 1
    return {
        "x": rng.standard_normal(CONV_X).astype(dtype),
        "w": (rng.standard_normal(CONV_W) * 0.2).astype(dtype),
        "G": rng.standard_normal((N, CONV_W[1], Hout, Hout)).astype(dtype),
    }


def conv_ag(arrays: dict[str, np.ndarray]):
    x, w = ag.tensor(arrays["x"]), ag.tensor(arrays["w"])
    G = arrays["G"]

    def step():
        x.grad = w.grad = None
        y = agF.conv2d(x, w)
        y.backward(G)
        return [x.grad, w.grad]

    return step


def conv_torch(arrays: dict[str, np.ndarray]):
    Cin, K, Cout = CONV_X[1], 3, CONV_W[1]
    x = torch.tensor(arrays["x"], requires_grad=True)
    # ag's (Cin*K*K, Cout) filter bank is torch's (Cout, Cin, K, K) transposed
    w = torch.tensor(np.ascontiguousarray(arrays["w"].T.reshape(Cout, Cin, K, K)), requires_grad=True)
    G = torch.tensor(arrays["G"])

    def step():
        x.grad = w.grad = None
        y = torch.nn.functional.conv2d(x, w)
        y.backward(G)
        return [x.grad.numpy(), w.grad.numpy().reshape(Cout, -1).T]

    return step


def run_conv(dtype: Any, rounds: int) -> dict:
    if torch is None:
        print("conv2d: torch is not installed, no reference to time against")
        return {}
    arrays = conv_arrays(dtype)
    steps = {"torch": conv_torch(arrays), "ag": conv_ag(arrays)}
    for g, w in zip(steps["ag"](), steps["torch"]()):
        assert_close("conv ag", g, w, dtype)
    times = interleaved(steps, rounds, burst=3)
    title = (f"conv2d (sparse im2col), x {CONV_X}, weight {CONV_W}, no bias, stride 1, no padding, "
             f"{np.dtype(dtype).name}, y.backward(G)")
    return report(title, times, "torch", 1.5)


# --- MLP training step ----------------------------------------------------------------------


def mlp_arrays(sizes: list[int], batch: int, dtype: Any):
    rng = np.random.default_rng(0)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params.append((rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(dtype))
        params.append((rng.standard_normal(fan_out) * 0.1).astype(dtype))
    X = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], size=batch)
    return params, X, y


def mlp_numpy(params: list[np.ndarray], X: np.ndarray, y: np.ndarray):
    params = [p.copy() for p in params]
    layers = len(params) // 2
    n = X.shape[0]
    rows = np.arange(n)

    def step():
        acts, h = [X], X
        for i in range(layers):
            z = h @ params[2 * i] + params[2 * i + 1]
            h = np.maximum(z, 0) if i < layers - 1 else z
            acts.append(h)
        shifted = h - h.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        probs = e / e.sum(axis=1, keepdims=True)
        loss = -np.log(probs[rows, y]).mean()
        g = probs
        g[rows, y] -= 1
        g /= n
        grads = [None] * len(params)
        for i in reversed(range(layers)):
            grads[2 * i] = acts[i].T @ g
            grads[2 * i + 1] = g.sum(axis=0)
            if i > 0:
                g = (g @ params[2 * i].T) * (acts[i] > 0)
        for p, gp in zip(params, grads):
            p -= LR * gp
        return float(loss), grads

    return step


def mlp_ag(params: list[np.ndarray], X: np.ndarray, y: np.ndarray):
    params = [ag.tensor(p.copy()) for p in params]
    Xt = ag.tensor(X, requires_grad=False)
    layers = len(params) // 2

    def step():
        h = Xt
        for i in range(layers):
            h = h @ params[2 * i] + params[2 * i + 1]
            if i < layers - 1:
                h = ag.relu(h)
        loss = agF.cross_entropy(h, y)
        for p in params:
            p.grad = None
        loss.backward()
        with ag.no_grad():
            for p in params:
                p.value -= LR * p.grad
        return loss.item(), [p.grad for p in params]

    return step


def mlp_torch(params: list[np.ndarray], X: np.ndarray, y: np.ndarray):
    params = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    Xt, yt = torch.tensor(X), torch.tensor(y.astype(np.int64))
    layers = len(params) // 2

    def step():
        h = Xt
        for i in range(layers):
            h = h @ params[2 * i] + params[2 * i + 1]
            if i < layers - 1:
                h = torch.relu(h)
        loss = torch.nn.functional.cross_entropy(h, yt)
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= LR * p.grad
        return loss.item(), [p.grad.numpy() for p in params]

    return step


def run_mlp(sizes: list[int], batch: int, dtype: Any, rounds: int, burst: int, target: float) -> dict:
    params, X, y = mlp_arrays(sizes, batch, dtype)
    steps = {"numpy": mlp_numpy(params, X, y), "ag": mlp_ag(params, X, y)}
    if torch is not None:
        steps["torch"] = mlp_torch(params, X, y)
    # the first step of each starts from the same parameters: losses and grads agree
    want_loss, want_grads = steps["numpy"]()
    for name in list(steps)[1:]:
        loss, grads = steps[name]()
        assert_close(f"mlp {name} loss", loss, want_loss, dtype)
        for g, w in zip(grads, want_grads):
            assert_close(f"mlp {name} grad", g, w, dtype)
    times = interleaved(steps, rounds, burst=burst)
    title = (f"MLP {'-'.join(map(str, sizes))}, batch {batch}, {np.dtype(dtype).name}, "
             "one SGD step (cross_entropy, backward, update)")
    return report(title, times, "numpy", target)


WORKLOADS = ("attention", "conv", "small_mlp", "big_mlp")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument("--dtypes", nargs="+", choices=("float32", "float64"),
                        default=["float32", "float64"])
    parser.add_argument("--rounds", type=int, default=41, help="rounds per workload and dtype")
    parser.add_argument("--cpu-time", action="store_true",
                        help="one thread for BLAS and torch, timed by this thread's CPU time: "
                             "steadier on a machine that other processes keep busy")
    args = parser.parse_args(argv)
    if args.cpu_time:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        if torch is not None:
            torch.set_num_threads(1)
        ag.parallel.set_num_threads(1)  # another thread's work would not be on this clock
        CLOCK[0] = time.thread_time
        print("timing: CPU time of this thread, 1 BLAS thread, 1 torch thread, 1 ag thread")
    else:
        print("timing: wall clock, library default BLAS threads, torch 2 threads, "
              f"ag {ag.parallel.get_num_threads()} threads (ag.parallel)")
    torch_version = f"{torch.__version__} ({torch.get_num_threads()} threads)" if torch else "not installed"
    print(f"numpy {np.__version__}, torch {torch_version}, "
          f"{os.cpu_count()} CPUs; OPENBLAS_THREAD_TIMEOUT={os.environ['OPENBLAS_THREAD_TIMEOUT']}, "
          f"GOMP_SPINCOUNT={os.environ['GOMP_SPINCOUNT']}\n")
    results = {}
    for dtype_name in args.dtypes:
        dtype = np.dtype(dtype_name).type
        for workload in args.only:
            if workload == "attention":
                r = run_attention(dtype, args.rounds)
            elif workload == "conv":
                r = run_conv(dtype, args.rounds)
            elif workload == "small_mlp":
                r = run_mlp([16, 32, 32, 4], 8, dtype, args.rounds * 2, burst=40, target=2.0)
            else:
                r = run_mlp([784, 256, 256, 10], 128, dtype, args.rounds, burst=4, target=1.10)
            results[(workload, dtype_name)] = r
            print()
    return results


if __name__ == "__main__":
    main()
