"""Bug-injection exercises: "find the broken backward" among kit-made ops, with gradcheck.

:func:`exercise` hands out a few ops made with :func:`ag.custom_op`, each with its
forward and a backward rule; in exactly one of them the rule is subtly wrong (a
sign inside a sigmoid, a lost factor 2, the wrong input, a sum over the wrong axis,
a missing transpose, a forgotten output grad). The student checks each op with
:func:`ag.testing.gradcheck` and names the broken one; :attr:`Exercise.key` says
which and what is wrong. ``exercises/find_the_broken_backward.py`` is the handout.

>>> ex = exercise(seed=1)
>>> sorted(ex.ops) == sorted(ex.inputs)
True
>>> ex.broken in ex.ops and "wrong" in ex.key
True
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ag.functions import logistic  # the kit's one stable sigmoid

__all__ = ["CANDIDATES", "FORWARD_TEXT", "Exercise", "exercise", "find_broken"]


# name -> (n inputs, forward on arrays, right rules, (wrong rule index, wrong rule, what is wrong))
# Rules follow the kit's protocol: rule(g, out, ctx, *inputs) -> that input's gradient.
CANDIDATES: dict[str, tuple[int, Callable, tuple, tuple[int, Callable, str]]] = {
    "softplus": (1, lambda x: np.log1p(np.exp(x)),
                 (lambda g, out, ctx, x: g * logistic(x),),
                 (0, lambda g, out, ctx, x: g * logistic(-x),
                  "the rule uses sigmoid(-x); d/dx log(1 + e^x) = sigmoid(x)")),
    "rowsq": (1, lambda x: (x * x).sum(axis=-1),
              (lambda g, out, ctx, x: g[..., None] * 2 * x,),
              (0, lambda g, out, ctx, x: g[..., None] * x,
               "the factor 2 of d(x^2)/dx = 2x is lost")),
    "scale": (2, lambda a, b: a * b,
              (lambda g, out, ctx, a, b: g * b, lambda g, out, ctx, a, b: g * a),
              (1, lambda g, out, ctx, a, b: g * b,
               "the rule of b multiplies by b; d(a*b)/db = a")),
    "softmax_rows": (1, lambda x: np.exp(x - x.max(-1, keepdims=True))
                     / np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True),
                     (lambda g, out, ctx, x: out * (g - (g * out).sum(-1, keepdims=True)),),
                     (0, lambda g, out, ctx, x: out * (g - (g * out).sum(0, keepdims=True)),
                      "the weighted sum runs over axis 0 (the batch) instead of the last axis")),
    "matmul_sq": (2, lambda a, b: a @ b,
                  (lambda g, out, ctx, a, b: g @ b.T, lambda g, out, ctx, a, b: a.T @ g),
                  (0, lambda g, out, ctx, a, b: g @ b,
                   "the rule of a misses a transpose: it is g @ b.T, not g @ b (square b hides it)")),
    "squash": (1, lambda x: np.tanh(x),
               (lambda g, out, ctx, x: g * (1 - out * out),),
               (0, lambda g, out, ctx, x: 1 - out * out,
                "the rule forgets to multiply by the output's grad g")),
    "leaky": (1, lambda x: np.where(x > 0, x, 0.1 * x),
              (lambda g, out, ctx, x: g * np.where(x > 0, 1.0, 0.1),),
              (0, lambda g, out, ctx, x: g * np.where(x > 0, 1.0, 0.01),
               "the slope of the negative side is 0.01 in the rule but 0.1 in the forward")),
}


#: what each op computes, as a handout writes it (the rules are for the student to check)
FORWARD_TEXT = {
    "softplus": "log(1 + exp(x)), elementwise",
    "rowsq": "sum of x**2 along the last axis",
    "scale": "a * b, elementwise",
    "softmax_rows": "softmax of each row (along the last axis)",
    "matmul_sq": "a @ b (square matrices)",
    "squash": "tanh(x), elementwise",
    "leaky": "x where x > 0, else 0.1 * x (leaky relu)",
}


@dataclass
class Exercise:
    """Ops to check (name -> function of Tensors), an input for each, and the key."""

    seed: int
    ops: dict[str, Callable[..., Any]]
    inputs: dict[str, list[np.ndarray]]
    broken: str
    key: str


def _make(name: str, broken: bool) -> Callable[..., Any]:
    import ag

    n, forward, rules, (k, bad, _) = CANDIDATES[name]
    used = tuple(bad if broken and i == k else r for i, r in enumerate(rules))

    def op(*tensors: Any) -> Any:
        return ag.custom_op(forward(*(t.value for t in tensors)), list(tensors), name, used)

    op.__name__ = name
    return op


def _inputs(name: str, rng: np.random.Generator) -> list[np.ndarray]:
    n = CANDIDATES[name][0]
    shape = (3, 3) if name == "matmul_sq" else (3, 4)
    arrays = [rng.standard_normal(shape) for _ in range(n)]
    if name == "leaky":  # keep off the kink at 0
        arrays = [np.where(np.abs(a) < 0.1, 0.5, a) for a in arrays]
    return arrays


def exercise(seed: int = 0, n_ops: int = 4) -> Exercise:
    """``n_ops`` ops drawn from :data:`CANDIDATES`, exactly one with a broken rule."""
    rng = random.Random(seed)
    names = rng.sample(sorted(CANDIDATES), n_ops)
    broken = rng.choice(names)
    arrays = np.random.default_rng(seed)
    ops = {name: _make(name, name == broken) for name in names}
    inputs = {name: _inputs(name, arrays) for name in names}
    what = CANDIDATES[broken][3][2]
    return Exercise(seed, ops, inputs, broken, f"{broken} is the broken one: {what} (the rule is wrong, "
                    "its forward is right)")


def find_broken(ex: Exercise) -> list[str]:
    """What a student does: gradcheck every op; the names that fail (the solution)."""
    import ag
    from ag.testing import gradcheck

    failing = []
    for name, op in ex.ops.items():
        tensors = [ag.tensor(a.copy(), requires_grad=True) for a in ex.inputs[name]]
        if not gradcheck(lambda *ts, op=op: op(*ts), *tensors, raise_exception=False):
            failing.append(name)
    return failing
