"""Every Scalar op and the same op on 0-d Tensors give the same value and the same grads.

The two engines share one backward loop but have their own rules; this pins them
together, including at the edges (0 for relu's kink and for powers, huge and tiny
values, negative bases with integer exponents) and in errors (both refuse the same
domains). Values are drawn by hypothesis, so 0.0, 1.0 and extreme floats come up.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import ag

values = st.floats(-50.0, 50.0, allow_nan=False, allow_infinity=False)
exponents = st.sampled_from([0.0, 1.0, 2.0, 3.0, -1.0, -2.0, 0.5, 1.5, -0.5])

UNARY = {
    "neg": (lambda x: -x, lambda x: -x),
    "exp": (lambda x: x.exp(), ag.exp),
    "log": (lambda x: x.log(), ag.log),
    "relu": (lambda x: x.relu(), ag.relu),
    "tanh": (lambda x: x.tanh(), ag.tanh),
    "sigmoid": (lambda x: x.sigmoid(), ag.sigmoid),
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
}
NUMBER_SIDES = {
    "radd": lambda a, c: c + a,
    "rsub": lambda a, c: c - a,
    "rmul": lambda a, c: c * a,
    "rdiv": lambda a, c: c / a,
    "add_c": lambda a, c: a + c,
    "sub_c": lambda a, c: a - c,
    "mul_c": lambda a, c: a * c,
    "div_c": lambda a, c: a / c,
}


def _close(scalar_value: float, tensor_value, rel: float = 1e-12, abs_: float = 1e-300) -> bool:
    t = float(np.asarray(tensor_value))
    if math.isnan(scalar_value) or math.isnan(t):
        return math.isnan(scalar_value) and math.isnan(t)
    if math.isinf(scalar_value) or math.isinf(t):
        return scalar_value == t
    return math.isclose(scalar_value, t, rel_tol=rel, abs_tol=abs_)


def _both(build_scalar, build_tensor, *xs):
    """Run the op in both engines; return (scalar leaves, out) and (tensor leaves, out),
    or the two exceptions' types when either raises."""
    s_leaves = [ag.Scalar(x, label=f"x{i}") for i, x in enumerate(xs)]
    t_leaves = [ag.tensor(x, label=f"x{i}") for i, x in enumerate(xs)]
    try:
        s_out = build_scalar(*s_leaves)
    except (ValueError, ZeroDivisionError, OverflowError) as err:
        s_out = err
    with np.errstate(all="ignore"):
        try:
            t_out = build_tensor(*t_leaves)
        except (ValueError, ZeroDivisionError, OverflowError) as err:
            t_out = err
    return s_leaves, s_out, t_leaves, t_out


def _agree(s_leaves, s_out, t_leaves, t_out):
    if isinstance(s_out, Exception):
        # the Scalar engine refuses a domain error up front; the Tensor engine must refuse
        # it too, or (for float overflow/zero division, where NumPy gives inf) give a
        # non-finite value
        if isinstance(t_out, Exception):
            return
        assert not np.all(np.isfinite(t_out.value)), (s_out, t_out)
        return
    assert not isinstance(t_out, Exception), (s_out, t_out)
    assume(math.isfinite(s_out.value))
    assert _close(s_out.value, t_out.value), (s_out.value, t_out.value)
    s_out.backward()
    with np.errstate(all="ignore"):
        t_out.backward()
    for s, t in zip(s_leaves, t_leaves):
        t_grad = 0.0 if t.grad is None else t.grad
        # grads like 1 - tanh(x)**2 cancel: an ulp of difference in tanh(x) between
        # math and NumPy is a large relative error once the slope is tiny
        assert _close(s.grad, t_grad, rel=1e-9, abs_=1e-12), (s.label, s.grad, t_grad)


@pytest.mark.parametrize("name", sorted(UNARY))
@given(x=values | st.sampled_from([0.0, -0.0, 1.0, 700.0, -700.0]))
def test_unary_ops_agree(name, x):
    scalar_fn, tensor_fn = UNARY[name]
    _agree(*_both(scalar_fn, tensor_fn, x))


@pytest.mark.parametrize("name", sorted(BINARY))
@given(a=values | st.just(0.0), b=values | st.just(0.0))
def test_binary_ops_agree(name, a, b):
    fn = BINARY[name]
    if name == "pow":
        assume(abs(b) < 20)
    _agree(*_both(fn, fn, a, b))


@given(a=values | st.just(0.0), n=exponents)
def test_pow_with_a_number_exponent_agrees(a, n):
    _agree(*_both(lambda x: x**n, lambda x: x**n, a))


@pytest.mark.parametrize("name", sorted(NUMBER_SIDES))
@given(a=values | st.just(0.0), c=values | st.just(0.0))
def test_number_operands_agree(name, a, c):
    fn = NUMBER_SIDES[name]
    _agree(*_both(lambda x: fn(x, c), lambda x: fn(x, c), a))


@given(a=values, b=values, c=values)
def test_a_composite_graph_agrees(a, b, c):
    # shared subexpressions: the grads accumulate from several paths
    def f(x, y, z):
        u = x * y + z
        return (u.tanh() * u + (y - z).relu() * x).sigmoid() + u * u * 0.01

    _agree(*_both(f, f, a, b, c))
