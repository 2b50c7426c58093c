"""Backward traces: what each iteration of the backward loop adds to which ``.grad``.

>>> import ag
>>> x = ag.Scalar(2.0, label="z1:leaf(x)")
>>> z2 = x * x
>>> z3 = z2 * z2
>>> with ag.trace() as t:
...     z3.backward()
>>> t.last.update_lines(1)
['z1.grad = 0 + 2 * 8 + 2 * 8 = 32']

A trace is recorded through the shared loop's observer hook
(:func:`ag.autodiff.observe_backward`), so Scalars and Tensors are traced alike, and
a backward call made while no trace is open runs the bare loop.

Recording stores only raw numbers: for each iteration the node, its grad, and its
inputs' grads before and after (arrays are copied). Rule text, names and tables
are produced when asked for, so a 10,000-node graph is traced in milliseconds.

Note: ``ag.trace`` is the function that opens a trace (``with ag.trace() as t``);
import the classes of this module with ``from ag.trace import BackwardTrace``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any, NamedTuple

from ag.autodiff import observe_backward

__all__ = [
    "trace",
    "Trace",
    "BackwardTrace",
    "Step",
    "RuleText",
    "exam_names",
    "format_number",
    "preview",
    "is_tracing",
    "markdown_code",
    "latex_escape",
]

_active: list[Trace] = []


# -- numbers -------------------------------------------------------------------------


def _unwrap(value: Any) -> Any:
    """A graph node's array (a Tensor grad after ``create_graph=True``), else ``value``."""
    if hasattr(value, "inputs") and hasattr(value, "value"):
        return value.value
    return value


def _is_array(value: Any) -> bool:
    value = _unwrap(value)
    shape = getattr(value, "shape", None)
    return shape is not None and not isinstance(value, (float, int)) and len(shape) > 0


def _to_numpy(value: Any) -> Any:
    import numpy as np

    value = _unwrap(value)
    if not isinstance(value, np.ndarray):
        get = getattr(value, "get", None)  # a device array (CuPy, the fake device): copy to host
        if callable(get):
            value = get()
    return np.asarray(value)


def format_number(value: Any, digits: int = 6) -> str:
    """A number as an exam answer writes it: ``8.0`` -> ``'8'``, ``0.125`` -> ``'0.125'``.

    Arrays and Tensor values get a short :func:`preview`.

    >>> format_number(32.0), format_number(1 / 3), format_number(-0.0)
    ('32', '0.333333', '0')
    """
    if value is None:
        return "None"
    if isinstance(value, bool):
        return str(value)
    if _is_array(value):
        return preview(value, digits=min(digits, 4))
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if v != v or v in (float("inf"), float("-inf")):
        return str(v)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.{digits}g}"


def preview(value: Any, width: int = 48, digits: int = 4) -> str:
    """A one-line preview of an array: its first and last few elements, at most ``width`` chars.

    >>> import numpy as np
    >>> preview(np.arange(6.0).reshape(2, 3))
    '[[0, 1, 2], [3, 4, 5]]'
    >>> preview(np.zeros((100, 100)))
    '[[0, 0, ..., 0, 0], [0, 0, ..., 0, 0], ...] (100x100)'
    """
    if not _is_array(value):
        return format_number(value, digits)
    import numpy as np

    arr = _to_numpy(value)
    text = np.array2string(
        arr,
        precision=digits,
        separator=", ",
        threshold=8,
        edgeitems=2,
        max_line_width=10**6,
        suppress_small=True,
        floatmode="maxprec",
    )
    text = re.sub(r"\s+", " ", text).replace("[ ", "[").replace(" ]", "]")
    text = re.sub(r"(\d)\.(?=[,\]\s])", r"\1", text)  # "1." -> "1"
    text = re.sub(r"\s+,", ",", text)
    shape = "x".join(str(s) for s in arr.shape)
    if len(text) > width or "..." in text:
        if len(text) > width:
            head = text[: max(width - 8, 8)].rsplit(",", 1)[0]
            text = head + ", ...]"
        return f"{text} ({shape})"
    return text


