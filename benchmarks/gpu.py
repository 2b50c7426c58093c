"""Training steps on the GPU (CuPy) against the CPU (NumPy), and against hand-written CuPy.

    python benchmarks/gpu.py [--repeats 20] [--cpu-repeats 3] [--skip-cpu] [--json out.json]
    python benchmarks/gpu.py --device fake --small    # the code paths on the fake device (CI)

Workloads (one step = forward, loss, backward, plain SGD update; float32 by default):

* ``mlp``: the Tensor MLP 784-4096-4096-10 at batch 4096, softmax cross-entropy;
* ``block``: the course's attention + MLP block (transformer block:
  ``MLP(SingleHeadAttention(X))``, hidden 512) on X of shape (256, 256, 256),
  mean-square loss;
* ``conv``: one Conv2d(16 -> 32, 3x3, padding 1) on 32x32 images at batch 256 through
  the sparse im2col matrix (``cupyx.scipy.sparse`` on the GPU), mean-square loss.

Each workload runs three ways: ag on the device, ag on the CPU (NumPy), and the same
step written by hand with the device's array module (CuPy; the fake device's module
with ``--device fake``). All three start from the same weights; after one step their
weights are compared with ag-on-NumPy's (``agree`` columns: largest difference over
the largest weight), so a wrong hand-written backward shows. Clocks are read with the
device synchronised before and after each step; figures are medians.

Targets: ag on the GPU >= 20x ag on the CPU (MLP and block); ag <= 1.2x the
hand-written CuPy step.

Without a usable GPU (``--device cuda``) it prints ``no GPU: <reason>`` and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import ag  # noqa: E402
from ag.nn.im2col import im2col_matrix, output_size  # noqa: E402

LR = 0.01
Step = Callable[[], Any]
Weights = Callable[[], list[np.ndarray]]  # the current weights, copied to the host


def median_ms(step: Step, sync: Callable[[], None], repeats: int, warmup: int = 2) -> float:
    """The median wall time of ``step`` in ms, the device synchronised around each step."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        step()
        sync()  # GPU work is asynchronous: a step ends when the device is done
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _host(array: Any) -> np.ndarray:
    return np.array(ag.gpu.move_array(array, "cpu"))


def _ag_weights(params: list) -> Weights:
    return lambda: [_host(p.value) for p in params]


# -- the MLP ------------------------------------------------------------------------------


def mlp_sizes(small: bool) -> dict:
    return {"batch": 16, "sizes": (12, 8, 8, 3)} if small else {"batch": 4096, "sizes": (784, 4096, 4096, 10)}


def mlp_data(dtype: Any, batch: int = 4096, sizes: tuple = (784, 4096, 4096, 10), seed: int = 0):
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params.append((rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(dtype))
        params.append(np.zeros(fan_out, dtype=dtype))
    X = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], batch)
    onehot = np.eye(sizes[-1], dtype=dtype)[y]
    return params, X, onehot


def ag_mlp_step(device: str, dtype: Any, small: bool = False) -> tuple[Step, Weights]:
    """The kit's step: Tensors on ``device``, ag ops, ag.optim.SGD."""
    params_h, X_h, onehot_h = mlp_data(dtype, **mlp_sizes(small))
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

    return step, _ag_weights(params)


def hand_mlp_step(device: str, dtype: Any, small: bool = False) -> tuple[Step, Weights]:
    """The same step written by hand with the device's array module (CuPy on a GPU)."""
    xp = ag.gpu.array_module(ag.gpu.normalize(device))
    params_h, X_h, onehot_h = mlp_data(dtype, **mlp_sizes(small))
    params = [xp.asarray(p) for p in params_h]
    X, onehot = xp.asarray(X_h), xp.asarray(onehot_h)
    n = X.shape[0]

    def step() -> Any:
        acts, h = [X], X
        layers = len(params) // 2
        for i in range(layers):
            z = h @ params[2 * i] + params[2 * i + 1]
            h = xp.maximum(z, 0) if i < layers - 1 else z
            acts.append(h)
        m = h.max(axis=1, keepdims=True)
        e = xp.exp(h - m)
        s = e.sum(axis=1, keepdims=True)
        loss = (xp.log(s) + m - (h * onehot).sum(axis=1, keepdims=True)).mean()
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

    return step, lambda: [_host(p) for p in params]


