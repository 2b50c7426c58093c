"""Grade a student's backward rule for an op by gradcheck, with per-element partial credit.

The student writes, in a Python file, the op's backward the way the kit's rules are
written::

    def backward(grad, out, x):          # one-input ops: d loss / d x
        return grad * (1 - out**2)       # tanh

    def backward(grad, out, a, b):       # two-input ops: (d loss / d a, d loss / d b)
        return grad * b, grad * a        # mul

``grad`` is the output's gradient, ``out`` the op's value, then the inputs (NumPy
arrays). :func:`grade_op` draws inputs with hypothesis (away from kinks and off the
op's domain edges), computes the reference forward with the kit's own op, and
compares each element of the student's gradient with central finite differences
of ``sum(grad * op(inputs))`` in float64. Credit per example is the share of
elements that match; the score is the mean over examples. No PyTorch is needed.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "tanh_rule.py")
>>> _ = open(path, "w").write("def backward(grad, out, x):\\n    return grad * (1 - out**2)\\n")
>>> grade_op("tanh", path, examples=5).score
1.0
"""

from __future__ import annotations

import inspect
import math
import runpy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["GRADABLE_OPS", "OpReport", "grade_op", "grade_rule"]


def _gradable_ops() -> dict[str, Any]:
    """The Tensor ops of ``ag.ops`` whose backward a student can write from the inputs
    alone: one or two inputs, called with nothing else (read from the op registry)."""
    from ag import registry

    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    gradable = {}
    for name, entry in registry.tensor_ops().items():
        if (entry.function is None or entry.op != name or entry.arity not in (1, 2)
                or not entry.function.__module__.startswith("ag.ops.")):
            continue
        params = inspect.signature(entry.function).parameters.values()
        required = [p for p in params if p.kind in kinds and p.default is p.empty]
        if len(required) == entry.arity and all(p.kind in kinds or p.kind is p.KEYWORD_ONLY
                                                for p in params):
            gradable[name] = entry
    return gradable


def _forward(op: Any) -> Callable[..., np.ndarray]:
    import ag

    def run(*arrays: np.ndarray) -> np.ndarray:
        return np.asarray(op.function(*(ag.tensor(a) for a in arrays)).value, dtype=np.float64)

    return run


#: op -> its registry entry (``OpDef``): every Tensor op that ``ag grade --op`` can grade
GRADABLE_OPS: dict[str, Any] = _gradable_ops()


@dataclass
class OpReport:
    """The result: per-example credit, the first mismatch in words, the score in [0, 1]."""

    op: str
    credits: list[float] = field(default_factory=list)
    first_failure: str = ""

    @property
    def score(self) -> float:
        return float(np.mean(self.credits)) if self.credits else 0.0

    def text(self) -> str:
        full = sum(1 for c in self.credits if c == 1.0)
        lines = [f"{self.op} backward: score {self.score:.3f} (share of gradient elements right, "
                 f"averaged over {len(self.credits)} drawn inputs; {full} fully right)"]
        lines.append("first mismatch: " + (self.first_failure or "none"))
        return "\n".join(lines)


def _draw_inputs(data: Any, op: Any, paired: bool) -> list[np.ndarray]:
    """Inputs where ``op`` is valid (its registered ``defined``, ``safe`` and ``kinks``):
    drawn in [-3, 3], moved away from the kinks, and moved to ``|x| + 0.2`` if invalid."""
    from hypothesis import assume
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    if paired:  # operands that multiply as matrices: (m, k) and (k, n)
        m, k, n = (data.draw(st.integers(1, 4)) for _ in range(3))
        shapes = [(m, k), (k, n)]
    else:
        shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=4))
        shapes = [shape] * op.arity
    floats = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)
    arrays = []
    for shape in shapes:
        x = data.draw(hnp.arrays(np.float64, shape, elements=floats))
        for k in op.kinks:  # finite differences straddling a kink disagree with any slope
            x = np.where(np.abs(x - k) < 0.2, np.where(x < k, k - 0.2, k + 0.2), x)
        arrays.append(x)
    if not paired and not np.all(op.valid(*arrays)):
        arrays = [np.abs(x) + 0.2 for x in arrays]  # log, sqrt, a divisor: positive
    assume(paired or bool(np.all(op.valid(*arrays))))
    return arrays


