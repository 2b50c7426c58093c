"""Drawing exam problems a student can solve by hand, and checking their keys.

A problem is drawn in two stages. First its *shape*: which op each node applies and
which earlier nodes it reads (so the controls on node count, required ops, reuse and
depth hold by construction or by redrawing). Then its *numbers*: leaf values drawn
from the difficulty's small set until every value, every local derivative, every
contribution a backward iteration adds and every grad is a short decimal inside the
value range or has an exact form a student writes by hand (``e^6``, ``1/e^6``,
``ln 2``: :mod:`ag.exam.exact`), no op sits on a kink or off its domain, and (often
enough) some relu sees a negative input. Nothing is rounded: a number with no such
form (``1 + e^2``, ``log(3.5)``) is refused and the numbers are redrawn. The draw
also refuses degenerate problems: an output of 0, a leaf whose grad is 0 (a student
writing 0 everywhere would earn it; allowed in about one problem in ten, for the
relu's dead branch), and, in most problems, ``exp`` only at 0 or ``log`` only at 1.

Before a problem is returned, every node's grad in the key (from the kit's own
backward pass) is compared with central finite differences of the forward values.

>>> s = Shape(2, [("mul", (0, 1)), ("add", (2, 0))])
>>> s.depth(), s.reuse()
(2, 1)
>>> evaluate(s, [3.0, 4.0])
[3.0, 4.0, 12.0, 15.0]
>>> backprop(s, evaluate(s, [3.0, 4.0]))[0]
[5.0, 3.0, 1.0, 1.0]
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

from ag.exam.forms import exact_form, is_short
from ag.exam.ops import OPS

__all__ = [
    "Difficulty",
    "DIFFICULTIES",
    "Shape",
    "Controls",
    "evaluate",
    "backprop",
    "finite_difference_grads",
    "hand_solvable",
    "draw",
    "GenerationError",
]


class GenerationError(ValueError):
    """No problem meets the controls (they contradict each other, or are very tight)."""


@dataclass(frozen=True)
class Difficulty:
    """A preset: the default size and the numbers a student is asked to handle."""

    name: str
    nodes: int
    leaves: tuple[int, int]          # least and most leaves (when --leaves is not given)
    leaf_values: tuple[float, ...]   # what a leaf may hold
    decimals: int                    # every number has at most this many decimals
    max_abs: float                   # every value and grad is at most this in size
    relu_negative: float             # share of problems where some relu sees a negative input
    max_exponent: float = 0.0        # e^k with |k| up to this (0: short decimals only)


DIFFICULTIES: dict[str, Difficulty] = {
    "easy": Difficulty("easy", 4, (1, 2), (-2.0, -1.0, 1.0, 2.0, 3.0, 0.0), 0, 50.0, 0.5),
    "exam": Difficulty("exam", 6, (2, 3), (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 0.5, -0.5),
                       2, 200.0, 0.6, 8.0),
    "hard": Difficulty("hard", 10, (3, 4),
                       (-4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 0.5, -0.5, 1.5, -1.5, 2.5),
                       2, 1000.0, 0.7, 8.0),
}


@dataclass
class Shape:
    """A problem's graph: ``n_leaves`` leaves (nodes ``0..n_leaves-1``) and the op nodes.

    ``ops[k]`` is ``(op name, argument node indices)`` for node ``n_leaves + k``; the
    last node is the output, and every node feeds it.
    """

    n_leaves: int
    ops: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return self.n_leaves + len(self.ops)

    def fan_out(self) -> list[int]:
        """How many argument slots read each node (``x*x`` reads ``x`` twice)."""
        counts = [0] * self.size
        for _, args in self.ops:
            for a in args:
                counts[a] += 1
        return counts

    def reuse(self) -> int:
        """How many nodes feed more than one argument slot (the finals' reused nodes)."""
        return sum(1 for c in self.fan_out() if c >= 2)

    def depth(self) -> int:
        """The number of ops on the longest path from a leaf to the output."""
        d = [0] * self.size
        for k, (_, args) in enumerate(self.ops, self.n_leaves):
            d[k] = 1 + max(d[a] for a in args)
        return d[-1]

    def op_names(self) -> list[str]:
        return [op for op, _ in self.ops]


@dataclass(frozen=True)
class Controls:
    """What the instructor asked for; ``None`` means "anything the difficulty allows"."""

    ops: tuple[str, ...]
    require: tuple[str, ...] = ()
    nodes: int = 6
    leaves: int | None = None
    reuse: int | None = None
    depth: int | None = None
    max_abs: float | None = None
    difficulty: str = "exam"


# -- numbers ---------------------------------------------------------------------------


def evaluate(shape: Shape, leaf_values: list[float], override: dict[int, float] | None = None) -> list[float]:
    """Every node's value (``override`` pins some nodes' values, for finite differences)."""
    values = list(leaf_values) + [0.0] * len(shape.ops)
    for k in range(shape.n_leaves):
        if override and k in override:
            values[k] = override[k]
    for k, (op, args) in enumerate(shape.ops, shape.n_leaves):
        values[k] = override[k] if override and k in override else OPS[op].value(*(values[a] for a in args))
    return values


def backprop(shape: Shape, values: list[float]) -> tuple[list[float], list[float], list[float]]:
    """``(grads, local derivatives, contributions)`` of a plain reverse sweep over ``shape``.

    The sweep visits op nodes from the output back (any reverse topological order gives
    the same final grads); the derivatives and contributions are what a student writes.
    """
    grads = [0.0] * shape.size
    grads[-1] = 1.0
    partials: list[float] = []
    contributions: list[float] = []
    for k in range(shape.size - 1, shape.n_leaves - 1, -1):
        op, args = shape.ops[k - shape.n_leaves]
        local = OPS[op].partials(*(values[a] for a in args))
        for a, d in zip(args, local):
            partials.append(d)
            contributions.append(d * grads[k])
            grads[a] += d * grads[k]
    return grads, partials, contributions


def finite_difference_grads(shape: Shape, leaf_values: list[float], h: float = 1e-6) -> list[float]:
    """d output / d node for every node, by central differences of the forward values."""
    base = evaluate(shape, leaf_values)
    out = []
    for k in range(shape.size):
        up = evaluate(shape, leaf_values, {k: base[k] + h})[-1]
        down = evaluate(shape, leaf_values, {k: base[k] - h})[-1]
        out.append((up - down) / (2 * h))
    return out


def _fits(x: float, decimals: int, max_abs: float, max_exponent: float) -> bool:
    """A short decimal in range, or (with ``max_exponent``) a number with an exact form."""
    if is_short(x, decimals):
        return abs(x) <= max_abs
    return max_exponent > 0 and exact_form(x, decimals, max_abs, max_exponent) is not None


def hand_solvable(shape: Shape, leaf_values: list[float], decimals: int, max_abs: float,
                  max_exponent: float = 0.0) -> str | None:
    """Why these numbers cannot go on an exam (``None`` when they can).

    >>> s = Shape(1, [("relu", (0,))])
    >>> hand_solvable(s, [0.0], 2, 100.0)
    'relu at its kink (z2 = relu(0))'
    >>> hand_solvable(Shape(1, [("exp", (0,))]), [2.0], 2, 100.0)
    'z2 = 7.38906 is not a short decimal'
    >>> hand_solvable(Shape(1, [("exp", (0,))]), [2.0], 2, 100.0, max_exponent=8) is None  # e^2
    True
    >>> hand_solvable(Shape(1, [("exp", (0,))]), [0.0], 2, 100.0) is None
    True
    """
    values = list(leaf_values)
    for k, (op, args) in enumerate(shape.ops, shape.n_leaves):
        spec, xs = OPS[op], [values[a] for a in args]
        shown = ", ".join(f"{x:g}" for x in xs)
        if not spec.domain(*xs):
            return f"{op} outside its domain (z{k + 1} = {op}({shown}))"
        if spec.kink(*xs):
            return f"{op} at its kink (z{k + 1} = {op}({shown}))"
        try:
            v = spec.value(*xs)
        except (OverflowError, ValueError, ZeroDivisionError):
            return f"{op} overflows (z{k + 1} = {op}({shown}))"
        values.append(v)
    for k, v in enumerate(values):
        if not _fits(v, decimals, max_abs, max_exponent):
            if is_short(v, decimals):
                return f"z{k + 1} = {v:g} is out of range"
            return f"z{k + 1} = {v:g} is not a short decimal" + (" or an exact form" if max_exponent else "")
    grads, partials, contributions = backprop(shape, values)
    for kind, numbers in (("a local derivative", partials), ("a contribution", contributions),
                          ("a grad", grads)):
        for x in numbers:
            if not _fits(x, decimals, max_abs, max_exponent):
                return f"{kind} {x:g} is not a short decimal in range"
    return None


# -- shapes ----------------------------------------------------------------------------


_EXACT_AT_ONE_POINT = {"exp", "log", "tanh", "sigmoid"}


def _op_sequence(rng: random.Random, c: Controls) -> list[str]:
    """The ops of the nodes, in order: the required ones, then as many distinct ones as fit."""
    chosen = list(dict.fromkeys(c.require))
    rest = [op for op in c.ops if op not in chosen]
    rng.shuffle(rest)
    while len(chosen) < c.nodes and rest:
        chosen.append(rest.pop())
    if c.nodes > 2 * len(c.ops):
        # a big problem: fill mostly with the ops that are exact almost anywhere; exp, log,
        # tanh and sigmoid are exact only at one point each, and a dozen of them never are
        exact_anywhere = [op for op in c.ops if op not in _EXACT_AT_ONE_POINT] or list(c.ops)
        while len(chosen) < c.nodes:
            chosen.append(rng.choice(exact_anywhere if rng.random() < 0.85 else c.ops))
    while len(chosen) < c.nodes:
        chosen.append(rng.choice(c.ops))
    rng.shuffle(chosen)
    return chosen


def _draw_shape(rng: random.Random, c: Controls, n_leaves: int) -> Shape | None:
    """A random wiring of ``c.nodes`` ops over ``n_leaves`` leaves in which every node feeds
    the output; ``None`` when the drawn op order cannot absorb all the leaves.

    Without ``c.leaves`` the leaf count is cut to what the drawn binary ops can join."""
    names = _op_sequence(rng, c)
    arity = [OPS[op].arity for op in names]
    # how many extra dangling nodes the ops after position k can still absorb
    absorb_after = [sum(a - 1 for a in arity[k + 1:]) for k in range(len(arity))]
    joinable = 1 + sum(a - 1 for a in arity)
    if c.leaves is None:
        n_leaves = min(n_leaves, joinable)
    if n_leaves > joinable:
        return None
    p_reuse = rng.choice([0.0, 0.15, 0.3, 0.5])
    p_chain = rng.choice([0.2, 0.5, 0.8])
    shape = Shape(n_leaves)
    dangling = list(range(n_leaves))
    for k, (op, ar) in enumerate(zip(names, arity)):
        node = n_leaves + k
        must = len(dangling) - absorb_after[k]  # distinct dangling nodes this op must consume
        if must > ar:
            return None
        args: list[int] = []
        pool = list(dangling)
        for slot in range(ar):
            need = must - sum(1 for a in args if a in dangling)
            slots_left = ar - slot
            if need >= slots_left or (pool and rng.random() >= p_reuse):
                choices = [d for d in pool if d not in args] or pool
                newest = max(choices)
                pick = newest if rng.random() < p_chain else rng.choice(choices)
            else:
                pick = rng.randrange(node)
            args.append(pick)
        if ar == 2 and rng.random() < 0.5:
            args.reverse()
        shape.ops.append((op, tuple(args)))
        for a in set(args):
            if a in dangling:
                dangling.remove(a)
        dangling.append(node)
    return shape if len(dangling) == 1 else None


# an op applied straight to its own result teaches nothing new (relu(relu(z)) is relu(z))
_IDEMPOTENT_PAIRS = {("relu", "relu"), ("neg", "neg")}


def _contradictory_operands(shape: Shape) -> bool:
    """Whether two ops read the same two nodes in opposite orders (``z2/z1`` and ``z1-z2``):
    no drawing puts each op's left operand above its right one for both."""
    pairs = {args for _, args in shape.ops if len(args) == 2 and args[0] != args[1]}
    if any((b, a) in pairs for a, b in pairs):
        return True
    # a node read as the left operand of one op and the right operand of another pulls the
    # drawing both ways; Graphviz then often breaks one op's rule
    lefts, rights = {a for a, _ in pairs}, {b for _, b in pairs}
    return bool(lefts & rights)


def _meets_shape_controls(shape: Shape, c: Controls) -> bool:
    names = shape.op_names()
    n = shape.n_leaves
    if _contradictory_operands(shape):
        return False
    for op, args in shape.ops:
        if any(a >= n and (shape.ops[a - n][0], op) in _IDEMPOTENT_PAIRS for a in args):
            return False
    if any(op not in names for op in c.require):
        return False
    if c.reuse is not None and shape.reuse() != c.reuse:
        return False
    return c.depth is None or shape.depth() == c.depth


def _relus_ok(shape: Shape, values: list[float], want_negative: bool) -> bool:
    relu_inputs = [values[args[0]] for op, args in shape.ops if op == "relu"]
    if not relu_inputs:
        return True
    negative = sum(1 for v in relu_inputs if v < 0)
    if want_negative:
        return negative >= 1 and (negative < len(relu_inputs) or len(relu_inputs) == 1)
    return negative == 0


#: up to this many nodes (every difficulty's default) no leaf's grad is 0 and no exp/log is
#: trivial; a bigger problem may have one zero leaf grad and half its exp/log trivial, or
#: one is rarely found in the time allowed
_STRICT_NODES = 10


def _trivial_exp_or_log(shape: Shape, values: list[float], lenient: bool = False) -> bool:
    """Whether ``exp`` is taken at 0 or ``log`` at 1 (each teaches one fact only): any of
    them, or with ``lenient`` more than half of them."""
    explog = [(op, values[args[0]]) for op, args in shape.ops if op in ("exp", "log")]
    trivial = sum(1 for op, x in explog if (op == "exp" and x == 0) or (op == "log" and x == 1))
    return trivial > len(explog) // 2 if lenient else trivial > 0


def draw(c: Controls, seed: int, shape_tries: int = 3000, value_tries: int = 120,
         time_limit: float = 15.0) -> tuple[Shape, list[float]]:
    """A shape and leaf values meeting every control; raises :class:`GenerationError`.

    The search stops after ``time_limit`` seconds (tight controls on a big problem):
    the same seed never gives another problem, but on a slow machine it may give up
    where a fast one finds it.
    """
    deadline = time.monotonic() + time_limit
    level = DIFFICULTIES[c.difficulty]
    max_abs = c.max_abs if c.max_abs is not None else level.max_abs
    rng = random.Random(seed)
    lo, hi = level.leaves
    want_negative = rng.random() < level.relu_negative
    # about one problem in ten may leave a leaf with grad 0 (a relu's dead branch); the
    # others give every leaf a grad to compute, so writing 0 everywhere earns little
    allow_zero_leaf = rng.random() < 0.1 or c.nodes > _STRICT_NODES
    # most problems put exp and log at a point worth computing (exp(2), log(e^6), log(2))
    want_nontrivial = level.max_exponent > 0 and rng.random() < 0.85
    for _ in range(shape_tries):
        if time.monotonic() > deadline:
            break
        shape = _draw_shape(rng, c, c.leaves if c.leaves is not None else rng.randint(lo, hi))
        if shape is None or not _meets_shape_controls(shape, c):
            continue
        for _ in range(value_tries):
            leaf_values = [rng.choice(level.leaf_values) for _ in range(shape.n_leaves)]
            if hand_solvable(shape, leaf_values, level.decimals, max_abs, level.max_exponent) is not None:
                continue
            values = evaluate(shape, leaf_values)
            if values[-1] == 0 or not _relus_ok(shape, values, want_negative):
                continue
            if want_nontrivial and _trivial_exp_or_log(shape, values, c.nodes > _STRICT_NODES):
                continue
            grads = backprop(shape, values)[0]
            zero_leaves = sum(1 for g in grads[: shape.n_leaves] if g == 0)
            if zero_leaves == shape.n_leaves or zero_leaves > int(allow_zero_leaf):
                continue  # a leaf's grad 0: nothing to compute for it
            return shape, leaf_values
    raise GenerationError(
        f"ag exam: no {c.difficulty} problem with {c.nodes} node(s)"
        + (f", reuse {c.reuse}" if c.reuse is not None else "")
        + (f", depth {c.depth}" if c.depth is not None else "")
        + (f", requiring {','.join(c.require)}" if c.require else "")
        + f" from ops {','.join(c.ops)} was found (seed {seed}); loosen a control "
        "(fewer nodes, another depth or reuse, more ops) or try another seed"
    )


def check_keys(shape: Shape, leaf_values: list[float], key_grads: list[Any], tol: float = 1e-5) -> int:
    """Compare every node's grad in the key with finite differences; the number checked.

    Raises ``AssertionError`` naming the node on a mismatch (a bug in the kit).
    """
    numeric = finite_difference_grads(shape, leaf_values)
    if len(key_grads) != len(numeric):  # zip would compare only the shorter list, or nothing
        raise AssertionError(f"ag exam: the key has {len(key_grads)} grads for {len(numeric)} nodes: "
                             "refusing to print a key that was not checked")
    for k, (key, fd) in enumerate(zip(key_grads, numeric)):
        if not math.isclose(float(key), fd, rel_tol=tol, abs_tol=tol):
            raise AssertionError(f"ag exam: the key says z{k + 1}.grad = {key}, finite differences "
                                 f"give {fd:.8g}: refusing to print a wrong key")
    return len(numeric)
