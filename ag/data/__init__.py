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
``pip install "ag-autograd[data]"``), and :func:`read_idx` / :func:`load_mnist` for MNIST
IDX files you already have.
"""

from ag.data.datasets import (
    load_digits,
    load_mnist,
    make_moons,
    make_spirals,
    read_idx,
    sequence_task,
    train_test_split,
    write_idx,
)
from ag.data.loader import DataLoader, Dataset, TensorDataset
from ag.data.transforms import Compose, Normalize, RandomCrop, RandomFlipHorizontal

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
