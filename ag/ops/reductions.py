"""Reductions over axes: sum, mean, var, max, min.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ag.ops.api import (
    Tensor,
    array_module_of,
    as_tensor,
    describe,
    keepdims_shape,
    make_node,
    normalize_axes,
    register,
    register_method,
)
from ag.ops.rule_facts import reduction_facts
from ag.ops.shape import broadcast_to


def expand_to(g: Any, shape: tuple) -> Any:
    """``g`` broadcast to ``shape``: a differentiable node for a Tensor, else a fresh
    C-ordered array (a stride-0 view would be cheaper to make but slows every
    consumer, and NumPy's broadcast_to costs more than the copy at small sizes)."""
    if isinstance(g, Tensor):
        return broadcast_to(g, shape)
    out = array_module_of(g).empty(shape, dtype=g.dtype)
    out[...] = g
    return out


def _sum_rule(g, out, ctx, a):
    keep_shape, in_shape = ctx
    return expand_to(g.reshape(keep_shape), in_shape)


def tsum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (int, tuple, negative, or None for all)."""
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    value = x.value.sum(axis=axes, keepdims=keepdims)
    return make_node(value, (x,), "sum", (_sum_rule,), (keepdims_shape(x.shape, axes), x.shape))


def _sum_facts(node: Tensor) -> dict[str, str]:
    keep_shape, in_shape = node._ctx
    return reduction_facts(node, keep_shape, in_shape)


register("tensor", "sum", tsum, (_sum_rule,),
         ("{a}.grad += broadcast_to({g_keep}, {shape})   (sum over axis {axis}, keepdims={keepdims})",),
         methods=("sum",), facts=_sum_facts)


def _mean_rule(g, out, ctx, a):
    keep_shape, in_shape, scale = ctx
    return expand_to(g.reshape(keep_shape) * scale, in_shape)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis``."""
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    scale = 1.0 / max(math.prod([x.shape[a] for a in axes]), 1)
    value = x.value.mean(axis=axes, keepdims=keepdims)
    return make_node(value, (x,), "mean", (_mean_rule,),
                 (keepdims_shape(x.shape, axes), x.shape, scale))


def _mean_facts(node: Tensor) -> dict[str, str]:
    keep_shape, in_shape, scale = node._ctx
    return reduction_facts(node, keep_shape, in_shape)


register("tensor", "mean", mean, (_mean_rule,),
         ("{a}.grad += broadcast_to({g_keep}, {shape}) / {count}   "
          "(mean over axis {axis}, keepdims={keepdims}: {count} elements each)",),
         methods=("mean",), facts=_mean_facts)


def var(x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Variance over ``axis`` (``ddof=1`` for the unbiased estimate)."""
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    count_ = math.prod(x.shape[a] for a in axes)
    centred = x - mean(x, axes, keepdims=True)
    # NumPy's rule: the divisor is max(count - ddof, 0), so too few elements give nan
    scale = 1.0 / (count_ - ddof) if count_ > ddof else float("inf")
    return tsum(centred * centred, axes, keepdims) * scale


register_method("var", var)  # made of mean, sub, mul and sum nodes: no rule of its own


def _extreme_rule(g, out, ctx, a):
    mask, keep_shape = ctx
    return g.reshape(keep_shape) * mask


def _extreme(x: Any, axis: Any, keepdims: bool, op: str) -> Tensor:
    x = as_tensor(x)
    if x.size == 0:
        raise ValueError(f"{op}: {describe(x)} is empty")
    axes = normalize_axes(axis, x.ndim)
    v = x.value
    picked = v.max(axis=axes, keepdims=True) if op == "max" else v.min(axis=axes, keepdims=True)
    # Ties share the gradient equally, so it is the same whichever element NumPy picks.
    hits = (v == picked).astype(v.dtype)
    mask = hits / hits.sum(axis=axes, keepdims=True)
    value = picked if keepdims else picked.reshape(tuple(n for i, n in enumerate(v.shape) if i not in axes))
    return make_node(value, (x,), op, (_extreme_rule,), (mask, picked.shape))


def _unique_end(a: Any, end: int) -> bool:
    """Whether the largest (end -1) or smallest (end 0) element is 0.1 clear of the next:
    a tie is a kink, and tools draw inputs away from it."""
    v = np.sort(np.ravel(a))
    return v.size < 2 or bool(abs(v[end] - v[end + 1 if end == 0 else end - 1]) > 0.1)


def tmax(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis``; tied maxima share the gradient equally."""
    return _extreme(x, axis, keepdims, "max")


def _extreme_facts(node: Tensor) -> dict[str, str]:
    mask, keep_shape = node._ctx
    return reduction_facts(node, keep_shape, node.inputs[0].shape)


register("tensor", "max", tmax, (_extreme_rule,),
         ("{a}.grad += {g_keep} * ({a}.value == {out_keep}) / ties   "
          "(max over axis {axis}, keepdims={keepdims}; tied maxima share the grad)",),
         methods=("max",), facts=_extreme_facts, safe=lambda a: _unique_end(a, -1))


def tmin(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Minimum over ``axis``; tied minima share the gradient equally."""
    return _extreme(x, axis, keepdims, "min")


register("tensor", "min", tmin, (_extreme_rule,),
         ("{a}.grad += {g_keep} * ({a}.value == {out_keep}) / ties   "
          "(min over axis {axis}, keepdims={keepdims}; tied minima share the grad)",),
         methods=("min",), facts=_extreme_facts, safe=lambda a: _unique_end(a, 0))
