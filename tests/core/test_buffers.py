"""ag.buffers hands an array out again only when nothing refers to it, so reusing
buffers across training steps never aliases one step's values or grads with the next's."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import ag
import ag.nn.functional as F
from ag import buffers

F64 = np.dtype(np.float64)
BIG = (512, 128)  # 512 KiB of float64: above MIN_BYTES


@pytest.fixture(autouse=True)
def _fresh_pool():
    buffers.clear()
    yield
    buffers.clear()


def test_small_arrays_are_not_kept():
    before = buffers.kept_bytes()
    buffers.empty((4, 4), F64)
    assert buffers.kept_bytes() == before


def test_an_array_in_use_is_never_handed_out():
    a = buffers.empty(BIG, F64)
    view = a[::2]
    del a
    b = buffers.empty(BIG, F64)  # the first is still referenced through its view
    assert not np.shares_memory(b, view)
    del view
    gc.collect()
    c = buffers.empty(BIG, F64)
    assert c.shape == BIG and c.dtype == F64


def test_each_shape_and_dtype_has_its_own_arrays():
    a = buffers.empty(BIG, F64)
    b = buffers.empty(BIG, np.dtype(np.float32))
    c = buffers.empty((128, 512), F64)
    assert len({a.ctypes.data, b.ctypes.data, c.ctypes.data}) == 3


def test_kept_bytes_stay_within_the_caps():
    held = [buffers.empty(BIG, F64) for _ in range(buffers.PER_SHAPE + 3)]
    assert buffers.kept_bytes() == buffers.PER_SHAPE * BIG[0] * BIG[1] * 8
    del held


def test_conv_steps_do_not_alias_across_steps():
    # two steps on different data: the first step's outputs and grads, kept by the
    # caller, must not change when the second step reuses buffers
    rng = np.random.default_rng(0)
    w = ag.tensor(rng.standard_normal((27, 16)))
    outs = []
    for _ in range(3):
        x = ag.tensor(rng.standard_normal((32, 3, 32, 32)))
        y = F.conv2d(x, w)
        G = rng.standard_normal(y.shape)
        w.grad = None
        y.backward(G)
        outs.append((x, y, G, y.value.copy(), x.grad.copy(), w.grad))
    for x, y, G, y_then, gx_then, gw in outs:
        np.testing.assert_array_equal(y.value, y_then)
        np.testing.assert_array_equal(x.grad, gx_then)
        # against the loop-free reference: the strided path builds its own arrays
        xs, ws = ag.tensor(x.value), ag.tensor(w.value)
        F.conv2d(xs, ws, method="strided").backward(G)
        np.testing.assert_allclose(gx_then, xs.grad, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(gw, ws.grad, rtol=1e-10, atol=1e-10)


def test_attention_steps_do_not_alias_across_steps():
    rng = np.random.default_rng(1)
    Wq, Wk, Wv = (ag.tensor(rng.standard_normal((64, 64)) * 0.1) for _ in range(3))

    def step(X):
        Q, K = X @ Wq, X @ Wk
        S = ag.softmax(K @ ag.moveaxis(Q, 1, 2), axis=1)
        return ag.moveaxis(ag.moveaxis(X, 1, 2) @ S, 1, 2) @ Wv

    kept = []
    for _ in range(3):
        X = ag.tensor(rng.standard_normal((32, 64, 64)), requires_grad=False)
        out = step(X)
        for p in (Wq, Wk, Wv):
            p.grad = None
        (out * out).sum().backward()
        kept.append((X, out, out.value.copy(), [p.grad for p in (Wq, Wk, Wv)],
                     [p.grad.copy() for p in (Wq, Wk, Wv)]))
    for _X, out, value_then, grads, grads_then in kept:
        np.testing.assert_array_equal(out.value, value_then)
        for g, g_then in zip(grads, grads_then):
            np.testing.assert_array_equal(g, g_then)
    # and the last step's grads are right: against NumPy's plain batched products
    X = kept[-1][0].value
    q, k, v = (p.value for p in (Wq, Wk, Wv))
    Q, K = X @ q, X @ k
    A = K @ Q.transpose(0, 2, 1)
    E = np.exp(A - A.max(axis=1, keepdims=True))
    S = E / E.sum(axis=1, keepdims=True)
    P = X.transpose(0, 2, 1) @ S
    att = P.transpose(0, 2, 1)
    out = att @ v
    dWv = np.einsum("ntf,ntg->fg", att, 2 * out)
    np.testing.assert_allclose(kept[-1][4][2], dWv, rtol=1e-10, atol=1e-10)
