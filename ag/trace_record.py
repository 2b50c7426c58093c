"""Recording backward traces: what each iteration of the backward loop adds to which ``.grad``.

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
inputs' grads before and after (arrays are copied). Rule text, names, matrices and
tables are produced when asked for, by :mod:`ag.trace_render`, so a 10,000-node
graph is traced in milliseconds. This module is the recording half; the rendering
methods of :class:`BackwardTrace` hand over to ``ag.trace_render``.
"""

from __future__ import annotations

import re
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any, NamedTuple

from ag.autodiff import observe_backward
from ag.number_format import DIGITS, MAX_ELEMENTS, is_array, unwrap

__all__ = [
    "trace",
    "backward_trace",
    "Trace",
    "BackwardTrace",
    "Step",
    "exam_names",
    "is_tracing",
    "needs_grad",
    "name_clashes",
    "NAMES",
]

NAMES = ("exam", "source")
"""How a trace names unlabelled nodes: ``"exam"`` (``z4:matmul``, by creation order, the
default) or ``"source"`` (the forward code's variable, ``KQ:matmul``; see ag.source_names)."""


class _ActiveTraces(threading.local):
    """The traces open in this thread, innermost last: a trace records the backward
    calls of the thread that opened it, each as its own run (another thread's pass
    is neither its run nor a recompute inside one)."""

    def __init__(self) -> None:
        self.traces: list[Trace] = []


_active = _ActiveTraces()


def _snap(value: Any) -> Any:
    """A copy of a grad or value that later in-place updates cannot change."""
    if type(value) is float or value is None:
        return value
    value = unwrap(value)
    copy = getattr(value, "copy", None)
    return copy() if copy is not None and is_array(value) else value


def _zero_or_none(grad: Any) -> bool:
    """A grad nobody has written: None, or a zero number (a Scalar's starting grad)."""
    grad = unwrap(grad)
    return grad is None or (not is_array(grad) and not hasattr(grad, "shape") and float(grad) == 0.0)


def needs_grad(node: Any) -> bool:
    """Whether the backward pass gives ``node`` a grad (Scalars always; Tensors unless
    ``requires_grad=False``).

    >>> import ag, numpy as np
    >>> needs_grad(ag.Scalar(1.0)), needs_grad(ag.Tensor(np.ones(2), requires_grad=False))
    (True, False)
    """
    return bool(getattr(node, "requires_grad", True))


# -- names -----------------------------------------------------------------------------

_SHORT = re.compile(r"[:\n]")


