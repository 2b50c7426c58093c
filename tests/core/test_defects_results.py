"""Regression tests for issue 11's silent wrong results (items 1, 2, 4-12).

Each test failed on the code before its fix. Expected gradients are derived by
hand (the derivation is in the comment) or taken from central finite differences in
float64; none is a number the code under test computed itself.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import ag
import ag.nn as nn
import ag.nn.functional as F
from ag.optim import SGD
from ag.tensor import sum_to_shape


def _numeric_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central finite differences of the scalar function ``f`` at ``x`` (float64)."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        grad[i] = (f(up) - f(down)) / (2 * eps)
    return grad


# -- item 1: cross-entropy on non-C-contiguous logits ------------------------------------


@pytest.mark.parametrize("entry", ["module", "functional", "fused"])
def test_cross_entropy_grad_on_swapped_axes_logits(entry):
    rng = np.random.default_rng(0)
    z0 = rng.standard_normal((4, 2, 3))
    y = np.array([[0, 1, 2, 0], [1, 1, 0, 2]])
    z = ag.tensor(z0)
    logits = ag.swapaxes(z, 0, 1)  # (2, 4, 3), not C-contiguous
    assert not logits.value.flags.c_contiguous
    if entry == "module":
        loss = nn.CrossEntropyLoss()(logits, y)
    elif entry == "functional":
        loss = F.cross_entropy(logits, y)
    else:
        loss = ag.softmax_cross_entropy(logits, y)
    loss.backward()

    def f(v):
        zz = np.swapaxes(v, 0, 1)
        lse = np.log(np.exp(zz).sum(-1))
        picked = np.take_along_axis(zz, y[..., None], -1)[..., 0]
        return (lse - picked).mean()

    np.testing.assert_allclose(z.grad, _numeric_grad(f, z0), atol=1e-7)
    # each row's gradient is softmax - onehot, which sums to zero
    assert abs(z.grad.sum()) < 1e-12


def test_cross_entropy_grad_on_fortran_and_strided_logits():
    rng = np.random.default_rng(1)
    base = rng.standard_normal((6, 5))
    y = np.array([0, 4, 2])
    for view in (lambda v: np.asfortranarray(v[:3]), lambda v: v[::2]):
        z = ag.tensor(view(base))
        F.cross_entropy(z, y, reduction="sum").backward()
        p = np.exp(z.value) / np.exp(z.value).sum(-1, keepdims=True)
        expected = p - np.eye(5)[y]  # d/dz [lse(z) - z_y] = softmax(z) - onehot(y)
        np.testing.assert_allclose(z.grad, expected, atol=1e-12)


# -- item 2: BCE-with-logits at logit exactly 0 --------------------------------------------


def test_bce_with_logits_grad_is_sigmoid_minus_target_at_zero():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 3))
    t = (X[:, 0] > 0) * 1.0
    w, b = ag.zeros(3), ag.zeros(1)
    loss = F.binary_cross_entropy_with_logits(X @ w + b, t)
    loss.backward()
    # at z = 0 everywhere: dL/dz_i = (sigmoid(0) - t_i) / n = (0.5 - t_i) / 8
    dz = (0.5 - t) / 8
    np.testing.assert_allclose(b.grad, [dz.sum()], atol=1e-15)
    np.testing.assert_allclose(w.grad, X.T @ dz, atol=1e-15)


def test_bce_with_logits_value_and_second_derivative():
    z0 = np.array([-30.0, -1.0, 0.0, 0.5, 40.0])
    t = np.array([0.0, 1.0, 1.0, 0.25, 0.0])
    z = ag.tensor(z0)
    loss = F.binary_cross_entropy_with_logits(z, t, reduction="sum")
    expected = np.logaddexp(0.0, z0) - z0 * t  # -[t log s + (1-t) log(1-s)]
    np.testing.assert_allclose(loss.value, expected.sum(), rtol=1e-13)
    (gz,) = ag.grad(loss, [z], create_graph=True)
    s = 1 / (1 + np.exp(-z0))
    np.testing.assert_allclose(gz.value, s - t, atol=1e-15)
    gz.sum().backward()
    np.testing.assert_allclose(z.grad, s * (1 - s), atol=1e-15)  # d/dz (s - t) = s (1 - s)


# -- item 4: Tensor(ndarray) copies -----------------------------------------------------


def test_tensor_construction_copies_the_callers_array():
    init = np.zeros(3)
    b1, b2 = ag.Tensor(init), ag.Tensor(init)
    b1.grad = np.ones(3)
    SGD([b1], lr=0.5).step()
    np.testing.assert_array_equal(b1.value, [-0.5, -0.5, -0.5])
    np.testing.assert_array_equal(b2.value, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(init, [0.0, 0.0, 0.0])
    t = ag.tensor(b2)  # from another Tensor: a copy too, as torch.tensor
    t.value += 1
    np.testing.assert_array_equal(b2.value, [0.0, 0.0, 0.0])


def test_from_numpy_shares_memory():
    init = np.zeros(3)
    t = ag.from_numpy(init, label="t")
    t.value += 2.0
    np.testing.assert_array_equal(init, [2.0, 2.0, 2.0])
    assert t.label == "t" and t.requires_grad
    with pytest.raises(TypeError, match="from_numpy"):
        ag.from_numpy(np.arange(3))  # an int array would need a converting copy


# -- item 5: sum_to_shape refuses a gradient that does not broadcast ---------------------


def test_sum_to_shape_refuses_a_transposed_gradient():
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3\)"):
        sum_to_shape(np.arange(6.0).reshape(3, 2), (2, 3))
    np.testing.assert_array_equal(sum_to_shape(np.ones((4, 2, 3)), (2, 1)), [[12.0], [12.0]])


def test_custom_op_with_a_transposed_gradient_is_refused_naming_the_op():
    x = ag.tensor(np.arange(6.0).reshape(2, 3), label="x")
    y = ag.custom_op(x.value * 2, [x], "double", [lambda g, out, ctx, a: (g * 2).T])
    with pytest.raises(ValueError, match=r"double.*\(3, 2\).*\(2, 3\)"):
        y.sum().backward()
    assert x.grad is None


# -- item 6: spcmatmul sees the matrix as it is now ---------------------------------------


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_spcmatmul_after_the_sparse_matrix_changes(fmt):
    S = sp.random(4, 5, density=0.5, random_state=0, format=fmt)
    selection = sp.csr_matrix(np.eye(4)[:, [2, 0, 1, 3]]).asformat(fmt)  # one nonzero per column
    X = np.arange(8.0).reshape(2, 4)
    for M in (S, selection):
        before = ag.spcmatmul(ag.tensor(X), M).value
        np.testing.assert_allclose(before, X @ M.toarray())
        M.data *= 3
        np.testing.assert_allclose(ag.spcmatmul(ag.tensor(X), M).value, X @ M.toarray())
    if fmt != "coo":
        selection[0, 1] = 5.0  # in place, on an existing entry (row 0 feeds column 1)
        np.testing.assert_allclose(ag.spcmatmul(ag.tensor(X), selection).value,
                                   X @ selection.toarray())


def test_device_copy_of_a_sparse_matrix_follows_changes():
    from ag.gpu.sparse import to_device_sparse

    S = sp.csr_matrix(np.array([[1.0, 0.0], [2.0, 3.0]]))
    first = to_device_sparse(S, "fake")
    assert to_device_sparse(S, "fake") is first  # unchanged: the cached copy
    S.data *= 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sp.SparseEfficiencyWarning)
        S[0, 1] = 5.0  # a new entry: scipy replaces the matrix's arrays
    again = to_device_sparse(S, "fake")
    np.testing.assert_array_equal(again.get().toarray(), [[3.0, 5.0], [6.0, 9.0]])


# -- item 7: transpose refuses out-of-range axes -------------------------------------------


def test_transpose_out_of_range_axes_raise():
    x = ag.tensor(np.zeros((2, 3)))
    with pytest.raises(np.exceptions.AxisError, match="transpose"):
        x.transpose(0, 5)
    with pytest.raises(np.exceptions.AxisError, match="transpose"):
        ag.transpose(x, (-3, 0))
    assert x.transpose(-1, 0).shape == (3, 2)


# -- item 8: d/dx x**0 at x = 0 is 0 ---------------------------------------------------------


def test_pow_zero_gradient_at_zero_tensor():
    x = ag.tensor([0.0, 2.0])
    (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


def test_pow_zero_gradient_at_zero_scalar():
    x = ag.Scalar(0.0)
    (x**0).backward()
    assert x.grad == 0.0


# -- item 9: a leaf's backward accumulates -------------------------------------------------


def test_leaf_backward_twice_accumulates():
    s = ag.Scalar(3.0)
    s.backward()
    s.backward()
    assert s.grad == 2.0
    t = ag.tensor(3.0)
    t.backward()
    t.backward()
    assert t.grad == 2.0
    v = ag.tensor([1.0, 2.0])
    seed = np.array([1.0, 10.0])
    v.backward(seed)
    v.backward(seed)
    np.testing.assert_array_equal(v.grad, [2.0, 20.0])
    np.testing.assert_array_equal(seed, [1.0, 10.0])  # the seed is not the leaf's grad


# -- item 10: var with ddof >= count is nan, as NumPy --------------------------------------


def test_var_with_too_few_elements_is_nan():
    with np.errstate(all="ignore"):
        assert np.isnan(ag.tensor([3.0]).var(ddof=1).item())
        assert np.isnan(np.var([3.0], ddof=1))
    np.testing.assert_allclose(ag.tensor([1.0, 3.0]).var(ddof=1).item(), 2.0)


# -- item 11: a leaf's grad has the leaf's dtype --------------------------------------------


def test_float32_leaf_gets_a_float32_grad_from_float64_data():
    lin = nn.Linear(3, 2, dtype=np.float32)
    x = ag.tensor(np.ones((4, 3)))  # float64
    lin(x).sum().backward()
    assert lin.weight.grad.dtype == np.float32
    assert lin.bias.grad.dtype == np.float32
    w = ag.tensor([1.0, 2.0], dtype=np.float32)
    y = w * np.array([3.0, 4.0])
    y.sum().backward()
    y.sum().backward()  # the accumulating branch too
    assert w.grad.dtype == np.float32
    np.testing.assert_array_equal(w.grad, [6.0, 8.0])


def test_float32_leaf_grad_keeps_its_dtype_under_create_graph():
    # y = sum((W x)^2): dy/dW_ij = 2 (W x)_i x_j; d/dW_kl of sum_ij dy/dW_ij = 2 x_l sum(x)
    W = ag.tensor(np.ones((2, 2)), dtype=np.float32, label="W")
    x = np.array([1.0, 2.0])  # float64 data
    ((W @ x) ** 2).sum().backward(create_graph=True)
    assert isinstance(W.grad, ag.Tensor) and W.grad.dtype == np.float32
    np.testing.assert_allclose(W.grad.value, [[6.0, 12.0], [6.0, 12.0]])
    first = W.grad
    W.grad = None
    first.sum().backward()
    assert W.grad.dtype == np.float32
    np.testing.assert_allclose(W.grad, [[6.0, 12.0], [6.0, 12.0]])


def test_astype_gradient_goes_back_in_the_input_dtype():
    x = ag.tensor([1.5, -2.0])
    y = x.astype(np.float32)
    assert y.dtype == np.float32 and y.op == "astype"
    (y ** 3).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad, 3 * np.array([1.5, -2.0]) ** 2)
    with pytest.raises(TypeError, match="astype"):
        x.astype(np.int64)


# -- item 12: a float index is refused --------------------------------------------------------


def test_float_tensor_index_is_refused():
    x = ag.tensor([10.0, 20.0, 30.0], label="x")
    with pytest.raises(TypeError, match="getitem.*integer"):
        x[ag.tensor([0.7, 1.9])]
    with pytest.raises(TypeError, match="getitem.*integer"):
        x[(ag.tensor([0.5]),)]
    # integral float Tensors (e.g. labels kept as floats) still index
    np.testing.assert_array_equal(x[ag.tensor([2.0, 0.0, 2.0])].value, [30.0, 10.0, 30.0])


# --- the seed of y.backward(G): read, never copied into a leaf's grad ---------------------


def _graphs():
    import ag.nn.functional as F

    yield "conv", lambda x: F.conv2d(x, ag.tensor(np.ones((2 * 9, 3)))), (2, 2, 5, 5)
    yield "reshape", lambda x: x.reshape(6), (2, 3)
    yield "add", lambda x: x + 0.0, (2, 3)
    yield "transpose", lambda x: ag.moveaxis(x, 0, 1), (2, 3)


@pytest.mark.parametrize("name, f, shape", list(_graphs()), ids=[g[0] for g in _graphs()])
def test_no_leaf_grad_shares_memory_with_the_seed(name, f, shape):
    x = ag.tensor(np.random.default_rng(0).standard_normal(shape))
    y = f(x)
    G = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(G)
    want = x.grad.copy()
    assert not np.shares_memory(x.grad, G) and x.grad.flags.writeable
    G *= 7  # the caller's array changes afterwards: the leaf's grad does not
    np.testing.assert_array_equal(x.grad, want)


def test_an_interior_root_s_grad_is_its_own_copy_of_the_seed():
    # y.backward(G) kept a read-only view of the caller's G as y.grad: `G *= 5` changed it
    x = ag.tensor(np.ones(3))
    y = x * 2.0
    G = np.arange(3.0)
    y.backward(G)
    np.testing.assert_array_equal(y.grad, G)
    assert not np.shares_memory(y.grad, G)
    G *= 5  # the caller's array stays writable, and changing it changes no grad
    np.testing.assert_array_equal(y.grad, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(x.grad, [0.0, 2.0, 4.0])


@pytest.mark.parametrize("name, f, shape", list(_graphs()), ids=[g[0] for g in _graphs()])
def test_no_grad_in_the_graph_shares_memory_with_the_seed(name, f, shape):
    x = ag.tensor(np.random.default_rng(0).standard_normal(shape))
    y = f(x)
    G = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(G)
    kept = [n for n in y.topological_sort() if isinstance(n.grad, np.ndarray)]
    assert kept and not any(np.shares_memory(n.grad, G) for n in kept)


def test_ag_grad_with_a_seed_returns_arrays_of_its_own():
    # ag.grad(z, [y], grad_output=G) returned a read-only view of G
    x = ag.tensor(np.ones(3))
    y = x * 2.0
    z = y.reshape(3)
    G = np.arange(3.0)
    (dy,) = ag.grad(z, [y], grad_output=G)
    assert not np.shares_memory(dy.value, G)
    dy.value *= 2  # the caller may use it freely
    np.testing.assert_array_equal(G, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(dy.value, [0.0, 2.0, 4.0])


def test_a_leaf_root_and_create_graph_copy_the_seed():
    x = ag.tensor(np.ones(3))
    G = np.arange(3.0)
    x.backward(G)
    assert not np.shares_memory(x.grad, G)
    w = ag.tensor(np.array([1.0, 2.0, 3.0]))
    y = w * w
    G2 = np.ones(3)
    y.backward(G2, create_graph=True)
    (gg,) = ag.grad(w.grad.sum(), [w])
    G2[:] = 100.0  # the second-order graph kept its own copy of the seed
    np.testing.assert_array_equal(gg, [2.0, 2.0, 2.0])
