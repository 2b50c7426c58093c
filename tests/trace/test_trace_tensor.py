"""Tensor traces a student can check by eye: full matrices, no rows for inputs without grad.

The expected numbers are worked by hand (softmax regression at Theta = 0: every row of
softmax is 1/3, so Theta.grad = X^T (1/3 - I_y) / m).
"""

import re

import numpy as np
import pytest

import ag
from ag.number_format import NOT_REACHED, format_number, matrix_latex, matrix_lines, matrix_text


def softmax_regression():
    X = ag.Tensor(np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.0]]), label="X", requires_grad=False)
    Iy = ag.Tensor(np.eye(3)[[0, 2, 1]], label="I_y", requires_grad=False)
    W = ag.Tensor(np.zeros((2, 3)), label="W")
    b = ag.Tensor(np.zeros(3), label="b")
    Z = X @ W + b
    loss = ag.mean(ag.logsumexp(Z, axis=1) - ag.sum(Z * Iy, axis=1))
    return X, Iy, W, b, loss


# by hand: P = 1/3 everywhere, (P - Y)/m with m = 3
P_MINUS_Y = (np.full((3, 3), 1 / 3) - np.eye(3)[[0, 2, 1]]) / 3
X_DATA = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.0]])
W_GRAD = X_DATA.T @ P_MINUS_Y  # X^T (P - Y) / m
B_GRAD = P_MINUS_Y.sum(axis=0)  # summed over the rows (the broadcast axis 0)


def numbers_in(text: str) -> list[float]:
    return [float(t) for t in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text)]


def test_hand_values_match_the_engine():
    X, Iy, W, b, loss = softmax_regression()
    loss.backward()
    np.testing.assert_allclose(W.grad, W_GRAD, atol=1e-12)
    np.testing.assert_allclose(b.grad, B_GRAD, atol=1e-12)


@pytest.mark.parametrize("form", ["text", "markdown", "latex"])
def test_every_element_of_a_small_gradient_appears(form):
    X, Iy, W, b, loss = softmax_regression()
    with ag.trace() as t:
        loss.backward()
    out = getattr(t.last, form)()
    found = numbers_in(out)
    for expected in (*W_GRAD.ravel(), *B_GRAD.ravel()):
        shown = float(format_number(expected))
        assert any(abs(v - shown) < 1e-9 for v in found), (form, expected)
    # the final W.grad matrix in full, row by row, in the text form
    if form == "text":
        for line in matrix_lines(W_GRAD):
            assert line in out


@pytest.mark.parametrize("form", ["text", "markdown", "latex"])
def test_inputs_without_grad_get_no_rule_and_no_row(form):
    X, Iy, W, b, loss = softmax_regression()
    run = ag.backward_trace(loss)
    out = getattr(run, form)()
    assert "X.grad" not in out and "I_y.grad" not in out
    assert "W.grad" in out and "b.grad" in out
    for k in range(len(run.steps)):
        assert all(r.target not in ("X", "I_y") for r in run.rules(k))
    assert [run.name(run.order[i]) for i in run.graded()].count("X") == 0


def test_broadcast_sum_is_an_explicit_step():
    X, Iy, W, b, loss = softmax_regression()
    run = ag.backward_trace(loss)
    k = next(k for k, s in enumerate(run.steps) if s.node.op == "add")
    b_rule = next(r for r in run.rules(k) if r.target == "b")
    assert b_rule.notes == ("summed over broadcast axes (0,) to b's shape (3,)",)
    assert "(3, 3)" in b_rule.shapes and "b.grad (3,)" in b_rule.shapes
    for form in (run.text(), run.markdown(), run.latex()):
        assert "summed over broadcast axes (0,) to b's shape (3,)" in form


def test_text_lines_stay_short_and_not_reached_is_one_symbol():
    X, Iy, W, b, loss = softmax_regression()
    run = ag.backward_trace(loss)
    text = run.text()
    assert max(len(line) for line in text.splitlines()) <= 100
    import runpy
    attention = runpy.run_path(str(__import__("pathlib").Path(__file__).parents[2] / "exercises"
                                   / "attention_block.py"), run_name="x")["TRACE"].last.text()
    assert max(len(line) for line in attention.splitlines()) <= 100
    assert "None" not in text and "None" not in run.markdown()
    s = ag.Scalar(2.0, label="s")
    r = ag.backward_trace(s * s * s)
    assert NOT_REACHED in r.text().split("grads after each iteration")[1]


def test_large_arrays_get_a_summary_and_how_to_see_more():
    W = ag.Tensor(np.arange(49.0).reshape(7, 7) / 7, label="W")
    run = ag.backward_trace(ag.sum(W * W))
    text = run.text()
    assert "shape (7, 7), 49 elements: min 0, max 13.71" in text  # 2 * 48/7
    assert "max_elements=49" in text and "--max-elements 49" in text
    full = run.text(max_elements=49)
    assert "max_elements=49" not in full
    with ag.trace(max_elements=100) as t:
        W.grad = None
        ag.sum(W * W).backward()
    assert "max_elements=49" not in t.last.text()


