"""The ops whose kernels run split over threads (ag.parallel) give the same values and
gradients split as unsplit, in every operand layout, and their gradients match central
finite differences in float64.

The kit only splits big jobs; here every threshold is set to 0 and three threads are
used (whatever the machine has), so that the small arrays of a test are split too, into
uneven ranges.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import ag
import ag.nn.functional as F
from ag import parallel
from ag.nn.conv_functional import conv2d
from ag.nn.im2col import conv2d_naive, conv2d_naive_grad
from ag.ops import linalg
from ag.testing import gradcheck

rng = np.random.default_rng(11)


@pytest.fixture
def split_everything(monkeypatch):
    before = parallel.get_num_threads()
    parallel.set_num_threads(3)
    monkeypatch.setattr(parallel, "MIN_WORK", 0)
    monkeypatch.setattr(parallel, "HEAD_START", 1)
    monkeypatch.setattr(linalg, "SPLIT_PRODUCTS_FROM", 0)
    yield
    parallel.set_num_threads(before)


def _unsplit(f):
    """f() computed with one thread (the reference for the split run)."""
    before = parallel.get_num_threads()
    parallel.set_num_threads(1)
    try:
        return f()
    finally:
        parallel.set_num_threads(before)


def _layouts(shape):
    base = rng.standard_normal(shape)
    return {
        "C": base,
        "transposed": np.ascontiguousarray(base.swapaxes(-1, -2)).swapaxes(-1, -2),
        "fortran": np.asfortranarray(base),
        "strided": np.repeat(base, 2, axis=-1)[..., ::2],
    }


def _values_and_grads(f, *arrays):
    tensors = [ag.tensor(a) for a in arrays]
    out = f(*tensors)
    seed = np.linspace(-1.0, 1.0, out.size).reshape(out.shape)
    out.backward(seed)
    return [out.value] + [t.grad for t in tensors]


def _check_split_equals_unsplit(f, *arrays):
    split = _values_and_grads(f, *arrays)
    plain = _unsplit(lambda: _values_and_grads(f, *arrays))
    for got, want in zip(split, plain):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layout", ["C", "transposed", "fortran", "strided"])
def test_stack_times_matrix(split_everything, layout):
    a = _layouts((5, 4, 3))[layout]
    w = rng.standard_normal((3, 6))
    _check_split_equals_unsplit(lambda a, w: a @ w, a, w)
    gradcheck(lambda a, w: a @ w, ag.tensor(a), ag.tensor(w))


@pytest.mark.parametrize("layout", ["C", "transposed", "fortran"])
def test_stack_times_stack(split_everything, layout):
    a = _layouts((6, 3, 4))[layout]
    b = _layouts((6, 4, 2))[layout]
    _check_split_equals_unsplit(lambda a, b: a @ b, a, b)
    gradcheck(lambda a, b: a @ b, ag.tensor(a), ag.tensor(b))


def test_four_dimensional_stacks(split_everything):
    a, b = rng.standard_normal((3, 2, 4, 5)), rng.standard_normal((3, 2, 5, 2))
    _check_split_equals_unsplit(lambda a, b: a @ b, a, b)
    gradcheck(lambda a, b: a @ b, ag.tensor(a), ag.tensor(b))


@pytest.mark.parametrize("downstream", ["moveaxis", "plain", "swapaxes_scaled"])
def test_shared_weight_gradient_for_each_upstream_layout(split_everything, downstream):
    # moveaxis hands the matmul a transposed view as its gradient (the course's conv)
    def f(a, w):
        y = a @ w
        if downstream == "moveaxis":
            return ag.moveaxis(y, 1, 2).reshape(7, 15)
        if downstream == "swapaxes_scaled":
            return y.swapaxes(1, 2) * 3.0
        return y

    a, w = rng.standard_normal((7, 5, 4)), rng.standard_normal((4, 3))
    _check_split_equals_unsplit(f, a, w)
    gradcheck(f, ag.tensor(a), ag.tensor(w))


def test_attention_block(split_everything):
    X = rng.standard_normal((4, 6, 5))

    def block(Wq, Wk, Wv):
        Xt = ag.tensor(X, requires_grad=False)
        Q, K = Xt @ Wq, Xt @ Wk
        S = ag.softmax(K @ ag.moveaxis(Q, 1, 2), axis=1)
        return ag.moveaxis(ag.moveaxis(Xt, 1, 2) @ S, 1, 2) @ Wv

    ws = [rng.standard_normal((5, 5)) * 0.5 for _ in range(3)]
    _check_split_equals_unsplit(block, *ws)
    gradcheck(block, *(ag.tensor(w) for w in ws))


def test_sparse_products_selection_and_general(split_everything):
    selection = sp.csr_matrix((np.ones(6), ([0, 2, 1, 3, 3, 0], [0, 1, 2, 3, 4, 5])), shape=(4, 6))
    general = sp.random(4, 6, density=0.6, random_state=3, format="csr")
    x = rng.standard_normal((5, 4))
    for matrix in (selection, general):
        f = lambda x, m=matrix: ag.spcmatmul(x, m)  # noqa: E731
        _check_split_equals_unsplit(f, x)
        gradcheck(f, ag.tensor(x))
        np.testing.assert_allclose(f(ag.tensor(x)).value, x @ matrix.toarray(), rtol=1e-12)


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (1, 2)])
def test_conv2d_against_the_loops(split_everything, stride, padding):
    x = rng.standard_normal((5, 2, 6, 7))
    w = rng.standard_normal((2 * 3 * 3, 4))
    xt, wt = ag.tensor(x), ag.tensor(w)
    y = conv2d(xt, wt, stride=stride, padding=padding)
    np.testing.assert_allclose(y.value, conv2d_naive(x, w, None, stride, padding), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    np.testing.assert_allclose(xt.grad, conv2d_naive_grad(g, x, w, stride, padding, want="x"),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(wt.grad, conv2d_naive_grad(g, x, w, stride, padding, want="w"),
                               rtol=1e-12, atol=1e-12)


def test_conv2d_float32_split_equals_unsplit(split_everything):
    x = rng.standard_normal((6, 3, 8, 8)).astype(np.float32)
    w = (rng.standard_normal((27, 5)) * 0.3).astype(np.float32)
    split = _values_and_grads(lambda x, w: F.conv2d(x, w), x, w)
    plain = _unsplit(lambda: _values_and_grads(lambda x, w: F.conv2d(x, w), x, w))
    for got, want in zip(split, plain):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_second_order_through_split_products(split_everything):
    a, w = ag.tensor(rng.standard_normal((4, 3, 5))), ag.tensor(rng.standard_normal((5, 2)))

    def grad_norm(a, w):
        (gw,) = ag.grad(((a @ w) ** 2).sum(), [w], create_graph=True)
        return (gw * gw).sum()

    gradcheck(grad_norm, a, w)


def test_a_failing_backward_still_restores_every_grad(split_everything):
    a = ag.tensor(rng.standard_normal((4, 3, 5)), label="a")
    w = ag.tensor(rng.standard_normal((5, 2)), label="w")
    y = (a @ w).sum()
    y.backward()
    before = (a.grad.copy(), w.grad.copy())
    with pytest.raises(ValueError, match="seed gradient has shape"):
        (a @ w).backward(np.ones((2, 2)))
    np.testing.assert_array_equal(a.grad, before[0])
    np.testing.assert_array_equal(w.grad, before[1])


# --- found by review: zero sizes, integer operands of the sparse product -----------------


@pytest.mark.parametrize("a_shape, b_shape", [
    ((2, 3, 0), (0, 4)),   # inner dimension 0: a sum of nothing
    ((2, 3, 5), (5, 0)),   # no output columns
    ((0, 3, 5), (5, 2)),   # an empty stack
    ((2, 0, 5), (2, 5, 3)),
])
@pytest.mark.parametrize("split", [False, True])
def test_matmul_with_a_zero_size_dimension(a_shape, b_shape, split, request):
    if split:
        request.getfixturevalue("split_everything")
    a_value, b_value = np.ones(a_shape), np.ones(b_shape)
    a, b = ag.tensor(a_value), ag.tensor(b_value)
    y = a @ b
    np.testing.assert_array_equal(y.value, a_value @ b_value)
    y.backward(np.ones(y.shape))
    np.testing.assert_array_equal(a.grad, np.ones(y.shape) @ b_value.swapaxes(-1, -2))
    want_b = (a_value.swapaxes(-1, -2) @ np.ones(y.shape))
    np.testing.assert_array_equal(b.grad, want_b.sum(axis=0) if b_value.ndim == 2 else want_b)


@pytest.mark.parametrize("shape", [(3, 0), (0, 3)])
def test_spcmatmul_with_an_empty_matrix(shape):
    x = ag.tensor(np.ones((2, shape[0])))
    y = ag.spcmatmul(x, sp.csr_matrix(shape))
    assert y.shape == (2, shape[1]) and not y.value.any()
    y.backward(np.ones(y.shape))
    np.testing.assert_array_equal(x.grad, np.zeros((2, shape[0])))


def test_spcmatmul_of_integers_by_a_fractional_selection_matrix_is_not_truncated():
    S = sp.csr_matrix(np.array([[0.5, 0.0], [0.0, 5.0]]))
    x = np.array([[1, 2], [3, 2]])
    np.testing.assert_allclose(ag.spcmatmul(x, S), x @ S.toarray())
    np.testing.assert_allclose(ag.spcmatmul(ag.tensor(x), S).value, x @ S.toarray())
