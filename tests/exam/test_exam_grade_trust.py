"""`ag grade` an instructor can trust: one test (or more) per item of issue 25's grading side.

The problem is seed 1 of the default exam, worked by hand (see test_exam_grade.py):
  x = -3, y = 0, w = 3;  z4 = exp(z2) = 1, z5 = relu(z1) = 0, z6 = z2+z4 = 1,
  z7 = z5+z3 = 3, z8 = log(z6) = 0, z9 = z7*z8 = 0
  depth-first backward order: z9, z8, z6, z4, z2, z7, z3, z5, z1
"""

from __future__ import annotations

import csv
import json
import math
import textwrap

import numpy as np
import pytest
from gradescope_schema import validate_gradescope
from grading_problems import ALL_RIGHT, SEED1_CODE, seed1
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ag.cli import main
from ag.exam import generate
from ag.exam.check import CheckProblem, check_text, load_problem
from ag.exam.exact import NumberFormatError, read_number
from ag.exam.grade import (
    AnswerFormatError,
    fill,
    grade,
    grade_file,
    gradescope_results,
    load_key,
    parse_answers,
)
from ag.exam.grade_op import StudentCodeError, StudentProcess, grade_op
from ag.exam.handout import answer_template, write_key
from ag.exam.key import ExamKey, KeyFormatError, KeyRow, ProblemKey

# the same numbers in another valid backward order, z9, z7, z5, z1, z3, z8, z6, z4, z2 (every
# node before its inputs), worked by hand:
#   it0 z9: z7.grad = 0*1 = 0, z8.grad = 3*1 = 3;  it1 z7: z5.grad = 0, z3.grad = 0
#   it2 z5: z1.grad = 0 (relu at -3);  it5 z8: z6.grad = 3/1 = 3
#   it6 z6: z2.grad = 3, z4.grad = 3;  it7 z4: z2.grad = 3 + 1*3 = 6
# (the header and forward rows are ALL_RIGHT's: the forward pass does not depend on the order)
OTHER_ORDER = ALL_RIGHT[:ALL_RIGHT.index("0,z9:mul")] + """\
0,z9:mul,z7.grad,0
0,z9:mul,z8.grad,3
1,z7:add,z5.grad,0
1,z7:add,z3.grad,0
2,z5:relu,z1.grad,0
3,z1:leaf(x),nothing,
4,z3:leaf(w),nothing,
5,z8:log,z6.grad,3
6,z6:add,z2.grad,3
6,z6:add,z4.grad,3
7,z4:exp,z2.grad,6
8,z2:leaf(y),nothing,
"""


@pytest.fixture(scope="module")
def key():
    return ProblemKey.from_problem(seed1())


def replace(text: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new)
    return text


# -- 1. non-finite answers ----------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["inf", "-inf", "nan", "1e999", "Infinity", "2^100000"])
def test_non_finite_answers_earn_nothing(key, bad):
    everywhere = "\n".join(line if line[:1] in "#i" or line.endswith("nothing,") else
                           line.rsplit(",", 1)[0] + "," + bad for line in ALL_RIGHT.splitlines())
    assert grade(key, parse_answers(everywhere)).score == 0  # was 11 / 15 with inf
    once = grade(key, parse_answers(replace(ALL_RIGHT, ("z4.value,1", f"z4.value,{bad}"))))
    assert once.score == 14 and once.first_divergence.quantity == "z4.value"
    assert "not a finite number" in once.first_divergence.explanation or "overflows" in \
        once.first_divergence.explanation


# -- 3. the node column of a --hide-order sheet ------------------------------------------------


