"""The exercises' answer keys against values worked out by hand, and the runs against the keys."""

import math
import runpy
from pathlib import Path

import pytest

EXERCISES = Path(__file__).resolve().parents[2] / "exercises"


def load(name: str) -> dict:
    return runpy.run_path(str(EXERCISES / f"{name}.py"), run_name="exercise")


def changed_per_iteration(run) -> list[dict[str, float]]:
    """What each iteration left in the grads it changed, by short exam name."""
    return [{run.name(n): g for n, g in zip(s.node.inputs, s.after)} for s in run.steps]


# Hand-derived, in the exam's order. Each line: (iteration's changed grads).
HAND = {
    # x = 2: z2 = 4, z3 = 16; iteration 0 adds 4*1 twice to z2.grad, iteration 1 adds 2*8 twice
    "problem_1_1": {
        "order": ["z1:leaf(x)", "z2:mul", "z3:mul"],
        "iterations": [{"z2": 8.0}, {"z1": 32.0}, {}],
        "grads": {"x": 32.0},
    },
    # z4 = z1*z3: z1 += 8*1, z3 += 2*1; z3 = z1*z2: z1 += 4*2 (16), z2 += 2*2; z2 = z1*z1: z1 += 2*4 twice
    "problem_1_1a": {
        "order": ["z1:leaf(x)", "z2:mul", "z3:mul", "z4:mul"],
        "iterations": [{"z1": 8.0, "z3": 2.0}, {"z1": 16.0, "z2": 4.0}, {"z1": 32.0}, {}],
        "grads": {"x": 32.0},
    },
    # log(exp(6)): z4.grad = 1/e^6, z3.grad = e^6 * e^-6 = 1, x.grad = y = 3, y.grad = x = 2
    "problem_1_2": {
        "order": ["z1:leaf(x)", "z2:leaf(y)", "z3:mul", "z4:exp", "z5:log"],
        "iterations": [{"z4": math.exp(-6)}, {"z3": 1.0}, {"z1": 3.0, "z2": 2.0}, {}, {}],
        "grads": {"x": 3.0, "y": 2.0},
    },
    # relu(4*3 + 5*2) * 6: z8 = 22 > 0; wr.grad = h0*6 = 18, wi.grad = x1*6 = 12, wo.grad = 22
    "problem_1_3": {
        "order": ["z3:leaf(wr)", "z2:leaf(h0)", "z5:mul", "z4:leaf(wi)", "z1:leaf(x1)",
                  "z6:mul", "z7:add", "z8:relu", "z9:leaf(wo)", "z10:mul"],
        "iterations": [{"z8": 6.0, "z9": 22.0}, {}, {"z7": 6.0}, {"z5": 6.0, "z6": 6.0},
                       {"z4": 12.0, "z1": 30.0}, {}, {}, {"z3": 18.0, "z2": 24.0}, {}, {}],
        "grads": {"wr": 18.0, "wi": 12.0, "wo": 22.0, "h0": 24.0, "x1": 30.0},
    },
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_exam_problem_answer_key(name):
    ns = load(name)
    hand = HAND[name]
    answer = ns["ANSWER"]
    assert answer["order"] == hand["order"]
    assert answer["grads"] == pytest.approx(hand["grads"])
    assert [pytest.approx(d) for d in answer["iterations"]] == hand["iterations"]
    run = ns["TRACE"].last
    assert run.order_text() == "[" + ", ".join(hand["order"]) + "]"
    assert changed_per_iteration(run) == [pytest.approx(d) for d in hand["iterations"]]
    for var, grad in hand["grads"].items():
        assert ns[var].grad == pytest.approx(grad)


def test_problem_1_3_iteration_rules_read_like_the_exam():
    run = load("problem_1_3")["TRACE"].last
    assert [str(r) for r in run.rules(0)] == [
        "z8.grad += z9.value * z10.grad = 6 * 1",
        "z9.grad += z8.value * z10.grad = 22 * 1",
    ]
    assert [str(r) for r in run.rules(2)] == ["z7.grad += (z8.value > 0) * z8.grad = (22 > 0) * 6"]
    assert run.update_lines(7) == ["z3.grad = 0 + 3 * 6 = 18", "z2.grad = 0 + 4 * 6 = 24"]


def test_softmax_regression_gradient():
    pytest.importorskip("ag.tensor")
    ns = load("softmax_regression")
    # Theta = 0: Z = 1/3 everywhere; X^T (Z - I_y) / 2 with X = [[1, 2], [3, -1]], y = [0, 2]
    hand = [[1 / 6, 2 / 3, -5 / 6], [-5 / 6, 1 / 6, 2 / 3]]
    np = pytest.importorskip("numpy")
    np.testing.assert_allclose(ns["ANSWER"]["grads"]["Theta"], hand, rtol=1e-12)
    assert ns["ANSWER"]["loss"] == pytest.approx(math.log(3))
    np.testing.assert_allclose(ns["Theta"].grad, hand, rtol=1e-12)
    assert ns["loss"].item() == pytest.approx(math.log(3))


def test_softmax_regression_formula_at_a_random_point():
    np = pytest.importorskip("numpy")
    ag = pytest.importorskip("ag")
    pytest.importorskip("ag.tensor")
    ns = load("softmax_regression")
    rng = np.random.default_rng(0)
    X, y, theta = rng.normal(size=(5, 3)), np.array([0, 1, 2, 1, 0]), rng.normal(size=(3, 3))
    Theta = ag.Tensor(theta.copy(), label="Theta")
    H = ag.Tensor(X, requires_grad=False) @ Theta
    Iy = ag.Tensor(np.eye(3)[y], requires_grad=False)
    ag.mean(ag.logsumexp(H, axis=1) - ag.sum(H * Iy, axis=1)).backward()
    np.testing.assert_allclose(Theta.grad, ns["formula_gradient"](X, y, theta), rtol=1e-10)


def test_one_hidden_layer():
    np = pytest.importorskip("numpy")
    pytest.importorskip("ag.tensor")
    ns = load("one_hidden_layer")
    # pre = [[-0.5, 3]], h = [[0, 3]], yhat = 2, y = 1: dyhat = 1
    hand = {"W1": [[0.0, 0.5], [0.0, 1.0]], "b1": [0.0, 0.5], "w2": [[0.0], [3.0]], "b2": [1.0]}
    assert ns["ANSWER"]["grads"] == hand and ns["ANSWER"]["loss"] == 0.5
    for name, grad in hand.items():
        np.testing.assert_allclose(ns[name].grad, grad, atol=1e-12)
    assert ns["loss"].item() == 0.5


def test_attention_block():
    np = pytest.importorskip("numpy")
    pytest.importorskip("ag.tensor")
    ns = load("attention_block")
    # Xin = I, Wq = 0: softmax is 1/2 everywhere; see the exercise's docstring for the steps
    hand = {"Wq": [[-1.0, 2.0], [-1.0, 2.0]], "Wk": [[0.0, 0.0], [0.0, 0.0]], "Wv": [[1.0, 1.0], [1.0, 1.0]]}
    assert ns["ANSWER"]["grads"] == hand
    att = ns["att"]
    for name, grad in hand.items():
        np.testing.assert_allclose(getattr(att, name).grad, grad, atol=1e-12)
    # Xout rows = mean of Xin's rows (1/2, 1/2) @ Wv = [2, 3]
    np.testing.assert_allclose(ns["Xout"].value, [[[2.0, 3.0], [2.0, 3.0]]], atol=1e-12)
    assert ns["ANSWER"]["Xout"] == [[[2.0, 3.0], [2.0, 3.0]]]


@pytest.mark.parametrize("name", ["problem_1_1", "problem_1_3"])
def test_running_an_exercise_prints_its_table(name, capsys):
    runpy.run_path(str(EXERCISES / f"{name}.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "topological order:" in out and "grads after each iteration" in out
