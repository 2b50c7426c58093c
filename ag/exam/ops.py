"""The Scalar ops an exam problem is drawn from: how each is written and differentiated.

The op set is read from the op registry (:func:`ag.registry.scalar_ops`): each
:class:`ExamOp` is a registered Scalar op with its arity, its line of forward code,
its value, its local derivatives (what the registered backward rule multiplies the
output's grad by), its domain (``log`` of a positive number only) and its kinks
(``relu`` at 0). The generator never places an op off its domain or on a kink, so
every key is a true derivative.

>>> OPS["mul"].code("z1", "z2"), OPS["mul"].value(3.0, 4.0), OPS["mul"].partials(3.0, 4.0)
('z1*z2', 12.0, (4.0, 3.0))
>>> OPS["relu"].kink(0.0), OPS["relu"].kink(-1.0)
(True, False)
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, NamedTuple

__all__ = ["ExamOp", "OPS", "DEFAULT_OPS", "KINKED_OPS"]


def _never(*_: float) -> bool:
    return False


def _always(*_: float) -> bool:
    return True


class ExamOp(NamedTuple):
    """One op as the exam writes it (``template``) and as the generator checks it."""

    name: str
    arity: int
    template: str
    value: Callable[..., float]
    partials: Callable[..., tuple[float, ...]]
    domain: Callable[..., bool] = _always
    kink: Callable[..., bool] = _never

    def code(self, *args: str) -> str:
        """The right-hand side of this op's line of forward code."""
        return self.template.format(*args)


def _exam_op(name: str, opdef: Any, n: float | None) -> ExamOp:
    """An :class:`ExamOp` that computes with the registered op itself.

    The value comes from the op's forward function, the local derivatives from its
    registered backward rules (called with an output grad of 1), the domain and kinks
    from what the op registered, the line of code from its registered source.
    """
    from ag.scalar import Scalar

    extra = () if n is None else (n,)

    @lru_cache(maxsize=8192)  # the generator asks about the same few numbers many times
    def value(*xs: float) -> float:
        return opdef.function(*(Scalar(x) for x in xs), *extra).value

    @lru_cache(maxsize=8192)
    def partials(*xs: float) -> tuple[float, ...]:
        out = value(*xs)
        ctx = n
        return tuple(rule(1.0, out, ctx, *xs) for rule in opdef.rules)

    defined = opdef.defined
    domain = (lambda *xs: bool(defined(*xs, *extra))) if defined is not None else _always
    kinks = tuple(opdef.kinks)
    kink = (lambda *xs: any(x == k for x in xs for k in kinks)) if kinks else _never
    template = opdef.code.replace(" ", "").replace("{a}", "{0}").replace("{b}", "{1}")
    if n is not None:
        template = template.replace("{n}", format(n, "g"))
    return ExamOp(name, opdef.arity, template, value, partials, domain, kink)


def _ops_from_registry() -> dict[str, ExamOp]:
    """Every Scalar op registered with its ``code`` and ``exam`` left True, by its node's
    op name (the square ``pow_const`` is the exam's ``pow``; its ``n`` is the exponent)."""
    from ag import registry

    ops: dict[str, ExamOp] = {}
    for opdef in registry.scalar_ops().values():
        if opdef.exam and opdef.code and opdef.function is not None and opdef.op not in ops:
            ops[opdef.op] = _exam_op(opdef.op, opdef, opdef.n)
    return ops


#: the Scalar ops of the registry (``ag.registry.scalar_ops()``) as the exam writes them;
#: ``pow`` is the square (``z1**2``), the one power a student squares by hand
OPS: dict[str, ExamOp] = _ops_from_registry()
DEFAULT_OPS = ("mul", "add", "exp", "log", "relu")
#: ops with a point where the derivative does not exist; the generator keeps off it
KINKED_OPS = tuple(name for name, op in OPS.items() if op.kink is not _never)
