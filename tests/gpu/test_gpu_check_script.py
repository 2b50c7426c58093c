"""scripts/gpu_check.sh, the one-call device check, run on the fake device (--fake).

The same steps as on a GPU machine (device tests, benchmarks/gpu.py, training the
transformer example, the Markdown report), at small sizes, with no CUDA install.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu_check.sh"

pytestmark = pytest.mark.skipif(
    shutil.which("bash") is None or shutil.which("timeout") is None,
    reason="the check script needs bash and coreutils' timeout",
)


def _env(out: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AG_GPU_")}
    env.update({"OUT": str(out), "PYTHON": sys.executable, "AG_GPU_CHECK_BUDGET": "150", **extra})
    return env


def _run(out: Path, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), "--fake"], cwd=ROOT, env=_env(out, **extra),
                          capture_output=True, text=True, timeout=200)


def _section(report: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}.*?$(.*?)(?=^## |\Z)", report, re.M | re.S)
    assert match, f"no section {title!r} in the report:\n{report}"
    return match.group(1)


def _table_rows(section: str) -> list[list[str]]:
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row] for row in rows[2:]]  # past the header and the rule


def test_fake_run_writes_a_full_report(tmp_path):
    out = tmp_path / "out"
    result = _run(out)
    assert result.returncode == 0, result.stdout + result.stderr
    report = (out / "report.md").read_text()
    assert result.stdout.rstrip().endswith(report.rstrip())  # the report is also printed

    assert "Fake mode" in report
    assert "- device: fake (ag's strict fake device" in _section(report, "Device")

    steps = {row[0]: row for row in _table_rows(_section(report, "Steps"))}
    assert set(steps) == {"env", "tests", "bench", "train"}
    for row in steps.values():
        assert row[1] == "ok", row
        assert re.fullmatch(r"\d+ s", row[2]) and re.fullmatch(r"\d+ s", row[3])

    tests = _section(report, "Tests")
    passed, failed, errors, skipped = map(int, re.search(
        r"all selected: (\d+) passed, (\d+) failed, (\d+) errors, (\d+) skipped", tests).groups())
    assert passed > 0 and failed == errors == 0 and skipped > 0
    d_passed, d_failed, _, d_skipped = map(int, re.search(
        r"CuPy cases \(run on the GPU\): (\d+) passed, (\d+) failed, (\d+) errors, (\d+) skipped",
        tests).groups())
    # no GPU here: every CuPy case skips, and the CPU-side cases of the selection pass
    assert d_passed == 0 and d_failed == 0 and d_skipped == skipped

    bench = _table_rows(_section(report, "Benchmarks"))
    assert [row[0].split()[0] for row in bench] == ["MLP", "attention", "conv"]
    for row in bench:
        ag_dev, hand, cpu = (float(x) for x in row[1:4])
        assert ag_dev > 0 and hand > 0 and cpu > 0
        assert re.fullmatch(r"[\d.]+x", row[4]) and re.fullmatch(r"[\d.]+x", row[5])
        # the hand-written steps and ag on the device agree with ag on NumPy after one step
        agree = [float(x) for x in row[6].split(",")]
        assert len(agree) == 2 and max(agree) < 1e-5, row

    training = {row[0]: row for row in _table_rows(_section(report, "Training"))}
    assert set(training) == {"device", "cpu"}
    assert training["device"][1] == "fake" and training["cpu"][1] == "cpu"
    for row in training.values():
        assert 0.0 <= float(row[2]) <= 1.0
        assert re.fullmatch(r"[\d.]+ s", row[3])

    # the files a device machine returns: few, flat, and parseable
    files = sorted(p.name for p in out.iterdir())
    assert files == ["bench.json", "env.json", "logs.txt", "report.md", "tests.jsonl", "train.json"]
    bench_json = json.loads((out / "bench.json").read_text())
    assert bench_json["device"]["device"] == "fake"
    assert {w["key"] for w in bench_json["workloads"]} == {"mlp", "block", "conv"}
    assert "===== tests =====" in (out / "logs.txt").read_text()


def test_out_of_time_steps_are_reported_not_run(tmp_path):
    out = tmp_path / "out"
    # 16 s of budget, 15 of them kept back for the report: no step has time to start
    result = _run(out, AG_GPU_CHECK_BUDGET="16")
    assert result.returncode == 1
    report = (out / "report.md").read_text()
    rows = _table_rows(_section(report, "Steps"))
    assert [row[0] for row in rows] == ["env", "tests", "bench", "train"]
    assert all(row[1] == "not run" and row[4] == "out of time" for row in rows)
    assert "not run (no bench.json)" in report and "not run (no train.json)" in report


def test_a_stopped_check_still_writes_its_report(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(["bash", str(SCRIPT), "--fake"], cwd=ROOT, env=_env(out),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not (out / "report.md").exists() and time.monotonic() < deadline:
        time.sleep(0.2)  # the first report is written when the env step ends
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, output
    report = (out / "report.md").read_text()
    rows = {row[0]: row for row in _table_rows(_section(report, "Steps"))}
    assert rows["(check)"][1] == "interrupted"
    assert rows["env"][1] == "ok"


def _report_module():
    path = ROOT / "benchmarks" / "gpu_report.py"
    spec = importlib.util.spec_from_file_location("gpu_report", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_report_from_partial_results(tmp_path):
    """A check cut short: a timed-out step, a failed CuPy case, a workload that failed."""
    work, out = tmp_path / "work", tmp_path / "out"
    (work / "logs").mkdir(parents=True)
    (work / "meta.txt").write_text("mode\tgpu\nsmi_name\tNVIDIA H100 80GB HBM3\nsmi_driver\t580.159.04\n"
                                   "smi_cuda\t13.0\nextra\tgpu\n")
    (work / "steps.tsv").write_text("device\tok\t1\t20\tH100\ntests\tok\t50\t120\t\n"
                                    "bench\ttimed out\t150\t150\t\n")
    (work / "logs" / "bench.log").write_text("MLP ...\n")
    (work / "tests.jsonl").write_text("\n".join(json.dumps(entry) for entry in [
        {"collected": 4, "device_cases": 2},
        {"test": "tests/gpu/test_backends.py::test_op_on_backend[cupy-exp]", "outcome": "failed",
         "device_case": True, "message": "AssertionError: not close"},
        {"test": "tests/gpu/test_backends.py::test_op_on_backend[cupy-log]", "outcome": "passed",
         "device_case": True, "message": ""},
        {"test": "tests/gpu/test_gpu.py::test_missing_cupy_is_reported", "outcome": "passed",
         "device_case": False, "message": ""},
    ]) + '\n{"test": "tests/gpu/test_gpu.py::test_cut')  # the last line cut short by a kill
    (work / "bench.json").write_text(json.dumps({"dtype": "float32", "repeats": 20, "cpu_repeats": 3,
        "workloads": [{"key": "mlp", "label": "MLP 784-4096-4096-10, batch 4096",
                       "ms": {"ag_device": 10.0, "ag_cpu": 400.0},
                       "agree": {"ag_device": 1e-7}, "errors": {"hand_device": "CUDARuntimeError: oom"},
                       "speedup_vs_cpu": 40.0}]}))
    report = _report_module().write_report(work, out).read_text()
    assert "- device: NVIDIA H100 80GB HBM3" in report and "driver: 580.159.04" in report
    assert "| bench | timed out | 150 s | 150 s |" in report
    assert "all selected: 2 passed, 1 failed" in report
    assert "CuPy cases (run on the GPU): 1 passed, 1 failed" in report
    assert "test_op_on_backend[cupy-exp]: AssertionError: not close" in report
    assert "4 tests, 2 of them CuPy cases; 3 ended" in report and "**cut short**: 1 tests" in report
    row = "| MLP 784-4096-4096-10, batch 4096 | 10.00 | n/a | 400.00 | 40.0x | n/a | 1.0e-07, n/a |"
    assert row in report
    assert "mlp / hand_device failed: `CUDARuntimeError: oom`" in report
    assert "not run (no train.json)" in report and "Targets:" in report
    assert "===== bench =====\nMLP ..." in (out / "logs.txt").read_text()


def test_a_rerun_can_pick_its_steps(tmp_path):
    out = tmp_path / "out"
    result = _run(out, AG_GPU_CHECK_STEPS="env,bench")
    assert result.returncode == 0, result.stdout + result.stderr
    report = (out / "report.md").read_text()
    assert [row[0] for row in _table_rows(_section(report, "Steps"))] == ["env", "bench"]
    assert "not run (no tests.jsonl)" in report and "not run (no train.json)" in report
    assert len(_table_rows(_section(report, "Benchmarks"))) == 3
