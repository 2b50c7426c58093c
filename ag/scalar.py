"""``ag.Scalar``: the micrograd-style engine on Python floats.

>>> import ag
>>> x = ag.Scalar(2.0, label="x")
>>> y = ag.Scalar(3.0, label="y")
>>> z = ag.log(ag.exp(x * y))
>>> z.backward()
>>> x.grad, y.grad
(3.0, 2.0)

Semantics of the backward pass (the course's, made exact):

* ``backward()`` seeds the output's grad with 1.0 and runs each node's ``_backward``
  in reverse topological order; ``_backward`` *adds* (``+=``) to its inputs' grads.
* Leaves accumulate across calls: calling ``backward()`` twice doubles every leaf's
  grad. Interior nodes are reset at the start of each call, so they always show
  this pass's gradient (the course's code would re-add stale interior grads).
* ``zero_grad()`` sets every grad in the graph back to 0.0.
* Inside ``ag.no_grad()`` an op records no inputs (its result is a constant).

The rule protocol is Tensor's (``ag.ops.api``): each op below is defined once, as
its forward function, one backward rule per input ``rule(g, out, ctx, a, b)`` that
*returns* that input's gradient (``g`` is the node's grad, ``out``, ``a``, ``b`` the
values, ``ctx`` what the forward kept, e.g. an exponent), and the rule text, side by
side, registered with :func:`ag.register` (an op of your own is written the same
way: :func:`make_node` and ``ag.register("scalar", ...)``). :meth:`Scalar._backward`
accumulates. The rules are module-level functions, not closures over the output node, so a graph
has no reference cycles and is freed by reference counting the moment the last
name for it goes away.
"""

from __future__ import annotations

import math
from itertools import count
from numbers import Real
from typing import Any

from ag import registry
from ag.autodiff import grad_mode, node_name, run_backward, topological_sort
from ag.functions import logistic
from ag.registry import register

_creation_counter = count(1)
_new = object.__new__


def _describe(node: Scalar) -> str:
    return f"Scalar {node_name(node)!r} (value={node.value!r})"


class Scalar:
    """A float node of a computation graph.

    ``Scalar(value, inputs=(), op="", label="")`` as in the course code; operators
    ``+ - * / **`` (with numbers or Scalars on either side), unary ``-``, and the
    methods ``exp``, ``log``, ``relu``, ``tanh``, ``sigmoid`` (all from the op
    registry: ``ag.registry.scalar_ops()``).

    >>> x = Scalar(2.0, label="x")
    >>> z = (x * x) * (x * x)
    >>> z.backward(); x.grad
    32.0
    """

    __slots__ = ("value", "grad", "inputs", "op", "label", "_rules", "_ctx", "_id")

    def __init__(
        self, value: float, inputs: tuple | list = (), op: str = "", label: str = ""
    ) -> None:
        if type(value) is not float:
            value = _to_float(value, op or "Scalar", label)
        self.value = value
        self.grad = 0.0
        self.inputs = tuple(inputs)
        self.op = op
        self.label = label
        self._rules = None
        self._ctx = None
        self._id = next(_creation_counter)

    # -- the backward pass -------------------------------------------------
    def topological_sort(self) -> list[Scalar]:
        """Every node this one depends on, each after its inputs (exam order)."""
        return topological_sort(self)

    def backward(self) -> None:
        """Seed this node's grad with 1.0 and backpropagate (leaves accumulate)."""
        if not math.isfinite(self.value):
            raise ValueError(
                f"backward: cannot backpropagate from {_describe(self)}: its value is "
                "not finite"
            )
        run_backward(self, 1.0, 0.0)

    def zero_grad(self) -> None:
        """Set the grad of every node in this graph to 0.0."""
        for node in topological_sort(self):
            node.grad = 0.0

    def _backward(self) -> None:
        # The core's half of the protocol: each rule returns its input's gradient and
        # it is added here, left operand first (x * x adds twice, as the exam expects).
        rules = self._rules
        if rules is None:
            return
        g = self.grad
        inputs = self.inputs
        if len(inputs) == 2:
            a, b = inputs
            av, bv = a.value, b.value
            a.grad += rules[0](g, self.value, self._ctx, av, bv)
            b.grad += rules[1](g, self.value, self._ctx, av, bv)
        elif len(inputs) == 1:
            a = inputs[0]
            a.grad += rules[0](g, self.value, self._ctx, a.value)
        else:  # a registered op of three or more inputs
            values = [x.value for x in inputs]
            for x, rule in zip(inputs, rules):
                x.grad += rule(g, self.value, self._ctx, *values)

    def backward_rule(self) -> tuple[str, ...]:
        """This node's backward rule as text, one template per input (see ``rule_templates``)."""
        return rule_templates(self)

    # -- display --------------------------------------------------------------------
    def __repr__(self) -> str:
        name = f", label={self.label!r}" if self.label else ""
        op = f", op={self.op!r}" if self.op else ""
        return f"Scalar(value={self.value!r}, grad={self.grad!r}{op}{name})"

    def __float__(self) -> float:
        return self.value


