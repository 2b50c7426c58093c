"""The answer keys of the course's Tensor exercises, against values worked by hand.

Each expected value below comes from the exercise's own hand derivation (its module
docstring) or from the course's closed form written out in NumPy here, never from the
key itself.
"""

import math
import re
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ag.number_format import format_number, matrix_lines

ROOT = Path(__file__).resolve().parents[2]
EXERCISES = ROOT / "exercises"


def load(name):
    return runpy.run_path(str(EXERCISES / f"{name}.py"), run_name="exercise")


def numbers_in(text):
    return [float(t) for t in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text)]


def assert_shown(value, text):
    """Every element of ``value`` appears in ``text`` (as the key writes it)."""
    found = numbers_in(text)
    for v in np.ravel(value):
        shown = float(format_number(v))
        assert any(abs(f - shown) < 1e-9 for f in found), (v, text[:200])


def test_softmax_regression_key():
    key = load("softmax_regression")["KEY"]
    X = np.array([[1.0, 2.0], [3.0, -1.0]])
    Y = np.eye(3)[[0, 2]]
    P = np.full((2, 3), 1 / 3)  # Theta = 0: softmax of zeros is uniform
    np.testing.assert_allclose(key["Z"], P, rtol=1e-12)
    np.testing.assert_allclose(key["Z - I_y"], [[-2 / 3, 1 / 3, 1 / 3], [1 / 3, 1 / 3, -2 / 3]], rtol=1e-12)
    np.testing.assert_allclose(key["Theta.grad"], X.T @ (P - Y) / 2, rtol=1e-12)  # X^T (P - Y) / m
    hand = [[1 / 6, 2 / 3, -5 / 6], [-5 / 6, 1 / 6, 2 / 3]]  # the exercise's docstring
    np.testing.assert_allclose(key["Theta.grad"], hand, rtol=1e-12)
    assert float(key["loss"]) == pytest.approx(math.log(3))
    md, tex, text = key.markdown(), key.latex(), key.text()
    for form in (md, tex, text):
        assert_shown(key["Theta.grad"], form)
    assert "X^T (Z - I_y) / m" in md and r"\tfrac{1}{m} X^\top (Z - I_y)" in tex
    assert tex.count(r"\begin{bmatrix}") == tex.count(r"\end{bmatrix}") == 4
    for line in matrix_lines(key["Theta.grad"]):
        assert line in text and line in md


def test_one_hidden_layer_key():
    key = load("one_hidden_layer")["KEY"]
    # by hand (the exercise's docstring): pre = [[-0.5, 3]], h = [[0, 3]], yhat = 2, dyhat = 1
    np.testing.assert_array_equal(key["pre"], [[-0.5, 3.0]])
    np.testing.assert_array_equal(key["h"], [[0.0, 3.0]])
    np.testing.assert_array_equal(key["yhat.grad"], [[1.0]])
    np.testing.assert_array_equal(key["w2.grad"], [[0.0], [3.0]])  # h^T * 1
    np.testing.assert_array_equal(key["pre.grad"], [[0.0, 0.5]])  # relu passes where pre > 0
    np.testing.assert_array_equal(key["b1.grad"], [0.0, 0.5])
    X_T, dpre = np.array([[1.0], [2.0]]), np.array([[0.0, 0.5]])
    np.testing.assert_array_equal(key["W1.grad"], X_T @ dpre)  # X^T dpre
    tex = key.latex()
    assert (r"\nabla_{W_1}\ell = X^\top \nabla_{\mathrm{pre}}\ell = "
            r"\begin{bmatrix} 0 & 0.5 \\ 0 & 1 \end{bmatrix}") in tex
    assert "- **`W1.grad`** = `X^T pre.grad` =" in key.markdown()


def test_attention_block_key():
    key = load("attention_block")["KEY"]
    # by hand (the exercise's docstring): uniform softmax, dKQ = [[-1, -1], [1, 1]]
    np.testing.assert_array_equal(key["softmaxKQ"], np.full((1, 2, 2), 0.5))
    np.testing.assert_array_equal(key["softmaxKQ.grad"], [[[3.0, 3.0], [7.0, 7.0]]])  # rows of Xin (Wv 1)
    np.testing.assert_allclose(key["KQ.grad"], [[[-1.0, -1.0], [1.0, 1.0]]], atol=1e-12)
    np.testing.assert_allclose(key["Wq.grad"], [[-1.0, 2.0], [-1.0, 2.0]], atol=1e-12)
    np.testing.assert_array_equal(key["Wk.grad"], np.zeros((2, 2)))
    np.testing.assert_array_equal(key["Wv.grad"], np.ones((2, 2)))
    tex = key.latex()
    assert r"\left[\, \begin{bmatrix} -1 & -1 \\ 1 & 1 \end{bmatrix} \,\right]" in tex  # a (1, 2, 2) array


@pytest.mark.parametrize("flag,marker", [("--latex", r"\begin{bmatrix}"), ("--markdown", "## "),
                                         ("", "answer key")])
def test_the_exercises_print_their_keys(flag, marker):
    args = [sys.executable, str(EXERCISES / "softmax_regression.py")] + ([flag] if flag else [])
    out = subprocess.run(args, capture_output=True, text=True, check=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}).stdout
    assert marker in out and "Theta.grad" in out


def test_the_key_with_the_backward_pass():
    key = load("softmax_regression")["KEY"]
    full = key.markdown(trace=True)
    assert "The backward pass, iteration by iteration" in full and "X.grad" not in full


@pytest.mark.latex
def test_the_latex_keys_typeset_without_overfull_lines(tmp_path):
    import shutil

    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-base)")
    body = "\n\n".join(load(n)["KEY"].latex(trace=True)
                       for n in ("softmax_regression", "one_hidden_layer", "attention_block"))
    (tmp_path / "keys.tex").write_text(
        "\\documentclass{article}\\usepackage{amsmath}\\usepackage[margin=2cm]{geometry}"
        f"\\begin{{document}}\n{body}\n\\end{{document}}\n", encoding="utf-8")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "keys.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
    log = (tmp_path / "keys.log").read_text(errors="replace")
    assert "Overfull \\hbox" not in log
