"""``ag trace -o``/``--html`` never replace the traced program or a user's file.

``ag trace hw.py -o hw.py`` used to overwrite the student's program with the trace,
and ``-o`` onto any existing file replaced it silently.
"""

from __future__ import annotations

import os

import pytest

from ag.cli import main

PROGRAM = "import ag\nx = ag.Scalar(2.0, label='x')\n(x * x).backward()\n"


@pytest.fixture()
def program(tmp_path):
    path = tmp_path / "hw.py"
    path.write_text(PROGRAM, encoding="utf-8")
    return path


@pytest.mark.parametrize("option", ["-o", "--html"])
def test_the_traced_program_is_never_overwritten(program, option, capsys):
    assert main(["trace", str(program), option, str(program)]) == 2
    err = capsys.readouterr().err
    assert "is the program being traced" in err and "hw-trace.txt" in err
    assert program.read_text(encoding="utf-8") == PROGRAM


def test_the_program_under_another_name_is_recognised(program, tmp_path, capsys):
    link = tmp_path / "same.py"
    os.link(program, link)  # a hard link: another name, the same file
    assert main(["trace", str(program), "-o", str(link)]) == 2
    assert "is the program being traced" in capsys.readouterr().err
    assert program.read_text(encoding="utf-8") == PROGRAM


def test_an_existing_file_that_is_not_a_trace_is_left_alone(program, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n", encoding="utf-8")
    assert main(["trace", str(program), "-o", str(notes)]) == 2
    assert "exists and is not a trace written by ag trace" in capsys.readouterr().err
    assert notes.read_text(encoding="utf-8") == "my notes\n"


@pytest.mark.parametrize("fmt", ["text", "markdown", "latex"])
def test_an_earlier_trace_is_replaced(program, tmp_path, fmt, capsys):
    out = tmp_path / "trace.out"
    assert main(["trace", str(program), "--format", fmt, "-o", str(out)]) == 0
    first = out.read_text(encoding="utf-8")
    assert main(["trace", str(program), "--format", fmt, "-o", str(out)]) == 0  # written again
    assert out.read_text(encoding="utf-8") == first
    program.write_text(PROGRAM + "(x * x * x).backward()\n", encoding="utf-8")  # two calls now
    assert main(["trace", str(program), "--format", fmt, "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("== backward call 1 of 2")
    assert main(["trace", str(program), "--format", fmt, "-o", str(out)]) == 0  # that one too