# -- the attention + MLP block (the course's transformer block) ------------------------------


def block_sizes(small: bool) -> dict:
    return {"shape": (2, 5, 8), "hidden": 16} if small else {"shape": (256, 256, 256), "hidden": 512}


def block_data(dtype: Any, shape: tuple, hidden: int, seed: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    F = shape[2]
    s = 1.0 / np.sqrt(F)
    return {
        "X": rng.standard_normal(shape).astype(dtype),
        "Wq": (rng.standard_normal((F, F)) * s).astype(dtype),
        "Wk": (rng.standard_normal((F, F)) * s).astype(dtype),
        "Wv": (rng.standard_normal((F, F)) * s).astype(dtype),
        "Wh": (rng.standard_normal((F, hidden)) * s).astype(dtype),
        "bh": np.zeros(hidden, dtype),
        "Wo": (rng.standard_normal((hidden, F)) / np.sqrt(hidden)).astype(dtype),
        "bo": np.zeros(F, dtype),
    }


BLOCK_WEIGHTS = ("Wq", "Wk", "Wv", "Wh", "bh", "Wo", "bo")


def ag_block_step(device: str, dtype: Any, small: bool = False) -> tuple[Step, Weights]:
    """``ag.nn.TransformerBlock`` (the course's block), loss ``mean(out**2)``, SGD."""
    sizes = block_sizes(small)
    w = block_data(dtype, **sizes)
    block = ag.nn.TransformerBlock(sizes["shape"][2], sizes["hidden"], dtype=dtype)
    block.load_state_dict({
        "att.Wq": w["Wq"], "att.Wk": w["Wk"], "att.Wv": w["Wv"],
        "mlp.layers.0.weight": w["Wh"], "mlp.layers.0.bias": w["bh"],
        "mlp.layers.2.weight": w["Wo"], "mlp.layers.2.bias": w["bo"],
    })
    block = ag.gpu.move_module(block, device)
    X = ag.Tensor(ag.gpu.move_array(w["X"], device), requires_grad=False)
    opt = ag.optim.SGD(block.parameters(), lr=LR)
    params = [block.att.Wq, block.att.Wk, block.att.Wv, block.mlp.layers[0].weight,
              block.mlp.layers[0].bias, block.mlp.layers[2].weight, block.mlp.layers[2].bias]

    def step() -> Any:
        opt.zero_grad()
        loss = ag.mean(block(X) ** 2)
        loss.backward()
        opt.step()
        return loss

    return step, _ag_weights(params)


def hand_block_step(device: str, dtype: Any, small: bool = False) -> tuple[Step, Weights]:
    """The course's block forward, its backward derived by hand, SGD: the array module alone."""
    xp = ag.gpu.array_module(ag.gpu.normalize(device))
    w_h = block_data(dtype, **block_sizes(small))
    X = xp.asarray(w_h["X"])
    w = {k: xp.asarray(w_h[k]) for k in BLOCK_WEIGHTS}
    Xt = xp.ascontiguousarray(X.transpose(0, 2, 1))

    def step() -> Any:
        Q = X @ w["Wq"]
        K = X @ w["Wk"]
        S = K @ Q.transpose(0, 2, 1)                    # S[n, i, j] = key_i . query_j
        E = xp.exp(S - S.max(axis=1, keepdims=True))
        A = E / E.sum(axis=1, keepdims=True)            # softmax over the keys i
        P = Xt @ A                                      # (N, F, T)
        att = P.transpose(0, 2, 1) @ w["Wv"]            # (N, T, F)
        h = xp.maximum(att @ w["Wh"] + w["bh"], 0)
        out = h @ w["Wo"] + w["bo"]
        loss = (out * out).mean()
        g_out = out * (2.0 / out.size)
        F, H = w["Wo"].shape[1], w["Wo"].shape[0]
        g2 = g_out.reshape(-1, F)
        h2 = h.reshape(-1, H)
        g = {"Wo": h2.T @ g2, "bo": g2.sum(axis=0)}
        gh = (g_out @ w["Wo"].T) * (h > 0)
        gh2 = gh.reshape(-1, H)
        g["Wh"] = att.reshape(-1, F).T @ gh2
        g["bh"] = gh2.sum(axis=0)
        g_att = gh @ w["Wh"].T                          # (N, T, F)
        g["Wv"] = (P @ g_att).sum(axis=0)
        U = g_att @ w["Wv"].T                           # dL/dP, transposed: (N, T, F)
        gA = X @ U.transpose(0, 2, 1)                   # (N, T, T)
        gS = A * (gA - (A * gA).sum(axis=1, keepdims=True))
        gK = gS @ Q
        gQ = gS.transpose(0, 2, 1) @ K
        g["Wq"] = (Xt @ gQ).sum(axis=0)
        g["Wk"] = (Xt @ gK).sum(axis=0)
        for k in BLOCK_WEIGHTS:
            w[k] -= LR * g[k]
        return loss

    return step, lambda: [_host(w[k]) for k in BLOCK_WEIGHTS]


# -- one conv layer through the sparse im2col matrix ------------------------------------------


def conv_sizes(small: bool) -> dict:
    if small:
        return {"batch": 2, "cin": 2, "side": 6, "cout": 3, "k": 3, "padding": 1}
    return {"batch": 256, "cin": 16, "side": 32, "cout": 32, "k": 3, "padding": 1}


def conv_data(dtype: Any, batch: int, cin: int, side: int, cout: int, k: int, padding: int, seed: int = 3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, cin, side, side)).astype(dtype)
    W = (rng.standard_normal((cin * k * k, cout)) / np.sqrt(cin * k * k)).astype(dtype)
    b = (0.1 * rng.standard_normal(cout)).astype(dtype)
    return X, W, b


