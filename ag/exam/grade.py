"""Grade a student's backprop answers against the key, offline, with error carried forward.

The student fills in the answer template that ``ag exam`` wrote (CSV, a
semicolon CSV from a spreadsheet, or a Markdown table: ``iteration, node,
quantity, answer``). Each number is graded against what it should be *given the
student's own earlier numbers*, and the true value is accepted too: a value
against the op applied to the values the student wrote for its inputs, a grad
after an iteration against the grad the student had so far plus the rule applied
to the student's values and the student's grad of the node. So one early slip
costs that cell, not every line after it. Non-finite answers earn nothing. The
first place the student went wrong is explained in words.

A student who works the backward loop in another order is told where it leaves
the depth-first order; when their order is still a valid topological order, the
rest is graded against it (its credit is the instructor's ``other_order_credit``).
On a ``--hide-order`` sheet the node column is graded too.

>>> from ag.exam import generate
>>> from ag.exam.handout import answer_template
>>> from ag.exam.key import ProblemKey
>>> p = generate(seed=4)
>>> key = ProblemKey.from_problem(p)
>>> filled = fill(answer_template(p), key)          # every answer right
>>> report = grade(key, parse_answers(filled))
>>> report.score == report.max_score
True
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ag.exam.exact import NonFiniteNumberError, NumberFormatError, read_number
from ag.exam.key import ExamKey, KeyFormatError, ProblemKey
from ag.exam.ops import OPS
from ag.trace import format_number

__all__ = [
    "AnswerFormatError",
    "AnswerRow",
    "Cell",
    "Report",
    "FileResult",
    "parse_answers",
    "read_answers",
    "load_key",
    "grade",
    "grade_file",
    "fill",
    "gradescope_results",
]

HEADER = ("iteration", "node", "quantity", "answer")
#: the most rows an answers file may have (a template has a few dozen)
MAX_ROWS = 5000


class AnswerFormatError(ValueError):
    """The answers file is not in the template's format; the message names the file and line."""


@dataclass
class AnswerRow:
    """One row the student wrote; a non-finite ``answer`` (inf, nan) earns nothing (``note`` says why)."""

    line: int
    iteration: str
    node: str
    quantity: str
    answer: float | None
    raw: str
    source: str = "answers"
    note: str = ""

    @property
    def where(self) -> str:
        return f"{self.source} line {self.line}"


@dataclass
class Cell:
    """One graded answer: where, what it should be (given the student's numbers), the credit.

    ``quantity`` is ``zK.value``, ``zK.grad`` or, on a hidden-order sheet, ``node``
    (then ``expected``/``answer`` are node names).
    """

    iteration: str
    quantity: str
    expected: float | str
    true: float | str
    answer: float | str | None
    credit: float
    status: str            # right, carried forward, wrong, blank
    explanation: str = ""
    max_credit: float = 1.0
    exact: str = ""        # the key's exact form of the true value, if any
    #: for a grad: ``prev`` (the grad before), ``terms`` (what each use adds), ``g`` (the node's
    #: grad), ``other_rules`` (what plausible wrong rules would add); ``ag check`` reads it
    detail: dict = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """Right, or right given the student's earlier numbers (its credit may still be a share)."""
        return self.status in ("right", "carried forward")

    def shown_answer(self) -> str:
        if self.answer is None:
            return "(blank)"
        return self.answer if isinstance(self.answer, str) else format_number(self.answer)

    def shown_expected(self) -> str:
        if isinstance(self.expected, str):
            return self.expected
        shown = format_number(self.expected)
        if self.exact:
            shown = f"{self.exact} = {shown}"
        return shown


