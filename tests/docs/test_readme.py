"""Every ```python block of README.md and of the guides (docs/*.md) runs as pasted, in order.

A reader pastes a page's blocks one after another into one interpreter, so they share
names (a later block may use the `model` an earlier one made); each page is its own
session. Fragments shown only for reading are fenced as ```python notest (GitHub still
highlights them) or as text, and are not run. The blocks run in a temporary folder,
since some write files (graph.svg, digits.npz, curves.png).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
# What a page's blocks need beyond ag itself, read from the code: (marker, module or tool, hint).
NEEDS = [
    ("load_digits", "sklearn", "scikit-learn (pip install -e '.[tutorials]')"),
    ("plot_history", "matplotlib", "matplotlib (pip install -e '.[tutorials]')"),
    ("render(", "dot", "Graphviz's dot (apt-get install graphviz)"),
]


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, code) of each fenced block whose info string is exactly ``python``."""
    blocks = []
    for match in FENCE.finditer(text):
        if match.group(1).strip() == "python":
            line = text.count("\n", 0, match.start()) + 2  # first line of the code
            blocks.append((line, match.group(2)))
    return blocks


def pages_with_code() -> list[Path]:
    """README.md, then every guide under docs/ that has a python block."""
    guides = [p for p in sorted((ROOT / "docs").glob("*.md")) if python_blocks(p.read_text(encoding="utf-8"))]
    return [README, *guides]


CASES = [(page.relative_to(ROOT).as_posix(), line, code)
         for page in pages_with_code() for line, code in python_blocks(page.read_text(encoding="utf-8"))]


def test_the_collector_finds_blocks_and_leaves_fragments_out():
    sample = "a\n```python\nx = 1\n```\n```python notest\nundefined()\n```\n```text\n.\n```\n"
    assert python_blocks(sample) == [(3, "x = 1\n")]
    readme_blocks = [c for c in CASES if c[0] == "README.md"]
    assert len(readme_blocks) >= 5, "README.md lost its runnable examples"
    guides = {c[0] for c in CASES} - {"README.md"}
    assert {"docs/tracing.md", "docs/tensors.md", "docs/training.md"} <= guides, guides


def test_readme_stays_short():
    """The README is for a student and an instructor; details belong in the guides."""
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= 300, f"README.md has {lines} lines; move details to docs/*.md"


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    """One namespace per page, all run in one temporary working folder."""
    folder = tmp_path_factory.mktemp("readme")
    state: dict[str, dict] = {}
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


def _skip_unless_available(page: str) -> None:
    code = "".join(c for p, _, c in CASES if p == page)
    for marker, need, hint in NEEDS:
        if marker not in code:
            continue
        if need == "dot":
            if shutil.which("dot") is None:
                pytest.skip(f"{page} needs {hint}")
        else:
            pytest.importorskip(need, reason=f"{page} needs {hint}")


@pytest.mark.parametrize(("page", "line", "code"), CASES, ids=[f"{p}:{line}" for p, line, _ in CASES])
def test_page_block_runs(sessions, page, line, code):
    _skip_unless_available(page)
    session = sessions.setdefault(page, {"namespace": {"__name__": "__main__"}, "failed_at": None})
    if session["failed_at"] is not None:
        pytest.skip(f"the block at {page}:{session['failed_at']} failed, and this one may use its names")
    try:
        exec(compile(code, f"{page}:{line}", "exec"), session["namespace"])
    except BaseException:
        session["failed_at"] = line
        raise
