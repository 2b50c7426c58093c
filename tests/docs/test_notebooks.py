"""The tutorial notebooks (docs/notebooks/) run headless from top to bottom, as a reader
would run them, and show what their text promises (drawings, the trace, a trained model).

They run in a Jupyter kernel through nbclient (`pip install -e ".[tutorials]"`; `make
test` installs it). The notebooks are committed executed (scripts/run_notebooks.py), so
GitHub and the docs site show their outputs; each test also checks that the committed
outputs are those of a fresh run (numbers with decimals and timings aside).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "docs" / "notebooks"
REPO = NOTEBOOKS.parent.parent


def _execute(name: str):
    nbformat = pytest.importorskip("nbformat", reason="pip install -e '.[tutorials]' runs the notebooks")
    nbclient = pytest.importorskip("nbclient", reason="pip install -e '.[tutorials]' runs the notebooks")
    pytest.importorskip("ipykernel", reason="pip install -e '.[tutorials]' runs the notebooks")
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    # The kernel imports ag from this checkout, as `make test` does, even without an install.
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env_path) if p)
    start = time.perf_counter()
    try:
        client = nbclient.NotebookClient(
            book, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
        )
        client.execute()
    finally:
        if env_path:
            os.environ["PYTHONPATH"] = env_path
        else:
            os.environ.pop("PYTHONPATH", None)
    return book, time.perf_counter() - start


_DECIMALS = re.compile(r"-?\d+\.\d+(e-?\d+)?")
_IDS = re.compile(r"\b[0-9a-f]{32}\b|0x[0-9a-f]+")  # widget model ids, object addresses


def _shape_of_outputs(book) -> list[list[tuple[str, str]]]:
    """Per code cell: (output type or mime, its text with decimals and ids masked)."""
    cells = []
    for cell in book.cells:
        if cell.cell_type != "code":
            continue
        found: list[tuple[str, str]] = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":  # a stream arrives in chunks that vary run to run
                if "IPKernelApp" in out["text"]:
                    continue
                text = _IDS.sub("#", _DECIMALS.sub("#", out["text"]))
                if found and found[-1][0] == out["name"]:
                    found[-1] = (out["name"], found[-1][1] + text)
                else:
                    found.append((out["name"], text))
                continue
            for mime, value in sorted(out.get("data", {}).items()):
                text = value if mime == "text/plain" else ""  # images and pages: their kind only
                found.append((mime, _IDS.sub("#", _DECIMALS.sub("#", str(text)))))
        cells.append(found)
    return cells


def _assert_committed_outputs_are_current(name: str, fresh) -> None:
    import nbformat

    committed = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert [c.source for c in committed.cells] == [c.source for c in fresh.cells]
    assert any(c.get("outputs") for c in committed.cells if c.cell_type == "code"), (
        f"{name} is committed without outputs: run python scripts/run_notebooks.py {name}")
    assert _shape_of_outputs(committed) == _shape_of_outputs(fresh), (
        f"{name}'s committed outputs are stale: run python scripts/run_notebooks.py {name}")


def _outputs(book, mime: str) -> list[str]:
    found = []
    for cell in book.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and mime == "text/plain":
                found.append(out["text"])
            elif mime in out.get("data", {}):
                found.append(out["data"][mime])
    return found


def _text(book) -> str:
    return "\n".join(_outputs(book, "text/plain"))


def test_the_three_tutorials_are_there():
    names = {p.name for p in NOTEBOOKS.glob("*.ipynb")}
    assert {"backprop-by-hand.ipynb", "small-transformer.ipynb", "softmax-regression.ipynb"} <= names


def test_backprop_by_hand_draws_and_steps_the_finals_problems():
    book, _ = _execute("backprop-by-hand.ipynb")
    _assert_committed_outputs_are_current("backprop-by-hand.ipynb", book)
    svgs = _outputs(book, "image/svg+xml")
    assert len(svgs) >= 4, "the blank sheets, problem 1.1's graph and the iteration-4 frame are drawings"
    text = _text(book)
    assert "topological order: [z1:leaf(x), z2:leaf(y), z3:mul, z4:exp, z5:log]" in text
    assert "wr.grad 18.0 wi.grad 12.0 wo.grad 22.0" in text
    assert "z1.grad = 0 + 2 * 8 + 2 * 8 = 32" in text  # problem 1.1: x*x adds to x twice
    assert "10 frames" in text   # problem 1.3: one frame per iteration
    assert any("<iframe" in h for h in _outputs(book, "text/html"))


def test_softmax_regression_matches_the_formula_and_trains():
    book, _ = _execute("softmax-regression.ipynb")
    _assert_committed_outputs_are_current("softmax-regression.ipynb", book)
    text = _text(book)
    assert "True True" in text  # backprop and the formula both equal the hand-worked gradient
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", text).group(1))
    assert accuracy > 0.9
    assert _outputs(book, "image/png"), "the training curve is plotted"


def test_small_transformer_learns_to_reverse_in_well_under_a_minute():
    book, seconds = _execute("small-transformer.ipynb")
    _assert_committed_outputs_are_current("small-transformer.ipynb", book)
    text = _text(book)
    accuracy = float(re.search(r"greedy-decoding token accuracy ([0-9.]+)", text).group(1))
    assert accuracy >= 0.9, text
    assert _outputs(book, "image/png"), "the loss curve is plotted"
    print(f"small-transformer.ipynb ran in {seconds:.1f} s")


def test_two_steppers_is_committed_with_working_offline_steppers():
    book, _ = _execute("two-steppers.ipynb")
    _assert_committed_outputs_are_current("two-steppers.ipynb", book)
    import nbformat

    committed = nbformat.read(NOTEBOOKS / "two-steppers.ipynb", as_version=4)
    pages = _outputs(committed, "text/html")
    steppers = [p for p in pages if '<div class="ag-stepper"' in p]
    assert len(steppers) == 2 and all("agStepperInit(" in p for p in steppers)
    assert "widgets" not in committed.metadata  # no saved state: nbconvert shows the HTML fallback
