"""Rendering backward traces: one content structure per iteration, written as text, Markdown, LaTeX or HTML.

>>> import ag
>>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
>>> run = ag.backward_trace(z3)
>>> [str(r) for r in rules(run, 0)]
['z2.grad += z2.value * z3.grad = 4 * 1', 'z2.grad += z2.value * z3.grad = 4 * 1']

A Scalar trace is a table (one row per rule). A Tensor trace is written iteration by
iteration as blocks: each rule with the shapes of its operands, the operands and the
result as full matrices (when they have at most ``max_elements`` elements; a summary
otherwise), and an explicit "summed over broadcast axes" step wherever a gradient is
summed back to a smaller input. Inputs that need no grad (``requires_grad=False``) get
no rule and no row. A grad the pass has not reached yet reads
:data:`ag.number_format.NOT_REACHED` everywhere.

Each iteration's content is built once (:func:`iteration`: the node, its rules with
numbers, each updated grad before and after); the four forms are thin emitters over
it, so a wording change happens in one place. This module only reads records made by
:mod:`ag.trace_record`.
"""

from __future__ import annotations

import html as _html
import re
from typing import Any, NamedTuple

from ag.number_format import (
    NOT_REACHED,
    format_number,
    is_array,
    matrix_latex,
    matrix_markdown,
    matrix_text,
    shape_text,
    to_numpy,
    unwrap,
)
from ag.registry import OpNames
from ag.trace_record import BackwardTrace, needs_grad

__all__ = [
    "RuleText",
    "rules",
    "update_lines",
    "grad_cell",
    "broadcast_axes",
    "text",
    "markdown",
    "latex",
    "html_fragment",
    "html_table",
    "html_value",
    "Iteration",
    "Term",
    "iteration",
    "markdown_code",
    "latex_escape",
    "is_tensor_trace",
    "iteration_title",
]

_PLACEHOLDER = re.compile(r"\{(\w+)\}(?:\.(value|grad))?")
_INPUT_KEYS = ("a", "b", "c", "d", "e", "f")
# ops whose gradient to an input has the output's shape before it is summed back
_ELEMENTWISE = OpNames("tensor", "broadcasts")  # read from the registry at each look-up


class RuleText(NamedTuple):
    """One line of a backward rule: ``target.grad += ...``, symbolic and with numbers.

    ``numeric`` substitutes one-line numbers (a preview for arrays). ``shapes`` gives
    every operand's shape (Tensors), ``notes`` extra steps such as the sum over
    broadcast axes, and ``operands`` the ``(name, value)`` of each operand the rule
    reads, for writing them out as matrices. ``position`` is the input's place in the
    node's inputs.
    """

    target: str
    symbolic: str
    numeric: str
    shapes: str = ""
    notes: tuple = ()
    operands: tuple = ()
    position: int = 0

    def __str__(self) -> str:
        return f"{self.symbolic} = {self.numeric}" if self.numeric else self.symbolic


def is_tensor_trace(run: BackwardTrace) -> bool:
    """Whether the trace's values are arrays (a Tensor graph) rather than floats (Scalars)."""
    return any(hasattr(unwrap(v), "shape") for v in run.values)


def broadcast_axes(big: tuple, small: tuple) -> tuple[int, ...]:
    """The axes of ``big`` that broadcasting added or stretched to reach it from ``small``.

    >>> broadcast_axes((3, 3), (3,)), broadcast_axes((2, 3, 4), (3, 1)), broadcast_axes((2,), (2,))
    ((0,), (0, 2), ())
    """
    lead = len(big) - len(small)
    stretched = tuple(lead + i for i, n in enumerate(small) if n == 1 and big[lead + i] != 1)
    return tuple(range(lead)) + stretched


def _fallback_rule(node: Any) -> tuple[str, ...]:
    return tuple(
        f"{{{k}}}.grad += d{{out}}/d{{{k}}} * {{out}}.grad" for k in _INPUT_KEYS[: len(node.inputs)]
    )


def _shape_of(value: Any) -> tuple | None:
    value = unwrap(value)
    shape = getattr(value, "shape", None)
    return None if shape is None or isinstance(value, (int, float)) else tuple(shape)


