"""Where each node of a drawing goes: the exam's layout, placed directly (no solver).

>>> import ag
>>> wr, h0 = ag.Scalar(4.0, label="wr"), ag.Scalar(3.0, label="h0")
>>> order = (wr * h0).topological_sort()
>>> pos = place(order, {id(n): (40.0, 20.0) for n in order})
>>> pos[id(wr)][1] > pos[id(h0)][1]      # the left operand is above the right one
True
>>> pos[id(wr)][0] == pos[id(h0)][0] < pos[id(order[-1])][0]   # inputs left of outputs
True

The exam's rule: every leaf in the first column, each other node one column right of
its rightmost input, and for every two-input op the left operand above the right one.
Columns hold the depth of each node, so "inputs left of outputs" holds as placed. For
"left above right", the nodes are put in one top-to-bottom sequence that lists every
left operand before its right one (a topological sort of those pairs, ties broken by
the exam's topological order, so a tree reads like the slides) and each column is
stacked in that sequence. Every constraint then points down the sequence, so one pass
in that order gives each node the highest place that keeps it below everything it must
be below; a node with inputs is centred on them where that is free. When two ops use
the same pair in opposite orders (``x*y + y*x``) no drawing satisfies both: the pair
that closes the cycle is dropped and the graph is drawn anyway.

Sizes and positions are in points (1/72 in); ``y`` grows upwards, as in Graphviz.
``direction="TB"`` turns the drawing a quarter: inputs on top, the output at the
bottom, a left operand to the left of the right one.
"""

from __future__ import annotations

import heapq
from typing import Any

__all__ = ["place", "COLUMN_GAP", "ROW_GAP"]

COLUMN_GAP = 30.0  # between the widest boxes of neighbouring columns
ROW_GAP = 10.0  # between boxes stacked in one column
_PAIR_GAP = 12.0  # a left operand's centre at least this far above the right one's


def place(order: list, sizes: dict[Any, tuple[float, float]], *, op_nodes: bool = False,
          direction: str = "LR") -> dict[Any, tuple[float, float]]:
    """Centres ``{key: (x, y)}`` for the nodes of ``order`` (a topological order).

    ``sizes`` maps ``id(node)`` (and ``(id(node), "op")`` for op nodes, with
    ``op_nodes=True``) to ``(width, height)``; the result has the same keys.
    """
    if direction not in ("LR", "TB"):
        raise ValueError(f"place: direction must be 'LR' or 'TB', got {direction!r}")
    items, column, inputs_of, rank = _items(order, op_nodes)
    across = 1 if direction == "LR" else 0  # the size along a column's stack
    sequence = _sequence(items, _pairs(order, op_nodes), rank)
    extent = {key: sizes[key][across] for key in items}
    centre: dict[Any, float] = {}
    bottom: dict[int, float] = {}  # each column's lowest edge so far (growing downwards)
    below: dict[Any, list[Any]] = {}
    for upper, lower in _pairs(order, op_nodes):
        below.setdefault(lower, []).append(upper)
    for key in sequence:
        c = column[key]
        low = bottom[c] + ROW_GAP + extent[key] / 2 if c in bottom else extent[key] / 2
        for upper in below.get(key, ()):
            if upper in centre:
                low = max(low, centre[upper] + _PAIR_GAP)
        placed = [centre[i] for i in inputs_of.get(key, ()) if i in centre]
        want = sum(placed) / len(placed) if placed else low
        centre[key] = max(low, want)
        bottom[c] = centre[key] + extent[key] / 2
    along = 0 if direction == "LR" else 1
    widest: dict[int, float] = {}
    for key in items:
        widest[column[key]] = max(widest.get(column[key], 0.0), sizes[key][along])
    start, offset = {}, 0.0
    for c in sorted(widest):
        start[c] = offset + widest[c] / 2
        offset += widest[c] + COLUMN_GAP
    if direction == "LR":
        return {key: (start[column[key]], -centre[key]) for key in items}
    return {key: (centre[key], -start[column[key]]) for key in items}


def _items(order: list, op_nodes: bool) -> tuple[list, dict, dict, dict]:
    """Every box to place with its column, the boxes it is centred on, and its exam rank."""
    step = 2 if op_nodes else 1
    items: list[Any] = []
    column: dict[Any, int] = {}
    inputs_of: dict[Any, list[Any]] = {}
    rank: dict[Any, float] = {}
    for i, node in enumerate(order):  # inputs come before their users in the order
        key = id(node)
        if node.inputs:
            column[key] = step * (1 + max(column[id(inp)] // step for inp in node.inputs))
            sources = [id(inp) for inp in node.inputs]
            if op_nodes:
                op = (key, "op")
                items.append(op)
                column[op], inputs_of[op], rank[op] = column[key] - 1, sources, i - 0.5
                sources = [op]
            inputs_of[key] = sources
        else:
            column[key] = 0
        items.append(key)
        rank[key] = i
    return items, column, inputs_of, rank


def _pairs(order: list, op_nodes: bool) -> list[tuple[Any, Any]]:
    """``(left operand, right operand)`` of every two-input op with two different inputs."""
    return [(id(n.inputs[0]), id(n.inputs[1])) for n in order
            if len(n.inputs) == 2 and n.inputs[0] is not n.inputs[1]]


def _sequence(items: list, pairs: list[tuple[Any, Any]], rank: dict[Any, float]) -> list[Any]:
    """The boxes top to bottom: each left operand before its right one, else in exam order.

    Kahn's algorithm with the exam rank as priority; if only a cycle of contradictory
    pairs is left, the lowest-ranked box goes next regardless (its pair is dropped).
    """
    waiting = {key: 0 for key in items}
    after: dict[Any, list[Any]] = {}
    for upper, lower in set(pairs):
        waiting[lower] += 1
        after.setdefault(upper, []).append(lower)
    ready = [(rank[k], i, k) for i, k in enumerate(items) if waiting[k] == 0]
    heapq.heapify(ready)
    left = {k: i for i, k in enumerate(items)}
    out: list[Any] = []
    while left:
        if not ready:  # contradictory orders: break the cycle at the earliest box
            key = min(left, key=rank.__getitem__)
            waiting[key] = 0
            heapq.heappush(ready, (rank[key], left[key], key))
        _, _, key = heapq.heappop(ready)
        if key not in left:
            continue
        del left[key]
        out.append(key)
        for lower in after.get(key, ()):
            waiting[lower] -= 1
            if waiting[lower] == 0 and lower in left:
                heapq.heappush(ready, (rank[lower], left[lower], lower))
    return out
