"""Every ```python block of README.md runs as pasted, in order, in one namespace.

A reader pastes the blocks one after another into one interpreter, so they share
names (a later block may use the `model` an earlier one made). Fragments shown only
for reading are fenced as ```python notest (GitHub still highlights them) or as
text, and are not run. The blocks run in a temporary folder, since some write
files (graph.svg, digits.npz, curves.png).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, code) of each fenced block whose info string is exactly ``python``."""
    blocks = []
    for match in FENCE.finditer(text):
        if match.group(1).strip() == "python":
            line = text.count("\n", 0, match.start()) + 2  # first line of the code
            blocks.append((line, match.group(2)))
    return blocks


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def test_the_collector_finds_blocks_and_leaves_fragments_out():
    sample = "a\n```python\nx = 1\n```\n```python notest\nundefined()\n```\n```text\n.\n```\n"
    assert python_blocks(sample) == [(3, "x = 1\n")]
    assert len(BLOCKS) >= 8, "README.md lost its runnable examples"


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """One namespace and one working folder for all the blocks, as one pasted session."""
    pytest.importorskip("sklearn", reason="README's training block loads digits (pip install -e '.[data]')")
    pytest.importorskip("matplotlib", reason="README's training block plots (pip install -e '.[plot]')")
    if shutil.which("dot") is None:
        pytest.skip("README's drawing block renders with Graphviz's dot (apt-get install graphviz)")
    folder = tmp_path_factory.mktemp("readme")
    state = {"namespace": {"__name__": "__main__"}, "failed_at": None}
    cwd = os.getcwd()
    old_backend = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"
    os.chdir(folder)
    try:
        yield state
    finally:
        os.chdir(cwd)
        if old_backend is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = old_backend


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"README.md:{line}" for line, _ in BLOCKS])
def test_readme_block_runs(session, line, code):
    if session["failed_at"] is not None:
        pytest.skip(f"the block at README.md:{session['failed_at']} failed, and this one may use its names")
    try:
        exec(compile(code, f"README.md:{line}", "exec"), session["namespace"])
    except BaseException:
        session["failed_at"] = line
        raise