@dataclass
class Report:
    """One student's graded problem: the cells, notes and the first slip in words."""

    seed: int
    cells: list[Cell] = field(default_factory=list)
    #: rows the key does not ask for (a grad in another iteration than the loop changes it)
    extra: list[str] = field(default_factory=list)
    #: what the grader noticed about the file as a whole (repeated rows, another order)
    notes: list[str] = field(default_factory=list)
    #: the student's backward order left the depth-first order here (None: it did not)
    order_diverges_at: int | None = None

    @property
    def score(self) -> float:
        return sum(c.credit for c in self.cells)

    @property
    def max_score(self) -> float:
        return float(sum(c.max_credit for c in self.cells))

    @property
    def first_divergence(self) -> Cell | None:
        return next((c for c in self.cells if c.status in ("wrong", "blank")), None)

    def text(self) -> str:
        """The report a student or TA reads: score, first slip, then each iteration."""
        lines = [f"seed {self.seed}: score {format_number(self.score)} / {format_number(self.max_score)}"]
        first = self.first_divergence
        lines.append("first divergence: " + (first.explanation if first else "none, every answer is right"))
        lines += self.notes
        lines += [f"not in the key (no credit): {e}" for e in self.extra]
        carried = [c for c in self.cells if c.status == "carried forward"]
        if carried:
            which = ", ".join(f"{c.quantity} ({_where(c.iteration)})" for c in carried)
            lines.append(f"{_count(len(carried), 'answer')} got full credit carried forward from an earlier "
                         f"slip: {which}")
        current = None
        for c in self.cells:
            if c.iteration != current:
                current = c.iteration
                lines.append(f"  {_where(c.iteration)}:")
            lines.append(f"    {c.quantity} = {c.shown_answer()}: {c.status}, "
                         f"{format_number(c.credit)} / {format_number(c.max_credit)}"
                         + ("" if c.ok else f" (should be {c.shown_expected()})"))
        return "\n".join(lines)


def _where(iteration: str) -> str:
    return "forward pass" if iteration == "forward" else f"iteration {iteration}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _num(x: float) -> str:
    """A number inside a formula: negatives in parentheses, ``0 + (-1) * 1``."""
    text = format_number(x)
    return f"({text})" if text.startswith("-") else text


# -- reading answers ----------------------------------------------------------------------------


def _split_rows(text: str) -> tuple[str, bool]:
    """The column separator of a CSV (``,``, ``;`` or tab) and whether decimals use commas."""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "<!--")):
            continue
        for sep in (";", "\t"):
            if [c.strip().strip('"').lower() for c in line.split(sep)][:4] == list(HEADER):
                return sep, sep == ";"
        return ",", False
    return ",", False


