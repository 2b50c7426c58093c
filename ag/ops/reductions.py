"""Reductions over axes: sum, mean, var, max, min.

Part of the Tensor engine: each op computes its value and makes a node with one
backward rule per input (see ``ag.tensor``). Import ops from ``ag`` or ``ag.tensor``.
"""

from __future__ import annotations

import math
from typing import Any

from ag.tensor import (
    Tensor,
    _describe,
    _expand,
    _keepdims_shape,
    _node,
    _normalize_axes,
    _unary,
)


def _sum_rule(g, out, ctx, a):
    keep_shape, in_shape = ctx
    return _expand(g.reshape(keep_shape), in_shape)


def tsum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (int, tuple, negative, or None for all)."""
    x = _unary(x)
    axes = _normalize_axes(axis, x.ndim)
    value = x.value.sum(axis=axes, keepdims=keepdims)
    return _node(value, (x,), "sum", (_sum_rule,), (_keepdims_shape(x.shape, axes), x.shape))


def _mean_rule(g, out, ctx, a):
    keep_shape, in_shape, scale = ctx
    return _expand(g.reshape(keep_shape) * scale, in_shape)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis``."""
    x = _unary(x)
    axes = _normalize_axes(axis, x.ndim)
    scale = 1.0 / max(math.prod([x.shape[a] for a in axes]), 1)
    value = x.value.mean(axis=axes, keepdims=keepdims)
    return _node(value, (x,), "mean", (_mean_rule,),
                 (_keepdims_shape(x.shape, axes), x.shape, scale))


def var(x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Variance over ``axis`` (``ddof=1`` for the unbiased estimate)."""
    x = _unary(x)
    axes = _normalize_axes(axis, x.ndim)
    count_ = math.prod(x.shape[a] for a in axes)
    centred = x - mean(x, axes, keepdims=True)
    # NumPy's rule: the divisor is max(count - ddof, 0), so too few elements give nan
    scale = 1.0 / (count_ - ddof) if count_ > ddof else float("inf")
    return tsum(centred * centred, axes, keepdims) * scale


def _extreme_rule(g, out, ctx, a):
    mask, keep_shape = ctx
    return g.reshape(keep_shape) * mask


def _extreme(x: Any, axis: Any, keepdims: bool, op: str) -> Tensor:
    x = _unary(x)
    if x.size == 0:
        raise ValueError(f"{op}: {_describe(x)} is empty")
    axes = _normalize_axes(axis, x.ndim)
    v = x.value
    picked = v.max(axis=axes, keepdims=True) if op == "max" else v.min(axis=axes, keepdims=True)
    # Ties share the gradient equally, so it is the same whichever element NumPy picks.
    hits = (v == picked).astype(v.dtype)
    mask = hits / hits.sum(axis=axes, keepdims=True)
    value = picked if keepdims else picked.reshape(tuple(n for i, n in enumerate(v.shape) if i not in axes))
    return _node(value, (x,), op, (_extreme_rule,), (mask, picked.shape))


def tmax(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis``; tied maxima share the gradient equally."""
    return _extreme(x, axis, keepdims, "max")


def tmin(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Minimum over ``axis``; tied minima share the gradient equally."""
    return _extreme(x, axis, keepdims, "min")
