"""Arithmetic with broadcasting: ``+ - * / **`` and negation.

Part of the Tensor engine: each op computes its value and makes a node with one
backward rule per input (see ``ag.tensor``). Import ops from ``ag`` or ``ag.tensor``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ag import functions as F
from ag.tensor import (
    Tensor,
    _describe,
    _lift,
    _node,
    _operands,
    _pair,
)


def _binary(op: str, a: Any, b: Any, compute: Any, rules: tuple, ctx: Any = None) -> Tensor:
    a, b = _pair(a, b, op)
    try:
        value = compute(a.value, b.value)
    except ValueError as err:
        raise ValueError(f"{_operands(op, a, b)}: shapes do not broadcast ({err})") from None
    return _node(value, (a, b), op, rules, ctx)


def _add_a(g, out, ctx, a, b):
    return g


def _sub_b(g, out, ctx, a, b):
    return -g


def _mul_a(g, out, ctx, a, b):
    return g * b


def _mul_b(g, out, ctx, a, b):
    return g * a


def _div_a(g, out, ctx, a, b):
    return g / b


def _div_b(g, out, ctx, a, b):
    return -g * out / b


def _neg_rule(g, out, ctx, a):
    return -g


def add(a: Any, b: Any) -> Tensor:
    """``a + b`` with broadcasting."""
    return _binary("add", a, b, _np_add, (_add_a, _add_a))


def sub(a: Any, b: Any) -> Tensor:
    """``a - b`` with broadcasting."""
    return _binary("sub", a, b, _np_sub, (_add_a, _sub_b))


def mul(a: Any, b: Any) -> Tensor:
    """``a * b`` with broadcasting."""
    return _binary("mul", a, b, _np_mul, (_mul_a, _mul_b))


def div(a: Any, b: Any) -> Tensor:
    """``a / b`` with broadcasting."""
    return _binary("div", a, b, _np_div, (_div_a, _div_b))


def _np_add(x, y):
    return x + y


def _np_sub(x, y):
    return x - y


def _np_mul(x, y):
    return x * y


def _np_div(x, y):
    return x / y


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
            raise TypeError(f"pow: the exponent of {_describe(base)} must be a number or a Tensor")
        n = float(exponent)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = base.value ** n
        return _node(value, (base,), "pow", (_pow_const_rule,), n)
    if not isinstance(base, Tensor):
        base = _lift(base, exponent)
    if exponent.requires_grad and not bool((base.value > 0).all()):
        raise ValueError(
            f"pow: with the exponent {_describe(exponent)} the base {_describe(base)} must be "
            "positive (the gradient uses log(base))"
        )
    return _binary("pow", base, exponent, lambda x, y: x**y, (_pow_a, _pow_b))
