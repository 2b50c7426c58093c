"""Backward traces: records, rule text, names, and the text/Markdown/LaTeX forms.

Expected values are worked by hand from the course's rules (see each comment).
"""

import math
import re

import pytest

import ag
import ag.trace
from ag import autodiff
from ag.trace import BackwardTrace, exam_names, format_number, latex_escape, markdown_code, preview


def problem_1_1():
    x = ag.scalar(2.0, label="z1\nleaf(x)")
    z2 = x * x
    z3 = z2 * z2
    return x, z2, z3


def test_problem_1_1_iterations_symbolic_and_numeric():
    x, z2, z3 = problem_1_1()
    with ag.trace() as t:
        z3.backward()
    run = t.last
    assert isinstance(run, BackwardTrace)
    assert run.order_text() == "[z1:leaf(x), z2:mul, z3:mul]"
    assert [run.display_name(s.node) for s in run.steps] == ["z3:mul", "z2:mul", "z1:leaf(x)"]
    # iteration 0: z2.grad += z2.value * z3.grad = 4*1, twice -> 8
    assert [str(r) for r in run.rules(0)] == ["z2.grad += z2.value * z3.grad = 4 * 1"] * 2
    assert run.update_lines(0) == ["z2.grad = 0 + 4 * 1 + 4 * 1 = 8"]
    # iteration 1: z1.grad += z1.value * z2.grad = 2*8, twice -> 32
    assert [str(r) for r in run.rules(1)] == ["z1.grad += z1.value * z2.grad = 2 * 8"] * 2
    assert run.update_lines(1) == ["z1.grad = 0 + 2 * 8 + 2 * 8 = 32"]
    assert run.rules(2) == [] and run.update_lines(2) == []
    # None: not reached yet (the tables' "—"), not a grad of 0
    assert run.grads_after(-1) == {"z1": None, "z2": None, "z3": 1.0}
    assert run.grads_after(0) == {"z1": None, "z2": 8.0, "z3": 1.0}
    assert run.grads_after(1) == {"z1": 32.0, "z2": 8.0, "z3": 1.0}
    assert run.final_grads() == {"z1": 32.0, "z2": 8.0, "z3": 1.0}
    assert run.grad_history() == [[0.0, 8.0, 1.0], [32.0, 8.0, 1.0], [32.0, 8.0, 1.0]]
    with pytest.raises(IndexError, match="out of range"):
        run.grads_after(3)


def test_trace_records_what_the_loop_did_not_what_came_after():
    x, z2, z3 = problem_1_1()
    with ag.trace() as t:
        z3.backward()
    x.value, x.grad = 100.0, -1.0  # later changes do not rewrite history
    assert t.last.final_grads()["z1"] == 32.0
    assert t.last.rules(0)[0].numeric == "4 * 1"


def test_leaves_accumulate_across_two_traced_calls():
    x, z2, z3 = problem_1_1()
    with ag.trace() as t:
        z3.backward()
        z3.backward()
    assert len(t) == 2
    # the second call starts from x.grad = 32 and adds 2*8 twice
    assert t.runs[1].update_lines(1) == ["z1.grad = 32 + 2 * 8 + 2 * 8 = 64"]
    assert x.grad == 64.0


def test_observer_removed_after_block_even_on_error():
    x, z2, z3 = problem_1_1()
    assert callable(ag.trace)  # ag.trace is the function that opens a trace
    with pytest.raises(RuntimeError):
        with ag.trace():
            assert len(autodiff.grad_mode.observers) == 1
            raise RuntimeError("boom")
    assert autodiff.grad_mode.observers == []
    z3.backward()  # untraced: the bare loop
    assert x.grad == 32.0


def test_nested_flag_and_is_tracing():
    from ag.trace import is_tracing

    assert not is_tracing()
    with ag.trace() as outer:
        assert is_tracing() and not outer.nested
        with ag.trace() as inner:
            assert inner.nested
            x, z2, z3 = problem_1_1()
            z3.backward()
    assert len(outer.runs) == len(inner.runs) == 1
    assert not is_tracing()


def test_last_without_any_backward_says_so():
    with ag.trace() as t:
        pass
    with pytest.raises(LookupError, match="no backward"):
        _ = t.last


