"""Backward traces: ``ag.trace()`` records, ``ag.trace_render`` writes, ``ag.number_format`` formats.

This module keeps the public names in one place; the work is split in three modules:

* :mod:`ag.trace_record`: the records (:class:`BackwardTrace`, :class:`Trace`,
  :func:`trace`, :func:`backward_trace`, exam names), made through the backward loop's
  observer hook;
* :mod:`ag.trace_render`: rule text with numbers, and the text, Markdown, LaTeX forms;
* :mod:`ag.number_format`: numbers and matrices (full when small, a summary when large).

>>> import ag
>>> x = ag.Scalar(2.0, label="z1:leaf(x)")
>>> z2 = x * x
>>> z3 = z2 * z2
>>> with ag.trace() as t:
...     z3.backward()
>>> t.last.update_lines(1)
['z1.grad = 0 + 2 * 8 + 2 * 8 = 32']

Note: ``ag.trace`` is the function that opens a trace (``with ag.trace() as t``);
import the classes of this module with ``from ag.trace import BackwardTrace``.
"""

from __future__ import annotations

from ag.number_format import MAX_ELEMENTS, NOT_REACHED, format_number, matrix_text, preview
from ag.trace_record import (
    BackwardTrace,
    Step,
    Trace,
    backward_trace,
    exam_names,
    is_tracing,
    needs_grad,
    trace,
)
from ag.trace_render import RuleText, latex_escape, markdown_code

__all__ = [
    "trace",
    "backward_trace",
    "Trace",
    "BackwardTrace",
    "Step",
    "RuleText",
    "exam_names",
    "format_number",
    "matrix_text",
    "preview",
    "is_tracing",
    "needs_grad",
    "markdown_code",
    "latex_escape",
    "MAX_ELEMENTS",
    "NOT_REACHED",
]
