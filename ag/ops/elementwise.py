"""Elementwise functions: exp, log, sqrt, abs, relu, tanh, sigmoid, maximum, minimum,
where, clip.
"""

from __future__ import annotations

from typing import Any

from ag.functions import logistic
from ag.ops.api import (
    Tensor,
    array_module_of,
    as_tensor,
    check_devices,
    describe,
    describe_operands,
    leaf,
    lift_pair,
    make_node,
    register,
    value_of,
)


def _exp_rule(g, out, ctx, a):
    return g * out


def exp(x: Any) -> Tensor:
    """Elementwise ``e**x``."""
    x = as_tensor(x)
    return make_node(array_module_of(x.value).exp(x.value), (x,), "exp", (_exp_rule,))


register("tensor", "exp", exp, (_exp_rule,), ("{a}.grad += {out}.grad * {out}.value",), methods=("exp",))


def _log_rule(g, out, ctx, a):
    return g / a


def log(x: Any) -> Tensor:
    """Elementwise natural log; an input with a non-positive element is an error."""
    x = as_tensor(x)
    xp = array_module_of(x.value)
    if not bool((x.value > 0).all()):
        raise ValueError(f"log: the input {describe(x)} has {_bad_elements(x.value, 'non-positive')}")
    return make_node(xp.log(x.value), (x,), "log", (_log_rule,))


register("tensor", "log", log, (_log_rule,), ("{a}.grad += {out}.grad / {a}.value",), methods=("log",),
         domain="x > 0", defined=lambda a: a > 0, safe=lambda a: a > 0.1)


def _sqrt_rule(g, out, ctx, a):
    return g / (2.0 * out)


def sqrt(x: Any) -> Tensor:
    """Elementwise square root; a negative element is an error."""
    x = as_tensor(x)
    xp = array_module_of(x.value)
    if not bool((x.value >= 0).all()):
        raise ValueError(f"sqrt: the input {describe(x)} has {_bad_elements(x.value, 'negative')}")
    return make_node(xp.sqrt(x.value), (x,), "sqrt", (_sqrt_rule,))


def _bad_elements(v: Any, what: str) -> str:
    """'NaN elements (the first at index (1,)) ...' or '<what> elements (the first, -2.0, ...)'."""
    xp = array_module_of(v)
    nan = xp.isnan(v)
    if bool(nan.any()):
        where = tuple(int(i) for i in xp.argwhere(nan)[0])
        return f"NaN elements (the first at index {where}): a NaN came from an earlier step"
    bad = ~(v > 0) if what == "non-positive" else v < 0
    where = tuple(int(i) for i in xp.argwhere(bad)[0])
    return f"{what} elements (the first, {float(v[where])!r}, at index {where})"


register("tensor", "sqrt", sqrt, (_sqrt_rule,), ("{a}.grad += {out}.grad / (2 * {out}.value)",),
         methods=("sqrt",), domain="x >= 0", defined=lambda a: a >= 0, safe=lambda a: a > 0.1)


def _abs_rule(g, out, ctx, a):
    return g * array_module_of(ctx).sign(ctx)


def absolute(x: Any) -> Tensor:
    """Elementwise ``|x|`` (gradient sign(x), 0 at 0)."""
    x = as_tensor(x)
    return make_node(abs(x.value), (x,), "abs", (_abs_rule,), x.value)


register("tensor", "abs", absolute, (_abs_rule,), ("{a}.grad += {out}.grad * sign({a}.value)",),
         methods=("abs", "__abs__"), kinks=(0.0,))


def _relu_rule(g, out, mask, a):
    # the mask is boolean; a Tensor gradient (create_graph) needs it in its dtype
    return g * mask.astype(g.dtype) if isinstance(g, Tensor) else g * mask


def relu(x: Any) -> Tensor:
    """Elementwise ``max(x, 0)`` (gradient 1 where x > 0, else 0)."""
    x = as_tensor(x)
    v = x.value
    return make_node(array_module_of(v).maximum(v, 0), (x,), "relu", (_relu_rule,), v > 0)


register("tensor", "relu", relu, (_relu_rule,), ("{a}.grad += {out}.grad * ({a}.value > 0)",),
         methods=("relu",), kinks=(0.0,))


def _tanh_rule(g, out, ctx, a):
    return g * (1.0 - out * out)


def tanh(x: Any) -> Tensor:
    """Elementwise hyperbolic tangent."""
    x = as_tensor(x)
    return make_node(array_module_of(x.value).tanh(x.value), (x,), "tanh", (_tanh_rule,))


