"""Shape ops: reshape, transpose, moveaxis, swapaxes, squeeze, expand_dims, flatten,
broadcast_to.

Part of the Tensor engine: each op computes its value and makes a node with one
backward rule per input (see ``ag.tensor``). Import ops from ``ag`` or ``ag.tensor``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ag.tensor import (
    Tensor,
    _describe,
    _node,
    _normalize_axes,
    _unary,
    array_module_of,
)


def _reshape_rule(g, out, in_shape, a):
    return g.reshape(in_shape)


def reshape(x: Any, shape: Any) -> Any:
    """``x`` with a new shape (same elements, C order); arrays pass through."""
    if not isinstance(x, Tensor):
        return x.reshape(shape)
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    try:
        value = x.value.reshape(shape)
    except ValueError:
        raise ValueError(
            f"reshape: cannot reshape {_describe(x)} ({x.size} elements) to {tuple(shape)}"
        ) from None
    return _node(value, (x,), "reshape", (_reshape_rule,), x.shape)


def _transpose_rule(g, out, axes, a):
    inverse = tuple(int(i) for i in np.argsort(axes))
    return g.transpose(inverse)


def transpose(x: Any, axes: Any = None) -> Any:
    """Permute the axes (reverse them when ``axes`` is None)."""
    if not isinstance(x, Tensor):
        return x.transpose(axes)
    if axes is None:
        axes = tuple(range(x.ndim))[::-1]
    else:
        bad = [int(a) for a in axes if not -x.ndim <= int(a) < x.ndim]
        if bad:  # never wrap: x.transpose(0, 5) on 2-D is a mistake, not axis 1
            raise np.exceptions.AxisError(
                f"transpose: axis {bad[0]} is out of bounds for {_describe(x)} "
                f"(axes must lie in -{x.ndim}..{x.ndim - 1})"
            )
        axes = tuple(int(a) % max(x.ndim, 1) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation for {_describe(x)}")
    return _node(x.value.transpose(axes), (x,), "transpose", (_transpose_rule,), axes)


def moveaxis(x: Any, source: Any, destination: Any) -> Any:
    """Move axes to new positions, as ``np.moveaxis``."""
    if not isinstance(x, Tensor):
        return array_module_of(x).moveaxis(x, source, destination)
    src = _normalize_axes(source, x.ndim)
    dst = _normalize_axes(destination, x.ndim)
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: {_describe(x)}: source {source} and destination "
                         f"{destination} need the same number of axes")
    order = [n for n in range(x.ndim) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, tuple(order))


def swapaxes(x: Any, axis1: int, axis2: int) -> Any:
    """Exchange two axes."""
    if not isinstance(x, Tensor):
        return x.swapaxes(axis1, axis2)
    axes = list(range(x.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(x, tuple(axes))


def squeeze(x: Any, axis: Any = None) -> Tensor:
    """Drop axes of length one."""
    x = _unary(x)
    try:
        shape = array_module_of(x.value).squeeze(x.value, axis).shape
    except ValueError as err:
        raise ValueError(f"squeeze: {_describe(x)}: {err}") from None
    return reshape(x, shape)


def expand_dims(x: Any, axis: Any) -> Any:
    """Insert axes of length one at ``axis``."""
    if not isinstance(x, Tensor):
        return array_module_of(x).expand_dims(x, axis)
    shape = np.expand_dims(np.empty(x.shape, dtype=bool), axis).shape
    return reshape(x, shape)


def flatten(x: Any) -> Any:
    """The elements as a 1-D tensor."""
    return reshape(x, (-1,))


def _broadcast_rule(g, out, ctx, a):
    return g  # Tensor._backward sums it back to the input's shape


def broadcast_to(x: Any, shape: Any) -> Any:
    """``x`` stretched to ``shape`` by NumPy's broadcasting rules."""
    if not isinstance(x, Tensor):
        return array_module_of(x).broadcast_to(x, shape)
    try:
        value = array_module_of(x.value).broadcast_to(x.value, shape)
    except ValueError:
        raise ValueError(f"broadcast_to: {_describe(x)} does not broadcast to {tuple(shape)}") from None
    return _node(value, (x,), "broadcast_to", (_broadcast_rule,))
