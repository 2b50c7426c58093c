"""softmax, log_softmax, logsumexp (stable), and the fused softmax cross-entropy.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from ag import functions as F
from ag.ops.api import (
    Tensor,
    array_module_of,
    as_tensor,
    make_node,
    normalize_axes,
    register,
)
from ag.ops.rule_facts import index_text, reduction_facts


def _softmax_rule(g, out, axis, a):
    return out * (g - (g * out).sum(axis=axis, keepdims=True))


def _log_softmax_rule(g, out, axis, a):
    return g - F.exp(out) * g.sum(axis=axis, keepdims=True)


def _logsumexp_rule(g, out, ctx, a):
    keep_shape = ctx
    return g.reshape(keep_shape) * F.exp(a - out.reshape(keep_shape))


def _stable_max(v: Any, axes: tuple) -> Any:
    """The max over ``axes`` (kept), with rows of all -inf (or inf) shifted by 0 instead."""
    m = v.max(axis=axes, keepdims=True)
    xp = array_module_of(v)
    if not bool(xp.isfinite(m).all()):
        m = xp.where(xp.isfinite(m), m, 0.0)
    return m


def _stable_logsumexp(v: Any, axes: tuple) -> Any:
    xp = array_module_of(v)
    m = _stable_max(v, axes)
    return xp.log(xp.exp(v - m).sum(axis=axes, keepdims=True)) + m


def softmax(x: Any, axis: int = -1) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``axis``, computed stably (the max is subtracted)."""
    x = as_tensor(x)
    (ax,) = normalize_axes(axis, x.ndim)
    xp = array_module_of(x.value)
    e = xp.exp(x.value - x.value.max(axis=ax, keepdims=True))
    return make_node(e / e.sum(axis=ax, keepdims=True), (x,), "softmax", (_softmax_rule,), ax)


def _axis_facts(node: Tensor) -> dict[str, str]:
    return {"axis": str(node._ctx)}


register("tensor", "softmax", softmax, (_softmax_rule,),
            ("{a}.grad += {out}.value * ({out}.grad - sum({out}.grad * {out}.value, axis={axis}, "
             "keepdims=True))",),
            methods=("softmax",), facts=_axis_facts)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """``x - logsumexp(x)`` along ``axis``, computed stably."""
    x = as_tensor(x)
    (ax,) = normalize_axes(axis, x.ndim)
    xp = array_module_of(x.value)
    shifted = x.value - _stable_max(x.value, (ax,))
    value = shifted - xp.log(xp.exp(shifted).sum(axis=ax, keepdims=True))
    return make_node(value, (x,), "log_softmax", (_log_softmax_rule,), ax)


register("tensor", "log_softmax", log_softmax, (_log_softmax_rule,),
            ("{a}.grad += {out}.grad - exp({out}.value) * sum({out}.grad, axis={axis}, keepdims=True)",),
            methods=("log_softmax",), facts=_axis_facts)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """``log(sum(exp(x)))`` over ``axis``, computed stably (the max is subtracted)."""
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    keep = _stable_logsumexp(x.value, axes)
    value = keep if keepdims else keep.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))
    return make_node(value, (x,), "logsumexp", (_logsumexp_rule,), keep.shape)


def _logsumexp_facts(node: Tensor) -> dict[str, str]:
    return reduction_facts(node, node._ctx, node.inputs[0].shape)


register("tensor", "logsumexp", logsumexp, (_logsumexp_rule,),
            ("{a}.grad += {g_keep} * exp({a}.value - {out_keep})   "
             "(logsumexp over axis {axis}, keepdims={keepdims}: softmax of {a} along it)",),
            methods=("logsumexp",), facts=_logsumexp_facts)


class CrossEntropyContext(NamedTuple):
    """What the fused cross-entropy keeps for its backward rule and its rule text.

    One named record read by both (the rule and ``_cross_entropy_facts``), so the two
    cannot drift apart when a field is added.
    """

    labels: Any  # integer class indices, the logits' batch shape
    e: Any  # exp(z - max), C-ordered
    total: Any  # its sums over the classes (kept dims)
    rows_index: Any  # arange over the flattened rows
    scale: float  # 1/n for 'mean', 1 otherwise
    per_row: bool  # reduction='none': the output has one loss per row