def ag_conv_step(device: str, dtype: Any, small: bool = False) -> tuple[Step, Weights]:
    """``ag.nn.Conv2d`` (the sparse im2col path; cupyx.scipy.sparse on CUDA), ``mean(out**2)``, SGD."""
    sz = conv_sizes(small)
    X_h, W_h, b_h = conv_data(dtype, **sz)
    conv = ag.nn.Conv2d(sz["cin"], sz["cout"], sz["k"], padding=sz["padding"], dtype=dtype)
    conv.load_state_dict({"weight": W_h, "bias": b_h})
    conv = ag.gpu.move_module(conv, device)
    X = ag.Tensor(ag.gpu.move_array(X_h, device), requires_grad=False)
    opt = ag.optim.SGD(conv.parameters(), lr=LR)

    def step() -> Any:
        opt.zero_grad()
        loss = ag.mean(conv(X) ** 2)
        loss.backward()
        opt.step()
        return loss

    return step, _ag_weights([conv.weight, conv.bias])


def hand_conv_step(device: str, dtype: Any, small: bool = False) -> tuple[Step, Weights]:
    """The same layer by hand: the device's sparse im2col matrix, one matmul, its backward."""
    dev = ag.gpu.normalize(device)
    xp = ag.gpu.array_module(dev)
    sz = conv_sizes(small)
    X_h, W_h, b_h = conv_data(dtype, **sz)
    n, cin, side, cout, k, pad = (sz[key] for key in ("batch", "cin", "side", "cout", "k", "padding"))
    out_side = output_size(side, k, 1, pad)
    P = out_side * out_side
    M = im2col_matrix(cin, side, side, k, 1, pad, dtype=np.dtype(dtype))  # (Cin*H*W, P*Cin*K*K)
    MT = ag.gpu.to_device_sparse(M.T.tocsr(), dev)  # scipy on the CPU, cupyx on CUDA
    X = xp.asarray(X_h.reshape(n, -1))
    W, b = xp.asarray(W_h), xp.asarray(b_h)

    def step() -> Any:
        patches = (MT @ X.T).T.reshape(n * P, cin * k * k)   # X @ M, as sparse @ dense
        out = patches @ W + b                                # (N*P, Cout)
        loss = (out * out).mean()
        g = out * (2.0 / out.size)
        gW = patches.T @ g
        gb = g.sum(axis=0)
        W[...] -= LR * gW
        b[...] -= LR * gb
        return loss

    return step, lambda: [_host(W), _host(b)]


