"""``ag check``: a student checks their own worked answers without seeing the key.

The problem is an exam seed (generated again, with the sheet's options) or the
student's own forward file (``ag.Scalar`` code that calls ``backward()``). The
student's filled-in template is graded with the grader's own logic
(:func:`ag.exam.grade.grade`: slips carried forward, the true value accepted,
another valid order noticed), and the result says which rows are right and, for
the first wrong one, only *where* it is and *what kind* of slip it looks like
(the order, a rule, the accumulation, a sign, arithmetic), not the number, unless
``show_answer``.

>>> from ag.exam import generate
>>> from ag.exam.grade import fill
>>> problem = load_problem("4")
>>> answers = fill(problem.template, problem.key)
>>> result = check_text(problem, answers)
>>> result.all_right, result.text().splitlines()[0]
(True, 'seed 4: every row is right (14 of 14)')
"""

from __future__ import annotations

import contextlib
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ag.exam.grade import AnswerFormatError, Cell, Report, grade, parse_answers, read_answers
from ag.exam.key import KeyFormatError, ProblemKey

__all__ = ["CheckError", "CheckProblem", "CheckResult", "load_problem", "problem_from_code", "check",
           "check_text", "slip_kind"]


class CheckError(ValueError):
    """The problem or the answers cannot be read; the message says why."""


@dataclass
class CheckProblem:
    """What ``ag check`` checks against: the (hidden) key and the blank template."""

    name: str
    key: ProblemKey
    template: str


@dataclass
class CheckResult:
    """The checked answers: the grader's report, shown without the key's numbers."""

    problem: CheckProblem
    report: Report
    show_answer: bool = False

    @property
    def all_right(self) -> bool:
        return all(c.ok for c in self.report.cells) and not self.report.extra

    def text(self) -> str:
        r = self.report
        right = [c for c in r.cells if c.ok]
        total = len(r.cells)
        if self.all_right:
            return f"{self.problem.name}: every row is right ({total} of {total})"
        lines = [f"{self.problem.name}: {len(right)} of {total} rows right"]
        lines += r.notes
        lines += [f"not asked for: {e}" for e in r.extra]
        for c in r.cells:
            mark = "right" if c.ok else ("blank" if c.answer is None else "WRONG")
            extra = ""
            if c.status == "carried forward":
                extra = " (right given your earlier numbers)"
            if self.show_answer and not c.ok:
                extra = f" (should be {c.shown_expected()})"
            lines.append(f"  {_place(c):<24} {c.quantity:<10} {mark}{extra}")
        first = r.first_divergence
        if first is not None:
            kind = slip_kind(first, r)
            lines.append(f"first wrong row: {_place(first)}, {first.quantity}: {kind}")
            if self.show_answer:
                lines.append(f"  {first.explanation}")
            else:
                lines.append("  (ag check --show-answer shows the right number and how it is computed)")
        return "\n".join(lines)


def _place(c: Cell) -> str:
    return "forward pass" if c.iteration == "forward" else f"iteration {c.iteration}"


def slip_kind(cell: Cell, report: Report) -> str:
    """What kind of slip a wrong cell looks like, in words that do not give the answer away.

    >>> c = Cell("3", "z2.grad", 6.0, 6.0, 3.0, 0.0, "wrong", detail={"prev": 3.0, "terms": [3.0], "g": 3.0})
    >>> slip_kind(c, Report(1))
    'the accumulation: a grad is added to (+=), not replaced; start from the grad it had before'
    """
    if report.order_diverges_at is not None and cell.iteration != "forward" \
            and int(cell.iteration) >= report.order_diverges_at:
        return (f"the order: your order leaves the depth-first order at iteration "
                f"{report.order_diverges_at} (see above)")
    if cell.answer is None:
        return "left blank"
    if isinstance(cell.answer, str) or isinstance(cell.expected, str):
        return "the order: the node this iteration works on"
    if not math.isfinite(cell.answer):
        return "not a finite number"

    def near(x: float) -> bool:
        return math.isfinite(x) and math.isclose(cell.answer, x, rel_tol=1e-3, abs_tol=5e-3)

    expected = float(cell.expected)
    d = cell.detail
    if cell.quantity.endswith(".value"):
        if near(-expected) and expected != 0:
            return "a sign in the forward pass (recompute this value from its inputs)"
        return "the forward pass: recompute this node's value from its inputs' values"
    if d:
        prev, terms, g = d.get("prev", 0.0), d.get("terms", []), d.get("g", 1.0)
        contribution = sum(terms)
        if prev != 0 and near(contribution):
            return ("the accumulation: a grad is added to (+=), not replaced; start from the grad it "
                    "had before")
        if contribution != 0 and near(prev - contribution):
            return "a sign: this iteration adds its contribution"
        if expected != 0 and near(-expected):
            return "a sign"
        if g not in (0.0, 1.0) and near(prev + contribution / g):
            return "a rule: the chain rule multiplies the local derivative by the node's own grad"
        if len(terms) > 1 and any(near(prev + t) for t in terms):
            return "a rule: this input is used more than once by the node; add a contribution for each use"
        for alt in d.get("other_rules", []):
            if near(prev + alt):
                return "a rule: look again at what this op's backward adds (which value it uses)"
    if near(expected * 10) or near(expected / 10) or (abs(expected) > 1 and near(round(expected))):
        return "arithmetic (a misplaced decimal point or rounding)"
    return "arithmetic or a rule: recompute this grad from the rule of the node and its numbers"