def test_hidden_order_node_column_is_graded(tmp_path):
    write_key([seed1()], tmp_path / "key.json", show_order=False)
    key = load_key(tmp_path / "key.json")[1]
    assert not key.order_shown
    right = grade(key, parse_answers(ALL_RIGHT))
    assert (right.score, right.max_score) == (24, 24)  # 15 numbers and 9 nodes
    every_node_z1 = "\n".join(
        line if line[:1] in "#if" else ",".join([line.split(",")[0], "z1:leaf(x)", *line.split(",")[2:]])
        for line in ALL_RIGHT.splitlines())
    named_z1 = grade(key, parse_answers(every_node_z1))
    assert named_z1.score == 15 + 1 and named_z1.max_score == 24  # only the last iteration is z1
    bad = [c for c in named_z1.cells if c.quantity == "node" and c.credit == 0]
    assert [c.iteration for c in bad] == [str(k) for k in range(8)]
    assert bad[0].explanation == "iteration 0: the depth-first order works on z9 here, you wrote z1"
    # the template of a hidden-order sheet: node-only rows count as the student's node
    blank = answer_template(seed1(), show_order=False)
    assert "0,,," in blank
    nodes_only = blank.replace("0,,,\n0,,,", "0,z9,,\n0,,,", 1)
    assert [c.credit for c in grade(key, parse_answers(nodes_only)).cells if c.quantity == "node"][0] == 1


# -- 4. ag grade --op runs the student's code in its own process ---------------------------------

RIGHT_TANH = "def backward(grad, out, x):\n    return grad * (1 - out**2)\n"


@pytest.mark.parametrize("name,code,reason", [
    ("patch_isclose", "import numpy as np\nnp.isclose = lambda a, b, **k: np.ones(np.shape(b), bool)\n"
     "np.allclose = lambda *a, **k: True\n"
     "def backward(grad, out, x):\n    return grad * 0 + 7\n", "finite differences"),
    ("exits", "def backward(grad, out, x):\n    raise SystemExit(0)\n", "SystemExit"),
    ("oops", "def backward(grad, out, x):\n    return 'oops'\n", "'oops'"),
    ("hard_exit", "import os\ndef backward(grad, out, x):\n    os._exit(3)\n", "exit status 3"),
    ("hangs", "def backward(grad, out, x):\n    while True:\n        pass\n", "took longer than 1 s"),
    ("bad_import", "raise SystemExit('no')\n", "loading the file raised SystemExit"),
    ("no_function", "x = 1\n", "defines no function backward"),
    ("prints", "def backward(grad, out, x):\n    print('{\"ok\": 1}')\n    return grad * (1 - out**2)\n", ""),
])
def test_op_grading_cannot_be_fooled_or_killed(tmp_path, name, code, reason):
    isclose = np.isclose
    path = tmp_path / f"{name}.py"
    path.write_text(code)
    report = grade_op("tanh", path, examples=3, time_limit=1.0)
    assert np.isclose is isclose  # the grader's numpy is untouched
    if not reason:
        assert report.score == 1.0
        return
    assert report.score == 0 and reason in report.first_failure, report.first_failure
    results = tmp_path / "results.json"  # the report is always written, and the run ends with 0
    assert main(["grade", "--op", "tanh", str(path), "--examples", "2", "--time-limit", "1",
                 "--gradescope", str(results)]) == 0
    data = json.loads(results.read_text())
    assert data["score"] == 0 and reason in data["output"]


def test_a_hanging_rule_stops_being_run_after_three_timeouts(tmp_path):
    import time

    path = tmp_path / "hang.py"
    path.write_text("def backward(grad, out, x):\n    while True:\n        pass\n")
    report = grade_op("tanh", path, examples=8, time_limit=0.5)
    assert report.credits == [0.0] * 8 and "took longer than 0.5 s" in report.first_failure
    x = np.ones(2)
    with StudentProcess(path, time_limit=0.5) as student:
        for _ in range(3):
            with pytest.raises(StudentCodeError, match="took longer than 0.5 s"):
                student(x, x, x)
        start = time.perf_counter()
        with pytest.raises(StudentCodeError, match="not run: 3 calls already ran past the time limit"):
            student(x, x, x)
        assert time.perf_counter() - start < 0.4  # not started again


def test_op_grading_right_rule_in_a_process(tmp_path):
    path = tmp_path / "rule.py"
    path.write_text(RIGHT_TANH)
    assert grade_op("tanh", path, examples=4).score == 1.0
    path.write_text("def backward(grad, out, a, b):\n    return grad * b, grad * a\n")
    assert grade_op("mul", path, examples=4).score == 1.0
    path.write_text("def backward(grad, out, a, b):\n    return grad * a, grad * b\n")  # swapped
    assert grade_op("mul", path, examples=4).score < 1.0


