"""What a recompute must replay or protect: random draws and module buffers.

A checkpointed ``fn`` is run twice (forward, then in backward); to give the same
result it must draw the same random numbers (Dropout) and must not update module
buffers (BatchNorm running statistics) twice. :func:`find_context` finds the
Modules and Generators ``fn`` can reach, :class:`RandomState` replays the draws,
:func:`buffers_kept` puts the buffers back.

>>> import numpy as np
>>> state = RandomState([])
>>> first = np.random.rand()
>>> with state.replayed():
...     again = np.random.rand()
>>> first == again
True
"""

from __future__ import annotations

import functools
import sys
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from ag.ops.api import Tensor


def _module_class() -> type | None:
    # ag.nn is optional here: a Module can only be in play if ag.nn was imported.
    module = sys.modules.get("ag.nn.module")
    return getattr(module, "Module", None)


def find_context(objects: Iterable[Any], limit: int = 2000) -> tuple[list, list]:
    """Modules and NumPy Generators reachable from ``objects`` (fn, its args, layers).

    Looks through Modules (all sub-modules), bound methods, ``functools.partial``,
    closure cells and defaults, lists, tuples and dicts. It finds the generators a
    Dropout draws from and the modules whose buffers a recompute must not update twice.
    """
    module_cls = _module_class()
    modules: list = []
    generators: list = []
    seen: set[int] = set()
    stack = list(objects)
    while stack and len(seen) < limit:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (Tensor, np.ndarray, str, bytes, int, float)):
            continue
        seen.add(id(obj))
        if isinstance(obj, np.random.Generator):
            generators.append(obj)
        elif module_cls is not None and isinstance(obj, module_cls):
            for m in obj.modules():
                if id(m) not in seen or m is obj:
                    seen.add(id(m))
                    modules.append(m)
                    stack.extend(v for v in vars(m).values() if not isinstance(v, module_cls))
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, types.MethodType):
            stack.extend((obj.__self__, obj.__func__))
        elif isinstance(obj, functools.partial):
            stack.extend((obj.func, obj.args, obj.keywords))
        elif isinstance(obj, types.FunctionType):
            stack.extend(cell.cell_contents for cell in (obj.__closure__ or ()) if _has_contents(cell))
            stack.extend(obj.__defaults__ or ())
        elif isinstance(getattr(obj, "layers", None), list) and not isinstance(obj, type):
            stack.extend(obj.layers)  # a segment of a chain (checkpoint_sequential)
        elif callable(obj) and hasattr(obj, "__dict__") and not isinstance(obj, (type, types.ModuleType)):
            stack.extend(vars(obj).values())  # a callable object holding layers
    return modules, generators


def _has_contents(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


class RandomState:
    """The state of every generator ``fn`` may draw from, taken before the forward."""

    __slots__ = ("legacy", "sources")

    def __init__(self, generators: Sequence[np.random.Generator]) -> None:
        self.legacy = np.random.get_state()
        # A source is a getter, not a Generator: ag.nn.init.manual_seed() swaps the
        # shared generator, and the recompute must seed whichever one fn will use.
        getters: list[Callable[[], np.random.Generator]] = []
        init = sys.modules.get("ag.nn.init")
        if init is not None and hasattr(init, "default_rng"):
            getters.append(init.default_rng)
        shared = getters[0]() if getters else None
        seen = {id(shared)}
        for gen in generators:
            if id(gen) not in seen:
                seen.add(id(gen))
                getters.append(lambda gen=gen: gen)
        self.sources = [(get, get().bit_generator.state) for get in getters]

    @contextmanager
    def replayed(self) -> Iterator[None]:
        """Draws inside the block repeat the forward's; afterwards the streams go on as before."""
        current_legacy = np.random.get_state()
        current = [(get(), get().bit_generator.state) for get, _ in self.sources]
        np.random.set_state(self.legacy)
        for get, state in self.sources:
            get().bit_generator.state = state
        try:
            yield
        finally:
            np.random.set_state(current_legacy)
            for gen, state in current:
                gen.bit_generator.state = state


@contextmanager
def buffers_kept(modules: Sequence[Any]) -> Iterator[None]:
    """Put module buffers (running statistics) back after the block: one update per step."""
    saved = []
    for m in modules:
        for name in m.__dict__.get("_buffers", ()):
            value = getattr(m, name)
            saved.append((m, name, value, value.copy() if hasattr(value, "copy") else value))
    try:
        yield
    finally:
        for m, name, original, snapshot in saved:
            current = getattr(m, name)
            if current is original and hasattr(original, "copy"):
                original[...] = snapshot  # updated in place
            else:
                setattr(m, name, original)