def _sum_note(node: Any, inp: Any, name: str) -> str | None:
    """The un-broadcast step of ``inp``'s gradient, when its shape is smaller than the term's."""
    out_shape, in_shape = _shape_of(node.value), _shape_of(inp.value)
    if out_shape is None or in_shape is None or in_shape == out_shape:
        return None
    op = getattr(node, "op", "")
    if op in _ELEMENTWISE:
        axes = broadcast_axes(out_shape, in_shape)
    elif op == "matmul" and len(in_shape) >= 2 and len(out_shape) > len(in_shape):
        axes = tuple(range(len(out_shape) - len(in_shape)))  # a weight shared by a batch
    else:
        return None
    if not axes:
        return None
    return f"summed over broadcast axes {_tuple(axes)} to {name}'s shape {_tuple(in_shape)}"


def _tuple(items: tuple) -> str:
    return "(" + ", ".join(str(i) for i in items) + ("," if len(items) == 1 else "") + ")"


def rules(run: BackwardTrace, k: int, digits: int = 6) -> list[RuleText]:
    """Iteration ``k``'s rule, one line per input that needs a grad (duplicates kept).

    >>> import ag
    >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
    >>> [r.numeric for r in rules(ag.backward_trace(z3), 1)]
    ['2 * 8', '2 * 8']
    """
    step = run.steps[k]
    node = step.node
    inputs = node.inputs
    if not inputs:
        return []
    try:
        templates = tuple(node.backward_rule())
    except Exception:  # an op without rule text still gets a generic line
        templates = _fallback_rule(node)
    if len(templates) != len(inputs):
        templates = _fallback_rule(node)
    facts_of = getattr(node, "rule_facts", None)
    facts = facts_of() if callable(facts_of) else {}
    if facts:  # the op's axis, count, index, ... first: a fact may hold {out} or {a}
        filled = []
        for template in templates:
            for key, text in facts.items():
                template = template.replace("{" + key + "}", text)
            filled.append(template)
        templates = tuple(filled)
    nodes: dict[str, Any] = {"out": node}
    grads: dict[str, Any] = {"out": step.out_grad}
    for key, inp, g in zip(_INPUT_KEYS, inputs, step.before):
        nodes[key] = inp
        grads[key] = g
    for i, (inp, g) in enumerate(zip(inputs, step.before)):
        nodes[f"x{i}"] = inp
        grads[f"x{i}"] = g
    exponent = getattr(node, "_exponent", None)
    if exponent is None and len(inputs) == 1 and isinstance(getattr(node, "_ctx", None), (int, float)):
        exponent = node._ctx  # a Tensor's number exponent
    tensor = is_tensor_trace(run)

    def value(key: str, attr: str | None) -> Any:
        if attr == "value":
            return run.value_of(nodes[key])
        return grads[key]

    def symbolic(m: re.Match) -> str:
        key, attr = m.group(1), m.group(2)
        if key == "n" and exponent is not None:
            return format_number(exponent, digits)
        if key not in nodes:
            return m.group(0)
        name = run.name(nodes[key])
        return f"{name}.{attr}" if attr else name

    def numeric(m: re.Match) -> str:
        key, attr = m.group(1), m.group(2)
        if key == "n" and exponent is not None:
            return format_number(exponent, digits)
        if key not in nodes:
            return m.group(0)
        if attr in ("value", "grad"):
            return format_number(value(key, attr), digits)
        return run.name(nodes[key])

    out = []
    for position, (key, template) in enumerate(zip(_INPUT_KEYS, templates)):
        inp = nodes[key]
        if not needs_grad(inp):
            continue  # requires_grad=False: the core gives it no gradient
        sym = _PLACEHOLDER.sub(symbolic, template)
        _, sep, rhs = template.partition("+=")
        num = _PLACEHOLDER.sub(numeric, rhs.strip()) if sep else ""
        target = run.name(inp)
        shapes, notes, operands = "", (), ()
        if tensor:
            used: dict[str, Any] = {}
            for m in _PLACEHOLDER.finditer(rhs if sep else template):
                mk, attr = m.group(1), m.group(2)
                if mk in nodes and attr in ("value", "grad"):
                    used.setdefault(f"{run.name(nodes[mk])}.{attr}", value(mk, attr))
            operands = tuple(used.items())
            parts = [f"{n} {shape_text(v)}" for n, v in operands if v is not None]
            shapes = ", ".join(parts) + f" -> {target}.grad {shape_text(run.value_of(inp))}"
            note = _sum_note(node, inp, target)
            notes = (note,) if note else ()
        out.append(RuleText(target, sym, num, shapes, notes, operands, position))
    return out