def exam_names(nodes: list, source: dict[int, str] | None = None) -> tuple[dict[int, str], dict[int, str]]:
    """Exam names for a graph's nodes, keyed by ``id(node)``: ``(short, display)``.

    A labelled node keeps its label: ``"z1:leaf(x)"`` (or ``"z1\\nleaf(x)"``) has short
    name ``z1`` (used in rules: ``z1.grad``) and display name ``z1:leaf(x)``. An
    unlabelled node is named by its rank in creation order within the graph:
    the third-created node of a graph is ``z3``, displayed ``z3:mul``. With ``source``
    (``{id(node): variable name}``, see :mod:`ag.source_names`) an unlabelled node
    found there is named after its variable instead (``KQ``, displayed ``KQ:matmul``;
    one name held by several nodes is numbered ``h#1``, ``h#2``), and the others keep
    the z-number they have without it. Clashing short names fall back to the display
    name (then a ``#k`` suffix), so rules stay unambiguous.

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
    if source:
        named = [n for n in unlabelled if id(n) in source]
        uses = Counter(source[id(n)] for n in named)
        numbered_source: dict[str, int] = {}
        for node in named:
            s = source[id(node)]
            if uses[s] > 1:
                numbered_source[s] = numbered_source.get(s, 0) + 1
                s = f"{s}#{numbered_source[s]}"
            short[id(node)] = s
            display[id(node)] = f"{s}:{getattr(node, 'op', '') or 'leaf'}"
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


_Z_NAME = re.compile(r"z\d+")


def name_clashes(nodes: list, bindings: dict[int, str] | None = None) -> list[str]:
    """Sentences about labels that clash with other names, for a trace's header.

    Two kinds: labels that give two nodes the same exam name (``z5``), and (with ``bindings``,
    ``{id(node): variable}`` from the forward code) a label ``zK`` on one node while the
    code calls another, unlabelled, node ``zK``: that node is renumbered.

    >>> import ag
    >>> x1 = ag.Scalar(2.0, label="z1:leaf(x1)"); h0 = ag.Scalar(3.0, label="z2:leaf(h0)")
    >>> wo = ag.Scalar(6.0, label="z3:leaf(wo)")
    >>> z3 = x1 * h0
    >>> name_clashes([x1, h0, z3, wo, z3 * wo], {id(z3): "z3"})  # doctest: +NORMALIZE_WHITESPACE
    ["the label 'z3:leaf(wo)' clashes with z3 = mul in the code: that node is named z4:mul
    here (unlabelled nodes take the next free z-number)"]
    """
    from collections import defaultdict

    short, display = exam_names(nodes)
    notes = []
    by_label: dict[str, list] = defaultdict(list)
    for node in nodes:
        label = str(getattr(node, "label", "") or "")
        if label:
            by_label[_SHORT.split(label, maxsplit=1)[0].strip()].append(node)
    for name, group in by_label.items():
        # exam names only: layers that all label their parameter "weight" are no surprise
        if len(group) > 1 and _Z_NAME.fullmatch(name):
            labels = ", ".join(repr(str(n.label)) for n in group[:-1]) + f" and {str(group[-1].label)!r}"
            shown = ", ".join(short[id(n)] for n in group)
            notes.append(f"the labels {labels} both give the name {name}: rules write them as {shown}")
    for node in nodes:
        var = (bindings or {}).get(id(node))
        if getattr(node, "label", "") or var is None or not _Z_NAME.fullmatch(var) or short[id(node)] == var:
            continue
        holders = [n for n in by_label.get(var, []) if n is not node]
        auto = short[id(node)]
        pushed = _Z_NAME.fullmatch(auto) and int(auto[1:]) > int(var[1:])  # the label took its number
        if holders and pushed:
            op = getattr(node, "op", "") or "leaf"
            notes.append(f"the label {str(holders[0].label)!r} clashes with {var} = {op} in the code: that "
                         f"node is named {display[id(node)]} here (unlabelled nodes take the next free "
                         "z-number)")
    return notes


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


class BackwardTrace:
    """The record of one ``backward()`` call: the order, and each iteration's step.

    ``digits`` and ``max_elements`` are the defaults of its text forms (significant
    digits; arrays up to that many elements are written in full).

    >>> import ag
    >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
    >>> run = ag.backward_trace(z3)
    >>> run.order_text()
    '[z1:leaf(x), z2:mul, z3:mul]'
    >>> run.grads_after(0)
    {'z1': None, 'z2': 8.0, 'z3': 1.0}
    """

    def __init__(self, root: Any, order: list, *, digits: int = DIGITS,
                 max_elements: int = MAX_ELEMENTS, names: str = "exam",
                 bindings: dict[int, str] | None = None) -> None:
        if names not in NAMES:
            raise ValueError(f"trace: names must be one of {NAMES}, got {names!r}")
        #: how unlabelled nodes are named: "exam" (z-numbers) or "source" (variables)
        self.names = names
        #: ``{id(node): variable name}`` found in the forward code (ag.source_names)
        self.bindings = dict(bindings or {})
        self.root = root
        self.order = list(order)
        self.values = [_snap(n.value) for n in order]
        self.initial_grads = [_snap(n.grad) for n in order]
        self.labels = [getattr(n, "label", "") for n in order]
        self.digits = digits
        self.max_elements = max_elements
        self.steps: list[Step] = []
        self._index: dict[int, int] | None = None
        self._names: tuple[dict[int, str], dict[int, str]] | None = None
        self._notes: list[str] | None = None
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
            self._names = exam_names(self.order, self.bindings if self.names == "source" else None)
            for note in self.notes:  # once per trace; Python shows a repeated warning once
                warnings.warn(f"ag.trace: {note}", stacklevel=3)
        return self._names

    @property
    def notes(self) -> list[str]:
        """What the header of every rendering says about the names: label clashes.

        >>> import ag
        >>> a = ag.Scalar(1.0, label="z5:leaf(wo)"); b = ag.Scalar(2.0, label="z5:mul")
        >>> ag.backward_trace(a * b).notes  # doctest: +NORMALIZE_WHITESPACE
        ["the labels 'z5:leaf(wo)' and 'z5:mul' both give the name z5: rules write them as
        z5:leaf(wo), z5:mul"]
        """
        if self._notes is None:
            self._notes = name_clashes(self.order, self.bindings)
        return self._notes

    def name(self, node: Any) -> str:
        """The short exam name of ``node`` (``z2``), as rules write it.

        >>> import ag
        >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
        >>> run = ag.backward_trace(z3)
        >>> run.name(z2), run.name(x)
        ('z2', 'z1')
        """
        return self._name_maps()[0][id(node)]

    def display_name(self, node: Any) -> str:
        """The display name of ``node`` (``z2:mul``), as the topological order writes it.

        >>> import ag
        >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
        >>> ag.backward_trace(z3).display_name(z2)
        'z2:mul'
        """
        return self._name_maps()[1][id(node)]

    def value_of(self, node: Any) -> Any:
        """``node``'s value when the backward pass ran.

        >>> import ag
        >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
        >>> ag.backward_trace(z3).value_of(z2)
        4.0
        """
        return self.values[self.index[id(node)]]

    def order_text(self) -> str:
        """The non-reversed topological order, as the exam gives it."""
        return "[" + ", ".join(self.display_name(n) for n in self.order) + "]"

    def graded(self) -> list[int]:
        """Positions in the order of the nodes that get a grad (``requires_grad=False`` ones do not).

        >>> import ag, numpy as np
        >>> X = ag.Tensor(np.ones((2, 2)), label="X", requires_grad=False)
        >>> W = ag.Tensor(np.ones((2, 2)), label="W")
        >>> run = ag.backward_trace(ag.sum(X @ W))
        >>> [run.name(run.order[i]) for i in run.graded()]
        ['W', 'z1', 'z2']
        """
        return [i for i, n in enumerate(self.order) if needs_grad(n)]

    def reached_after(self, k: int) -> list[bool]:
        """``reached[i]``: whether iteration ``k`` or an earlier one wrote ``order[i]``'s grad.

        The root counts as reached from the start (its grad is the seed).
        """
        reached = [n is self.root for n in self.order]
        index = self.index
        for step in self.steps[: k + 1]:
            for node in step.node.inputs:
                reached[index[id(node)]] = True
        return reached

    def grads_after(self, k: int) -> dict[str, Any]:
        """Every node's grad after iteration ``k`` (``k=-1``: before the first), in exam order.

        Keys are short exam names (``z1``), in topological order. A node the pass has not
        reached yet is ``None`` (the tables' NOT_REACHED), unless it holds a nonzero grad
        left from an earlier backward call; the root counts as reached (its seed).
        """
        if not -1 <= k < len(self.steps):
            raise IndexError(f"iteration {k} is out of range: this trace has {len(self.steps)}")
        grads = list(self.initial_grads)
        index = self.index
        for step in self.steps[: k + 1]:
            for node, g in zip(step.node.inputs, step.after):
                grads[index[id(node)]] = g
        reached = self.reached_after(k)
        return {self.name(n): g if reached[i] or not _zero_or_none(g) else None
                for i, (n, g) in enumerate(zip(self.order, grads))}

    def grad_history(self) -> list[list[Any]]:
        """``history[k][i]``: the grad of ``order[i]`` after iteration ``k`` (k from 0).

        >>> import ag
        >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
        >>> ag.backward_trace(z3).grad_history()[1]
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
        >>> ag.backward_trace(z3).final_grads()
        {'z1': 32.0, 'z2': 8.0, 'z3': 1.0}
        """
        return self.grads_after(len(self.steps) - 1)

    # -- rendering (ag.trace_render; imported here so recording stays cheap) ----------
    def rules(self, k: int, digits: int | None = None) -> list:
        """Iteration ``k``'s rule, one line per input that needs a grad, symbolic and with numbers.

        >>> import ag
        >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
        >>> [str(r) for r in ag.backward_trace(z3).rules(1)]
        ['z1.grad += z1.value * z2.grad = 2 * 8', 'z1.grad += z1.value * z2.grad = 2 * 8']
        """
        from ag import trace_render

        return trace_render.rules(self, k, self.digits if digits is None else digits)

    def update_lines(self, k: int, digits: int | None = None) -> list[str]:
        """Iteration ``k`` per updated grad, on one line, as an answer writes it.

        For example ``z1.grad = 0 + 2 * 8 + 2 * 8 = 32``: the grad before, each term, the result.
        """
        from ag import trace_render

        return trace_render.update_lines(self, k, self.digits if digits is None else digits)

    def text(self, digits: int | None = None, max_grad_columns: int = 16,
             max_elements: int | None = None) -> str:
        """A table for the terminal: order, then per iteration the node, rules and results.

        Arrays of at most ``max_elements`` elements are written in full, as matrices.

        >>> import ag
        >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
        >>> print(ag.backward_trace(z3).text().splitlines()[1])
        topological order: [z1:leaf(x), z2:mul, z3:mul]
        """
        from ag import trace_render

        return trace_render.text(self, *self._options(digits, max_elements), max_grad_columns)

    def markdown(self, digits: int | None = None, max_grad_columns: int = 16,
                 max_elements: int | None = None) -> str:
        """A Markdown answer key: the order, the rules and the grads.

        >>> import ag
        >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
        >>> "| 1 | `32` | `8` | `1` |" in ag.backward_trace(z3).markdown()
        True
        """
        from ag import trace_render

        return trace_render.markdown(self, *self._options(digits, max_elements), max_grad_columns)

    def latex(self, digits: int | None = None, max_grad_columns: int = 12,
              max_elements: int | None = None) -> str:
        """A LaTeX answer key (``tabular``, ``\\texttt`` rules, ``bmatrix`` for arrays).

        >>> import ag
        >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
        >>> r"1 & 32 & 8 & 1 \\\\" in ag.backward_trace(z3).latex()
        True
        """
        from ag import trace_render

        return trace_render.latex(self, *self._options(digits, max_elements), max_grad_columns)

    def _options(self, digits: int | None, max_elements: int | None) -> tuple[int, int]:
        return (self.digits if digits is None else digits,
                self.max_elements if max_elements is None else max_elements)

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def _repr_html_(self) -> str:
        from ag import trace_render

        return trace_render.html_table(self)

    def __repr__(self) -> str:
        return f"<BackwardTrace of {self.display_name(self.root)}: {len(self.steps)} iterations>"


class Trace:
    """Records every ``backward()`` call made inside a ``with`` block, by this thread.

    ``runs`` holds one :class:`BackwardTrace` per call; ``last`` is the latest.
    ``digits`` and ``max_elements`` are the defaults of the text forms.

    >>> import ag
    >>> x = ag.Scalar(3.0, label="x")
    >>> with ag.trace() as t:
    ...     (x * x).backward()
    >>> len(t.runs), t.last.final_grads()["x"]
    (1, 6.0)
    """

    def __init__(self, *, digits: int = DIGITS, max_elements: int = MAX_ELEMENTS,
                 names: str = "exam") -> None:
        if names not in NAMES:
            raise ValueError(f"ag.trace: names must be one of {NAMES}, got {names!r}")
        if max_elements < 0:
            raise ValueError(f"ag.trace: max_elements must be >= 0, got {max_elements}")
        if digits < 1:
            raise ValueError(f"ag.trace: digits must be >= 1, got {digits}")
        self.runs: list[BackwardTrace] = []
        #: inner passes run during those calls (a checkpoint's recompute), in order
        self.recomputes: list[BackwardTrace] = []
        self.nested = False
        self.digits = digits
        self.max_elements = max_elements
        self._open: list[BackwardTrace] = []  # the passes running now, innermost last
        self._stack: ExitStack | None = None
        self.names = names
        from ag.source_names import SourceNames

        self._found = SourceNames()  # variables of the forward code (names, clash notes)

    def __enter__(self) -> Trace:
        self.nested = bool(_active.traces)
        self._stack = ExitStack()
        self._stack.enter_context(observe_backward(self))
        if self.names == "source":  # catch the variables of functions as they return
            self._found.install()
            self._stack.callback(self._found.uninstall)
        _active.traces.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _active.traces.remove(self)
        assert self._stack is not None
        self._stack.close()

    def stop_source_names(self) -> None:
        """Stop watching functions return (``ag trace`` does once it records no more calls)."""
        self._found.uninstall()

    # observer protocol
    def begin(self, root: Any, order: list) -> None:
        found = self._found
        found.record_stack(sys._getframe(1))  # the student's frames still running
        bindings = found.names_for(order)
        if len(found) > 10_000:  # a long loop under names="source": forget older graphs' names
            found.forget()
        run = BackwardTrace(root, order, digits=self.digits, max_elements=self.max_elements,
                            names=self.names, bindings=bindings)
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

    def text(self, digits: int | None = None, max_elements: int | None = None) -> str:
        """Every recorded call's text table, one after another.

        >>> import ag
        >>> x = ag.Scalar(3.0, label="x")
        >>> with ag.trace() as t:
        ...     (x * x).backward()
        >>> "=> x.grad = 0 + 3 * 1 + 3 * 1 = 6" in t.text()
        True
        """
        return "\n\n".join(r.text(digits, max_elements=max_elements) for r in self.runs)

    def markdown(self, digits: int | None = None, max_elements: int | None = None) -> str:
        """Every recorded call's Markdown answer key.

        >>> import ag
        >>> x = ag.Scalar(3.0, label="x")
        >>> with ag.trace() as t:
        ...     (x * x).backward()
        >>> "`x.grad = 0 + 3 * 1 + 3 * 1 = 6`" in t.markdown()
        True
        """
        return "\n\n".join(r.markdown(digits, max_elements=max_elements) for r in self.runs)

    def latex(self, digits: int | None = None, max_elements: int | None = None) -> str:
        """Every recorded call's LaTeX answer key.

        >>> import ag
        >>> x = ag.Scalar(3.0, label="x")
        >>> with ag.trace() as t:
        ...     (x * x).backward()
        >>> "x.grad = 0 + 3 * 1 + 3 * 1 = 6}" in t.latex()
        True
        """
        return "\n\n".join(r.latex(digits, max_elements=max_elements) for r in self.runs)

    def _repr_markdown_(self) -> str:
        return self.markdown() if self.runs else "*(no backward() call recorded)*"

    def _repr_html_(self) -> str:
        from ag import trace_render

        if not self.runs:
            return "<p><em>(no backward() call recorded)</em></p>"
        return "\n".join(trace_render.html_table(r) for r in self.runs)

    def __repr__(self) -> str:
        return f"<Trace: {len(self.runs)} backward call(s)>"


def trace(*, digits: int = DIGITS, max_elements: int = MAX_ELEMENTS, names: str = "exam") -> Trace:
    """Open a trace: ``with ag.trace() as t: y.backward()`` records each iteration.

    ``max_elements``: arrays with at most this many elements are written in full as
    matrices (default 36); ``digits``: significant digits (default 6). ``names="source"``
    names unlabelled nodes after the forward code's variables (``KQ:matmul``) instead of
    the exam's ``z4:matmul``; run the forward pass inside the block too, so the
    variables of functions and layers are seen as they return (:mod:`ag.source_names`).

    >>> import ag
    >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
    >>> with ag.trace() as t:
    ...     z3.backward()
    >>> t.last.update_lines(0)
    ['z2.grad = 0 + 4 * 1 + 4 * 1 = 8']
    """
    return Trace(digits=digits, max_elements=max_elements, names=names)


def backward_trace(root: Any, *args: Any, digits: int = DIGITS, max_elements: int = MAX_ELEMENTS,
                   names: str = "exam", **kwargs: Any) -> BackwardTrace:
    """Run ``root.backward(*args, **kwargs)`` inside a trace and return the record of its iterations.

    ``names="source"`` names unlabelled nodes after the variables that hold them in the
    calling code (a notebook's cells, the running functions): ``KQ:matmul``. Variables of
    functions that have already returned are gone by then; build the graph inside
    ``with ag.trace(names="source")`` to catch those too.

    >>> import ag
    >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
    >>> run = ag.backward_trace(z3)
    >>> run.update_lines(1), x.grad
    (['z1.grad = 0 + 2 * 8 + 2 * 8 = 32'], 32.0)
    """
    with Trace(digits=digits, max_elements=max_elements, names=names) as t:
        root.backward(*args, **kwargs)
    if not t.runs:
        raise RuntimeError(f"backward_trace: {type(root).__name__}.backward() ran no backward loop")
    return t.runs[-1]


def is_tracing() -> bool:
    """Whether an ``ag.trace()`` block is open in this thread (``ag trace`` runs files
    inside one).

    >>> is_tracing()
    False
    """
    return bool(_active.traces)
