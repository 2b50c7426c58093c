"""Rendering backward traces: rule text with numbers, and the text, Markdown and LaTeX forms.

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

This module only reads records made by :mod:`ag.trace_record`.
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
    matrix_lines,
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


def _terms(run: BackwardTrace, k: int, digits: int) -> list[tuple[Any, int, int, list[RuleText]]]:
    """Per distinct input that needs a grad: (node, first position, last position, its rules)."""
    step = run.steps[k]
    all_rules = rules(run, k, digits)
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
    step = run.steps[k]
    lines = []
    for inp, first, last, mine in _terms(run, k, digits):
        terms = " + ".join(r.numeric or "?" for r in mine)
        before = "0" if step.before[first] is None else format_number(step.before[first], digits)
        after = format_number(step.after[last], digits)
        notes = "".join(f" ({n})" for r in mine[:1] for n in r.notes)
        lines.append(f"{run.name(inp)}.grad = {before} + {terms}{notes} = {after}")
    return lines


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


def _contribution(before: Any, after: Any) -> Any:
    if before is None:
        return after
    return to_numpy(after) - to_numpy(before)


# -- text --------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _grad_columns(run: BackwardTrace, max_columns: int) -> list[int] | None:
    """Positions in the order whose grads get a column, or None when there are too many."""
    graded = run.graded()
    return graded if len(graded) <= max_columns else None


def _changed(run: BackwardTrace, k: int, digits: int) -> str:
    step = run.steps[k]
    seen: dict[str, str] = {}
    for node, g in zip(step.node.inputs, step.after):
        if needs_grad(node):
            seen[run.name(node)] = format_number(g, digits)
    return ", ".join(f"{n} = {v}" for n, v in seen.items()) or "(no change)"


def _block(name: str, value: Any, digits: int, max_elements: int, indent: str) -> list[str]:
    """``name = value``: on one line for a number or a short row, else the matrix below the name."""
    body = matrix_text(value, digits, max_elements).splitlines()
    if len(body) == 1 and len(body[0]) <= 60:
        return [f"{indent}{name} = {body[0]}"]
    return [f"{indent}{name} ="] + [f"{indent}  {line}" if line else "" for line in body]


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


def _tensor_text(run: BackwardTrace, digits: int, max_elements: int) -> list[str]:
    lines: list[str] = []
    for k, step in enumerate(run.steps):
        node = step.node
        lines.append(f"{iteration_title(k, len(run.steps))}: {_node_head(run, node)}")
        terms = _terms(run, k, digits)
        if not node.inputs:
            lines += ["  a leaf: nothing to do" + ("" if needs_grad(node) else " (it needs no grad)"), ""]
            continue
        if not terms:
            lines += ["  no input needs a grad: nothing to do", ""]
            continue
        lines += _block(f"{run.name(node)}.grad", step.out_grad, digits, max_elements, "  ")
        for inp, first, last, mine in terms:
            name = run.name(inp)
            for r in mine:
                rule, _, why = r.symbolic.partition("   (")
                lines.append(f"  rule: {rule}")
                if why:
                    lines.append(f"        ({why}")
                lines.append(f"        shapes: {r.shapes}")
                for note in r.notes:
                    lines.append(f"        then {note}")
            shown = {f"{run.name(node)}.grad"}
            for r in mine:
                for oname, ovalue in r.operands:
                    if oname not in shown and ovalue is not None:
                        shown.add(oname)
                        lines += _block(oname, ovalue, digits, max_elements, "    ")
            before = step.before[first]
            if before is not None:
                lines += _block(f"{name}.grad before", before, digits, max_elements, "    ")
                lines += _block("this iteration adds", _contribution(before, step.after[last]),
                                digits, max_elements, "    ")
            lines += _block(f"=> {name}.grad", step.after[last], digits, max_elements, "  ")
        lines.append("")
    lines.append("grads after the last iteration")
    final = run.grad_history()[-1] if run.steps else list(run.initial_grads)
    last = len(run.steps) - 1
    for i in run.graded():
        name = run.name(run.order[i])
        if not run.reached_after(last)[i]:
            lines.append(f"  {name}.grad = {NOT_REACHED} (not reached)")
        else:
            lines += _block(f"{name}.grad", final[i], digits, max_elements, "  ")
    lines.append(f"({NOT_REACHED} = not reached yet; rows for inputs that need no grad are left out)")
    return lines


def text(run: BackwardTrace, digits: int = 6, max_elements: int = 36, max_columns: int = 16) -> str:
    """The terminal form: order, then a table (Scalars) or blocks with matrices (Tensors)."""
    lines = [
        f"backward from {_one_line(run.display_name(run.root))}",
        f"topological order: {_one_line(run.order_text())}",
        "",
    ]
    lines[1:1] = [f"note: {n}" for n in run.notes]  # label clashes (ag.trace_record.name_clashes)
    if is_tensor_trace(run):  # the block layout keeps every line short: the order wraps too
        import textwrap

        order = textwrap.wrap(f"topological order: {_one_line(run.order_text())}", 100,
                              subsequent_indent=" " * len("topological order: ["), break_long_words=False)
        return "\n".join(lines[:1 + len(run.notes)] + order + [""] + _tensor_text(run, digits, max_elements))
    table: list[tuple[str, str, str, str]] = [("iteration", "node", "rule", "with numbers")]
    notes: dict[int, list[str]] = {}
    for k, step in enumerate(run.steps):
        rs = rules(run, k, digits)
        node = _one_line(run.display_name(step.node))
        if not rs:
            table.append((str(k), node, "leaf: nothing to do", ""))
            continue
        for j, r in enumerate(rs):
            table.append((str(k) if j == 0 else "", node if j == 0 else "", r.symbolic, r.numeric))
        notes[len(table) - 1] = update_lines(run, k, digits)
    widths = [max(len(r[c]) for r in table) for c in range(4)]
    for i, row in enumerate(table):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
        for update in notes.get(i, []):
            lines.append(" " * (widths[0] + widths[1] + 4) + "=> " + update)
    lines.append("")
    columns = _grad_columns(run, max_columns)
    if columns is None:
        lines.append("grads changed by each iteration")
        for k in range(len(run.steps)):
            lines.append(f"{k:>9}  {_changed(run, k, digits)}")
    else:
        lines.append(f"grads after each iteration ({NOT_REACHED} = not reached yet)")
        header = ["iteration"] + [_one_line(run.name(run.order[i])) for i in columns]
        body = [
            [str(k)] + [grad_cell(run, k, i, g, digits) for i in columns]
            for k, g in enumerate(run.grad_history())
        ]
        widths = [max(len(r[c]) for r in [header, *body]) for c in range(len(header))]
        for row in [header, *body]:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


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


def _md_block(name: str, value: Any, digits: int, max_elements: int) -> list[str]:
    one = matrix_text(value, digits, max_elements)
    if "\n" not in one and len(one) <= 60:
        return [f"- {markdown_code(name + ' = ' + one)}"]
    shown = matrix_markdown(value, digits, max_elements)
    return [f"- {markdown_code(name)} =", "", *("  " + line for line in shown.splitlines()), ""]


def _tensor_markdown(run: BackwardTrace, digits: int, max_elements: int) -> list[str]:
    c = markdown_code
    out: list[str] = []
    n = len(run.steps)
    for k, step in enumerate(run.steps):
        node = step.node
        out += [f"#### {iteration_title(k, n).capitalize()}: {c(_node_head(run, node))}", ""]
        terms = _terms(run, k, digits)
        if not node.inputs:
            out += ["A leaf: nothing to do.", ""]
            continue
        if not terms:
            out += ["No input needs a grad: nothing to do.", ""]
            continue
        out += _md_block(f"{run.name(node)}.grad", step.out_grad, digits, max_elements)
        for inp, first, last, mine in terms:
            name = run.name(inp)
            for r in mine:
                rule, _, why = r.symbolic.partition("   (")
                out.append(f"- rule: {c(rule)}" + (f" ({why}" if why else ""))
                out.append(f"  - shapes: {c(r.shapes)}")
                out += [f"  - then {n_}" for n_ in r.notes]
            shown = {f"{run.name(node)}.grad"}
            for r in mine:
                for oname, ovalue in r.operands:
                    if oname not in shown and ovalue is not None:
                        shown.add(oname)
                        out += _md_block(oname, ovalue, digits, max_elements)
            before = step.before[first]
            if before is not None:
                out += _md_block(f"{name}.grad before", before, digits, max_elements)
                out += _md_block("this iteration adds", _contribution(before, step.after[last]),
                                 digits, max_elements)
            out += _md_block(f"=> {name}.grad", step.after[last], digits, max_elements)
        out.append("")
    out += ["#### Grads after the last iteration", ""]
    final = run.grad_history()[-1] if run.steps else list(run.initial_grads)
    for i in run.graded():
        name = run.name(run.order[i])
        if not run.reached_after(len(run.steps) - 1)[i]:
            out.append(f"- {c(name + '.grad')} = {NOT_REACHED} (not reached)")
        else:
            out += _md_block(f"{name}.grad", final[i], digits, max_elements)
    return out


def markdown(run: BackwardTrace, digits: int = 6, max_elements: int = 36, max_columns: int = 16) -> str:
    """The Markdown answer key: a table (Scalars) or per-iteration blocks with matrices (Tensors)."""
    c = markdown_code
    out = [
        f"**Backward from** {c(run.display_name(run.root))}",
        "",
        f"**Topological order:** {c(run.order_text())}",
        "",
    ]
    out[1:1] = [x for n in run.notes for x in ("", f"**Note:** {n}")]
    if is_tensor_trace(run):
        return "\n".join(out + _tensor_markdown(run, digits, max_elements))
    out += ["| iteration | node | rule | with numbers | result |", "| --- | --- | --- | --- | --- |"]
    for k, step in enumerate(run.steps):
        rs = rules(run, k, digits)
        node = run.display_name(step.node)
        if not rs:
            out.append(f"| {k} | {c(node)} | leaf: nothing to do | | |")
            continue
        out.append(
            f"| {k} | {c(node)} | {'<br>'.join(c(r.symbolic) for r in rs)} | "
            f"{'<br>'.join(c(r.numeric) for r in rs)} | "
            f"{'<br>'.join(c(u) for u in update_lines(run, k, digits))} |"
        )
    out.append("")
    columns = _grad_columns(run, max_columns)
    if columns is None:
        out += ["| iteration | grads changed |", "| --- | --- |"]
        out += [f"| {k} | {c(_changed(run, k, digits))} |" for k in range(len(run.steps))]
    else:
        names = [c(run.name(run.order[i]) + ".grad") for i in columns]
        out.append("| iteration | " + " | ".join(names) + " |")
        out.append("| --- |" + " --- |" * len(names))
        for k, g in enumerate(run.grad_history()):
            out.append(f"| {k} | " + " | ".join(c(grad_cell(run, k, i, g, digits)) for i in columns) + " |")
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


def _tex_block(name: str, value: Any, digits: int, max_elements: int) -> str:
    return f"\\[ \\texttt{{{latex_escape(name)}}} = {matrix_latex(value, digits, max_elements)} \\]"


def _tensor_latex(run: BackwardTrace, digits: int, max_elements: int) -> list[str]:
    e = latex_escape
    out: list[str] = [r"% needs \usepackage{amsmath} (bmatrix)"]
    n = len(run.steps)
    for k, step in enumerate(run.steps):
        node = step.node
        head = e(_node_head(run, node))
        out.append(f"\\paragraph{{{iteration_title(k, n).capitalize()}: \\texttt{{{head}}}}}")
        terms = _terms(run, k, digits)
        if not node.inputs:
            out += ["A leaf: nothing to do.", ""]
            continue
        if not terms:
            out += ["No input needs a grad: nothing to do.", ""]
            continue
        out.append(_tex_block(f"{run.name(node)}.grad", step.out_grad, digits, max_elements))
        for inp, first, last, mine in terms:
            name = run.name(inp)
            for r in mine:
                rule, _, why = r.symbolic.partition("   (")
                out.append(f"\\noindent Rule: \\texttt{{{e(rule)}}}")
                if why:
                    out.append(f"\\\\ {{\\small ({e(why)}}}")
                out.append(f"\\\\ {{\\small shapes: \\texttt{{{e(r.shapes)}}}}}")
                out += [f"\\\\ then {e(n_)}" for n_ in r.notes]
                out.append("")
            shown = {f"{run.name(node)}.grad"}
            for r in mine:
                for oname, ovalue in r.operands:
                    if oname not in shown and ovalue is not None:
                        shown.add(oname)
                        out.append(_tex_block(oname, ovalue, digits, max_elements))
            before = step.before[first]
            if before is not None:
                out.append(_tex_block(f"{name}.grad before", before, digits, max_elements))
                out.append(_tex_block("this iteration adds", _contribution(before, step.after[last]),
                                      digits, max_elements))
            out.append(f"\\[ \\Rightarrow\\ \\texttt{{{e(name)}.grad}} = "
                       f"{matrix_latex(step.after[last], digits, max_elements)} \\]")
        out.append("")
    out.append(r"\paragraph{Grads after the last iteration}")
    final = run.grad_history()[-1] if run.steps else list(run.initial_grads)
    for i in run.graded():
        name = run.name(run.order[i])
        if not run.reached_after(len(run.steps) - 1)[i]:
            out.append(f"\\texttt{{{e(name)}.grad}} = --- (not reached)\\\\")
        else:
            out.append(_tex_block(f"{name}.grad", final[i], digits, max_elements))
    return out


def latex(run: BackwardTrace, digits: int = 6, max_elements: int = 36, max_columns: int = 12) -> str:
    """The LaTeX answer key: ``tabular`` (Scalars) or per-iteration ``bmatrix`` blocks (Tensors)."""
    e = latex_escape
    out = [
        f"% backward trace from {e(run.display_name(run.root))}",
        r"{\raggedright\noindent Topological order: \texttt{" + e(run.order_text()) + r"}\par}",
        "",
    ]
    out[1:1] = [r"{\raggedright\noindent Note: " + e(n) + r"\par}" for n in run.notes]
    if is_tensor_trace(run):
        return "\n".join(out + _tensor_latex(run, digits, max_elements))
    out += [
        r"\begin{tabular}{r l l l}",
        r"\hline",
        r"iteration & node & rule & with numbers \\",
        r"\hline",
    ]
    for k, step in enumerate(run.steps):
        rs = rules(run, k, digits)
        node = run.display_name(step.node)
        if not rs:
            out.append(f"{k} & \\texttt{{{e(node)}}} & leaf: nothing to do & \\\\")
            continue
        for j, r in enumerate(rs):
            first = f"{k} & \\texttt{{{e(node)}}}" if j == 0 else " & "
            out.append(f"{first} & \\texttt{{{e(r.symbolic)}}} & \\texttt{{{e(r.numeric)}}} \\\\")
        for update in update_lines(run, k, digits):
            out.append(f" & & \\multicolumn{{2}}{{l}}{{$\\Rightarrow$ \\texttt{{{e(update)}}}}} \\\\")
    out += [r"\hline", r"\end{tabular}", ""]
    columns = _grad_columns(run, max_columns)
    if columns is None:
        out += [r"\begin{tabular}{r l}", r"\hline", r"iteration & grads changed \\", r"\hline"]
        out += [f"{k} & \\texttt{{{e(_changed(run, k, digits))}}} \\\\" for k in range(len(run.steps))]
    else:
        out.append(r"\begin{tabular}{r" + " r" * len(columns) + "}")
        out.append(r"\hline")
        names = " & ".join(f"\\texttt{{{e(run.name(run.order[i]))}.grad}}" for i in columns)
        out.append(f"iteration & {names} \\\\")
        out.append(r"\hline")
        for k, g in enumerate(run.grad_history()):
            out.append(f"{k} & " + " & ".join(e(grad_cell(run, k, i, g, digits)) for i in columns) + r" \\")
    out += [r"\hline", r"\end{tabular}"]
    return "\n".join(out)


# -- HTML (a notebook's rich display of a trace) -------------------------------------------


def html_fragment(run: BackwardTrace, digits: int | None = None, max_elements: int | None = None) -> str:
    """The text form as an HTML fragment (a ``<pre>`` in a ``<div>``), for notebooks.

    >>> import ag
    >>> x = ag.Scalar(2.0, label="<x>")
    >>> "&lt;x&gt;" in html_fragment(ag.backward_trace(x * x))
    True
    """
    body = text(run, run.digits if digits is None else digits,
                run.max_elements if max_elements is None else max_elements)
    return ('<div class="ag-trace"><pre style="font-size:12px;line-height:1.3">'
            f"{_html.escape(body)}</pre></div>")


def matrix_pre(value: Any, digits: int = 6, max_elements: int = 36) -> str:
    """An array as an escaped, aligned ``<pre>`` block (the stepper's side panel)."""
    return "<pre>" + _html.escape("\n".join(matrix_lines(value, digits)) if not is_array(value)
                                  or to_numpy(value).size <= max_elements
                                  else matrix_text(value, digits, max_elements)) + "</pre>"