def _terms(run: BackwardTrace, k: int, digits: int,
           all_rules: tuple | None = None) -> list[tuple[Any, int, int, list[RuleText]]]:
    """Per distinct input that needs a grad: (node, first position, last position, its rules)."""
    step = run.steps[k]
    all_rules = rules(run, k, digits) if all_rules is None else all_rules
    inputs = step.node.inputs
    out = []
    done: set[int] = set()
    for i, inp in enumerate(inputs):
        if id(inp) in done or not needs_grad(inp):
            continue
        done.add(id(inp))
        last = max(j for j, n in enumerate(inputs) if n is inp)
        if step.after[last] is None:  # the rule gave nothing (no gradient flowed)
            continue
        mine = [r for r in all_rules if inputs[r.position] is inp]
        out.append((inp, i, last, mine))
    return out


def update_lines(run: BackwardTrace, k: int, digits: int = 6) -> list[str]:
    """Iteration ``k`` per updated grad, on one line: the grad before, each term, the result.

    >>> import ag
    >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
    >>> update_lines(ag.backward_trace(z3), 1)
    ['z1.grad = 0 + 2 * 8 + 2 * 8 = 32']
    """
    return [t.update for t in iteration(run, k, digits).terms]


def grad_cell(run: BackwardTrace, k: int, i: int, grads: list | None = None, digits: int = 6) -> str:
    """The one-line grad of ``order[i]`` after iteration ``k``; NOT_REACHED before the pass reaches it.

    A grad left from an earlier backward call (not zero) is shown as it is.
    """
    g = (grads if grads is not None else run.grad_history()[k])[i]
    if not run.reached_after(k)[i]:
        v = unwrap(g)
        if v is None or (not is_array(v) and not _shape_of(v) and float(v) == 0.0):
            return NOT_REACHED
    return format_number(g, digits)


# -- the content of one iteration, built once for every form ------------------------------


class Term(NamedTuple):
    """One input's grad in one iteration: its rules, the operands they read, before and after."""

    name: str
    rules: tuple
    operands: tuple  # (name, value) of each operand not shown yet in this iteration
    before: Any  # None: the first contribution
    adds: Any  # what this iteration adds (None when ``before`` is None)
    after: Any
    update: str  # ``z1.grad = 0 + 2 * 8 + 2 * 8 = 32``


class Iteration(NamedTuple):
    """Iteration ``k``: its node and what it did (``kind`` is ``rules``, ``leaf`` or ``no-grad``).

    >>> import ag
    >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
    >>> it = iteration(ag.backward_trace(z3), 1)
    >>> it.title, it.node, [t.update for t in it.terms]
    ('iteration 1 (2 of 3)', 'z2:mul', ['z1.grad = 0 + 2 * 8 + 2 * 8 = 32'])
    """

    k: int
    title: str
    node: str  # display name
    head: str  # ``z2:mul = 4`` or ``z1:matmul, value of shape (2, 3)``
    value: Any
    grad_name: str
    out_grad: Any
    kind: str
    rules: tuple
    terms: tuple


def _contribution(before: Any, after: Any) -> Any:
    if before is None:
        return after
    return to_numpy(after) - to_numpy(before)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def iteration_title(k: int, n: int) -> str:
    """``iteration 0 (1 of 10)``: the course's 0-based number, then the position in the pass.

    >>> iteration_title(0, 10)
    'iteration 0 (1 of 10)'
    """
    return f"iteration {k} ({k + 1} of {n})"


def _node_head(run: BackwardTrace, node: Any) -> str:
    value = run.value_of(node)
    if is_array(value):
        return f"{_one_line(run.display_name(node))}, value of shape {shape_text(value)}"
    return f"{_one_line(run.display_name(node))} = {format_number(value, run.digits)}"


