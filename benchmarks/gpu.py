"""Training steps on the GPU (CuPy) against the CPU (NumPy), and against hand-written CuPy.

    python benchmarks/gpu.py [--repeats 20] [--cpu-repeats 3] [--skip-cpu] [--dtype float32]
    python benchmarks/gpu.py --device fake --small    # the code paths on the fake device (CI)

Workloads (one step = forward, loss, backward, optimizer update):

* the large MLP 784-4096-4096-10 at batch 1024 (softmax cross-entropy, SGD): ag on
  the GPU, ag on the CPU, and the same step written by hand with CuPy;
* a CNN on 32x32x3 images, batch 64: Conv(3->32)-ReLU-MaxPool-Conv(32->64)-ReLU-
  MaxPool-Linear(4096->10), sparse im2col (cupyx.scipy.sparse on the GPU);
* a transformer block (4 heads, pre-LayerNorm, residual, MLP 512-2048-512) on
  X of shape (64, 256, 512), mean-square loss, Adam.

Targets: the GPU step >= 20x faster than the CPU step for the MLP and the
transformer; ag's MLP step <= 1.2x the hand-written CuPy step.

Without a usable GPU it prints ``no GPU: <reason>`` and exits 0.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import ag  # noqa: E402

LR = 0.01


def median_ms(step: Callable[[], Any], sync: Callable[[], None], repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        sync()  # GPU work is asynchronous: a step ends when the device is done
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _to(model: Any, device: str) -> Any:
    to = getattr(model, "to", None)
    try:
        return to(device) if to is not None else ag.gpu.move_module(model, device)
    except TypeError:  # a Module.to that takes only dtypes
        return ag.gpu.move_module(model, device)


# -- the large MLP ------------------------------------------------------------------------


def mlp_data(dtype: Any, batch: int = 1024, sizes: tuple = (784, 4096, 4096, 10), seed: int = 0):
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params.append((rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(dtype))
        params.append(np.zeros(fan_out, dtype=dtype))
    X = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], batch)
    onehot = np.eye(sizes[-1], dtype=dtype)[y]
    return params, X, onehot


def ag_mlp_step_fn(device: str, dtype: Any, small: bool = False) -> Callable[[], float]:
    """The kit's step: Tensors on ``device``, ag ops, ag.optim.SGD."""
    params_h, X_h, onehot_h = mlp_data(dtype, *((16, (12, 8, 8, 3)) if small else ()))
    params = [ag.Tensor(ag.gpu.move_array(p, device), label=f"p{i}") for i, p in enumerate(params_h)]
    X = ag.Tensor(ag.gpu.move_array(X_h, device), requires_grad=False)
    onehot = ag.Tensor(ag.gpu.move_array(onehot_h, device), requires_grad=False)
    opt = ag.optim.SGD(params, lr=LR)

    def step() -> Any:
        opt.zero_grad()
        h = X
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i + 2 < len(params):
                h = ag.relu(h)
        loss = (ag.logsumexp(h, axis=1) - (h * onehot).sum(axis=1)).mean()
        loss.backward()
        opt.step()
        return loss

    return step


def cupy_mlp_step_fn(dtype: Any, cp: Any, small: bool = False) -> Callable[[], Any]:
    """The same step written by hand with CuPy (``cp``): the floor for the kit's overhead."""
    params_h, X_h, onehot_h = mlp_data(dtype, *((16, (12, 8, 8, 3)) if small else ()))
    params = [cp.asarray(p) for p in params_h]
    X, onehot = cp.asarray(X_h), cp.asarray(onehot_h)
    n = X.shape[0]

    def step() -> Any:
        acts, h = [X], X
        layers = len(params) // 2
        for i in range(layers):
            z = h @ params[2 * i] + params[2 * i + 1]
            h = cp.maximum(z, 0) if i < layers - 1 else z
            acts.append(h)
        m = h.max(axis=1, keepdims=True)
        e = cp.exp(h - m)
        s = e.sum(axis=1, keepdims=True)
        loss = (cp.log(s) + m - (h * onehot).sum(axis=1, keepdims=True)).mean()
        g = (e / s - onehot) / n
        for i in reversed(range(layers)):
            W = params[2 * i]
            gW = acts[i].T @ g
            gb = g.sum(axis=0)
            if i > 0:
                g = (g @ W.T) * (acts[i] > 0)
            W -= LR * gW
            params[2 * i + 1] -= LR * gb
        return loss

    return step


# -- the CNN and the transformer block ------------------------------------------------------


