"""Counting the memory a graph holds: live Tensor bytes and a peak meter.

:func:`live_tensor_bytes` adds up the values of live Tensor nodes (each buffer
once); :class:`MemoryMeter` keeps its peak over a block, sampling at every backward
step (it is a backward-loop observer) and inside each recompute.
"""

from __future__ import annotations

import gc
from typing import Any

from ag.autodiff import observe_backward
from ag.ops.api import Tensor

active_meters: list[MemoryMeter] = []
"""The meters open now; empty in normal runs, so recomputes sample nothing."""


def _root_buffer(array: Any) -> Any:
    while getattr(array, "base", None) is not None and hasattr(array.base, "nbytes"):
        array = array.base
    return array


def live_tensor_bytes(*, leaves: bool = False, grads: bool = False) -> int:
    """Bytes held by the values of live Tensor nodes, each underlying buffer once.

    By default only op outputs (nodes with inputs: the activations a backward pass
    will read); ``leaves=True`` adds leaf Tensors (parameters, data); ``grads=True``
    adds the nodes' ``.grad`` arrays. Buffers owned by a leaf are not counted as
    activations (a reshape of the input is a view, not new memory). It scans
    ``gc.get_objects()``, so it costs a few milliseconds per call and nothing when
    not called.

    >>> import ag, numpy as np
    >>> x = ag.tensor(np.ones(1000))
    >>> before = live_tensor_bytes()
    >>> y = (x * 2.0).exp()
    >>> live_tensor_bytes() - before               # two float64 outputs of 1000 elements
    16000
    """
    nodes, leaf_nodes = [], []
    for obj in gc.get_objects():
        # issubclass on the type: isinstance would read obj.__class__, which lazy
        # proxies (torch's deprecated attributes) answer with a warning
        if issubclass(type(obj), Tensor):
            (nodes if obj.inputs else leaf_nodes).append(obj)
    counted: set[int] = set()
    if not leaves:
        counted.update(id(_root_buffer(t.value)) for t in leaf_nodes)
    total = 0
    for t in nodes + leaf_nodes if leaves else nodes:
        arrays = [t.value]
        if grads and t.grad is not None:
            arrays.append(t.grad.value if isinstance(t.grad, Tensor) else t.grad)
        for a in arrays:
            base = _root_buffer(a)
            if id(base) not in counted and hasattr(base, "nbytes"):
                counted.add(id(base))
                total += int(base.nbytes)
    return total


class MemoryMeter:
    """The peak of :func:`live_tensor_bytes` over a block, sampled where peaks happen.

    Samples on entry, at every step of a backward loop and inside each recompute
    (when the rebuilt segment's values are all alive);
    call :meth:`sample` yourself elsewhere (e.g. right after the forward).

    >>> import ag, numpy as np
    >>> x = ag.tensor(np.ones(1000))
    >>> with MemoryMeter() as meter:
    ...     y = (x * 2.0).sum()
    ...     _ = meter.sample()
    ...     y.backward()
    >>> meter.peak >= 8000
    True
    """

    def __init__(self, *, leaves: bool = False, grads: bool = False) -> None:
        self.leaves, self.grads = leaves, grads
        self.peak = 0
        self.samples = 0
        self._observing: Any = None

    def sample(self) -> int:
        now = live_tensor_bytes(leaves=self.leaves, grads=self.grads)
        self.peak = max(self.peak, now)
        self.samples += 1
        return now

    # the backward-loop observer protocol (ag.autodiff.BackwardObserver)
    def begin(self, root: Any, order: list) -> None:
        self.sample()

    def before(self, step: int, node: Any) -> None:
        pass

    def after(self, step: int, node: Any) -> None:
        self.sample()

    def end(self, root: Any) -> None:
        pass

    def __enter__(self) -> MemoryMeter:
        self._observing = observe_backward(self)
        self._observing.__enter__()
        active_meters.append(self)
        self.sample()
        return self

    def __exit__(self, *exc: Any) -> None:
        active_meters.remove(self)
        self._observing.__exit__(*exc)
        self._observing = None
