"""A small training loop with a progress bar and a history, and a loss-curve plot.

>>> import ag, numpy as np
>>> from ag.data import make_moons
>>> X, y = make_moons(200, seed=0)
>>> ag.nn.init.manual_seed(0)
>>> model = ag.nn.MLP(2, 16, 2)
>>> opt = ag.optim.Adam(model.parameters(), lr=0.05)
>>> history = fit(model, (X, y), optimizer=opt, epochs=20, progress=False)
>>> history.accuracy[-1] > 0.9
True

:func:`fit` runs the usual step (forward, loss, ``zero_grad``, ``backward``,
optional gradient clipping, ``optimizer.step()``) over a DataLoader for some epochs,
records the mean loss and accuracy per epoch (and on validation data), and shows a
tqdm bar. :func:`plot_history` draws the curves with matplotlib
(``pip install "ag-autograd[plot]"``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ag.autodiff import no_grad
from ag.data import DataLoader, TensorDataset
from ag.nn import functional as F
from ag.nn.losses import CrossEntropyLoss
from ag.optim import LRScheduler, Optimizer, clip_grad_norm

__all__ = ["History", "fit", "evaluate", "predict", "plot_history", "limit_blas_threads"]


def limit_blas_threads(n: int = 1) -> Any:
    """A context manager that runs NumPy's BLAS on ``n`` threads (via threadpoolctl).

    Small models multiply small matrices, where a second BLAS thread saves little
    and, on a busy machine, costs a lot: each product waits until both threads
    are scheduled (measured here: 0.04 ms -> 20 ms for a (768, 64) @ (64, 64)
    product while other processes ran). Without threadpoolctl (it comes with
    scikit-learn) this does nothing.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - depends on the environment
        return contextlib.nullcontext()
    return threadpool_limits(n, user_api="blas")


@dataclass
class History:
    """Per-epoch means: ``loss``/``accuracy`` on the training batches (as trained,
    so with dropout on), ``val_loss``/``val_accuracy`` when validation data is given;
    ``step_loss`` has every batch's loss, ``seconds`` the time of each epoch."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[float]]:
        return {k: list(v) for k, v in vars(self).items()}


Metric = Callable[[Any, Any], float]


def _model_device(model: Any) -> str | None:
    """Where the model's parameters are (None for the host): batches made here go there."""
    for p in model.parameters():
        return None if p.device == "cpu" else p.device
    return None


def _loader(
    data: Any, batch_size: int, shuffle: bool, seed: int | None, device: str | None = None
) -> DataLoader:
    if isinstance(data, DataLoader):
        return data
    dataset = TensorDataset(*data) if isinstance(data, tuple | list) else data
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, seed=seed, device=device)


def _default_metric(loss_fn: Any) -> Metric | None:
    if isinstance(loss_fn, CrossEntropyLoss) or loss_fn is F.cross_entropy:
        ignore = getattr(loss_fn, "ignore_index", None)
        return lambda out, y: F.accuracy(out, y, ignore)
    return None


def fit(
    model: Any,
    train: Any,
    *,
    optimizer: Optimizer,
    loss_fn: Callable[[Any, Any], Any] | None = None,
    epochs: int = 1,
    val: Any = None,
    batch_size: int = 64,
    seed: int | None = 0,
    metric: Metric | None | str = "auto",
    scheduler: LRScheduler | None = None,
    schedule_every: str = "epoch",
    clip_grad: float | None = None,
    progress: bool = True,
    max_seconds: float | None = None,
) -> History:
    """Train ``model`` and return its :class:`History`.

    ``train`` and ``val`` are DataLoaders, Datasets or ``(X, y)`` tuples (then
    batched by ``batch_size``, the training data shuffled with ``seed``).
    ``loss_fn`` defaults to cross-entropy, whose ``metric`` defaults to accuracy.
    ``scheduler.step()`` runs after each epoch (``schedule_every="epoch"``) or each
    batch (``"step"``). ``max_seconds`` stops after the epoch that crosses it.
    """
    from tqdm.auto import tqdm

    if schedule_every not in ("epoch", "step"):
        raise ValueError(f"schedule_every must be 'epoch' or 'step', got {schedule_every!r}")
    loss_fn = CrossEntropyLoss() if loss_fn is None else loss_fn
    metric = _default_metric(loss_fn) if metric == "auto" else metric
    device = _model_device(model)
    loader = _loader(train, batch_size, True, seed, device)
    val_loader = None if val is None else _loader(val, batch_size, False, None, device)
    params = model.parameters()
    history = History()
    start = time.perf_counter()
    bar = tqdm(total=epochs * len(loader), disable=not progress, desc="fit", leave=True)
    try:
        for epoch in range(epochs):
            t0 = time.perf_counter()
            model.train()
            total_loss = total_metric = 0.0
            seen = 0
            for batch in loader:
                xb, yb = batch[0], batch[1]
                out = model(xb)
                loss = loss_fn(out, yb)
                optimizer.zero_grad()
                loss.backward()
                if clip_grad is not None:
                    clip_grad_norm(params, clip_grad)
                optimizer.step()
                if scheduler is not None and schedule_every == "step":
                    scheduler.step()
                n = len(xb)
                value = loss.item()
                history.step_loss.append(value)
                total_loss += value * n
                if metric is not None:
                    total_metric += metric(out, yb) * n
                seen += n
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{value:.4f}", refresh=False)
            if scheduler is not None and schedule_every == "epoch":
                scheduler.step()
            history.loss.append(total_loss / seen)
            if metric is not None:
                history.accuracy.append(total_metric / seen)
            if val_loader is not None:
                vl, va = evaluate(model, val_loader, loss_fn=loss_fn, metric=metric)
                history.val_loss.append(vl)
                if va is not None:
                    history.val_accuracy.append(va)
            history.seconds.append(time.perf_counter() - t0)
            post = {"epoch": epoch + 1, "loss": f"{history.loss[-1]:.4f}"}
            if history.val_accuracy:
                post["val_acc"] = f"{history.val_accuracy[-1]:.3f}"
            bar.set_postfix(post)
            if max_seconds is not None and time.perf_counter() - start > max_seconds:
                break
    finally:
        bar.close()
    return history