def _snap(value: Any) -> Any:
    """A copy of a grad or value that later in-place updates cannot change."""
    if type(value) is float or value is None:
        return value
    value = _unwrap(value)
    copy = getattr(value, "copy", None)
    return copy() if copy is not None and _is_array(value) else value


# -- names -----------------------------------------------------------------------------

_SHORT = re.compile(r"[:\n]")


def exam_names(nodes: list) -> tuple[dict[int, str], dict[int, str]]:
    """Exam names for a graph's nodes, keyed by ``id(node)``: ``(short, display)``.

    A labelled node keeps its label: ``"z1:leaf(x)"`` (or ``"z1\\nleaf(x)"``) has short
    name ``z1`` (used in rules: ``z1.grad``) and display name ``z1:leaf(x)``. An
    unlabelled node is named by its rank in creation order within the graph:
    the third-created node of a graph is ``z3``, displayed ``z3:mul``. Clashing short
    names fall back to the display name (then a ``#k`` suffix), so rules stay
    unambiguous.

    >>> import ag
    >>> x = ag.Scalar(2.0, label="z1\\nleaf(x)"); y = x * x; z = y * y
    >>> short, display = exam_names(z.topological_sort())
    >>> [display[id(n)] for n in (x, y, z)], short[id(y)]
    (['z1:leaf(x)', 'z2:mul', 'z3:mul'], 'z2')
    """
    from collections import Counter

    ranked = sorted(range(len(nodes)), key=lambda i: (getattr(nodes[i], "_id", 0), i))
    short: dict[int, str] = {}
    display: dict[int, str] = {}
    unlabelled = []
    for i in ranked:
        node = nodes[i]
        label = str(getattr(node, "label", "") or "")
        if label:
            d = ":".join(p.strip() for p in label.splitlines() if p.strip()) or label
            short[id(node)] = _SHORT.split(label, maxsplit=1)[0].strip() or d
            display[id(node)] = d
        else:
            unlabelled.append(node)
    taken = set(short.values())
    k = 0
    for node in unlabelled:  # next free z-number, in creation order
        k += 1
        while f"z{k}" in taken:
            k += 1
        short[id(node)] = f"z{k}"
        display[id(node)] = f"z{k}:{getattr(node, 'op', '') or 'leaf'}"
    counts = Counter(short.values())
    if len(counts) < len(short):  # clashes: use display names, then number them
        for key, s in short.items():
            if counts[s] > 1:
                short[key] = display[key]
        counts = Counter(short.values())
        numbered: dict[str, int] = {}
        for i in ranked:
            key = id(nodes[i])
            s = short[key]
            if counts[s] > 1:
                numbered[s] = numbered.get(s, 0) + 1
                short[key] = f"{s}#{numbered[s]}"
    return short, display


# -- records ---------------------------------------------------------------------------


class Step(NamedTuple):
    """One iteration of the backward loop, as raw numbers.

    ``out_grad`` is the node's grad when its rule ran; ``before``/``after`` are its
    inputs' grads (in operand order, duplicates kept) around the rule.
    """

    index: int
    node: Any
    out_grad: Any
    before: tuple
    after: tuple


class RuleText(NamedTuple):
    """One line of a backward rule: ``target.grad += ...``, symbolic and with numbers."""

    target: str
    symbolic: str
    numeric: str

    def __str__(self) -> str:
        return f"{self.symbolic} = {self.numeric}" if self.numeric else self.symbolic


_PLACEHOLDER = re.compile(r"\{(\w+)\}(?:\.(value|grad))?")
_INPUT_KEYS = ("a", "b", "c", "d", "e", "f")


def _fallback_rule(node: Any) -> tuple[str, ...]:
    return tuple(
        f"{{{k}}}.grad += d{{out}}/d{{{k}}} * {{out}}.grad" for k in _INPUT_KEYS[: len(node.inputs)]
    )