_new_tuple = tuple.__new__


def _cross_entropy_rule(g, out, ctx, z):
    labels, e, total, rows_index, scale, per_row = ctx
    g = g.reshape(g.shape + (1,)) if per_row else g
    if isinstance(z, Tensor):  # create_graph: the softmax is rebuilt as graph nodes
        onehot = (labels[..., None] == array_module_of(labels).arange(z.shape[-1])).astype(z.dtype)
        return (softmax(z, -1) - onehot) * (g * scale)
    # the forward's exp(z - max) over its row sums is the softmax; e is C-ordered whatever
    # z's layout, so the reshape below is a view of the fresh p
    p = e / total
    rows = p.reshape(-1, p.shape[-1])
    rows[rows_index, labels.reshape(-1)] -= 1.0
    p *= g * scale if per_row else float(g) * scale  # a 0-d seed: one multiply by a float
    return p


def softmax_cross_entropy(logits: Tensor, labels: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy ``logsumexp(z) - z[label]`` as ONE node (classes last).

    The gradient is ``(softmax(z) - onehot(label)) / n``, with no intermediate nodes,
    which is what makes small training steps cheap. ``labels`` must be integer class
    indices already checked to be in range; ``ag.nn.functional.cross_entropy`` is the
    checked entry point and uses this op.

    >>> import numpy as np, ag
    >>> z = ag.tensor([[0.0, 0.0]])
    >>> loss = ag.softmax_cross_entropy(z, np.array([1]))
    >>> round(loss.item(), 4), z.grad is None
    (0.6931, True)
    >>> loss.backward(); z.grad
    array([[ 0.5, -0.5]])
    """
    z = as_tensor(logits)
    v = z.value
    xp = array_module_of(v)
    y = labels.value.astype(int) if isinstance(labels, Tensor) else xp.asarray(labels)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"softmax_cross_entropy: reduction must be 'mean', 'sum' or 'none', "
                         f"got {reduction!r}")
    axis = v.ndim - 1
    flat = v.reshape(-1, v.shape[-1])
    rows_index = xp.arange(flat.shape[0])
    picked = flat[rows_index, y.reshape(-1)]
    scale = 1.0 / max(picked.size, 1) if reduction == "mean" else 1.0
    # exp(z - max) in C order (kept for the backward's softmax), its row sums, and
    # logsumexp = log(sum) + max. A row whose max is not finite (all -inf, or an inf)
    # needs the stable max instead; the sum of the maxima is finite exactly when none
    # is (or it overflows, and the stable max is used needlessly): one reduction.
    m = v.max(axis=axis, keepdims=True)
    if xp is not np or not math.isfinite(float(np.add.reduce(m, axis=None))):
        m = _stable_max(v, (axis,))
    e = xp.exp(xp.subtract(v, m, order="C"))
    total = xp.add.reduce(e, axis=axis, keepdims=True) if xp is np else e.sum(axis=axis, keepdims=True)
    lse = xp.log(total)
    lse += m
    losses = lse.reshape(picked.shape) - picked  # row by row: no cancellation across rows
    if reduction == "none":
        value = losses.reshape(y.shape)
    else:  # ndarray.mean costs twice as much at small sizes, np.add.reduce is sum unwrapped
        value = (xp.add.reduce(losses) if xp is np else losses.sum()) * scale
    # tuple.__new__: the named record without NamedTuple's Python-level __new__ (every step)
    ctx = _new_tuple(CrossEntropyContext, (y, e, total, rows_index, scale, reduction == "none"))
    return make_node(value, (z,), "cross_entropy", (_cross_entropy_rule,), ctx)


def _cross_entropy_facts(node: Tensor) -> dict[str, str]:
    ctx = node._ctx
    n = round(1 / ctx.scale) if ctx.scale else 1
    return {"n": str(n), "labels": index_text(ctx.labels)}


register("tensor", "cross_entropy", softmax_cross_entropy, (_cross_entropy_rule,),
            ("{a}.grad += (softmax({a}.value, axis=-1) - onehot({labels})) * {out}.grad / {n}",),
            facts=_cross_entropy_facts)
