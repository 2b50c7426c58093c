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

:func:`grade_op` runs the student's file in a separate Python process
(:class:`StudentProcess`): the student's code gets the drawn arrays and sends its
gradients back as numbers, with a time limit per call; it never sees the grader's
objects (so patching ``np.isclose`` or raising ``SystemExit`` changes nothing
here), and the comparison happens in the grader. An example whose call raises,
exits, hangs or returns something that is not an array earns 0 with the reason.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "tanh_rule.py")
>>> _ = open(path, "w").write("def backward(grad, out, x):\\n    return grad * (1 - out**2)\\n")
>>> grade_op("tanh", path, examples=5).score
1.0
"""

from __future__ import annotations

import inspect
import json
import math
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["GRADABLE_OPS", "OpReport", "StudentCodeError", "StudentProcess", "grade_op", "grade_rule"]


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

    def gradescope(self) -> dict[str, Any]:
        """Gradescope's ``results.json`` for this submission (written even when nothing ran)."""
        return {"score": round(self.score, 4), "output": self.text(),
                "tests": [{"name": f"{self.op} backward, drawn input {i}", "score": c / len(self.credits),
                           "max_score": 1.0 / len(self.credits),
                           "output": "right" if c == 1.0 else f"{c:.3f} of the elements right"}
                          for i, c in enumerate(self.credits)]}


class StudentCodeError(Exception):
    """The student's code failed on one example; the message says how (shown in the report)."""


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
        except StudentCodeError as err:  # in the student's process: raised, exited, hung, not numbers
            report.credits.append(0.0)
            report.first_failure = report.first_failure or f"{err} ({where})"
            return
        except Exception as err:  # the student's code failed: no credit for this example
            report.credits.append(0.0)
            report.first_failure = report.first_failure or (
                f"backward raised {type(err).__name__}: {err} ({where})")
            return
        got = list(got) if n_inputs > 1 and isinstance(got, (tuple, list)) else [got]
        try:
            got = [np.asarray(g, dtype=np.float64) for g in got]
        except (TypeError, ValueError):
            report.credits.append(0.0)
            report.first_failure = report.first_failure or (
                f"backward returned {_short(got)}, not arrays of numbers ({where})")
            return
        if len(got) != n_inputs:
            report.credits.append(0.0)
            report.first_failure = report.first_failure or (
                f"backward returned {len(got)} gradient(s); {op} has {n_inputs} input(s) ({where})")
            return
        right, total = 0, 0
        for i, (g, e) in enumerate(zip(got, expected)):
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


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_WORKER = r"""
import json, os, sys
channel = os.fdopen(os.dup(1), "w")  # answers go here; the student's prints go to stderr
os.dup2(2, 1)
sys.stdout = sys.stderr
import numpy as np


def send(message):
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


path, name, memory = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:  # a memory limit for the student's code (POSIX)
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
except Exception:
    pass
try:
    import runpy
    backward = runpy.run_path(path, run_name="student_rule").get(name)
    if not callable(backward):
        send({"load": "the file defines no function %s(grad, out, *inputs)" % name})
        raise SystemExit(0)
    send({"load": ""})
except BaseException as err:
    if not isinstance(err, SystemExit) or err.code != 0 or "backward" not in dir():
        send({"load": "loading the file raised %s: %s" % (type(err).__name__, str(err)[:200])})
    raise SystemExit(0)
for line in sys.stdin:
    message = json.loads(line)
    arrays = [np.array(a, dtype=np.float64).reshape(s) for a, s in zip(message["arrays"], message["shapes"])]
    try:
        got = backward(*arrays)
    except BaseException as err:  # SystemExit and KeyboardInterrupt too: this example fails, not the run
        send({"error": "backward raised %s: %s" % (type(err).__name__, str(err)[:200])})
        continue
    got = list(got) if message["n_inputs"] > 1 and isinstance(got, (tuple, list)) else [got]
    try:
        parts = [np.asarray(g, dtype=np.float64) for g in got]
        send({"ok": [[p.ravel().tolist(), list(p.shape)] for p in parts]})
    except BaseException:
        send({"error": "backward returned %s, not arrays of numbers" % short(got)})
"""


#: after this many calls past the time limit, the remaining drawn inputs are not run (0 each)
MAX_TIMEOUTS = 3
#: the most memory (bytes of address space) the student's process may take
MEMORY_LIMIT = 4 * 2**30


#: seconds a fresh Python needs to start and import NumPy (on a busy machine), on top of the limit
_STARTUP_S = 30.0


