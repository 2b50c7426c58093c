"""Attention layers: the course's code, gradients, causality, torch agreement."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ag
import ag.nn as nn
from ag.testing import gradcheck


def course_attention(Xin, Wq, Wk, Wv):
    """The slides' SingleHeadAttention.__call__, verbatim (unstabilised softmax)."""
    Queries = Xin @ Wq
    Keys = Xin @ Wk
    KQ = Keys @ ag.moveaxis(Queries, 1, 2)
    expKQ = ag.exp(KQ)
    softmaxKQ = expKQ / ag.sum(expKQ, axis=1, keepdims=True)
    P = ag.moveaxis(Xin, 1, 2) @ softmaxKQ
    Xout = ag.moveaxis(P, 1, 2) @ Wv
    return Xout


def _x(*shape, seed=0):
    return ag.Tensor(np.random.default_rng(seed).standard_normal(shape), label="X")


def test_single_head_attention_is_the_course_code():
    att = nn.SingleHeadAttention(4, init="course", rng=np.random.default_rng(0))
    X = _x(2, 3, 4, seed=1)
    X2 = ag.Tensor(X.value.copy())
    Wq, Wk, Wv = (ag.Tensor(w.value.copy()) for w in (att.Wq, att.Wk, att.Wv))
    ours, theirs = att(X), course_attention(X2, Wq, Wk, Wv)
    np.testing.assert_allclose(ours.value, theirs.value, rtol=1e-10)
    seed = np.random.default_rng(2).standard_normal(ours.shape)
    ours.backward(seed)
    theirs.backward(seed)
    for a, b in [(X, X2), (att.Wq, Wq), (att.Wk, Wk), (att.Wv, Wv)]:
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("causal", [False, True])
def test_single_head_attention_gradients(causal):
    att = nn.SingleHeadAttention(4, causal=causal, rng=np.random.default_rng(0))
    assert gradcheck(lambda X, *p: att(X), _x(2, 3, 4), *att.parameters())


@pytest.mark.parametrize("causal", [False, True])
def test_multi_head_attention_gradients(causal):
    att = nn.MultiHeadAttention(6, 2, causal=causal, bias=True, rng=np.random.default_rng(0))
    assert gradcheck(lambda X, *p: att(X), _x(2, 4, 6), *att.parameters())


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # the course's MLP(attention(X))
        {"residual": True},
        {"n_heads": 2, "causal": True, "residual": True, "norm": "pre"},
        {"n_heads": 3, "residual": True, "norm": "post"},
    ],
)
def test_transformer_block_gradients(kwargs):
    block = nn.TransformerBlock(6, 8, rng=np.random.default_rng(0), **kwargs)
    assert gradcheck(lambda X, *p: block(X), _x(2, 3, 6), *block.parameters())


def test_course_transformer_block_is_mlp_of_attention():
    block = nn.TransformerBlock(4, 5, rng=np.random.default_rng(0))
    X = _x(2, 3, 4)
    np.testing.assert_allclose(block(X).value, block.mlp(block.att(X)).value)
    mlp = block.mlp  # relu(X @ Wh + bh) @ Wo + bo, as on the slides
    A = block.att(X).value
    hidden = np.maximum(A @ mlp.layers[0].weight.value + mlp.layers[0].bias.value, 0)
    np.testing.assert_allclose(block(X).value, hidden @ mlp.layers[2].weight.value + mlp.layers[2].bias.value)


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.SingleHeadAttention(4, causal=True),
        lambda: nn.MultiHeadAttention(4, 2, causal=True),
        lambda: nn.TransformerBlock(4, 8, n_heads=2, causal=True, residual=True, norm="pre"),
    ],
)
def test_causal_outputs_do_not_see_the_future(make):
    layer = make()
    X = np.random.default_rng(0).standard_normal((2, 5, 4))
    changed = X.copy()
    changed[:, 3:] += 10.0  # change positions 3 and 4 only
    a, b = layer(X).value, layer(changed).value
    np.testing.assert_allclose(a[:, :3], b[:, :3], atol=1e-12)
    assert not np.allclose(a[:, 3:], b[:, 3:])


def test_non_causal_attention_does_see_the_future():
    layer = nn.MultiHeadAttention(4, 2)
    X = np.random.default_rng(0).standard_normal((1, 5, 4))
    changed = X.copy()
    changed[:, 4] += 10.0
    assert not np.allclose(layer(X).value[:, 0], layer(changed).value[:, 0])


@pytest.mark.torch
def test_multi_head_attention_matches_torch():
    torch = pytest.importorskip("torch")
    att = nn.MultiHeadAttention(8, 2, causal=True, rng=np.random.default_rng(0))
    X = np.random.default_rng(1).standard_normal((3, 5, 8))
    n, t, f, h = 3, 5, 8, 2
    Xt = torch.tensor(X)

    def heads(W):
        return (Xt @ torch.tensor(W.value)).reshape(n, t, h, f // h).transpose(1, 2)

    out = torch.nn.functional.scaled_dot_product_attention(
        heads(att.Wq), heads(att.Wk), heads(att.Wv), is_causal=True
    )
    expected = out.transpose(1, 2).reshape(n, t, f) @ torch.tensor(att.Wo.value)
    np.testing.assert_allclose(att(X).value, expected.numpy(), atol=1e-12)
    weights = att.last_attention
    assert weights.shape == (3, 2, 5, 5)
    np.testing.assert_allclose(weights.sum(-1), 1.0)
    assert np.all(weights[..., 0, 1:] < 1e-12)  # the first query sees only itself


def test_attention_scaling_in_multi_head_but_not_in_the_course_layer():
    # with identity weights the course layer's scores are X X^T, unscaled
    att = nn.SingleHeadAttention(2)
    for w in (att.Wq, att.Wk, att.Wv):
        w.value[...] = np.eye(2)
    X = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    p = math.e / (math.e + 1)  # softmax over keys of [1, 0]
    np.testing.assert_allclose(att(X).value, [[[p, 1 - p], [1 - p, p]]])


def test_attention_input_errors():
    with pytest.raises(
        ValueError,
        match=r"SingleHeadAttention\(n_features=4.*expects input of shape "
        r"\(n_samples, n_context, 4\), got \(3, 4\)",
    ):
        nn.SingleHeadAttention(4)(np.zeros((3, 4)))
    with pytest.raises(
        ValueError, match=r"MultiHeadAttention.*expects input of shape \(N, T, 4\), got \(1, 2, 5\)"
    ):
        nn.MultiHeadAttention(4, 2)(np.zeros((1, 2, 5)))
    with pytest.raises(ValueError, match="not divisible"):
        nn.MultiHeadAttention(5, 2)
    with pytest.raises(ValueError, match="norm"):
        nn.TransformerBlock(4, 8, norm="middle")