def iteration(run: BackwardTrace, k: int, digits: int = 6) -> Iteration:
    """The content of iteration ``k`` (see :class:`Iteration`), which every form writes out."""
    step = run.steps[k]
    node = step.node
    all_rules = tuple(rules(run, k, digits))
    terms = []
    shown = {f"{run.name(node)}.grad"}
    for inp, first, last, mine in _terms(run, k, digits, all_rules):
        operands = []
        for r in mine:
            for name, value in r.operands:
                if name not in shown and value is not None:
                    shown.add(name)
                    operands.append((name, value))
        before, after = step.before[first], step.after[last]
        numbers = " + ".join(r.numeric or "?" for r in mine)
        notes = "".join(f" ({n})" for r in mine[:1] for n in r.notes)
        start = "0" if before is None else format_number(before, digits)
        update = f"{run.name(inp)}.grad = {start} + {numbers}{notes} = {format_number(after, digits)}"
        terms.append(Term(run.name(inp), tuple(mine), tuple(operands), before,
                          None if before is None else _contribution(before, after), after, update))
    kind = "leaf" if not node.inputs else ("rules" if terms else "no-grad")
    return Iteration(k, iteration_title(k, len(run.steps)), _one_line(run.display_name(node)),
                     _node_head(run, node), run.value_of(node), f"{run.name(node)}.grad", step.out_grad,
                     kind, all_rules, tuple(terms))


_SAY = {
    "leaf": "A leaf: nothing to do.",
    "no-grad": "No input needs a grad: nothing to do.",
    "legend": f"{NOT_REACHED} = not reached yet; inputs that need no grad have no row.",
    "final": "Grads after the last iteration",
}


def _final(run: BackwardTrace) -> list[tuple[str, Any]]:
    """``(name.grad, grad or None when not reached)`` after the last iteration."""
    final = run.grad_history()[-1] if run.steps else list(run.initial_grads)
    reached = run.reached_after(len(run.steps) - 1)
    return [(f"{run.name(run.order[i])}.grad", final[i] if reached[i] else None) for i in run.graded()]


def _tensor_items(run: BackwardTrace, digits: int) -> list[tuple]:
    """A Tensor trace as a flat list of items, each form writes every kind its own way:
    ``("iteration", it)``, ``("say", text)``, ``("value", name, value)``,
    ``("out", name, grad)`` (the node's own grad), ``("rule", rule, why, shapes, notes)``,
    ``("result", name, value)``, ``("end",)``,
    ``("final", text)``."""
    items: list[tuple] = []
    for k in range(len(run.steps)):
        it = iteration(run, k, digits)
        items.append(("iteration", it))
        if it.kind != "rules":
            items += [("say", _SAY[it.kind]), ("end",)]
            continue
        items.append(("out", it.grad_name, it.out_grad))
        for term in it.terms:
            for r in term.rules:
                rule, _, why = r.symbolic.partition("   (")
                items.append(("rule", rule, f"({why}" if why else "", r.shapes, r.notes))
            items += [("value", name, value) for name, value in term.operands]
            if term.before is not None:
                items += [("value", f"{term.name}.grad before", term.before),
                          ("value", "this iteration adds", term.adds)]
            items.append(("result", f"{term.name}.grad", term.after))
        items.append(("end",))
    items.append(("final", _SAY["final"]))
    items += [("out", name, NOT_REACHED if g is None else g) for name, g in _final(run)]
    items.append(("say", _SAY["legend"]))
    return items


def _grads_table(run: BackwardTrace, max_columns: int, digits: int) -> tuple[list[str], list[list[str]]]:
    """The grads after each iteration: ``(header, rows)``, one column per graded node, or
    ``(["iteration", "grads changed"], ...)`` when there are more than ``max_columns``."""
    graded = run.graded()
    if len(graded) > max_columns:
        rows = []
        for k, step in enumerate(run.steps):
            seen = {run.name(n): format_number(g, digits)
                    for n, g in zip(step.node.inputs, step.after) if needs_grad(n)}
            rows.append([str(k), ", ".join(f"{n} = {v}" for n, v in seen.items()) or "(no change)"])
        return ["iteration", "grads changed"], rows
    header = ["iteration"] + [_one_line(run.name(run.order[i])) for i in graded]
    rows = [[str(k)] + [grad_cell(run, k, i, g, digits) for i in graded]
            for k, g in enumerate(run.grad_history())]
    return header, rows


