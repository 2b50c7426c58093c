"""Node names from the forward code: the variable each node was assigned to (``KQ:matmul``).

A student's code names its nodes: ``KQ = Keys @ ag.moveaxis(Queries, 1, 2)``. A trace
asked for ``names="source"`` shows that node as ``KQ:matmul`` (rules write ``KQ.grad``)
instead of the exam's ``z4:matmul``. The names are read from the variables of the
student's own frames (not ``ag``'s, not the standard library's or installed packages'):

* when the backward pass begins, from every such frame still running (the module or
  notebook cell, the training loop's function);
* while a trace with ``names="source"`` is open (``ag trace FILE --names source`` opens
  one around the whole file), from each such frame as it returns, so the names inside a
  layer's ``__call__`` (``Queries``, ``Keys``, ``KQ``) are caught before they are gone.

A node keeps the first name it is found under (the innermost frame: the one that built
it); function parameters are skipped (they name a node built elsewhere), and so are
names that start with ``_`` (a notebook's output history). A node bound to no variable
(``ag.moveaxis(Queries, 1, 2)`` inside an expression) keeps its exam name. Nothing here
runs unless a trace is open: building a graph costs the same as without it.

>>> import ag
>>> x = ag.Scalar(2.0, label="x")
>>> square = x * x
>>> run = ag.backward_trace(square * 3.0, names="source")
>>> run.order_text()
'[x, square:mul, z2:leaf, z3:mul]'
"""

from __future__ import annotations

import os
import sys
import sysconfig
from types import CodeType, FrameType
from typing import Any

__all__ = ["SourceNames", "is_user_code"]

_AG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_LIBRARY_DIRS = tuple(sorted({
    os.path.abspath(p) + os.sep
    for key in ("stdlib", "platstdlib", "purelib", "platlib")
    if (p := sysconfig.get_paths().get(key))
} | {os.path.abspath(p) + os.sep for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}))
_VARARGS = 0x04
_VARKEYWORDS = 0x08


def is_user_code(code: CodeType) -> bool:
    """Whether ``code`` is the student's: not ``ag``'s, not Python's or an installed package's.

    >>> import ag.source_names as s
    >>> s.is_user_code(s.is_user_code.__code__)
    False
    """
    filename = code.co_filename
    if filename.startswith("<"):  # a notebook cell, the REPL, exec'd or doctest code
        return not filename.startswith("<frozen")
    path = os.path.abspath(filename)
    return not path.startswith(_AG_DIR) and not path.startswith(_LIBRARY_DIRS)


def _parameters(code: CodeType) -> tuple[str, ...]:
    n = code.co_argcount + code.co_kwonlyargcount
    n += bool(code.co_flags & _VARARGS) + bool(code.co_flags & _VARKEYWORDS)
    return code.co_varnames[:n]


def _is_node(value: Any) -> bool:
    kind = type(value)
    return hasattr(kind, "_backward") and hasattr(kind, "topological_sort")


class SourceNames:
    """Variable names of nodes, found in the student's frames.

    Nodes are keyed by ``id`` and creation number together, so no node is kept alive
    and a freed node's ``id`` reused by a new node is not mistaken for it.

    >>> import sys, ag
    >>> W = ag.Scalar(1.0); loss = W * W
    >>> found = SourceNames(); found.record_stack(sys._getframe())
    >>> found.name_of(loss), found.name_of(W)
    ('loss', 'W')
    """

    def __init__(self) -> None:
        self._names: dict[tuple[int, int], str] = {}
        self._user: dict[CodeType, bool] = {}
        self._previous: Any = None
        self._installed = False

    def __len__(self) -> int:
        return len(self._names)

    def name_of(self, node: Any) -> str | None:
        """The variable name ``node`` was found under, or None."""
        return self._names.get((id(node), getattr(node, "_id", 0)))

    def names_for(self, nodes: list) -> dict[int, str]:
        """``{id(node): name}`` for those of ``nodes`` that have a name."""
        out = {}
        for node in nodes:
            name = self._names.get((id(node), getattr(node, "_id", 0)))
            if name is not None:
                out[id(node)] = name
        return out

    def forget(self) -> None:
        """Drop the names found so far (a long training loop's older graphs)."""
        self._names.clear()

    def _is_user(self, code: CodeType) -> bool:
        known = self._user.get(code)
        if known is None:
            known = self._user[code] = is_user_code(code)
        return known

    def record_frame(self, frame: FrameType) -> None:
        """Name the nodes held by ``frame``'s variables (parameters and ``_names`` skipped)."""
        skip = _parameters(frame.f_code)
        names = self._names
        for name, value in list(frame.f_locals.items()):
            if name[:1] == "_" or name in skip or not _is_node(value):
                continue
            names.setdefault((id(value), getattr(value, "_id", 0)), name)

    def record_stack(self, frame: FrameType | None) -> None:
        """Record every student frame from ``frame`` outwards (innermost first)."""
        while frame is not None:
            if self._is_user(frame.f_code):
                self.record_frame(frame)
            frame = frame.f_back

    # -- while a trace is open: each student frame's variables as it returns ------------
    def _profile(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "return" and self._is_user(frame.f_code):
            self.record_frame(frame)
        if self._previous is not None:
            self._previous(frame, event, arg)

    def install(self) -> None:
        """Record each student frame as it returns (``sys.setprofile``; an existing
        profiler is still called)."""
        if not self._installed:
            self._previous = sys.getprofile()
            sys.setprofile(self._profile)
            self._installed = True

    def uninstall(self) -> None:
        """Stop recording returns; the names found so far are kept."""
        if self._installed:
            sys.setprofile(self._previous)
            self._previous = None
            self._installed = False
