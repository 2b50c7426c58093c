"""Optimizers and learning-rate schedules; every update works in place on ``.value``.

An optimizer holds a list of parameters (Tensors) and, per parameter, the state its
rule needs (a momentum buffer, Adam's two averages). ``step()`` reads each
``p.grad`` and changes ``p.value`` **in place**, outside any graph: the update
builds no nodes and allocates no new parameter arrays, so a training loop's memory
stays flat. Parameters whose ``grad`` is ``None`` (no backward reached them) are
skipped.

>>> import numpy as np, ag
>>> from ag.optim import SGD
>>> w = ag.Tensor([1.0, -2.0])
>>> opt = SGD([w], lr=0.1)
>>> (w * w).sum().backward()          # grad = 2 w
>>> opt.step(); w.value
array([ 0.8, -1.6])

Notation in the docstrings: ``g`` is ``p.grad`` at step ``t = 1, 2, ...``, ``lr`` the
learning rate, ``wd`` the weight decay.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import Any

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "LRScheduler",
    "StepLR",
    "CosineLR",
    "LinearWarmup",
    "clip_grad_norm",
]


def _as_param_list(params: Iterable[Any]) -> list:
    """The parameters as a list of Tensors, each once (by identity), refused clearly."""
    params = list(params)
    if not params:
        raise ValueError("optimizer got an empty parameter list (did you pass model.parameters()?)")
    unique: list = []
    seen: set[int] = set()
    for i, p in enumerate(params):
        if type(p).__name__ == "Scalar" and not hasattr(getattr(p, "value", None), "shape"):
            raise TypeError(
                f"optimizer parameter {i} is an ag.Scalar ({getattr(p, 'label', '') or 'unlabelled'}); "
                "the optimizers update ag.Tensors in place. For Scalars write the update by "
                "hand (p.value -= lr * p.grad), or use ag.Tensor parameters"
            )
        if not (hasattr(p, "value") and hasattr(p, "grad") and hasattr(p.value, "shape")):
            raise TypeError(f"optimizer parameters must be ag.Tensors: parameter {i} is a {type(p).__name__}")
        if id(p) in seen:  # torch warns too; stepping it twice would double its learning rate
            warnings.warn(
                f"optimizer parameter {i} ({_param_name(p)}) is listed more than once; it is "
                "updated once per step", UserWarning, stacklevel=3,
            )
            continue
        seen.add(id(p))
        unique.append(p)
    return unique


def _param_name(p: Any) -> str:
    label = getattr(p, "label", "")
    return f"{label!r} {tuple(p.value.shape)}" if label else f"shape {tuple(p.value.shape)}"


def _grad_array(p: Any) -> Any:
    g = p.grad
    return getattr(g, "value", g)  # a create_graph grad is itself a Tensor


def _grad_problem(g: Any, p: Any) -> str:
    """Why ``g`` cannot update ``p`` ('' when it can)."""
    flags = getattr(p.value, "flags", None)
    if flags is not None and not getattr(flags, "writeable", True):
        return ("its value is a read-only array (a memory-mapped file opened with mode 'r', or "
                "an array made read-only), which an update in place cannot change; give the "
                "parameter a writable copy (p.value = p.value.copy())")
    shape = getattr(g, "shape", None)
    if shape is None:
        return f"its grad is a {type(g).__name__}, not an array"
    if tuple(shape) != tuple(p.value.shape):
        return f"its grad has shape {tuple(shape)}"
    if getattr(getattr(g, "dtype", None), "kind", "") not in "fiu":
        return f"its grad has dtype {g.dtype}, not a real number type"
    return ""


class Optimizer:
    """Base class: a parameter list, per-parameter ``state`` and ``zero_grad``.

    Subclasses implement ``_update(p, g, state)``, which changes ``p.value`` in
    place; ``step()`` calls it for each parameter that has a gradient.
    """

    def __init__(self, params: Iterable[Any], lr: float) -> None:
        if lr < 0:
            raise ValueError(f"learning rate must be >= 0, got {lr}")
        self.params = _as_param_list(params)
        self.lr = float(lr)
        self.t = 0  # steps taken
        self.state: dict[int, dict[str, Any]] = {}  # keyed by id(p)

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (``grad = None``) before the next backward."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient.

        Every parameter and gradient is checked first (the value writable, the grad's
        shape, a real number dtype): a bad one raises naming the parameter, and then no
        parameter, no state and not ``t`` has changed.
        """
        work = []
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = _grad_array(p)
            problem = _grad_problem(g, p)
            if problem:
                raise ValueError(
                    f"{type(self).__name__}.step: parameter {i} ({_param_name(p)}): {problem}; "
                    "nothing was updated"
                )
            work.append((p, g))
        self.t += 1
        for p, g in work:
            self._update(p, g, self.state.setdefault(id(p), {}))

    def _update(self, p: Any, g: Any, state: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr}, {len(self.params)} parameters)"


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, Nesterov and weight decay.

    Every convention first adds weight decay to the gradient: ``g <- g + wd * p``.

    ``convention="pytorch"`` (default; the same numbers as ``torch.optim.SGD``)::

        v <- g                          at t = 1
        v <- momentum * v + (1 - dampening) * g      for t > 1
        p <- p - lr * v                              (plain)
        p <- p - lr * (g + momentum * v)             (nesterov=True)

    ``convention="average"`` (the course's exponential average, ``beta = momentum``)::

        u <- beta * u + (1 - beta) * g               with u = 0 before step 1
        u_hat = u / (1 - beta**t)   if bias_correction else u
        p <- p - lr * u_hat                          (plain)
        p <- p - lr * (beta * u_hat + (1 - beta) * g)  (nesterov=True)

    The Nesterov form is the usual rewrite of "take the gradient at the look-ahead
    point ``p - lr * beta * u``" that needs only the gradient at ``p``. Without bias
    correction the first steps are small while ``u`` warms up from zero; with it the
    first step equals plain SGD. ``momentum=0`` is plain SGD, ``p <- p - lr * g``.

    >>> import ag
    >>> w = ag.Tensor([1.0]); opt = SGD([w], lr=0.5, momentum=0.9, convention="average")
    >>> w.grad = w.value * 0 + 1.0; opt.step(); w.value      # u = 0.1, p = 1 - 0.5 * 0.1
    array([0.95])
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.01,
        momentum: float = 0.0,
        *,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        convention: str = "pytorch",
        bias_correction: bool = False,
    ) -> None:
        super().__init__(params, lr)
        if convention not in ("pytorch", "average"):
            raise ValueError(f"SGD convention must be 'pytorch' or 'average', got {convention!r}")
        if not 0.0 <= momentum < 1.0 and convention == "average":
            raise ValueError(f"the average convention needs 0 <= momentum < 1, got {momentum}")
        if momentum < 0:
            raise ValueError(f"momentum must be >= 0, got {momentum}")
        if nesterov and momentum == 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        if bias_correction and convention != "average":
            raise ValueError("bias_correction applies to convention='average' (the exponential average)")
        self.momentum = float(momentum)
        self.dampening = float(dampening)
        self.nesterov = nesterov
        self.weight_decay = float(weight_decay)
        self.convention = convention
        self.bias_correction = bias_correction

    def _update(self, p: Any, g: Any, state: dict[str, Any]) -> None:
        if self.weight_decay:
            g = g + self.weight_decay * p.value
        mu = self.momentum
        if mu == 0:
            p.value -= self.lr * g
            return
        buf = state.get("momentum")
        if self.convention == "pytorch":
            if buf is None:
                buf = state["momentum"] = g.copy()
            else:
                buf *= mu
                buf += (1.0 - self.dampening) * g
            step = g + mu * buf if self.nesterov else buf
        else:
            if buf is None:
                buf = state["momentum"] = g * 0.0
            buf *= mu
            buf += (1.0 - mu) * g
            u = buf / (1.0 - mu**self.t) if self.bias_correction else buf
            step = mu * u + (1.0 - mu) * g if self.nesterov else u
        p.value -= self.lr * step


