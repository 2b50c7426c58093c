"""Differentiable convolution and pooling, lowered to matrix products by im2col.

>>> import ag, numpy as np
>>> from ag.nn.conv_functional import conv2d, max_pool2d
>>> x = ag.tensor(np.arange(16.0).reshape(1, 1, 4, 4))
>>> w = ag.tensor(np.ones((4, 1)))                  # a 2x2 box filter, (Cin*K*K, Cout)
>>> conv2d(x, w).shape
(1, 1, 3, 3)
>>> max_pool2d(x, 2).value[0, 0]
array([[ 5.,  7.],
       [13., 15.]])

Three ways to cut an image into patches, behind one ``method`` argument:

* ``"sparse"`` (default): the course's path, ``ag.spcmatmul`` with the cached
  matrix from :func:`ag.nn.im2col.im2col_matrix`; its gradient is the product
  with the matrix's transpose;
* ``"strided"``: a NumPy ``as_strided`` view, as a graph op of its own whose
  backward is the matching col2im; the convolution and pooling use the
  column-per-patch layout ``(N, Cin*K*K, P)`` of :func:`ag.nn.im2col.im2col_columns`
  (``weight.T @ columns``), which avoids both of the sparse path's layout copies;
* ``"naive"``: loops. For ``conv2d`` it is the seven nested loops of the
  definition, with loop-written gradients for input, weight and bias (first-order
  only); for pooling, loop-built patches.

All three give the same values and gradients (the tests check it).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

import ag
from ag import registry
from ag.nn.im2col import (
    check_geometry,
    col2im_columns,
    col2im_naive,
    col2im_strided,
    conv2d_naive,
    conv2d_naive_grad,
    im2col_columns,
    im2col_matrix,
    im2col_naive,
    im2col_strided,
    output_size,
)
from ag.nn.module import as_tensor
from ag.ops.api import Tensor, array_module_of, custom_op

__all__ = ["im2col", "im2col_matrix", "conv2d", "max_pool2d", "avg_pool2d", "METHODS"]

METHODS = ("sparse", "strided", "naive")


def _check_method(method: str, where: str, x: Tensor | None = None) -> None:
    if method not in METHODS:
        raise ValueError(f"{where}: method must be one of {METHODS}, got {method!r}")
    if x is not None and method != "sparse" and not isinstance(x.value, np.ndarray):
        raise ValueError(
            f"{where}: method={method!r} runs on NumPy (CPU) arrays only; the input is on "
            f"{_device_name(x.value)}: use method='sparse' there"
        )


def _device_name(value: Any) -> str:
    from ag.gpu.device import device_of  # imported late: CPU work needs no ag.gpu

    return device_of(value)


def on_device_of(matrix: Any, value: Any) -> Any:
    """``matrix`` (host scipy.sparse) on the device of the array ``value``; itself on the CPU.

    ``ag.spcmatmul`` never moves a matrix silently; ``ag.gpu.to_device_sparse`` caches
    the device copy per host matrix, so the geometry cache covers every device.
    """
    if isinstance(value, np.ndarray):
        return matrix
    from ag.gpu import to_device_sparse

    return to_device_sparse(matrix, _device_name(value))


def _check_4d(x: Tensor, where: str, expected: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"{where} expects a 4-D input {expected}, got shape {tuple(x.shape)}")


# --- the strided im2col and its adjoint as graph ops -------------------------------
# Each one's backward is the other, so create_graph (higher-order) gradients work.
# ctx = (x_shape, K, stride, padding, columns): ``columns`` picks the (N, Cin*K*K, P)
# layout of im2col_columns over the (N, P, Cin*K*K) one of im2col_strided.


def _im2col_strided_rule(g, out, ctx, x):
    if isinstance(g, Tensor):
        return _col2im_op(g, ctx)
    x_shape, K, stride, padding, columns = ctx
    return (col2im_columns if columns else col2im_strided)(g, x_shape, K, stride, padding)


def _col2im_rule(g, out, ctx, patches):
    if isinstance(g, Tensor):
        return _im2col_op(g, ctx)
    _, K, stride, padding, columns = ctx
    return (im2col_columns if columns else im2col_strided)(g, K, stride, padding)


def _im2col_op(x: Tensor, ctx: tuple) -> Tensor:
    _, K, stride, padding, columns = ctx
    value = (im2col_columns if columns else im2col_strided)(x.value, K, stride, padding)
    name = "im2col_columns" if columns else "im2col_strided"
    return custom_op(value, (x,), name, (_im2col_strided_rule,), ctx)


def _col2im_op(patches: Tensor, ctx: tuple) -> Tensor:
    x_shape, K, stride, padding, columns = ctx
    value = (col2im_columns if columns else col2im_strided)(patches.value, x_shape, K, stride, padding)
    return custom_op(value, (patches,), "col2im", (_col2im_rule,), ctx)


# --- naive ops: loops forward and backward -------------------------------------------


def _first_order_only(g: Any, op: str) -> None:
    if isinstance(g, Tensor):
        raise NotImplementedError(
            f"{op}: the loop version has first-order gradients only; use method='sparse' or "
            "'strided' with create_graph=True"
        )


def _naive_patches_rule(g, out, ctx, x):
    _first_order_only(g, "im2col(method='naive')")
    K, stride, padding = ctx
    return col2im_naive(g, x.shape, K, stride, padding)


def _naive_conv_x(g, out, ctx, x, weight, *bias):
    _first_order_only(g, "conv2d(method='naive')")
    return conv2d_naive_grad(g, x, weight, *ctx, want="x")


def _naive_conv_w(g, out, ctx, x, weight, *bias):
    _first_order_only(g, "conv2d(method='naive')")
    return conv2d_naive_grad(g, x, weight, *ctx, want="w")


def _naive_conv_b(g, out, ctx, x, weight, bias):
    _first_order_only(g, "conv2d(method='naive')")
    return g.sum(axis=(0, 2, 3))


# --- public functions ------------------------------------------------------------------


def im2col(
    x: Any, kernel_size: int, stride: int = 1, padding: int = 0, method: str = "sparse"
) -> Tensor:
    """Patches of NCHW images as a differentiable Tensor ``(N, P, Cin*K*K)``.

    ``P = Hout*Wout``; each patch is flattened channel-major ``(Cin, K, K)``.

    >>> import ag, numpy as np
    >>> im2col(np.arange(9.0).reshape(1, 1, 3, 3), 2).value[0]
    array([[0., 1., 3., 4.],
           [1., 2., 4., 5.],
           [3., 4., 6., 7.],
           [4., 5., 7., 8.]])
    """
    x = as_tensor(x)
    _check_method(method, "im2col", x)
    _check_4d(x, "im2col", "(N, Cin, H, W)")
    N, Cin, H, W = x.shape
    K = kernel_size
    check_geometry(H, W, K, stride, padding, where=f"im2col on input of shape {tuple(x.shape)}")
    if method == "sparse":
        Hout, Wout = output_size(H, K, stride, padding), output_size(W, K, stride, padding)
        M = on_device_of(im2col_matrix(Cin, H, W, K, stride, padding, dtype=x.dtype), x.value)
        return ag.spcmatmul(x.reshape(N, Cin * H * W), M).reshape(N, Hout * Wout, Cin * K * K)
    if method == "strided":
        return _im2col_op(x, (tuple(x.shape), K, stride, padding, False))
    return custom_op(im2col_naive(x.value, K, stride, padding), (x,), "im2col_naive",
                 (_naive_patches_rule,), (K, stride, padding))


def kernel_size_of(weight_rows: int, in_channels: int, where: str = "conv2d") -> int:
    """``K`` from a course-layout weight's ``Cin*K*K`` rows (an error if it is not square)."""
    K = int(round((weight_rows / max(in_channels, 1)) ** 0.5))
    if K < 1 or in_channels * K * K != weight_rows:
        raise ValueError(
            f"{where}: a weight with {weight_rows} rows does not fit {in_channels} input channels: "
            f"it must be (Cin*K*K, Cout) with Cin={in_channels}"
        )
    return K