# -- the run --------------------------------------------------------------------------------

def mlp_label(sizes: dict) -> str:
    return f"MLP {'-'.join(map(str, sizes['sizes']))}, batch {sizes['batch']}"


def block_label(sizes: dict) -> str:
    return f"attention + MLP (transformer block), X {sizes['shape']}, hidden {sizes['hidden']}"


def conv_label(s: dict) -> str:
    return (f"conv {s['cin']}->{s['cout']} {s['k']}x{s['k']} sparse im2col, batch {s['batch']} "
            f"of {s['side']}x{s['side']}")


# key: (label, ag step, hand-written step, sizes)
WORKLOADS = {
    "mlp": (mlp_label, ag_mlp_step, hand_mlp_step, mlp_sizes),
    "block": (block_label, ag_block_step, hand_block_step, block_sizes),
    "conv": (conv_label, ag_conv_step, hand_conv_step, conv_sizes),
}
TARGET_SPEEDUP = 20.0  # ag on the GPU against ag on the CPU (mlp and block)
TARGET_HAND = 1.2  # ag against the hand-written step on the same device


def disagreement(got: list[np.ndarray], want: list[np.ndarray]) -> float:
    """The largest difference between two lists of weights, over the largest weight."""
    scale = max(float(np.abs(w).max()) for w in want) or 1.0
    return max(float(np.abs(g.astype(np.float64) - w).max()) for g, w in zip(got, want)) / scale


def _write_json(path: str | None, payload: dict) -> None:
    if not path:
        return
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump(payload, fh, indent=1, default=float)  # NumPy/CuPy scalars as numbers
    os.replace(tmp, path)  # a reader (or a killed run) never sees half a file


def _device_info(device: str) -> dict:
    if device == "fake":
        return {"device": "fake", "name": "fake (ag's strict fake device; NumPy underneath)"}
    import cupy as cp

    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.runtime.getDevice())
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    return {"device": ag.gpu.normalize(device), "name": name, "cupy": cp.__version__,
            "cuda_runtime": cp.cuda.runtime.runtimeGetVersion()}