class BackwardTrace:
    """The record of one ``backward()`` call: the order, and each iteration's step.

    >>> import ag
    >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
    >>> run = ag.viz.trace(z3)
    >>> run.order_text()
    '[z1:leaf(x), z2:mul, z3:mul]'
    >>> run.grads_after(0)
    {'z1': 0.0, 'z2': 8.0, 'z3': 1.0}
    """

    def __init__(self, root: Any, order: list) -> None:
        self.root = root
        self.order = list(order)
        self.values = [_snap(n.value) for n in order]
        self.initial_grads = [_snap(n.grad) for n in order]
        self.labels = [getattr(n, "label", "") for n in order]
        self.steps: list[Step] = []
        self._index: dict[int, int] | None = None
        self._names: tuple[dict[int, str], dict[int, str]] | None = None
        self._pending: tuple = (None, ())

    # -- recording (called by Trace through the observer hook) -----------------------
    def _before(self, node: Any) -> None:
        inputs = node.inputs
        if inputs and type(inputs[0].grad) is float:
            self._pending = (node.grad, tuple([i.grad for i in inputs]))
        else:
            self._pending = (_snap(node.grad), tuple([_snap(i.grad) for i in inputs]))

    def _after(self, step: int, node: Any) -> None:
        out_grad, before = self._pending
        inputs = node.inputs
        if inputs and type(inputs[0].grad) is float:
            after = tuple([i.grad for i in inputs])
        else:
            after = tuple([_snap(i.grad) for i in inputs])
        self.steps.append(Step(step, node, out_grad, before, after))

    # -- lookups ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.steps)

    @property
    def index(self) -> dict[int, int]:
        """``id(node)`` -> position in the topological order."""
        if self._index is None:
            self._index = {id(n): i for i, n in enumerate(self.order)}
        return self._index

    def _name_maps(self) -> tuple[dict[int, str], dict[int, str]]:
        if self._names is None:
            self._names = exam_names(self.order)
        return self._names

    def name(self, node: Any) -> str:
        """The short exam name of ``node`` (``z2``), as rules write it.

        >>> import ag
        >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
        >>> run = ag.viz.trace(z3)
        >>> run.name(z2), run.name(x)
        ('z2', 'z1')
        """
        return self._name_maps()[0][id(node)]

    def display_name(self, node: Any) -> str:
        """The display name of ``node`` (``z2:mul``), as the topological order writes it.

        >>> import ag
        >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
        >>> run = ag.viz.trace(z3)
        >>> run.display_name(z2)
        'z2:mul'
        """
        return self._name_maps()[1][id(node)]

    def value_of(self, node: Any) -> Any:
        """``node``'s value when the backward pass ran.

        >>> import ag
        >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
        >>> run = ag.viz.trace(z3)
        >>> run.value_of(z2)
        4.0
        """
        return self.values[self.index[id(node)]]

    def order_text(self) -> str:
        """The non-reversed topological order, as the exam gives it."""
        return "[" + ", ".join(self.display_name(n) for n in self.order) + "]"

    def grads_after(self, k: int) -> dict[str, Any]:
        """Every node's grad after iteration ``k`` (``k=-1``: before the first), in exam order.

        Keys are short exam names (``z1``), in topological order.
        """
        if not -1 <= k < len(self.steps):
            raise IndexError(f"iteration {k} is out of range: this trace has {len(self.steps)}")
        grads = list(self.initial_grads)
        index = self.index
        for step in self.steps[: k + 1]:
            for node, g in zip(step.node.inputs, step.after):
                grads[index[id(node)]] = g
        return {self.name(n): g for n, g in zip(self.order, grads)}

    def grad_history(self) -> list[list[Any]]:
        """``history[k][i]``: the grad of ``order[i]`` after iteration ``k`` (k from 0).

        >>> import ag
        >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
        >>> run = ag.viz.trace(z3)
        >>> run.grad_history()[1]
        [32.0, 8.0, 1.0]
        """
        grads = list(self.initial_grads)
        index = self.index
        history = []
        for step in self.steps:
            for node, g in zip(step.node.inputs, step.after):
                grads[index[id(node)]] = g
            history.append(list(grads))
        return history

    def final_grads(self) -> dict[str, Any]:
        """Every node's grad after the last iteration.

        >>> import ag
        >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
        >>> run = ag.viz.trace(z3)
        >>> run.final_grads()
        {'z1': 32.0, 'z2': 8.0, 'z3': 1.0}
        """
        return self.grads_after(len(self.steps) - 1)

    # -- rule text --------------------------------------------------------------------
    def rules(self, k: int, digits: int = 6) -> list[RuleText]:
        """Iteration ``k``'s rule, one line per input, symbolic and with numbers.

        >>> import ag
        >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
        >>> [str(r) for r in ag.viz.trace(z3).rules(1)]
        ['z1.grad += z1.value * z2.grad = 2 * 8', 'z1.grad += z1.value * z2.grad = 2 * 8']
        """
        step = self.steps[k]
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

        def symbolic(m: re.Match) -> str:
            key, attr = m.group(1), m.group(2)
            if key == "n" and exponent is not None:
                return format_number(exponent, digits)
            if key not in nodes:
                return m.group(0)
            name = self.name(nodes[key])
            return f"{name}.{attr}" if attr else name

        def numeric(m: re.Match) -> str:
            key, attr = m.group(1), m.group(2)
            if key == "n" and exponent is not None:
                return format_number(exponent, digits)
            if key not in nodes:
                return m.group(0)
            if attr == "value":
                return format_number(self.value_of(nodes[key]), digits)
            if attr == "grad":
                return format_number(grads[key], digits)
            return self.name(nodes[key])

        out = []
        for key, template in zip(_INPUT_KEYS, templates):
            sym = _PLACEHOLDER.sub(symbolic, template)
            _, sep, rhs = template.partition("+=")
            num = _PLACEHOLDER.sub(numeric, rhs.strip()) if sep else ""
            out.append(RuleText(self.name(nodes[key]), sym, num))
        return out

    def update_lines(self, k: int, digits: int = 6) -> list[str]:
        """Iteration ``k`` per updated grad, as an answer writes it.

        For example ``z1.grad = 0 + 2 * 8 + 2 * 8 = 32``: the grad before, each term, the result.
        """
        step = self.steps[k]
        rules = self.rules(k, digits)
        lines = []
        done: set[int] = set()
        for i, inp in enumerate(step.node.inputs):
            if id(inp) in done:
                continue
            done.add(id(inp))
            terms = [r.numeric or "?" for j, r in enumerate(rules) if step.node.inputs[j] is inp]
            last = max(j for j, n in enumerate(step.node.inputs) if n is inp)
            if step.after[last] is None:  # a Tensor that needs no grad (requires_grad=False)
                continue
            before = "0" if step.before[i] is None else format_number(step.before[i], digits)
            after = format_number(step.after[last], digits)
            lines.append(f"{self.name(inp)}.grad = {before} + {' + '.join(terms)} = {after}")
        return lines

    # -- text forms ------------------------------------------------------------------
    def text(self, digits: int = 6, max_grad_columns: int = 16) -> str:
        """A table for the terminal: order, then per iteration the node, rules and results.

        >>> import ag
        >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
        >>> run = ag.viz.trace(z3)
        >>> print(run.text().splitlines()[1])
        topological order: [z1:leaf(x), z2:mul, z3:mul]
        """
        return _text(self, digits, max_grad_columns)

    def markdown(self, digits: int = 6, max_grad_columns: int = 16) -> str:
        """A Markdown answer key: the order, a rule table and a grads table.

        >>> import ag
        >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
        >>> run = ag.viz.trace(z3)
        >>> "| 1 | `32` | `8` | `1` |" in run.markdown()
        True
        """
        return _markdown(self, digits, max_grad_columns)

    def latex(self, digits: int = 6, max_grad_columns: int = 12) -> str:
        """A LaTeX answer key (``tabular`` environments, ``\\texttt`` rules).

        >>> import ag
        >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
        >>> run = ag.viz.trace(z3)
        >>> r"1 & 32 & 8 & 1 \\\\" in run.latex()
        True
        """
        return _latex(self, digits, max_grad_columns)

    def __repr__(self) -> str:
        return f"<BackwardTrace of {self.display_name(self.root)}: {len(self.steps)} iterations>"


