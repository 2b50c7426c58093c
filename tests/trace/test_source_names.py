"""Names from the forward code (``names="source"``) and notes about clashing labels.

Expected names are written by hand from the attention homework's code: ``Queries``,
``Keys``, ``KQ``, ``expKQ``, ``softmaxKQ``, ``P``, ``Xout``; the nodes the code does not
assign (the three ``moveaxis`` and the ``sum`` inside ``softmaxKQ``) keep the exam's
z-numbers, the same ones as without names.
"""

from __future__ import annotations

import sys
import textwrap
import warnings

import numpy as np
import pytest

import ag
from ag.cli import main


class SingleHeadAttention:
    def __init__(self, n):
        rng = np.random.default_rng(0)
        self.Wq = ag.Tensor(rng.standard_normal((n, n)), label="Wq")
        self.Wk = ag.Tensor(rng.standard_normal((n, n)), label="Wk")
        self.Wv = ag.Tensor(rng.standard_normal((n, n)), label="Wv")

    def __call__(self, Xin):
        Queries = Xin @ self.Wq
        Keys = Xin @ self.Wk
        KQ = (Keys @ ag.moveaxis(Queries, 1, 2))
        expKQ = ag.exp(KQ)
        softmaxKQ = expKQ / ag.sum(expKQ, axis=1, keepdims=True)
        P = ag.moveaxis(Xin, 1, 2) @ softmaxKQ
        Xout = ag.moveaxis(P, 1, 2) @ self.Wv
        return Xout


SOURCE_ORDER = (
    "[Xin, z8:transpose, Wk, Keys:matmul, Wq, Queries:matmul, z3:transpose, KQ:matmul, expKQ:exp, "
    "z6:sum, softmaxKQ:div, P:matmul, z10:transpose, Wv, Xout:matmul, loss:sum]")
EXAM_ORDER = (
    "[Xin, z8:transpose, Wk, z2:matmul, Wq, z1:matmul, z3:transpose, z4:matmul, z5:exp, z6:sum, "
    "z7:div, z9:matmul, z10:transpose, Wv, z11:matmul, z12:sum]")


def _xin():
    return ag.Tensor(np.arange(4.0).reshape(1, 2, 2), label="Xin", requires_grad=False)


def test_attention_homework_names_from_the_source():
    att, Xin = SingleHeadAttention(2), _xin()
    with ag.trace(names="source") as t:
        loss = ag.sum(att(Xin))
        loss.backward()
    run = t.last
    assert run.order_text() == SOURCE_ORDER
    text = run.text()
    assert "rule: Queries.grad += z3.grad.transpose(0, 2, 1)" in text
    assert "rule: Wq.grad += Xin.value.swapaxes(-1, -2) @ Queries.grad" in text
    assert "softmaxKQ:div" in run.markdown() and "softmaxKQ:div" in run.latex()
    assert "KQ:matmul" in ag.stepper.html(run, graphs=False)


def test_exam_names_stay_the_default():
    att, Xin = SingleHeadAttention(2), _xin()
    with ag.trace() as t:
        loss = ag.sum(att(Xin))
        loss.backward()
    assert t.last.order_text() == EXAM_ORDER
    assert ag.backward_trace(ag.sum(att(Xin))).order_text() == EXAM_ORDER


def test_backward_trace_names_the_variables_of_running_frames():
    att, Xin = SingleHeadAttention(2), _xin()
    Xout = att(Xin)  # __call__ has returned: its variables are gone, this frame's are not
    loss = ag.sum(Xout)
    run = ag.backward_trace(loss, names="source")
    assert run.order_text() == EXAM_ORDER.replace("z11:matmul", "Xout:matmul").replace("z12:sum", "loss:sum")


def test_labels_win_parameters_are_skipped_and_repeated_names_are_numbered():
    x = ag.Scalar(2.0, label="x")

    def layer(h):  # `h` is a parameter: it names a node built elsewhere
        out = h * 3.0
        return out

    with ag.trace(names="source") as t:
        h = x + 1.0
        h = layer(h)
        h = layer(h)
        named = ag.relu(h)
        named.label = "final"
        named.backward()
    # x + 1.0 was bound to h only until h was rebound: it keeps its z-number; each call of
    # layer named its own node (the innermost frame wins over the later `h`)
    names = t.last.order_text()
    assert names == "[x, z1:leaf, z2:add, z3:leaf, out#1:mul, z5:leaf, out#2:mul, final]"


