"""im2col: convolution lowered to a matrix product, three ways.

The course's Conv2d multiplies each image, flattened, by one constant sparse
matrix that copies every patch out of it::

    Xin_flat   = Xin.reshape(N, Cin*H*W)
    Xin_im2col = Xin_flat @ im2col_matrix(Cin, H, W, K, stride, padding)
    patches    = Xin_im2col.reshape(N, P, Cin*K*K)      # P = Hout*Wout

>>> import numpy as np
>>> M = im2col_matrix(1, 3, 3, 2)          # one 3x3 channel, 2x2 kernel
>>> M.shape, M.nnz                          # 9 pixels -> 4 patches of 4 entries
((9, 16), 16)
>>> x = np.arange(9.0).reshape(1, 9)
>>> (x @ M).reshape(1, 4, 4)[0, 0]          # the top-left patch
array([0., 1., 3., 4.])

Beside it, for teaching and for checking each other:

* :func:`im2col_strided` builds the same patches with ``numpy.lib.stride_tricks``
  (a view of the padded image, then a copy), and :func:`col2im_strided` is its
  adjoint (the backward pass: patch gradients summed back onto the pixels);
  :func:`im2col_columns` / :func:`col2im_columns` do the same in the transposed,
  column-per-patch layout ``(N, Cin*K*K, P)``, which copies ten times faster;
* :func:`im2col_naive`, :func:`col2im_naive`, :func:`conv2d_naive` and
  :func:`conv2d_naive_grad` are the plain loops (the seven nested loops of a
  convolution, written once in :func:`window_entries`), the reference the others
  are tested against.

All functions here work on plain NumPy arrays; ``ag.nn.Conv2d`` wraps them into
differentiable ops.

Layout, fixed once for the whole kit: images are NCHW; patch ``p = ho*Wout + wo``;
inside a patch, entries run channel-major ``(c, ki, kj)``; the filter bank is
stored as ``(Cin*K*K, Cout)``, so ``patches @ weight`` is the convolution (a
cross-correlation, as in every deep-learning library).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import numpy as np
import scipy.sparse as sp
from numpy.lib.stride_tricks import as_strided

__all__ = [
    "output_size",
    "check_geometry",
    "im2col_matrix",
    "im2col_strided",
    "col2im_strided",
    "im2col_columns",
    "col2im_columns",
    "window_entries",
    "im2col_naive",
    "col2im_naive",
    "conv2d_naive",
    "conv2d_naive_grad",
]


def output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """Output length along one axis: ``(size + 2*padding - kernel_size) // stride + 1``.

    >>> output_size(32, 3), output_size(32, 3, stride=2, padding=1)
    (30, 16)
    """
    return (size + 2 * padding - kernel_size) // stride + 1


def check_geometry(
    H: int, W: int, kernel_size: int, stride: int, padding: int, where: str = "im2col"
) -> None:
    """Raise a ``ValueError`` naming ``where`` and the sizes if the geometry is impossible.

    >>> check_geometry(4, 4, 5, 1, 0, where="Conv2d(1, 1, kernel_size=5)")
    Traceback (most recent call last):
    ...
    ValueError: Conv2d(1, 1, kernel_size=5): kernel_size=5 is larger than the padded input 4x4 \