def test_rule_text_for_each_scalar_op():
    a = ag.Scalar(6.0, label="a")
    b = ag.Scalar(3.0, label="b")
    # labels "a", "b" use no z-number, so the unlabelled div node is z1
    # div: a.grad += out.grad / b.value = 1 / 3; b.grad += -a.value / b.value**2 * out.grad
    run = ag.backward_trace(a / b)
    assert [r.symbolic for r in run.rules(0)] == [
        "a.grad += z1.grad / b.value",
        "b.grad += -a.value / b.value**2 * z1.grad",
    ]
    assert [r.numeric for r in run.rules(0)] == ["1 / 3", "-6 / 3**2 * 1"]
    assert run.update_lines(0) == ["a.grad = 0 + 1 / 3 = 0.333333", "b.grad = 0 + -6 / 3**2 * 1 = -0.666667"]

    c = ag.Scalar(2.0, label="c")
    run = ag.backward_trace(c**3)  # the exponent n = 3: 3 * 2**2 * 1 = 12
    assert str(run.rules(0)[0]) == "c.grad += 3 * c.value**(3 - 1) * z1.grad = 3 * 2**(3 - 1) * 1"
    assert run.final_grads()["c"] == 12.0

    d = ag.Scalar(-1.0, label="d")
    run = ag.backward_trace(ag.relu(d))  # relu of a negative passes nothing
    assert run.update_lines(0) == ["d.grad = 0 + (0 > 0) * 1 = 0"]


def test_exam_names_creation_order_skips_label_numbers():
    x1 = ag.Scalar(2.0, label="z1:leaf(x1)")
    wo = ag.Scalar(6.0, label="z3:leaf(wo)")
    p = x1 * x1  # unlabelled: gets z2 (z1 is taken)
    q = p * wo  # z3 is taken by wo -> z4
    short, display = exam_names(q.topological_sort())
    assert display[id(p)] == "z2:mul" and display[id(q)] == "z4:mul"
    assert short[id(x1)] == "z1" and short[id(wo)] == "z3"


def test_exam_names_clashing_labels_stay_distinct():
    a = ag.Scalar(1.0, label="z5:leaf(wo)")
    b = ag.Scalar(2.0, label="z5:mul")
    short, display = exam_names((a * b).topological_sort())
    assert short[id(a)] == "z5:leaf(wo)" and short[id(b)] == "z5:mul"
    c, d = ag.Scalar(1.0, label="same"), ag.Scalar(2.0, label="same")
    short, _ = exam_names((c + d).topological_sort())
    assert sorted([short[id(c)], short[id(d)]]) == ["same#1", "same#2"]


def test_format_number_and_preview():
    assert format_number(8.0) == "8"
    assert format_number(-0.0) == "0"
    assert format_number(math.exp(-6.0)) == "0.00247875"
    assert format_number(float("inf")) == "inf"
    np = pytest.importorskip("numpy")
    assert preview(np.array([1.0, 2.5, -3.0])) == "[1, 2.5, -3]"
    assert preview(np.zeros((50, 50))).endswith("(50x50)")
    assert len(preview(np.arange(1000.0))) < 70


def test_text_table_problem_1_1():
    x, z2, z3 = problem_1_1()
    with ag.trace() as t:
        z3.backward()
    text = t.text()
    assert "topological order: [z1:leaf(x), z2:mul, z3:mul]" in text
    assert "=> z2.grad = 0 + 4 * 1 + 4 * 1 = 8" in text
    assert "=> z1.grad = 0 + 2 * 8 + 2 * 8 = 32" in text
    assert "leaf: nothing to do" in text
    rows = text.split("grads after each iteration")[1].splitlines()[1:]
    assert rows[0].split() == ["iteration", "z1", "z2", "z3"]
    assert rows[1].split() == ["0", "—", "8", "1"]  # z1 is not reached before iteration 1
    assert rows[2].split() == ["1", "32", "8", "1"]


