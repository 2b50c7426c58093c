"""The `ag` command: `ag trace FILE.py` and `ag exam`."""

import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ag.cli import main
from ag.exam import OPS, generate

ROOT = Path(__file__).resolve().parents[2]
PROBLEM_1_3 = ROOT / "exercises" / "problem_1_3.py"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_trace_problem_1_3_prints_order_and_table(capsys):
    code, out, err = run(capsys, "trace", str(PROBLEM_1_3))
    assert code == 0, err
    assert out.startswith("18.0 12.0 22.0\n")  # the file's own print (wr, wi, wo grads)
    assert ("topological order: [z3:leaf(wr), z2:leaf(h0), z5:mul, z4:leaf(wi), z1:leaf(x1), "
            "z6:mul, z7:add, z8:relu, z9:leaf(wo), z10:mul]") in out
    # hand-derived: z10 = z8*z9 gives z8.grad = 6*1 and z9.grad = 22*1; z5 = z3*z2 gives 3*6 and 4*6
    assert "=> z8.grad = 0 + 6 * 1 = 6" in out and "=> z9.grad = 0 + 22 * 1 = 22" in out
    assert "=> z3.grad = 0 + 3 * 6 = 18" in out and "=> z2.grad = 0 + 4 * 6 = 24" in out
    assert out.count("backward from") == 1  # the file's own table is not printed twice


def test_trace_markdown_and_latex(capsys):
    code, out, _ = run(capsys, "trace", str(PROBLEM_1_3), "--format", "markdown")
    assert code == 0 and "| 4 | `z6:mul` |" in out and "`z1.grad = 0 + 5 * 6 = 30`" in out
    code, out, _ = run(capsys, "trace", str(PROBLEM_1_3), "--format", "latex")
    assert code == 0 and r"\texttt{z4.grad = 0 + 2 * 6 = 12}" in out


@needs_dot
def test_trace_writes_html_and_svgs(capsys, tmp_path):
    html = tmp_path / "out" / "p.html"
    code, out, _ = run(capsys, "trace", str(PROBLEM_1_3), "--html", str(html), "--svg", str(tmp_path / "svg"))
    assert code == 0 and f"wrote {html}" in out
    page = html.read_text()
    assert page.count('<section class="frame"') == 10
    names = sorted(p.name for p in (tmp_path / "svg").iterdir())
    assert names == ["graph.svg"] + [f"iteration-{k:02d}.svg" for k in range(10)]