def parse_answers(text: str, name: str = "answers", *,
                  generic: bool = False) -> tuple[int | None, list[AnswerRow]]:
    """``(seed, rows)`` from a filled-in template (CSV, semicolon CSV or Markdown table).

    Semicolon-separated files (Excel in German or French locales) are read with
    decimal commas (``0,5``). An answer is a number, a fraction or an exact form
    (``e^-6``, ``ln 2``; see :mod:`ag.exam.exact`); ``inf``/``nan`` are kept as
    non-finite answers that earn nothing. ``generic``: the iteration and quantity
    columns are free labels (question kinds other than backprop).

    Raises :class:`AnswerFormatError` naming the file and line of anything else.

    >>> parse_answers("# seed: 3\\niteration,node,quantity,answer\\n0,z4:mul,z2.grad,6\\n")[1][0].answer
    6.0
    >>> parse_answers("iteration;node;quantity;answer\\n0;z4:mul;z2.grad;-0,5\\n")[1][0].answer
    -0.5
    >>> try:
    ...     parse_answers("iteration,node,quantity,answer\\n0,z4:mul,z2.grad\\n")
    ... except AnswerFormatError as err:
    ...     print(str(err)[:40])
    answers line 2: expected 4 columns (iter
    """
    seed: int | None = None
    rows: list[AnswerRow] = []
    header_seen = False
    text = text.lstrip("\ufeff")  # a spreadsheet's byte-order mark
    markdown = any(line.lstrip().startswith("|") for line in text.splitlines())
    sep, decimal_comma = (",", False) if markdown else _split_rows(text)
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        where = f"{name} line {n}"
        if line.startswith(("#", "<!--")):
            m = re.search(r"seed:\s*(-?[0-9]{1,12})\b", line)
            if m:
                seed = int(m.group(1))
            continue
        if not line or not line.strip(sep + ' "'):
            continue  # an empty line, or a spreadsheet's row of empty cells
        if markdown:
            if not line.startswith("|"):
                raise AnswerFormatError(f"{where}: expected a table row starting with '|': {raw[:80]!r}")
            cells = [c.strip() for c in line.strip("|").split("|")]
            if all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                continue
        else:
            try:
                cells = [c.strip() for c in next(csv.reader(io.StringIO(line), delimiter=sep))]
            except csv.Error as err:
                raise AnswerFormatError(f"{where}: not a CSV row ({err}): {raw[:80]!r}") from None
        while len(cells) > 4 and not cells[-1]:  # a spreadsheet's empty trailing columns
            cells.pop()
        if len(cells) != 4:
            hint = ""
            if not markdown and sep == "," and line.count(";") >= 3:
                hint = " (a semicolon-separated file needs the header 'iteration;node;quantity;answer')"
            elif not markdown and sep == "," and len(cells) == 5:
                hint = " (a decimal comma? write 0.5, or \"0,5\" in quotes, or separate columns with ';')"
            raise AnswerFormatError(f"{where}: expected 4 columns (iteration, node, quantity, answer), "
                                    f"found {len(cells)}: {raw[:80]!r}{hint}")
        if not header_seen:
            if tuple(c.lower() for c in cells) != HEADER:
                raise AnswerFormatError(f"{where}: expected the header 'iteration, node, quantity, "
                                        f"answer', found {raw[:80]!r}")
            header_seen = True
            continue
        iteration, node, quantity, answer = cells
        if not quantity and not answer and not node:
            continue  # a blank row of a hidden-order template
        if len(rows) >= MAX_ROWS:
            raise AnswerFormatError(f"{where}: more than {MAX_ROWS} rows; a template has a few dozen")
        if generic:
            if not iteration or len(iteration) > 40:
                raise AnswerFormatError(f"{where}: the iteration column is empty or too long: {raw[:80]!r}")
        elif not (iteration == "forward" or re.fullmatch(r"[0-9]{1,6}", iteration)):
            raise AnswerFormatError(f"{where}: iteration must be 'forward' or a number like 0, 1, 2, "
                                    f"not {iteration[:20]!r}")
        if not quantity and not answer:  # a hidden-order row naming only the node an iteration works on
            rows.append(AnswerRow(n, iteration, node, "", None, raw, name))
            continue
        if generic:
            if not quantity or len(quantity) > 60:
                raise AnswerFormatError(f"{where}: the quantity column is empty or too long: {raw[:80]!r}")
        elif not re.fullmatch(r"z[0-9]{1,6}\.(value|grad)|nothing", quantity):
            raise AnswerFormatError(f"{where}: quantity must look like z5.value, z3.grad or nothing, "
                                    f"not {quantity[:30]!r}")
        if not generic and iteration == "forward" and not quantity.endswith(".value"):
            raise AnswerFormatError(f"{where}: a forward-pass row gives a node's value (zK.value), "
                                    f"not {quantity!r}")
        if not generic and iteration != "forward" and quantity.endswith(".value"):
            raise AnswerFormatError(f"{where}: iteration {iteration} changes grads (zK.grad); values "
                                    f"({quantity}) belong in the forward rows")
        value: float | None = None
        note = ""
        if quantity != "nothing" and answer:
            try:
                value = read_number(answer, decimal_comma=decimal_comma)
            except NonFiniteNumberError as err:  # kept (as inf or nan) to be shown; it earns nothing
                value, note = _non_finite(answer), str(err)
            except NumberFormatError as err:
                raise AnswerFormatError(f"{where}: the answer {err}") from None
        rows.append(AnswerRow(n, iteration, node, quantity, value, raw, name, note))
    if not header_seen:
        raise AnswerFormatError(f"{name}: no header row 'iteration, node, quantity, answer' found")
    return seed, rows


def _non_finite(text: str) -> float:
    try:
        return float(text.replace("−", "-"))
    except ValueError:
        return -math.inf if text.strip().startswith(("-", "−")) else math.inf