def test_no_profile_hook_unless_source_names_are_asked_for():
    assert sys.getprofile() is None
    with ag.trace():
        assert sys.getprofile() is None  # exam names: nothing watches the program
    with pytest.raises(ZeroDivisionError):
        with ag.trace(names="source"):
            assert sys.getprofile() is not None
            raise ZeroDivisionError
    assert sys.getprofile() is None  # removed again, also after an error
    with pytest.raises(ValueError, match="names must be one of"):
        ag.trace(names="variables")


def test_cli_names_source(tmp_path, capsys):
    path = tmp_path / "attention_hw.py"
    path.write_text(textwrap.dedent('''
        import numpy as np
        import ag
        from test_source_names import SingleHeadAttention
        Xin = ag.Tensor(np.arange(4.0).reshape(1, 2, 2), label="Xin", requires_grad=False)
        loss = ag.sum(SingleHeadAttention(2)(Xin))
        loss.backward()
    '''))
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    try:
        assert main(["trace", str(path), "--names", "source"]) == 0
        out = capsys.readouterr().out
        assert "KQ:matmul" in out and "softmaxKQ:div" in out and "rule: KQ.grad +=" in out
        assert main(["trace", str(path)]) == 0
        out = capsys.readouterr().out
        assert "z4:matmul" in out and "KQ:matmul" not in out
    finally:
        sys.path.remove(str(__import__("pathlib").Path(__file__).parent))


# -- item 6: labels that clash with other names are said so, once -------------------------


def _slides_problem_1_3():
    """The slides' labels: wo is "z5:leaf(wo)" while the code's z5 is wr*h0."""
    x1 = ag.Scalar(2.0, label="z1:leaf(x1)")
    h0 = ag.Scalar(3.0, label="z2:leaf(h0)")
    wr = ag.Scalar(4.0, label="z3:leaf(wr)")
    wi = ag.Scalar(5.0, label="z4:leaf(wi)")
    wo = ag.Scalar(6.0, label="z5:leaf(wo)")
    z1, z2, z3, z4 = x1, h0, wr, wi
    z5 = z3 * z2
    z6 = z4 * z1
    z7 = z5 + z6
    z8 = ag.relu(z7)
    z9 = wo
    z10 = z8 * z9
    with ag.trace() as t:
        z10.backward()
    return t.last


def test_label_clashing_with_the_codes_z_name_is_said_once_with_a_warning():
    run = _slides_problem_1_3()
    expected = ("the label 'z5:leaf(wo)' clashes with z5 = mul in the code: that node is named z6:mul "
                "here (unlabelled nodes take the next free z-number)")
    assert run.notes == [expected]
    with pytest.warns(UserWarning, match=r"label 'z5:leaf\(wo\)' clashes with z5 = mul"):
        text = run.text()
    assert text.splitlines()[1] == f"note: {expected}" and text.count("clashes") == 1
    assert f"**Note:** {expected}" in run.markdown()
    assert "Note: the label 'z5:leaf(wo)' clashes" in run.latex()
    assert "z6:mul" in run.order_text()


def test_consistent_labels_give_no_note(recwarn):
    from tests.course_problems import problem_1_3

    p = problem_1_3()
    with ag.trace() as t:
        p.z10.backward()
    run = t.last
    warnings.simplefilter("error")
    assert run.notes == [] and "note:" not in run.text()


def test_two_labels_with_one_name_are_said():
    a, b = ag.Scalar(1.0, label="z5:leaf(wo)"), ag.Scalar(2.0, label="z5:mul")
    with pytest.warns(UserWarning, match="both give the name z5"):
        run = ag.backward_trace(a * b)
        run.text()
    assert run.notes == ["the labels 'z5:leaf(wo)' and 'z5:mul' both give the name z5: rules write "
                         "them as z5:leaf(wo), z5:mul"]


def test_layers_sharing_a_plain_label_are_no_clash():
    a, b = ag.Scalar(1.0, label="weight"), ag.Scalar(2.0, label="weight")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = ag.backward_trace(a * b)
        assert run.notes == [] and "weight#1" in run.text()


def test_tensor_trace_header_has_the_note_too():
    a = ag.Tensor([1.0, 2.0], label="z2:leaf(a)")
    b = ag.Tensor([3.0, 4.0], label="z2:leaf(b)")
    with pytest.warns(UserWarning, match="both give the name z2"):
        run = ag.backward_trace(ag.sum(a * b))
        text = run.text()
    assert text.splitlines()[1].startswith("note: the labels 'z2:leaf(a)' and 'z2:leaf(b)'")
    assert "**Note:** the labels" in run.markdown() and "Note: the labels" in run.latex()
