"""The examples train on small budgets (the full runs are quoted in the README)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name: str, folder: Path = EXAMPLES):
    spec = importlib.util.spec_from_file_location(f"{folder.name}_{name}", folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mlp_on_digits():
    pytest.importorskip("sklearn")
    result = _load("mlp_digits").main(epochs=12, progress=False)
    assert result["test_accuracy"] >= 0.95


def test_rnn_reverses_short_sequences():
    result = _load("rnn_sequence").main(epochs=3, length=4, n_train=4000, progress=False)
    assert result["test_sequences"] > 100
    assert result["test_token_accuracy"] >= 0.9  # chance is 0.1


def test_transformer_reverses_short_sequences():
    result = _load("transformer_reverse").main(epochs=1, length=4, n_train=4000, progress=False)
    assert result["test_sequences"] > 100
    assert result["greedy_token_accuracy"] >= 0.9


def test_attention_benchmark_runs_and_agrees_with_torch(capsys):
    spec = importlib.util.spec_from_file_location(
        "bench_attention", EXAMPLES.parent / "benchmarks" / "attention.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = bench.main(["--repeats", "1", "--warmup", "0", "--threads", "1"])
    assert results["threads=1"]["ag"] > 0
    out = capsys.readouterr().out
    try:
        import torch  # noqa: F401
    except ImportError:
        assert "torch is not installed" in out
    else:
        assert "ratio ag / torch" in out
        diff = float(out.split("ag vs torch: ")[1].split()[0])
        assert diff < 1e-5  # the same gradients in float32


# The course benchmarks run end to end: each implementation's gradients are checked
# against the reference before anything is timed (no timing is asserted here).


def test_course_workloads_check_their_gradients_and_print_a_table(capsys):
    bench = _load("course_workloads", EXAMPLES.parent / "benchmarks")
    results = bench.main(["--only", "small_mlp", "attention", "--rounds", "2"])
    out = capsys.readouterr().out
    assert "MLP 16-32-32-4" in out and "attention + MLP block" in out
    assert len(results) == 4  # two workloads, two dtypes


@pytest.mark.torch
def test_conv_floor_kernels_give_torch_s_gradients(capsys):
    pytest.importorskip("torch")
    _load("conv_floor", EXAMPLES.parent / "benchmarks").main(["--rounds", "2"])
    out = capsys.readouterr().out
    assert out.count("floor") >= 2 and "float64" in out


def test_seed_copy_benchmark_restores_the_copy_and_compares_equal_grads(capsys):
    import ag.ops.core

    own_copy = ag.ops.core._own_copy
    _load("seed_copy", EXAMPLES.parent / "benchmarks").main(["--rounds", "2"])
    assert ag.ops.core._own_copy is own_copy  # the measurement's swap is undone
    out = capsys.readouterr().out
    assert out.count("with the copy") == 2 and "float64" in out


def test_stepper_build_benchmark_times_both_course_graphs(capsys):
    import shutil

    if not shutil.which("dot"):
        pytest.skip("the stepper draws its frames with Graphviz's dot")
    _load("stepper_build", EXAMPLES.parent / "benchmarks").main(["--repeat", "1"])
    out = capsys.readouterr().out
    assert "problem 1.3  (10 iterations)" in out and "attention    (16 iterations)" in out
