"""The course benchmarks run end to end: each implementation's gradients are checked
against the reference before anything is timed (no timing is asserted here)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_course_workloads_check_their_gradients_and_print_a_table(capsys):
    results = _load("course_workloads").main(["--only", "small_mlp", "attention", "--rounds", "2"])
    out = capsys.readouterr().out
    assert "MLP 16-32-32-4" in out and "attention + MLP block" in out
    assert results  # one entry per workload and dtype


@pytest.mark.torch
def test_conv_floor_kernels_give_torch_s_gradients(capsys):
    pytest.importorskip("torch")
    _load("conv_floor").main(["--rounds", "2"])
    out = capsys.readouterr().out
    assert out.count("floor") >= 2 and "float64" in out
