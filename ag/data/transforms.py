"""Transforms for image-like samples: Compose, Normalize, random flips and crops."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


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