def write(tmp_path, text, name="hw.py"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_trace_several_backward_calls(capsys, tmp_path):
    path = write(tmp_path, "import ag\nx = ag.Scalar(3.0, label='x')\ny = x*x\ny.backward()\ny.backward()\n")
    code, out, _ = run(capsys, "trace", path)
    assert code == 0
    assert "== backward call 1 of 2 ==" in out and "== backward call 2 of 2 ==" in out
    assert "=> x.grad = 6 + 3 * 1 + 3 * 1 = 12" in out  # leaves accumulate: 6 then 12


def test_trace_imports_neighbours_and_sees_argv(capsys, tmp_path):
    write(tmp_path, "VALUE = 5.0\n", "helper.py")
    path = write(tmp_path, "import sys, ag, helper\nassert sys.argv[0].endswith('hw.py')\n"
                 "x = ag.Scalar(helper.VALUE, label='x')\n(x*x).backward()\n")
    code, out, err = run(capsys, "trace", path)
    assert code == 0, err
    assert "x.grad = 0 + 5 * 1 + 5 * 1 = 10" in out


def test_trace_without_backward_says_so(capsys, tmp_path):
    path = write(tmp_path, "import ag\nx = ag.Scalar(1.0)\nprint('hello')\n")
    code, out, err = run(capsys, "trace", path)
    assert code == 1 and out == "hello\n"
    assert "made no backward() call" in err and "Traceback" not in err


def test_trace_syntax_error_says_where(capsys, tmp_path):
    path = write(tmp_path, "import ag\nx = ag.Scalar(1.0\ny = 2\n")
    code, out, err = run(capsys, "trace", path)
    assert code == 1 and out == ""
    assert re.search(r"has a syntax error at line \d", err) and "Traceback" not in err


def test_trace_file_that_raises(capsys, tmp_path):
    path = write(tmp_path, "import ag\nx = ag.Scalar(1.0, label='x')\ny = x / 0\ny.backward()\n")
    code, _, err = run(capsys, "trace", path)
    assert code == 1 and "Traceback" not in err
    assert "stopped with ZeroDivisionError" in err and "line 3: y = x / 0" in err and "'x'" in err


def test_trace_missing_file(capsys, tmp_path):
    code, _, err = run(capsys, "trace", str(tmp_path / "nope.py"))
    assert code == 2 and "no such file" in err


def test_trace_missing_dot_is_a_plain_error(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    code, out, err = run(capsys, "trace", str(PROBLEM_1_3), "--html", str(tmp_path / "p.html"))
    assert code == 1 and "topological order" in out  # the table still prints
    assert "apt-get install graphviz" in err and "Traceback" not in err


def test_help_is_complete():
    out = subprocess.run([sys.executable, "-m", "ag.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "trace" in out.stdout and "exam" in out.stdout
    out = subprocess.run([sys.executable, "-m", "ag.cli", "trace", "--help"], capture_output=True, text=True)
    for option in ("FILE.py", "--html", "--svg", "--format", "markdown", "latex", "--digits"):
        assert option in out.stdout
    out = subprocess.run([sys.executable, "-m", "ag.cli", "exam", "--help"], capture_output=True, text=True)
    for option in ("--seed", "--ops", "--nodes", "--leaves", "--format", "html", "--no-answers", "--output"):
        assert option in out.stdout
    for op in OPS:
        assert op in out.stdout


# -- ag exam --------------------------------------------------------------------------------


def test_exam_same_seed_same_problem(capsys):
    _, first, _ = run(capsys, "exam", "--seed", "11")
    _, again, _ = run(capsys, "exam", "--seed", "11")
    assert first == again and first.startswith("Exam problem (seed 11)")
    others = {run(capsys, "exam", "--seed", str(s))[1] for s in range(12, 18)}
    assert len(others) > 1


def test_exam_format_is_the_course_format(capsys):
    code, out, _ = run(capsys, "exam", "--seed", "4", "--ops", "mul,add", "--nodes", "3", "--leaves", "2")
    assert code == 0
    code_lines = out.split("Forward code:\n\n")[1].split("\n\nTopological order")[0].splitlines()
    assert re.fullmatch(r'    x = ag\.Scalar\(-?\d\.\d, label="z1:leaf\(x\)"\)', code_lines[0])
    assert re.fullmatch(r'    y = ag\.Scalar\(-?\d\.\d, label="z2:leaf\(y\)"\)', code_lines[1])
    assert code_lines[3:5] == ["    z1 = x", "    z2 = y"]
    assert [line.split(" = ")[0].strip() for line in code_lines[5:8]] == ["z3", "z4", "z5"]
    assert code_lines[8] == "    z5.backward()" and code_lines[9] == "    print(x.grad, y.grad)"
    order = out.split("Topological order (non-reversed):\n\n    ")[1].splitlines()[0]
    assert order.endswith("z5:mul]") or order.endswith("z5:add]")
    assert "Answer key" in out and "Answer: x.grad = " in out


def output_value(code: str, out_name: str, leaf: str, delta: float) -> float:
    """Rerun generated exam code with ``leaf`` moved by ``delta``; the output's value."""
    code = re.sub(rf"^{leaf} = ag\.Scalar\((-?[\d.]+)",
                  lambda m: f"{leaf} = ag.Scalar({float(m.group(1)) + delta!r}", code, flags=re.M)
    code = code.replace(f"{out_name}.backward()", "").replace("print(", "(")
    ns = {"ag": __import__("ag")}
    exec(code, ns)
    return ns[out_name].value


def test_exam_answers_match_finite_differences():
    # independent of the backward pass: perturb each leaf in the generated code and rerun it
    h = 1e-6
    for seed in range(8):
        p = generate(seed=seed, ops=list(OPS), nodes=5)
        out_name = p.code.splitlines()[-2].split(".")[0]
        for leaf in p.leaves:
            up, down = (output_value(p.code, out_name, leaf, d) for d in (h, -h))
            numeric = (up - down) / (2 * h)
            assert math.isclose(p.answers[leaf], numeric, rel_tol=1e-4, abs_tol=1e-6), (seed, leaf, p.code)


def test_exam_every_op_is_defined():
    for seed in range(60):
        for ops in (list(OPS), ["log", "exp"], ["div"], ["log", "sub"]):
            p = generate(seed=seed, ops=ops, nodes=6)
            assert all(math.isfinite(v) for v in p.run.values)
            assert len(p.run.order) == len(p.leaves) + 6  # every node feeds the output


def test_exam_formats_and_errors(capsys, tmp_path):
    code, out, _ = run(capsys, "exam", "--seed", "2", "--format", "markdown")
    assert code == 0 and "```python" in out and "### Answer key" in out
    code, out, _ = run(capsys, "exam", "--seed", "2", "--format", "latex", "--no-answers")
    assert code == 0 and r"\begin{verbatim}" in out and "Answer key" not in out
    target = tmp_path / "exam.html"
    code, out, _ = run(capsys, "exam", "--seed", "2", "--format", "html", "-o", str(target), "--no-answers")
    assert code == 0 and target.read_text().startswith("<!DOCTYPE html>")
    code, _, err = run(capsys, "exam", "--ops", "mul,frobnicate")
    assert code == 2 and "frobnicate" in err and "choose from" in err
    code, _, err = run(capsys, "exam", "--nodes", "0")
    assert code == 2 and "--nodes" in err


@needs_dot
def test_exam_html_has_the_stepper(capsys):
    code, out, _ = run(capsys, "exam", "--seed", "9", "--nodes", "3", "--format", "html")
    assert code == 0 and "<h2>Forward code</h2>" in out and out.count("<svg") == len(
        generate(seed=9, nodes=3).run.steps)
