"""Devices: their names, which one an array lives on, moving arrays, the default device.

A device is named by a string: ``"cpu"`` (NumPy), ``"cuda"`` / ``"cuda:1"`` (CuPy;
``"cuda"`` means the current CUDA device) and ``"fake"`` (the strict test device of
:mod:`ag.testing.fake_device`).

>>> import numpy as np
>>> from ag.gpu.device import device_of, move_array
>>> device_of(np.zeros(2))
'cpu'
>>> device_of(move_array(np.zeros(2), "fake"))
'fake'
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from ag import backend
from ag.gpu import availability


class DeviceError(RuntimeError):
    """The GPU was asked for but is not there, or a device name is not understood."""


class DeviceMismatchError(RuntimeError):
    """One op got operands that live on different devices."""


def cupy_module() -> Any:
    """CuPy, or a DeviceError saying why the GPU is not there."""
    if not availability.is_available():
        raise DeviceError(f"cuda was requested but there is no usable GPU: {availability.why_unavailable()}")
    import cupy

    return cupy


def normalize(device: Any) -> str:
    """The canonical name of ``device``: ``"cpu"``, ``"cuda:N"`` or ``"fake"``.

    >>> normalize("CPU")
    'cpu'
    """
    if hasattr(device, "value") and hasattr(device, "requires_grad"):  # a Tensor: its device
        return device_of(device.value)
    name = str(device).strip().lower()
    if name in ("cpu", "fake"):
        return name
    if name in ("cuda", "gpu"):
        return f"cuda:{cupy_module().cuda.runtime.getDevice()}"
    if name.startswith("cuda:") and name[5:].isdigit():
        cupy_module()
        return name
    raise DeviceError(f"unknown device {device!r}: use 'cpu', 'cuda', 'cuda:N' or 'fake'")


def device_of(array: Any) -> str:
    """The device an array (NumPy, CuPy, fake) or sparse matrix lives on.

    >>> device_of(np.float64(1.0))
    'cpu'
    """
    kind = type(array)
    top = kind.__module__.split(".")[0]
    if top == "cupy":
        return f"cuda:{array.device.id}"
    if top == "cupyx":  # a cupyx.scipy.sparse matrix keeps its values in .data
        return f"cuda:{array.data.device.id}"
    name = getattr(kind, "__ag_device__", None)
    return name if name is not None else "cpu"


def array_module(device: str) -> Any:
    """The array module of a (normalized) device: numpy, cupy or the fake module."""
    if device == "cpu":
        return np
    if device == "fake":
        from ag.testing.fake_device import xp

        return xp
    return cupy_module()


def move_array(array: Any, device: Any) -> Any:
    """``array`` on ``device``: the same object when it is already there, else a copy.

    >>> a = np.ones(2)
    >>> move_array(a, "cpu") is a
    True
    """
    target = normalize(device)
    source = device_of(array)
    if source == target:
        return array
    if source != "cpu":
        array = array.get()  # the explicit device-to-host copy (CuPy and fake alike)
        if target == "cpu":
            return array
    if target == "fake":
        from ag.testing.fake_device import xp

        return xp.asarray(array)
    cupy = cupy_module()
    with cupy.cuda.Device(int(target.split(":")[1])):
        return cupy.asarray(array)


# -- Tensor.to: a differentiable move -------------------------------------------------------


def _to_rule(g: Any, out: Any, source: str, a: Any) -> Any:
    # The gradient goes back to the device the input came from.
    if hasattr(g, "requires_grad"):  # create_graph: a Tensor, moved by a node too
        return tensor_to(g, source)
    return move_array(g, source)


def tensor_to(t: Any, device: Any) -> Any:
    """``t`` on ``device``: ``t`` itself when it is already there, else a node ``to``.

    The move is differentiable (as in PyTorch): the gradient flows back to ``t`` on
    ``t``'s own device. Use ``t.to(d).detach()`` (or ``ag.no_grad()``) for a plain copy.
    """
    from ag.ops.api import make_node

    target = normalize(device)
    source = device_of(t.value)
    if source == target:
        return t
    return make_node(move_array(t.value, target), (t,), "to", (_to_rule,), source)


def _register_to() -> None:
    from ag import registry

    registry.register("tensor", "to", function=tensor_to, rules=(_to_rule,),
                      text=("{a}.grad += {out}.grad moved to {a}'s device",), methods=("to",))


_register_to()


# -- the default device (held in ag.backend, the one place for it) -----------------------------


def get_default_device() -> str:
    """The device where factories and ``ag.Tensor(data)`` put new tensors."""
    return backend.default.device


def set_default_device(device: Any) -> None:
    """Make ``device`` the default for factories (``ag.zeros``, ``ag.randn``, ...) and for
    ``ag.Tensor(data)`` built from host data, so unchanged model code runs there.

    Asking for ``"cuda"`` without a GPU raises :class:`DeviceError` saying why.

    >>> set_default_device("fake"); get_default_device()
    'fake'
    >>> set_default_device("cpu")
    """
    name = normalize(device)
    xp = array_module(name)
    if name.startswith("cuda:"):
        xp.cuda.Device(int(name.split(":")[1])).use()
    backend.default.set(name, xp)


@contextlib.contextmanager
def default(device: Any = "cuda") -> Iterator[str]:
    """Within the block, ``device`` is the default device; the previous one comes back after.

    >>> import ag
    >>> with ag.gpu.default("fake"):
    ...     ag.zeros(2).device
    'fake'
    >>> ag.zeros(2).device
    'cpu'
    """
    previous_name, previous_xp = backend.default.device, backend.default.xp
    set_default_device(device)
    try:
        yield backend.default.device
    finally:
        backend.default.set(previous_name, previous_xp)
