"""Datasets, a DataLoader, transforms and small datasets that need no download.

Samples and batches are NumPy arrays: inputs float, class labels int (an
``ag.Tensor`` is floating-point only, so labels stay arrays and the losses take
them as they are). Layers accept arrays and wrap them as constant Tensors.

>>> from ag.data import TensorDataset, DataLoader, make_moons
>>> X, y = make_moons(100, seed=0)
>>> loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True, seed=0)
>>> [xb.shape for xb, yb in loader]
[(32, 2), (32, 2), (32, 2), (4, 2)]

Datasets: :func:`make_moons`, :func:`make_spirals`, :func:`sequence_task`
(copy / reverse / sort), :func:`load_digits` (8x8 digits, needs scikit-learn:
``pip install "ag[data]"``), and :func:`read_idx` / :func:`load_mnist` for MNIST
IDX files you already have.
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

__all__ = [
    "Dataset",
    "TensorDataset",
    "DataLoader",
    "Compose",
    "Normalize",
    "RandomFlipHorizontal",
    "RandomCrop",
    "make_moons",
    "make_spirals",
    "sequence_task",
    "load_digits",
    "read_idx",
    "write_idx",
    "load_mnist",
    "train_test_split",
]


# --------------------------------------------------------------------------- datasets


class Dataset:
    """A sized, indexable collection of samples: implement ``__len__`` and ``__getitem__``.

    ``dataset[i]`` returns one sample, usually a tuple ``(x, y)`` of arrays/numbers.
    """

    def __len__(self) -> int:  # pragma: no cover
        raise NotImplementedError

    def __getitem__(self, index: int) -> Any:  # pragma: no cover
        raise NotImplementedError


class TensorDataset(Dataset):
    """Samples are the rows of equally long arrays: ``dataset[i] = (X[i], y[i], ...)``.

    ``transform`` (optional) is applied to the first array's row on access.

    >>> ds = TensorDataset(np.zeros((3, 2)), np.array([0, 1, 2]))
    >>> len(ds), int(ds[1][1])
    (3, 1)
    """

    def __init__(self, *arrays: Any, transform: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        self.arrays = tuple(np.asarray(getattr(a, "value", a)) for a in arrays)
        n = len(self.arrays[0])
        lengths = [len(a) for a in self.arrays]
        if any(m != n for m in lengths):
            raise ValueError(f"TensorDataset arrays differ in length: {lengths}")
        self.transform = transform

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index: int) -> tuple:
        sample = tuple(a[index] for a in self.arrays)
        if self.transform is not None:
            sample = (self.transform(sample[0]),) + sample[1:]
        return sample

    def batch(self, indices: np.ndarray) -> tuple:
        """All samples at ``indices`` at once (the DataLoader's fast path)."""
        if self.transform is not None:
            return _collate([self[int(i)] for i in indices])
        return tuple(a[indices] for a in self.arrays)


def _collate(samples: list) -> Any:
    first = samples[0]
    if isinstance(first, tuple | list):
        return tuple(np.stack([np.asarray(s[k]) for s in samples]) for k in range(len(first)))
    return np.stack([np.asarray(s) for s in samples])


class DataLoader:
    """Iterate over a dataset in batches; each epoch visits every sample exactly once.

    ``shuffle=True`` draws a new permutation each epoch from a generator seeded by
    ``seed`` (so two loaders with the same seed give the same batches);
    ``drop_last`` drops a final short batch; ``transform`` is applied to each
    sample's input (its first field) before the samples are stacked; ``device``
    (``"cuda"``, ``"fake"``, ...; see ``ag.gpu``) moves every batch's arrays there.

    >>> loader = DataLoader(TensorDataset(np.arange(5.0)), batch_size=2, drop_last=True)
    >>> [b[0].tolist() for b in loader], len(loader)
    ([[0.0, 1.0], [2.0, 3.0]], 2)
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int = 32,
        shuffle: bool = False,
        *,
        seed: int | None = None,
        drop_last: bool = False,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        device: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"DataLoader batch_size must be >= 1, got {batch_size}")
        n = len(dataset)
        if n == 0:
            raise ValueError("DataLoader got an empty dataset (0 samples): nothing to iterate over")
        if drop_last and n < batch_size:
            raise ValueError(
                f"DataLoader with drop_last=True: the dataset has {n} samples, fewer than "
                f"batch_size={batch_size}, so every epoch would be empty"
            )
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.transform = transform
        self.device = device
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        if self.device is None:
            return self._batches()
        from ag.gpu.device import move_array

        move = lambda b: tuple(move_array(a, self.device) for a in b) if isinstance(b, tuple) \
            else move_array(b, self.device)
        return (move(batch) for batch in self._batches())

    def _batches(self) -> Iterator[Any]:
        n = len(self.dataset)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        stop = (n // self.batch_size) * self.batch_size if self.drop_last else n
        fast = hasattr(self.dataset, "batch") and self.transform is None
        for start in range(0, stop, self.batch_size):
            indices = order[start : start + self.batch_size]
            if fast:
                yield self.dataset.batch(indices)
                continue
            samples = [self.dataset[int(i)] for i in indices]
            if self.transform is not None:
                samples = [
                    (self.transform(s[0]),) + tuple(s[1:])
                    if isinstance(s, tuple | list)
                    else self.transform(s)
                    for s in samples
                ]
            yield _collate(samples)


# ------------------------------------------------------------------------- transforms


class Compose:
    """Apply transforms in order: ``Compose([a, b])(x) == b(a(x))``."""

    def __init__(self, transforms: Sequence[Callable[[np.ndarray], np.ndarray]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"


class Normalize:
    """``(x - mean) / std``; per channel for a ``(C, H, W)`` image, per feature for a vector.

    >>> Normalize([1.0, 2.0], [2.0, 4.0])(np.ones((2, 1, 1))).ravel().tolist()
    [0.0, -0.25]
    """

    def __init__(self, mean: Any, std: Any) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)
        if np.any(self.std == 0):
            raise ValueError("Normalize: std has a zero entry")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        mean, std = self.mean, self.std
        if x.ndim >= 3 and mean.ndim == 1:  # channel-first image: broadcast over H, W
            shape = mean.shape + (1,) * (x.ndim - 1)
            mean, std = mean.reshape(shape), std.reshape(shape)
        return ((x - mean) / std).astype(x.dtype if x.dtype.kind == "f" else np.float64)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class RandomFlipHorizontal:
    """Mirror an image left-right (its last axis) with probability ``p``.

    >>> RandomFlipHorizontal(p=1.0)(np.array([[1, 2, 3]])).tolist()
    [[3, 2, 1]]
    """

    def __init__(self, p: float = 0.5, seed: int | None = None) -> None:
        self.p = p
        self.rng = np.random.default_rng(seed)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x[..., ::-1].copy() if self.rng.random() < self.p else x

    def __repr__(self) -> str:
        return f"RandomFlipHorizontal(p={self.p})"


class RandomCrop:
    """Zero-pad the last two axes by ``padding``, then cut a random ``size`` window.

    ``size`` is an int (square) or ``(h, w)``; works on ``(H, W)`` and ``(C, H, W)``.

    >>> RandomCrop(2, padding=1, seed=0)(np.ones((1, 2, 2))).shape
    (1, 2, 2)
    """

    def __init__(self, size: int | tuple[int, int], padding: int = 0, seed: int | None = None) -> None:
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.padding = padding
        self.rng = np.random.default_rng(seed)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        p = self.padding
        if p:
            x = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(p, p), (p, p)])
        h, w = x.shape[-2:]
        th, tw = self.size
        if th > h or tw > w:
            raise ValueError(f"RandomCrop: crop {self.size} is larger than the padded image {(h, w)}")
        i = int(self.rng.integers(0, h - th + 1))
        j = int(self.rng.integers(0, w - tw + 1))
        return x[..., i : i + th, j : j + tw]

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


# ---------------------------------------------------------------- built-in datasets


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
    Needs scikit-learn: ``pip install "ag[data]"``.
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError('load_digits needs scikit-learn: pip install "ag[data]"') from exc
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
