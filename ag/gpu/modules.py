"""Moving a whole model: every parameter, gradient and array buffer, in place.

The parameters stay the same ``Tensor`` objects (an optimizer built before the move
keeps working); only their ``value`` (and ``grad``) arrays move. This is what
``Module.to(device)`` does.

>>> import ag
>>> model = ag.nn.Linear(3, 2)
>>> move_module(model, "fake") is model, model.weight.device
(True, 'fake')
"""

from __future__ import annotations

from typing import Any

from ag.gpu.device import device_of, move_array, normalize


def _is_array(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype") and not hasattr(x, "requires_grad")


def move_module(module: Any, device: Any) -> Any:
    """Move ``module``'s parameters (values and grads) and array buffers to ``device``."""
    target = normalize(device)
    for p in module.parameters():
        p.value = move_array(p.value, target)
        if p.grad is not None and not hasattr(p.grad, "requires_grad"):
            p.grad = move_array(p.grad, target)
    for sub in module.modules():
        for name in sub.__dict__.get("_buffers", ()):
            buf = getattr(sub, name, None)
            if _is_array(buf) and device_of(buf) != target:
                setattr(sub, name, move_array(buf, target))
    return module


def move_optimizer_state(optimizer: Any, device: Any) -> Any:
    """Move an optimizer's state arrays (momentum, Adam moments) to ``device``, in place."""
    target = normalize(device)
    state = getattr(optimizer, "state", None)
    if isinstance(state, dict):
        for key, entry in state.items():
            if isinstance(entry, dict):
                for k, v in entry.items():
                    if _is_array(v):
                        entry[k] = move_array(v, target)
            elif _is_array(entry):
                state[key] = move_array(entry, target)
    return optimizer