def read_answers(path: str | Path, *, generic: bool = False) -> tuple[int | None, list[AnswerRow]]:
    """:func:`parse_answers` of a file (its name goes into error messages)."""
    path = Path(path)
    try:
        if path.stat().st_size > 2_000_000:
            raise AnswerFormatError(f"{path}: {path.stat().st_size} bytes is not an answers file "
                                    "(a template is a few kilobytes)")
        data = path.read_bytes()
    except OSError as err:
        raise AnswerFormatError(f"cannot read {path}: {err.strerror or err}") from None
    for encoding in ("utf-8-sig", "cp1252"):  # Excel on Windows saves "CSV" in the ANSI code page
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - cp1252 decodes almost anything
        raise AnswerFormatError(f"{path}: not a text file (save it as CSV UTF-8)")
    if "\x00" in text:
        raise AnswerFormatError(f"{path}: not a text file (it has NUL bytes; save it as CSV UTF-8)")
    return parse_answers(text, str(path), generic=generic)


def load_key(path: str | Path) -> ExamKey:
    """The key file ``ag exam`` wrote (checked: a key that disagrees with itself is refused)."""
    try:
        return ExamKey.load(path)
    except KeyFormatError as err:
        raise AnswerFormatError(str(err)) from None


# -- grading -------------------------------------------------------------------------------------


def _close(a: float, b: float, key: ProblemKey) -> bool:
    """Within the key's tolerance; a tiny true value (e^-6) is not matched by 0."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    abs_tol = key.abs_tol if b == 0 else min(key.abs_tol, abs(b) / 4)
    return math.isclose(a, b, rel_tol=key.rel_tol, abs_tol=abs_tol)


def _rule_text(op: str, slot: int) -> str:
    from ag import registry

    key = "pow_const" if op == "pow" else op
    text = registry.scalar_ops()[key].text[slot]
    return text.split("+=", 1)[1].strip()


def _code_with_numbers(op: str, xs: list[float]) -> str:
    """The op's line of code with numbers for its inputs, negatives in parentheses where needed."""
    template = OPS[op].template
    out = template
    for i, x in enumerate(xs):
        text = format_number(x)
        wrapped = f"({{{i}}})" in template
        out = out.replace(f"{{{i}}}", text if wrapped or not text.startswith("-") else f"({text})")
    return out


_REF = re.compile(r"\b(z\d+)\.(value|grad)\b")
_NODE = re.compile(r"^\s*(z[0-9]{1,6})\b")


def _as_key(key: ProblemKey | dict) -> ProblemKey:
    return key if isinstance(key, ProblemKey) else ProblemKey.from_dict(key)


def _index_rows(rows: list[AnswerRow], report: Report) -> dict[tuple[str, str], AnswerRow]:
    """The rows by (iteration, quantity); a repeated row is reported and the later one graded."""
    given: dict[tuple[str, str], AnswerRow] = {}
    for r in rows:
        if not r.quantity or r.quantity == "nothing":
            continue
        k = (r.iteration, r.quantity)
        if k in given:
            report.notes.append(f"{r.where} repeats line {given[k].line} ({r.quantity}, "
                                f"{_where(r.iteration)}): "
                                f"line {r.line} is graded, line {given[k].line} is not")
        given[k] = r
    return given


def _cell(report: Report, key: ProblemKey, row: AnswerRow | None, iteration: str, quantity: str,
          expected: float, true: float, explain: Callable[[float | None, str], str],
          worth: float = 1.0, detail: dict | None = None) -> float:
    """Grade one number (``worth``: the share of its point a right answer earns); returns what the
    student carries on with (their answer, if finite)."""
    answer = None if row is None else row.answer
    key_row = key.row(iteration, quantity)
    exact = ""
    if key_row is not None and key_row.exact and key_row.answer is not None and \
            math.isclose(key_row.answer, true, rel_tol=1e-9) and math.isclose(expected, true, rel_tol=1e-9):
        exact = key_row.exact  # the key's exact form is what this cell should be
    max_credit = 1.0
    if (answer is not None and math.isfinite(answer)
            and (_close(answer, expected, key) or _close(answer, true, key))):
        status = "right" if _close(answer, true, key) else "carried forward"
        credit = worth
    else:
        status, credit = ("blank" if answer is None else "wrong"), 0.0
    note = row.note if row is not None else ""
    report.cells.append(Cell(iteration, quantity, expected, true, answer, credit, status,
                             "" if status in ("right", "carried forward") else explain(answer, note),
                             max_credit, exact, detail or {}))
    return answer if answer is not None and math.isfinite(answer) else expected