def conv2d(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: int = 1,
    padding: int = 0,
    method: str = "sparse",
) -> Tensor:
    """2-D convolution (cross-correlation) of NCHW ``x`` with a ``(Cin*K*K, Cout)`` weight.

    Returns ``(N, Cout, Hout, Wout)``. With ``method="sparse"`` this is the course's
    five-line path: flatten, ``ag.spcmatmul`` with the im2col matrix, reshape into
    patches, ``@ weight + bias``, move the channel axis forward.

    >>> import ag, numpy as np
    >>> x = ag.tensor(np.ones((2, 3, 5, 5)))
    >>> conv2d(x, ag.tensor(np.ones((27, 4))), padding=1).shape
    (2, 4, 5, 5)
    """
    x, weight = as_tensor(x), as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    where = "conv2d"
    _check_method(method, where, x)
    _check_4d(x, where, "(N, Cin, H, W)")
    N, Cin, H, W = x.shape
    if weight.ndim != 2:
        raise ValueError(f"{where}: weight must be 2-D (Cin*K*K, Cout), got shape {tuple(weight.shape)}")
    K = kernel_size_of(weight.shape[0], Cin, where)
    Cout = weight.shape[1]
    if bias is not None and tuple(bias.shape) != (Cout,):
        raise ValueError(f"{where}: bias must have shape ({Cout},), got {tuple(bias.shape)}")
    check_geometry(H, W, K, stride, padding, where=f"{where} on input of shape {tuple(x.shape)}")
    Hout, Wout = output_size(H, K, stride, padding), output_size(W, K, stride, padding)
    if method == "naive":
        inputs = (x, weight) if bias is None else (x, weight, bias)
        value = conv2d_naive(x.value, weight.value, None if bias is None else bias.value, stride, padding)
        rules = (_naive_conv_x, _naive_conv_w, _naive_conv_b)[: len(inputs)]
        return custom_op(value, inputs, "conv2d_naive", rules, (stride, padding))
    if method == "strided":
        # The column layout (N, Cin*K*K, P) copies out of the strided view ten times
        # faster, and weight.T @ columns is already (N, Cout, P): no moveaxis copy.
        columns = _im2col_op(x, (tuple(x.shape), K, stride, padding, True))
        out = weight.T @ columns
        if bias is not None:
            out = out + bias.reshape(Cout, 1)
        return out.reshape(N, Cout, Hout, Wout)
    Xin_patches_flat = im2col(x, K, stride, padding, method)  # (N, P, Cin*K*K)
    Xout_flat = Xin_patches_flat @ weight                     # (N, P, Cout)
    if bias is not None:
        Xout_flat = Xout_flat + bias
    return ag.moveaxis(Xout_flat, 1, 2).reshape(N, Cout, Hout, Wout)


