"""Output arrays of the big ops, reused from one training step to the next.

A training step makes the same large arrays every time (a conv's patches, the
products of an attention block) and frees them all when its graph goes. With
glibc's default settings freed memory at the top of the heap goes back to the
operating system, and the next step's arrays are page-faulted in afresh: on the
VMs the course runs on that costs more than the arithmetic (about 1.3 ms per
3 MB). So the ops that make large arrays take them from here: an array of the
same shape and dtype that nothing refers to any more (its reference count says
so: a graph value, a grad, a user's variable or any view of it keeps it busy) is
handed out again, and only otherwise is a new one made and kept.

What it buys, measured on the course workloads (``benchmarks/course_workloads.py``,
interleaved, a quiet 2-core machine): without it the attention block goes from 0.63x
to 1.89x the time of hand-written NumPy, page-faulting 5,088 times a step.

Only NumPy arrays of at least ``MIN_BYTES`` are kept, at most ``PER_SHAPE`` per
shape and dtype and ``MAX_BYTES`` in all; :func:`clear` lets them go. Reuse is on
only on CPython before 3.14 (``REUSES``): from 3.14 the interpreter may hold borrowed
references that ``sys.getrefcount`` does not count, and an array in use must never be
handed out again, so there every call makes a new array.

One switch turns it off, for debugging or to measure what it buys: ``AG_BUFFER_REUSE=0``
in the environment, or ``ag.buffers.set_enabled(False)``; then every call is
``np.empty`` and the results are the same, bit for bit (``tests/core/test_speed_switches.py``).

>>> import numpy as np
>>> from ag import buffers
>>> f64 = np.dtype(np.float64)
>>> a = buffers.empty((512, 256), f64)      # 1 MiB: kept
>>> a is buffers.empty((512, 256), f64)     # still in use: a new one
False
>>> address = a.ctypes.data; del a
>>> reused = buffers.empty((512, 256), f64).ctypes.data == address
>>> reused == buffers.REUSES    # reused once free, where reference counts can be trusted
True
>>> buffers.clear()
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

MIN_BYTES = 1 << 18  # smaller arrays stay in malloc's own free lists, which keep them mapped
PER_SHAPE = 8
MAX_BYTES = 1 << 27  # 128 MiB: a student's laptop runs other things too
REUSES = sys.implementation.name == "cpython" and sys.version_info < (3, 14)



def _enabled_by_environment() -> bool:
    configured = os.environ.get("AG_BUFFER_REUSE", "").strip()
    if configured not in ("", "0", "1"):
        raise ValueError(f"AG_BUFFER_REUSE must be 0 (off) or 1 (on), got {configured!r}")
    return configured != "0"


_on = [REUSES and _enabled_by_environment()]  # a list: read on every call, set by set_enabled
_free: dict[tuple, list[np.ndarray]] = {}
_kept_bytes = [0]
_refcount = sys.getrefcount
# an idle array is referenced by its list, the loop variable and getrefcount's argument
_IDLE = 3


def empty(shape: tuple, dtype: Any) -> np.ndarray:
    """An uninitialised C-ordered NumPy array: a kept one that is idle, else a new one.

    ``dtype`` must be a NumPy dtype (``x.dtype``); the caller fills every element.
    """
    size = 1
    for n in shape:
        size *= n
    nbytes = size * dtype.itemsize
    if nbytes < MIN_BYTES or not _on[0]:
        return np.empty(shape, dtype)
    key = (shape, dtype)
    kept = _free.get(key)
    if kept is None:
        kept = _free[key] = []
    for array in kept:
        if _refcount(array) == _IDLE:
            return array
    array = np.empty(shape, dtype)
    if len(kept) < PER_SHAPE and _kept_bytes[0] + nbytes <= MAX_BYTES:
        kept.append(array)
        _kept_bytes[0] += nbytes
    return array


def kept_bytes() -> int:
    """How many bytes the kept arrays hold (idle or in use)."""
    return _kept_bytes[0]


def clear() -> None:
    """Stop keeping every array (those in use live on with their users)."""
    _free.clear()
    _kept_bytes[0] = 0


def set_enabled(enabled: bool) -> None:
    """Turn reuse on or off (off: every :func:`empty` is a new ``np.empty``; the kept
    arrays are let go). On only where reference counts can be trusted (``REUSES``).

    >>> from ag import buffers
    >>> buffers.set_enabled(False); buffers.is_enabled()
    False
    >>> buffers.set_enabled(True); buffers.is_enabled() == buffers.REUSES
    True
    """
    if not isinstance(enabled, bool):
        raise TypeError(f"ag.buffers.set_enabled: enabled must be True or False, got {enabled!r}")
    _on[0] = enabled and REUSES
    if not enabled:
        clear()


def is_enabled() -> bool:
    """Whether :func:`empty` reuses arrays now."""
    return _on[0]