def _head(run: BackwardTrace) -> tuple[str, str]:
    return _one_line(run.display_name(run.root)), _one_line(run.order_text())


# -- text --------------------------------------------------------------------------------


def _columns(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def _text_value(name: str, value: Any, digits: int, max_elements: int, indent: str) -> list[str]:
    """``name = value``: on one line for a number or a short row, else the matrix below the name."""
    body = matrix_text(value, digits, max_elements).splitlines()
    if len(body) == 1 and len(body[0]) <= 60:
        return [f"{indent}{name} = {body[0]}"]
    return [f"{indent}{name} ="] + [f"{indent}  {line}" if line else "" for line in body]


def _text_tensor(run: BackwardTrace, digits: int, max_elements: int) -> list[str]:
    out: list[str] = []
    for item in _tensor_items(run, digits):
        kind = item[0]
        if kind == "iteration":
            out.append(f"{item[1].title}: {item[1].head}")
        elif kind == "say":
            out.append(f"  {item[1]}")
        elif kind in ("value", "out"):
            out += _text_value(item[1], item[2], digits, max_elements, "    " if kind == "value" else "  ")
        elif kind == "rule":
            _, rule, why, shapes, notes = item
            out.append(f"  rule: {rule}")
            out += [f"        {why}"] if why else []
            out.append(f"        shapes: {shapes}")
            out += [f"        then {n}" for n in notes]
        elif kind == "result":
            out += _text_value(f"=> {item[1]}", item[2], digits, max_elements, "  ")
        elif kind == "end":
            out.append("")
        elif kind == "final":
            out.append(item[1].lower())
    return out


def text(run: BackwardTrace, digits: int = 6, max_elements: int = 36, max_columns: int = 16) -> str:
    """The terminal form: order, then a table (Scalars) or blocks with matrices (Tensors)."""
    import textwrap

    root, order = _head(run)
    lines = [f"backward from {root}"]
    lines += [f"note: {n}" for n in run.notes]  # label clashes (ag.trace_record.name_clashes)
    lines += textwrap.wrap(f"topological order: {order}", 100, break_long_words=False,
                           subsequent_indent=" " * len("topological order: [")) if is_tensor_trace(run) \
        else [f"topological order: {order}"]
    lines.append("")
    if is_tensor_trace(run):
        return "\n".join(lines + _text_tensor(run, digits, max_elements))
    table = [["iteration", "node", "rule", "with numbers"]]
    updates: dict[int, list[str]] = {}
    for k in range(len(run.steps)):
        it = iteration(run, k, digits)
        if it.kind != "rules":
            table.append([str(k), it.node, "leaf: nothing to do", ""])
            continue
        for j, r in enumerate(it.rules):
            table.append([str(k) if j == 0 else "", it.node if j == 0 else "", r.symbolic, r.numeric])
        updates[len(table) - 1] = [t.update for t in it.terms]
    widths = [max(len(r[c]) for r in table) for c in range(2)]
    rows = _columns(table)
    rows.insert(1, "  ".join("-" * max(len(r[c]) for r in table) for c in range(4)))
    for i, row in enumerate(rows):
        lines.append(row)
        source = i - 1 if i > 1 else -1
        lines += [" " * (widths[0] + widths[1] + 4) + "=> " + u for u in updates.get(source, [])]
    header, body = _grads_table(run, max_columns, digits)
    lines += ["", "grads changed by each iteration" if header[-1] == "grads changed"
              else f"grads after each iteration ({NOT_REACHED} = not reached yet)"]
    if header[-1] == "grads changed":
        return "\n".join(lines + [f"{k:>9}  {changed}" for k, changed in body])
    return "\n".join(lines + _columns([header, *body]))


# -- Markdown ------------------------------------------------------------------------------


def markdown_code(text: Any) -> str:
    r"""``text`` as a Markdown code span that is safe in a table cell: shown literally.

    Inside a code span HTML is not interpreted; pipes are escaped for tables.

    >>> markdown_code("a|b <script>")
    '`a\\|b <script>`'
    """
    body = _one_line(text).replace("|", "\\|")
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest or body.startswith("`") or body.endswith("`") else ""
    return f"{fence}{pad}{body}{pad}{fence}" if body else ""


def _md_value(name: str, value: Any, digits: int, max_elements: int) -> list[str]:
    one = matrix_text(value, digits, max_elements)
    if "\n" not in one and len(one) <= 60:
        return [f"- {markdown_code(name + ' = ' + one)}"]
    shown = matrix_markdown(value, digits, max_elements)
    return [f"- {markdown_code(name)} =", "", *("  " + line for line in shown.splitlines()), ""]


def _md_tensor(run: BackwardTrace, digits: int, max_elements: int) -> list[str]:
    c = markdown_code
    out: list[str] = []
    for item in _tensor_items(run, digits):
        kind = item[0]
        if kind == "iteration":
            out += [f"#### {item[1].title.capitalize()}: {c(item[1].head)}", ""]
        elif kind == "say":
            out.append(item[1])
        elif kind in ("value", "out"):
            out += _md_value(item[1], item[2], digits, max_elements)
        elif kind == "rule":
            _, rule, why, shapes, notes = item
            out.append(f"- rule: {c(rule)}" + (f" {why}" if why else ""))
            out.append(f"  - shapes: {c(shapes)}")
            out += [f"  - then {n}" for n in notes]
        elif kind == "result":
            out += _md_value(f"=> {item[1]}", item[2], digits, max_elements)
        elif kind in ("end", "final"):
            out += [f"#### {item[1]}", ""] if kind == "final" else [""]
    return out


def _md_table(rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|" + " --- |" * len(rows[0]))
    return [re.sub(r"\| {2}(?=\|)", "| ", line) for line in lines]  # an empty cell is "| |"


def markdown(run: BackwardTrace, digits: int = 6, max_elements: int = 36, max_columns: int = 16) -> str:
    """The Markdown answer key: a table (Scalars) or per-iteration blocks with matrices (Tensors)."""
    c = markdown_code
    root, order = _head(run)
    out = [f"**Backward from** {c(root)}", "", f"**Topological order:** {c(order)}", ""]
    out[1:1] = [x for n in run.notes for x in ("", f"**Note:** {n}")]  # label clashes
    if is_tensor_trace(run):
        return "\n".join(out + _md_tensor(run, digits, max_elements))
    rows = [["iteration", "node", "rule", "with numbers", "result"]]
    for k in range(len(run.steps)):
        it = iteration(run, k, digits)
        if it.kind != "rules":
            rows.append([str(k), c(it.node), "leaf: nothing to do", "", ""])
            continue
        rows.append([str(k), c(it.node), "<br>".join(c(r.symbolic) for r in it.rules),
                     "<br>".join(c(r.numeric) for r in it.rules), "<br>".join(c(t.update) for t in it.terms)])
    out += _md_table(rows) + [""]
    header, body = _grads_table(run, max_columns, digits)
    if header[-1] != "grads changed":
        header = ["iteration"] + [c(h + ".grad") for h in header[1:]]
    out += _md_table([header] + [[row[0]] + [c(cell) for cell in row[1:]] for row in body])
    if header[-1] != "grads changed":
        out += ["", f"{NOT_REACHED} = not reached yet"]
    return "\n".join(out)


# -- LaTeX -----------------------------------------------------------------------------------

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "%": r"\%",
    "_": r"\_",
    "^": r"\^{}",
    "~": r"\~{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    NOT_REACHED: "---",
}


def latex_escape(text: Any) -> str:
    """Text that LaTeX typesets literally.

    >>> latex_escape("z_1 {x} 50% $")
    'z\\\\_1 \\\\{x\\\\} 50\\\\% \\\\$'
    """
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in _one_line(text))


