"""New leaf tensors: zeros, ones, random samples, ranges, and their ``*_like`` forms.

They go to the default device (``ag.set_default_device``).

>>> import ag
>>> ag.zeros(2, 3).shape, ag.ones((2,)).value
((2, 3), array([1., 1.]))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ag import backend
from ag.backend import array_module_of
from ag.ops.core import Tensor, value_of, wrap


def _shape_arg(shape: tuple) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = True, label: str = "") -> Tensor:
    """A tensor of zeros: ``ag.zeros(2, 3)`` or ``ag.zeros((2, 3))``."""
    return wrap(backend.default.xp.zeros(_shape_arg(shape), dtype=dtype or np.float64),
                label, requires_grad)


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = True, label: str = "") -> Tensor:
    """A tensor of ones."""
    return wrap(backend.default.xp.ones(_shape_arg(shape), dtype=dtype or np.float64),
                label, requires_grad)


def randn(*shape: Any, rng: Any = None, dtype: Any = None, requires_grad: bool = True,
          label: str = "") -> Tensor:
    """Standard normal samples; pass ``rng=np.random.default_rng(seed)`` to repeat them."""
    rng = rng if rng is not None else np.random.default_rng()
    value = rng.standard_normal(_shape_arg(shape)).astype(dtype or np.float64)
    return wrap(backend.to_default_device(value), label, requires_grad)


def rand(*shape: Any, rng: Any = None, dtype: Any = None, requires_grad: bool = True,
         label: str = "") -> Tensor:
    """Uniform samples in [0, 1)."""
    rng = rng if rng is not None else np.random.default_rng()
    value = rng.random(_shape_arg(shape)).astype(dtype or np.float64)
    return wrap(backend.to_default_device(value), label, requires_grad)


def arange(*args: Any, dtype: Any = None, requires_grad: bool = True, label: str = "") -> Tensor:
    """Evenly spaced values, as ``np.arange`` (float64 unless ``dtype`` says otherwise)."""
    return wrap(backend.default.xp.arange(*args, dtype=dtype or np.float64), label, requires_grad)


def zeros_like(x: Any, requires_grad: bool = True, label: str = "") -> Tensor:
    """Zeros with the shape, dtype and device of ``x``."""
    v = value_of(x)
    return wrap(array_module_of(v).zeros_like(v), label, requires_grad)


def ones_like(x: Any, requires_grad: bool = True, label: str = "") -> Tensor:
    """Ones with the shape, dtype and device of ``x``."""
    v = value_of(x)
    return wrap(array_module_of(v).ones_like(v), label, requires_grad)


def randn_like(x: Any, rng: Any = None, requires_grad: bool = True, label: str = "") -> Tensor:
    """Standard normal samples with the shape and dtype of ``x``."""
    v = value_of(x)
    rng = rng if rng is not None else np.random.default_rng()
    sample = rng.standard_normal(v.shape).astype(v.dtype)
    return wrap(array_module_of(v).asarray(sample), label, requires_grad)

