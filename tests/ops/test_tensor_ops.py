"""Every Tensor op against central finite differences (float64), first and second order."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import assume, given
from hypothesis import strategies as st

import ag
from ag.testing import gradcheck, gradgradcheck
from ag.testing import strategies as ags


def leaf(array):
    return ag.Tensor(np.array(array, dtype=np.float64))


def check(f, *arrays, second=True):
    tensors = [leaf(a) for a in arrays]
    gradcheck(f, *tensors)
    if second:
        gradgradcheck(f, *tensors)


# -- elementwise unary --------------------------------------------------------------------

UNARY = {
    "neg": (lambda t: -t, {}),
    "exp": (ag.exp, {}),
    "tanh": (ag.tanh, {}),
    "sigmoid": (ag.sigmoid, {}),
    "relu": (ag.relu, {"away_from": (0.0,)}),
    "abs": (ag.abs, {"away_from": (0.0,)}),
    "log": (ag.log, {"min_value": 0.1}),
    "sqrt": (ag.sqrt, {"min_value": 0.1}),
    "pow3": (lambda t: t**3, {}),
    "pow_half": (lambda t: t**0.5, {"min_value": 0.1}),
    "rdiv": (lambda t: 1.5 / t, {"min_value": 0.2}),
    "rsub": (lambda t: 2.0 - t, {}),
    "clip": (lambda t: ag.clip(t, -1.0, 1.0), {"away_from": (-1.0, 1.0)}),
    "method_chain": (lambda t: t.exp().tanh().sigmoid(), {}),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(data=st.data())
def test_unary_ops(name, data):
    f, kwargs = UNARY[name]
    x = data.draw(ags.arrays(**kwargs))
    check(f, x)


def test_unary_values_match_numpy():
    x = np.array([[-1.5, 0.3], [2.0, 0.7]])
    t = leaf(x)
    np.testing.assert_allclose(ag.exp(t).value, np.exp(x))
    np.testing.assert_allclose(ag.tanh(t).value, np.tanh(x))
    np.testing.assert_allclose(ag.relu(t).value, np.maximum(x, 0))
    np.testing.assert_allclose(ag.sigmoid(t).value, 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(ag.abs(t).value, np.abs(x))
    np.testing.assert_allclose(ag.clip(t, -1, 1).value, np.clip(x, -1, 1))


def test_sigmoid_and_softmax_are_stable():
    x = leaf([-1000.0, 0.0, 1000.0])
    np.testing.assert_allclose(ag.sigmoid(x).value, [0.0, 0.5, 1.0])
    s = ag.softmax(leaf([[1000.0, 0.0, -1000.0]]), axis=-1)
    assert np.isfinite(s.value).all()
    np.testing.assert_allclose(s.value, [[1.0, 0.0, 0.0]])
    lse = ag.logsumexp(leaf([1000.0, 1000.0]))
    assert lse.value == pytest.approx(1000.0 + np.log(2.0))


# -- binary with broadcasting ----------------------------------------------------------------

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "maximum": ag.maximum,
    "minimum": ag.minimum,
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(data=st.data())
def test_binary_ops_with_broadcasting(name, data):
    (shape_a, shape_b), _ = data.draw(ags.broadcastable_shapes(2))
    a = data.draw(ags.arrays(shape_a))
    b = data.draw(ags.arrays(shape_b, min_value=0.2, max_value=3.0))
    if name in ("maximum", "minimum"):
        # keep the two operands apart so finite differences do not cross a tie
        assume(np.all(np.abs(np.broadcast_to(a, np.broadcast_shapes(a.shape, b.shape))
                             - np.broadcast_to(b, np.broadcast_shapes(a.shape, b.shape))) > 1e-2))
    check(BINARY[name], a, b)


@given(data=st.data())
def test_pow_with_tensor_exponent(data):
    (shape_a, shape_b), _ = data.draw(ags.broadcastable_shapes(2))
    a = data.draw(ags.arrays(shape_a, min_value=0.2, max_value=3.0))
    b = data.draw(ags.arrays(shape_b, min_value=-2.0, max_value=2.0))
    check(lambda x, y: x**y, a, b)


def test_broadcast_gradients_are_summed_to_each_shape():
    a = leaf(np.ones((2, 3)))
    b = leaf(np.ones((3,)))
    c = leaf(np.ones((2, 1)))
    (a * b + c).sum().backward()
    np.testing.assert_array_equal(b.grad, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(c.grad, [[3.0], [3.0]])
    assert a.grad.shape == (2, 3)


def test_operators_with_numbers_and_arrays():
    x = leaf([1.0, 2.0])
    y = 2.0 * x + np.array([1.0, 1.0]) - 1
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])
    z = np.array([3.0, 3.0]) * leaf([1.0, 2.0])
    assert isinstance(z, ag.Tensor)


# -- matmul ------------------------------------------------------------------------------------


@given(data=st.data())
def test_matmul_numpy_rules(data):
    shape_a, shape_b = data.draw(ags.matmul_shapes())
    a = data.draw(ags.arrays(shape_a))
    b = data.draw(ags.arrays(shape_b))
    np.testing.assert_allclose((leaf(a) @ leaf(b)).value, a @ b)
    check(lambda x, y: x @ y, a, b)


def test_matmul_hand_derived():
    A = leaf([[1.0, 2.0], [3.0, 4.0]])
    B = leaf([[5.0, 6.0], [7.0, 8.0]])
    (A @ B).sum().backward()
    np.testing.assert_array_equal(A.grad, [[11.0, 15.0], [11.0, 15.0]])  # rows of B summed
    np.testing.assert_array_equal(B.grad, [[4.0, 4.0], [6.0, 6.0]])  # columns of A summed


# -- reductions ---------------------------------------------------------------------------------


def distinct(shape, data):
    """Values with no ties (max/min are not differentiable at ties)."""
    n = int(np.prod(shape))
    perm = data.draw(st.permutations(list(range(n))))
    return (np.array(perm, dtype=np.float64).reshape(shape) - n / 2) * 0.37


REDUCTIONS = {
    "sum": lambda t, axis, keep: t.sum(axis=axis, keepdims=keep),
    "mean": lambda t, axis, keep: ag.mean(t, axis=axis, keepdims=keep),
    "max": lambda t, axis, keep: ag.max(t, axis=axis, keepdims=keep),
    "min": lambda t, axis, keep: t.min(axis=axis, keepdims=keep),
    "var": lambda t, axis, keep: ag.var(t, axis=axis, keepdims=keep),
    "logsumexp": lambda t, axis, keep: ag.logsumexp(t, axis=axis, keepdims=keep),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@given(data=st.data())
def test_reductions_with_axes_and_keepdims(name, data):
    shape = data.draw(ags.shapes(min_dims=1))
    axis = data.draw(ags.axes(len(shape)))
    keep = data.draw(st.booleans())
    x = distinct(shape, data)
    f = REDUCTIONS[name]
    reference = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "var": np.var}
    if name in reference:
        np.testing.assert_allclose(f(leaf(x), axis, keep).value,
                                   reference[name](x, axis=axis, keepdims=keep))
    check(lambda t: f(t, axis, keep), x)


def test_max_ties_share_the_gradient():
    x = leaf([1.0, 3.0, 3.0])
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.5, 0.5])


# -- shape ops -----------------------------------------------------------------------------------


@given(data=st.data())
def test_shape_ops(data):
    shape = data.draw(ags.shapes(min_dims=2, max_dims=4))
    x = data.draw(ags.arrays(shape))
    nd = len(shape)
    perm = tuple(data.draw(st.permutations(list(range(nd)))))
    src = data.draw(st.integers(-nd, nd - 1))
    dst = data.draw(st.integers(-nd, nd - 1))
    ops = {
        "reshape": (lambda t: t.reshape(-1, shape[-1]), x.reshape(-1, shape[-1])),
        "flatten": (lambda t: t.flatten(), x.reshape(-1)),
        "transpose": (lambda t: t.transpose(perm), x.transpose(perm)),
        "T": (lambda t: t.T, x.T),
        "moveaxis": (lambda t: ag.moveaxis(t, src, dst), np.moveaxis(x, src, dst)),
        "swapaxes": (lambda t: t.swapaxes(src, dst), np.swapaxes(x, src, dst)),
        "expand_dims": (lambda t: ag.expand_dims(t, 1), np.expand_dims(x, 1)),
        "broadcast_to": (lambda t: ag.broadcast_to(t, (2,) + shape), np.broadcast_to(x, (2,) + shape)),
    }
    weights = {}
    for name, (f, expected) in ops.items():
        np.testing.assert_array_equal(f(leaf(x)).value, expected, err_msg=name)
        w = weights.setdefault(name, np.random.default_rng(0).standard_normal(expected.shape))
        check(lambda t, f=f, w=w: (f(t) * w).sum(), x)


def test_squeeze():
    x = np.arange(6.0).reshape(1, 2, 1, 3)
    np.testing.assert_array_equal(ag.squeeze(leaf(x)).value, x.squeeze())
    np.testing.assert_array_equal(leaf(x).squeeze(axis=2).value, x.squeeze(axis=2))
    check(lambda t: (ag.squeeze(t, 0) * np.arange(6.0).reshape(2, 1, 3)).sum(), x)


# -- indexing, joining, splitting ---------------------------------------------------------------------


@given(data=st.data())
def test_basic_slicing(data):
    x = data.draw(ags.arrays((4, 5)))
    index = data.draw(st.sampled_from([
        (slice(1, 3),), (slice(None), 2), (1, slice(None, None, 2)), (Ellipsis, -1),
        (slice(None, None, -1), None), 3,
    ]))
    np.testing.assert_array_equal(leaf(x)[index].value, x[index])
    w = np.random.default_rng(1).standard_normal(x[index].shape)
    check(lambda t: (t[index] * w).sum(), x)


def test_integer_array_indexing_accumulates_repeats():
    x = leaf([10.0, 20.0, 30.0])
    y = x[np.array([0, 2, 0, 0])]
    np.testing.assert_array_equal(y.value, [10.0, 30.0, 10.0, 10.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 0.0, 1.0])
    rows = leaf(np.arange(12.0).reshape(3, 4))
    picked = rows[np.array([0, 1, 1]), np.array([3, 0, 0])]
    picked.sum().backward()
    assert rows.grad[1, 0] == 2.0 and rows.grad[0, 3] == 1.0 and rows.grad.sum() == 3.0
    check(lambda t: (t[np.array([1, 1, 0])] ** 2).sum(), np.array([0.5, -1.5]))


@given(data=st.data())
def test_concatenate_stack_split(data):
    a = data.draw(ags.arrays((2, 3)))
    b = data.draw(ags.arrays((1, 3)))
    c = data.draw(ags.arrays((2, 3)))
    np.testing.assert_array_equal(ag.concatenate([leaf(a), leaf(b)]).value, np.concatenate([a, b]))
    np.testing.assert_array_equal(ag.stack([leaf(a), leaf(c)], axis=1).value, np.stack([a, c], axis=1))
    w = np.random.default_rng(2).standard_normal((3, 3))
    check(lambda x, y: (ag.concatenate([x, y], axis=0) * w).sum(), a, b)
    check(lambda x, y: (ag.stack([x, y], axis=-1) ** 2).sum(), a, c)
    check(lambda x: (ag.split(x, 3, axis=1)[1] * ag.split(x, [1], axis=1)[0]).sum(), a)


def test_where():
    cond = np.array([True, False, True])
    a, b = np.array([1.0, 2.0, 3.0]), np.array([-1.0, -2.0, -3.0])
    np.testing.assert_array_equal(ag.where(cond, leaf(a), leaf(b)).value, [1.0, -2.0, 3.0])
    check(lambda x, y: (ag.where(cond, x, y) ** 2).sum(), a, b)
    check(lambda x, y: (ag.where(cond[:, None], x, y) ** 2).sum(), a, np.array([[0.5], [1.5], [2.5]]))


# -- softmax family -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@given(data=st.data())
def test_softmax_family(name, data):
    shape = data.draw(ags.shapes(min_dims=1))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = data.draw(ags.arrays(shape))
    f = getattr(ag, name)
    shifted = x - x.max(axis=axis, keepdims=True)
    expected = np.exp(shifted) / np.exp(shifted).sum(axis=axis, keepdims=True)
    if name == "log_softmax":
        expected = np.log(expected)
    np.testing.assert_allclose(f(leaf(x), axis=axis).value, expected, atol=1e-12)
    w = np.random.default_rng(3).standard_normal(shape)
    check(lambda t: (f(t, axis=axis) * w).sum(), x)


# -- sparse ------------------------------------------------------------------------------------------------


@given(data=st.data())
def test_spcmatmul_both_orders(data):
    n, m, batch = (data.draw(st.integers(1, 4)) for _ in range(3))
    dense = data.draw(ags.arrays((batch, n)))
    matrix = sp.random(n, m, density=0.5, format="csr",
                       random_state=data.draw(st.integers(0, 1000)))
    np.testing.assert_allclose(ag.spcmatmul(leaf(dense), matrix).value, dense @ matrix.toarray())
    check(lambda x: (ag.spcmatmul(x, matrix) ** 2).sum(), dense)
    right = data.draw(ags.arrays((m, batch)))
    np.testing.assert_allclose(ag.spcmatmul(matrix, leaf(right)).value, matrix.toarray() @ right)
    check(lambda x: (ag.spcmatmul(matrix, x) ** 2).sum(), right)


def test_spcmatmul_batched_dense():
    x = np.arange(24.0).reshape(2, 3, 4)
    matrix = sp.csr_matrix(np.eye(4)[:, ::-1])
    out = ag.spcmatmul(leaf(x), matrix)
    np.testing.assert_array_equal(out.value, x[..., ::-1])
    check(lambda t: (ag.spcmatmul(t, matrix) * np.arange(24.0).reshape(2, 3, 4)).sum(), x)


# -- composite: the course's attention + MLP block --------------------------------------------------------


def course_block(X, Wq, Wk, Wv, Wh, bh, Wo, bo):
    Queries = X @ Wq
    Keys = X @ Wk
    KQ = Keys @ ag.moveaxis(Queries, 1, 2)
    expKQ = ag.exp(KQ)
    softmaxKQ = expKQ / ag.sum(expKQ, axis=1, keepdims=True)
    P = ag.moveaxis(X, 1, 2) @ softmaxKQ
    att = ag.moveaxis(P, 1, 2) @ Wv
    hidden = ag.relu(att @ Wh + bh)
    return hidden @ Wo + bo


def test_course_attention_block_gradcheck():
    rng = np.random.default_rng(0)
    shapes = [(2, 3, 4), (4, 4), (4, 4), (4, 4), (4, 5), (5,), (5, 4), (4,)]
    arrays = [rng.standard_normal(s) * 0.5 for s in shapes]
    w = rng.standard_normal((2, 3, 4))
    tensors = [leaf(a) for a in arrays]
    gradcheck(lambda *ts: (course_block(*ts) * w).sum(), *tensors)


def test_spcmatmul_column_selection_fast_path():
    # at most one entry per column, some columns empty, values not all 1: the gather path
    matrix = sp.csr_matrix(np.array([[0.0, 2.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]))
    x = np.arange(6.0).reshape(2, 3) - 2.0
    out = ag.spcmatmul(leaf(x), matrix)
    np.testing.assert_array_equal(out.value, x @ matrix.toarray())
    assert out.value.flags["C_CONTIGUOUS"]
    check(lambda t: (ag.spcmatmul(t, matrix) ** 2).sum(), x)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(data=st.data())
def test_softmax_cross_entropy_fused(reduction, data):
    batch = data.draw(st.integers(1, 4))
    classes = data.draw(st.integers(2, 5))
    z = data.draw(ags.arrays((batch, classes)))
    labels = np.array(data.draw(st.lists(st.integers(0, classes - 1), min_size=batch, max_size=batch)))
    # the unfused formula, by hand: logsumexp(z) - z[label]
    per_row = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1) - z[np.arange(batch), labels]
    expected = {"mean": per_row.mean(), "sum": per_row.sum(), "none": per_row}[reduction]
    np.testing.assert_allclose(ag.softmax_cross_entropy(leaf(z), labels, reduction).value, expected)
    w = np.random.default_rng(5).standard_normal(per_row.shape if reduction == "none" else ())
    check(lambda t: (ag.softmax_cross_entropy(t, labels, reduction) * w).sum(), z)