def cnn_step_fn(device: str, dtype: Any, small: bool = False) -> Callable[[], Any]:
    rng = np.random.default_rng(1)
    nn = ag.nn
    batch, c1, c2, side = (2, 2, 3, 8) if small else (64, 32, 64, 32)
    model = nn.Sequential(
        nn.Conv2d(3, c1, 3, padding=1, dtype=dtype, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1, dtype=dtype, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(c2 * (side // 4) ** 2, 10, dtype=dtype, rng=rng),
    )
    model = _to(model, device)
    X = ag.Tensor(ag.gpu.move_array(rng.standard_normal((batch, 3, side, side)).astype(dtype), device),
                  requires_grad=False)
    onehot = ag.Tensor(ag.gpu.move_array(np.eye(10, dtype=dtype)[rng.integers(0, 10, batch)], device),
                       requires_grad=False)
    opt = ag.optim.SGD(model.parameters(), lr=LR, momentum=0.9)

    def step() -> Any:
        opt.zero_grad()
        z = model(X)
        loss = (ag.logsumexp(z, axis=1) - (z * onehot).sum(axis=1)).mean()
        loss.backward()
        opt.step()
        return loss

    return step


def transformer_step_fn(device: str, dtype: Any, small: bool = False) -> Callable[[], Any]:
    rng = np.random.default_rng(2)
    shape = (2, 5, 8) if small else (64, 256, 512)
    n, t, d = shape
    block = ag.nn.TransformerBlock(d, 4 * d, n_heads=4, residual=True, norm="pre", dtype=dtype, rng=rng)
    block = _to(block, device)
    X = ag.Tensor(ag.gpu.move_array(rng.standard_normal(shape).astype(dtype), device), requires_grad=False)
    opt = ag.optim.Adam(block.parameters(), lr=1e-4)

    def step() -> Any:
        opt.zero_grad()
        loss = ag.mean(block(X) ** 2)
        loss.backward()
        opt.step()
        return loss

    return step


# -- the report -----------------------------------------------------------------------------


def _try(label: str, make: Callable[[], Callable[[], Any]], sync: Callable[[], None], repeats: int):
    try:
        return median_ms(make(), sync, repeats)
    except Exception as err:  # report, and go on with the other workloads
        print(f"  {label}: failed: {type(err).__name__}: {str(err)[:200]}")
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed GPU steps per workload")
    parser.add_argument("--cpu-repeats", type=int, default=3, help="timed CPU steps per workload")
    parser.add_argument("--skip-cpu", action="store_true", help="GPU timings only")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--device", default="cuda", choices=("cuda", "fake"),
                        help="'fake': the code paths on the strict fake device (timings mean nothing)")
    parser.add_argument("--small", action="store_true", help="tiny shapes (a smoke test)")
    args = parser.parse_args(argv)
    dtype = np.dtype(args.dtype)
    small = args.small

    if args.device == "fake":
        from ag.testing.fake_device import xp as cp

        gpu = "fake"
        print("fake device: checking the code paths only, these are not GPU timings")

        def sync_gpu() -> None:
            pass
    else:
        if not ag.gpu.is_available():
            print(f"no GPU: {ag.gpu.why_unavailable()}")
            return 0
        import cupy as cp

        gpu = ag.gpu.normalize("cuda")
        props = cp.cuda.runtime.getDeviceProperties(cp.cuda.runtime.getDevice())
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        print(f"GPU: {name}, CuPy {cp.__version__}, CUDA runtime {cp.cuda.runtime.runtimeGetVersion()}, "
              f"dtype {dtype}")

        def sync_gpu() -> None:
            cp.cuda.Device().synchronize()

    def sync_cpu() -> None:
        pass

    workloads = {
        "MLP 784-4096-4096-10, batch 1024": lambda d: ag_mlp_step_fn(d, dtype, small),
        "CNN 2xconv on 32x32x3, batch 64": lambda d: cnn_step_fn(d, dtype, small),
        "transformer block, X (64, 256, 512)": lambda d: transformer_step_fn(d, dtype, small),
    }
    rows = []
    for label, make in workloads.items():
        print(f"{label} ...", flush=True)
        g = _try("gpu", lambda make=make: make(gpu), sync_gpu, args.repeats)
        c = None if args.skip_cpu else _try("cpu", lambda make=make: make("cpu"), sync_cpu, args.cpu_repeats)
        rows.append((label, g, c))
    hand = _try("hand-written CuPy", lambda: cupy_mlp_step_fn(dtype, cp, small), sync_gpu, args.repeats)

    def fmt(ms: float | None) -> str:
        return "   n/a" if ms is None else f"{ms:9.2f}"

    print(f"\n{'workload':40s} {'GPU ms':>9s} {'CPU ms':>9s} {'speed-up':>9s}")
    for label, g, c in rows:
        speed = f"{c / g:8.1f}x" if g and c else "     n/a"
        print(f"{label:40s} {fmt(g)} {fmt(c)} {speed}")
    mlp_gpu = rows[0][1]
    if hand is not None and mlp_gpu is not None:
        print(f"\nMLP: ag {mlp_gpu:.2f} ms vs hand-written CuPy {hand:.2f} ms: {mlp_gpu / hand:.2f}x "
              f"(target <= 1.2x)")
    for (label, g, c), idx in zip(rows, range(3)):
        if idx in (0, 2) and g and c:
            print(f"target >= 20x on {label}: {'met' if c / g >= 20 else 'NOT met'} ({c / g:.1f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
