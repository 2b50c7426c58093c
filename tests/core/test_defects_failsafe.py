"""Issue 11 items 13-18: a failed backward, optimizer step or state load changes nothing.

The shared backward loop (ag.autodiff.run_backward) puts every grad back when any
rule raises; optimizers validate every gradient before writing; load_state_dict
converts every entry before writing. Each test sets grads or values to known
numbers first, makes the operation fail halfway, and checks that they are intact.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import ag
import ag.nn as nn
from ag.nn.module import StateDictError
from ag.optim import SGD, Adam
from ag.trace import trace


def _failing_rule(g, out, ctx, a):
    raise ArithmeticError("boom")


# -- item 13: Scalar backward -------------------------------------------------------------


def test_sqrt_at_zero_gives_inf_as_torch():
    x, w = ag.Scalar(0.0), ag.Scalar(3.0)
    (x**0.5 + w * w).backward()
    # d/dx x**0.5 = 0.5 * x**-0.5 -> +inf at 0 (torch: inf); d/dw w*w = 2w = 6
    assert x.grad == math.inf and w.grad == 6.0
    y = ag.Scalar(0.0)
    (y**1.5).backward()  # 1.5 * 0**0.5 = 0: a finite slope at 0 stays finite
    assert y.grad == 0.0


def test_division_whose_square_underflows():
    a, b, c = ag.Scalar(1.0), ag.Scalar(1e-200), ag.Scalar(2.0)
    (a / b + c * c).backward()
    # d/da a/b = 1/b = 1e200; d/db a/b = -a/b**2 = -1e400 -> -inf in float64
    assert a.grad == 1e200 and b.grad == -math.inf and c.grad == 4.0


def test_scalar_backward_failure_restores_every_grad():
    x, w = ag.Scalar(2.0, label="x"), ag.Scalar(3.0, label="w")
    bad = ag.Scalar(x.value, (x,), "mystery", label="m")
    bad._rules = (_failing_rule,)  # a rule that raises (Scalar has no custom_op)
    loss = bad + w * w
    loss.backward  # noqa: B018
    x.grad, w.grad = 0.25, 0.5
    before = [n.grad for n in loss.topological_sort()]
    with pytest.raises(ArithmeticError, match=r"'m'.*boom.*as it was before"):
        loss.backward()
    assert [n.grad for n in loss.topological_sort()] == before
    assert (x.grad, w.grad) == (0.25, 0.5)


def test_keyboard_interrupt_in_backward_restores_and_passes_through():
    x, w = ag.Scalar(2.0), ag.Scalar(3.0)
    bad = ag.Scalar(x.value, (x,), "slow")

    def interrupted(g, out, ctx, a):
        raise KeyboardInterrupt

    bad._rules = (interrupted,)
    loss = bad + w * w
    with pytest.raises(KeyboardInterrupt):
        loss.backward()
    assert (x.grad, w.grad) == (0.0, 0.0)


def test_failure_under_a_trace_observer_restores_too():
    x = ag.tensor([1.0, 2.0], label="x")
    w = ag.tensor([3.0, 4.0], label="w")
    y = ag.custom_op(x.value.copy(), [x], "bad", [lambda g, out, ctx, a: g[:1]])
    x.grad = np.array([7.0, 7.0])
    with pytest.raises(ValueError, match="bad"):
        with trace():
            ((w * w).sum() + y.sum()).backward()
    np.testing.assert_array_equal(x.grad, [7.0, 7.0])
    assert w.grad is None


# -- item 14: create_graph through a naive conv ----------------------------------------------


def test_create_graph_through_naive_conv_leaves_grads_unchanged():
    rng = np.random.default_rng(0)
    conv = nn.Conv2d(1, 2, 3, method="naive", rng=rng)
    other = ag.tensor(rng.standard_normal(3), label="other")
    x = ag.tensor(rng.standard_normal((1, 1, 5, 5)), label="x")
    loss = conv(x).sum() + (other * other).sum()
    with pytest.raises(NotImplementedError, match="naive"):
        loss.backward(create_graph=True)
    assert other.grad is None and x.grad is None
    assert conv.weight.grad is None and conv.bias.grad is None


# -- item 15: a checkpoint that misses a Tensor -----------------------------------------------


def test_checkpoint_that_misses_a_tensor_changes_no_grad():
    V = ag.tensor([[1.0, 2.0], [3.0, 4.0]], label="V")
    W = ag.tensor([[0.5, 0.0], [0.0, 0.5]], label="W")
    x = ag.tensor([1.0, -1.0], label="x")
    y = ag.checkpoint(lambda t: W @ t, x, params=[])  # W is read but not listed
    loss = y.sum() + (V @ x).sum()  # reverse order: V @ x runs before the checkpoint
    with pytest.raises(RuntimeError, match="W"):
        loss.backward()
    assert V.grad is None and x.grad is None and W.grad is None


# -- item 16: a custom_op rule of the wrong size ----------------------------------------------


def test_custom_op_wrong_size_names_the_op_and_restores():
    a = ag.tensor([1.0, 2.0], label="a")
    b = ag.tensor([1.0, 2.0, 3.0, 4.0, 5.0], label="b")
    y = ag.custom_op(a.value * 2, [a], "twice", [lambda g, out, ctx, v: np.ones(5)])
    a.grad = np.array([1.0, 1.0])
    with pytest.raises(ValueError, match=r"twice.*\(5,\).*\(2,\)"):
        ((b * b).sum() + y.sum()).backward()
    assert b.grad is None
    np.testing.assert_array_equal(a.grad, [1.0, 1.0])


# -- item 17: load_state_dict with a bad entry ---------------------------------------------------


def test_load_state_dict_with_a_string_array_writes_nothing():
    net = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    before = {k: v.copy() for k, v in net.state_dict().items()}
    state = {k: np.full_like(v, 9.0) for k, v in before.items()}
    last = list(state)[-1]
    state[last] = np.array(["x"] * state[last].size).reshape(state[last].shape)
    with pytest.raises(StateDictError, match=f"{last}.*dtype"):
        net.load_state_dict(state)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_load_state_dict_refuses_complex_values():
    lin = nn.Linear(2, 1)
    state = lin.state_dict()
    state["weight"] = state["weight"] + 1j
    with pytest.raises(StateDictError, match="weight.*complex"):
        lin.load_state_dict(state)


# -- item 18: an optimizer step with a bad gradient -------------------------------------------------


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1, momentum=0.9), lambda ps: Adam(ps)])
def test_optimizer_step_with_a_bad_grad_changes_nothing(make):
    w1 = ag.tensor([1.0, 2.0], label="w1")
    w2 = ag.tensor([[1.0, 2.0]], label="w2")
    opt = make([w1, w2])
    w1.grad = np.array([1.0, 1.0])
    w2.grad = np.array([1.0, 1.0])  # shape (2,) for a (1, 2) parameter
    with pytest.raises(ValueError, match=r"parameter 1 \('w2' \(1, 2\)\).*\(2,\)"):
        opt.step()
    np.testing.assert_array_equal(w1.value, [1.0, 2.0])
    assert opt.t == 0 and opt.state == {}
