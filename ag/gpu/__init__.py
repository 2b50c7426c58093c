"""``ag.gpu``: the CuPy backend and device handling.

>>> import ag
>>> ag.gpu.is_available() or ag.gpu.why_unavailable().startswith("no ")
True
>>> x = ag.tensor([1.0, 2.0]).to("fake")      # the strict test device, no GPU needed
>>> x.device
'fake'
>>> with ag.gpu.default("fake"):              # unchanged model code on that device
...     ag.randn(2, 2).device
'fake'

On a machine with a GPU, ``"cuda"`` in place of ``"fake"`` puts the arrays on it
with CuPy; without one, asking for ``"cuda"`` raises :class:`DeviceError` with the
reason (:func:`why_unavailable`).
"""

from ag.gpu.availability import is_available, why_unavailable
from ag.gpu.device import (
    DeviceError,
    DeviceMismatchError,
    array_module,
    default,
    device_of,
    get_default_device,
    move_array,
    normalize,
    set_default_device,
    tensor_to,
)
from ag.gpu.modules import move_module, move_optimizer_state
from ag.gpu.sparse import to_device_sparse

__all__ = [
    "DeviceError", "DeviceMismatchError", "array_module", "default", "device_of",
    "get_default_device", "is_available", "move_array", "move_module", "move_optimizer_state",
    "normalize", "set_default_device",
    "tensor_to", "to_device_sparse", "why_unavailable",
]
