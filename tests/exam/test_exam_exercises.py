"""The bug-injection and fastai lesson-8 exercises run, and their answer keys hold."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ag.exam.bug_hunt import CANDIDATES, exercise, find_broken

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
EXERCISES = ROOT / "exercises"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"exercise_{name}", EXERCISES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# -- find the broken backward ---------------------------------------------------------------------


def test_gradcheck_finds_exactly_the_broken_op():
    broken_seen = set()
    for seed in range(30):
        ex = exercise(seed)
        assert find_broken(ex) == [ex.broken], seed
        assert ex.key.startswith(f"{ex.broken} is the broken one: {CANDIDATES[ex.broken][3][2]}")
        broken_seen.add(ex.broken)
    assert len(broken_seen) >= 5  # the seeds break different rules


def test_every_candidate_is_right_unbroken_and_caught_broken():
    import ag
    from ag.exam.bug_hunt import _inputs, _make
    from ag.testing import gradcheck

    rng = np.random.default_rng(1)
    for name in CANDIDATES:
        arrays = _inputs(name, rng)
        for broken in (False, True):
            ts = [ag.tensor(a.copy(), requires_grad=True) for a in arrays]
            assert bool(gradcheck(_make(name, broken), *ts, raise_exception=False)) is not broken, name


def test_bug_hunt_handout_runs(capsys):
    module = load("find_the_broken_backward")
    assert module.main(["--seed", "3", "--solve", "--key"]) == 0
    out = capsys.readouterr().out
    ex = exercise(3)
    assert f"gradcheck fails for: {ex.broken}" in out and ex.key in out
    assert module.main(["--seed", "3"]) == 0
    assert "Answer key" not in capsys.readouterr().out


# -- fastai lesson 8 --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lesson():
    return load("fastai_lesson8")


def test_four_matmuls_agree(lesson):
    rng = np.random.default_rng(0)
    for shape in ((1, 1, 1), (3, 4, 2), (5, 7, 3)):
        a, b = rng.standard_normal(shape[:2]), rng.standard_normal(shape[1:])
        for fn in lesson.MATMULS.values():
            np.testing.assert_allclose(fn(a, b), a @ b, rtol=1e-12, atol=1e-12)


@given(st.data())
def test_broadcast_rules_match_numpy(data):
    a = data.draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4))
    b = data.draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4))
    try:
        want = np.broadcast_shapes(a, b)
    except ValueError:
        with pytest.raises(ValueError, match="do not broadcast"):
            lesson_module().broadcast_shape(a, b)
        return
    assert lesson_module().broadcast_shape(a, b) == want


_LESSON = {}


def lesson_module():
    if "m" not in _LESSON:
        _LESSON["m"] = load("fastai_lesson8")
    return _LESSON["m"]


def test_hand_written_backward_matches_ag_and_finite_differences(lesson):
    x, w1, b1, w2, b2, y = lesson.data(seed=3)
    loss, grads = lesson.forward_and_backward(x, w1, b1, w2, b2, y)
    ag_loss, ag_grads = lesson.ag_gradients(x, w1, b1, w2, b2, y)
    assert np.isclose(loss, ag_loss)
    params = dict(x=x, w1=w1, b1=b1, w2=w2, b2=b2)
    h = 1e-6
    for name, value in params.items():
        np.testing.assert_allclose(grads[name], ag_grads[name], rtol=1e-10, atol=1e-12)
        numeric = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            moved = {k: v.copy() for k, v in params.items()}
            moved[name][idx] += h
            up = lesson.forward_and_backward(y=y, **moved)[0]
            moved[name][idx] -= 2 * h
            down = lesson.forward_and_backward(y=y, **moved)[0]
            numeric[idx] = (up - down) / (2 * h)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-5, atol=1e-7)


def test_modules_give_the_same_loss_and_grads(lesson):
    x, w1, b1, w2, b2, y = lesson.data(seed=4)
    loss, grads = lesson.forward_and_backward(x, w1, b1, w2, b2, y)
    model = lesson.Model(*(v.view(lesson.Array) for v in (w1, b1, w2, b2)))
    xs = x.view(lesson.Array)
    assert np.isclose(model(xs, y), loss)
    model.backward()
    first, last = model.layers[0], model.layers[2]
    for got, name in ((first.w.g, "w1"), (first.b.g, "b1"), (last.w.g, "w2"), (last.b.g, "b2"), (xs.g, "x")):
        np.testing.assert_allclose(got, grads[name], rtol=1e-12, atol=1e-12)


def test_kaiming_keeps_activations_in_scale(lesson):
    normal, lecun, kaiming = (lesson.activation_stds(i, depth=20, width=128, batch=256)
                              for i in ("normal", "lecun", "kaiming"))
    assert normal[-1] > 1e10            # N(0, 1) weights: the std grows ~ sqrt(width/2) a layer
    assert lecun[-1] < 1e-2             # 1/fan_in without the ReLU gain: halves the variance a layer
    assert all(0.3 < s < 3 for s in kaiming)  # 2/fan_in: stays near 1 through 20 layers


def test_lesson_runs(lesson, capsys):
    assert lesson.main([]) == 0
    out = capsys.readouterr().out
    assert "agree: True" in out and out.count(": True") == 3
