"""`ag grade`: hand-made student answers graded with error carried forward; op rules by gradcheck.

The student answers here are written out by hand for a fixed problem (seed 1 of the
default exam), with the numbers a student would write, not computed by the grader.
"""

from __future__ import annotations

import json

import pytest
from grading_problems import ALL_RIGHT, seed1

from ag.cli import main
from ag.exam.grade import AnswerFormatError, fill, grade, gradescope_results, parse_answers
from ag.exam.grade_op import grade_rule
from ag.exam.handout import answer_template, key_data, write_key


@pytest.fixture(scope="module")
def key():
    p = seed1()
    assert p.code.splitlines()[1:4] == ['x = ag.Scalar(-3.0, label="z1:leaf(x)")',
                                       'y = ag.Scalar(0.0, label="z2:leaf(y)")',
                                       'w = ag.Scalar(3.0, label="z3:leaf(w)")'], p.code
    return key_data(p)


def test_the_template_is_what_the_student_fills(key):
    blank = answer_template(seed1())
    assert [ln.rsplit(",", 1)[0] for ln in blank.splitlines()[2:]] == \
        [ln.rsplit(",", 1)[0] for ln in ALL_RIGHT.splitlines()[1:]]


def test_all_right(key):
    report = grade(key, parse_answers(ALL_RIGHT))
    assert report.score == report.max_score == 15
    assert report.first_divergence is None and "none, every answer is right" in report.text()


def test_one_early_slip_gets_carried_forward_credit(key):
    # iteration 1: the student writes z6.grad = 3 * 1 ... as 6 (a slip); everything after it is
    # computed right from that 6: z2.grad = 6, z4.grad = 6, then z2.grad = 6 + 1*6 = 12
    slipped = (ALL_RIGHT.replace("1,z8:log,z6.grad,3", "1,z8:log,z6.grad,6")
               .replace("2,z6:add,z2.grad,3", "2,z6:add,z2.grad,6")
               .replace("2,z6:add,z4.grad,3", "2,z6:add,z4.grad,6")
               .replace("3,z4:exp,z2.grad,6", "3,z4:exp,z2.grad,12"))
    report = grade(key, parse_answers(slipped))
    assert report.score == 14 and report.max_score == 15
    statuses = {(c.iteration, c.quantity): c.status for c in report.cells}
    assert statuses[("1", "z6.grad")] == "wrong"
    assert statuses[("2", "z2.grad")] == statuses[("3", "z2.grad")] == "carried forward"
    assert report.first_divergence.explanation == (
        "iteration 1 (z8:log): z6.grad should be 0 + z8.grad / z6.value = 0 + 3 / 1 = 3, you wrote 6")
    assert ("3 answers got full credit carried forward from an earlier slip: z2.grad (iteration 2), "
            "z4.grad (iteration 2), z2.grad (iteration 3)") in report.text()


def test_a_wrong_value_carries_into_the_backward_pass(key):
    # z8 = log(1) written as 1: then z9 = z7*z8 = 3 is right given it, and z7.grad = z8.value*1 = 1
    answers = (ALL_RIGHT.replace("forward,z8:log,z8.value,0", "forward,z8:log,z8.value,1")
               .replace("forward,z9:mul,z9.value,0", "forward,z9:mul,z9.value,3")
               .replace("0,z9:mul,z7.grad,0", "0,z9:mul,z7.grad,1"))
    report = grade(key, parse_answers(answers))
    # z8.value wrong; z9.value and z7.grad carried; z5.grad and z3.grad are 1 given the student's
    # z7.grad = 1, but the student wrote the true 0: the true value is accepted too (item 5)
    assert report.score == 14
    statuses = {(c.iteration, c.quantity): c.status for c in report.cells}
    assert statuses[("5", "z5.grad")] == statuses[("5", "z3.grad")] == "right"
    assert report.first_divergence.explanation.startswith(
        "forward pass: z8 = ag.log(z6) should be ag.log(1) = 0")


