"""Grade a student's backprop answers against the key, offline, with error carried forward.

The student fills in the answer template that ``ag exam`` wrote (CSV or a Markdown
table: ``iteration, node, quantity, answer``). Each number is graded against what it
should be *given the student's own earlier numbers*: a value against the op applied
to the values the student wrote for its inputs, a grad after an iteration against
the grad the student had so far plus the rule applied to the student's values and
the student's grad of the node. So one early slip costs that cell, not every line
after it. The first place the student went wrong is explained in words.

>>> from ag.exam import generate
>>> from ag.exam.handout import answer_template, key_data
>>> p = generate(seed=4)
>>> key = key_data(p)
>>> filled = fill(answer_template(p), key)          # every answer right
>>> report = grade(key, parse_answers(filled))
>>> report.score == report.max_score
True
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from ag.exam.generator import Shape, evaluate
from ag.exam.ops import OPS
from ag.trace import format_number

__all__ = [
    "AnswerFormatError",
    "AnswerRow",
    "Cell",
    "Report",
    "parse_answers",
    "read_answers",
    "load_key",
    "grade",
    "fill",
    "gradescope_results",
]

HEADER = ("iteration", "node", "quantity", "answer")


class AnswerFormatError(ValueError):
    """The answers file is not in the template's format; the message names the line."""


@dataclass
class AnswerRow:
    line: int
    iteration: str
    node: str
    quantity: str
    answer: float | None
    raw: str


@dataclass
class Cell:
    """One graded number: where, what it should be (given the student's numbers), the credit."""

    iteration: str
    quantity: str
    expected: float
    true: float
    answer: float | None
    credit: float
    status: str            # right, carried forward, wrong, blank
    explanation: str = ""


@dataclass
class Report:
    seed: int
    cells: list[Cell] = field(default_factory=list)
    #: rows the key does not ask for (a grad in another iteration than the loop changes it)
    extra: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(c.credit for c in self.cells)

    @property
    def max_score(self) -> float:
        return float(len(self.cells))

    @property
    def first_divergence(self) -> Cell | None:
        return next((c for c in self.cells if c.status in ("wrong", "blank")), None)

    def text(self) -> str:
        """The report a student or TA reads: score, first slip, then each iteration."""
        lines = [f"seed {self.seed}: score {format_number(self.score)} / {format_number(self.max_score)}"]
        first = self.first_divergence
        lines.append("first divergence: " + (first.explanation if first else "none, every number is right"))
        lines += [f"not in the key (no credit): {e}" for e in self.extra]
        carried = sum(1 for c in self.cells if c.status == "carried forward")
        if carried:
            lines.append(f"{carried} answer(s) got full credit carried forward from an earlier slip")
        current = None
        for c in self.cells:
            if c.iteration != current:
                current = c.iteration
                where = "forward pass" if c.iteration == "forward" else f"iteration {c.iteration}"
                lines.append(f"  {where}:")
            shown = "(blank)" if c.answer is None else format_number(c.answer)
            lines.append(f"    {c.quantity} = {shown}: {c.status}, {format_number(c.credit)} / 1"
                         + (f" (should be {format_number(c.expected)})" if c.credit < 1 else ""))
        return "\n".join(lines)


# -- reading answers ----------------------------------------------------------------------------


