"""The im2col matrix and its strided and naive twins, on plain NumPy arrays."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from ag.nn.im2col import (
    check_geometry,
    col2im_columns,
    col2im_strided,
    conv2d_naive,
    im2col_columns,
    im2col_matrix,
    im2col_naive,
    im2col_strided,
    output_size,
)


@st.composite
def geometries(draw):
    """(N, Cin, H, W, K, stride, padding), non-square images included, always valid."""
    K = draw(st.integers(1, 4))
    padding = draw(st.integers(0, 2))
    low = max(1, K - 2 * padding)
    H, W = draw(st.integers(low, 7)), draw(st.integers(low, 7))
    return draw(st.integers(1, 2)), draw(st.integers(1, 3)), H, W, K, draw(st.integers(1, 3)), padding


def sparse_patches(x, K, stride, padding):
    N, Cin, H, W = x.shape
    M = im2col_matrix(Cin, H, W, K, stride, padding)
    return (x.reshape(N, -1) @ M).reshape(N, -1, Cin * K * K)


# --- hand-worked examples -------------------------------------------------------
def test_small_matrix_by_hand():
    # A 3x3 image, 2x2 kernel: 4 patches of 4 entries, one 1 per column.
    M = im2col_matrix(1, 3, 3, 2)
    assert isinstance(M, sp.csr_matrix)
    assert M.shape == (9, 16) and M.nnz == 16
    dense = M.toarray()
    # Patch 0 (top-left) reads pixels 0, 1, 3, 4; patch 3 (bottom-right) 4, 5, 7, 8.
    assert [int(np.flatnonzero(dense[:, j])[0]) for j in range(4)] == [0, 1, 3, 4]
    assert [int(np.flatnonzero(dense[:, j])[0]) for j in range(12, 16)] == [4, 5, 7, 8]


def test_padded_matrix_by_hand():
    # Cin=2, 4x5 image, K=3, stride 2, padding 1: Hout=2, Wout=3.
    # Rows: ho=0 sees h in {-1,0,1} (2 inside), ho=1 sees {1,2,3} (3): Vh = 5.
    # Cols: wo=0 {-1,0,1} (2), wo=1 {1,2,3} (3), wo=2 {3,4,5} (2): Vw = 7.
    M = im2col_matrix(2, 4, 5, 3, stride=2, padding=1)
    assert M.shape == (2 * 4 * 5, 6 * 2 * 9)
    assert M.nnz == 2 * 5 * 7
    # Padding 1 on a 2x2 image with a 3x3 kernel: 2x2 outputs, each sees 4 pixels.
    assert im2col_matrix(1, 2, 2, 3, padding=1).nnz == 16


def test_patch_layout_is_channel_major():
    x = np.arange(2 * 3 * 3, dtype=float).reshape(1, 2, 3, 3)
    patch = sparse_patches(x, 2, 1, 0)[0, 0]
    # Channel 0's 2x2 window (0, 1, 3, 4), then channel 1's (9, 10, 12, 13).
    np.testing.assert_array_equal(patch, [0, 1, 3, 4, 9, 10, 12, 13])


def test_naive_conv_by_hand():
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    w = np.array([[1.0], [0.0], [0.0], [-1.0]])  # top-left minus bottom-right
    np.testing.assert_array_equal(conv2d_naive(x, w, np.array([0.5]))[0, 0], [[-3.5, -3.5], [-3.5, -3.5]])
    # Padding 1 with a 3x3 sum filter: the corner sees 4 pixels, 0+1+3+4.
    out = conv2d_naive(x, np.ones((9, 1)), padding=1)
    assert out.shape == (1, 1, 3, 3) and out[0, 0, 0, 0] == 8.0 and out[0, 0, 1, 1] == 36.0


def test_output_size():
    assert output_size(32, 3) == 30
    assert output_size(32, 3, stride=2, padding=1) == 16
    assert output_size(5, 5) == 1
    assert output_size(7, 2, stride=3) == 2


# --- properties over drawn geometries -----------------------------------------------
@given(geometries(), st.integers(0, 2**31 - 1))
def test_three_im2cols_agree(geometry, seed):
    N, Cin, H, W, K, stride, padding = geometry
    x = np.random.default_rng(seed).standard_normal((N, Cin, H, W))
    expected = im2col_naive(x, K, stride, padding)
    P = output_size(H, K, stride, padding) * output_size(W, K, stride, padding)
    assert expected.shape == (N, P, Cin * K * K)
    np.testing.assert_array_equal(sparse_patches(x, K, stride, padding), expected)
    np.testing.assert_array_equal(im2col_strided(x, K, stride, padding), expected)
    np.testing.assert_array_equal(im2col_columns(x, K, stride, padding), expected.transpose(0, 2, 1))


@given(geometries())
def test_shape_and_nnz(geometry):
    _, Cin, H, W, K, stride, padding = geometry
    M = im2col_matrix(Cin, H, W, K, stride, padding)
    Hout, Wout = output_size(H, K, stride, padding), output_size(W, K, stride, padding)
    assert M.shape == (Cin * H * W, Hout * Wout * Cin * K * K)
    # The docstring's formula, counted independently: a ones image has a 1 exactly
    # where a patch entry lands inside the image.
    inside = im2col_naive(np.ones((1, Cin, H, W)), K, stride, padding)
    assert M.nnz == int(inside.sum())
    if padding == 0:
        assert M.nnz == M.shape[1]
    assert np.all(M.data == 1.0)
    assert M.getnnz(axis=0).max() <= 1  # a patch entry copies at most one pixel


@given(geometries(), st.integers(0, 2**31 - 1))
def test_col2im_is_the_adjoint(geometry, seed):
    N, Cin, H, W, K, stride, padding = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, Cin, H, W))
    g = rng.standard_normal(im2col_naive(x, K, stride, padding).shape)
    back = col2im_strided(g, x.shape, K, stride, padding)
    assert back.shape == x.shape
    # <im2col(x), g> == <x, col2im(g)>, and col2im is the product with M.T.
    np.testing.assert_allclose(np.sum(im2col_naive(x, K, stride, padding) * g), np.sum(x * back))
    M = im2col_matrix(Cin, H, W, K, stride, padding)
    np.testing.assert_allclose((g.reshape(N, -1) @ M.T).reshape(x.shape), back, atol=1e-12)
    columns_back = col2im_columns(np.ascontiguousarray(g.transpose(0, 2, 1)), x.shape, K, stride, padding)
    np.testing.assert_allclose(columns_back, back, atol=1e-12)


# --- cache ----------------------------------------------------------------------
def test_cache_by_geometry_and_dtype():
    a = im2col_matrix(2, 6, 5, 3, 1, 1)
    assert im2col_matrix(2, 6, 5, 3, 1, 1) is a
    assert im2col_matrix(2, 6, 5, K=3, stride=1, padding=1) is a
    b = im2col_matrix(2, 6, 6, 3, 1, 1)
    assert b is not a and b.shape == (72, 36 * 18)
    c = im2col_matrix(2, 6, 5, 3, 1, 1, dtype=np.float32)
    assert c is not a and c.dtype == np.float32 and a.dtype == np.float64
    assert im2col_matrix(2, 6, 5, 3, 1, 1, dtype="float32") is c


def test_cached_matrix_is_read_only():
    M = im2col_matrix(1, 4, 4, 2)
    with pytest.raises(ValueError):
        M.data *= 2
    assert np.all(im2col_matrix(1, 4, 4, 2).data == 1.0)


# --- errors ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, match",
    [
        ((3, 3, 4, 1, 0), r"kernel_size=4 is larger than the padded input 3x3 \(H=3, W=3, padding=0\)"),
        ((3, 8, 6, 1, 1), r"kernel_size=6 is larger than the padded input 5x10"),
        ((5, 5, 3, 0, 0), r"stride must be an integer >= 1, got 0"),
        ((5, 5, 0, 1, 0), r"kernel_size must be an integer >= 1, got 0"),
        ((5, 5, 3, 1, -1), r"padding must be an integer >= 0, got -1"),
    ],
)
def test_geometry_errors(args, match):
    with pytest.raises(ValueError, match=match):
        check_geometry(*args, where="Layer")
    with pytest.raises(ValueError, match="im2col_matrix: " + match):
        im2col_matrix(1, *args)


def test_integer_dtype_refused():
    with pytest.raises(TypeError, match="float"):
        im2col_matrix(1, 3, 3, 2, dtype=np.int64)