# -- problems ------------------------------------------------------------------------------------


def load_problem(problem: str, *, ops: str | None = None, nodes: int | None = None,
                 leaves: int | None = None, difficulty: str = "exam") -> CheckProblem:
    """An exam seed (``"12"``) with the sheet's options, or the student's own forward file."""
    from ag.exam.handout import answer_template

    text = problem.strip()
    if text.lstrip("-").isdigit() and text.isascii():
        from ag.exam import DEFAULT_OPS, generate

        chosen = [o.strip() for o in ops.split(",") if o.strip()] if ops else list(DEFAULT_OPS)
        try:
            p = generate(seed=int(text), ops=chosen, nodes=nodes, leaves=leaves, difficulty=difficulty)
        except ValueError as err:
            raise CheckError(str(err)) from None
        return CheckProblem(f"seed {p.seed}", ProblemKey.from_problem(p), answer_template(p))
    path = Path(problem)
    if not path.is_file():
        raise CheckError(f"{problem} is neither an exam seed (a number) nor a file")
    try:
        code = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise CheckError(f"cannot read {path}: {err}") from None
    own = problem_from_code(code, str(path))
    return CheckProblem(str(path), ProblemKey.from_problem(own), answer_template(own))


def problem_from_code(code: str, name: str = "<forward code>", seed: int = 0) -> Any:
    """A forward program (``ag.Scalar`` code that calls ``backward()``) run under a trace.

    Returns what the key and template builders read (:meth:`ProblemKey.from_problem`,
    :func:`ag.exam.handout.answer_template`): the trace, and the graph in the exam's
    op set when it replays the trace's own numbers (else the key is checked row by row).

    >>> p = problem_from_code('import ag\\nx = ag.Scalar(3.0, label="z1:leaf(x)")\\nz1 = x\\n'
    ...                       'z2 = z1*z1\\nz2.backward()\\n', seed=5)
    >>> ProblemKey.from_problem(p).answer("0", "z1.grad")
    6.0
    """
    import ag
    from ag.exam.generator import Shape
    from ag.exam.ops import OPS
    from ag.trace import Trace

    try:  # the program's own prints go to stderr: stdout is the template or the check
        with Trace() as t, contextlib.redirect_stdout(sys.stderr):
            exec(compile(code, name, "exec"), {"__name__": "__main__", "__file__": name})
    except SystemExit:
        pass
    except Exception as err:
        raise CheckError(f"running {name} raised {type(err).__name__}: {err}") from None
    if not t.runs:
        raise CheckError(f"{name} made no backward() call; end it with `z.backward()` on the output")
    run = t.last
    if not all(isinstance(n, ag.Scalar) for n in run.order):
        raise CheckError(f"{name}: ag check works with ag.Scalar problems (one number per node)")
    names = {run.name(n): n for n in run.order}
    n_leaves = sum(1 for n in run.order if not n.inputs)
    shape = None
    wanted = [f"z{i + 1}" for i in range(len(run.order))]
    if sorted(names, key=lambda z: int(z[1:]) if z[1:].isdigit() else -1) == wanted and \
            all(not names[f"z{i + 1}"].inputs for i in range(n_leaves)):
        ops = []
        for z in wanted[n_leaves:]:
            node = names[z]
            op = "pow" if node.op == "pow_const" else node.op  # the square; verify() refuses other powers
            args = tuple(int(run.name(i)[1:]) - 1 for i in node.inputs)
            if op not in OPS or OPS[op].arity != len(args) or any(a >= int(z[1:]) - 1 for a in args):
                ops = None
                break
            ops.append((op, args))
        if ops is not None:
            shape = Shape(n_leaves, ops)
    leaf_values = [float(names[z].value) for z in wanted[:n_leaves]] if shape is not None else []
    problem = SimpleNamespace(
        seed=seed, run=run, code=code, order=run.order_text(), difficulty="own", shape=shape,
        leaf_values=leaf_values, leaves=[run.display_name(names[z]) for z in wanted[:n_leaves]]
        if shape is not None else [], keys_checked=0)
    if shape is not None:
        try:  # the graph read back from the trace must give the trace's own numbers
            ProblemKey.from_problem(problem).verify()
        except KeyFormatError:  # (a power other than the square, say): checked row by row instead
            problem.shape, problem.leaf_values, problem.leaves = None, [], []
    return problem


# -- checking ------------------------------------------------------------------------------------


def check_text(problem: CheckProblem, text: str, *, name: str = "answers",
               show_answer: bool = False) -> CheckResult:
    """Check answers given as text (see :func:`check`)."""
    try:
        _, rows = parse_answers(text, name, generic=not problem.key.is_backprop)
        report = grade(problem.key, rows)
    except AnswerFormatError as err:
        raise CheckError(str(err)) from None
    return CheckResult(problem, report, show_answer)


def check(problem: CheckProblem, answers: str | Path, *, show_answer: bool = False) -> CheckResult:
    """Check the student's filled-in template ``answers`` against ``problem``."""
    try:
        seed, rows = read_answers(answers, generic=not problem.key.is_backprop)
        if seed is not None and problem.key.kind == "backprop" and problem.name.startswith("seed ") \
                and seed != problem.key.seed:
            raise CheckError(f"{answers} is the template of seed {seed}, not of {problem.name}")
        report = grade(problem.key, rows)
    except AnswerFormatError as err:
        raise CheckError(str(err)) from None
    return CheckResult(problem, report, show_answer)