# -- 5. the true value is accepted after a slip ---------------------------------------------------


def test_true_value_after_a_transcription_slip_earns_credit(key):
    # z4 = exp(0) mistyped as 2; z6 = z2 + z4 written with the true z4: 0 + 1 = 1 (was "should be 2")
    report = grade(key, parse_answers(replace(ALL_RIGHT, ("z4.value,1", "z4.value,2"))))
    assert report.score == 14
    assert {c.quantity: c.status for c in report.cells if c.iteration == "forward"}["z6.value"] == "right"
    # and the value carried from the student's own z4 is accepted too
    carried = grade(key, parse_answers(replace(ALL_RIGHT, ("z4.value,1", "z4.value,2"),
                                               ("forward,z6:add,z6.value,1", "forward,z6:add,z6.value,2"))))
    assert carried.score == 14 and carried.cells[2].status == "carried forward"


# -- 6. another order ----------------------------------------------------------------------------


def test_another_valid_order_is_diagnosed_and_graded_against_it(key):
    report = grade(key, parse_answers(OTHER_ORDER))
    assert report.score == 15 and report.order_diverges_at == 1  # was 8 / 15 with "left it blank"
    assert report.notes == [
        "your order differs from the depth-first order at iteration 1: you worked on z7, the depth-first "
        "order works on z8; yours is a valid topological order, so iterations 1 on are graded against "
        "your own order (full credit)"]
    half = grade(key, parse_answers(OTHER_ORDER), other_order_credit=0.5)
    # forward 6 and iteration 0's two grads at full credit, the 7 grads from iteration 1 on at half
    assert half.score == 6 + 2 + 3.5 and half.max_score == 15  # the gradebook's maximum stays
    assert "should be" not in half.text()
    assert "0.5 of the credit" in half.notes[0]


def test_an_invalid_order_is_said_and_graded_in_the_depth_first_order(key):
    # z4 before z6, which uses it: not a topological order
    invalid = replace(OTHER_ORDER, ("6,z6:add,z2.grad,3\n6,z6:add,z4.grad,3\n7,z4:exp,z2.grad,6",
                                    "6,z4:exp,z2.grad,0\n7,z6:add,z2.grad,3\n7,z6:add,z4.grad,3"))
    report = grade(key, parse_answers(invalid))
    assert "is not a valid topological order (z4 is worked at iteration 6, before z6 (iteration 7)" \
        in report.notes[0]
    assert report.score < 15


def test_nothing_in_an_op_iteration_reads_well(key):
    report = grade(key, parse_answers(ALL_RIGHT + "1,z8:log,nothing,\n"))
    assert report.extra == ["answers line 21: iteration 1 works on z8, an op node, which changes z6.grad: "
                            "'nothing' is not its answer"]
    assert "does not change nothing" not in report.text()


def test_negative_numbers_in_feedback_have_parentheses(tmp_path):
    own = tmp_path / "neg.py"
    own.write_text('import ag\nx = ag.Scalar(-1.0, label="z1:leaf(x)")\n'
                   'y = ag.Scalar(1.0, label="z2:leaf(y)")\n'
                   "z1 = x\nz2 = y\nz3 = z1*z2\nz3.backward()\n")
    problem = load_problem(str(own))
    answers = fill(problem.template, problem.key, {("0", "z2.grad"): 1})
    report = grade(problem.key, parse_answers(answers))
    assert report.first_divergence.explanation == (
        "iteration 0 (z3:mul): z2.grad should be 0 + z1.value * z3.grad = 0 + (-1) * 1 = -1, you wrote 1")
    value_slip = fill(problem.template, problem.key, {("forward", "z3.value"): 1})
    assert grade(problem.key, parse_answers(value_slip)).first_divergence.explanation == (
        "forward pass: z3 = z1*z2 should be (-1)*1 = -1, you wrote 1")


# -- 7. a class at once ---------------------------------------------------------------------------