@lru_cache(maxsize=64)
def _inside_mask(H: int, W: int, K: int, stride: int, padding: int) -> np.ndarray:
    # (P, K*K): True where a window entry lies on the image, False on padding;
    # read off the im2col matrix: a padded entry is a column without a nonzero.
    M = im2col_matrix(1, H, W, K, stride, padding)
    mask = M.getnnz(axis=0).reshape(-1, K * K) > 0
    mask.flags.writeable = False
    return mask


def _pool_patches(x: Tensor, kernel_size: int, stride: int | None, padding: int, method: str, where: str):
    _check_method(method, where, x)
    _check_4d(x, where, "(N, C, H, W)")
    stride = kernel_size if stride is None else stride
    N, C, H, W = x.shape
    check_geometry(H, W, kernel_size, stride, padding, where=f"{where} on input of shape {tuple(x.shape)}")
    if padding > kernel_size // 2:
        raise ValueError(
            f"{where}: padding={padding} must be at most half the kernel_size={kernel_size} "
            "(otherwise a window could lie entirely on the padding)"
        )
    Hout, Wout = output_size(H, kernel_size, stride, padding), output_size(W, kernel_size, stride, padding)
    # Every channel is pooled on its own: fold channels into the batch and use the
    # one-channel matrix, (N*C, H*W) @ M -> (N*C, P, K*K); the window axis is last.
    # The strided method uses the faster column layout (N*C, K*K, P): window axis 1.
    folded = x.reshape(N * C, 1, H, W)
    if method == "strided":
        patches = _im2col_op(folded, ((N * C, 1, H, W), kernel_size, stride, padding, True))
        return patches, 1, stride, (N, C, Hout, Wout)
    patches = im2col(folded, kernel_size, stride, padding, method)
    return patches, 2, stride, (N, C, Hout, Wout)


def max_pool2d(
    x: Any, kernel_size: int, stride: int | None = None, padding: int = 0, method: str = "sparse"
) -> Tensor:
    """Max over each ``K x K`` window (``stride`` defaults to ``K``); padding never wins.

    Tied maxima share the gradient equally (the kit's ``max`` rule).

    >>> import ag, numpy as np
    >>> max_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 3, stride=1, padding=1).value[0, 0, 0]
    array([5., 6., 7., 7.])
    """
    x = as_tensor(x)
    patches, axis, stride, shape = _pool_patches(x, kernel_size, stride, padding, method, "max_pool2d")
    if padding:
        # Padding reads as 0 from the matrix; replace it by the lowest float so that a
        # window of negative numbers is not topped by the padding (as in PyTorch).
        inside = _inside_mask(x.shape[2], x.shape[3], kernel_size, stride, padding)
        if not isinstance(x.value, np.ndarray):  # the mask goes where the images are
            inside = array_module_of(x.value).asarray(inside)
        patches = ag.where(inside if axis == 2 else inside.T, patches, float(np.finfo(x.dtype).min))
    return patches.max(axis=axis).reshape(*shape)


def avg_pool2d(
    x: Any, kernel_size: int, stride: int | None = None, padding: int = 0, method: str = "sparse"
) -> Tensor:
    """Mean over each ``K x K`` window; padded zeros count (PyTorch's ``count_include_pad``).

    >>> import ag, numpy as np
    >>> avg_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2).value[0, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    x = as_tensor(x)
    patches, axis, _, shape = _pool_patches(x, kernel_size, stride, padding, method, "avg_pool2d")
    return patches.mean(axis=axis).reshape(*shape)



# -- the rule text of the conv ops, for traces (ag.registry) -----------------------------------

for _name, _rule, _text in [
    ("im2col_strided", _im2col_strided_rule, "{a}.grad += col2im({out}.grad)"),
    ("im2col_columns", _im2col_strided_rule, "{a}.grad += col2im({out}.grad)"),
    ("col2im", _col2im_rule, "{a}.grad += im2col({out}.grad)"),
    ("im2col_naive", _naive_patches_rule, "{a}.grad += col2im({out}.grad) (loops)"),
]:
    registry.register("tensor", _name, function=None, rules=(_rule,), text=(_text,))
registry.register("tensor", "conv2d_naive", function=conv2d, arity=None,
                  rules=(_naive_conv_x, _naive_conv_w, _naive_conv_b),
                  text=("{x}.grad += backprop of {out}.grad through the convolution loops",))
