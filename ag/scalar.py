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

Each node's ``_backward`` is a module-level function chosen by its op, not a
closure over the output node, so a graph has no reference cycles and is freed by
reference counting the moment the last name for it goes away.
"""

from __future__ import annotations

import math
from itertools import count
from numbers import Real
from typing import Any

from ag.autodiff import node_name, run_backward, topological_sort

_creation_counter = count(1)


def _describe(node: Scalar) -> str:
    name = node.label or node.op or "leaf"
    return f"Scalar {name!r} (value={node.value!r})"


class Scalar:
    """A float node of a computation graph.

    ``Scalar(value, inputs=(), op="", label="")`` as in the course code; operators
    ``+ - * / **`` (with numbers or Scalars on either side), unary ``-``, and the
    methods ``exp``, ``log``, ``relu``, ``tanh``, ``sigmoid``.

    >>> x = Scalar(2.0, label="x")
    >>> z = (x * x) * (x * x)
    >>> z.backward(); x.grad
    32.0
    """

    __slots__ = ("value", "grad", "inputs", "op", "label", "_rule", "_exponent", "_id")

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
        self._rule = None
        self._exponent = None
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
        rule = self._rule
        if rule is not None:
            rule(self)

    def backward_rule(self) -> tuple[str, ...]:
        """This node's backward rule as text, one template per input (see ``rule_templates``)."""
        return rule_templates(self)

    # -- arithmetic ------------------------------------------------------------
    def __add__(self, other: Any) -> Scalar:
        other = _lift(other, "add", self)
        out = Scalar(self.value + other.value, (self, other), "add")
        out._rule = _add_backward
        return out

    def __radd__(self, other: Any) -> Scalar:
        return _lift(other, "add", self) + self

    def __sub__(self, other: Any) -> Scalar:
        other = _lift(other, "sub", self)
        out = Scalar(self.value - other.value, (self, other), "sub")
        out._rule = _sub_backward
        return out

    def __rsub__(self, other: Any) -> Scalar:
        return _lift(other, "sub", self) - self

    def __mul__(self, other: Any) -> Scalar:
        other = _lift(other, "mul", self)
        out = Scalar(self.value * other.value, (self, other), "mul")
        out._rule = _mul_backward
        return out

    def __rmul__(self, other: Any) -> Scalar:
        return _lift(other, "mul", self) * self

    def __truediv__(self, other: Any) -> Scalar:
        other = _lift(other, "div", self)
        if other.value == 0.0:
            raise ZeroDivisionError(
                f"div: {_describe(self)} divided by {_describe(other)}, which is zero"
            )
        out = Scalar(self.value / other.value, (self, other), "div")
        out._rule = _div_backward
        return out

    def __rtruediv__(self, other: Any) -> Scalar:
        return _lift(other, "div", self) / self

    def __pow__(self, exponent: Any) -> Scalar:
        if isinstance(exponent, Scalar):
            return _pow_scalar(self, exponent)
        if not isinstance(exponent, Real) or isinstance(exponent, bool):
            raise TypeError(
                f"pow: the exponent of {_describe(self)} must be a number or a Scalar, "
                f"not {type(exponent).__name__}"
            )
        n = float(exponent)
        try:
            value = self.value**n
        except ZeroDivisionError:
            raise ZeroDivisionError(
                f"pow: {_describe(self)} raised to the negative power {n!r}"
            ) from None
        except OverflowError:
            raise OverflowError(
                f"pow: {_describe(self)} raised to the power {n!r} overflows a float "
                "(the result is beyond 1.8e308); rescale the input or work with logs"
            ) from None
        if isinstance(value, complex):
            raise ValueError(
                f"pow: {_describe(self)} raised to the non-integer power {n!r} is not real"
            )
        out = Scalar(value, (self,), "pow")
        out._exponent = n
        out._rule = _pow_backward
        return out

    def __rpow__(self, base: Any) -> Scalar:
        return _pow_scalar(_lift(base, "pow", self), self)

    def __neg__(self) -> Scalar:
        out = Scalar(-self.value, (self,), "neg")
        out._rule = _neg_backward
        return out

    # -- elementwise functions ----------------------------------------------------
    def exp(self) -> Scalar:
        try:
            value = math.exp(self.value)
        except OverflowError:
            raise OverflowError(f"exp: exp of {_describe(self)} overflows a float") from None
        out = Scalar(value, (self,), "exp")
        out._rule = _exp_backward
        return out

    def log(self) -> Scalar:
        if not self.value > 0.0:
            why = "is NaN" if self.value != self.value else "must be positive"
            raise ValueError(f"log: the input {_describe(self)} {why}")
        out = Scalar(math.log(self.value), (self,), "log")
        out._rule = _log_backward
        return out

    def relu(self) -> Scalar:
        out = Scalar(self.value if self.value > 0.0 else 0.0, (self,), "relu")
        out._rule = _relu_backward
        return out

    def tanh(self) -> Scalar:
        out = Scalar(math.tanh(self.value), (self,), "tanh")
        out._rule = _tanh_backward
        return out

    def sigmoid(self) -> Scalar:
        v = self.value
        if v >= 0.0:
            s = 1.0 / (1.0 + math.exp(-v))
        else:  # exp(-v) would overflow for very negative v
            e = math.exp(v)
            s = e / (1.0 + e)
        out = Scalar(s, (self,), "sigmoid")
        out._rule = _sigmoid_backward
        return out

    # -- display --------------------------------------------------------------------
    def __repr__(self) -> str:
        name = f", label={self.label!r}" if self.label else ""
        op = f", op={self.op!r}" if self.op else ""
        return f"Scalar(value={self.value!r}, grad={self.grad!r}{op}{name})"

    def __float__(self) -> float:
        return self.value


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


