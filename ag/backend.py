"""The array backend: which array module owns an array, and the default device.

This is the one place that holds the array-module/device state: the device new
tensors go to (``ag.set_default_device``) and its array module. ``ag.gpu.device``
changes it, the Tensor constructor and the factories read it.

>>> import numpy as np
>>> from ag import backend
>>> backend.array_module_of(np.zeros(2)) is np
True
>>> backend.default.device, backend.default.xp is np
('cpu', True)
"""

from __future__ import annotations

from typing import Any

import numpy as np


def array_module_of(array: Any) -> Any:
    """NumPy, or CuPy for a CuPy array (the module that owns ``array``).

    >>> array_module_of(1.0) is np
    True
    """
    if type(array) is np.ndarray:  # the hot path: checked first, by identity
        return np
    if type(array).__module__.split(".")[0] == "cupy":
        import cupy

        return cupy
    xp_getter = getattr(type(array), "__ag_array_module__", None)
    if xp_getter is not None:  # a test backend that stands in for a device
        return xp_getter(array)
    return np


class DefaultDevice:
    """Where new tensors go: the device's name and its array module, changed together."""

    __slots__ = ("device", "xp")

    def __init__(self) -> None:
        self.device = "cpu"
        self.xp: Any = np

    def set(self, device: str, xp: Any) -> None:
        """Make ``device`` (a normalized name) with array module ``xp`` the default."""
        self.device, self.xp = device, xp

    def __repr__(self) -> str:
        return f"DefaultDevice(device={self.device!r}, xp={self.xp.__name__})"


default = DefaultDevice()


def to_host(array: Any, dtype: Any = None, copy: bool = False) -> np.ndarray:
    """``array`` as a NumPy array: a device array (CuPy, the fake device) is copied to
    the host with its explicit ``.get()``; ``copy=True`` always gives a fresh array.

    >>> a = np.ones(2); to_host(a) is a, to_host(a, copy=True) is a
    (True, False)
    """
    if type(array) is not np.ndarray:
        get = getattr(array, "get", None)
        if callable(get):
            array = get()
    return np.array(array, dtype=dtype, copy=True) if copy else np.asarray(array, dtype=dtype)


def to_default_device(array: np.ndarray) -> Any:
    """A host array on the default device (itself when that is the CPU)."""
    xp = default.xp
    return array if xp is np else xp.asarray(array)