def _tex_tensor(run: BackwardTrace, digits: int, max_elements: int) -> list[str]:
    e = latex_escape
    out: list[str] = [r"% needs \usepackage{amsmath} (bmatrix)"]
    for item in _tensor_items(run, digits):
        kind = item[0]
        if kind == "iteration":
            out.append(f"\\paragraph{{{item[1].title.capitalize()}: \\texttt{{{e(item[1].head)}}}}}")
        elif kind == "say":
            out += [e(item[1]), ""]
        elif kind in ("value", "out", "result"):
            arrow = "\\Rightarrow\\ " if kind == "result" else ""
            value = matrix_latex(item[2], digits, max_elements)
            out.append(f"\\[ {arrow}\\texttt{{{e(item[1])}}} = {value} \\]")
        elif kind == "rule":
            _, rule, why, shapes, notes = item
            out.append(f"\\noindent Rule: \\texttt{{{e(rule)}}}")
            out += [f"\\\\ {{\\small {e(why)}}}"] if why else []
            out.append(f"\\\\ {{\\small shapes: \\texttt{{{e(shapes)}}}}}")
            out += [f"\\\\ then {e(n)}" for n in notes] + [""]
        elif kind == "end":
            out.append("")
        elif kind == "final":
            out.append(f"\\paragraph{{{item[1]}}}")
    return out


