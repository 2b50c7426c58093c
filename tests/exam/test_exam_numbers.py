"""Default problems worth grading (issue 25, item 10) and key checks that really compare (item 15).

The figures are computed by ``benchmarks/exam_problem_figures.py`` (the same numbers the
closing note of the issue quotes); the planted faults are fed to the checks and must be
refused.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

from ag.exam import generate
from ag.exam.exact import read_number
from ag.exam.forms import exact_form
from ag.exam.generator import Shape, check_keys, hand_solvable
from ag.exam.problem import problem_from_shape

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())


def _figures_module():
    spec = importlib.util.spec_from_file_location("exam_problem_figures",
                                                  ROOT / "benchmarks" / "exam_problem_figures.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["exam_problem_figures"] = module
    spec.loader.exec_module(module)
    return module


def test_issue_25_item_10_default_problems_are_not_degenerate():
    # before: 32 of 83 leaf grads 0 (39%), 12 of 30 outputs 0, exp only at 0, log only at 1
    f = _figures_module().figures(list(range(1, 31)))
    assert f["problems"] == 30 and f["leaf_grads"] >= 60
    assert f["zero_leaf_share"] <= 0.10, f
    assert f["zero_outputs"] <= 1, f
    assert len(f["exp_arguments"]) >= 6 and len(f["log_arguments"]) >= 6, f
    assert f["grads_in_exact_form"] > 0  # e^-6 and friends reach the key


def test_the_finals_problem_log_exp_xy_by_hand():
    # finals problem 1.2: z3 = x*y = 6, z4 = exp(z3) = e^6, z5 = log(z4) = 6;
    # z4.grad = 1/z4 = e^-6, z3.grad = z4 * z4.grad = 1, x.grad = y = 3, y.grad = x = 2
    shape = Shape(2, [("mul", (0, 1)), ("exp", (2,)), ("log", (3,))])
    assert hand_solvable(shape, [2.0, 3.0], 2, 200.0) is not None  # short decimals only: refused
    assert hand_solvable(shape, [2.0, 3.0], 2, 200.0, max_exponent=8) is None
    p = problem_from_shape(shape, [2.0, 3.0])
    assert p.answers == {"x": 3.0, "y": 2.0}
    forms = p.exact_forms
    assert forms[("forward", "z4.value")] == "e^6" and forms[("1", "z4.grad")] == "1/e^6"
    assert ("forward", "z5.value") not in forms  # 6 is a short decimal
    text = p.text()
    assert "1/e^6" in text and "e^6" in text
    from ag.exam.key import ProblemKey

    rows = {(r.iteration, r.quantity): r for r in ProblemKey.from_problem(p).rows}
    assert rows[("0", "z4.grad")].exact == "1/e^6"
    assert math.isclose(rows[("0", "z4.grad")].answer, math.exp(-6))


@pytest.mark.parametrize("x,form", [
    (math.exp(6), "e^6"), (math.exp(-6), "1/e^6"), (3 * math.exp(2), "3 e^2"), (-math.exp(0.5), "-e^0.5"),
    (math.log(2), "ln 2"), (-2 * math.log(3), "-2 ln 3"), (2 * math.log(2), "2 ln 2"),
    (0.25, "0.25"), (-6.0, "-6"), (math.pi, None), (1 + math.exp(2), None), (math.exp(20), None),
    (1e308, None), (-1e307, None),  # huge: no overflow while trying e^-k
])
def test_exact_forms_by_hand_and_read_back(x, form):
    assert exact_form(x) == form
    if form is not None:
        assert math.isclose(read_number(form), x, rel_tol=1e-12)


def test_a_long_coefficient_is_not_a_form():
    # e^8 once came out as 729416.37/e^5.5 (a coincidence to nine digits)
    assert exact_form(math.exp(8), 2, 1e6, 8.0) == "e^8"


# -- item 15: the checks compare, and refuse a perturbed key ------------------------------------


def _small_problem():
    shape = Shape(2, [("mul", (0, 1)), ("exp", (2,)), ("add", (3, 0))])
    leaves = [1.0, -2.0]
    p = problem_from_shape(shape, leaves)
    key = [p.run.final_grads()[f"z{k + 1}"] for k in range(shape.size)]
    return shape, leaves, key


def test_check_keys_refuses_every_perturbed_grad():
    shape, leaves, key = _small_problem()
    assert check_keys(shape, leaves, key) == shape.size
    for k in range(shape.size):
        wrong = list(key)
        wrong[k] = key[k] + 0.01 * max(1.0, abs(key[k]))
        with pytest.raises(AssertionError, match=f"z{k + 1}.grad"):
            check_keys(shape, leaves, wrong)


def test_check_keys_refuses_a_key_it_cannot_compare():
    # the planted fault: a check comparing nothing still reported its count
    shape, leaves, key = _small_problem()
    for short in ([], key[:-1]):
        with pytest.raises(AssertionError, match="refusing"):
            check_keys(shape, leaves, short)


def test_generate_refuses_a_wrong_kit_backward(monkeypatch):
    # a backward pass that adds 1 % to one grad: the key must not be printed
    from ag.trace_record import BackwardTrace

    real = BackwardTrace.final_grads

    def perturbed(self):
        grads = dict(real(self))
        name = sorted(grads)[0]
        grads[name] = grads[name] * 1.01 + 0.01
        return grads

    monkeypatch.setattr(BackwardTrace, "final_grads", perturbed)
    with pytest.raises(AssertionError, match="refusing"):
        generate(seed=4)


def test_generate_refuses_a_wrong_leaf_grad(monkeypatch):
    # the leaves' grads (the answer line) are checked against the printed code itself
    import ag.exam.problem as problem

    real = problem._run

    def run(code, seed):
        trace, ns = real(code, seed)
        ns["x"].grad = ns["x"].grad + 0.5
        return trace, ns

    monkeypatch.setattr(problem, "_run", run)
    with pytest.raises(AssertionError, match="x.grad"):
        generate(seed=4)
