"""Anomaly mode: stop at the first non-finite value or gradient, naming the node.

>>> import ag
>>> x = ag.tensor([0.0, 1.0], label="x")
>>> with ag.detect_anomaly():
...     y = ag.log(x + 0.0) * 0.0        # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ag.autodiff import grad_mode, node_title, observe_backward


def _finite(grad: Any) -> bool:
    if grad is None:
        return True
    if isinstance(grad, float):
        return math.isfinite(grad)
    value = getattr(grad, "value", grad)
    from ag.backend import array_module_of

    return bool(array_module_of(value).isfinite(value).all())


class _AnomalyObserver:
    def begin(self, root: Any, order: list) -> None:
        pass

    def before(self, step: int, node: Any) -> None:
        pass

    def after(self, step: int, node: Any) -> None:
        for k, inp in enumerate(node.inputs):
            if not _finite(inp.grad):
                raise FloatingPointError(
                    f"anomaly: backward iteration {step}, node {node_title(node)} (op {node.op!r}) "
                    f"gave input {k} ({node_title(inp)}) a non-finite gradient"
                )

    def end(self, root: Any) -> None:
        pass


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Raise at the first op whose output, or backward step whose gradient, is not finite.

    It holds for the thread that enters it (as ``torch.autograd.detect_anomaly``).

    The error names the node, its op and its label. Forward checks cover Tensors;
    Scalar ops already raise on overflow, log of non-positive numbers and division by zero.
    """
    previous = grad_mode.detect_anomaly
    grad_mode.detect_anomaly = True
    try:
        with observe_backward(_AnomalyObserver()):
            yield
    finally:
        grad_mode.detect_anomaly = previous