def _wrote(answer: float | None, note: str) -> str:
    if answer is None:
        return "left it blank"
    if note or not math.isfinite(answer):
        return f"wrote a non-finite number, which earns nothing ({note})" if note else \
            f"wrote {format_number(answer)}, not a finite number"
    return f"wrote {format_number(answer)}"


def _nodes_of(key: ProblemKey) -> tuple[list[str], dict[str, list[str]]]:
    """Every node's z-name, and each op node's distinct inputs (z-names)."""
    names = [f"z{i + 1}" for i in range(key.n_leaves + len(key.ops))]
    inputs = {f"z{key.n_leaves + k + 1}": list(dict.fromkeys(f"z{a + 1}" for a in args))
              for k, (_, args) in enumerate(key.ops)}
    return names, inputs


def _student_order(key: ProblemKey, rows: list[AnswerRow]) -> tuple[list[str], list[str | None]]:
    """The node the student worked on at each iteration, and what each node column says.

    The grads an iteration changes name its node when exactly one op node has those
    inputs; otherwise the node column does; otherwise the key's node is assumed.
    """
    _, inputs = _nodes_of(key)
    by_targets: dict[frozenset, list[str]] = {}
    for node, ins in inputs.items():
        by_targets.setdefault(frozenset(ins), []).append(node)
    order: list[str] = []
    columns: list[str | None] = []
    for k, key_node in enumerate(key.iteration_nodes):
        mine = [r for r in rows if r.iteration == str(k)]
        column = next((m.group(1) for r in mine if (m := _NODE.match(r.node))), None)
        columns.append(column)
        targets = frozenset(r.quantity.split(".")[0] for r in mine if r.quantity.endswith(".grad"))
        found = by_targets.get(targets, []) if targets else []
        if len(found) == 1:
            order.append(found[0])
        elif len(found) > 1 and column in found:
            order.append(column)
        elif column is not None and (column in found or not targets):
            order.append(column)
        else:
            order.append(key_node)
    return order, columns


def _order_problem(key: ProblemKey, order: list[str]) -> str:
    """Why ``order`` is not a valid backward (reverse topological) order, or ``""``."""
    names, inputs = _nodes_of(key)
    seen: dict[str, int] = {}
    for k, z in enumerate(order):
        if z not in names:
            return f"{z} is not a node of this problem"
        if z in seen:
            return f"{z} is worked twice (iterations {seen[z]} and {k})"
        seen[z] = k
    missing = [z for z in names if z not in seen]
    if missing:
        return f"{', '.join(missing)} never worked"
    for z, ins in inputs.items():
        for i in ins:
            if seen[i] < seen[z]:
                return (f"{i} is worked at iteration {seen[i]}, before {z} (iteration {seen[z]}), which "
                        f"uses it and still adds to {i}.grad")
    return ""


