"""``ag.parallel`` and ``ag.buffers`` change how fast a step runs, never what it computes.

A short training (a few SGD steps) of each course workload, the Tensor MLP, the
attention block and the conv, runs with both speed-ups on, each one off and both
off (``ag.parallel.set_num_threads(1)`` is ``AG_NUM_THREADS=1``;
``ag.buffers.set_enabled(False)`` is ``AG_BUFFER_REUSE=0``). Reusing arrays must
give the same bits; splitting a product over threads may change the order of a sum
(the weight gradient of a conv adds one partial product per range), so there the
losses and parameters agree to the last bits (a few units of float64 rounding).
The "on" runs are checked to have really split work and reused arrays.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ag
import ag.nn.functional as F
from ag import buffers, parallel
from ag.optim import SGD

ROOT = Path(__file__).resolve().parents[2]
STEPS = 3
CONFIGS = {"both on": (2, True), "parallel off": (1, True), "buffers off": (2, False), "both off": (1, False)}
LAST_BITS = 16 * np.finfo(np.float64).eps  # relative to each array's largest magnitude


def mlp_training(steps: int) -> list[np.ndarray]:
    """784-256-256-10 at batch 128, relu, cross-entropy with int labels (the course's MLP)."""
    rng = np.random.default_rng(0)
    sizes = [784, 256, 256, 10]
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params += [ag.tensor(rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)),
                   ag.tensor(rng.standard_normal(fan_out) * 0.1)]
    X = ag.tensor(rng.standard_normal((128, sizes[0])), requires_grad=False)
    y = rng.integers(0, sizes[-1], size=128)
    opt = SGD(params, lr=0.05, momentum=0.9)
    losses = []
    for _ in range(steps):
        h = X
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i < len(params) - 2:
                h = ag.relu(h)
        loss = F.cross_entropy(h, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.value.copy())
    return [np.array(losses), *(p.value.copy() for p in params)]


def attention_training(steps: int) -> list[np.ndarray]:
    """The attention + MLP block of benchmarks/course_workloads.py, X (32, 64, 64), hidden 128."""
    rng = np.random.default_rng(0)
    n, t, f, hidden = 32, 64, 64, 128
    s = 1.0 / np.sqrt(f)
    X = ag.tensor(rng.standard_normal((n, t, f)), requires_grad=False)
    Wq, Wk, Wv = (ag.tensor(rng.standard_normal((f, f)) * s) for _ in range(3))
    Wh, bh = ag.tensor(rng.standard_normal((f, hidden)) * s), ag.tensor(rng.standard_normal(hidden) * 0.1)
    Wo = ag.tensor(rng.standard_normal((hidden, f)) / np.sqrt(hidden))
    bo = ag.tensor(rng.standard_normal(f) * 0.1)
    params = [Wq, Wk, Wv, Wh, bh, Wo, bo]
    opt = SGD(params, lr=1e-4)
    losses = []
    for _ in range(steps):
        Q, K = X @ Wq, X @ Wk
        S = ag.softmax(K @ ag.moveaxis(Q, 1, 2), axis=1)
        out = ag.moveaxis(ag.moveaxis(X, 1, 2) @ S, 1, 2) @ Wv
        Y = ag.relu(out @ Wh + bh) @ Wo + bo
        loss = (Y * Y).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.value.copy())
    return [np.array(losses), *(p.value.copy() for p in params)]


def conv_training(steps: int) -> list[np.ndarray]:
    """conv2d (sparse im2col) x (32, 3, 32, 32), weight (27, 16), seeded with a fixed G."""
    rng = np.random.default_rng(0)
    x = ag.tensor(rng.standard_normal((32, 3, 32, 32)))
    w = ag.tensor(rng.standard_normal((27, 16)) * 0.2)
    G = rng.standard_normal((32, 16, 30, 30))
    opt = SGD([x, w], lr=1e-3)
    outputs = []
    for _ in range(steps):
        y = F.conv2d(x, w)
        opt.zero_grad()
        y.backward(G)
        outputs.append(float((y.value * G).sum()))
        opt.step()
    return [np.array(outputs), x.value.copy(), w.value.copy(), x.grad.copy(), w.grad.copy()]


WORKLOADS = {"tensor mlp": mlp_training, "attention": attention_training, "conv": conv_training}


@pytest.fixture()
def speed_settings():
    threads, reuse = parallel.get_num_threads(), buffers.is_enabled()
    yield
    parallel.set_num_threads(threads)
    buffers.set_enabled(reuse)


def _close_to_the_last_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.abs(a - b).max(initial=0.0) <= LAST_BITS * np.abs(b).max(initial=0.0))


@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_training_is_the_same_with_and_without_parallel_and_buffers(workload, speed_settings, monkeypatch):
    handed_over = [0]
    submit = parallel._Workers.submit

    def counting_submit(self, i, job):
        handed_over[0] += 1
        return submit(self, i, job)

    monkeypatch.setattr(parallel._Workers, "submit", counting_submit)
    results, splits, kept = {}, {}, {}
    for name, (threads, reuse) in CONFIGS.items():
        parallel.set_num_threads(threads)
        buffers.set_enabled(reuse)
        handed_over[0] = 0
        results[name] = WORKLOADS[workload](STEPS)
        splits[name], kept[name] = handed_over[0], buffers.kept_bytes()
    assert splits["parallel off"] == splits["both off"] == 0
    assert kept["buffers off"] == kept["both off"] == 0
    if buffers.REUSES and workload != "tensor mlp":  # the MLP's arrays are all below MIN_BYTES
        assert kept["both on"] > 0 and kept["parallel off"] > 0  # arrays were kept for reuse
    if workload == "conv":
        assert splits["both on"] > 0 and splits["buffers off"] > 0  # work was split
    for with_, without in (("both on", "buffers off"), ("parallel off", "both off")):  # buffers
        for a, b in zip(results[with_], results[without]):
            np.testing.assert_array_equal(a, b, err_msg=f"{workload}: {with_} vs {without}")
    for with_, without in (("both on", "parallel off"), ("buffers off", "both off")):  # parallel
        for a, b in zip(results[with_], results[without]):
            assert _close_to_the_last_bits(a, b), (workload, with_, without, np.abs(a - b).max())


@pytest.mark.parametrize("value, threads, reuse", [("0", 1, False), ("1", 2, True)])
def test_the_environment_switches_turn_them_off(value, threads, reuse):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AG_NUM_THREADS": str(threads), "AG_BUFFER_REUSE": value}
    code = "from ag import buffers, parallel; print(parallel.get_num_threads(), buffers.is_enabled())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(threads), str(reuse and buffers.REUSES)]


def test_a_bad_buffer_switch_is_refused():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AG_BUFFER_REUSE": "off"}
    out = subprocess.run([sys.executable, "-c", "import ag.buffers"], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "AG_BUFFER_REUSE must be 0 (off) or 1 (on), got 'off'" in out.stderr
    with pytest.raises(TypeError, match="True or False"):
        buffers.set_enabled(0)