def test_a_spreadsheet_export_is_read(key):
    # Excel: a byte-order mark, CRLF line ends, empty trailing columns, quoted cells
    exported = "\ufeff" + ALL_RIGHT.replace("\n", ",,\r\n").replace(
        "# seed: 1,,", "# seed: 1").replace("0,z9:mul,z8.grad,3", '0,"z9:mul",z8.grad,"3"')
    assert grade(key, parse_answers(exported)).score == 15


def test_markdown_answers_and_blanks(key):
    md = answer_template(seed1(), "md")
    filled = fill(md, key, {("0", "z8.grad"): 3})
    assert grade(key, parse_answers(filled)).score == 15
    blank = grade(key, parse_answers(md))
    assert blank.score == 0 and blank.first_divergence.explanation.endswith("you left it blank")


@pytest.mark.parametrize("text,line,message", [
    ("# seed: 1\niteration,node,quantity,answer\n0,z9:mul,z7.grad\n", 3, "expected 4 columns"),
    ("# seed: 1\niteration,node,quantity,answer\n0,z9:mul,z7.grad,six\n", 3, "is not a number"),
    ("# seed: 1\nit,node,q,a\n", 2, "expected the header"),
    ("# seed: 1\niteration,node,quantity,answer\nlater,z9:mul,z7.grad,1\n", 3, "iteration must be"),
    ("# seed: 1\niteration,node,quantity,answer\n0,z9:mul,z7.gradient,1\n", 3, "quantity must look like"),
    ("| iteration | node | quantity | answer |\n|---|---|---|---|\n| 0 | z9:mul | z7.grad |\n", 3,
     "expected 4 columns"),
])
def test_wrong_format_names_the_line(text, line, message):
    with pytest.raises(AnswerFormatError, match=f"line {line}: .*{message}"):
        parse_answers(text)


def test_a_row_not_in_the_problem_is_refused_or_noted(key):
    with pytest.raises(AnswerFormatError, match="answers line 3: z42.grad: problem seed 1 has nodes z1 to"):
        grade(key, parse_answers("iteration,node,quantity,answer\n#\n0,z9:mul,z42.grad,1\n"))
    # hidden order: a grad written in the wrong iteration earns nothing and is noted
    report = grade(key, parse_answers("iteration,node,quantity,answer\n0,z9:mul,z3.grad,1\n1,,,\n"))
    assert report.score == 0 and report.extra == [
        "answers line 2: iteration 0 works on z9, which changes z7.grad, z8.grad; it does not change z3.grad"]


def test_hidden_order_template_leaves_the_backward_rows_to_the_student(key):
    blank = answer_template(seed1(), show_order=False)
    assert "0,z9:mul" not in blank and "0,,," in blank and "forward,z4:exp,z4.value," in blank
    filled = blank.replace("0,,,\n0,,,", "0,z9:mul,z7.grad,0\n0,z9:mul,z8.grad,3", 1)
    assert grade(key, parse_answers(filled)).score == 2


def test_cli_grades_files_and_writes_gradescope_results(key, tmp_path, capsys):
    write_key([seed1()], tmp_path / "key.json")
    (tmp_path / "alice.csv").write_text(ALL_RIGHT)
    (tmp_path / "bob.csv").write_text(ALL_RIGHT.replace("1,z8:log,z6.grad,3", "1,z8:log,z6.grad,6"))
    files = [str(tmp_path / "key.json"), str(tmp_path / "alice.csv"), str(tmp_path / "bob.csv")]
    # two students never share one results.json (Gradescope grades one submission per file)
    assert main(["grade", *files, "--gradescope", str(tmp_path / "results.json")]) == 2
    assert "one submission per results.json" in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()
    code = main(["grade", *files, "--gradescope", str(tmp_path / "results")])
    out = capsys.readouterr().out
    assert code == 0 and "alice.csv: seed 1: score 15 / 15" in out and "bob.csv: seed 1: score 14 / 15" in out
    assert "iteration 1 (z8:log): z6.grad should be" in out
    alice = json.loads((tmp_path / "results" / "alice.json").read_text())
    bob = json.loads((tmp_path / "results" / "bob.json").read_text())
    assert (alice["score"], bob["score"]) == (15, 14) and len(alice["tests"]) == len(bob["tests"]) == 15
    assert gradescope_results([grade(key, parse_answers(ALL_RIGHT))])["score"] == 15
    (tmp_path / "bad.csv").write_text("# seed: 1\niteration,node,quantity,answer\n0,z9:mul\n")
    code = main(["grade", str(tmp_path / "key.json"), str(tmp_path / "bad.csv")])
    assert code == 1 and "bad.csv line 3: expected 4 columns" in capsys.readouterr().err
    (tmp_path / "other.csv").write_text(ALL_RIGHT.replace("# seed: 1", "# seed: 99"))
    assert main(["grade", str(tmp_path / "key.json"), str(tmp_path / "other.csv")]) == 1
    assert "seed 99 is not in the key" in capsys.readouterr().err


