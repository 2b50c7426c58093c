"""The Scalar ops an exam problem is drawn from: how each is written and differentiated.

Each :class:`ExamOp` knows its arity, its line of forward code, its value, its local
derivatives (what the backward rule multiplies the output's grad by), its domain
(``log`` of a positive number only) and its kinks (``relu`` at 0): the generator
never places an op off its domain or on a kink, so every key is a true derivative.

>>> OPS["mul"].code("z1", "z2"), OPS["mul"].value(3.0, 4.0), OPS["mul"].partials(3.0, 4.0)
('z1*z2', 12.0, (4.0, 3.0))
>>> OPS["relu"].kink(0.0), OPS["relu"].kink(-1.0)
(True, False)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

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


def _sigmoid(a: float) -> float:
    return 1.0 / (1.0 + math.exp(-a))


OPS: dict[str, ExamOp] = {
    op.name: op
    for op in (
        ExamOp("add", 2, "{0}+{1}", lambda a, b: a + b, lambda a, b: (1.0, 1.0)),
        ExamOp("sub", 2, "{0}-{1}", lambda a, b: a - b, lambda a, b: (1.0, -1.0)),
        ExamOp("mul", 2, "{0}*{1}", lambda a, b: a * b, lambda a, b: (b, a)),
        ExamOp("div", 2, "{0}/{1}", lambda a, b: a / b, lambda a, b: (1.0 / b, -a / (b * b)),
               domain=lambda a, b: b != 0),
        ExamOp("pow", 1, "{0}**2", lambda a: a * a, lambda a: (2.0 * a,)),
        ExamOp("neg", 1, "-{0}", lambda a: -a, lambda a: (-1.0,)),
        ExamOp("exp", 1, "ag.exp({0})", lambda a: math.exp(a), lambda a: (math.exp(a),),
               domain=lambda a: a <= 30),
        ExamOp("log", 1, "ag.log({0})", lambda a: math.log(a), lambda a: (1.0 / a,),
               domain=lambda a: a > 0),
        ExamOp("relu", 1, "ag.relu({0})", lambda a: max(a, 0.0), lambda a: (1.0 if a > 0 else 0.0,),
               kink=lambda a: a == 0),
        ExamOp("tanh", 1, "ag.tanh({0})", math.tanh, lambda a: (1.0 - math.tanh(a) ** 2,)),
        ExamOp("sigmoid", 1, "ag.sigmoid({0})", _sigmoid,
               lambda a: (_sigmoid(a) * (1.0 - _sigmoid(a)),)),
    )
}
DEFAULT_OPS = ("mul", "add", "exp", "log", "relu")
#: ops with a point where the derivative does not exist; the generator keeps off it
KINKED_OPS = tuple(name for name, op in OPS.items() if op.kink is not _never)