def test_one_bad_file_does_not_stop_the_batch(tmp_path, capsys):
    write_key([seed1()], tmp_path / "key.json")
    (tmp_path / "p.csv").write_text(ALL_RIGHT)
    (tmp_path / "bad.csv").write_text("# seed: 1\niteration,node,quantity,answer\n0,z9:mul\n")
    (tmp_path / "slip.csv").write_text(replace(ALL_RIGHT, ("1,z8:log,z6.grad,3", "1,z8:log,z6.grad,6")))
    (tmp_path / "noseed.csv").write_text(ALL_RIGHT.replace("# seed: 1\n", ""))
    summary = tmp_path / "CLASS.csv"
    code = main(["grade", str(tmp_path / "key.json"), *(str(tmp_path / n) for n in
                 ("p.csv", "bad.csv", "slip.csv", "noseed.csv")), "--summary", str(summary), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "p.csv: seed 1: score 15 / 15" in out and "slip.csv: seed 1: score 14 / 15" in out
    assert [line for line in err.splitlines() if "not graded" in line] == [
        f"ag grade: not graded: {tmp_path / 'bad.csv'} line 3: expected 4 columns (iteration, node, "
        "quantity, answer), found 2: '0,z9:mul'",
        f"ag grade: not graded: {tmp_path / 'noseed.csv'}: no '# seed: N' line says which problem it is"]
    bad_error = (f"{tmp_path / 'bad.csv'} line 3: expected 4 columns (iteration, node, quantity, answer), "
                 "found 2: '0,z9:mul'")
    noseed_error = f"{tmp_path / 'noseed.csv'}: no '# seed: N' line says which problem it is"
    with summary.open(newline="", encoding="utf-8") as f:
        assert list(csv.reader(f)) == [
            ["file", "seed", "score", "max_score", "error"],
            [str(tmp_path / "p.csv"), "1", "15", "15", ""],
            [str(tmp_path / "bad.csv"), "1", "", "", bad_error],
            [str(tmp_path / "slip.csv"), "1", "14", "15", ""],
            [str(tmp_path / "noseed.csv"), "", "", "", noseed_error]]


# -- 8. odd rows, spreadsheets, repeated rows ----------------------------------------------------


@pytest.mark.parametrize("row,message", [
    ("forward,z4:exp,nothing,", "a forward-pass row gives a node's value"),
    ("99,z9:mul,z7.grad,1", "iteration 99: problem seed 1 has iterations 0 to 8 only"),
    ("²,z9:mul,z7.grad,1", "iteration must be 'forward' or a number"),
    ("0,z9:mul,z7.grad,1" + "0" * 400 + "/1", "characters long"),
    ("0,z9:mul,z7.grad,1" + "0" * 60 + "/1", "more than 40 digits"),
    ("0,z9:mul,z7.grad," + "7" * 5000, "characters long"),
    ("0,z9:mul,z7.grad,1/0", "division by zero"),
    ("0,z9:mul,z7.grad,six", "unknown name 'six'"),
    ("0,z9:mul,z99.grad,1", "problem seed 1 has nodes z1 to z9 only"),
    ("0,z9:mul,z7.value,1", "values (z7.value) belong in the forward rows"),
])
def test_odd_rows_are_format_errors_naming_file_and_line(tmp_path, row, message):
    write_key([seed1()], tmp_path / "key.json")
    path = tmp_path / "odd.csv"
    path.write_text("# seed: 1\niteration,node,quantity,answer\n" + row + "\n")
    result = grade_file(load_key(tmp_path / "key.json"), path)
    assert result.report is None and result.error.startswith(f"{path} line 3: ") and message in result.error


def test_semicolon_csv_with_decimal_commas(key):
    half = replace(ALL_RIGHT, ("3,z4:exp,z2.grad,6", "3,z4:exp,z2.grad,6.0"))
    excel = "\ufeff" + "\r\n".join(
        line if line.startswith("#") else ";".join(line.split(",")).replace("6.0", "6,0") + ";;"
        for line in half.splitlines()) + "\r\n"
    assert grade(key, parse_answers(excel)).score == 15
    # a comma file with an unquoted decimal comma gets an exact hint
    with pytest.raises(AnswerFormatError,
                       match=r"line 14: expected 4 columns .*found 5.*decimal comma\? write "
                       r"0\.5, or \"0,5\" in quotes, or separate columns with ';'"):
        parse_answers(half.replace("6.0", "6,0"))


def test_a_repeated_row_is_reported(key):
    report = grade(key, parse_answers(ALL_RIGHT + "1,z8:log,z6.grad,4\n"))
    assert report.notes == ["answers line 21 repeats line 11 (z6.grad, iteration 1): line 21 is graded, "
                            "line 11 is not"]
    assert report.score == 14


# -- 9. Gradescope ---------------------------------------------------------------------------------


def test_gradescope_results_follow_the_documented_schema(key):
    validate_gradescope(gradescope_results(grade(key, parse_answers(ALL_RIGHT))))
    validate_gradescope(gradescope_results(grade(key, parse_answers(OTHER_ORDER), other_order_credit=0.5)))
    validate_gradescope(gradescope_results([], error="answers.csv line 3: expected 4 columns"))
    import jsonschema

    with pytest.raises(jsonschema.ValidationError):  # the check itself rejects what Gradescope would
        validate_gradescope({"score": 1, "max_score": 2, "tests": []})
    with pytest.raises(jsonschema.ValidationError):
        validate_gradescope({"score": 1, "tests": [{"name": "a", "score": 1, "max_score": 1}]})


def test_op_results_follow_the_schema(tmp_path):
    path = tmp_path / "rule.py"
    path.write_text(RIGHT_TANH)
    validate_gradescope(grade_op("tanh", path, examples=2).gradescope())
    path.write_text("raise ValueError('broken')\n")
    validate_gradescope(grade_op("tanh", path, examples=2).gradescope())


# -- 10. exact forms -------------------------------------------------------------------------------


@pytest.fixture
def log_exp(tmp_path):
    """The finals' problem 1.2: log(exp(x*y)) at x=2, y=3, worked by hand:
    z3 = 6, z4 = e^6, z5 = 6;  z4.grad = 1/e^6;  z3.grad = e^6 * e^-6 = 1;  x.grad = 3, y.grad = 2."""
    own = tmp_path / "finals.py"
    own.write_text('import ag\nx = ag.Scalar(2.0, label="z1:leaf(x)")\n'
                   'y = ag.Scalar(3.0, label="z2:leaf(y)")\n'
                   "z1 = x\nz2 = y\nz3 = z1*z2\nz4 = ag.exp(z3)\nz5 = ag.log(z4)\nz5.backward()\n")
    problem = load_problem(str(own))
    exact = {("forward", "z4.value"): "e^6", ("0", "z4.grad"): "1/e^6"}
    problem.key.rows = [KeyRow(r.iteration, r.node, r.quantity, r.answer,
                               exact.get((r.iteration, r.quantity), "")) for r in problem.key.rows]
    problem.key.verify()
    return problem


@pytest.mark.parametrize("z4,z4_grad,score", [
    ("e^6", "1/e^6", 5), ("exp(6)", "e^-6", 5), ("403.43", "0.00248", 5), ("403,43", "0,00248", None),
    ("e^6", "0", 4), ("e^5", "1/e^6", 4),
])
def test_exact_forms_or_numbers_are_accepted(log_exp, z4, z4_grad, score):
    assert [(r.quantity, r.answer) for r in log_exp.key.rows if r.answer is not None] == [
        ("z3.value", 6), ("z4.value", pytest.approx(math.exp(6))), ("z5.value", pytest.approx(6)),
        ("z4.grad", pytest.approx(math.exp(-6))), ("z3.grad", pytest.approx(1)),
        ("z1.grad", pytest.approx(3)), ("z2.grad", pytest.approx(2))]
    text = fill(log_exp.template, log_exp.key, {("forward", "z4.value"): z4, ("0", "z4.grad"): z4_grad})
    if score is None:  # decimal commas only in semicolon files
        with pytest.raises(AnswerFormatError):
            parse_answers(text)
        text = "\n".join(line if line.startswith("#") else ";".join(line.split(",", 3)) for line in
                         text.splitlines())
        score = 5
    report = grade(log_exp.key, parse_answers(text))
    assert report.score == score + 2 and report.max_score == 7
    if score < 5:
        shown = report.first_divergence
        assert shown.shown_expected() in ("e^6 = 403.429", "1/e^6 = 0.00247875")


def test_key_shows_and_checks_exact_forms(log_exp):
    data = ExamKey({0: log_exp.key}).to_json()
    again = ExamKey.from_json(data)
    assert again[0].row("forward", "z4.value").shown == "e^6"
    tampered = data.replace('"1/e^6"', '"1/e^5"')
    with pytest.raises(KeyFormatError, match="exact form '1/e\\^5'"):
        ExamKey.from_json(tampered)


def test_read_number_grammar():
    assert read_number("2 ln 3") == pytest.approx(2 * math.log(3))
    assert read_number("−0.5") == -0.5 and read_number("3·2") == 6 and read_number("2e6") == 2e6
    for bad in ("e^", "ln(-1)", "(2", "2 3 4 )", "import os", "__import__('os')"):
        with pytest.raises(NumberFormatError):
            read_number(bad)


# -- 12 / 15. the key record and its checks -----------------------------------------------------


def test_a_perturbed_key_is_refused(tmp_path):
    path = write_key([seed1(), generate(seed=2)], tmp_path / "key.json")
    data = json.loads(path.read_text())
    assert data["format"] == "ag-exam-key/2" and data["version"] == 2
    row = next(r for r in data["problems"]["2"]["rows"] if r[0] == "forward")
    row[3] += 1  # one value of seed 2's key changed
    path.write_text(json.dumps(data))
    with pytest.raises(AnswerFormatError, match="seed 2: .*the key was edited or is corrupt"):
        load_key(path)
    data = json.loads(write_key([seed1()], tmp_path / "key.json").read_text())
    last_grad = [r for r in data["problems"]["1"]["rows"] if r[2] == "z2.grad"][-1]
    last_grad[3] = 7.0  # the final grad of y changed
    path.write_text(json.dumps(data))
    with pytest.raises(AnswerFormatError, match="z2.grad ends at 7.0 in the key, but backprop"):
        load_key(path)
    data["problems"]["1"]["rows"][0][3] = float("inf")
    path.write_text(json.dumps(data))
    with pytest.raises(AnswerFormatError, match="not finite"):
        load_key(path)


def test_an_old_key_file_is_still_read(tmp_path, key):
    # ag-exam-key/1, as handout.key_data wrote it before the key got its own module
    old = {"format": "ag-exam-key/1", "problems": {"1": {
        "seed": 1, "difficulty": "exam", "code": key.code, "order": key.order,
        "iteration_nodes": key.iteration_nodes, "n_leaves": key.n_leaves,
        "ops": [[op, list(args)] for op, args in key.ops], "leaf_values": key.leaf_values,
        "leaves": key.leaves, "keys_checked": key.keys_checked,
        "answers": {f"{r.iteration}|{r.quantity}": r.answer for r in key.rows if r.answer is not None},
        "rows": [[r.iteration, r.node, r.quantity] for r in key.rows]}}}
    (tmp_path / "old.json").write_text(json.dumps(old))
    loaded = load_key(tmp_path / "old.json")
    assert loaded.version == 1 and loaded[1].rows == key.rows
    assert grade(loaded[1], parse_answers(ALL_RIGHT)).score == 15


# -- 14. ag check ----------------------------------------------------------------------------------


def test_check_says_where_and_what_kind_not_the_number(tmp_path, capsys):
    # iteration 3: z2.grad = 3 + z4.value * z4.grad = 3 + 1 * 3 = 6; the student replaced instead of
    # adding (3)
    problem = tmp_path / "seed1.py"
    problem.write_text(SEED1_CODE)
    slipped = replace(ALL_RIGHT, ("3,z4:exp,z2.grad,6", "3,z4:exp,z2.grad,3"))
    path = tmp_path / "mine.csv"
    path.write_text(slipped)
    assert main(["check", str(problem), str(path)]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"{problem}: 14 of 15 rows right"
    assert ("first wrong row: iteration 3, z2.grad: the accumulation: a grad is added to (+=), not replaced; "
            "start from the grad it had before") in out
    assert "should be" not in out and "= 6" not in out
    assert main(["check", str(problem), str(path), "--show-answer"]) == 1
    shown = capsys.readouterr().out
    assert "z2.grad should be 3 + z4.value * z4.grad = 3 + 1 * 3 = 6, you wrote 3" in shown
    path.write_text(ALL_RIGHT)
    assert main(["check", str(problem), str(path)]) == 0
    assert capsys.readouterr().out.strip() == f"{problem}: every row is right (15 of 15)"
    # an exam seed: its own template filled in right
    assert main(["check", "4", "--template"]) == 0
    seed4 = load_problem("4")
    path.write_text(fill(capsys.readouterr().out, seed4.key))
    assert main(["check", "4", str(path)]) == 0
    assert capsys.readouterr().out.startswith("seed 4: every row is right")
    assert main(["check", "5", str(path)]) == 1
    assert "template of seed 4, not of seed 5" in capsys.readouterr().err


@pytest.mark.parametrize("change,kind", [
    (("1,z8:log,z6.grad,3", "1,z8:log,z6.grad,-3"), "a sign"),
    (("0,z9:mul,z8.grad,3", "0,z9:mul,z8.grad,0"), "a rule: look again at what this op's backward adds"),
    (("forward,z7:add,z7.value,3", "forward,z7:add,z7.value,4"), "the forward pass"),
    (("7,z5:relu,z1.grad,0", "7,z5:relu,z1.grad,"), "left blank"),
])
def test_check_names_the_kind_of_slip(change, kind):
    problem = CheckProblem("seed 1", ProblemKey.from_problem(seed1()), answer_template(seed1()))
    result = check_text(problem, replace(ALL_RIGHT, change))
    assert f": {kind}" in result.text(), result.text()


def test_check_of_an_order_slip_and_of_an_own_forward_file(tmp_path, capsys):
    invalid = replace(OTHER_ORDER, ("6,z6:add,z2.grad,3\n6,z6:add,z4.grad,3\n7,z4:exp,z2.grad,6",
                                    "6,z4:exp,z2.grad,0\n7,z6:add,z2.grad,3\n7,z6:add,z4.grad,3"))
    text = check_text(CheckProblem("seed 1", ProblemKey.from_problem(seed1()), ""), invalid).text()
    assert "the order: your order leaves the depth-first order at iteration 1" in text
    own = tmp_path / "hw.py"
    own.write_text(textwrap.dedent("""\
        import ag
        a = ag.Scalar(2.0, label="z1:leaf(a)")
        b = ag.Scalar(-3.0, label="z2:leaf(b)")
        z1 = a
        z2 = b
        z3 = z1*z2
        z4 = z3+z1
        z4.backward()
        """))
    assert main(["check", str(own), "--template"]) == 0
    template = capsys.readouterr().out
    assert "iteration,node,quantity,answer" in template and "z3.value" in template
    # by hand: z3 = -6, z4 = -4; it0 z4: z3.grad = 1, z1.grad = 1; it1 z3: z1.grad = 1 + b*1 = -2,
    # z2.grad = a*1 = 2
    filled = tmp_path / "hw.csv"
    mine = {"z3.value": "-6", "z4.value": "-4", "0|z3.grad": "1", "0|z1.grad": "1", "1|z1.grad": "-2",
            "1|z2.grad": "2"}
    lines = []
    for line in template.splitlines():
        cells = line.split(",")
        if len(cells) == 4 and cells[2] != "quantity":
            cells[3] = mine.get(cells[2], mine.get(f"{cells[0]}|{cells[2]}", ""))
        lines.append(",".join(cells))
    filled.write_text("\n".join(lines) + "\n")
    assert main(["check", str(own), str(filled)]) == 0, capsys.readouterr()
    assert "every row is right (6 of 6)" in capsys.readouterr().out


# -- other question kinds: graded row by row through the same key record -------------------------


def test_a_key_of_another_kind_is_graded_row_by_row(tmp_path):
    # SGD with momentum 0.9, lr 0.1 on f(w) = w^2 from w = 1, by hand:
    #   step 1: g = 2, v = 2, w = 1 - 0.2 = 0.8
    #   step 2: g = 1.6, v = 0.9*2 + 1.6 = 3.4, w = 0.8 - 0.34 = 0.46
    rows = [KeyRow("step 1", "", "velocity", 2.0), KeyRow("step 1", "", "w", 0.8),
            KeyRow("step 2", "", "velocity", 3.4), KeyRow("step 2", "", "w", 0.46)]
    ExamKey({5: ProblemKey(5, rows, kind="sgd")}).save(tmp_path / "key.json")
    (tmp_path / "a.csv").write_text("# seed: 5\niteration,node,quantity,answer\nstep 1,,velocity,2\n"
                                    "step 1,,w,0.8\nstep 2,,velocity,3.6\nstep 2,,w,0.46\nstep 3,,w,1\n")
    result = grade_file(load_key(tmp_path / "key.json"), tmp_path / "a.csv")
    assert result.error == "" and (result.score, result.max_score) == (3, 4)
    assert result.report.first_divergence.explanation == "step 2: velocity should be 3.4, you wrote 3.6"
    assert result.report.extra == [f"{tmp_path / 'a.csv'} line 7: the key asks for no w in step 3"]


def test_check_of_an_own_file_with_a_cube_is_row_by_row(tmp_path):
    # z2 = x**3 at x = 2 is 8 and x.grad = 3 * 2**2 = 12 (not the square's 2 * 2 = 4)
    own = tmp_path / "cube.py"
    own.write_text('import ag\nx = ag.Scalar(2.0, label="z1:leaf(x)")\nz1 = x\nz2 = z1**3\nz2.backward()\n')
    problem = load_problem(str(own))
    assert not problem.key.is_backprop  # the graph cannot be replayed by the exam ops: row by row
    right = fill(problem.template, problem.key)
    assert "z2.value,8.0" in right and "z1.grad,12.0" in right
    assert check_text(problem, right).all_right
    square = tmp_path / "square.py"
    square.write_text(own.read_text().replace("**3", "**2"))
    assert load_problem(str(square)).key.is_backprop


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="resource limits are POSIX")
def test_op_grading_limits_the_students_memory(tmp_path):
    from ag.exam.grade_op import MEMORY_LIMIT

    path = tmp_path / "limit.py"  # right only when its own address-space limit is the grader's
    path.write_text("import resource\n"
                    "def backward(grad, out, x):\n"
                    f"    ok = resource.getrlimit(resource.RLIMIT_AS)[0] == {MEMORY_LIMIT}\n"
                    "    return grad * (1 - out**2) * (1 if ok else 0)\n")
    assert grade_op("tanh", path, examples=2).score == 1.0


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(
    st.sampled_from(["forward", "0", "3", "8", "9", "99", "²", "", "-1", "x"]),
    st.sampled_from(["z9:mul", "z1", "", "z99", "=1+1", "z4:exp"]),
    st.sampled_from(["z4.value", "z7.grad", "z2.grad", "nothing", "", "z0.grad", "z10.value", "w"]),
    st.one_of(st.sampled_from(["1", "", "inf", "nan", "1/0", "e^999", "-0,5", "ln 0", "1e-400", "(", "2^-2"]),
              st.text(max_size=12))), max_size=25), st.sampled_from([",", ";", "\t"]), st.booleans())
def test_any_file_is_graded_or_refused_with_a_line_never_a_traceback(tmp_path_factory, rows, sep, hidden):
    """Whatever a student's file holds, ag grade gives a report or a format error naming the file."""
    folder = tmp_path_factory.mktemp("fuzz")
    key = ExamKey({1: ProblemKey.from_problem(seed1(), order_shown=not hidden)})
    lines = ["# seed: 1", sep.join(["iteration", "node", "quantity", "answer"])]
    clean = [[c.replace(sep, " ").replace("\n", " ").replace("\r", " ") for c in row] for row in rows]
    lines += [sep.join(row) for row in clean]
    path = folder / "fuzz.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = grade_file(key, path)
    assert (result.report is None) != (result.error == "")
    if result.report is None:
        assert result.error.startswith(str(path)), result.error
    else:
        assert 0 <= result.report.score <= result.report.max_score == (24 if hidden else 15)
        result.report.text()
