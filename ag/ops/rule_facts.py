"""Filling in a Tensor rule's text: the axis, keepdims, count, index or permutation of a node.

Each op registers ``facts=`` beside its rule text (``ag.register``); the function
reads the node's saved context and returns the text for the template's
placeholders. A trace substitutes them before names and numbers, so a fact may itself
hold ``{out}`` or ``{a}``.

>>> reduced_axes((2, 1), (2, 3)), axes_text((1,)), index_text((slice(None), 1))
((1,), '1', ':, 1')
"""

from __future__ import annotations

from typing import Any

__all__ = ["reduced_axes", "axes_text", "shape_text", "index_text", "reduction_facts"]


def shape_text(shape: Any) -> str:
    """``(3, 2)``, ``(3,)``, ``()``.

    >>> shape_text((3,)), shape_text([2, 3])
    ('(3,)', '(2, 3)')
    """
    shape = tuple(int(s) for s in shape)
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def reduced_axes(keep_shape: tuple, in_shape: tuple) -> tuple[int, ...]:
    """The axes a reduction removed, from its keepdims shape and its input's shape.

    An axis of length 1 looks the same before and after; it is counted when every
    axis of the input has length 1 (a full reduction of a one-element array).
    """
    axes = tuple(i for i, (k, n) in enumerate(zip(keep_shape, in_shape)) if k == 1 and n != 1)
    if not axes and len(in_shape) and all(n == 1 for n in in_shape):
        axes = tuple(range(len(in_shape)))
    return axes


def axes_text(axes: tuple[int, ...]) -> str:
    """``1`` for one axis, ``(0, 1)`` for several."""
    return str(axes[0]) if len(axes) == 1 else shape_text(axes)


def reduction_facts(node: Any, keep_shape: tuple, in_shape: tuple) -> dict[str, str]:
    """``{axis}``, ``{keepdims}``, ``{shape}`` (the input's), ``{count}`` (elements per
    output element) and ``{g_keep}`` (the output grad with the reduced axes kept)."""
    axes = reduced_axes(tuple(keep_shape), tuple(in_shape))
    keepdims = len(node.value.shape) == len(in_shape)
    count = 1
    for a in axes:
        count *= int(in_shape[a])
    # a number (a full reduction) broadcasts as it is: no reshape to write
    same = keepdims or tuple(keep_shape) == tuple(node.value.shape) or len(node.value.shape) == 0
    reshape = "" if same else f".reshape{shape_text(keep_shape)}"
    return {
        "axis": axes_text(axes) if axes else "()",
        "keepdims": str(keepdims),
        "shape": shape_text(in_shape),
        "count": str(count),
        "g_keep": "{out}.grad" + reshape,
        "out_keep": "{out}.value" + reshape,
    }


def _one_index(part: Any) -> str:
    if isinstance(part, slice):
        start = "" if part.start is None else str(part.start)
        stop = "" if part.stop is None else str(part.stop)
        step = "" if part.step is None else f":{part.step}"
        return f"{start}:{stop}{step}"
    if part is None:
        return "None"
    if part is Ellipsis:
        return "..."
    tolist = getattr(part, "tolist", None)
    if callable(tolist):
        values = tolist()
        text = str(values)
        return text if len(text) <= 40 else f"<index array of shape {shape_text(part.shape)}>"
    return str(part)


def index_text(index: Any) -> str:
    """An index as NumPy syntax writes it inside ``[...]``.

    >>> import numpy as np
    >>> index_text(np.array([0, 2, 1])), index_text((slice(1, None), np.array([0, 0])))
    ('[0, 2, 1]', '1:, [0, 0]')
    """
    parts = index if isinstance(index, tuple) else (index,)
    return ", ".join(_one_index(p) for p in parts)