def run_workload(key: str, device: str, dtype: Any, small: bool, args: argparse.Namespace,
                 sync: Callable[[], None]) -> dict:
    label, ag_step, hand_step, sizes = WORKLOADS[key]
    row: dict[str, Any] = {"key": key, "label": label(sizes(small)), "sizes": sizes(small), "ms": {},
                           "agree": {}, "errors": {}}
    runs = [("ag_device", ag_step, device, sync, args.repeats),
            ("hand_device", hand_step, device, sync, args.repeats)]
    if not args.skip_cpu:
        runs.append(("ag_cpu", ag_step, "cpu", lambda: None, args.cpu_repeats))
    weights: dict[str, list[np.ndarray]] = {}
    for name, make, dev, sync_fn, repeats in runs:
        print(f"  {name} ...", flush=True)
        try:
            step, current = make(dev, dtype, small)
            step()  # one step from the shared start: the weights after it are compared below
            sync_fn()
            weights[name] = current()
            row["ms"][name] = median_ms(step, sync_fn, repeats, warmup=1 if dev == "cpu" else 2)
        except Exception as err:  # report, and go on with the other runs
            row["errors"][name] = f"{type(err).__name__}: {str(err)[:300]}"
            print(f"  {name}: failed: {row['errors'][name]}", flush=True)
    reference = weights.get("ag_cpu")
    for name in ("ag_device", "hand_device"):
        if reference is not None and name in weights:
            row["agree"][name] = disagreement(weights[name], reference)
    ms = row["ms"]
    if "ag_device" in ms and "ag_cpu" in ms:
        row["speedup_vs_cpu"] = ms["ag_cpu"] / ms["ag_device"]
    if "ag_device" in ms and "hand_device" in ms:
        row["ratio_vs_hand"] = ms["ag_device"] / ms["hand_device"]
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed device steps per workload")
    parser.add_argument("--cpu-repeats", type=int, default=3, help="timed CPU steps per workload")
    parser.add_argument("--skip-cpu", action="store_true", help="device timings only")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--device", default="cuda", choices=("cuda", "fake"),
                        help="'fake': the code paths on the strict fake device (timings mean nothing)")
    parser.add_argument("--small", action="store_true", help="tiny shapes (a smoke test)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help=f"comma-separated, from {','.join(WORKLOADS)}")
    parser.add_argument("--json", help="write the results here (rewritten after each workload)")
    args = parser.parse_args(argv)
    dtype = np.dtype(args.dtype)
    keys = [k.strip() for k in args.workloads.split(",") if k.strip()]
    unknown = [k for k in keys if k not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {list(WORKLOADS)}")

    if args.device == "fake":
        device = "fake"
        print("fake device: checking the code paths only, these are not GPU timings")

        def sync() -> None:
            pass
    else:
        if not ag.gpu.is_available():
            print(f"no GPU: {ag.gpu.why_unavailable()}")
            _write_json(args.json, {"no_gpu": ag.gpu.why_unavailable(), "workloads": []})
            return 0
        import cupy as cp

        device = ag.gpu.normalize("cuda")

        def sync() -> None:
            cp.cuda.Device().synchronize()

    info = _device_info(device)
    print(f"device: {info['name']}" + (f", CuPy {info['cupy']}, CUDA runtime {info['cuda_runtime']}"
                                         if "cupy" in info else "") + f", dtype {dtype}", flush=True)
    result: dict[str, Any] = {"device": info, "dtype": dtype.name, "small": args.small,
                              "repeats": args.repeats, "cpu_repeats": args.cpu_repeats, "workloads": []}
    _write_json(args.json, result)
    for key in keys:
        label, _, _, sizes = WORKLOADS[key]
        print(f"{label(sizes(args.small))} ...", flush=True)
        result["workloads"].append(run_workload(key, device, dtype, args.small, args, sync))
        _write_json(args.json, result)

    def fmt(ms: float | None) -> str:
        return "      n/a" if ms is None else f"{ms:9.2f}"

    print(f"\n{'workload':62s} {'ag dev ms':>9s} {'hand-written CuPy ms':>20s} {'ag CPU ms':>9s} "
          f"{'vs CPU':>8s} {'vs hand':>8s}")
    for row in result["workloads"]:
        ms = row["ms"]
        speed = f"{row['speedup_vs_cpu']:7.1f}x" if "speedup_vs_cpu" in row else "     n/a"
        hand = f"{row['ratio_vs_hand']:7.2f}x" if "ratio_vs_hand" in row else "     n/a"
        print(f"{row['label']:62s} {fmt(ms.get('ag_device'))} {fmt(ms.get('hand_device')):>20s} "
              f"{fmt(ms.get('ag_cpu'))} {speed} {hand}")
    for row in result["workloads"]:
        for name, err in row["agree"].items():
            print(f"{row['key']}: {name} weights after one step vs ag on NumPy: {err:.1e}")
        if device == "fake":
            continue  # no targets for the fake device: its timings are NumPy's
        if row["key"] in ("mlp", "block") and "speedup_vs_cpu" in row:
            met = "met" if row["speedup_vs_cpu"] >= TARGET_SPEEDUP else "NOT met"
            print(f"target >= {TARGET_SPEEDUP:.0f}x the CPU on {row['key']}: {met} "
                  f"({row['speedup_vs_cpu']:.1f}x)")
        if "ratio_vs_hand" in row:
            met = "met" if row["ratio_vs_hand"] <= TARGET_HAND else "NOT met"
            print(f"target <= {TARGET_HAND}x hand-written CuPy on {row['key']}: {met} "
                  f"({row['ratio_vs_hand']:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
