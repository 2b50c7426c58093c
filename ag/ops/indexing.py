"""Indexing (basic and integer arrays), concatenate, stack, split.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ag.ops.api import (
    Tensor,
    array_module_of,
    as_tensor,
    check_devices,
    describe,
    make_node,
    register,
)
from ag.ops.rule_facts import index_text, shape_text


def _is_basic_index(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(
        p is None or p is Ellipsis or isinstance(p, (slice, int, np.integer)) and not isinstance(p, bool)
        for p in parts
    )


def _getitem_rule(g, out, ctx, a):
    index, shape, basic = ctx
    return index_add(g, index, shape, basic)


def _index_add_rule(g, out, ctx, a):
    index = ctx[0]
    return g[index]


def index_add(g: Any, index: Any, shape: tuple, basic: bool = False) -> Any:
    """Zeros of ``shape`` with ``g`` added at ``index`` (repeated indices accumulate).

    The backward of indexing; differentiable itself, its backward is indexing.
    """
    if isinstance(g, Tensor):
        return make_node(_index_add_array(g.value, index, shape, basic), (g,), "index_add",
                     (_index_add_rule,), (index,))
    return _index_add_array(g, index, shape, basic)


def _index_facts(node: Tensor) -> dict[str, str]:
    ctx = node._ctx
    shape = ctx[1] if len(ctx) > 1 else node.value.shape  # index_add keeps only the index
    return {"index": index_text(ctx[0]), "shape": shape_text(shape)}


register("tensor", "index_add", index_add, (_index_add_rule,), ("{a}.grad += {out}.grad[{index}]",),
         facts=_index_facts, public=False)  # getitem's backward, itself differentiable


def _index_add_array(g: Any, index: Any, shape: tuple, basic: bool) -> Any:
    xp = array_module_of(g)
    out = xp.zeros(shape, dtype=g.dtype)
    if basic:
        out[index] = g
    elif xp is np:
        np.add.at(out, index, g)
    else:  # CuPy's add.at wants its index arrays on the device too: copy them explicitly
        parts = index if isinstance(index, tuple) else (index,)
        parts = tuple(xp.asarray(p) if isinstance(p, (np.ndarray, list)) else p for p in parts)
        xp.add.at(out, parts if isinstance(index, tuple) else parts[0], g)
    return out


def _plain_index(index: Any) -> Any:
    if isinstance(index, Tensor):
        return _integer_values(index)
    if isinstance(index, tuple):
        return tuple(_integer_values(i) if isinstance(i, Tensor) else i for i in index)
    return index


def _integer_values(index: Tensor) -> Any:
    """A Tensor used as an index as integers; refused unless every value is a whole number
    (astype(int) would truncate 0.7 to 0 and index the wrong element silently)."""
    v = index.value
    xp = array_module_of(v)
    whole = xp.isfinite(v) & (v == xp.round(v))
    if not bool(whole.all()):
        bad = v[~whole].ravel()[0]
        raise TypeError(
            f"getitem: the index {describe(index)} holds {bad.item()!r}; an index must be "
            "integer-valued (use an integer array, or round the tensor first)"
        )
    return v.astype(int)


def getitem(x: Tensor, index: Any) -> Tensor:
    """``x[index]``: basic slicing and integer-array indexing; repeated indices accumulate."""
    index = _plain_index(index)
    try:
        value = x.value[index]
    except (IndexError, TypeError) as err:
        raise IndexError(f"getitem: {describe(x)}[{index!r}]: {err}") from None
    basic = _is_basic_index(index)
    return make_node(value, (x,), "getitem", (_getitem_rule,), (index, x.shape, basic))


register("tensor", "getitem", getitem, (_getitem_rule,),
         ("{a}.grad[{index}] += {out}.grad   ({a}.grad has shape {shape}; 0 elsewhere; "
          "repeated indices add up)",), facts=_index_facts,
         methods=("__getitem__",), public=False)  # x[index] is how it is called


def _part_rules(slices: list) -> tuple:
    # One rule per input, each cutting its own slice out of the output's gradient.
    return tuple((lambda g, out, ctx, *inputs, _s=s: g[_s]) for s in slices)


def _join(op: str, tensors: Sequence[Any], axis: int) -> tuple[tuple[Tensor, ...], Any]:
    """The inputs as Tensors and ``xp.concatenate`` or ``xp.stack`` of their values."""
    tensors = tuple(as_tensor(t) for t in tensors)
    if not tensors:
        raise ValueError(f"{op}: needs at least one tensor")
    if any([type(t.value) is not type(tensors[0].value) for t in tensors]):
        check_devices(op, *tensors)
    xp = array_module_of(tensors[0].value)
    try:
        value = getattr(xp, op)([t.value for t in tensors], axis=axis)
    except ValueError as err:
        shapes = ", ".join(describe(t) for t in tensors)
        raise ValueError(f"{op}: {shapes} along axis {axis}: {err}") from None
    return tensors, value


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    tensors, value = _join("concatenate", tensors, axis)
    ax = axis % value.ndim
    slices, start = [], 0
    for t in tensors:
        stop = start + t.shape[ax]
        slices.append((slice(None),) * ax + (slice(start, stop),))
        start = stop
    return make_node(value, tensors, "concatenate", _part_rules(slices))


register("tensor", "concatenate", concatenate, (), ("{x}.grad += {out}.grad[slice k]",), arity=None)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along a new axis."""
    tensors, value = _join("stack", tensors, axis)
    ax = axis % value.ndim
    slices = [(slice(None),) * ax + (k,) for k in range(len(tensors))]
    return make_node(value, tensors, "stack", _part_rules(slices))


register("tensor", "stack", stack, (), ("{x}.grad += {out}.grad[k]",), arity=None)


def split(x: Tensor, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """Split into pieces along ``axis``, as ``np.split``; each piece is an indexing node."""
    x = as_tensor(x)
    if x.ndim == 0:
        raise ValueError(f"split: {describe(x)} is 0-d; there is no axis to split")
    if not -x.ndim <= axis < x.ndim:
        raise np.exceptions.AxisError(f"split: axis {axis} is out of bounds for {describe(x)}")
    ax = axis % x.ndim
    n = x.shape[ax]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k < 1:
            raise ValueError(f"split: {describe(x)} into {k} parts along axis {axis}: the "
                             "number of parts must be at least 1")
        if n % k:
            raise ValueError(f"split: axis {axis} of {describe(x)} (length {n}) does not "
                             f"divide into {k} equal parts; pass split points instead")
        step = n // k
        bounds = [i * step for i in range(k + 1)]  # an empty axis gives k empty pieces
    else:
        bounds = [0, *indices_or_sections, n]
    return [x[(slice(None),) * ax + (slice(lo, hi),)] for lo, hi in zip(bounds[:-1], bounds[1:])]