def latex(run: BackwardTrace, digits: int = 6, max_elements: int = 36, max_columns: int = 12) -> str:
    """The LaTeX answer key: ``tabular`` (Scalars) or per-iteration ``bmatrix`` blocks (Tensors)."""
    e = latex_escape
    root, order = _head(run)
    out = [f"% backward trace from {e(root)}",
           r"{\raggedright\noindent Topological order: \texttt{" + e(order) + r"}\par}", ""]
    out[1:1] = [r"{\raggedright\noindent Note: " + e(n) + r"\par}" for n in run.notes]
    if is_tensor_trace(run):
        return "\n".join(out + _tex_tensor(run, digits, max_elements))
    out += [r"\begin{tabular}{r l l l}", r"\hline", r"iteration & node & rule & with numbers \\", r"\hline"]
    for k in range(len(run.steps)):
        it = iteration(run, k, digits)
        if it.kind != "rules":
            out.append(f"{k} & \\texttt{{{e(it.node)}}} & leaf: nothing to do & \\\\")
            continue
        for j, r in enumerate(it.rules):
            first = f"{k} & \\texttt{{{e(it.node)}}}" if j == 0 else " & "
            out.append(f"{first} & \\texttt{{{e(r.symbolic)}}} & \\texttt{{{e(r.numeric)}}} \\\\")
        out += [f" & & \\multicolumn{{2}}{{l}}{{$\\Rightarrow$ \\texttt{{{e(t.update)}}}}} \\\\"
                for t in it.terms]
    out += [r"\hline", r"\end{tabular}", ""]
    header, body = _grads_table(run, max_columns, digits)
    if header[-1] == "grads changed":
        out += [r"\begin{tabular}{r l}", r"\hline", r"iteration & grads changed \\", r"\hline"]
        out += [f"{k} & \\texttt{{{e(changed)}}} \\\\" for k, changed in body]
    else:
        out += [r"\begin{tabular}{r" + " r" * (len(header) - 1) + "}", r"\hline",
                "iteration & " + " & ".join(f"\\texttt{{{e(h)}.grad}}" for h in header[1:]) + r" \\",
                r"\hline"]
        out += [" & ".join([row[0]] + [e(cell) for cell in row[1:]]) + r" \\" for row in body]
    out += [r"\hline", r"\end{tabular}"]
    return "\n".join(out)


# -- HTML (a notebook's rich display of a trace, and the stepper's side panel) -------------------


def _h(text: Any) -> str:
    return _html.escape(str(text), quote=True)


def html_value(value: Any, digits: int = 6, max_elements: int = 36) -> str:
    """A number as ``<code>``, an array as an aligned ``<pre>`` (in full when small).

    >>> import numpy as np
    >>> html_value(2.5), html_value(None), html_value(np.eye(2))
    ('<code>2.5</code>', '<code>—</code>', '<pre>[[1  0]\\n [0  1]]</pre>')
    """
    if value is None or isinstance(value, str):
        return f"<code>{_h(NOT_REACHED if value is None else value)}</code>"
    if not is_array(value):
        return f"<code>{_h(format_number(value, digits))}</code>"
    return f"<pre>{_h(matrix_text(value, digits, max_elements))}</pre>"