class Trace:
    """Records every ``backward()`` call made inside a ``with`` block.

    ``runs`` holds one :class:`BackwardTrace` per call; ``last`` is the latest.
    ``recomputes`` holds the inner passes run during those calls (a checkpoint's
    recompute, ``ag.remat``), in the order they ran.

    >>> import ag
    >>> x = ag.Scalar(3.0, label="x")
    >>> with ag.trace() as t:
    ...     (x * x).backward()
    >>> len(t.runs), t.last.final_grads()["x"]
    (1, 6.0)
    """

    def __init__(self) -> None:
        self.runs: list[BackwardTrace] = []
        self.recomputes: list[BackwardTrace] = []
        self.nested = False
        self._open: list[BackwardTrace] = []  # the passes running now, innermost last
        self._stack: ExitStack | None = None

    def __enter__(self) -> Trace:
        self.nested = bool(_active)
        self._stack = ExitStack()
        self._stack.enter_context(observe_backward(self))
        _active.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _active.remove(self)
        assert self._stack is not None
        self._stack.close()

    # observer protocol
    def begin(self, root: Any, order: list) -> None:
        run = BackwardTrace(root, order)
        (self.recomputes if self._open else self.runs).append(run)
        self._open.append(run)

    def before(self, step: int, node: Any) -> None:
        self._open[-1]._before(node)

    def after(self, step: int, node: Any) -> None:
        self._open[-1]._after(step, node)

    def end(self, root: Any) -> None:
        self._open.pop()

    @property
    def last(self) -> BackwardTrace:
        """The latest recorded backward call."""
        if not self.runs:
            raise LookupError("no backward() call was made inside this ag.trace() block")
        return self.runs[-1]

    @property
    def steps(self) -> list[Step]:
        """The steps of the latest backward call."""
        return self.last.steps

    def __iter__(self) -> Iterator[BackwardTrace]:
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)

    def text(self, digits: int = 6) -> str:
        """Every recorded call's text table, one after another.

        >>> import ag
        >>> x = ag.Scalar(3.0, label="x")
        >>> with ag.trace() as t:
        ...     (x * x).backward()
        >>> "=> x.grad = 0 + 3 * 1 + 3 * 1 = 6" in t.text()
        True
        """
        return "\n\n".join(r.text(digits) for r in self.runs)

    def markdown(self, digits: int = 6) -> str:
        """Every recorded call's Markdown answer key.

        >>> import ag
        >>> x = ag.Scalar(3.0, label="x")
        >>> with ag.trace() as t:
        ...     (x * x).backward()
        >>> "`x.grad = 0 + 3 * 1 + 3 * 1 = 6`" in t.markdown()
        True
        """
        return "\n\n".join(r.markdown(digits) for r in self.runs)

    def latex(self, digits: int = 6) -> str:
        """Every recorded call's LaTeX answer key.

        >>> import ag
        >>> x = ag.Scalar(3.0, label="x")
        >>> with ag.trace() as t:
        ...     (x * x).backward()
        >>> "x.grad = 0 + 3 * 1 + 3 * 1 = 6}" in t.latex()
        True
        """
        return "\n\n".join(r.latex(digits) for r in self.runs)


