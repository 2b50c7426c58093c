"""One SGD step of an MLP: ag.Tensor against hand-written NumPy and PyTorch CPU.

A step is the forward pass, softmax cross-entropy, backward and the parameter
update. Hand-written NumPy (same BLAS) is the floor; PyTorch eager is optional.
The implementations run interleaved in one process; the script prints medians
and ratios to the hand-written NumPy step.

    python benchmarks/tensor_mlp.py [--repeats 200]

Workloads: 784-256-256-10 at batch 128 (float64 and float32), where BLAS time
dominates, and 16-32-32-4 at batch 8, where per-op overhead dominates.
"""

from __future__ import annotations

import os

# Idle BLAS/OpenMP threads that keep spinning distort interleaved timings on 2 cores.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
os.environ.setdefault("GOMP_SPINCOUNT", "10000")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import ag  # noqa: E402

LR = 0.01


def init_params(sizes: list[int], dtype, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params.append((rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(dtype))
        params.append(np.zeros(fan_out, dtype=dtype))
    return params


def numpy_step(params: list[np.ndarray], X: np.ndarray, y: np.ndarray) -> float:
    """Forward, cross-entropy, backward and update, written out by hand."""
    n = X.shape[0]
    acts = [X]
    h = X
    layers = len(params) // 2
    for i in range(layers):
        z = h @ params[2 * i] + params[2 * i + 1]
        h = np.maximum(z, 0) if i < layers - 1 else z
        acts.append(h)
    logits = h
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    probs = exp / exp.sum(axis=1, keepdims=True)
    loss = -np.log(probs[np.arange(n), y]).mean()
    g = probs
    g[np.arange(n), y] -= 1
    g /= n
    for i in reversed(range(layers)):
        W = params[2 * i]
        gW = acts[i].T @ g
        gb = g.sum(axis=0)
        if i > 0:
            g = (g @ W.T) * (acts[i] > 0)
        W -= LR * gW
        params[2 * i + 1] -= LR * gb
    return float(loss)


def ag_step(params: list[ag.Tensor], X: ag.Tensor, y: np.ndarray) -> float:
    h = X
    layers = len(params) // 2
    for i in range(layers):
        h = h @ params[2 * i] + params[2 * i + 1]
        if i < layers - 1:
            h = ag.relu(h)
    loss = ag.softmax_cross_entropy(h, y)  # one fused node, as ag.nn's cross_entropy uses
    for p in params:
        p.grad = None
    loss.backward()
    with ag.no_grad():
        for p in params:
            p.value -= LR * p.grad
    return loss.item()


def make_torch_step(torch, params: list[np.ndarray], X: np.ndarray, y: np.ndarray):
    tparams = [torch.tensor(p, requires_grad=True) for p in params]
    tX = torch.from_numpy(X)
    ty = torch.from_numpy(y.astype(np.int64))
    layers = len(tparams) // 2

    def step() -> float:
        h = tX
        for i in range(layers):
            h = h @ tparams[2 * i] + tparams[2 * i + 1]
            if i < layers - 1:
                h = torch.relu(h)
        loss = torch.nn.functional.cross_entropy(h, ty)
        for p in tparams:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in tparams:
                p -= LR * p.grad
        return loss.item()

    return step


def run(sizes: list[int], batch: int, dtype, repeats: int, torch) -> dict[str, float]:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], size=batch)
    np_params = init_params(sizes, dtype)
    ag_params = [ag.Tensor(p.copy()) for p in np_params]
    ag_X = ag.Tensor(X, requires_grad=False)
    steps = {
        "numpy": lambda: numpy_step(np_params, X, y),
        "ag": lambda: ag_step(ag_params, ag_X, y),
    }
    if torch is not None:
        steps["torch"] = make_torch_step(torch, [p.copy() for p in np_params], X, y)
    for fn in steps.values():
        for _ in range(5):
            fn()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, fn in steps.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
    except ImportError:
        torch = None
        print("torch not installed: the torch column is skipped")
    workloads = [
        ("784-256-256-10 b128 float64", [784, 256, 256, 10], 128, np.float64, "1.10"),
        ("784-256-256-10 b128 float32", [784, 256, 256, 10], 128, np.float32, "1.10"),
        ("16-32-32-4 b8 float64", [16, 32, 32, 4], 8, np.float64, "2.0"),
    ]
    print(f"{'workload':<30} {'numpy':>10} {'ag':>10} {'torch':>10} {'ag/numpy':>9} "
          f"{'torch/numpy':>11} target")
    for name, sizes, batch, dtype, target in workloads:
        med = run(sizes, batch, dtype, args.repeats, torch)
        base = med["numpy"]
        torch_ms = f"{med['torch'] * 1e3:.3f}" if "torch" in med else "-"
        torch_ratio = f"{med['torch'] / base:.2f}" if "torch" in med else "-"
        print(f"{name:<30} {base * 1e3:>8.3f}ms {med['ag'] * 1e3:>8.3f}ms {torch_ms:>8}ms "
              f"{med['ag'] / base:>9.2f} {torch_ratio:>11} <= {target}")


if __name__ == "__main__":
    main()
