"""The loop versions of im2col, col2im and conv2d share one window generator; check
each against an independent formula (adjointness, the strided im2col, finite differences)."""

from __future__ import annotations

import numpy as np
import pytest

from ag.nn.im2col import (
    col2im_naive,
    conv2d_naive,
    conv2d_naive_grad,
    im2col_naive,
    im2col_strided,
    output_size,
    window_entries,
)

GEOMETRIES = [(2, 2, 5, 4, 3, 1, 0), (1, 3, 4, 5, 2, 2, 1), (2, 1, 3, 3, 3, 1, 1)]


@pytest.mark.parametrize("N,Cin,H,W,K,stride,padding", GEOMETRIES)
def test_window_entries_count_and_order(N, Cin, H, W, K, stride, padding):
    entries = list(window_entries(N, Cin, H, W, K, stride, padding))
    inside = im2col_naive(np.ones((N, Cin, H, W)), K, stride, padding)
    assert len(entries) == int(inside.sum())  # one entry per patch entry on the image
    assert entries == sorted(entries, key=lambda e: (e[0], e[1], e[2]))


@pytest.mark.parametrize("N,Cin,H,W,K,stride,padding", GEOMETRIES)
def test_naive_im2col_matches_strided_and_col2im_is_its_adjoint(N, Cin, H, W, K, stride, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, Cin, H, W))
    patches = im2col_naive(x, K, stride, padding)
    np.testing.assert_array_equal(patches, im2col_strided(x, K, stride, padding))
    q = rng.standard_normal(patches.shape)
    # <im2col(x), q> == <x, col2im(q)>
    np.testing.assert_allclose((patches * q).sum(), (x * col2im_naive(q, x.shape, K, stride, padding)).sum())


@pytest.mark.parametrize("N,Cin,H,W,K,stride,padding", GEOMETRIES)
def test_naive_conv_gradients_by_finite_differences(N, Cin, H, W, K, stride, padding):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, Cin, H, W))
    w = rng.standard_normal((Cin * K * K, 2))
    Hout, Wout = output_size(H, K, stride, padding), output_size(W, K, stride, padding)
    g = rng.standard_normal((N, 2, Hout, Wout))

    def loss(x, w):
        return float((conv2d_naive(x, w, None, stride, padding) * g).sum())

    eps = 1e-6
    for arr, want in ((x, "x"), (w, "w")):
        analytic = conv2d_naive_grad(g, x, w, stride, padding, want=want)
        for idx in [(0,) * arr.ndim, tuple(s - 1 for s in arr.shape)]:
            old = arr[idx]
            arr[idx] = old + eps
            up = loss(x, w)
            arr[idx] = old - eps
            down = loss(x, w)
            arr[idx] = old
            assert abs(analytic[idx] - (up - down) / (2 * eps)) < 1e-6