def trace() -> Trace:
    """Open a trace: ``with ag.trace() as t: y.backward()`` records each iteration.

    >>> import ag
    >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
    >>> with ag.trace() as t:
    ...     z3.backward()
    >>> t.last.update_lines(0)
    ['z2.grad = 0 + 4 * 1 + 4 * 1 = 8']
    """
    return Trace()


def is_tracing() -> bool:
    """Whether an ``ag.trace()`` block is open (``ag trace`` runs files inside one).

    >>> is_tracing()
    False
    """
    return bool(_active)


# -- text forms ------------------------------------------------------------------------


def _rows(run: BackwardTrace, digits: int) -> list[tuple[str, str, str, str, list[str]]]:
    """(iteration, node, rules symbolic, rules numeric, update lines) per iteration."""
    rows = []
    for k, step in enumerate(run.steps):
        rules = run.rules(k, digits)
        rows.append(
            (
                str(k),
                run.display_name(step.node),
                [r.symbolic for r in rules],
                [r.numeric for r in rules],
                run.update_lines(k, digits) if rules else [],
            )
        )
    return rows


def _grad_columns(run: BackwardTrace, max_columns: int) -> list[int] | None:
    """Positions in the order whose grads get a column, or None when there are too many."""
    return list(range(len(run.order))) if len(run.order) <= max_columns else None


