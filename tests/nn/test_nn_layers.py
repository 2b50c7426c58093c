"""ag.nn layers: gradchecks, BatchNorm/Dropout behaviour, init statistics, input errors."""

from __future__ import annotations

import numpy as np
import pytest

import ag
import ag.nn as nn
import ag.nn.functional as F
from ag.testing import gradcheck


def _x(*shape, seed=0):
    return ag.Tensor(np.random.default_rng(seed).standard_normal(shape), label="x")


def _check(module, *inputs):
    """gradcheck a module's output w.r.t. its inputs and all its parameters."""
    params = module.parameters()
    n = len(inputs)
    assert gradcheck(lambda *args: module(*args[:n]), *inputs, *params)


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: nn.Linear(3, 4), (5, 3)),
        (lambda: nn.Linear(3, 2, bias=False, init="xavier_normal"), (2, 4, 3)),
        (lambda: nn.ReLU(), (4, 3)),
        (lambda: nn.Tanh(), (4, 3)),
        (lambda: nn.Sigmoid(), (4, 3)),
        (lambda: nn.Flatten(), (2, 3, 2)),
        (lambda: nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)), (5, 3)),
        (lambda: nn.Residual(nn.Sequential(nn.Linear(3, 3), nn.Tanh())), (4, 3)),
        (lambda: nn.MLP(3, 6, 2, hidden_layers=2, activation="tanh"), (4, 3)),
        (lambda: nn.LayerNorm(3), (4, 3)),
        (lambda: nn.LayerNorm((2, 3)), (2, 2, 3)),
        (lambda: nn.BatchNorm1d(3), (6, 3)),
        (lambda: nn.BatchNorm1d(2), (4, 2, 3)),
        (lambda: nn.BatchNorm2d(2), (3, 2, 2, 2)),
    ],
)
def test_layer_gradients(make, shape):
    module = make()
    for p in module.parameters():  # move affine weights off 1/0 so they matter
        p.value = p.value + np.random.default_rng(1).uniform(-0.5, 0.5, p.shape)
    _check(module, _x(*shape))


def test_relu_away_from_the_kink():
    x = ag.Tensor(np.array([[-1.0, 0.5], [2.0, -0.3]]))
    assert gradcheck(lambda x: nn.ReLU()(x), x)


def test_dropout_gradient_with_a_fixed_mask():
    # a fresh generator with the same seed per call gives the same mask each time
    x = _x(4, 5)
    assert gradcheck(lambda x: F.dropout(x, 0.4, True, np.random.default_rng(3)), x)


def test_embedding_gradient_accumulates_repeated_rows():
    emb = nn.Embedding(5, 3)
    idx = np.array([[0, 1, 1], [4, 0, 1]])
    assert gradcheck(lambda w: emb(idx), emb.weight)
    emb.zero_grad()
    emb(idx).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad[:, 0], [2, 3, 0, 0, 1])  # row use counts


def test_embedding_rejects_bad_indices():
    emb = nn.Embedding(5, 3)
    with pytest.raises(IndexError, match="index 5 is out of range for 5 embeddings"):
        emb(np.array([1, 5]))
    with pytest.raises(TypeError, match="integers"):
        emb(np.array([0.5]))


def test_batchnorm_training_statistics_and_running_update():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(64, 3))
    bn = nn.BatchNorm1d(3, momentum=0.1)
    y = bn(x).value
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=0), 1.0 / (1.0 + 1e-5 / x.var(axis=0)), rtol=1e-9)
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(axis=0))
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * x.var(axis=0, ddof=1))
    bn(x)  # a second batch moves them again: 0.1 m + 0.9 * 0.1 m
    np.testing.assert_allclose(bn.running_mean, 0.19 * x.mean(axis=0))


def test_batchnorm_eval_uses_running_statistics_and_leaves_them():
    bn = nn.BatchNorm2d(2)
    bn.running_mean[:] = [1.0, -1.0]
    bn.running_var[:] = [4.0, 0.25]
    bn.weight.value[:] = [2.0, 1.0]
    bn.bias.value[:] = [0.0, 0.5]
    bn.eval()
    x = np.ones((2, 2, 2, 2))
    y = bn(x).value
    np.testing.assert_allclose(y[:, 0], 2.0 * (1 - 1) / np.sqrt(4 + 1e-5))
    np.testing.assert_allclose(y[:, 1], (1 + 1) / np.sqrt(0.25 + 1e-5) + 0.5)
    np.testing.assert_array_equal(bn.running_mean, [1.0, -1.0])  # unchanged in eval