registry.define_engine("scalar", Scalar)


def scalar(value: float, label: str = "") -> Scalar:
    """A leaf Scalar, as the course writes it: ``ag.scalar(2.0, label="x")``."""
    return Scalar(value, label=label)


def _to_float(value: Any, op: str, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        where = f" for {label!r}" if label else ""
        raise TypeError(
            f"{op}: a Scalar's value must be a real number{where}, got "
            f"{type(value).__name__} {value!r}"
        )
    return float(value)


def _lift(other: Any, op: str, node: Scalar) -> Scalar:
    """Wrap a plain number as a constant leaf; refuse anything else clearly."""
    if isinstance(other, Scalar):
        return other
    if isinstance(other, Real) and not isinstance(other, bool):
        return Scalar(float(other))
    if hasattr(other, "_backward") and hasattr(other, "shape"):  # an ag.Tensor
        raise TypeError(
            f"{op}: cannot combine {_describe(node)} with an ag.Tensor of shape "
            f"{tuple(other.shape)}: the two engines do not mix. Use the Scalar's .value (a "
            "float) as a constant, or build the whole expression from Tensors"
        )
    raise TypeError(
        f"{op}: cannot combine {_describe(node)} with {type(other).__name__} {other!r}; "
        "use a number or a Scalar"
    )


def make_node(value: float, inputs: tuple, op: str, rules: tuple, ctx: Any = None) -> Scalar:
    """The output node of a Scalar op: ``value``, its ``inputs`` and one rule per input.

    The op-author API of the Scalar engine (Tensor's is ``ag.ops.api.make_node``, with
    the same arguments). It records its inputs and rules only while grad mode is on;
    ``ctx`` is handed to every rule (whatever the forward kept, e.g. an exponent).

    >>> x = Scalar(3.0)
    >>> y = make_node(2.0 * x.value, (x,), "double", (lambda g, out, ctx, a: 2.0 * g,))
    >>> y.backward(); x.grad
    2.0
    """
    out = _new(Scalar)
    out.value = value
    out.grad = 0.0
    out.op = op
    out.label = ""
    out._ctx = ctx
    out._id = next(_creation_counter)
    if grad_mode.enabled:
        out.inputs = inputs
        out._rules = rules
    else:
        out.inputs = ()
        out._rules = None
    return out


def _pair(a: Any, b: Any, op: str) -> tuple[Scalar, Scalar]:
    """The two operands of a binary op as Scalars (a number on either side is lifted)."""
    if type(a) is not Scalar:
        a = _lift(a, op, b)
    if type(b) is not Scalar:
        b = _lift(b, op, a)
    return a, b


# -- the op set: forward, rules, text, side by side ----------------------------------------
# Placeholders in the text: {a} and {b} are the inputs, {out} the node, {n} a number
# exponent. Rules get the values: g (out's grad), out, ctx, then the inputs'.


# add: out = a + b
def _add_a(g, out, ctx, a, b):
    return g


def _add_b(g, out, ctx, a, b):
    return g


def add(a: Scalar, b: Any) -> Scalar:
    """``a + b``."""
    a, b = _pair(a, b, "add")
    return make_node(a.value + b.value, (a, b), "add", _ADD)


_ADD = (_add_a, _add_b)
register("scalar", "add", add, _ADD, ("{a}.grad += {out}.grad", "{b}.grad += {out}.grad"),
         code="{a} + {b}", methods=("__add__",), reflected=("__radd__",))


# sub: out = a - b
def _sub_b(g, out, ctx, a, b):
    return -g


def sub(a: Scalar, b: Any) -> Scalar:
    """``a - b``."""
    a, b = _pair(a, b, "sub")
    return make_node(a.value - b.value, (a, b), "sub", _SUB)


_SUB = (_add_a, _sub_b)
register("scalar", "sub", sub, _SUB, ("{a}.grad += {out}.grad", "{b}.grad += -{out}.grad"),
         code="{a} - {b}", methods=("__sub__",), reflected=("__rsub__",))


# mul: out = a * b
def _mul_a(g, out, ctx, a, b):
    return b * g


def _mul_b(g, out, ctx, a, b):
    return a * g


def mul(a: Scalar, b: Any) -> Scalar:
    """``a * b``."""
    a, b = _pair(a, b, "mul")
    return make_node(a.value * b.value, (a, b), "mul", _MUL)


_MUL = (_mul_a, _mul_b)
register("scalar", "mul", mul, _MUL,
         ("{a}.grad += {b}.value * {out}.grad", "{b}.grad += {a}.value * {out}.grad"),
         code="{a} * {b}", methods=("__mul__",), reflected=("__rmul__",))


# div: out = a / b
def _div_a(g, out, ctx, a, b):
    return g / b


def _div_b(g, out, ctx, a, b):
    # -a / b**2 as -(a / b) / b, the Tensor rule's form: b * b would underflow (to 0, a
    # ZeroDivisionError, or to a subnormal that loses digits) for |b| < 1e-154
    return -g * out / b


def div(a: Scalar, b: Any) -> Scalar:
    """``a / b``; dividing by zero is an error naming both nodes."""
    a, b = _pair(a, b, "div")
    if b.value == 0.0:
        raise ZeroDivisionError(f"div: {_describe(a)} divided by {_describe(b)}, which is zero")
    return make_node(a.value / b.value, (a, b), "div", _DIV)


_DIV = (_div_a, _div_b)
register("scalar", "div", div, _DIV,
         ("{a}.grad += {out}.grad / {b}.value",
          "{b}.grad += -{a}.value / {b}.value**2 * {out}.grad"),
         code="{a} / {b}", methods=("__truediv__",), reflected=("__rtruediv__",),
         domain="b != 0", defined=lambda a, b: b != 0.0, safe=lambda a, b: abs(b) > 0.1)


# pow: out = a ** n (a number n, kept in ctx) or a ** b (a Scalar b)
def _infinite_power(base: float, exponent: float) -> float:
    """``base ** exponent`` where Python raises instead of returning an infinity."""
    odd = exponent == int(exponent) and int(exponent) % 2 == 1
    return -math.inf if odd and math.copysign(1.0, base) < 0 else math.inf


def _pow_const_rule(g, out, n, a):
    if n == 0.0:  # x**0 is constant: slope 0 everywhere, also at x = 0
        return 0.0
    try:
        slope = n * a ** (n - 1.0)
    except (ZeroDivisionError, OverflowError):  # 0.0 ** negative, or too big: inf, as torch
        slope = n * _infinite_power(a, n - 1.0)
    return slope * g


def _pow_a(g, out, ctx, a, b):
    try:
        power = a ** (b - 1.0)
    except (ZeroDivisionError, OverflowError):
        power = _infinite_power(a, b - 1.0)
    return b * power * g


def _pow_b(g, out, ctx, a, b):
    return out * math.log(a) * g


def power(base: Any, exponent: Any) -> Scalar:
    """``base ** exponent``: a number exponent, or a Scalar one (then the base must be > 0)."""
    if isinstance(exponent, Scalar):
        base = _lift(base, "pow", exponent)
        # d/db a**b = a**b * log(a) needs log(a): the base must be positive.
        if not base.value > 0.0:
            raise ValueError(
                f"pow: with a Scalar exponent {_describe(exponent)} the base {_describe(base)} "
                "must be positive (the gradient uses log(base))"
            )
        try:
            value = base.value**exponent.value
        except OverflowError:
            raise OverflowError(
                f"pow: {_describe(base)} raised to {_describe(exponent)} overflows a float"
            ) from None
        return make_node(value, (base, exponent), "pow", _POW)
    if not isinstance(exponent, Real) or isinstance(exponent, bool):
        raise TypeError(
            f"pow: the exponent of {_describe(base)} must be a number or a Scalar, "
            f"not {type(exponent).__name__}"
        )
    n = float(exponent)
    try:
        value = base.value**n
    except ZeroDivisionError:
        raise ZeroDivisionError(f"pow: {_describe(base)} raised to the negative power {n!r}") from None
    except OverflowError:
        raise OverflowError(
            f"pow: {_describe(base)} raised to the power {n!r} overflows a float (the result "
            "is beyond 1.8e308); rescale the input or work with logs"
        ) from None
    if isinstance(value, complex):
        raise ValueError(f"pow: {_describe(base)} raised to the non-integer power {n!r} is not real")
    return make_node(value, (base,), "pow", _POW_CONST, n)


_POW = (_pow_a, _pow_b)
_POW_CONST = (_pow_const_rule,)
register("scalar", "pow", power, _POW,
         ("{a}.grad += {b}.value * {a}.value**({b}.value - 1) * {out}.grad",
          "{b}.grad += {out}.value * log({a}.value) * {out}.grad"),
         code="{a} ** {b}", methods=("__pow__",), reflected=("__rpow__",), domain="a > 0",
         defined=lambda a, b: a > 0.0, safe=lambda a, b: 0.1 < a < 20 and abs(b) < 4,
         exam=False)  # the exam's pow is the square, below
register("scalar", "pow_const", power, _POW_CONST, ("{a}.grad += {n} * {a}.value**({n} - 1) * {out}.grad",),
         code="{a} ** {n}", op="pow", domain="a != 0 when n < 0; a >= 0 when n is not an integer",
         defined=lambda a, n: (a != 0.0 or n >= 0) and (a >= 0.0 or n == int(n)),
         safe=lambda a, n: 0.1 < abs(a) < 20, n=2.0)


# neg: out = -a
def _neg_rule(g, out, ctx, a):
    return -g


def neg(a: Scalar) -> Scalar:
    """``-a``."""
    return make_node(-a.value, (a,), "neg", _NEG)


_NEG = (_neg_rule,)
register("scalar", "neg", neg, _NEG, ("{a}.grad += -{out}.grad",), code="-{a}", methods=("__neg__",))


# exp: out = e ** a
def _exp_rule(g, out, ctx, a):
    return out * g


def exp(a: Scalar) -> Scalar:
    """``e ** a``; an overflow is an error naming the node."""
    try:
        value = math.exp(a.value)
    except OverflowError:
        raise OverflowError(f"exp: exp of {_describe(a)} overflows a float") from None
    return make_node(value, (a,), "exp", _EXP)


_EXP = (_exp_rule,)
register("scalar", "exp", exp, _EXP, ("{a}.grad += {out}.value * {out}.grad",), code="ag.exp({a})",
         methods=("exp",), domain="a < 709.78 (else the float overflows)",
         defined=lambda a: a < 709.78, safe=lambda a: a < 10.0)


# log: out = ln a
def _log_rule(g, out, ctx, a):
    return g / a


def log(a: Scalar) -> Scalar:
    """``ln a``; the input must be positive."""
    if not a.value > 0.0:
        why = "is NaN" if a.value != a.value else "must be positive"
        raise ValueError(f"log: the input {_describe(a)} {why}")
    return make_node(math.log(a.value), (a,), "log", _LOG)


_LOG = (_log_rule,)
register("scalar", "log", log, _LOG, ("{a}.grad += {out}.grad / {a}.value",), code="ag.log({a})",
         methods=("log",), domain="a > 0", defined=lambda a: a > 0.0, safe=lambda a: a > 0.1)


# relu: out = max(a, 0)
def _relu_rule(g, out, ctx, a):
    return g if out > 0.0 else 0.0


def relu(a: Scalar) -> Scalar:
    """``max(a, 0)`` (slope 0 at 0)."""
    v = a.value
    return make_node(v if v > 0.0 else 0.0, (a,), "relu", _RELU)


_RELU = (_relu_rule,)
register("scalar", "relu", relu, _RELU, ("{a}.grad += ({out}.value > 0) * {out}.grad",),
         code="ag.relu({a})", methods=("relu",), kinks=(0.0,))


# tanh: out = tanh a
def _tanh_rule(g, out, ctx, a):
    return (1.0 - out * out) * g


def tanh(a: Scalar) -> Scalar:
    """``tanh a``."""
    return make_node(math.tanh(a.value), (a,), "tanh", _TANH)


_TANH = (_tanh_rule,)
register("scalar", "tanh", tanh, _TANH, ("{a}.grad += (1 - {out}.value**2) * {out}.grad",),
         code="ag.tanh({a})", methods=("tanh",))


# sigmoid: out = 1 / (1 + e ** -a)
def _sigmoid_rule(g, out, ctx, a):
    return out * (1.0 - out) * g


def sigmoid(a: Scalar) -> Scalar:
    """``1 / (1 + e ** -a)``, stable for large ``|a|``."""
    return make_node(logistic(a.value), (a,), "sigmoid", _SIGMOID)


_SIGMOID = (_sigmoid_rule,)
register("scalar", "sigmoid", sigmoid, _SIGMOID,
         ("{a}.grad += {out}.value * (1 - {out}.value) * {out}.grad",),
         code="ag.sigmoid({a})", methods=("sigmoid",))


def rule_templates(node: Scalar) -> tuple[str, ...]:
    """The text of ``node``'s backward rule, one template per input (empty for a leaf).

    >>> x = Scalar(3.0, label="x")
    >>> rule_templates(x * 2.0)[0]
    '{a}.grad += {b}.value * {out}.grad'
    """
    return registry.rule_templates("scalar", node)
