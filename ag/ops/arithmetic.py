"""Arithmetic with broadcasting: ``+ - * / **`` and negation.

Each op: its forward, one rule per input and the rules' text, side by side (``ag.ops.api``).
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ag import functions as F
from ag.ops.api import (
    Tensor,
    as_tensor,
    describe,
    describe_operands,
    lift,
    lift_pair,
    make_node,
    register,
)


def _binary(op: str, a: Any, b: Any, compute: Any, rules: tuple, ctx: Any = None) -> Tensor:
    a, b = lift_pair(a, b, op)
    try:
        value = compute(a.value, b.value)
    except ValueError as err:
        raise ValueError(f"{describe_operands(op, a, b)}: shapes do not broadcast ({err})") from None
    return make_node(value, (a, b), op, rules, ctx)


# the forward computations: the operator module's C functions (no Python frame per op)
_np_add, _np_sub, _np_mul, _np_div = operator.add, operator.sub, operator.mul, operator.truediv


# -- add: out = a + b -------------------------------------------------------------------------


def _add_a(g, out, ctx, a, b):
    return g


def add(a: Any, b: Any) -> Tensor:
    """``a + b`` with broadcasting."""
    return _binary("add", a, b, _np_add, (_add_a, _add_a))


register("tensor", "add", add, (_add_a, _add_a),
         ("{a}.grad += {out}.grad", "{b}.grad += {out}.grad"),
         arity=2, methods=("__add__",), reflected=("__radd__",), broadcasts=True)


# -- sub: out = a - b -------------------------------------------------------------------------


def _sub_b(g, out, ctx, a, b):
    return -g


def sub(a: Any, b: Any) -> Tensor:
    """``a - b`` with broadcasting."""
    return _binary("sub", a, b, _np_sub, (_add_a, _sub_b))


register("tensor", "sub", sub, (_add_a, _sub_b),
         ("{a}.grad += {out}.grad", "{b}.grad += -{out}.grad"),
         arity=2, methods=("__sub__",), reflected=("__rsub__",), broadcasts=True)


# -- mul: out = a * b -------------------------------------------------------------------------


def _mul_a(g, out, ctx, a, b):
    return g * b


def _mul_b(g, out, ctx, a, b):
    return g * a


def mul(a: Any, b: Any) -> Tensor:
    """``a * b`` with broadcasting."""
    return _binary("mul", a, b, _np_mul, (_mul_a, _mul_b))


register("tensor", "mul", mul, (_mul_a, _mul_b),
         ("{a}.grad += {out}.grad * {b}.value", "{b}.grad += {out}.grad * {a}.value"),
         arity=2, methods=("__mul__",), reflected=("__rmul__",), broadcasts=True)


# -- div: out = a / b -------------------------------------------------------------------------


def _div_a(g, out, ctx, a, b):
    return g / b


def _div_b(g, out, ctx, a, b):
    return -g * out / b


def div(a: Any, b: Any) -> Tensor:
    """``a / b`` with broadcasting."""
    return _binary("div", a, b, _np_div, (_div_a, _div_b))


register("tensor", "div", div, (_div_a, _div_b),
         ("{a}.grad += {out}.grad / {b}.value",
          "{b}.grad += -{out}.grad * {out}.value / {b}.value"),
         arity=2, methods=("__truediv__",), reflected=("__rtruediv__",), broadcasts=True,
         domain="b != 0", defined=lambda a, b: b != 0, safe=lambda a, b: abs(b) > 0.1)


# -- neg: out = -a ----------------------------------------------------------------------------


def _neg_rule(g, out, ctx, a):
    return -g


def neg(x: Any) -> Tensor:
    """``-x``."""
    x = as_tensor(x)
    return make_node(-x.value, (x,), "neg", (_neg_rule,))


register("tensor", "neg", neg, (_neg_rule,), ("{a}.grad += -{out}.grad",), methods=("__neg__",))


# -- pow: out = a ** n (a number) or a ** b (a Tensor) ----------------------------------------


def _pow_const_rule(g, out, n, a):
    if n == 0.0:  # x**0 is constant: its slope is 0 everywhere, also at 0 (0 * 0**-1 is nan)
        return g * 0.0
    return g * (n * a ** (n - 1))


def _pow_a(g, out, ctx, a, b):
    return g * b * a ** (b - 1)


def _pow_b(g, out, ctx, a, b):
    return g * out * F.log(a)


def power(base: Any, exponent: Any) -> Tensor:
    """``base ** exponent``; a Tensor exponent uses the log rule (the base must be positive)."""
    if not isinstance(exponent, Tensor) and isinstance(base, Tensor):
        if not isinstance(exponent, (int, float, np.number)) or isinstance(exponent, bool):
            raise TypeError(f"pow: the exponent of {describe(base)} must be a number or a Tensor")
        n = float(exponent)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = base.value ** n
        return make_node(value, (base,), "pow", (_pow_const_rule,), n)
    if not isinstance(base, Tensor):
        base = lift(base, exponent)
    if exponent.requires_grad and not bool((base.value > 0).all()):
        raise ValueError(
            f"pow: with the exponent {describe(exponent)} the base {describe(base)} must be "
            "positive (the gradient uses log(base))"
        )
    return _binary("pow", base, exponent, lambda x, y: x**y, (_pow_a, _pow_b))


register("tensor", "pow", power, (_pow_a, _pow_b),
         ("{a}.grad += {out}.grad * {b}.value * {a}.value**({b}.value - 1)",
          "{b}.grad += {out}.grad * {out}.value * log({a}.value)"),
         arity=2, methods=("__pow__",), reflected=("__rpow__",), broadcasts=True,
         domain="a > 0 when b is a Tensor", defined=lambda a, b: a > 0,
         safe=lambda a, b: (a > 0.1) & (a < 20) & (abs(b) < 4))
register("tensor", "pow_const", None, (_pow_const_rule,),
         ("{a}.grad += {out}.grad * {n} * {a}.value**({n} - 1)",), op="pow")
