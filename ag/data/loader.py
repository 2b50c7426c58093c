"""Datasets and the DataLoader: samples by index, batches by epoch.

>>> import numpy as np
>>> loader = DataLoader(TensorDataset(np.arange(10.0), np.arange(10)), batch_size=4)
>>> [len(xb) for xb, yb in loader]
[4, 4, 2]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np


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
            return collate([self[int(i)] for i in indices])
        return tuple(a[indices] for a in self.arrays)


def collate(samples: list) -> Any:
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
            yield collate(samples)
