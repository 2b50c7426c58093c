"""The ``ag`` command follows Python's conventions: ``python -m ag``, ``--version``,
``ag trace -o FILE`` writing the trace alone, ``--quiet``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import ag
from ag.cli import main

ROOT = Path(__file__).resolve().parents[2]
HOMEWORK = '''import ag
print("the homework's own output")
x = ag.Scalar(2.0, label="x")
(x * x).backward()
'''


@pytest.fixture
def homework(tmp_path):
    path = tmp_path / "hw.py"
    path.write_text(HOMEWORK, encoding="utf-8")
    return path


def _python_m_ag(*argv, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "ag", *argv], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


def test_python_m_ag_runs_the_command(homework, tmp_path):
    done = _python_m_ag("trace", str(homework), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "topological order: [x, z1:mul]" in done.stdout
    usage = _python_m_ag("--help", cwd=tmp_path)
    assert usage.returncode == 0 and usage.stdout.startswith("usage: ag ")


def test_version_is_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"ag {ag.__version__}"


def test_output_file_holds_the_trace_alone(homework, tmp_path, capsys):
    key = tmp_path / "keys" / "key.md"
    assert main(["trace", str(homework), "--format", "markdown", "-o", str(key)]) == 0
    out = capsys.readouterr().out
    text = key.read_text(encoding="utf-8")
    assert "the homework's own output" in out          # stays on the terminal
    assert "the homework's own output" not in text
    assert text.startswith("**Backward from** `z1:mul`")
    assert "x.grad" in text and "| iteration |" in text
    assert "Backward from" not in out                 # the trace went to the file only


def test_quiet_hides_the_program_output_but_not_the_trace(homework, capsys):
    assert main(["trace", str(homework), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "the homework's own output" not in out
    assert out.startswith("backward from z1:mul")


def test_output_file_in_an_unwritable_place_is_a_clear_error(homework, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    assert main(["trace", str(homework), "-o", str(blocker / "key.md")]) == 1
    assert "ag trace: cannot write" in capsys.readouterr().err