def grade(key: ProblemKey | dict, answers: tuple[int | None, list[AnswerRow]] | list[AnswerRow], *,
          other_order_credit: float = 1.0) -> Report:
    """Grade one student's rows against one problem's key, carrying errors forward.

    Every template row gets a cell; a row the student left out or blank gets no
    credit; a number right given the student's earlier numbers, or the true number,
    gets full credit. ``other_order_credit``: the share of credit for grads worked in
    another valid topological order than the depth-first one (1: full credit).
    Raises :class:`AnswerFormatError` naming the line of a row that cannot belong to
    this problem.
    """
    key = _as_key(key)
    rows = answers[1] if isinstance(answers, tuple) else answers
    if not 0 <= other_order_credit <= 1:
        raise ValueError(f"other_order_credit must be between 0 and 1, not {other_order_credit}")
    if not key.is_backprop:
        return _grade_row_by_row(key, rows)
    report = Report(int(key.seed))
    n_nodes = key.n_leaves + len(key.ops)
    n_iter = len(key.iteration_nodes)
    for r in rows:
        z = r.quantity.split(".")[0]
        if z.startswith("z") and not 1 <= int(z[1:]) <= n_nodes:
            raise AnswerFormatError(f"{r.where}: {r.quantity}: problem seed {key.seed} has nodes z1 to "
                                    f"z{n_nodes} only: {r.raw[:80]!r}")
        if r.iteration != "forward" and int(r.iteration) >= n_iter:
            raise AnswerFormatError(f"{r.where}: iteration {r.iteration}: problem seed {key.seed} has "
                                    f"iterations 0 to {n_iter - 1} only: {r.raw[:80]!r}")
    given = _index_rows(rows, report)
    shape = key.shape()
    from ag.exam.generator import evaluate

    true_values = evaluate(shape, key.leaf_values)
    n = shape.n_leaves
    display = {r.quantity.split(".")[0]: r.node for r in key.rows if r.iteration == "forward"}
    values = list(key.leaf_values) + [math.nan] * len(shape.ops)  # the student's, as carried

    # forward pass, in code order (z-number)
    for k in range(n, shape.size):
        op, args = shape.ops[k - n]
        xs = [values[a] for a in args]
        try:
            expected = OPS[op].value(*xs) if OPS[op].domain(*xs) else true_values[k]
        except (ArithmeticError, ValueError):
            expected = true_values[k]
        if not math.isfinite(expected):
            expected = true_values[k]
        code = OPS[op].code(*(f"z{a + 1}" for a in args))
        nums = _code_with_numbers(op, xs)

        def explain(answer, note, k=k, code=code, nums=nums, expected=expected):
            return (f"forward pass: z{k + 1} = {code} should be {nums} = {format_number(expected)}, "
                    f"you {_wrote(answer, note)}")

        values[k] = _cell(report, key, given.get(("forward", f"z{k + 1}.value")), "forward",
                          f"z{k + 1}.value", expected, true_values[k], explain)

    # the order the student worked the backward loop in
    student, columns = _student_order(key, rows)
    order = list(key.iteration_nodes)
    scale_from = n_iter
    diverge = next((k for k, (a, b) in enumerate(zip(student, order)) if a != b), None)
    if diverge is not None:
        report.order_diverges_at = diverge
        problem = _order_problem(key, student)
        said = (f"your order differs from the depth-first order at iteration {diverge}: you worked on "
                f"{student[diverge]}, the depth-first order works on {order[diverge]}")
        if problem:
            report.notes.append(f"{said}; yours is not a valid topological order ({problem}), so the "
                                "grads are graded in the depth-first order")
        else:
            credit = ("full credit" if other_order_credit == 1
                      else f"{format_number(other_order_credit)} of the credit")
            report.notes.append(f"{said}; yours is a valid topological order, so iterations {diverge} on "
                                f"are graded against your own order ({credit})")
            order, scale_from = student, diverge

    # backward pass: grads carried as the student wrote them, in the order graded
    grads = [0.0] * shape.size
    grads[-1] = 1.0
    true_grads = [0.0] * shape.size
    true_grads[-1] = 1.0
    for k, name in enumerate(order):
        if not key.order_shown:  # the node column is asked for: graded against the depth-first order
            want, got = key.iteration_nodes[k], columns[k]
            ok = got == want
            report.cells.append(Cell(str(k), "node", want, want, got, 1.0 if ok else 0.0,
                                     "right" if ok else ("blank" if got is None else "wrong"),
                                     "" if ok else f"iteration {k}: the depth-first order works on {want} "
                                     f"here, you {'left the node blank' if got is None else 'wrote ' + got}"))
        z = int(name[1:]) - 1
        if z < n:
            continue
        op, args = shape.ops[z - n]
        xs = [values[a] for a in args]
        true_local = OPS[op].partials(*(true_values[a] for a in args))
        try:
            local = OPS[op].partials(*xs) if OPS[op].domain(*xs) else true_local
        except (ArithmeticError, ValueError):
            local = true_local
        g, tg = grads[z], true_grads[z]
        node_value = values[z]
        for target in dict.fromkeys(args):
            slots = [i for i, a in enumerate(args) if a == target]
            letters = {"a": f"z{args[0] + 1}", "b": f"z{args[-1] + 1}", "out": f"z{z + 1}", "n": "2"}

            def number(m: re.Match, z=z, g=g, node_value=node_value) -> str:
                i = int(m.group(1)[1:]) - 1
                if m.group(2) == "grad":
                    return _num(g)  # rules read only the node's own grad
                return _num(node_value if i == z else values[i])

            terms = []
            for i in slots:
                text = _rule_text(op, i).format(**letters)
                terms.append((text, _REF.sub(number, text)))
            prev, true_prev = grads[target], true_grads[target]
            try:
                expected = prev + sum(local[i] * g for i in slots)
            except OverflowError:
                expected = math.nan
            true = true_prev + sum(true_local[i] * tg for i in slots)
            if not math.isfinite(expected):
                expected = true
            worth = other_order_credit if k >= scale_from else 1.0

            def explain(answer, note, k=k, target=target, prev=prev, terms=terms, expected=expected, z=z):
                symbolic = " + ".join(t[0] for t in terms)
                numeric = " + ".join(t[1] for t in terms)
                node = display.get(f"z{z + 1}", f"z{z + 1}")
                return (f"iteration {k} ({node}): z{target + 1}.grad should be {format_number(prev)} + "
                        f"{symbolic} = {format_number(prev)} + {numeric} = {format_number(expected)}, "
                        f"you {_wrote(answer, note)}")

            terms_added = [local[i] * g for i in slots]
            others = [local[j] * g for j in range(len(args)) if j not in slots]
            others += [node_value * g, g] + [xs[i] * g for i in slots]
            others += [g / xs[i] for i in slots if xs[i] != 0]
            detail = {"prev": prev, "terms": terms_added, "g": g,
                      "other_rules": [o for o in others if math.isfinite(o)
                                      and not math.isclose(o, sum(terms_added), abs_tol=1e-9)]}
            grads[target] = _cell(report, key, given.get((str(k), f"z{target + 1}.grad")), str(k),
                                  f"z{target + 1}.grad", expected, true, explain, worth, detail)
            true_grads[target] = true

    # rows the graded order does not ask for
    asked = {(c.iteration, c.quantity) for c in report.cells}
    for (iteration, quantity), r in given.items():
        if (iteration, quantity) in asked:
            continue
        node = order[int(iteration)]
        changes = _nodes_of(key)[1].get(node)
        what = (f"which changes {', '.join(t + '.grad' for t in changes)}" if changes
                else "a leaf, which changes no grad")
        report.extra.append(f"{r.where}: iteration {iteration} works on {node}, {what}; it does not "
                            f"change {quantity}")
    for r in rows:
        if r.quantity == "nothing" and r.iteration != "forward":
            node = order[int(r.iteration)]
            changes = _nodes_of(key)[1].get(node)
            if changes:
                report.extra.append(f"{r.where}: iteration {r.iteration} works on {node}, an op node, "
                                    f"which changes {', '.join(t + '.grad' for t in changes)}: "
                                    "'nothing' is not its answer")
    return report