(H=4, W=4, padding=0)
    """
    for name, v, low in (("kernel_size", kernel_size, 1), ("stride", stride, 1), ("padding", padding, 0)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < low:
            raise ValueError(f"{where}: {name} must be an integer >= {low}, got {v!r}")
    if kernel_size > H + 2 * padding or kernel_size > W + 2 * padding:
        raise ValueError(
            f"{where}: kernel_size={kernel_size} is larger than the padded input "
            f"{H + 2 * padding}x{W + 2 * padding} (H={H}, W={W}, padding={padding})"
        )


@lru_cache(maxsize=64)
def _cached_matrix(
    Cin: int, H: int, W: int, K: int, stride: int, padding: int, dtype: str
) -> sp.csr_matrix:
    Hout, Wout = output_size(H, K, stride, padding), output_size(W, K, stride, padding)
    # One entry per column, enumerated in column order (ho, wo, c, ki, kj): the
    # column index is then simply the running position, and the row is the pixel.
    ho, wo, c, ki, kj = np.ix_(
        np.arange(Hout), np.arange(Wout), np.arange(Cin), np.arange(K), np.arange(K)
    )
    h = ho * stride + ki - padding
    w = wo * stride + kj - padding
    shape5 = (Hout, Wout, Cin, K, K)
    inside = np.broadcast_to((h >= 0) & (h < H) & (w >= 0) & (w < W), shape5).ravel()
    rows = np.broadcast_to(c * (H * W) + h * W + w, shape5).ravel()[inside]
    # A padded position is a column with no entry at all: padding costs nothing.
    indptr = np.concatenate(([0], np.cumsum(inside)))
    data = np.ones(rows.size, dtype=dtype)
    csc = sp.csc_matrix((data, rows, indptr), shape=(Cin * H * W, Hout * Wout * Cin * K * K))
    matrix = csc.tocsr()
    # The matrix is shared by every caller with this geometry: make it read-only
    # so that nobody can corrupt the cache by scaling it in place.
    for array in (matrix.data, matrix.indices, matrix.indptr):
        array.flags.writeable = False
    return matrix


def im2col_matrix(
    Cin: int,
    H: int,
    W: int,
    K: int,
    stride: int = 1,
    padding: int = 0,
    dtype: np.dtype | type | str = np.float64,
) -> sp.csr_matrix:
    """The sparse 0/1 matrix that cuts images into patches, cached by geometry.

    ``Xin.reshape(N, Cin*H*W) @ M`` reshaped to ``(N, P, Cin*K*K)`` holds each
    image's patches, ``P = Hout*Wout`` of them in row-major order, each flattened
    channel-major as ``(Cin, K, K)``.

    * shape: ``(Cin*H*W, P*Cin*K*K)``: a row per input pixel, a column per patch entry;
    * nnz: ``Cin * Vh * Vw``, where ``Vh`` counts the pairs (output row ``ho``, kernel
      row ``ki``) that land inside the image (``0 <= ho*stride + ki - padding < H``)
      and ``Vw`` likewise for columns. Without padding that is ``P*Cin*K*K``: one
      entry per column. With padding, the columns for padded positions are empty
      (there is no padded copy of the input), so ``nnz < P*Cin*K*K``.

    Each column has at most one entry (a patch entry is a copy of one pixel). The
    result is cached by ``(Cin, H, W, K, stride, padding, dtype)`` and shared, so
    its arrays are read-only; ``dtype`` should match the images' (float32 images
    times a float64 matrix would come out float64).

    >>> M = im2col_matrix(3, 32, 32, 3)
    >>> M.shape, M.nnz == 30 * 30 * 3 * 3 * 3
    ((3072, 24300), True)
    >>> im2col_matrix(3, 32, 32, 3) is M        # cached
    True
    """
    check_geometry(H, W, K, stride, padding, where="im2col_matrix")
    if Cin < 1:
        raise ValueError(f"im2col_matrix: Cin must be >= 1, got {Cin!r}")
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"im2col_matrix: dtype must be a float type, got {dtype}")
    return _cached_matrix(int(Cin), int(H), int(W), int(K), int(stride), int(padding), dtype.str)


im2col_matrix.cache_info = _cached_matrix.cache_info  # type: ignore[attr-defined]
im2col_matrix.cache_clear = _cached_matrix.cache_clear  # type: ignore[attr-defined]


def _pad(x: np.ndarray, padding: int) -> np.ndarray:
    if padding == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))


def im2col_columns(x: np.ndarray, K: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Patches as columns, ``(N, Cin*K*K, P)``: the classic im2col layout, via a strided view.

    Row ``(c, ki, kj)`` of image ``n`` holds pixel ``(ki, kj)`` of every window of
    channel ``c``. The view ``(N, Cin, K, K, Hout, Wout)`` keeps the image's own
    row-major order innermost, so the copy out of it streams through memory; it is
    about ten times faster than copying into the patch-major layout below, and
    ``weight.T @ columns`` is already ``(N, Cout, P)``, i.e. NCHW.

    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> im2col_columns(x, 2)[0]
    array([[0., 1., 3., 4.],
           [1., 2., 4., 5.],
           [3., 4., 6., 7.],
           [4., 5., 7., 8.]])
    """
    N, Cin, H, W = x.shape
    check_geometry(H, W, K, stride, padding, where="im2col_columns")
    xp = np.ascontiguousarray(_pad(x, padding))
    Hout, Wout = output_size(H, K, stride, padding), output_size(W, K, stride, padding)
    sN, sC, sH, sW = xp.strides
    view = as_strided(
        xp,
        shape=(N, Cin, K, K, Hout, Wout),
        strides=(sN, sC, sH, sW, sH * stride, sW * stride),
        writeable=False,
    )
    return view.reshape(N, Cin * K * K, Hout * Wout)


