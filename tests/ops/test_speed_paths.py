"""The fast paths of the speed work give the same values and gradients as the plain ones.

Each path is chosen by layout (a C-contiguous stack times a matrix is one GEMM; a
weight shared across a stack gets one GEMM, or a stacked product when the gradient
is a transposed view), so every case is built in each layout and checked against
central finite differences in float64, and against PyTorch where it is installed.
"""

from __future__ import annotations

import numpy as np
import pytest

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
