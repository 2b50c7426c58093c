"""The examples train on small budgets (the full runs are quoted in the README)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
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
