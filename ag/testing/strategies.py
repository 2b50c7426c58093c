"""Hypothesis strategies for property tests of ag (the kit's own and students').

>>> from hypothesis import given
>>> from ag.testing import strategies as ags
>>> @given(ags.scalar_graphs())
... def test_graph(graph):
...     leaves = graph.leaves()
...     gradcheck(graph.build, *leaves)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from hypothesis import assume
from hypothesis import strategies as st

import ag
from ag import registry
from ag.scalar import Scalar

__all__ = [
    "floats_away_from", "kink_free_floats", "ScalarGraph", "scalar_graphs", "SCALAR_OPS", "shapes",
    "arrays", "tensors", "broadcastable_shapes", "matmul_shapes", "axes",
]


def floats_away_from(
    points: Sequence[float] = (0.0,),
    margin: float = 1e-2,
    min_value: float = -5.0,
    max_value: float = 5.0,
) -> st.SearchStrategy[float]:
    """Finite floats in ``[min_value, max_value]`` at least ``margin`` from each point.

    Finite differences straddling a kink (relu at 0, abs at 0) disagree with any
    one-sided derivative, so gradient tests draw inputs away from kinks.
    """
    return st.floats(min_value, max_value, allow_nan=False, allow_infinity=False).filter(
        lambda v: all(abs(v - p) >= margin for p in points)
    )


def kink_free_floats(min_value: float = -5.0, max_value: float = 5.0) -> st.SearchStrategy[float]:
    """Floats away from 0, the kink of relu and abs."""
    return floats_away_from((0.0,), 1e-2, min_value, max_value)


# op name -> arity; every op of the Scalar engine, read from the op registry
SCALAR_OPS: dict[str, int] = {name: op.arity for name, op in registry.scalar_ops().items()}

def _apply(op: str, a, b=None, n: float = 2.0):
    entry = registry.scalar_ops()[op]
    return entry.call(*(a, b)[: entry.arity], n=n)


def _valid(op: str, a: float, b: float | None, n: float) -> bool:
    """Inputs where the op is defined, smooth, and well away from overflow: what the op
    registered as ``defined``, ``safe`` and ``kinks``."""
    entry = registry.scalar_ops()[op]
    return bool(entry.valid(*(a, b)[: entry.arity], n=n))


@dataclass(frozen=True)
class ScalarGraph:
    """A random computation recipe: leaf values and steps ``(op, i, j, n)``.

    Step ``k`` creates node ``len(leaf_values) + k`` from nodes ``i`` (and ``j``);
    earlier intermediate nodes are reused, so the graph is a DAG, not a tree.
    """

    leaf_values: tuple[float, ...]
    steps: tuple[tuple[str, int, int, float], ...]

    def leaves(self) -> list[Scalar]:
        return [Scalar(v, label=f"x{i}") for i, v in enumerate(self.leaf_values)]

    def build(self, *leaves: Scalar) -> Scalar:
        nodes = list(leaves)
        for op, i, j, n in self.steps:
            nodes.append(_apply(op, nodes[i], nodes[j], n))
        return nodes[-1]

    def code(self) -> str:
        """The forward computation as Python source, for failure reports."""
        names = [f"x{i}" for i in range(len(self.leaf_values))]
        lines = [f"{name} = ag.Scalar({v!r})" for name, v in zip(names, self.leaf_values)]
        for k, (op, i, j, n) in enumerate(self.steps):
            name = f"z{k}"
            a, b = names[i], names[j]
            expr = registry.scalar_ops()[op].code.format(a=a, b=b, n=repr(n))
            lines.append(f"{name} = {expr}")
            names.append(name)
        return "\n".join(lines)


@st.composite
def scalar_graphs(
    draw,
    max_leaves: int = 3,
    max_steps: int = 10,
    ops: Sequence[str] = tuple(SCALAR_OPS),
) -> ScalarGraph:
    """Random Scalar DAGs over a few leaves, with values where every op is smooth."""
    n_leaves = draw(st.integers(1, max_leaves))
    leaf_values = tuple(draw(floats_away_from((0.0,), 0.1, -3.0, 3.0)) for _ in range(n_leaves))
    values = list(leaf_values)
    steps = []
    for _ in range(draw(st.integers(1, max_steps))):
        op = draw(st.sampled_from(list(ops)))
        # Favour recent nodes so graphs get deep, but allow any earlier node.
        i = draw(st.integers(0, len(values) - 1))
        j = draw(st.integers(0, len(values) - 1))
        n = draw(st.sampled_from([2.0, 3.0, -1.0, 0.5]))
        a, b = values[i], values[j]
        if not _valid(op, a, b if SCALAR_OPS[op] == 2 else None, n):
            continue
        value = _apply(op, Scalar(a), Scalar(b), n).value
        if not math.isfinite(value) or abs(value) > 1e4:
            continue
        steps.append((op, i, j, n))
        values.append(value)
    assume(steps)
    return ScalarGraph(leaf_values, tuple(steps))


# -- Tensor strategies -------------------------------------------------------------------------

def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4):
    """Array shapes (tuples of ints)."""
    from hypothesis.extra import numpy as hnp

    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def arrays(shape=None, dtype=None, min_value: float = -3.0, max_value: float = 3.0,
           away_from: Sequence[float] = (), margin: float = 1e-2):
    """Float arrays of a given or drawn shape (and dtype), finite, optionally away from kinks."""
    import numpy as np
    from hypothesis.extra import numpy as hnp

    shape = shapes() if shape is None else shape
    dtype = np.float64 if dtype is None else dtype
    width = 64 if isinstance(dtype, st.SearchStrategy) else np.dtype(dtype).itemsize * 8
    elements = st.floats(min_value, max_value, allow_nan=False, allow_infinity=False, width=width)
    if away_from:
        elements = elements.filter(lambda v: all(abs(v - p) >= margin for p in away_from))
    return hnp.arrays(dtype, shape, elements=elements)


def tensors(shape=None, dtype=None, requires_grad: bool = True, **kwargs):
    """``ag.Tensor`` leaves of a given or drawn shape and dtype (see :func:`arrays`)."""
    return arrays(shape, dtype, **kwargs).map(lambda a: ag.Tensor(a, requires_grad=requires_grad))


def broadcastable_shapes(num_shapes: int = 2, min_dims: int = 0, max_dims: int = 3,
                         max_side: int = 4):
    """Tuples of shapes that broadcast together (and the shape they broadcast to).

    Draws ``(input_shapes, result_shape)`` from ``hypothesis.extra.numpy``.
    """
    from hypothesis.extra import numpy as hnp

    return hnp.mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=min_dims,
                                             max_dims=max_dims, max_side=max_side)


@st.composite
def matmul_shapes(draw, max_batch_dims: int = 2, max_side: int = 4):
    """Pairs of shapes valid for ``a @ b`` under NumPy's rules, 1-D and batched included."""
    n, k, m = (draw(st.integers(1, max_side)) for _ in range(3))
    kind = draw(st.sampled_from(["2d", "batched", "vec-mat", "mat-vec", "vec-vec"]))
    if kind == "vec-vec":
        return (k,), (k,)
    if kind == "vec-mat":
        return (k,), (k, m)
    if kind == "mat-vec":
        return (n, k), (k,)
    if kind == "2d":
        return (n, k), (k, m)
    batch = draw(broadcastable_shapes(2, 1, max_batch_dims, 3))
    (ba, bb), _ = batch
    return ba + (n, k), bb + (k, m)


@st.composite
def axes(draw, ndim: int, allow_none: bool = True, allow_tuple: bool = True):
    """A valid ``axis`` argument for an array of ``ndim`` dimensions: None, an int
    (negative too) or a tuple of distinct ints."""
    if ndim == 0:
        return None
    choices = ["int"] + (["none"] if allow_none else []) + (["tuple"] if allow_tuple else [])
    kind = draw(st.sampled_from(choices))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    picked = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(a - ndim if draw(st.booleans()) else a for a in picked)