class StudentProcess:
    """The student's ``backward`` in its own Python process, called with arrays, under a time limit.

    Use as a context manager; call it like the student's function. A call that
    raises, ends the process, runs past ``time_limit`` seconds or returns something
    that is not numbers raises :class:`StudentCodeError` (the process is restarted
    for the next call). ``load_error`` says why the file could not be loaded.
    """

    def __init__(self, path: str | Path, function: str = "backward", n_inputs: int = 1,
                 time_limit: float = 10.0) -> None:
        self.path = Path(path).resolve()
        self.function = function
        self.n_inputs = n_inputs
        self.time_limit = time_limit
        self.load_error = ""
        self.timeouts = 0
        self._proc: subprocess.Popen | None = None
        self._lines: queue.Queue = queue.Queue()

    def __enter__(self) -> StudentProcess:
        self._start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _start(self) -> None:
        self.close()
        self._lines = queue.Queue()
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(self.path), self.function, str(MEMORY_LIMIT)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            cwd=str(self.path.parent), text=True, encoding="utf-8", env=env)
        lines = self._lines
        stdout = self._proc.stdout

        def pump() -> None:  # a thread, so a read can time out
            assert stdout is not None
            for line in stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        first = self._read("loading the file", self.time_limit + _STARTUP_S)
        if isinstance(first, StudentCodeError):
            self.load_error = str(first)
        elif first.get("load"):
            self.load_error = str(first["load"])

    def _read(self, doing: str, limit: float | None = None) -> dict | StudentCodeError:
        limit = self.time_limit if limit is None else limit
        try:
            line = self._lines.get(timeout=limit)
        except queue.Empty:
            self.close()
            self.timeouts += 1
            return StudentCodeError(f"{doing} took longer than {limit:g} s (stopped)")
        if line is None:
            code = self._proc.wait() if self._proc is not None else None
            self._proc = None
            return StudentCodeError(f"the process running the student's code ended while {doing} "
                                    f"(exit status {code})")
        try:
            message = json.loads(line)
            if not isinstance(message, dict):
                raise ValueError
            return message
        except ValueError:
            return StudentCodeError(f"the student's code wrote over the grader's channel while {doing}")

    def __call__(self, grad: np.ndarray, out: np.ndarray, *inputs: np.ndarray) -> Any:
        if self.load_error:
            raise StudentCodeError(self.load_error)
        if self.timeouts >= MAX_TIMEOUTS:  # a hanging rule would make a class wait for hours
            raise StudentCodeError(f"not run: {self.timeouts} calls already ran past the time limit")
        if self._proc is None:
            self._start()
            if self.load_error:
                raise StudentCodeError(self.load_error)
        arrays = [grad, out, *inputs]
        message = {"arrays": [a.ravel().tolist() for a in arrays], "shapes": [list(a.shape) for a in arrays],
                   "n_inputs": self.n_inputs}
        try:
            assert self._proc is not None and self._proc.stdin is not None
            self._proc.stdin.write(json.dumps(message) + "\n")
            self._proc.stdin.flush()
        except (OSError, ValueError):
            self.close()
            raise StudentCodeError("the process running the student's code had ended") from None
        reply = self._read("running backward")
        if isinstance(reply, StudentCodeError):
            raise reply
        if "error" in reply:
            raise StudentCodeError(str(reply["error"]))
        try:
            parts = [np.asarray(data, dtype=np.float64).reshape(shape) for data, shape in reply["ok"]]
            return parts[0] if self.n_inputs == 1 and len(parts) == 1 else tuple(parts)
        except (KeyError, TypeError, ValueError):
            raise StudentCodeError("the student's process sent something that is not gradients") from None

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                try:
                    if stream is not None:
                        stream.close()
                except OSError:
                    pass


def grade_op(op: str, path: str | Path, examples: int = 30, function: str = "backward",
             time_limit: float = 10.0) -> OpReport:
    """Grade ``function`` of the student's file ``path``, run in its own process (see the module).

    Always returns a report: a file that cannot be loaded scores 0 with the reason.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ag grade --op: no such file: {path}")
    if op not in GRADABLE_OPS:
        raise ValueError(f"ag grade --op: cannot grade {op!r}; choose from {', '.join(GRADABLE_OPS)}")
    if not math.isfinite(examples) or examples < 1:
        raise ValueError("ag grade --op: --examples must be at least 1")
    if not time_limit > 0:
        raise ValueError("ag grade --op: --time-limit must be positive")
    with StudentProcess(path, function, GRADABLE_OPS[op].arity, time_limit) as student:
        if student.load_error:
            report = OpReport(op, [0.0] * examples, f"{path}: {student.load_error}")
            return report
        return grade_rule(op, student, examples=examples)
