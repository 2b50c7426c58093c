"""A small CNN on the 8x8 digits (or on MNIST IDX files): Conv2d, ReLU, pooling, Linear.

    python exercises/cnn_digits.py                       # scikit-learn's 8x8 digits
    python exercises/cnn_digits.py --mnist ~/data/mnist  # the four MNIST IDX files (.gz or not)

The network, for an S x S grey image::

    Conv2d(1, 16, 3, padding=1) -> ReLU -> MaxPool2d(2)     # (N, 16, S/2, S/2)
    Conv2d(16, 32, 3, padding=1) -> ReLU -> AvgPool2d(2)    # (N, 32, S/4, S/4)
    Flatten -> Linear(32 * (S/4)**2, 10)

Every convolution and pooling window is cut by an im2col sparse matrix (ag.nn.Conv2d's
course path). Trained with Adam on softmax cross-entropy in float32; a tqdm bar shows
the epochs with the running loss. On the digits it reaches >= 97% test accuracy.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm  # a widget bar in notebooks, text in a terminal

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import ag  # noqa: E402
from ag.data import DataLoader, TensorDataset, load_digits, load_mnist  # noqa: E402
from ag.nn import (  # noqa: E402
    AvgPool2d,
    Conv2d,
    CrossEntropyLoss,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
    Sequential,
)
from ag.optim import Adam  # noqa: E402


def make_cnn(size: int, rng: np.random.Generator, dtype=np.float32) -> Sequential:
    """The network above for ``size x size`` one-channel images (size divisible by 4)."""
    return Sequential(
        Conv2d(1, 16, 3, padding=1, rng=rng, dtype=dtype), ReLU(), MaxPool2d(2),
        Conv2d(16, 32, 3, padding=1, rng=rng, dtype=dtype), ReLU(), AvgPool2d(2),
        Flatten(),
        Linear(32 * (size // 4) ** 2, 10, init="kaiming_uniform", dtype=dtype, rng=rng),
    )


def accuracy(model: Sequential, X: np.ndarray, y: np.ndarray, batch_size: int = 500) -> float:
    correct = 0
    with ag.no_grad():
        for start in range(0, len(X), batch_size):
            logits = model(ag.Tensor(X[start:start + batch_size], requires_grad=False)).value
            correct += int((logits.argmax(axis=1) == y[start:start + batch_size]).sum())
    return correct / len(X)


def load(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    if args.mnist:
        X_train, y_train = load_mnist(args.mnist, "train", dtype=np.float32)
        X_test, y_test = load_mnist(args.mnist, "test", dtype=np.float32)
        if args.limit:
            X_train, y_train = X_train[: args.limit], y_train[: args.limit]
        return X_train, y_train, X_test, y_test, "MNIST"
    X_train, y_train, X_test, y_test = load_digits(test_fraction=0.2, seed=0, dtype=np.float32)
    return X_train.reshape(-1, 1, 8, 8), y_train, X_test.reshape(-1, 1, 8, 8), y_test, "8x8 digits"


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description="A small CNN on the 8x8 digits or MNIST")
    parser.add_argument("--mnist", help="folder with the MNIST IDX files (default: the 8x8 digits)")
    parser.add_argument("--epochs", type=int, default=None, help="default: 30 (digits), 2 (MNIST)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--limit", type=int, default=0, help="use only this many MNIST training images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    X_train, y_train, X_test, y_test, name = load(args)
    # Centre the pixels with the training mean and spread (keeps Kaiming's scale right).
    mean, std = X_train.mean(), X_train.std()
    X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    epochs = args.epochs or (2 if args.mnist else 30)
    rng = np.random.default_rng(args.seed)
    model = make_cnn(X_train.shape[-1], rng)
    loss_fn = CrossEntropyLoss()
    opt = Adam(model.parameters(), lr=args.lr)
    loader = DataLoader(TensorDataset(X_train, y_train), batch_size=args.batch_size, shuffle=True,
                        seed=args.seed)
    print(f"{name}: {len(X_train)} training and {len(X_test)} test images of shape {X_train.shape[1:]}")
    print(model)

    start = time.perf_counter()
    bar = tqdm(range(epochs), desc="epochs", unit="epoch")
    for _ in bar:
        total, seen = 0.0, 0
        for xb, yb in loader:
            loss = loss_fn(model(ag.Tensor(xb, requires_grad=False)), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(yb)
            seen += len(yb)
        bar.set_postfix(loss=f"{total / seen:.4f}")
    seconds = time.perf_counter() - start

    test_acc = accuracy(model, X_test, y_test)
    print(f"train accuracy {accuracy(model, X_train, y_train):.4f}, test accuracy {test_acc:.4f} "
          f"after {epochs} epochs, {seconds:.1f} s of training")
    return test_acc


if __name__ == "__main__":
    main()
