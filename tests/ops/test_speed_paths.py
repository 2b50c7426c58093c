"""The fast paths of the speed work give the same values and gradients as the plain ones.

Each path is chosen by layout (a C-contiguous stack times a matrix is one GEMM; a
weight shared across a stack gets one GEMM, or a stacked product when the gradient
is a transposed view), so every case is built in each layout and checked against
central finite differences in float64, and against PyTorch where it is installed.
"""

from __future__ import annotations

import numpy as np
import pytest
from course_problems import recursive_topological_order  # tests/ is on sys.path

import ag
from ag.testing import gradcheck

rng = np.random.default_rng(7)


def _layouts(shape):
    """The same values as a C-ordered stack, a transposed view, and a Fortran array."""
    base = rng.standard_normal(shape)
    swapped = np.ascontiguousarray(base.swapaxes(-1, -2)).swapaxes(-1, -2)
    return {"C": base, "transposed": swapped, "fortran": np.asfortranarray(base)}


@pytest.mark.parametrize("layout", ["C", "transposed", "fortran"])
@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 4, 5)])
def test_stack_times_shared_matrix_gradients(layout, shape):
    a_value = _layouts(shape)[layout]
    a = ag.tensor(a_value)
    w = ag.tensor(rng.standard_normal((shape[-1], 3)))
    np.testing.assert_allclose((a @ w).value, a_value @ w.value, rtol=1e-12, atol=1e-12)
    gradcheck(lambda a, w: a @ w, a, w)


@pytest.mark.parametrize("downstream", ["moveaxis", "swapaxes_sum", "plain"])
def test_shared_matrix_grad_for_each_layout_of_the_upstream_gradient(downstream):
    # moveaxis downstream hands the matmul a transposed view as its gradient (the
    # course's conv); the weight's gradient must not depend on that layout.
    a = ag.tensor(rng.standard_normal((4, 6, 3)))
    w = ag.tensor(rng.standard_normal((3, 5)))

    def f(a, w):
        y = a @ w
        if downstream == "moveaxis":
            return ag.moveaxis(y, 1, 2).reshape(4, 30)
        if downstream == "swapaxes_sum":
            return (y.swapaxes(1, 2) * 2.0).sum(axis=0)
        return y

    gradcheck(f, a, w)


def test_vector_and_matrix_operands_keep_their_rules():
    a = ag.tensor(rng.standard_normal((2, 4, 3)))
    v = ag.tensor(rng.standard_normal(3))
    m = ag.tensor(rng.standard_normal((3, 2)))
    u = ag.tensor(rng.standard_normal(4), requires_grad=False)
    c = ag.tensor(rng.standard_normal((5, 3)), requires_grad=False)
    gradcheck(lambda a, v: a @ v, a, v)
    gradcheck(lambda m, a: u @ (a @ m), m, a)
    gradcheck(lambda m: c @ m, m)


def test_second_order_through_the_shared_matrix_path():
    a = ag.tensor(rng.standard_normal((2, 3, 4)))
    w = ag.tensor(rng.standard_normal((4, 2)))

    def grad_norm(a, w):
        (gw,) = ag.grad(((a @ w) ** 2).sum(), [w], create_graph=True)
        return (gw * gw).sum()

    gradcheck(grad_norm, a, w)


def test_matmul_errors_are_unchanged_on_the_folded_path():
    a = ag.tensor(np.ones((2, 3, 4)), label="a")
    w = ag.tensor(np.ones((5, 2)), label="w")
    with pytest.raises(ValueError, match=r"matmul: 'a' \(2, 3, 4\) and 'w' \(5, 2\): inner dimensions"):
        a @ w


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_attention_block_matches_torch(dtype):
    torch = pytest.importorskip("torch")
    X = rng.standard_normal((4, 6, 5)).astype(dtype)
    shapes = [(5, 5), (5, 5), (5, 5), (5, 7), (7,), (7, 5), (5,)]
    ws = [rng.standard_normal(s).astype(dtype) * 0.5 for s in shapes]

    def block(lib, X, Wq, Wk, Wv, Wh, bh, Wo, bo):
        Q, K = X @ Wq, X @ Wk
        S = lib.softmax(K @ lib.moveaxis(Q, 1, 2), 1)
        out = lib.moveaxis(lib.moveaxis(X, 1, 2) @ S, 1, 2) @ Wv
        Y = lib.relu(out @ Wh + bh) @ Wo + bo
        return (Y * Y).sum()

    ours = [ag.tensor(w) for w in ws]
    theirs = [torch.tensor(w, requires_grad=True) for w in ws]
    block(ag, ag.tensor(X, requires_grad=False), *ours).backward()
    block(torch, torch.tensor(X), *theirs).backward()
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad, t.grad.numpy(), rtol=tol, atol=tol)


# --- the small-step overheads: cross-entropy, the sort, no_grad --------------------------


