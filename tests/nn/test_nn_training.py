"""ag.training: fit, evaluate, history, the loss-curve plot."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import ag
import ag.nn as nn
from ag.data import DataLoader, TensorDataset, make_moons
from ag.optim import SGD, Adam, StepLR
from ag.training import evaluate, fit, plot_history, predict


def _moons_model(seed=0):
    nn.init.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2))


def test_fit_learns_moons_and_records_history():
    X, y = make_moons(300, noise=0.1, seed=0)
    Xv, yv = make_moons(100, noise=0.1, seed=1)
    model = _moons_model()
    opt = Adam(model.parameters(), lr=0.05)
    history = fit(model, (X, y), optimizer=opt, epochs=15, val=(Xv, yv), batch_size=32, progress=False)
    assert len(history.loss) == len(history.accuracy) == len(history.val_accuracy) == 15
    assert len(history.step_loss) == 15 * 10
    assert history.loss[-1] < 0.5 * history.loss[0]
    assert history.val_accuracy[-1] > 0.95
    _, acc = evaluate(model, (Xv, yv))
    assert acc == pytest.approx(history.val_accuracy[-1])
    pred = predict(model, Xv).argmax(-1)
    assert (pred == yv).mean() == pytest.approx(acc)


def test_fit_with_mse_scheduler_and_clipping():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3))
    y = X @ np.array([[1.0], [-2.0], [0.5]])
    model = nn.Linear(3, 1)
    opt = SGD(model.parameters(), lr=0.1, momentum=0.5)
    sched = StepLR(opt, step_size=5, gamma=0.5)
    loader = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True, seed=0)
    history = fit(
        model,
        loader,
        optimizer=opt,
        loss_fn=nn.MSELoss(),
        epochs=12,
        scheduler=sched,
        clip_grad=10.0,
        progress=False,
    )
    assert history.accuracy == []  # no metric for regression
    assert history.loss[-1] < 1e-3
    assert opt.lr == pytest.approx(0.1 * 0.5**2)
    np.testing.assert_allclose(model.weight.value.ravel(), [1.0, -2.0, 0.5], atol=0.02)


def test_evaluate_restores_mode_and_builds_no_graph():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    X, y = make_moons(20, seed=0)
    evaluate(model, (X, y))
    assert model.training and model[1].training
    model.eval()
    evaluate(model, (X, y))
    assert not model.training
    with ag.no_grad():
        assert model(X).inputs == ()


def test_fit_shows_a_progress_bar(capsys):
    X, y = make_moons(40, seed=0)
    model = _moons_model()
    fit(model, (X, y), optimizer=Adam(model.parameters()), epochs=2, batch_size=20, progress=True)
    err = capsys.readouterr().err
    assert "fit" in err and "4/4" in err


def test_plot_history_writes_an_image(tmp_path):
    pytest.importorskip("matplotlib")
    X, y = make_moons(40, seed=0)
    model = _moons_model()
    history = fit(model, (X, y), optimizer=Adam(model.parameters()), epochs=3, val=(X, y), progress=False)
    fig = plot_history(history, tmp_path / "curves.png", title="moons")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(fig.axes) == 2 and fig.axes[0].get_title() == "moons"


def test_plot_without_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    from ag.training import History

    with pytest.raises(ImportError, match=r'pip install "ag-autograd\[plot\]"'):
        plot_history(History(loss=[1.0]))


def test_training_steps_free_their_graphs():
    # After each step nothing holds the old graph: the loss node of the previous
    # step is freed by reference counting, so a training loop's memory stays flat.
    import gc
    import weakref

    X, y = make_moons(64, seed=0)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 2))
    opt = Adam(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    gc.disable()
    try:
        refs = []
        for _ in range(3):
            loss = loss_fn(model(X), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            refs.append(weakref.ref(loss))
            del loss
            assert refs[-1]() is None
        assert all(p.inputs == () for p in model.parameters())
    finally:
        gc.enable()