register("tensor", "tanh", tanh, (_tanh_rule,), ("{a}.grad += {out}.grad * (1 - {out}.value**2)",),
         methods=("tanh",))


def _sigmoid_rule(g, out, ctx, a):
    return g * out * (1.0 - out)


def sigmoid(x: Any) -> Tensor:
    """Elementwise logistic function, stable for large ``|x|``."""
    x = as_tensor(x)
    return make_node(logistic(x.value), (x,), "sigmoid", (_sigmoid_rule,))


register("tensor", "sigmoid", sigmoid, (_sigmoid_rule,),
         ("{a}.grad += {out}.grad * {out}.value * (1 - {out}.value)",), methods=("sigmoid",))


def _mask_a(g, out, mask, a, b):
    return g * mask


def _mask_b(g, out, mask, a, b):
    return g * (1 - mask)


def _pick(op: str, a: Any, b: Any) -> Tensor:
    # maximum and minimum: the mask says where a wins (ties go to a), the rules route by it
    a, b = lift_pair(a, b, op)
    try:
        mask = a.value >= b.value if op == "maximum" else a.value <= b.value
    except ValueError as err:
        raise ValueError(f"{describe_operands(op, a, b)}: shapes do not broadcast ({err})") from None
    value = getattr(array_module_of(a.value), op)(a.value, b.value)
    return make_node(value, (a, b), op, (_mask_a, _mask_b), mask.astype(a.value.dtype))


def _apart(a: Any, b: Any) -> Any:
    # a tie is a kink (the gradient goes to a): tools draw inputs away from ties
    return abs(a - b) > 0.1


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum; at ties the gradient goes to ``a``."""
    return _pick("maximum", a, b)


register("tensor", "maximum", maximum, (_mask_a, _mask_b),
         ("{a}.grad += {out}.grad * ({a}.value >= {b}.value)",
          "{b}.grad += {out}.grad * ({a}.value < {b}.value)"), arity=2, broadcasts=True,
         safe=_apart)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum; at ties the gradient goes to ``a``."""
    return _pick("minimum", a, b)


register("tensor", "minimum", minimum, (_mask_a, _mask_b),
         ("{a}.grad += {out}.grad * ({a}.value <= {b}.value)",
          "{b}.grad += {out}.grad * ({a}.value > {b}.value)"), arity=2, broadcasts=True,
         safe=_apart)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``condition`` holds, else ``b`` (the condition is not differentiated)."""
    a, b = lift_pair(a, b, "where")
    xp = array_module_of(a.value)
    cond = value_of(condition)
    if hasattr(cond, "dtype") and type(cond) is not type(a.value):
        mask = leaf(cond, False)
        mask.label = "condition"
        check_devices("where", mask, a)  # a mask on another device is not moved silently
    cond = xp.asarray(cond).astype(bool)
    try:
        value = xp.where(cond, a.value, b.value)
    except ValueError as err:
        raise ValueError(f"{describe_operands('where', a, b)}: shapes do not broadcast ({err})") from None
    return make_node(value, (a, b), "where", (_mask_a, _mask_b), cond.astype(a.value.dtype))


register("tensor", "where", where, (_mask_a, _mask_b),
         ("{a}.grad += {out}.grad * cond", "{b}.grad += {out}.grad * (1 - cond)"), arity=2, broadcasts=True)


def _clip_rule(g, out, mask, a):
    return g * mask


def clip(x: Tensor, low: Any = None, high: Any = None) -> Tensor:
    """Values limited to ``[low, high]``; the gradient is 0 where a limit applies."""
    x = as_tensor(x)
    v = x.value
    xp = array_module_of(v)
    for name, bound in (("low", low), ("high", high)):
        if isinstance(bound, Tensor):  # a bound has no gradient here: say so, do not guess
            raise TypeError(
                f"clip: the {name} bound {describe(bound)} of {describe(x)} is a Tensor; bounds "
                f"are constants: pass a number or an array ({name}=t.value), or use "
                "ag.maximum/ag.minimum to differentiate through a bound"
            )
    mask = xp.ones(v.shape, dtype=bool)
    if low is not None:
        mask &= v >= low
    if high is not None:
        mask &= v <= high
    return make_node(xp.clip(v, low, high), (x,), "clip", (_clip_rule,), mask.astype(v.dtype))


register("tensor", "clip", clip, (_clip_rule,), ("{a}.grad += {out}.grad * (low <= {a}.value <= high)",),
         methods=("clip",))