@pytest.mark.torch
def test_batchnorm_matches_torch_in_train_and_eval():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((8, 3, 4))
    ours, theirs = nn.BatchNorm1d(3, momentum=0.2), torch.nn.BatchNorm1d(3, momentum=0.2).double()
    for _ in range(2):
        np.testing.assert_allclose(ours(x).value, theirs(torch.tensor(x)).detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), atol=1e-12)
    ours.eval(), theirs.eval()
    np.testing.assert_allclose(ours(x).value, theirs(torch.tensor(x)).detach().numpy(), atol=1e-10)


def test_dropout_train_and_eval():
    nn.init.manual_seed(0)
    drop = nn.Dropout(0.25)
    x = np.ones((200, 100))
    y = drop(x).value
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(y[kept], 1.0 / 0.75)  # survivors are scaled up
    drop.eval()
    np.testing.assert_array_equal(drop(x).value, x)  # identity in eval mode


def test_dropout_rejects_p_one():
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        nn.Dropout(1.0)


@pytest.mark.parametrize(
    "fn, kwargs, expected_std",
    [
        (nn.init.kaiming_normal, {}, np.sqrt(2.0 / 400)),
        (nn.init.kaiming_normal, {"mode": "fan_out"}, np.sqrt(2.0 / 300)),
        (nn.init.kaiming_uniform, {"nonlinearity": "linear"}, np.sqrt(1.0 / 400)),
        (nn.init.xavier_normal, {}, np.sqrt(2.0 / 700)),
        (nn.init.xavier_uniform, {}, np.sqrt(2.0 / 700)),
    ],
)
def test_init_scale(fn, kwargs, expected_std):
    w = fn((400, 300), rng=np.random.default_rng(0), **kwargs)
    assert abs(w.mean()) < 0.05 * expected_std * 10
    assert w.std() == pytest.approx(expected_std, rel=0.02)


def test_uniform_init_bounds_and_conv_fans():
    w = nn.init.kaiming_uniform((50, 8), rng=np.random.default_rng(0))
    bound = np.sqrt(2.0) * np.sqrt(3.0 / 50)
    assert w.max() <= bound and w.min() >= -bound and w.max() > 0.9 * bound
    assert nn.init.fans((16, 3, 5, 5)) == (75, 400)  # (C_out, C_in, K, K)
    assert nn.init.fans((64, 10)) == (64, 10)  # X @ W: (in, out)
    t = ag.Tensor(np.zeros((20, 10), dtype=np.float32))
    nn.init.xavier_uniform_(t, rng=np.random.default_rng(0))
    assert t.dtype == np.float32 and np.abs(t.value).max() <= np.sqrt(6.0 / 30)


@pytest.mark.parametrize(
    "module, x, message",
    [
        (
            nn.Linear(4, 3),
            np.zeros((2, 5)),
            r"Linear\(in_features=4, out_features=3, bias=True\) expects input "
            r"of shape \(\.\.\., 4\), got \(2, 5\)",
        ),
        (nn.Linear(4, 3), np.float64(1.0), r"Linear.*expects input of shape \(\.\.\., 4\), got \(\)"),
        (nn.LayerNorm(4), np.zeros((2, 3)), r"LayerNorm.*expects input of shape \(\.\.\., 4\), got \(2, 3\)"),
        (nn.BatchNorm1d(4), np.zeros((2, 3)), r"BatchNorm1d.*expects input of shape \(N, 4\) or \(N, 4, L\)"),
        (
            nn.BatchNorm2d(3),
            np.zeros((2, 3, 4)),
            r"BatchNorm2d.*expects input of shape \(N, 3, H, W\), got \(2, 3, 4\)",
        ),
        (nn.Flatten(), np.zeros(3), r"Flatten.*rank > 1"),
    ],
)
def test_wrong_input_shapes_name_the_module_and_the_expected_shape(module, x, message):
    with pytest.raises(ValueError, match=message):
        module(x)


def test_residual_needs_matching_shapes():
    with pytest.raises(ValueError, match=r"Residual: the wrapped Linear maps \(2, 3\) to \(2, 4\)"):
        nn.Residual(nn.Linear(3, 4))(np.zeros((2, 3)))


def test_sequential_indexing_and_float32_stays_float32():
    net = nn.Sequential(nn.Linear(3, 4, dtype=np.float32), nn.ReLU(), nn.Linear(4, 2, dtype=np.float32))
    assert isinstance(net[0], nn.Linear) and len(net) == 3 and len(net[1:]) == 2
    assert net(np.ones((2, 3), dtype=np.float32)).dtype == np.float32
    assert net(np.ones((2, 3), dtype=np.int64)).dtype == np.float32  # int data becomes the weights' dtype
