"""Small datasets that need no download, and readers for MNIST IDX files you have."""

from __future__ import annotations

import gzip
import os
import struct
from typing import Any

import numpy as np


def make_moons(n: int = 200, noise: float = 0.1, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles: ``X`` of shape ``(n, 2)``, labels 0/1.

    >>> X, y = make_moons(10); X.shape, sorted(set(y.tolist()))
    ((10, 2), [0, 1])
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    t = np.pi * rng.random(n)
    X = np.where(
        (y == 0)[:, None],
        np.stack([np.cos(t), np.sin(t)], axis=1),
        np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1),
    )
    X = X + noise * rng.standard_normal((n, 2))
    return X, y.astype(np.int64)


def make_spirals(
    n_per_class: int = 100, n_classes: int = 3, noise: float = 0.2, seed: int | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``n_classes`` interleaved spiral arms in 2-D (CS231n's toy set); labels ``0..n_classes-1``.

    >>> X, y = make_spirals(5, 3); X.shape, y.tolist()[:6]
    ((15, 2), [0, 0, 0, 0, 0, 1])
    """
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for k in range(n_classes):
        r = np.linspace(0.0, 1.0, n_per_class)
        theta = np.linspace(k * 4.0, (k + 1) * 4.0, n_per_class) + noise * rng.standard_normal(n_per_class)
        xs.append(np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1))
        ys.append(np.full(n_per_class, k))
    return np.concatenate(xs), np.concatenate(ys).astype(np.int64)


def sequence_task(
    kind: str, n: int, length: int, vocab: int = 10, seed: int | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Random token sequences and their ``copy``, ``reverse`` or ``sort`` (both int arrays).

    Tokens are ``0..vocab-1``; inputs and targets both have shape ``(n, length)``.

    >>> x, y = sequence_task("reverse", 2, 4, seed=1)
    >>> bool((y == x[:, ::-1]).all())
    True
    """
    rng = np.random.default_rng(seed)
    x = rng.integers(0, vocab, size=(n, length))
    if kind == "copy":
        y = x.copy()
    elif kind == "reverse":
        y = x[:, ::-1].copy()
    elif kind == "sort":
        y = np.sort(x, axis=1)
    else:
        raise ValueError(f"sequence_task kind must be 'copy', 'reverse' or 'sort', got {kind!r}")
    return x.astype(np.int64), y.astype(np.int64)


def train_test_split(
    *arrays: np.ndarray, test_fraction: float = 0.2, seed: int | None = 0
) -> list[np.ndarray]:
    """Shuffle the rows once and split each array: ``[a_train, a_test, b_train, b_test, ...]``."""
    n = len(arrays[0])
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    test, train = order[:n_test], order[n_test:]
    out: list[np.ndarray] = []
    for a in arrays:
        out += [a[train], a[test]]
    return out


def load_digits(
    test_fraction: float = 0.2, seed: int | None = 0, dtype: Any = np.float64
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits (1797 images, bundled, no download), scaled to [0, 1].

    Returns ``X_train, y_train, X_test, y_test`` with ``X`` of shape ``(n, 64)``.
    Needs scikit-learn: ``pip install "ag-autograd[data]"``.
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError('load_digits needs scikit-learn: pip install "ag-autograd[data]"') from exc
    bunch = _sk_load_digits()
    X = (bunch.data / 16.0).astype(dtype)
    y = bunch.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_fraction=test_fraction, seed=seed)
    return X_train, y_train, X_test, y_test


# ------------------------------------------------------------------- MNIST IDX files

_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (MNIST's format; ``.gz`` is decompressed) into an array.

    The header is two zero bytes, a type code (0x08 = uint8, ...), the number of
    dimensions, then each size as a big-endian uint32; the data follows.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    code, ndim = data[2], data[3]
    if code not in _IDX_TYPES:
        raise ValueError(f"{path}: unknown IDX element type 0x{code:02x}")
    dtype = _IDX_TYPES[code]
    header = 4 + 4 * ndim
    shape = struct.unpack(">" + "I" * ndim, data[4:header])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"{path}: IDX header says shape {shape} ({expected} bytes), file has {len(data) - header}"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file (the inverse of :func:`read_idx`)."""
    array = np.asarray(array)
    codes = {dt.newbyteorder("=") if dt.itemsize > 1 else dt: c for c, dt in _IDX_TYPES.items()}
    key = array.dtype.newbyteorder("=") if array.dtype.itemsize > 1 else array.dtype
    if key not in codes:
        raise ValueError(f"write_idx: dtype {array.dtype} has no IDX type code")
    code = codes[key]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(_IDX_TYPES[code]).tobytes())


def load_mnist(
    root: str | os.PathLike, split: str = "train", dtype: Any = np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST from the four standard IDX files in ``root`` (``.gz`` or not); no download.

    Returns images ``(n, 1, 28, 28)`` scaled to [0, 1] and int labels. ``split`` is
    ``"train"`` (``train-images-idx3-ubyte``) or ``"test"`` (``t10k-...``).
    """
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise ValueError(f"load_mnist split must be 'train' or 'test', got {split!r}")

    def find(stem: str) -> str:
        for name in (stem, stem + ".gz"):
            path = os.path.join(root, name)
            if os.path.exists(path):
                return path
        raise FileNotFoundError(f"load_mnist: neither {stem} nor {stem}.gz in {root}")

    images = read_idx(find(f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(find(f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"load_mnist: images {images.shape} and labels {labels.shape} do not match")
    return (images[:, None, :, :] / 255.0).astype(dtype), labels.astype(np.int64)
