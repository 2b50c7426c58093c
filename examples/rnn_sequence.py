"""An Elman RNN (the course's recurrent cell, with vectors) that learns to reverse digits.

    python examples/rnn_sequence.py [--epochs 8] [--length 6]

Task (``ag.data.sequence_task("reverse", ...)``): the RNN reads ``x1..xL``, then a
separator, then ``L`` blank tokens; during the blanks it must output ``xL..x1``,
so it has to hold the whole sequence in its hidden state. Model: an embedding,
``ag.nn.RNN`` with tanh, ``h_t = tanh(x_t Wi + h_{t-1} Wr + b)``, and a linear
read-out at every step; Adam with gradient clipping. Reported: per-token accuracy
on held-out sequences (chance is 10%).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ag  # noqa: E402
import ag.nn as nn  # noqa: E402
from ag.data import DataLoader, TensorDataset, sequence_task  # noqa: E402
from ag.optim import Adam, CosineLR  # noqa: E402
from ag.training import evaluate, fit, limit_blas_threads  # noqa: E402

VOCAB, SEP, BLANK, IGNORE = 10, 10, 11, -1


class Reverser(nn.Module):
    """Embedding -> Elman RNN -> linear read-out at every step."""

    def __init__(self, hidden: int = 128) -> None:
        super().__init__()
        f32 = np.float32
        self.embed = nn.Embedding(VOCAB + 2, 32, dtype=f32)
        self.rnn = nn.RNN(32, hidden, nonlinearity="tanh", dtype=f32)
        self.head = nn.Linear(hidden, VOCAB, dtype=f32)

    def forward(self, tokens: np.ndarray) -> ag.Tensor:
        outputs, _ = self.rnn(self.embed(tokens))
        return self.head(outputs)


def make_data(n: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``x, SEP, BLANK*L``; targets ``IGNORE*(L+1), reversed x``."""
    x, y = sequence_task("reverse", n, length, vocab=VOCAB, seed=seed)
    inputs = np.concatenate([x, np.full((n, 1), SEP), np.full((n, length), BLANK)], axis=1)
    targets = np.concatenate([np.full((n, length + 1), IGNORE), y], axis=1)
    return inputs, targets


def main(
    epochs: int = 8, length: int = 6, n_train: int = 20000, seed: int = 0, progress: bool = True
) -> dict[str, float]:
    nn.init.manual_seed(seed)
    inputs, targets = make_data(n_train, length, seed)
    test_inputs, test_targets = make_data(1000, length, seed + 1)
    # hold out: keep only test sequences that the training set does not contain
    seen = {row.tobytes() for row in inputs[:, :length]}
    fresh = np.array([row.tobytes() not in seen for row in test_inputs[:, :length]])
    test = (test_inputs[fresh], test_targets[fresh])
    model = Reverser()
    loader = DataLoader(TensorDataset(inputs, targets), batch_size=32, shuffle=True, seed=seed)
    optimizer = Adam(model.parameters(), lr=3e-3)
    scheduler = CosineLR(optimizer, total=epochs * len(loader))
    loss_fn = nn.CrossEntropyLoss(ignore_index=IGNORE)
    start = time.perf_counter()
    with limit_blas_threads(1):  # small matrices: one BLAS thread is faster
        fit(
            model,
            loader,
            optimizer=optimizer,
            loss_fn=loss_fn,
            epochs=epochs,
            scheduler=scheduler,
            schedule_every="step",
            clip_grad=1.0,
            progress=progress,
        )
        seconds = time.perf_counter() - start
        _, accuracy = evaluate(model, test, loss_fn=loss_fn)
    return {"test_token_accuracy": accuracy, "seconds": seconds, "test_sequences": int(fresh.sum())}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--length", type=int, default=6)
    parser.add_argument("--train", type=int, default=20000, help="training sequences")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    r = main(args.epochs, args.length, args.train, args.seed)
    print(
        f"test token accuracy {r['test_token_accuracy']:.4f} on {r['test_sequences']} held-out sequences "
        f"(chance 0.1) after {args.epochs} epochs, "
        f"training took {r['seconds']:.1f} s"
    )
