"""Answer keys for Tensor homework: each quantity with its course formula and its numbers.

>>> import numpy as np
>>> key = AnswerKey("Demo", "y = sum(w * x)", [
...     Entry("w.grad", "x", np.array([1.0, 2.0]), latex_formula="x"),
... ])
>>> print(key.text())
Demo: answer key
<BLANKLINE>
y = sum(w * x)
<BLANKLINE>
w.grad = x = [1  2]

A key lists, in the order a TA works the problem, each quantity (a forward value,
a gradient) with the formula the course writes for it (``X^T (P - Y) / m``) and its
value, written in full as a matrix when it has at most ``max_elements`` elements.
``text()``, ``markdown()`` and ``latex()`` give the three forms; with a trace, the
backward pass iteration by iteration follows the key. The course's Tensor exercises
(``exercises/softmax_regression.py``, ``one_hidden_layer.py``, ``attention_block.py``)
each build one: ``python exercises/softmax_regression.py --latex`` prints it.
"""

from __future__ import annotations

import sys
from typing import Any, NamedTuple

from ag.number_format import DIGITS, MAX_ELEMENTS, matrix_latex, matrix_markdown, matrix_text
from ag.trace_render import latex_escape, markdown_code

__all__ = ["Entry", "AnswerKey", "print_key"]


class Entry(NamedTuple):
    """One line of a key: ``name = formula = value``; the LaTeX forms are optional."""

    name: str
    formula: str
    value: Any
    latex_name: str = ""
    latex_formula: str = ""


class AnswerKey:
    """A problem's answer key (see the module's docstring); ``run`` is its backward trace."""

    def __init__(self, title: str, problem: str, entries: list[Entry], run: Any = None) -> None:
        self.title = title
        self.problem = problem
        self.entries = list(entries)
        self.run = run

    def __getitem__(self, name: str) -> Any:
        """The value of the entry called ``name``."""
        for e in self.entries:
            if e.name == name:
                return e.value
        raise KeyError(f"answer key {self.title!r} has no entry {name!r}")

    def text(self, digits: int = DIGITS, max_elements: int = MAX_ELEMENTS, trace: bool = False) -> str:
        out = [f"{self.title}: answer key", "", self.problem, ""]
        for e in self.entries:
            body = matrix_text(e.value, digits, max_elements).splitlines()
            head = f"{e.name} = {e.formula} =" if e.formula else f"{e.name} ="
            if len(body) == 1:
                out.append(f"{head} {body[0]}")
            else:
                out += [head] + [f"  {line}" for line in body]
        if trace and self.run is not None:
            out += ["", "The backward pass, iteration by iteration:", "",
                    self.run.text(digits, max_elements=max_elements)]
        return "\n".join(out).rstrip()

    def markdown(self, digits: int = DIGITS, max_elements: int = MAX_ELEMENTS, trace: bool = False) -> str:
        out = [f"## {self.title}: answer key", "", "```", self.problem, "```", ""]
        for e in self.entries:
            shown = matrix_markdown(e.value, digits, max_elements)
            head = f"- **{markdown_code(e.name)}**" + (f" = {markdown_code(e.formula)}" if e.formula else "")
            if "\n" in shown:
                out += [head + " =", "", *("  " + line for line in shown.splitlines()), ""]
            else:
                out.append(f"{head} = {shown}")
        if trace and self.run is not None:
            out += ["", "### The backward pass, iteration by iteration", "",
                    self.run.markdown(digits, max_elements=max_elements)]
        return "\n".join(out).rstrip() + "\n"

    def latex(self, digits: int = DIGITS, max_elements: int = MAX_ELEMENTS, trace: bool = False) -> str:
        out = [f"% {latex_escape(self.title)}: answer key (needs \\usepackage{{amsmath}})",
               f"\\subsection*{{{latex_escape(self.title)}: answer key}}",
               "\\begin{verbatim}", self.problem, "\\end{verbatim}", ""]
        for e in self.entries:
            name = e.latex_name or f"\\texttt{{{latex_escape(e.name)}}}"
            formula = e.latex_formula or (f"\\text{{{latex_escape(e.formula)}}}" if e.formula else "")
            middle = f" = {formula}" if formula else ""
            out.append(f"\\[ {name}{middle} = {matrix_latex(e.value, digits, max_elements)} \\]")
        if trace and self.run is not None:
            out += ["", "\\subsubsection*{The backward pass, iteration by iteration}",
                    self.run.latex(digits, max_elements=max_elements)]
        return "\n".join(out)

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def __repr__(self) -> str:
        return f"<AnswerKey {self.title!r}: {len(self.entries)} entries>"


def print_key(key: AnswerKey, argv: list[str] | None = None) -> None:
    """Print ``key`` as the command line asks: ``--latex``, ``--markdown`` or text (default);
    ``--trace`` adds the backward pass iteration by iteration."""
    argv = sys.argv[1:] if argv is None else argv
    trace = "--trace" in argv
    if "--latex" in argv:
        print(key.latex(trace=trace))
    elif "--markdown" in argv:
        print(key.markdown(trace=trace))
    else:
        print(key.text(trace=trace))