def html_rules(it: Iteration, digits: int = 6, max_elements: int = 36, tensor: bool = False) -> str:
    """An iteration's rules (and for Tensors their shapes, notes and operands) as an HTML list."""
    if it.kind != "rules":
        return f'<p class="rules">{_h(_SAY[it.kind])}</p>'
    out = []
    if tensor:
        out.append(f"<div>{_h(it.grad_name)} = {html_value(it.out_grad, digits, max_elements)}</div>")
    out.append('<ul class="rules">')
    for term in it.terms:
        for r in term.rules:
            if not tensor:
                out.append(f"<li><code>{_h(r.symbolic)}</code> = <code>{_h(r.numeric)}</code></li>")
                continue
            item = [f"<code>{_h(r.symbolic)}</code>", f'<div class="shapes">shapes: {_h(r.shapes)}</div>']
            item += [f'<div class="note">then {_h(n)}</div>' for n in r.notes]
            out.append("<li>" + "".join(item) + "</li>")
        if tensor:
            out += [f"<li class=\"operand\">{_h(n)} = {html_value(v, digits, max_elements)}</li>"
                    for n, v in term.operands]
    out.append("</ul>")
    if not tensor:
        out += ['<ul class="updates">'] + [f"<li><code>{_h(t.update)}</code></li>" for t in it.terms]
        out.append("</ul>")
    return "".join(out)


def _html_table(rows: list[list[str]], cls: str) -> str:
    head = "".join(f"<th>{cell}</th>" for cell in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows[1:])
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


_TABLE_CSS = (
    ".ag-trace table { border-collapse: collapse; margin: .4em 0; }"
    " .ag-trace th, .ag-trace td { border: 1px solid #d1d5db; padding: .15em .5em; text-align: left;"
    " vertical-align: top; }"
    " .ag-trace pre { margin: .1em 0; } .ag-trace .shapes { color: #4b5563; font-size: .9em; }"
)


def html_table(run: BackwardTrace, digits: int | None = None, max_elements: int | None = None,
               max_columns: int = 16) -> str:
    """The answer key as HTML (a notebook shows a trace this way): the order, then a table per
    iteration (Scalars) or the rules with their matrices (Tensors), and the grads after each.

    >>> import ag
    >>> x = ag.Scalar(2.0, label="<x>")
    >>> page = html_table(ag.backward_trace(x * x))
    >>> "&lt;x&gt;" in page and "<table" in page and "<x>" not in page
    True
    """
    digits = run.digits if digits is None else digits
    max_elements = run.max_elements if max_elements is None else max_elements
    tensor = is_tensor_trace(run)
    root, order = _head(run)
    out = [f'<div class="ag-trace"><style>{_TABLE_CSS}</style>',
           f"<p><b>Backward from</b> <code>{_h(root)}</code><br><b>Topological order:</b> "
           f"<code>{_h(order)}</code></p>"]
    out += [f"<p><b>Note:</b> {_h(n)}</p>" for n in run.notes]  # label clashes
    rows = [["iteration", "node", "rule", "result"]]
    for k in range(len(run.steps)):
        it = iteration(run, k, digits)
        result = "<br>".join(html_value(t.after, digits, max_elements) if tensor
                             else f"<code>{_h(t.update)}</code>" for t in it.terms)
        rules_html = html_rules(it, digits, max_elements, tensor)
        if not tensor:  # the updates have their own column
            rules_html = rules_html.split('<ul class="updates">')[0]
        rows.append([str(k), f"<code>{_h(it.node)}</code>", rules_html, result])
    out.append(_html_table(rows, "ag-iterations"))
    if tensor:
        out.append(f"<p><b>{_SAY['final']}</b></p>")
        finals = [[f"<code>{_h(n)}</code>", html_value(g, digits, max_elements)] for n, g in _final(run)]
        out.append(_html_table([["grad", "value"], *finals], "ag-grads"))
    else:
        header, body = _grads_table(run, max_columns, digits)
        out.append(_html_table([[_h(cell) for cell in row] for row in [header, *body]], "ag-grads"))
    out.append(f"<p>{_h(_SAY['legend'])}</p></div>")
    return "".join(out)


def html_fragment(run: BackwardTrace, digits: int | None = None, max_elements: int | None = None) -> str:
    """The text form as an HTML fragment (a ``<pre>`` in a ``<div>``).

    >>> import ag
    >>> x = ag.Scalar(2.0, label="<x>")
    >>> "&lt;x&gt;" in html_fragment(ag.backward_trace(x * x))
    True
    """
    body = text(run, run.digits if digits is None else digits,
                run.max_elements if max_elements is None else max_elements)
    return ('<div class="ag-trace"><pre style="font-size:12px;line-height:1.3">'
            f"{_html.escape(body)}</pre></div>")