def _number(text: str, where: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(Fraction(text.replace(" ", ""))) if "/" in text else float(text)
    except (ValueError, ZeroDivisionError):
        raise AnswerFormatError(f"{where}: the answer {text!r} is not a number "
                                "(write it like 6, -0.5 or 1/4)") from None


def parse_answers(text: str, name: str = "answers") -> tuple[int | None, list[AnswerRow]]:
    """``(seed, rows)`` from a filled-in template (CSV or Markdown table).

    Raises :class:`AnswerFormatError` naming the line of anything that is not a
    template row.

    >>> parse_answers("# seed: 3\\niteration,node,quantity,answer\\n0,z4:mul,z2.grad,6\\n")[1][0].answer
    6.0
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
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        where = f"{name} line {n}"
        m = re.search(r"seed:\s*(-?\d+)", line)
        if line.startswith(("#", "<!--")):
            if m:
                seed = int(m.group(1))
            continue
        if not line:
            continue
        if markdown:
            if not line.startswith("|"):
                raise AnswerFormatError(f"{where}: expected a table row starting with '|': {raw!r}")
            cells = [c.strip() for c in line.strip("|").split("|")]
            if all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                continue
        else:
            cells = [c.strip() for c in next(csv.reader(io.StringIO(line)))]
        while len(cells) > 4 and not cells[-1]:  # a spreadsheet's empty trailing columns
            cells.pop()
        if len(cells) != 4:
            raise AnswerFormatError(f"{where}: expected 4 columns (iteration, node, quantity, answer), "
                                    f"found {len(cells)}: {raw!r}")
        if not header_seen:
            if tuple(c.lower() for c in cells) != HEADER:
                raise AnswerFormatError(f"{where}: expected the header 'iteration, node, quantity, "
                                        f"answer', found {raw!r}")
            header_seen = True
            continue
        iteration, node, quantity, answer = cells
        if not quantity and not answer:
            continue  # a blank row of a hidden-order template
        if not (iteration == "forward" or iteration.isdigit()):
            raise AnswerFormatError(f"{where}: iteration must be 'forward' or a number, not {iteration!r}")
        if not re.fullmatch(r"z\d+\.(value|grad)|nothing", quantity):
            raise AnswerFormatError(f"{where}: quantity must look like z5.value, z3.grad or nothing, "
                                    f"not {quantity!r}")
        rows.append(AnswerRow(n, iteration, node, quantity,
                              None if quantity == "nothing" else _number(answer, where), raw))
    if not header_seen:
        raise AnswerFormatError(f"{name}: no header row 'iteration, node, quantity, answer' found")
    return seed, rows


def read_answers(path: str | Path) -> tuple[int | None, list[AnswerRow]]:
    """:func:`parse_answers` of a file (its name goes into error messages)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise AnswerFormatError(f"cannot read {path}: {err}") from None
    return parse_answers(text, str(path))


def load_key(path: str | Path) -> dict[str, dict]:
    """The problems of a ``key.json`` written by ``ag exam``, by seed (as a string)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise AnswerFormatError(f"cannot read the key {path}: {err}") from None
    if not isinstance(data, dict) or data.get("format") != "ag-exam-key/1":
        raise AnswerFormatError(f"{path} is not a key written by ag exam (format ag-exam-key/1)")
    return data["problems"]


# -- grading -------------------------------------------------------------------------------------


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-3, abs_tol=5e-3)


def _rule_text(op: str, slot: int) -> str:
    from ag import registry

    key = "pow_const" if op == "pow" else op
    text = registry.scalar_ops()[key].text[slot]
    return text.split("+=", 1)[1].strip()


def _explain_grad(k: str, node_display: str, target: str, prev: float, terms: list[tuple[str, str]],
                  expected: float, answer: float | None) -> str:
    symbolic = " + ".join(t[0] for t in terms)
    numeric = " + ".join(t[1] for t in terms)
    wrote = "left it blank" if answer is None else f"wrote {format_number(answer)}"
    return (f"iteration {k} ({node_display}): {target}.grad should be {format_number(prev)} + {symbolic} "
            f"= {format_number(prev)} + {numeric} = {format_number(expected)}, you {wrote}")


_REF = re.compile(r"\b(z\d+)\.(value|grad)\b")


def grade(key: dict, answers: tuple[int | None, list[AnswerRow]] | list[AnswerRow]) -> Report:
    """Grade one student's rows against one problem's key (``key_data``), carrying errors forward.

    Every template row gets a cell; a row the student left out or blank gets no credit.
    """
    rows = answers[1] if isinstance(answers, tuple) else answers
    shape = Shape(key["n_leaves"], [(op, tuple(args)) for op, args in key["ops"]])
    true_values = evaluate(shape, key["leaf_values"])
    given: dict[tuple[str, str], AnswerRow] = {}
    expected_rows = {(r[0], r[2]) for r in key["rows"]}
    n_nodes = key["n_leaves"] + len(key["ops"])
    report = Report(int(key["seed"]))
    for r in rows:
        if (r.iteration, r.quantity) not in expected_rows:
            known = r.quantity == "nothing" or (
                r.quantity.startswith("z") and 1 <= int(r.quantity[1:].split(".")[0]) <= n_nodes
                and (r.iteration != "forward" and int(r.iteration) < len(key["iteration_nodes"])))
            if not known:
                raise AnswerFormatError(f"line {r.line}: {r.quantity} in iteration {r.iteration} is not "
                                        f"asked for by problem seed {key['seed']}: {r.raw!r}")
            visited = key["iteration_nodes"][int(r.iteration)]
            report.extra.append(f"line {r.line}: iteration {r.iteration} works on {visited}; it does not "
                                f"change {r.quantity}")
            continue
        given[(r.iteration, r.quantity)] = r
    display = {r[2].split(".")[0]: r[1] for r in key["rows"] if r[0] == "forward"}
    n = shape.n_leaves
    values = list(key["leaf_values"]) + [math.nan] * len(shape.ops)  # the student's, as carried

    def cell(iteration: str, quantity: str, expected: float, true: float, explain) -> float:
        row = given.get((iteration, quantity))
        answer = None if row is None else row.answer
        if answer is not None and _close(answer, expected):
            status, credit = ("right" if _close(answer, true) else "carried forward"), 1.0
        else:
            status, credit = ("blank" if answer is None else "wrong"), 0.0
        report.cells.append(Cell(iteration, quantity, expected, true, answer, credit, status,
                                 "" if credit else explain(answer)))
        return expected if answer is None else answer

    # forward pass, in code order (z-number)
    for k in range(n, shape.size):
        op, args = shape.ops[k - n]
        xs = [values[a] for a in args]
        try:
            expected = OPS[op].value(*xs) if OPS[op].domain(*xs) else true_values[k]
        except (ArithmeticError, ValueError):
            expected = true_values[k]
        code = OPS[op].code(*(f"z{a + 1}" for a in args))
        nums = OPS[op].code(*(format_number(x) for x in xs))

        def explain(answer, k=k, code=code, nums=nums, expected=expected):
            wrote = "left it blank" if answer is None else f"wrote {format_number(answer)}"
            return (f"forward pass: z{k + 1} = {code} should be {nums} = {format_number(expected)}, "
                    f"you {wrote}")

        values[k] = cell("forward", f"z{k + 1}.value", expected, true_values[k], explain)

    # backward pass: the key's iteration order; grads carried as the student wrote them
    grads = [0.0] * shape.size
    grads[-1] = 1.0
    true_grads = [0.0] * shape.size
    true_grads[-1] = 1.0
    for k, name in enumerate(key["iteration_nodes"]):
        z = int(name[1:]) - 1
        if z < n:
            continue
        op, args = shape.ops[z - n]
        xs = [values[a] for a in args]
        try:
            local = OPS[op].partials(*xs) if OPS[op].domain(*xs) else OPS[op].partials(
                *(true_values[a] for a in args))
        except (ArithmeticError, ValueError):
            local = OPS[op].partials(*(true_values[a] for a in args))
        true_local = OPS[op].partials(*(true_values[a] for a in args))
        g, tg = grads[z], true_grads[z]
        for target in dict.fromkeys(args):
            slots = [i for i, a in enumerate(args) if a == target]
            letters = {"a": f"z{args[0] + 1}", "b": f"z{args[-1] + 1}", "out": f"z{z + 1}", "n": "2"}
            node_value = OPS[op].value(*xs) if OPS[op].domain(*xs) else true_values[z]

            def number(m: re.Match, z=z, g=g, node_value=node_value) -> str:
                i = int(m.group(1)[1:]) - 1
                if m.group(2) == "grad":
                    return format_number(g)  # rules read only the node's own grad
                return format_number(node_value if i == z else values[i])

            terms = []
            for i in slots:
                text = _rule_text(op, i).format(**letters)
                terms.append((text, _REF.sub(number, text)))
            prev, true_prev = grads[target], true_grads[target]
            expected = prev + sum(local[i] * g for i in slots)
            true = true_prev + sum(true_local[i] * tg for i in slots)

            def explain(answer, k=k, target=target, prev=prev, terms=terms, expected=expected, z=z):
                return _explain_grad(str(k), display.get(f"z{z + 1}", f"z{z + 1}"), f"z{target + 1}",
                                     prev, terms, expected, answer)

            grads[target] = cell(str(k), f"z{target + 1}.grad", expected, true, explain)
            true_grads[target] = true
    return report


def fill(template: str, key: dict, changes: dict[tuple[str, str], float] | None = None) -> str:
    """A template filled with the key's answers (``changes`` overrides some): for tests and demos.

    The answers of each cell are the key's true numbers unless ``changes`` gives
    ``{(iteration, quantity): number}``.
    """
    out = []
    truth = key["answers"]
    for line in template.splitlines():
        csv_row = not line.startswith(("#", "|", "<!--")) and line.count(",") == 3
        md_row = line.startswith("| ") and not line.startswith("| iteration") and not line.startswith("|---")
        if csv_row and not line.startswith("iteration,"):
            k, node, q, _ = line.split(",")
            out.append(f"{k},{node},{q},{_filled(k, q, truth, changes)}")
        elif md_row:
            k, node, q, _ = [c.strip() for c in line.strip("|").split("|")]
            out.append(f"| {k} | {node} | {q} | {_filled(k, q, truth, changes)} |")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def _filled(k: str, q: str, truth: dict, changes: dict | None) -> str:
    if q == "nothing":
        return ""
    if changes and (k, q) in changes:
        return format_number(changes[(k, q)])
    return format_number(truth[f"{k}|{q}"])


def gradescope_results(reports: list[Report]) -> dict[str, Any]:
    """Gradescope's autograder ``results.json`` for one submission (one or more problems)."""
    tests = []
    for r in reports:
        for c in r.cells:
            where = "forward pass" if c.iteration == "forward" else f"iteration {c.iteration}"
            tests.append({"name": f"seed {r.seed}, {where}: {c.quantity}", "score": c.credit,
                          "max_score": 1.0, "output": c.explanation or c.status})
    return {
        "score": sum(r.score for r in reports),
        "max_score": sum(r.max_score for r in reports),
        "output": "\n".join((r.first_divergence.explanation if r.first_divergence else
                             f"seed {r.seed}: every number is right") for r in reports),
        "tests": tests,
    }