def col2im_columns(
    columns: np.ndarray, x_shape: tuple[int, int, int, int], K: int, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """Adjoint of :func:`im2col_columns`: add each column entry back onto its pixel.

    One strided addition per kernel offset ``(ki, kj)``, over all images and channels.

    >>> x = np.ones((1, 1, 3, 3))
    >>> col2im_columns(im2col_columns(x, 2), x.shape, 2)[0, 0]   # pixel use counts
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    N, Cin, H, W = x_shape
    Hout, Wout = output_size(H, K, stride, padding), output_size(W, K, stride, padding)
    cols = columns.reshape(N, Cin, K, K, Hout, Wout)
    out = np.zeros((N, Cin, H + 2 * padding, W + 2 * padding), dtype=columns.dtype)
    h_end, w_end = stride * (Hout - 1) + 1, stride * (Wout - 1) + 1
    for ki in range(K):
        for kj in range(K):
            out[:, :, ki : ki + h_end : stride, kj : kj + w_end : stride] += cols[:, :, ki, kj]
    if padding:
        out = out[:, :, padding:-padding, padding:-padding]
    return np.ascontiguousarray(out)


def im2col_strided(x: np.ndarray, K: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Patches of NCHW images, ``(N, P, Cin*K*K)`` (the layout of :func:`im2col_matrix`).

    The view ``(N, Hout, Wout, Cin, K, K)`` of the (padded) images costs nothing;
    the reshape copies it, K pixels at a time (slower than :func:`im2col_columns`,
    whose copy streams whole image rows, and faster than copying that result
    into this layout).

    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> im2col_strided(x, 2)[0, 0]
    array([0., 1., 3., 4.])
    """
    N, Cin, H, W = x.shape
    check_geometry(H, W, K, stride, padding, where="im2col_strided")
    xp = np.ascontiguousarray(_pad(x, padding))
    Hout, Wout = output_size(H, K, stride, padding), output_size(W, K, stride, padding)
    sN, sC, sH, sW = xp.strides
    view = as_strided(
        xp,
        shape=(N, Hout, Wout, Cin, K, K),
        strides=(sN, sH * stride, sW * stride, sC, sH, sW),
        writeable=False,
    )
    return view.reshape(N, Hout * Wout, Cin * K * K)


def col2im_strided(
    patches: np.ndarray, x_shape: tuple[int, int, int, int], K: int, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """Adjoint of :func:`im2col_strided`: add each patch entry back onto its pixel.

    This is the backward pass of im2col (and what ``grad @ M.T`` computes with the
    sparse matrix).

    >>> x = np.ones((1, 1, 3, 3))
    >>> col2im_strided(im2col_strided(x, 2), x.shape, 2)[0, 0]   # pixel use counts
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    return col2im_columns(patches.transpose(0, 2, 1), x_shape, K, stride, padding)


def window_entries(
    N: int, Cin: int, H: int, W: int, K: int, stride: int = 1, padding: int = 0
) -> Iterator[tuple[int, int, int, int, int, int]]:
    """Every entry of every patch, as the loops of the definition visit them.

    Yields ``(n, p, row, c, h, w)``: image ``n``, patch ``p = ho*Wout + wo``, entry
    ``row = (c*K + ki)*K + kj`` of that patch, which reads pixel ``(c, h, w)``.
    Entries on the padding are skipped (they read as 0). The order is the six nested
    loops ``n, ho, wo, c, ki, kj``; the loop versions of im2col, col2im and the
    convolution (forward and backward) are all written on this one generator.

    >>> [e for e in window_entries(1, 1, 2, 2, 2)]           # one 2x2 patch of a 2x2 image
    [(0, 0, 0, 0, 0, 0), (0, 0, 1, 0, 0, 1), (0, 0, 2, 0, 1, 0), (0, 0, 3, 0, 1, 1)]
    """
    Hout, Wout = output_size(H, K, stride, padding), output_size(W, K, stride, padding)
    for n in range(N):
        for ho in range(Hout):
            for wo in range(Wout):
                for c in range(Cin):
                    for ki in range(K):
                        for kj in range(K):
                            h, w = ho * stride + ki - padding, wo * stride + kj - padding
                            if 0 <= h < H and 0 <= w < W:
                                yield n, ho * Wout + wo, (c * K + ki) * K + kj, c, h, w


def im2col_naive(x: np.ndarray, K: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Patches ``(N, P, Cin*K*K)`` by plain loops; padded positions read as 0.

    >>> im2col_naive(np.arange(9.0).reshape(1, 1, 3, 3), 2)[0, 3]
    array([4., 5., 7., 8.])
    """
    N, Cin, H, W = x.shape
    check_geometry(H, W, K, stride, padding, where="im2col_naive")
    Hout, Wout = output_size(H, K, stride, padding), output_size(W, K, stride, padding)
    out = np.zeros((N, Hout * Wout, Cin * K * K), dtype=x.dtype)
    for n, p, row, c, h, w in window_entries(N, Cin, H, W, K, stride, padding):
        out[n, p, row] = x[n, c, h, w]
    return out


def col2im_naive(
    patches: np.ndarray, x_shape: tuple[int, int, int, int], K: int, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """Adjoint of :func:`im2col_naive` by plain loops: each patch entry added onto its pixel.

    >>> col2im_naive(np.ones((1, 4, 4)), (1, 1, 3, 3), 2)[0, 0]   # pixel use counts
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    grad = np.zeros(x_shape, dtype=patches.dtype)
    for n, p, row, c, h, w in window_entries(*x_shape, K, stride, padding):
        grad[n, c, h, w] += patches[n, p, row]
    return grad


def conv2d_naive(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """The convolution as seven nested loops: the reference for everything else.

    ``x`` is ``(N, Cin, H, W)``, ``weight`` the course's ``(Cin*K*K, Cout)``;
    returns ``(N, Cout, Hout, Wout)``. The loops are the output channel ``co`` around
    the six of :func:`window_entries`.

    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> conv2d_naive(x, np.ones((4, 1)))[0, 0]          # 2x2 box sums
    array([[ 8., 12.],
           [20., 24.]])
    """
    N, Cin, H, W = x.shape
    Cout = weight.shape[1]
    K = int(round((weight.shape[0] / Cin) ** 0.5))
    check_geometry(H, W, K, stride, padding, where="conv2d_naive")
    Hout, Wout = output_size(H, K, stride, padding), output_size(W, K, stride, padding)
    out = np.zeros((N, Cout, Hout * Wout), dtype=np.result_type(x, weight))
    if bias is not None:
        out += bias.reshape(Cout, 1)
    for co in range(Cout):
        for n, p, row, c, h, w in window_entries(N, Cin, H, W, K, stride, padding):
            out[n, co, p] += x[n, c, h, w] * weight[row, co]
    return out.reshape(N, Cout, Hout, Wout)


def conv2d_naive_grad(
    g: np.ndarray, x: np.ndarray, weight: np.ndarray, stride: int = 1, padding: int = 0,
    want: str = "x",
) -> np.ndarray:
    """The gradient of :func:`conv2d_naive` for the input (``want="x"``) or the weight
    (``"w"``), by the same loops, given the output's gradient ``g`` (N, Cout, Hout, Wout).

    >>> x, w = np.ones((1, 1, 3, 3)), np.ones((4, 1))
    >>> conv2d_naive_grad(np.ones((1, 1, 2, 2)), x, w, want="x")[0, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    N, Cin, H, W = x.shape
    Cout = weight.shape[1]
    K = int(round((weight.shape[0] / Cin) ** 0.5))
    g = g.reshape(N, Cout, -1)
    grad = np.zeros(x.shape if want == "x" else weight.shape, dtype=g.dtype)
    for co in range(Cout):
        for n, p, row, c, h, w in window_entries(N, Cin, H, W, K, stride, padding):
            if want == "x":
                grad[n, c, h, w] += g[n, co, p] * weight[row, co]
            else:
                grad[row, co] += g[n, co, p] * x[n, c, h, w]
    return grad