@pytest.mark.parametrize("seed", range(5))
def test_topological_order_is_the_recursive_dfs_order(seed):
    r = np.random.default_rng(seed)
    nodes = [ag.tensor(r.standard_normal(2), label=f"x{i}") for i in range(3)]
    for _ in range(12):  # random DAG with shared inputs, leaves and duplicates
        i, j = r.integers(0, len(nodes), 2)
        nodes.append(nodes[i] * nodes[j] if r.random() < 0.5 else nodes[i] + nodes[i])
    root = nodes[-1].sum()
    assert [id(n) for n in ag.topological_sort(root)] == [id(n) for n in recursive_topological_order(root)]
    s = ag.Scalar(1.5)
    t = (s * s + s) * s
    assert [id(n) for n in ag.topological_sort(t)] == [id(n) for n in recursive_topological_order(t)]


@pytest.mark.parametrize("layout", ["C", "fortran", "transposed"])
def test_cross_entropy_gradient_for_each_logits_layout(layout):
    import ag.nn.functional as F

    z = rng.standard_normal((5, 4))
    z = {"C": z, "fortran": np.asfortranarray(z), "transposed": np.ascontiguousarray(z.T).T}[layout]
    labels = np.array([0, 3, 1, 1, 2])
    for reduction in ("mean", "sum", "none"):
        gradcheck(lambda t, r=reduction: F.cross_entropy(t, labels, reduction=r), ag.tensor(z))


def test_cross_entropy_rows_with_infinite_logits_match_the_unfused_form():
    import ag.nn.functional as F

    z = np.array([[0.0, -np.inf, 1.0], [-np.inf, 2.0, -np.inf], [np.inf, 0.0, 0.0]])
    labels = np.array([2, 1, 1])
    fused = ag.tensor(z)
    loss = F.cross_entropy(fused, labels, reduction="none")
    unfused = ag.tensor(z)
    picked = ag.where(labels[:, None] == np.arange(3), unfused, 0.0).sum(axis=-1)
    ref = ag.logsumexp(unfused, axis=-1) - picked
    np.testing.assert_array_equal(loss.value, ref.value)
    w = np.array([1.0, 0.5, 0.0])
    with np.errstate(invalid="ignore"):
        ref.backward(w)
        loss.backward(w)
    np.testing.assert_allclose(fused.grad[:2], unfused.grad[:2], rtol=1e-12, atol=0)


def test_cross_entropy_label_checks_still_name_the_problem():
    import ag.nn.functional as F

    z = ag.tensor(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="label 4 is out of range for 4 classes"):
        F.cross_entropy(z, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="label -1 is out of range"):
        F.cross_entropy(z, np.array([0, -1, 1]))
    with pytest.raises(ValueError, match=r"need labels of shape \(3,\), got \(2,\)"):
        F.cross_entropy(z, np.array([0, 1]))
    with pytest.raises(TypeError, match="labels must be integer class indices"):
        F.cross_entropy(z, np.array([True, False, True]))
    assert z.grad is None and z.inputs == ()


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32])
@pytest.mark.parametrize("n_classes", [4, 300, 70000])
def test_cross_entropy_refuses_out_of_range_labels_of_every_integer_type(dtype, n_classes):
    import ag.nn.functional as F

    z = ag.tensor(np.zeros((3, n_classes)))
    info = np.iinfo(dtype)
    ok = np.array([0, min(n_classes - 1, info.max), 1], dtype=dtype)
    assert np.isfinite(F.cross_entropy(z, ok).item())
    bad_values = [v for v in (-1, info.min, n_classes)
                  if info.min <= v <= info.max and not 0 <= v < n_classes]
    for bad in bad_values:
        with pytest.raises(ValueError, match=f"label {bad} is out of range for {n_classes} classes"):
            F.cross_entropy(z, np.array([0, bad, 1], dtype=dtype))
    assert z.grad is None


def test_no_grad_and_enable_grad_nest_restore_and_decorate():
    w = ag.tensor([1.0])
    with ag.no_grad():
        assert not (w * 2).requires_grad
        with ag.enable_grad():
            assert (w * 2).requires_grad
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled()
    with pytest.raises(KeyError):
        with ag.no_grad():
            raise KeyError("x")
    assert ag.is_grad_enabled()

    @ag.no_grad()
    def depth(n):  # recursive: each call enters its own switch
        return depth(n - 1) if n else ag.is_grad_enabled()

    assert depth(3) is False and ag.is_grad_enabled()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("row", [[-np.inf, -np.inf, -np.inf], [np.inf, 0.0, 1.0], [0.0, -np.inf, 2.0]])
def test_reduced_cross_entropy_with_infinite_logits_matches_the_unfused_form(reduction, row):
    # a reduced loss that is not finite is recomputed with the stable max: same value
    # as logsumexp (stable) minus the picked logit, reduced
    import ag.nn.functional as F

    z = np.array([[0.5, 1.0, -1.0], row, [2.0, 0.0, 0.0]])
    labels = np.array([1, 0, 2])
    fused = F.cross_entropy(ag.tensor(z), labels, reduction=reduction)
    t = ag.tensor(z)
    with np.errstate(invalid="ignore"):
        per_row = ag.logsumexp(t, axis=-1) - ag.where(labels[:, None] == np.arange(3), t, 0.0).sum(axis=-1)
        ref = per_row.mean() if reduction == "mean" else per_row.sum()
    np.testing.assert_allclose(fused.value, ref.value, rtol=1e-14)  # inf and nan alike
    finite = ag.tensor(np.where(np.isfinite(z), z, 0.0))
    gradcheck(lambda t: F.cross_entropy(t, labels, reduction=reduction), finite)