def test_markdown_answer_key_problem_1_1():
    x, z2, z3 = problem_1_1()
    md = ag.backward_trace(z3).markdown()
    assert "**Topological order:** `[z1:leaf(x), z2:mul, z3:mul]`" in md
    assert "| 1 | `z2:mul` | `z1.grad += z1.value * z2.grad`<br>`z1.grad += z1.value * z2.grad` |" in md
    assert "`z1.grad = 0 + 2 * 8 + 2 * 8 = 32`" in md
    assert "| 1 | `32` | `8` | `1` |" in md


def test_latex_answer_key_problem_1_1():
    x, z2, z3 = problem_1_1()
    tex = ag.backward_trace(z3).latex()
    assert r"\texttt{z1.grad = 0 + 2 * 8 + 2 * 8 = 32}" in tex
    assert r"1 & 32 & 8 & 1 \\" in tex
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 2


EVIL = 'q"uo\'te <script>alert(1)</script> {br|ace} $x_1^2$ &amp; 100%\nnext `tick`'


def test_labels_are_text_in_markdown_and_latex():
    x = ag.Scalar(2.0, label=EVIL)
    run = ag.backward_trace(x * x)
    md = run.markdown()
    # inside a code span HTML is literal; pipes are escaped so the table keeps its columns
    span = "`` q\"uo'te <script>alert(1)</script> {br\\|ace} $x_1^2$ &amp; 100%:next `tick` ``"
    assert span in md
    outside_code = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", md)
    assert "<script>" not in outside_code and "{br" not in outside_code
    rows = [line for line in md.splitlines() if line.startswith("| 0 | `z1:mul`")]
    assert len(rows) == 1
    cells = rows[0].replace("\\|", "").split("|")
    assert len(cells) == 7  # 5 columns + the two outer bars
    assert markdown_code("a|b") == "`a\\|b`"
    assert markdown_code("a`b") == "`` a`b ``"
    assert "\n" not in markdown_code("one\ntwo")
    tex = run.latex()
    assert r"\textless{}script\textgreater{}" in tex
    assert r"\{br\textbar{}ace\}" in tex and r"\$x\_1\^{}2\$" in tex and r"100\%" in tex
    assert latex_escape("a\\b") == r"a\textbackslash{}b"
    for line in run.text().splitlines():
        assert "\n" not in line


def test_tensor_trace_shows_previews_and_copies_arrays():
    np = pytest.importorskip("numpy")
    pytest.importorskip("ag.tensor")
    x = ag.Tensor(np.array([1.0, 2.0, 3.0]), label="x")
    s = ag.sum(x * x)
    with ag.trace() as t:
        s.backward()
    run = t.last
    assert run.order_text() == "[x, z1:mul, z2:sum]"
    # iteration 1 (mul): x.grad += z1.grad * x.value = [1, 1, 1] * [1, 2, 3], twice -> [2, 4, 6]
    assert [r.numeric for r in run.rules(1)] == ["[1, 1, 1] * [1, 2, 3]"] * 2
    assert run.update_lines(1) == ["x.grad = 0 + [1, 1, 1] * [1, 2, 3] + [1, 1, 1] * [1, 2, 3] = [2, 4, 6]"]
    x.grad[:] = 0.0  # an in-place change after the fact does not reach the record
    assert run.final_grads()["x"].tolist() == [2.0, 4.0, 6.0]
    assert "=> x.grad = [2  4  6]" in run.text()  # the matrix in full


def test_device_arrays_are_read_through_get():
    np = pytest.importorskip("numpy")
    pytest.importorskip("ag.gpu")
    try:
        x = ag.Tensor(np.array([1.0, 2.0]), label="x").to("fake")  # refuses np.asarray, like CuPy
    except Exception as err:  # pragma: no cover - no fake device in this checkout
        pytest.skip(f"no fake device: {err}")
    run = ag.backward_trace(ag.sum(x * x))
    # d/dx sum(x*x) = 2x = [2, 4], added as 1*x twice
    assert run.update_lines(1) == ["z1.grad = 0 + [1, 1] * [1, 2] + [1, 1] * [1, 2] = [2, 4]"]
    assert "grad =<BR" in ag.viz.to_dot(run.root) and "[2\u00a0\u00a04]" in ag.viz.to_dot(run.root)