def _grade_row_by_row(key: ProblemKey, rows: list[AnswerRow]) -> Report:
    """Question kinds without a graph: each row against the key's answer (exact forms accepted)."""
    report = Report(int(key.seed))
    given = _index_rows(rows, report)
    for kr in key.rows:
        if kr.answer is None:
            continue

        def explain(answer, note, kr=kr):
            return (f"{kr.iteration}: {kr.quantity} should be {kr.shown}, you {_wrote(answer, note)}")

        _cell(report, key, given.get((kr.iteration, kr.quantity)), kr.iteration, kr.quantity,
              kr.answer, kr.answer, explain)
    asked = {(r.iteration, r.quantity) for r in key.rows}
    for (iteration, quantity), r in given.items():
        if (iteration, quantity) not in asked:
            report.extra.append(f"{r.where}: the key asks for no {quantity} in {iteration}")
    return report


# -- a class at once -----------------------------------------------------------------------------


@dataclass
class FileResult:
    """One answers file of a class: its report, or the error that kept it from being graded."""

    file: str
    seed: int | None = None
    report: Report | None = None
    error: str = ""

    @property
    def score(self) -> float | None:
        return None if self.report is None else self.report.score

    @property
    def max_score(self) -> float | None:
        return None if self.report is None else self.report.max_score


