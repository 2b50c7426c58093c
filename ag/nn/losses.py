"""Loss modules: thin wrappers over :mod:`ag.nn.functional` (same formulas there).

>>> import ag, numpy as np
>>> loss_fn = CrossEntropyLoss()
>>> round(loss_fn(ag.Tensor([[0.0, 0.0]]), np.array([1])).item(), 4)   # log 2
0.6931
"""

from __future__ import annotations

from typing import Any

from ag.nn import functional as F
from ag.nn.module import Module

__all__ = ["MSELoss", "CrossEntropyLoss", "BCEWithLogitsLoss"]


class MSELoss(Module):
    """``mean((pred - target)**2)``; ``reduction`` 'mean' (default), 'sum' or 'none'."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, pred: Any, target: Any) -> Any:
        return F.mse_loss(pred, target, self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(Module):
    """Softmax cross-entropy of logits ``(..., C)`` against integer labels ``(...)``.

    ``loss = logsumexp(z) - z[label]`` per position (stable for any logits); labels
    equal to ``ignore_index`` are skipped; a label outside ``0..C-1`` is an error.
    """

    def __init__(self, reduction: str = "mean", ignore_index: int | None = None) -> None:
        super().__init__()
        self.reduction, self.ignore_index = reduction, ignore_index

    def forward(self, logits: Any, labels: Any) -> Any:
        return F.cross_entropy(logits, labels, self.reduction, self.ignore_index)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, ignore_index={self.ignore_index}"


class BCEWithLogitsLoss(Module):
    """Binary cross-entropy on logits: ``max(z, 0) - z*t + log(1 + exp(-|z|))``."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, logits: Any, targets: Any) -> Any:
        return F.binary_cross_entropy_with_logits(logits, targets, self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"