def evaluate(
    model: Any,
    data: Any,
    *,
    loss_fn: Callable[[Any, Any], Any] | None = None,
    metric: Metric | None | str = "auto",
    batch_size: int = 256,
) -> tuple[float, float | None]:
    """Mean loss and metric over ``data`` in eval mode without building graphs.

    The model's train/eval mode is restored afterwards.
    """
    loss_fn = CrossEntropyLoss() if loss_fn is None else loss_fn
    metric = _default_metric(loss_fn) if metric == "auto" else metric
    loader = _loader(data, batch_size, False, None, _model_device(model))
    was_training = getattr(model, "training", False)
    model.eval()
    total_loss = total_metric = 0.0
    seen = 0
    try:
        with no_grad():
            for batch in loader:
                xb, yb = batch[0], batch[1]
                out = model(xb)
                n = len(xb)
                total_loss += loss_fn(out, yb).item() * n
                if metric is not None:
                    total_metric += metric(out, yb) * n
                seen += n
    finally:
        model.train(was_training)
    return total_loss / seen, (total_metric / seen if metric is not None else None)


def predict(model: Any, X: Any, batch_size: int = 256) -> np.ndarray:
    """The model's outputs on ``X`` as a NumPy array (eval mode, no graph)."""
    was_training = getattr(model, "training", False)
    model.eval()
    from ag.gpu.device import move_array

    device = _model_device(model)
    outs = []
    try:
        with no_grad():
            for start in range(0, len(X), batch_size):
                xb = X[start : start + batch_size]
                if device is not None and not hasattr(xb, "requires_grad"):
                    xb = move_array(xb, device)  # host rows to the model's device
                outs.append(np.asarray(model(xb).numpy()))
    finally:
        model.train(was_training)
    return np.concatenate(outs)


def plot_history(history: History, path: str | None = None, title: str = "") -> Any:
    """Loss (and accuracy, when recorded) per epoch as a matplotlib Figure.

    Saves to ``path`` when given; in Jupyter the returned Figure displays inline.
    Needs matplotlib (``pip install "ag-autograd[plot]"``).
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError('plot_history needs matplotlib: pip install "ag-autograd[plot]"') from exc
    panels = 2 if history.accuracy else 1
    fig = Figure(figsize=(5 * panels, 3.5), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    epochs = np.arange(1, len(history.loss) + 1)
    axes[0].plot(epochs, history.loss, label="train")
    if history.val_loss:
        axes[0].plot(epochs[: len(history.val_loss)], history.val_loss, label="validation")
    axes[0].set(xlabel="epoch", ylabel="loss", title=title or "loss")
    axes[0].legend()
    if panels == 2:
        axes[1].plot(epochs, history.accuracy, label="train")
        if history.val_accuracy:
            axes[1].plot(epochs[: len(history.val_accuracy)], history.val_accuracy, label="validation")
        axes[1].set(xlabel="epoch", ylabel="accuracy", title="accuracy")
        axes[1].legend()
    if path is not None:
        fig.savefig(path)
    return fig
