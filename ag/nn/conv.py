"""``Conv2d``: the course's convolution layer, im2col as a sparse matrix product.

>>> import ag, numpy as np
>>> conv = Conv2d(3, 16, kernel_size=3, padding=1)
>>> conv.weight.shape, conv.bias.shape        # weight stored as (Cin*K*K, Cout)
((27, 16), (16,))
>>> conv(np.zeros((8, 3, 32, 32))).shape
(8, 16, 32, 32)
>>> conv.im2col_mat.shape                     # the matrix the last call used
(3072, 27648)

To compare with PyTorch, ``weight.value.T.reshape(Cout, Cin, K, K)`` is the
``torch.nn.Conv2d`` weight.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import ag
from ag.nn import init as _init
from ag.nn.conv_functional import METHODS, conv2d, on_device_of
from ag.nn.im2col import check_geometry, im2col_matrix, output_size
from ag.nn.module import Module, as_tensor

__all__ = ["Conv2d"]


class Conv2d(Module):
    """2-D convolution of NCHW images: ``(N, Cin, H, W) -> (N, Cout, Hout, Wout)``.

    ``Hout = (H + 2*padding - K) // stride + 1`` (likewise ``Wout``). The weight is
    ``(Cin*K*K, Cout)``, Kaiming-normal (fan_in ``Cin*K*K``, ReLU gain); the bias
    ``(Cout,)`` starts at zero. ``method`` picks how patches are cut:
    ``"sparse"`` (the course's path, below), ``"strided"`` or ``"naive"``
    (see :mod:`ag.nn.conv_functional`); all give the same values and gradients.

    The im2col matrix depends only on the input's geometry ``(Cin, H, W)`` and the
    layer's ``K, stride, padding``; it is built on first use and cached, so calling
    the layer on images of another size just builds (or finds) another matrix.
    ``im2col_mat`` is the one the last call used.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        method: str = "sparse",
        *,
        dtype: Any = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding, self.method = kernel_size, stride, padding, method
        where = f"Conv2d({self.extra_repr()})"
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{where}: {name} must be an integer >= 1, got {v!r}")
        # Geometry checks that need no image: a 1-pixel-too-small image would fail
        # later anyway, so test against the smallest image the kernel fits.
        check_geometry(kernel_size, kernel_size, kernel_size, stride, padding, where=where)
        if method not in METHODS:
            raise ValueError(f"{where}: method must be one of {METHODS}, got {method!r}")
        dtype = np.dtype(dtype or np.float64)
        K = kernel_size
        self.weight = ag.Tensor(
            _init.kaiming_normal((in_channels * K * K, out_channels), rng=rng, dtype=dtype),
            label="weight",
        )
        self.bias = ag.Tensor(np.zeros(out_channels, dtype=dtype), label="bias") if bias else None
        self.im2col_mat = None

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")
        return text if self.method == "sparse" else text + f", method={self.method!r}"

    def _check(self, Xin: Any) -> None:
        shape = tuple(Xin.shape)
        where = f"Conv2d({self.extra_repr()})"
        if len(shape) != 4:
            raise ValueError(f"{where} expects a 4-D input (N, {self.in_channels}, H, W), got shape {shape}")
        if shape[1] != self.in_channels:
            raise ValueError(
                f"{where} expects {self.in_channels} input channels, got {shape[1]} "
                f"(input shape {shape}; NCHW: channels are axis 1)"
            )
        check_geometry(shape[2], shape[3], self.kernel_size, self.stride, self.padding,
                       where=f"{where} on input of shape {shape}")

    def forward(self, Xin: Any) -> Any:
        Xin = as_tensor(Xin)
        self._check(Xin)
        if self.method != "sparse":
            return conv2d(Xin, self.weight, self.bias, self.stride, self.padding, self.method)
        N, Cin, Hin, Win = Xin.shape
        K, Cout = self.kernel_size, self.out_channels
        Hout = output_size(Hin, K, self.stride, self.padding)
        Wout = output_size(Win, K, self.stride, self.padding)
        P = Hout * Wout
        # Built once per input geometry (cached), and copied once per device (ag.gpu).
        self.im2col_mat = on_device_of(
            im2col_matrix(Cin, Hin, Win, K, self.stride, self.padding, dtype=Xin.dtype), Xin.value
        )
        # The course's five lines.
        Xin_flat = Xin.reshape(-1, Cin * Hin * Win)                    # free
        Xin_im2col = ag.spcmatmul(Xin_flat, self.im2col_mat)            # memory expensive
        Xin_patches_flat = Xin_im2col.reshape(N, P, Cin * K * K)        # free
        Xout_flat = Xin_patches_flat @ self.weight                      # compute expensive
        if self.bias is not None:
            Xout_flat = Xout_flat + self.bias
        return ag.moveaxis(Xout_flat, 1, 2).reshape(N, Cout, Hout, Wout)
