"""ag.checkpoint / ag.checkpoint_sequential: same gradients, less memory, replayed randomness."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import ag
from ag import remat
from ag.testing import gradcheck, gradgradcheck

nn = pytest.importorskip("ag.nn")

WIDTH, BATCH = 8, 5


def _chain(n_layers: int, width: int = WIDTH, dropout: float = 0.0, seed: int = 0) -> list:
    nn.init.manual_seed(seed)
    layers: list = []
    for _ in range(n_layers):
        layers += [nn.Linear(width, width), nn.Tanh()]
        if dropout:
            layers.append(nn.Dropout(dropout))
    return layers


def _params(layers: list) -> list:
    return [p for layer in layers for p in layer.parameters()]


def _input(width: int = WIDTH, seed: int = 1) -> ag.Tensor:
    return ag.tensor(np.random.default_rng(seed).standard_normal((BATCH, width)), label="x")


def _apply(layers: list, x: ag.Tensor) -> ag.Tensor:
    for layer in layers:
        x = layer(x)
    return x


def _grads(layers: list, x: ag.Tensor, forward, seed: int = 7) -> list[np.ndarray]:
    """Seed the shared generator, run forward + backward, return [x.grad, *param grads]."""
    for t in [x, *_params(layers)]:
        t.grad = None
    nn.init.manual_seed(seed)
    loss = (forward(layers, x) ** 2).sum()
    loss.backward()
    return [x.grad.copy()] + [p.grad.copy() for p in _params(layers)]


def _assert_same(a: list, b: list, tol: float = 0.0) -> None:
    assert len(a) == len(b)
    for u, v in zip(a, b):
        if tol == 0.0:
            np.testing.assert_array_equal(u, v)
        else:
            np.testing.assert_allclose(u, v, rtol=0, atol=tol)


PLAIN = _apply


def WHOLE(layers, x):
    return ag.checkpoint(lambda h: _apply(layers, h), x)


def SEQ(layers, x):
    return ag.checkpoint_sequential(layers, 3, x)


# -- gradients equal the plain run's -------------------------------------------------------------


@pytest.mark.parametrize("forward", [WHOLE, SEQ], ids=["checkpoint", "checkpoint_sequential"])
def test_gradients_equal_plain_with_dropout(forward):
    layers = _chain(6, dropout=0.3)
    x = _input()
    plain = _grads(layers, x, PLAIN)
    other_masks = _grads(layers, x, PLAIN, seed=8)
    assert not np.array_equal(plain[0], other_masks[0]), "the gradients must depend on the masks"
    _assert_same(_grads(layers, x, forward), plain, tol=1e-12)


def test_gradients_bit_identical_without_dropout():
    layers = _chain(5)
    x = _input()
    plain = _grads(layers, x, PLAIN)
    _assert_same(_grads(layers, x, WHOLE), plain)
    _assert_same(_grads(layers, x, SEQ), plain)


def test_without_rng_replay_dropout_masks_differ():
    # The negative control: the equality above depends on the replay.
    layers = _chain(4, dropout=0.5)
    x = _input()
    plain = _grads(layers, x, PLAIN)
    unreplayed = _grads(layers, x, lambda ls, h: ag.checkpoint_sequential(ls, 2, h, preserve_rng_state=False))
    assert any(not np.array_equal(u, v) for u, v in zip(plain, unreplayed))


def test_dropout_with_its_own_generator_is_replayed():
    nn.init.manual_seed(0)
    layers = [nn.Linear(WIDTH, WIDTH), nn.Dropout(0.5, rng=np.random.default_rng(3)), nn.Linear(WIDTH, WIDTH)]
    x = _input()
    ref_rng_state = layers[1].rng.bit_generator.state
    plain = _grads(layers, x, PLAIN)
    layers[1].rng.bit_generator.state = ref_rng_state
    _assert_same(_grads(layers, x, SEQ), plain)


def test_numpy_global_random_state_is_replayed():
    W = ag.tensor(np.random.default_rng(0).standard_normal((WIDTH, WIDTH)), label="W")
    x = _input()

    def block(h):  # a hand-written dropout on np.random's legacy global state
        keep = (np.random.rand(*h.shape) > 0.5).astype(float)
        return ag.tanh(h @ W) * keep

    def grads(f):
        W.grad = x.grad = None
        np.random.seed(11)
        (f(x) ** 2).sum().backward()
        return [x.grad.copy(), W.grad.copy()]

    _assert_same(grads(lambda h: ag.checkpoint(block, h)), grads(block))


def test_recompute_does_not_shift_later_random_draws():
    layers = _chain(3, dropout=0.5)
    x = _input()
    nn.init.manual_seed(5)
    (_apply(layers, x) ** 2).sum().backward()
    after_plain = nn.init.default_rng().random(4)
    nn.init.manual_seed(5)
    (SEQ(layers, x) ** 2).sum().backward()
    np.testing.assert_array_equal(nn.init.default_rng().random(4), after_plain)


def test_batchnorm_running_stats_updated_once():
    def net():
        nn.init.manual_seed(0)
        return [nn.Linear(WIDTH, WIDTH), nn.BatchNorm1d(WIDTH), nn.Tanh()]

    x = _input()
    plain, ckpt = net(), net()
    (_apply(plain, x) ** 2).sum().backward()
    (ag.checkpoint_sequential(ckpt, 1, x) ** 2).sum().backward()
    np.testing.assert_array_equal(ckpt[1].running_mean, plain[1].running_mean)
    np.testing.assert_array_equal(ckpt[1].running_var, plain[1].running_var)


# -- one node, recomputed once per backward --------------------------------------------------------


def test_one_node_per_segment_and_recompute_counts():
    layers = _chain(6)  # 6 x (Linear: matmul + add, Tanh) = 18 op nodes
    x = _input()
    y = ag.checkpoint_sequential(layers, 3, x)
    interior = [n for n in ag.topological_sort(y) if n.inputs]
    assert [n.op for n in interior] == ["checkpoint"] * 3
    remat.stats.reset()
    y.sum().backward()
    assert remat.stats.recomputations == 3
    assert remat.stats.recomputed_nodes == 18


def test_segment_bounds_cover_the_chain():
    assert remat.segment_bounds(64, 8) == [(k, k + 8) for k in range(0, 64, 8)]
    assert remat.segment_bounds(3, 5) == [(0, 1), (1, 2), (2, 3)]
    with pytest.raises(ValueError, match="segments"):
        remat.segment_bounds(4, 0)


def test_backward_twice_accumulates_like_plain():
    layers = _chain(3)
    x = _input()
    for forward in (PLAIN, SEQ):
        for t in [x, *_params(layers)]:
            t.grad = None
        loss = (forward(layers, x) ** 2).sum()
        loss.backward()
        loss.backward()
        if forward is PLAIN:
            plain = [x.grad.copy()] + [p.grad.copy() for p in _params(layers)]
    _assert_same([x.grad] + [p.grad for p in _params(layers)], plain)


def test_ag_grad_through_checkpoint_leaves_grads_untouched():
    layers = _chain(3)
    x = _input()
    w = layers[0].weight
    w.grad = None
    (g_plain,) = ag.grad((_apply(layers, x) ** 2).sum(), [w])
    (g_ckpt,) = ag.grad((SEQ(layers, x) ** 2).sum(), [w])
    np.testing.assert_array_equal(g_ckpt.value, g_plain.value)
    assert w.grad is None


# -- memory is actually freed ------------------------------------------------------------------------


def _activation_bytes_after_forward(n_layers: int, segments: int | None) -> tuple[int, int]:
    layers = _chain(n_layers, width=32)
    x = _input(32)
    gc.collect()
    before = remat.live_tensor_bytes()
    y = _apply(layers, x) if segments is None else ag.checkpoint_sequential(layers, segments, x)
    held = remat.live_tensor_bytes() - before
    act = y.value.nbytes
    del y
    return held, act


def test_live_values_after_forward_are_o_of_segments_not_layers():
    plain16, act = _activation_bytes_after_forward(16, None)
    plain32, _ = _activation_bytes_after_forward(32, None)
    seg16, _ = _activation_bytes_after_forward(16, 4)
    seg32, _ = _activation_bytes_after_forward(32, 4)
    # plain: matmul, add and tanh outputs of every layer stay alive: 3N activations
    assert plain16 == 3 * 16 * act and plain32 == 3 * 32 * act
    # checkpointed: one output per segment, whatever the depth
    assert seg16 == seg32 == 4 * act


def test_live_tensor_bytes_counts_each_buffer_once():
    x = ag.tensor(np.ones((10, 10)))
    gc.collect()
    before = remat.live_tensor_bytes()
    y = x * 2.0
    z = y.reshape(100)  # a view of y's buffer: no new memory
    assert remat.live_tensor_bytes() - before == 800
    assert remat.live_tensor_bytes(leaves=True) - remat.live_tensor_bytes() >= 800  # x itself
    del y, z


def test_peak_during_backward_is_lower_with_segments():
    layers = _chain(12, width=32)
    x = _input(32)
    peaks = {}
    for name, forward in {"plain": PLAIN, "seq": lambda ls, h: ag.checkpoint_sequential(ls, 4, h)}.items():
        gc.collect()
        base = remat.live_tensor_bytes()
        with remat.MemoryMeter() as meter:
            loss = (forward(layers, x) ** 2).sum()
            meter.sample()
            loss.backward()
        peaks[name] = meter.peak - base
        del loss
    assert meter.samples > 4  # it sampled inside the backward loop and the recomputes
    # plain: 36 activations (+ grads); segments: 4 checkpoints + one rebuilt segment of 9
    assert peaks["seq"] <= 0.5 * peaks["plain"]


# -- double backward ----------------------------------------------------------------------------------


def test_hvp_through_checkpoint_equals_plain():
    W = ag.tensor(np.random.default_rng(2).standard_normal((4, 4)), label="W")

    def f(t):
        return (ag.tanh(t @ W) ** 3).sum()

    x = ag.tensor([[0.3, -0.7, 1.2, 0.1]])
    v = ag.tensor([[1.0, 2.0, -1.0, 0.5]])
    np.testing.assert_allclose(
        ag.hvp(lambda t: ag.checkpoint(f, t), x, v).value, ag.hvp(f, x, v).value, rtol=0, atol=1e-12
    )


def test_gradgradcheck_through_checkpoint():
    W = ag.tensor(np.random.default_rng(3).standard_normal((3, 3)), label="W")
    x = ag.tensor(np.random.default_rng(4).standard_normal((2, 3)), label="x")
    assert gradgradcheck(lambda a, w: ag.checkpoint(lambda h, m: ag.tanh(h @ m), a, w).sum(), x, W)


def test_create_graph_grad_is_a_function_of_the_inputs():
    x = ag.tensor([0.5, -1.0])
    (g,) = ag.grad(ag.checkpoint(lambda t: (t**3).sum(), x), [x], create_graph=True)
    np.testing.assert_allclose(g.value, 3 * x.value**2)
    (h,) = ag.grad(g.sum(), [x])
    np.testing.assert_allclose(h.value, 6 * x.value)


# -- nesting, non-grad inputs, pass-through args, finite differences -----------------------------------


def test_nested_checkpoints():
    layers = _chain(4, dropout=0.25)
    x = _input()

    def nested(ls, h):
        inner = lambda u: ag.checkpoint(lambda v: _apply(ls[:4], v), u)  # noqa: E731
        return ag.checkpoint(lambda u: _apply(ls[4:], inner(u)), h)

    plain = _grads(layers, x, PLAIN)
    remat.stats.reset()
    _assert_same(_grads(layers, x, nested), plain, tol=1e-12)
    assert remat.stats.recomputations == 2  # the outer segment, then the inner one inside it


def test_inputs_that_need_no_grad_and_non_tensor_args():
    a = ag.tensor([1.0, 2.0, 3.0], label="a")
    c = ag.tensor([0.5, 0.5, 2.0], requires_grad=False, label="c")

    def f(u, v, power, mode):
        assert mode == "sum"
        return (u**power * v).sum()

    y = ag.checkpoint(f, a, c, 3, "sum")
    assert [t.label for t in y.inputs] == ["a", "c"]
    y.backward()
    np.testing.assert_array_equal(a.grad, 3 * a.value**2 * c.value)
    assert c.grad is None


def test_constant_function_gives_no_node_and_no_grad_mode_runs_plainly():
    c = ag.tensor([1.0, 2.0], requires_grad=False)
    y = ag.checkpoint(lambda t: t * 2.0, c)
    # no checkpoint node: the plain op on data (it keeps its inputs, for the drawing, and no rule)
    assert not y.requires_grad and y.op == "mul" and y.inputs[0] is c and y._rules is None
    x = ag.tensor([1.0, 2.0])
    with ag.no_grad():
        z = ag.checkpoint(lambda t: t * 2.0, x)
    assert not z.requires_grad and z.op == "mul"


def test_gradcheck_of_checkpointed_function():
    rng = np.random.default_rng(5)
    W1 = ag.tensor(rng.standard_normal((3, 4)), label="W1")
    W2 = ag.tensor(rng.standard_normal((4, 2)), label="W2")
    x = ag.tensor(rng.standard_normal((2, 3)), label="x")

    def block(h, a, b):
        return ag.sigmoid(ag.tanh(h @ a) @ b)

    assert gradcheck(lambda h, a, b: ag.checkpoint(block, h, a, b), x, W1, W2)


def test_params_given_explicitly_run_without_recording():
    W = ag.tensor(np.eye(2) * 3.0, label="W")
    x = ag.tensor([[1.0, 2.0]], label="x")
    y = ag.checkpoint(lambda h: (h @ W).sum(), x, params=(p for p in [W]))  # any iterable
    assert [t.label for t in y.inputs] == ["x", "W"]
    y.backward()
    np.testing.assert_array_equal(W.grad, [[1.0, 1.0], [2.0, 2.0]])
    np.testing.assert_array_equal(x.grad, [[3.0, 3.0]])


def test_closed_over_weights_are_found():
    W = ag.tensor(np.eye(3) * 2.0, label="W")
    x = ag.tensor([[1.0, -1.0, 0.5]], label="x")
    y = ag.checkpoint(lambda h: ag.relu(h @ W), x)
    assert [t.label for t in y.inputs] == ["x", "W"]
    y.sum().backward()
    np.testing.assert_array_equal(W.grad, np.outer(x.value, [1.0, 0.0, 1.0]))


# -- errors --------------------------------------------------------------------------------------------


def test_a_weight_missing_from_params_is_a_clear_error_and_grads_are_restored():
    W = ag.tensor(np.eye(2), label="W")
    x = ag.tensor([[1.0, 2.0]], label="x")
    y = ag.checkpoint(lambda h: h @ W, x, params=[])
    x.grad = np.array([[5.0, 5.0]])
    with pytest.raises(RuntimeError, match=r"checkpoint\(<lambda>\).*'W' \(2, 2\).*params="):
        y.sum().backward()
    assert W.grad is None
    np.testing.assert_array_equal(x.grad, [[5.0, 5.0]])


def test_fn_must_return_a_tensor():
    x = ag.tensor([1.0])
    with pytest.raises(TypeError, match=r"checkpoint\(<lambda>\): fn must return one ag.Tensor, got tuple"):
        ag.checkpoint(lambda t: (t, t), x)
    with pytest.raises(TypeError, match="callable"):
        ag.checkpoint(x, x)


# -- the demo ---------------------------------------------------------------------------------------------


def test_ag_remat_command_prints_the_three_settings(capsys):
    from ag.cli import main

    args = ["remat", "--layers", "4", "--width", "8", "--batch", "2", "--repeats", "1", "--no-plot"]
    assert main(args) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "setting" not in line]
    assert [r.split("|")[1].strip() for r in rows] == [
        "no checkpoints", "every 4th layer", "sqrt(N) = 2 segments"]
    assert [int(r.split("|")[-2]) for r in rows] == [0, 12, 12]  # rebuilt nodes: 3 per layer


def test_demo_drawing_marks_the_segment_outputs_as_kept():
    import re
    import runpy
    from pathlib import Path

    demo = runpy.run_path(str(Path(__file__).resolve().parents[2] / "exercises" / "remat_demo.py"))
    source = demo["draw_chain"](9, 3).source
    kept = [int(n) for n in re.findall(r"\bh(\d+) \[label=<[^\n]*relu: kept", source)]
    freed = [int(n) for n in re.findall(r"\bh(\d+) \[label=<[^\n]*relu: freed", source)]
    assert kept == [3, 6, 9]  # read off the checkpoint nodes' values, not assumed
    assert freed == [1, 2, 4, 5, 7, 8]
