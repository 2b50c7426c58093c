"""`ag remat` writes into out/ (never over the repository's docs/ figures) and shows progress."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from ag.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs"
SMALL = ["remat", "--layers", "2", "--width", "8", "--batch", "2", "--repeats", "1"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_defaults_write_to_out_and_leave_docs_alone(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib", reason="the plot needs matplotlib (pip install -e '.[plot]')")
    if shutil.which("dot") is None:
        pytest.skip("the chain drawing needs Graphviz's dot")
    tracked = {p: _digest(p) for p in (DOCS / "remat_tradeoff.png", DOCS / "remat_chain.svg")}
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    assert main(SMALL) == 0
    out, err = capsys.readouterr()
    assert (tmp_path / "out" / "remat_tradeoff.png").stat().st_size > 1000
    assert (tmp_path / "out" / "remat_chain.svg").read_text(encoding="utf-8").lstrip().startswith("<")
    assert "wrote out/remat_tradeoff.png" in out and "wrote out/remat_chain.svg" in out
    assert {p: _digest(p) for p in tracked} == tracked
    assert "ag remat: measuring" in err  # the tqdm bar, on stderr
    # per run: 1 warm-up + (repeats + 1) per setting; 3 settings (plain, every 4th, sqrt N),
    # then the sweep's plain + k in (1, 2): 7 + 7 measurements, all counted
    assert "14/14" in err


def test_out_folder_and_no_progress(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([*SMALL, "--no-plot", "--no-progress", "--out", "figures"]) == 0
    out, err = capsys.readouterr()
    assert "sqrt(N) segments" in out
    assert "measuring" not in err
    assert not (tmp_path / "figures").exists()  # --no-plot writes nothing
