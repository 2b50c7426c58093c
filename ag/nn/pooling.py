"""``MaxPool2d`` and ``AvgPool2d``: pooling windows cut by the same im2col matrices.

Each channel is pooled on its own, so the channels fold into the batch and the
one-channel matrix ``im2col_matrix(1, H, W, K, stride, padding)`` cuts the windows:
``(N*C, H*W) @ M -> (N*C, P, K*K)``, then a max or a mean over the last axis.

>>> import ag, numpy as np
>>> x = np.arange(16.0).reshape(1, 1, 4, 4)
>>> MaxPool2d(2)(x).value[0, 0]
array([[ 5.,  7.],
       [13., 15.]])
>>> AvgPool2d(2)(x).shape
(1, 1, 2, 2)
"""

from __future__ import annotations

from typing import Any

from ag.nn.conv_functional import METHODS, avg_pool2d, max_pool2d
from ag.nn.im2col import check_geometry
from ag.nn.module import Module, as_tensor

__all__ = ["MaxPool2d", "AvgPool2d"]


class _Pool2d(Module):
    _function: Any = None

    def __init__(self, kernel_size: int, stride: int | None = None, padding: int = 0,
                 method: str = "sparse") -> None:
        super().__init__()
        self.kernel_size, self.padding, self.method = kernel_size, padding, method
        self.stride = kernel_size if stride is None else stride
        where = f"{type(self).__name__}({self.extra_repr()})"
        check_geometry(kernel_size, kernel_size, kernel_size, self.stride, padding, where=where)
        if method not in METHODS:
            raise ValueError(f"{where}: method must be one of {METHODS}, got {method!r}")

    def extra_repr(self) -> str:
        text = f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
        return text if self.method == "sparse" else text + f", method={self.method!r}"

    def forward(self, x: Any) -> Any:
        x = as_tensor(x)
        where = f"{type(self).__name__}({self.extra_repr()})"
        if x.ndim != 4:
            raise ValueError(f"{where} expects a 4-D input (N, C, H, W), got shape {tuple(x.shape)}")
        check_geometry(x.shape[2], x.shape[3], self.kernel_size, self.stride, self.padding,
                       where=f"{where} on input of shape {tuple(x.shape)}")
        return type(self)._function(x, self.kernel_size, self.stride, self.padding, self.method)


class MaxPool2d(_Pool2d):
    """Max over ``K x K`` windows (``stride`` defaults to ``K``); padding never wins.

    ``padding`` may be at most ``K // 2``. Tied maxima share the gradient equally.
    """

    _function = staticmethod(max_pool2d)


class AvgPool2d(_Pool2d):
    """Mean over ``K x K`` windows (``stride`` defaults to ``K``); padded zeros count."""

    _function = staticmethod(avg_pool2d)