def _peek_seed(path: str | Path) -> int | None:
    """The seed line of a file, for the summary of a file that cannot be graded."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(4096)
    except OSError:
        return None
    m = re.search(r"seed:\s*(-?[0-9]{1,12})\b", head)
    return int(m.group(1)) if m else None


def grade_file(key: ExamKey, path: str | Path, *, other_order_credit: float = 1.0) -> FileResult:
    """Grade one answers file against the exam's key; a bad file gives an error, not an exception."""
    result = FileResult(str(path))
    try:
        result.seed = _peek_seed(path)
        generic = result.seed in key and not key[result.seed].is_backprop
        seed, rows = read_answers(path, generic=generic)
        result.seed = seed
        if seed is None:
            raise AnswerFormatError(f"{path}: no '# seed: N' line says which problem it is")
        if seed not in key:
            raise AnswerFormatError(f"{path}: seed {seed} is not in the key")
        result.report = grade(key[seed], rows, other_order_credit=other_order_credit)
    except AnswerFormatError as err:
        result.error = str(err)
    except RecursionError:  # pragma: no cover - nothing recursive reads a file
        result.error = f"{path}: could not be read (too deeply nested)"
    return result


def fill(template: str, key: ProblemKey | dict, changes: dict[tuple[str, str], Any] | None = None) -> str:
    """A template filled with the key's answers (``changes`` overrides some): for tests and demos.

    The answers of each cell are the key's true numbers unless ``changes`` gives
    ``{(iteration, quantity): number or text}``.
    """
    key = _as_key(key)
    out = []
    for line in template.splitlines():
        csv_row = not line.startswith(("#", "|", "<!--")) and line.count(",") == 3
        md_row = line.startswith("| ") and not line.startswith("| iteration") and not line.startswith("|---")
        if csv_row and not line.startswith("iteration,"):
            k, node, q, _ = line.split(",")
            out.append(f"{k},{node},{q},{_filled(k, q, key, changes)}")
        elif md_row:
            k, node, q, _ = [c.strip() for c in line.strip("|").split("|")]
            out.append(f"| {k} | {node} | {q} | {_filled(k, q, key, changes)} |")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def _filled(k: str, q: str, key: ProblemKey, changes: dict | None) -> str:
    if q == "nothing" or not q:
        return ""
    if changes and (k, q) in changes:
        new = changes[(k, q)]
        return new if isinstance(new, str) else format_number(new)
    answer = key.answer(k, q)
    return "" if answer is None else repr(float(answer))


def gradescope_results(reports: list[Report] | Report, *, error: str = "") -> dict[str, Any]:
    """Gradescope's autograder ``results.json`` for ONE submission (one or more problems of it).

    Gradescope runs one submission per ``results.json``: never pass the reports of
    several students here. ``error``: the submission could not be graded (score 0,
    the reason as the output).
    """
    if isinstance(reports, Report):
        reports = [reports]
    if error:
        return {"score": 0.0, "output": error, "tests": []}
    tests = []
    for r in reports:
        for c in r.cells:
            tests.append({"name": f"seed {r.seed}, {_where(c.iteration)}: {c.quantity}",
                          "score": c.credit, "max_score": c.max_credit,
                          "status": "passed" if c.credit == c.max_credit else "failed",
                          "output": c.explanation or c.status})
    notes = [line for r in reports
             for line in r.notes + [f"not in the key (no credit): {e}" for e in r.extra]]
    return {
        "score": sum(r.score for r in reports),
        "output": "\n".join([(r.first_divergence.explanation if r.first_divergence else
                              f"seed {r.seed}: every answer is right") for r in reports] + notes),
        "tests": tests,
    }