def _changed(run: BackwardTrace, k: int, digits: int) -> str:
    step = run.steps[k]
    seen: dict[str, str] = {}
    for node, g in zip(step.node.inputs, step.after):
        seen[run.name(node)] = format_number(g, digits)
    return ", ".join(f"{n} = {v}" for n, v in seen.items()) or "(no change)"


def _grad_text(grad: Any, digits: int) -> str:
    return "-" if grad is None else format_number(grad, digits)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _text(run: BackwardTrace, digits: int, max_columns: int) -> str:
    lines = [
        f"backward from {_one_line(run.display_name(run.root))}",
        f"topological order: {_one_line(run.order_text())}",
        "",
    ]
    table: list[tuple[str, str, str, str]] = [("iteration", "node", "rule", "with numbers")]
    notes: dict[int, list[str]] = {}
    for it, node, syms, nums, updates in _rows(run, digits):
        if not syms:
            table.append((it, _one_line(node), "leaf: nothing to do", ""))
            continue
        for j, (sym, num) in enumerate(zip(syms, nums)):
            table.append((it if j == 0 else "", _one_line(node) if j == 0 else "", sym, num))
        notes[len(table) - 1] = updates
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
        lines.append("grads after each iteration")
        header = ["iteration"] + [_one_line(run.name(run.order[i])) for i in columns]
        body = [
            [str(k)] + [_grad_text(g[i], digits) for i in columns]
            for k, g in enumerate(run.grad_history())
        ]
        widths = [max(len(r[c]) for r in [header, *body]) for c in range(len(header))]
        for row in [header, *body]:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


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


def _markdown(run: BackwardTrace, digits: int, max_columns: int) -> str:
    c = markdown_code
    out = [
        f"**Backward from** {c(run.display_name(run.root))}",
        "",
        f"**Topological order:** {c(run.order_text())}",
        "",
        "| iteration | node | rule | with numbers | result |",
        "| --- | --- | --- | --- | --- |",
    ]
    for it, node, syms, nums, updates in _rows(run, digits):
        if not syms:
            out.append(f"| {it} | {c(node)} | leaf: nothing to do | | |")
            continue
        out.append(
            f"| {it} | {c(node)} | {'<br>'.join(c(s) for s in syms)} | "
            f"{'<br>'.join(c(n) for n in nums)} | {'<br>'.join(c(u) for u in updates)} |"
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
            out.append(f"| {k} | " + " | ".join(c(_grad_text(g[i], digits)) for i in columns) + " |")
    return "\n".join(out)


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
}


def latex_escape(text: Any) -> str:
    """Text that LaTeX typesets literally.

    >>> latex_escape("z_1 {x} 50% $")
    'z\\\\_1 \\\\{x\\\\} 50\\\\% \\\\$'
    """
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in _one_line(text))


def _latex(run: BackwardTrace, digits: int, max_columns: int) -> str:
    e = latex_escape
    out = [
        f"% backward trace from {e(run.display_name(run.root))}",
        r"\noindent Topological order: \texttt{" + e(run.order_text()) + "}",
        "",
        r"\begin{tabular}{r l l l}",
        r"\hline",
        r"iteration & node & rule & with numbers \\",
        r"\hline",
    ]
    for it, node, syms, nums, updates in _rows(run, digits):
        if not syms:
            out.append(f"{it} & \\texttt{{{e(node)}}} & leaf: nothing to do & \\\\")
            continue
        for j, (sym, num) in enumerate(zip(syms, nums)):
            first = f"{it} & \\texttt{{{e(node)}}}" if j == 0 else " & "
            out.append(f"{first} & \\texttt{{{e(sym)}}} & \\texttt{{{e(num)}}} \\\\")
        for update in updates:
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
            out.append(f"{k} & " + " & ".join(e(_grad_text(g[i], digits)) for i in columns) + r" \\")
    out += [r"\hline", r"\end{tabular}"]
    return "\n".join(out)
