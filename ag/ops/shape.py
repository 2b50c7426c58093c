"""Shape ops: reshape, transpose, moveaxis, swapaxes, squeeze, expand_dims, flatten,
broadcast_to.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ag.ops.api import (
    Tensor,
    array_module_of,
    as_tensor,
    describe,
    make_node,
    normalize_axes,
    register,
    register_method,
)
from ag.ops.rule_facts import shape_text


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
            f"reshape: cannot reshape {describe(x)} ({x.size} elements) to {tuple(shape)}"
        ) from None
    return make_node(value, (x,), "reshape", (_reshape_rule,), x.shape)


def _reshape_method(self: Tensor, *shape: Any) -> Tensor:
    """``t.reshape(2, 3)`` or ``t.reshape((2, 3))``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return reshape(self, shape)


def _reshape_facts(node: Tensor) -> dict[str, str]:
    return {"shape": shape_text(node._ctx), "out_shape": shape_text(node.value.shape)}


register("tensor", "reshape", reshape, (_reshape_rule,),
         ("{a}.grad += {out}.grad.reshape{shape}   (back from {out_shape})",), facts=_reshape_facts)
register_method("reshape", _reshape_method)


def _inverse_permutation(axes: tuple) -> tuple:
    """The axes that undo ``transpose(axes)``: ``inverse[axes[i]] = i`` (argsort, in Python:
    NumPy's costs more than the transposed view it serves)."""
    inverse = [0] * len(axes)
    for i, a in enumerate(axes):
        inverse[a] = i
    return tuple(inverse)


def _transpose_rule(g, out, axes, a):
    return g.transpose(_inverse_permutation(axes))


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
                f"transpose: axis {bad[0]} is out of bounds for {describe(x)} "
                f"(axes must lie in -{x.ndim}..{x.ndim - 1})"
            )
        axes = tuple(int(a) % max(x.ndim, 1) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation for {describe(x)}")
    return make_node(x.value.transpose(axes), (x,), "transpose", (_transpose_rule,), axes)


def _transpose_method(self: Tensor, *axes: Any) -> Tensor:
    """``t.transpose()``, ``t.transpose(1, 0)`` or ``t.transpose((1, 0))``."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    return transpose(self, axes or None)


def _transpose_facts(node: Tensor) -> dict[str, str]:
    axes = tuple(int(a) for a in node._ctx)
    return {"perm": shape_text(axes), "inverse": shape_text(_inverse_permutation(axes))}


register("tensor", "transpose", transpose, (_transpose_rule,),
         ("{a}.grad += {out}.grad.transpose{inverse}   (the inverse of the permutation {perm})",),
         facts=_transpose_facts)
register_method("transpose", _transpose_method)


def moveaxis(x: Any, source: Any, destination: Any) -> Any:
    """Move axes to new positions, as ``np.moveaxis``."""
    if not isinstance(x, Tensor):
        return array_module_of(x).moveaxis(x, source, destination)
    src = normalize_axes(source, x.ndim)
    dst = normalize_axes(destination, x.ndim)
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: {describe(x)}: source {source} and destination "
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


register_method("swapaxes", swapaxes)  # a transpose node


def squeeze(x: Any, axis: Any = None) -> Tensor:
    """Drop axes of length one."""
    x = as_tensor(x)
    try:
        shape = array_module_of(x.value).squeeze(x.value, axis).shape
    except ValueError as err:
        raise ValueError(f"squeeze: {describe(x)}: {err}") from None
    return reshape(x, shape)


register_method("squeeze", squeeze)  # a reshape node


def expand_dims(x: Any, axis: Any) -> Any:
    """Insert axes of length one at ``axis``."""
    if not isinstance(x, Tensor):
        return array_module_of(x).expand_dims(x, axis)
    shape = np.expand_dims(np.empty(x.shape, dtype=bool), axis).shape
    return reshape(x, shape)


def flatten(x: Any) -> Any:
    """The elements as a 1-D tensor."""
    return reshape(x, (-1,))


register_method("flatten", flatten)  # a reshape node


def _broadcast_rule(g, out, ctx, a):
    return g  # Tensor._backward sums it back to the input's shape


def broadcast_to(x: Any, shape: Any) -> Any:
    """``x`` stretched to ``shape`` by NumPy's broadcasting rules."""
    if not isinstance(x, Tensor):
        return array_module_of(x).broadcast_to(x, shape)
    try:
        value = array_module_of(x.value).broadcast_to(x.value, shape)
    except ValueError:
        raise ValueError(f"broadcast_to: {describe(x)} does not broadcast to {tuple(shape)}") from None
    return make_node(value, (x,), "broadcast_to", (_broadcast_rule,))


def _broadcast_facts(node: Tensor) -> dict[str, str]:
    big, small = node.value.shape, node.inputs[0].shape
    lead = len(big) - len(small)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(small) if n == 1 and big[lead + i] != 1)
    return {"axes": shape_text(axes), "shape": shape_text(small)}


register("tensor", "broadcast_to", broadcast_to, (_broadcast_rule,),
         ("{a}.grad += {out}.grad summed over axes {axes} to shape {shape}",), facts=_broadcast_facts)