class Adam(Optimizer):
    """Adam; ``weight_decay`` here is L2 added to the gradient (see :class:`AdamW`).

    ::

        g <- g + wd * p
        m <- beta1 * m + (1 - beta1) * g             with m = v = 0 before step 1
        v <- beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t),  v_hat = v / (1 - beta2**t)   (bias_correction=True)
        p <- p - lr * m_hat / (sqrt(v_hat) + eps)

    >>> import ag
    >>> w = ag.Tensor([1.0]); opt = Adam([w], lr=0.1)
    >>> w.grad = w.value * 0 + 3.0; opt.step(); w.value.round(6)   # first step ~ lr * sign(g)
    array([0.9])
    """

    decoupled = False

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        bias_correction: bool = True,
    ) -> None:
        super().__init__(params, lr)
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"Adam betas must lie in [0, 1), got {betas}")
        self.betas = (float(b1), float(b2))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self.bias_correction = bias_correction

    def _update(self, p: Any, g: Any, state: dict[str, Any]) -> None:
        b1, b2 = self.betas
        if self.weight_decay:
            if self.decoupled:
                p.value *= 1.0 - self.lr * self.weight_decay
            else:
                g = g + self.weight_decay * p.value
        if "m" not in state:
            state["m"] = g * 0.0
            state["v"] = g * 0.0
        m, v = state["m"], state["v"]
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * (g * g)
        if self.bias_correction:
            m_hat = m / (1.0 - b1**self.t)
            denom = (v / (1.0 - b2**self.t)) ** 0.5
        else:
            m_hat, denom = m, v**0.5
        denom += self.eps
        p.value -= self.lr * (m_hat / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``.

    ::

        p <- p * (1 - lr * wd)                       decay first, not through g
        m, v, m_hat, v_hat as in Adam (with the raw g)
        p <- p - lr * m_hat / (sqrt(v_hat) + eps)

    The default ``weight_decay=0.01`` matches PyTorch.

    >>> import ag
    >>> w = ag.Tensor([1.0]); opt = AdamW([w], lr=0.1, weight_decay=0.5)
    >>> w.grad = w.value * 0; opt.step(); w.value      # only the decay moves p
    array([0.95])
    """

    decoupled = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        *,
        bias_correction: bool = True,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, bias_correction=bias_correction)


def clip_grad_norm(params: Iterable[Any], max_norm: float) -> float:
    """Scale all gradients together so their joint L2 norm is at most ``max_norm``.

    Returns the norm before clipping. ``total = sqrt(sum_p |g_p|^2)``; if
    ``total > max_norm`` every ``g_p`` is multiplied by ``max_norm / total``.

    >>> import ag
    >>> w = ag.Tensor([0.0, 0.0]); w.grad = w.value + [3.0, 4.0]
    >>> clip_grad_norm([w], 1.0), w.grad
    (5.0, array([0.6, 0.8]))
    """
    grads = [p for p in params if p.grad is not None]
    total = math.sqrt(sum(float((_grad_array(p) ** 2).sum()) for p in grads))
    if total > max_norm:
        scale = max_norm / (total + 1e-12)
        for p in grads:
            if hasattr(p.grad, "value"):
                p.grad.value *= scale
            else:
                p.grad = p.grad * scale
    return total


class LRScheduler:
    """Sets ``optimizer.lr = base_lr * factor(epoch)`` each time ``step()`` is called.

    Call ``step()`` once per epoch (or per batch: the unit is yours). ``last`` counts
    the calls so far; the factor for call ``k`` is ``factor(k)``, with ``factor(0)``
    applied at construction.
    """

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last = 0
        self.optimizer.lr = self.base_lr * self.factor(0)

    def factor(self, k: int) -> float:  # pragma: no cover
        raise NotImplementedError

    def step(self) -> None:
        self.last += 1
        self.optimizer.lr = self.base_lr * self.factor(self.last)

    def get_lr(self) -> float:
        return self.optimizer.lr


class StepLR(LRScheduler):
    """``lr = base_lr * gamma ** (k // step_size)``: drop by ``gamma`` every ``step_size`` steps.

    >>> import ag
    >>> opt = SGD([ag.Tensor([0.0])], lr=1.0); s = StepLR(opt, step_size=2, gamma=0.1)
    >>> [round(opt.lr, 3) for _ in range(4) if s.step() is None]
    [1.0, 0.1, 0.1, 0.01]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if step_size < 1:
            raise ValueError(f"StepLR step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def factor(self, k: int) -> float:
        return self.gamma ** (k // self.step_size)


class CosineLR(LRScheduler):
    """Cosine decay from ``base_lr`` to ``min_lr`` over ``total`` steps, then flat.

    ``lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * min(k, total) / total)) / 2``

    >>> import ag
    >>> opt = SGD([ag.Tensor([0.0])], lr=1.0); s = CosineLR(opt, total=2)
    >>> [round(opt.lr, 3) for _ in range(3) if s.step() is None]
    [0.5, 0.0, 0.0]
    """

    def __init__(self, optimizer: Optimizer, total: int, min_lr: float = 0.0) -> None:
        if total < 1:
            raise ValueError(f"CosineLR total must be >= 1, got {total}")
        self.total, self.min_lr = total, min_lr
        super().__init__(optimizer)

    def factor(self, k: int) -> float:
        k = min(k, self.total)
        floor = self.min_lr / self.base_lr if self.base_lr else 0.0
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * k / self.total))


class LinearWarmup(LRScheduler):
    """Ramp the rate linearly over ``warmup`` steps, then hand over to ``after``.

    ``factor(k) = (k + 1) / warmup`` for ``k < warmup``, then ``after.factor(k - warmup)``
    (or 1 without ``after``). Build ``after`` on the same optimizer first::

        sched = LinearWarmup(opt, warmup=100, after=CosineLR(opt, total=900))

    >>> import ag
    >>> opt = SGD([ag.Tensor([0.0])], lr=1.0); s = LinearWarmup(opt, warmup=4)
    >>> round(opt.lr, 2), [round(opt.lr, 2) for _ in range(4) if s.step() is None]
    (0.25, [0.5, 0.75, 1.0, 1.0])
    """

    def __init__(self, optimizer: Optimizer, warmup: int, after: LRScheduler | None = None) -> None:
        if warmup < 1:
            raise ValueError(f"LinearWarmup warmup must be >= 1, got {warmup}")
        self.warmup, self.after = warmup, after
        if after is not None:
            if after.optimizer is not optimizer:
                raise ValueError("LinearWarmup: `after` must schedule the same optimizer")
            optimizer.lr = after.base_lr  # `after` already applied its factor(0)
        super().__init__(optimizer)

    def factor(self, k: int) -> float:
        if k < self.warmup:
            return (k + 1) / self.warmup
        return self.after.factor(k - self.warmup) if self.after is not None else 1.0