def _paired(op: Any, forward: Callable) -> bool:
    """Whether ``op``'s two operands must have shapes (m, k) and (k, n) (matmul) rather than one."""
    if op.arity != 2:
        return False
    try:
        forward(np.ones((2, 3)), np.ones((2, 3)))
    except ValueError:
        return True
    return False


def _numeric_vjp(fn: Callable, inputs: list[np.ndarray], grad: np.ndarray,
                 h: float = 1e-6) -> list[np.ndarray]:
    out = []
    for i, x in enumerate(inputs):
        g = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            moved = [a.copy() for a in inputs]
            moved[i][idx] = x[idx] + h
            up = float(np.sum(grad * fn(*moved)))
            moved[i][idx] = x[idx] - h
            down = float(np.sum(grad * fn(*moved)))
            g[idx] = (up - down) / (2 * h)
        out.append(g)
    return out


def grade_rule(op: str, backward: Callable, examples: int = 30, seed: int = 0,
               rtol: float = 1e-4, atol: float = 1e-6) -> OpReport:
    """Grade ``backward(grad, out, *inputs)`` for ``op`` on ``examples`` drawn inputs."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    if op not in GRADABLE_OPS:
        raise ValueError(f"ag grade --op: cannot grade {op!r}; choose from {', '.join(GRADABLE_OPS)}")
    entry = GRADABLE_OPS[op]
    n_inputs = entry.arity
    fn = _forward(entry)
    paired = _paired(entry, fn)
    report = OpReport(op)

    @settings(max_examples=examples, database=None, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def one(data: Any) -> None:
        inputs = _draw_inputs(data, entry, paired)
        out = fn(*inputs)
        # an output grad that is not all ones, so a rule that ignores it is caught
        scale = data.draw(st.sampled_from([1.0, 0.5, -2.0]))
        grad = scale * (1.0 + np.arange(out.size).reshape(out.shape) % 3)
        expected = _numeric_vjp(fn, inputs, grad)
        where = f"inputs {[a.round(3).tolist() for a in inputs]}, grad {grad.round(3).tolist()}"
        try:
            got = backward(grad.copy(), out.copy(), *(a.copy() for a in inputs))
        except Exception as err:  # the student's code failed: no credit for this example
            report.credits.append(0.0)
            report.first_failure = report.first_failure or (
                f"backward raised {type(err).__name__}: {err} ({where})")
            return
        got = list(got) if n_inputs > 1 and isinstance(got, (tuple, list)) else [got]
        if len(got) != n_inputs:
            report.credits.append(0.0)
            report.first_failure = report.first_failure or (
                f"backward returned {len(got)} gradient(s); {op} has {n_inputs} input(s) ({where})")
            return
        right, total = 0, 0
        for i, (g, e) in enumerate(zip(got, expected)):
            g = np.asarray(g, dtype=np.float64)
            if g.shape != e.shape:  # a gradient has its input's shape: no credit otherwise
                total += e.size
                report.first_failure = report.first_failure or (
                    f"input {i}: the gradient's shape is {g.shape}, the input's is {e.shape} ({where})")
                continue
            ok = np.isclose(g, e, rtol=rtol, atol=atol)
            right += int(ok.sum())
            total += e.size
            if not ok.all() and not report.first_failure:
                idx = tuple(int(j) for j in np.argwhere(~ok)[0])
                report.first_failure = (f"input {i} element {idx}: expected {e[idx]:.6g} (finite "
                                        f"differences), got {g[idx]:.6g}; {int(ok.sum())} of {e.size} "
                                        f"elements right ({where})")
        report.credits.append(right / total if total else 0.0)

    one()
    return report


def grade_op(op: str, path: str | Path, examples: int = 30, function: str = "backward") -> OpReport:
    """Load ``function`` from the student's file ``path`` and grade it with :func:`grade_rule`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ag grade --op: no such file: {path}")
    namespace = runpy.run_path(str(path))
    backward = namespace.get(function)
    if not callable(backward):
        raise ValueError(f"ag grade --op: {path} defines no function {function}(grad, out, *inputs)")
    if not math.isfinite(examples) or examples < 1:
        raise ValueError("ag grade --op: --examples must be at least 1")
    return grade_rule(op, backward, examples=examples)
