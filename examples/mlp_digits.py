"""An MLP on scikit-learn's 8x8 digits: >= 95% test accuracy in seconds.

    python examples/mlp_digits.py [--epochs 30] [--plot curves.png]

Data: 1797 images of 8x8 pixels (bundled with scikit-learn, no download; ``pip
install "ag-autograd[data]"``), 80/20 train/test split. Model: 64 -> 128 -> 10 with ReLU,
trained with Adam and softmax cross-entropy in float32.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ag.nn as nn  # noqa: E402
from ag.data import DataLoader, TensorDataset, load_digits  # noqa: E402
from ag.optim import Adam, CosineLR  # noqa: E402
from ag.training import evaluate, fit, limit_blas_threads, plot_history  # noqa: E402


def main(epochs: int = 30, seed: int = 0, progress: bool = True, plot: str | None = None) -> dict[str, float]:
    nn.init.manual_seed(seed)
    X_train, y_train, X_test, y_test = load_digits(seed=seed, dtype=np.float32)
    model = nn.Sequential(
        nn.Linear(64, 128, init="kaiming_uniform", dtype=np.float32),
        nn.ReLU(),
        nn.Linear(128, 10, dtype=np.float32),
    )
    optimizer = Adam(model.parameters(), lr=3e-3)
    scheduler = CosineLR(optimizer, total=epochs)
    train = DataLoader(TensorDataset(X_train, y_train), batch_size=32, shuffle=True, seed=seed)
    start = time.perf_counter()
    with limit_blas_threads(1):  # small matrices: one BLAS thread is faster
        history = fit(
            model,
            train,
            optimizer=optimizer,
            epochs=epochs,
            val=(X_test, y_test),
            scheduler=scheduler,
            progress=progress,
        )
        seconds = time.perf_counter() - start
        test_loss, test_acc = evaluate(model, (X_test, y_test))
    if plot:
        plot_history(history, plot, title="MLP on 8x8 digits")
    return {"test_accuracy": test_acc, "test_loss": test_loss, "seconds": seconds, "epochs": epochs}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default=None, help="save the loss curves to this image file")
    args = parser.parse_args()
    result = main(args.epochs, args.seed, plot=args.plot)
    print(
        f"test accuracy {result['test_accuracy']:.4f} (loss {result['test_loss']:.4f}) "
        f"after {args.epochs} epochs in {result['seconds']:.1f} s"
    )
