"""Weight initialisation: Kaiming (He) and Xavier (Glorot), normal and uniform.

Fans follow the kit's shapes: a 2-D weight is ``(fan_in, fan_out)`` because layers
compute ``X @ W`` as the course writes it (PyTorch stores the transpose); a weight
of rank >= 3 is a convolution filter ``(C_out, C_in, K, K)``, so
``fan_in = C_in*K*K`` and ``fan_out = C_out*K*K``; a 1-D weight has
``fan_in = fan_out = its length``.

==================  =======================================================
kaiming_normal      ``N(0, std^2)``, ``std = gain / sqrt(fan)``
kaiming_uniform     ``U(-b, b)``, ``b = gain * sqrt(3 / fan)``
xavier_normal       ``N(0, std^2)``, ``std = gain * sqrt(2 / (fan_in + fan_out))``
xavier_uniform      ``U(-b, b)``, ``b = gain * sqrt(6 / (fan_in + fan_out))``
==================  =======================================================

``fan`` is ``fan_in`` (``mode="fan_in"``: keeps the forward variance),
``fan_out`` (``mode="fan_out"``: keeps the backward variance) or their mean
(``mode="fan_avg"``). ``gain`` comes from the nonlinearity: sqrt(2) for ReLU (the
course's ``N(0, 2/n)``), 1 for linear/sigmoid, 5/3 for tanh.

Each function returns a new NumPy array; the ``_``-suffixed forms fill a Tensor in
place. Randomness comes from one module-level generator (:func:`manual_seed`) unless
an ``rng`` is passed.

>>> import ag
>>> ag.nn.init.manual_seed(0)
>>> w = ag.nn.init.kaiming_normal((256, 128)); round(float(w.std() * 16), 1)   # ~ sqrt(2)
1.4
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "manual_seed",
    "default_rng",
    "calculate_gain",
    "fans",
    "kaiming_normal",
    "kaiming_uniform",
    "xavier_normal",
    "xavier_uniform",
    "kaiming_normal_",
    "kaiming_uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "uniform",
    "normal",
    "zeros_",
]

_rng = np.random.default_rng()


def manual_seed(seed: int | None) -> None:
    """Reseed the generator used by initialisers and Dropout (for reproducible runs)."""
    global _rng
    _rng = np.random.default_rng(seed)


def default_rng() -> np.random.Generator:
    """The shared generator (initialisers and Dropout draw from it)."""
    return _rng


def calculate_gain(nonlinearity: str = "relu", param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table)."""
    if nonlinearity in ("linear", "identity", "sigmoid", "conv2d"):
        return 1.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1.0 + slope**2))
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of this shape (see the module docstring)."""
    shape = tuple(shape)
    if len(shape) == 0:
        raise ValueError("fans: a scalar weight has no fan")
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[2:]))
    return shape[1] * receptive, shape[0] * receptive


def _fan(shape: tuple[int, ...], mode: str) -> float:
    fan_in, fan_out = fans(shape)
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    if mode == "fan_avg":
        return (fan_in + fan_out) / 2.0
    raise ValueError(f"mode must be 'fan_in', 'fan_out' or 'fan_avg', got {mode!r}")


def _gen(rng: np.random.Generator | None) -> np.random.Generator:
    return _rng if rng is None else rng


def normal(
    shape: tuple[int, ...], std: float, rng: np.random.Generator | None = None, dtype: Any = np.float64
):
    return (_gen(rng).standard_normal(shape) * std).astype(dtype)


def uniform(
    shape: tuple[int, ...], bound: float, rng: np.random.Generator | None = None, dtype: Any = np.float64
):
    return _gen(rng).uniform(-bound, bound, size=shape).astype(dtype)


def kaiming_normal(
    shape: tuple[int, ...],
    mode: str = "fan_in",
    nonlinearity: str = "relu",
    rng: np.random.Generator | None = None,
    dtype: Any = np.float64,
) -> np.ndarray:
    """``N(0, gain^2 / fan)``; with ReLU and fan_in this is ``N(0, 2 / n_in)``."""
    return normal(shape, calculate_gain(nonlinearity) / math.sqrt(_fan(shape, mode)), rng, dtype)


def kaiming_uniform(
    shape: tuple[int, ...],
    mode: str = "fan_in",
    nonlinearity: str = "relu",
    rng: np.random.Generator | None = None,
    dtype: Any = np.float64,
) -> np.ndarray:
    """``U(-b, b)`` with ``b = gain * sqrt(3 / fan)`` (the same variance as kaiming_normal)."""
    return uniform(shape, calculate_gain(nonlinearity) * math.sqrt(3.0 / _fan(shape, mode)), rng, dtype)


def xavier_normal(
    shape: tuple[int, ...], gain: float = 1.0, rng: np.random.Generator | None = None, dtype: Any = np.float64
) -> np.ndarray:
    """``N(0, gain^2 * 2 / (fan_in + fan_out))``."""
    fan_in, fan_out = fans(shape)
    return normal(shape, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng, dtype)


def xavier_uniform(
    shape: tuple[int, ...], gain: float = 1.0, rng: np.random.Generator | None = None, dtype: Any = np.float64
) -> np.ndarray:
    """``U(-b, b)`` with ``b = gain * sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = fans(shape)
    return uniform(shape, gain * math.sqrt(6.0 / (fan_in + fan_out)), rng, dtype)


def _fill(tensor: Any, make: Any, **kwargs: Any) -> Any:
    tensor.value = make(tuple(tensor.shape), dtype=tensor.value.dtype, **kwargs)
    return tensor


def kaiming_normal_(tensor: Any, mode: str = "fan_in", nonlinearity: str = "relu", rng=None) -> Any:
    """Fill ``tensor`` from :func:`kaiming_normal`; returns it."""
    return _fill(tensor, kaiming_normal, mode=mode, nonlinearity=nonlinearity, rng=rng)


def kaiming_uniform_(tensor: Any, mode: str = "fan_in", nonlinearity: str = "relu", rng=None) -> Any:
    """Fill ``tensor`` from :func:`kaiming_uniform`; returns it."""
    return _fill(tensor, kaiming_uniform, mode=mode, nonlinearity=nonlinearity, rng=rng)


def xavier_normal_(tensor: Any, gain: float = 1.0, rng=None) -> Any:
    """Fill ``tensor`` from :func:`xavier_normal`; returns it."""
    return _fill(tensor, xavier_normal, gain=gain, rng=rng)


def xavier_uniform_(tensor: Any, gain: float = 1.0, rng=None) -> Any:
    """Fill ``tensor`` from :func:`xavier_uniform`; returns it."""
    return _fill(tensor, xavier_uniform, gain=gain, rng=rng)


def zeros_(tensor: Any) -> Any:
    """Set ``tensor`` to zeros in place; returns it."""
    tensor.value = tensor.value * 0
    return tensor
