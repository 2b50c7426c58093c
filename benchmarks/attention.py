"""The course's transformer block (attention + MLP), forward + backward: ag against PyTorch.

Workload: ``TransformerBlock = MLP(SingleHeadAttention(X))`` exactly as the course
writes it, ``X`` of shape (32, 64, 64), hidden size 128, float32; one step is the
forward pass to ``sum(Xout)``, the backward pass to every weight and to ``X``, and
dropping the graph. ag runs ``ag.nn.TransformerBlock``; PyTorch (CPU) runs the same
lines with ``torch`` ops. The two run interleaved in one process; the script prints
medians and the ratio ag / torch.

    python benchmarks/attention.py [--repeats 30] [--threads N]

By default it measures twice: with each library's default thread count, then with
one thread each (NumPy's BLAS limited through threadpoolctl, torch through
``set_num_threads``); the one-thread figures are steadier on a busy 2-core machine,
where the small products here gain little from a second thread. PyTorch is
optional; without it only the ag column is printed.
"""

from __future__ import annotations

import os

# Set before NumPy/PyTorch load their thread pools: idle BLAS/OpenMP threads stop
# spinning soon, so one library's pool does not steal the cores from the other's.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
os.environ.setdefault("GOMP_SPINCOUNT", "10000")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ag  # noqa: E402
import ag.nn  # noqa: E402

N, T, F, H = 32, 64, 64, 128


def make_weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = 1.0 / np.sqrt(F)
    return {
        "X": rng.standard_normal((N, T, F)).astype(np.float32),
        "Wq": (rng.standard_normal((F, F)) * s).astype(np.float32),
        "Wk": (rng.standard_normal((F, F)) * s).astype(np.float32),
        "Wv": (rng.standard_normal((F, F)) * s).astype(np.float32),
        "Wh": (rng.standard_normal((F, H)) * s).astype(np.float32),
        "bh": np.zeros(H, np.float32),
        "Wo": (rng.standard_normal((H, F)) / np.sqrt(H)).astype(np.float32),
        "bo": np.zeros(F, np.float32),
    }


def ag_setup(w: dict[str, np.ndarray]):
    block = ag.nn.TransformerBlock(F, H, dtype=np.float32)
    block.load_state_dict(
        {
            "att.Wq": w["Wq"],
            "att.Wk": w["Wk"],
            "att.Wv": w["Wv"],
            "mlp.layers.0.weight": w["Wh"],
            "mlp.layers.0.bias": w["bh"],
            "mlp.layers.2.weight": w["Wo"],
            "mlp.layers.2.bias": w["bo"],
        }
    )
    X = ag.Tensor(w["X"], label="X")

    def step():
        block.zero_grad()
        X.grad = None
        out = block(X).sum()
        out.backward()
        return X.grad

    return step


def torch_setup(w: dict[str, np.ndarray]):
    import torch

    t = {k: torch.tensor(v, requires_grad=True) for k, v in w.items()}

    def step():
        for v in t.values():
            v.grad = None
        Xin = t["X"]
        # The course's lines, with torch ops.
        Queries = Xin @ t["Wq"]
        Keys = Xin @ t["Wk"]
        KQ = Keys @ torch.moveaxis(Queries, 1, 2)
        softmaxKQ = torch.softmax(KQ, dim=1)
        P = torch.moveaxis(Xin, 1, 2) @ softmaxKQ
        att = torch.moveaxis(P, 1, 2) @ t["Wv"]
        hidden = torch.relu(att @ t["Wh"] + t["bh"])
        out = (hidden @ t["Wo"] + t["bo"]).sum()
        out.backward()
        return t["X"].grad

    return step


def check_agree(ag_step, torch_step) -> float:
    ga = ag_step()
    gt = torch_step().numpy()
    return float(np.abs(ga - gt).max() / (np.abs(gt).max() + 1e-12))


def measure(runners: dict, repeats: int, warmup: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(warmup):
        for run in runners.values():
            run()
    for _ in range(repeats):
        for name, run in runners.items():  # interleaved: drift hits both columns alike
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    return times


def report(title: str, times: dict[str, list[float]]) -> dict[str, float]:
    medians = {name: statistics.median(ts) * 1e3 for name, ts in times.items()}
    print(title)
    for name, ms in medians.items():
        print(
            f"  {name:6s} median {ms:7.2f} ms  (min {min(times[name]) * 1e3:.2f} ms, {len(times[name])} runs)"
        )
    if "torch" in medians:
        medians["ratio"] = medians["ag"] / medians["torch"]
        print(f"  ratio ag / torch: {medians['ratio']:.2f}x  (target <= 1.3x)")
    return medians


def _limit_threads(n: int, torch_module) -> contextlib.AbstractContextManager:
    """Run NumPy's BLAS and torch on ``n`` threads each inside the block."""
    stack = contextlib.ExitStack()
    try:
        from threadpoolctl import threadpool_limits

        stack.enter_context(threadpool_limits(n, user_api="blas"))
    except ImportError:
        print("(threadpoolctl is not installed: NumPy keeps its BLAS threads)")
    if torch_module is not None:
        before = torch_module.get_num_threads()
        torch_module.set_num_threads(n)
        stack.callback(torch_module.set_num_threads, before)
    return stack


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="run only with this many threads per library (default: library defaults, then 1 thread each)",
    )
    args = parser.parse_args(argv)

    w = make_weights()
    runners = {"ag": ag_setup(w)}
    torch = None
    try:
        import torch

        runners["torch"] = torch_setup(w)
    except ImportError:
        print("torch is not installed: the torch column is skipped")
    if "torch" in runners:
        diff = check_agree(runners["ag"], runners["torch"])
        print(f"max relative difference of dL/dX, ag vs torch: {diff:.2e}")

    print(f"course attention + MLP block, X {(N, T, F)}, hidden {H}, float32, forward + backward")
    results = {}
    settings = [args.threads] if args.threads else [None, 1]
    for threads in settings:
        if threads is None:
            title = "library default threads:"
            results["default"] = report(title, measure(runners, args.repeats, args.warmup))
        else:
            with _limit_threads(threads, torch):
                title = f"{threads} thread(s) each:"
                results[f"threads={threads}"] = report(title, measure(runners, args.repeats, args.warmup))
    return results


if __name__ == "__main__":
    main()