# -- ag grade --op ------------------------------------------------------------------------------


def test_op_rules_right_wrong_and_partly_right():
    import numpy as np

    assert grade_rule("tanh", lambda g, out, x: g * (1 - out**2), examples=8).score == 1.0
    assert grade_rule("mul", lambda g, out, a, b: (g * b, g * a), examples=8).score == 1.0
    wrong = grade_rule("sigmoid", lambda g, out, x: out * (1 - out), examples=8)  # forgets g
    assert wrong.score < 0.5 and "finite differences" in wrong.first_failure

    def half_right(g, out, x):  # right on the first row only
        r = g * (out * (1 - out))
        if r.ndim == 2 and r.shape[0] > 1:
            r = r.copy()
            r[1:] = 0
        return r

    partly = grade_rule("sigmoid", half_right, examples=25)
    assert 0 < partly.score < 1 and np.isclose(partly.score, np.mean(partly.credits))
    broken = grade_rule("exp", lambda g, out, x: 1 / 0, examples=3)
    assert broken.score == 0 and "ZeroDivisionError" in broken.first_failure
    shape = grade_rule("matmul", lambda g, out, a, b: (g @ b, g), examples=5)
    assert shape.score < 1 and ("shape" in shape.first_failure or "expected" in shape.first_failure)


def test_cli_op_grading(tmp_path, capsys):
    student = tmp_path / "softmax_rule.py"
    student.write_text("def backward(grad, out, x):\n"
                       "    return out * (grad - (grad * out).sum(axis=-1, keepdims=True))\n")
    assert main(["grade", "--op", "softmax", str(student), "--examples", "6"]) == 0
    assert "score 1.000" in capsys.readouterr().out
    assert main(["grade", "--op", "frobnicate", str(student)]) == 2
    assert "choose from" in capsys.readouterr().err


def _kit_backward(op):
    """The kit's own vector-Jacobian product for ``op``, as a student's ``backward``."""
    import ag
    from ag.exam.grade_op import GRADABLE_OPS

    entry = GRADABLE_OPS[op]

    def backward(g, out, *inputs):
        leaves = [ag.tensor(x) for x in inputs]
        entry.function(*leaves).backward(g)
        grads = [leaf.grad for leaf in leaves]
        return grads[0] if len(grads) == 1 else tuple(grads)

    return backward


def test_every_gradable_op_is_drawn_where_finite_differences_hold():
    # the op list is the registry's: for each op, the kit's own backward scores 1.0 against
    # central finite differences, so the grader draws each op where its gradient exists
    from ag import registry
    from ag.exam.grade_op import GRADABLE_OPS

    assert {"exp", "log", "softmax", "matmul", "div", "sum"} <= set(GRADABLE_OPS)
    assert set(GRADABLE_OPS) <= set(registry.tensor_ops())
    for op in GRADABLE_OPS:
        report = grade_rule(op, _kit_backward(op), examples=6)
        assert report.score == 1.0, (op, report.first_failure)