def test_matrix_format_aligns_and_never_writes_minus_zero():
    a = np.array([[-0.0, 1.5], [-1e-20, -2.25]])
    lines = matrix_lines(a)
    assert lines == ["[[0   1.5 ]", " [0  -2.25]]"]
    assert "-0" not in matrix_text(np.array([-0.0, -0.0]))
    assert matrix_latex(np.array([[1.0, -0.0]])) == r"\begin{bmatrix} 1 & 0 \end{bmatrix}"
    assert format_number(-0.0) == "0" and format_number(-4e-7, 2) == "-4e-07"
    assert matrix_text(np.eye(2), digits=3) == "[[1  0]\n [0  1]]"


def test_digits_are_configurable():
    w = ag.Tensor(np.array([1 / 3, 2 / 3]), label="w")
    run = ag.backward_trace(ag.sum(w * w))
    assert "0.666667" in run.text() and "0.667" in run.text(digits=3)
    with ag.trace(digits=2) as t:
        w.grad = None
        ag.sum(w * w).backward()
    assert "[0.67  1.3]" in t.last.text()


def test_cli_max_elements_flag(tmp_path, capsys):
    from ag.cli import main

    f = tmp_path / "big.py"
    f.write_text("import ag, numpy as np\nW = ag.Tensor(np.ones((7, 7)), label='W')\n"
                 "ag.sum(W * W).backward()\n")
    assert main(["trace", str(f)]) == 0
    assert "--max-elements 49" in capsys.readouterr().out
    assert main(["trace", str(f), "--max-elements", "49"]) == 0
    out = capsys.readouterr().out
    assert "--max-elements 49" not in out and "[[2  2  2  2  2  2  2]" in out


def rule_of(run, op):
    k = next(k for k, s in enumerate(run.steps) if s.node.op == op)
    return run.rules(k)


@pytest.mark.parametrize("form", ["text", "markdown", "latex"])
def test_rules_are_filled_in_in_every_form(form):
    x = ag.Tensor(np.arange(6.0).reshape(2, 3), label="x")
    W = ag.Tensor(np.ones((3, 2)), label="W")
    y = (ag.sum(x[:, [0, 2]]) + ag.mean(x, axis=1).sum() + ag.sum(x.T @ x.T.T, axis=0, keepdims=True).sum()
         + ag.sum(x @ W))
    run = ag.backward_trace(y)
    out = getattr(run, form)()
    if form == "latex":
        out = out.replace(r"\_", "_").replace(r"\{", "{").replace(r"\}", "}")
    for expected in (
        "x.grad[:, [0, 2]] += ",  # the index of the getitem
        "(x.grad has shape (2, 3); 0 elsewhere",
        "/ 3",  # the count of mean over axis 1 of a (2, 3)
        "mean over axis 1, keepdims=False: 3 elements each",
        "sum over axis 0, keepdims=True",
        ".transpose(1, 0)",  # the inverse permutation of a transpose
        "the inverse of the permutation (1, 0)",
        "W.grad += x.value.T @ ",  # the course's matrix-calculus form
    ):
        assert expected in out, (form, expected)


def test_rule_facts_match_the_gradient():
    # mean over axis 0 of a (4, 3): each element gets out.grad / 4; the rule says / 4
    x = ag.Tensor(np.arange(12.0).reshape(4, 3), label="x")
    run = ag.backward_trace(ag.sum(ag.mean(x, axis=0) * np.array([1.0, 2.0, 3.0])))
    (rule,) = rule_of(run, "mean")
    assert "broadcast_to(z1.grad.reshape(1, 3), (4, 3)) / 4" in rule.symbolic
    np.testing.assert_allclose(x.grad, np.tile([0.25, 0.5, 0.75], (4, 1)))
    # a permutation (2, 0, 1) is undone by its inverse (1, 2, 0)
    t = ag.Tensor(np.zeros((2, 3, 4)), label="t")
    run = ag.backward_trace(ag.sum(ag.transpose(t, (2, 0, 1))))
    (rule,) = rule_of(run, "transpose")
    assert ".transpose(1, 2, 0)" in rule.symbolic and "permutation (2, 0, 1)" in rule.symbolic
    assert np.transpose(np.transpose(np.zeros((2, 3, 4)), (2, 0, 1)), (1, 2, 0)).shape == (2, 3, 4)


def test_rich_displays_for_notebooks():
    from ag.exam import generate

    problem = generate(seed=3, ops=["mul", "add"], nodes=2)
    assert problem._repr_markdown_() == problem.markdown()
    X, Iy, W, b, loss = softmax_regression()
    with ag.trace() as t:
        loss.backward()
    assert t._repr_markdown_() == t.markdown() and "<pre" in t._repr_html_()
    md = W._repr_markdown_()
    assert "requires_grad `True`" in md and "grad:" in md
    for line in matrix_lines(W.grad):
        assert line in md
    assert "requires_grad=False" in repr(X) and " grad=" not in repr(X)
    assert "requires_grad=True" in repr(W) and "\n       grad=[[" in repr(W)