def _pow_scalar(base: Scalar, exponent: Scalar) -> Scalar:
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
    out = Scalar(value, (base, exponent), "pow")
    out._rule = _pow_scalar_backward
    return out


# -- backward rules: one module-level function per op ---------------------------------
# Each reads out.grad and adds to its inputs' grads, exactly as the course's
# closures do, but takes the output node as an argument instead of capturing it.


def _add_backward(out: Scalar) -> None:
    a, b = out.inputs
    a.grad += out.grad
    b.grad += out.grad


def _sub_backward(out: Scalar) -> None:
    a, b = out.inputs
    a.grad += out.grad
    b.grad += -out.grad


def _mul_backward(out: Scalar) -> None:
    a, b = out.inputs
    g = out.grad
    a.grad += b.value * g
    b.grad += a.value * g


def _div_backward(out: Scalar) -> None:
    a, b = out.inputs
    g = out.grad
    a.grad += g / b.value
    # -a / b**2 as -(a / b) / b, the Tensor rule's form: b * b would underflow (to 0, a
    # ZeroDivisionError, or to a subnormal that loses digits) for |b| < 1e-154
    b.grad += -g * out.value / b.value


def _pow_backward(out: Scalar) -> None:
    (a,) = out.inputs
    n = out._exponent
    if n == 0.0:  # x**0 is constant: slope 0 everywhere, also at x = 0
        return
    try:
        slope = n * a.value ** (n - 1.0)
    except (ZeroDivisionError, OverflowError):  # 0.0 ** negative, or too big: inf, as torch
        slope = n * _infinite_power(a.value, n - 1.0)
    a.grad += slope * out.grad


def _infinite_power(base: float, exponent: float) -> float:
    """``base ** exponent`` where Python raises instead of returning an infinity."""
    odd = exponent == int(exponent) and int(exponent) % 2 == 1
    return -math.inf if odd and math.copysign(1.0, base) < 0 else math.inf


def _pow_scalar_backward(out: Scalar) -> None:
    a, b = out.inputs
    g = out.grad
    try:
        power = a.value ** (b.value - 1.0)
    except (ZeroDivisionError, OverflowError):
        power = _infinite_power(a.value, b.value - 1.0)
    a.grad += b.value * power * g
    b.grad += out.value * math.log(a.value) * g


def _neg_backward(out: Scalar) -> None:
    out.inputs[0].grad += -out.grad


def _exp_backward(out: Scalar) -> None:
    out.inputs[0].grad += out.value * out.grad


def _log_backward(out: Scalar) -> None:
    a = out.inputs[0]
    a.grad += out.grad / a.value


def _relu_backward(out: Scalar) -> None:
    if out.value > 0.0:
        out.inputs[0].grad += out.grad


def _tanh_backward(out: Scalar) -> None:
    out.inputs[0].grad += (1.0 - out.value * out.value) * out.grad


def _sigmoid_backward(out: Scalar) -> None:
    out.inputs[0].grad += out.value * (1.0 - out.value) * out.grad


# The same rules as text, one template per input, for traces and answer keys.
# Placeholders: {a} and {b} are the inputs, {out} the node, {n} a number exponent.
BACKWARD_RULES: dict[str, tuple[str, ...]] = {
    "add": ("{a}.grad += {out}.grad", "{b}.grad += {out}.grad"),
    "sub": ("{a}.grad += {out}.grad", "{b}.grad += -{out}.grad"),
    "mul": ("{a}.grad += {b}.value * {out}.grad", "{b}.grad += {a}.value * {out}.grad"),
    "div": (
        "{a}.grad += {out}.grad / {b}.value",
        "{b}.grad += -{a}.value / {b}.value**2 * {out}.grad",
    ),
    "pow": (
        "{a}.grad += {b}.value * {a}.value**({b}.value - 1) * {out}.grad",
        "{b}.grad += {out}.value * log({a}.value) * {out}.grad",
    ),
    "pow_const": ("{a}.grad += {n} * {a}.value**({n} - 1) * {out}.grad",),
    "neg": ("{a}.grad += -{out}.grad",),
    "exp": ("{a}.grad += {out}.value * {out}.grad",),
    "log": ("{a}.grad += {out}.grad / {a}.value",),
    "relu": ("{a}.grad += ({out}.value > 0) * {out}.grad",),
    "tanh": ("{a}.grad += (1 - {out}.value**2) * {out}.grad",),
    "sigmoid": ("{a}.grad += {out}.value * (1 - {out}.value) * {out}.grad",),
}


def rule_templates(node: Scalar) -> tuple[str, ...]:
    """The text of ``node``'s backward rule, one template per input (empty for a leaf)."""
    if not node.inputs:
        return ()
    key = "pow_const" if node.op == "pow" and node._exponent is not None else node.op
    try:
        return BACKWARD_RULES[key]
    except KeyError:
        raise KeyError(f"no backward rule text for op {node.op!r} of {node_name(node)}") from None
