"""The Python half of ``scripts/gpu_check.sh``: what it records, and the report it writes.

    python benchmarks/gpu_report.py env   --device cuda --json OUT/env.json
    python benchmarks/gpu_report.py train --device cuda --json OUT/train.json [--small]
    python benchmarks/gpu_report.py report --work WORK --out OUT   # OUT/report.md from WORK

``env`` records the interpreter, the library versions and the device (CuPy's name for
it, the CUDA runtime) or why there is none. ``train`` trains
``examples/transformer_reverse.py`` with its model code unchanged, first on the device
(``ag.gpu.default(device)``: the factories put the model there) and then on the CPU,
and records each run's greedy-decoding accuracy and time (the file is rewritten after
each run, so a run cut short keeps the first). ``report`` turns the files the check
left in its work folder into ``OUT/report.md``, copies the result files beside it and
gathers the step logs into ``OUT/logs.txt``; it uses the standard library alone, so it
still writes a report when installing or importing ag failed, and it says which steps
did not run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEVICE_PARAMS = ("cupy", "cuda")  # the parameter values by which tests/gpu runs a case on CuPy


# -- a pytest plugin (-p gpu_report, benchmarks/ on the path): each test's outcome as it ends ------
#
# One JSON line per test into $AG_GPU_CHECK_TESTS_LOG, written when the test ends, so a
# run stopped by its time limit still leaves the outcomes so far; each line says whether
# the test is a CuPy case.

TESTS_LOG = "AG_GPU_CHECK_TESTS_LOG"
_device_cases: dict[str, bool] = {}


def is_device_case(item: Any) -> bool:
    """A test that runs on CuPy: a ``cupy``/``cuda`` parameter (the backend fixtures of
    tests/gpu), or a skip-unless-GPU mark (reason "no GPU ...")."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        for value in callspec.params.values():
            if isinstance(value, str) and (value in DEVICE_PARAMS or value.startswith("cuda:")):
                return True
    for mark in item.iter_markers("skipif"):
        if str(mark.kwargs.get("reason", "")).startswith("no GPU"):
            return True
    return False


def _log_test(entry: dict) -> None:
    path = os.environ.get(TESTS_LOG)
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps(entry) + "\n")


def pytest_collection_finish(session: Any) -> None:
    _device_cases.update((item.nodeid, is_device_case(item)) for item in session.items)
    _log_test({"collected": len(session.items), "device_cases": sum(_device_cases.values())})


def _message(report: Any) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr or "")
    return text.strip().splitlines()[0] if text.strip() else ""


def pytest_runtest_logreport(report: Any) -> None:
    if report.when == "call":
        outcome = "skipped" if report.skipped else report.outcome  # passed / failed
    elif report.skipped and report.when == "setup":
        outcome = "skipped"
    elif report.failed:  # a fixture broke in setup or teardown
        outcome = "errors"
    else:
        return
    _log_test({"test": report.nodeid, "outcome": outcome,
               "device_case": _device_cases.get(report.nodeid, False),
               "message": "" if outcome == "passed" else _message(report)[:300]})


def _plain(value: Any) -> Any:
    # NumPy/CuPy scalars and 0-d arrays (a metric a device run returns) as Python numbers
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def write_json(path: str | os.PathLike, payload: Any) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump(payload, fh, indent=1, default=_plain)
    os.replace(tmp, path)  # a reader (or a killed run) never sees half a file


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# -- env ----------------------------------------------------------------------------------------


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except Exception:
        return None


def record_env(device: str, path: str) -> dict:
    info: dict[str, Any] = {"python": sys.version.split()[0], "executable": sys.executable,
                            "platform": platform.platform()}
    for module in ("numpy", "scipy"):
        info[module] = _version(module)
    sys.path.insert(0, str(ROOT))
    import ag

    info["ag"] = ag.__version__
    info["ag_path"] = str(Path(ag.__file__).resolve().parent)
    if device == "fake":
        info.update(device="fake", device_name="fake (ag's strict fake device; NumPy underneath)",
                    available=True, why_unavailable="")
    else:
        info["available"] = ag.gpu.is_available()
        info["why_unavailable"] = ag.gpu.why_unavailable()
        info["cupy"] = _version("cupy")
        if info["available"]:
            import cupy as cp

            props = cp.cuda.runtime.getDeviceProperties(cp.cuda.runtime.getDevice())
            name = props["name"]
            info["device"] = ag.gpu.normalize("cuda")
            info["device_name"] = name.decode() if isinstance(name, bytes) else name
            info["device_memory_gib"] = round(props["totalGlobalMem"] / 2**30, 1)
            info["cuda_runtime"] = cp.cuda.runtime.runtimeGetVersion()
            info["cuda_driver"] = cp.cuda.runtime.driverGetVersion()
    write_json(path, info)
    print(json.dumps(info, indent=1))
    return info


def env_main(device: str, path: str) -> int:
    """Record the environment; exit status 3 when the device is not usable."""
    info = record_env(device, path)
    if not info["available"]:
        print(f"no usable GPU: {info['why_unavailable']}")
        return 3
    return 0


# -- train --------------------------------------------------------------------------------------


def _example() -> Any:
    path = ROOT / "examples" / "transformer_reverse.py"
    spec = importlib.util.spec_from_file_location("transformer_reverse", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train(device: str, path: str, small: bool) -> dict:
    """The example's ``main`` on ``device`` (as the default device), then on the CPU."""
    sys.path.insert(0, str(ROOT))
    import ag

    small_run = {"epochs": 1, "length": 4, "n_train": 256}
    kwargs = small_run if small else {"epochs": 3, "length": 6, "n_train": 20000}  # the example's own
    result: dict[str, Any] = {"settings": kwargs, "runs": {}}
    if device != "fake" and not ag.gpu.is_available():
        result["no_gpu"] = ag.gpu.why_unavailable()  # a CPU run alone would compare nothing
        write_json(path, result)
        print(f"no GPU: {result['no_gpu']}")
        return result
    example = _example()
    for name, where in (("device", device), ("cpu", "cpu")):
        print(f"training examples/transformer_reverse.py on {where} {kwargs} ...", flush=True)
        start = time.perf_counter()
        try:
            with ag.gpu.default(where):
                run = example.main(progress=False, **kwargs)
            run["device"] = ag.gpu.normalize(where)
        except Exception as err:
            run = {"device": where, "error": f"{type(err).__name__}: {str(err)[:300]}"}
        run["wall_seconds"] = time.perf_counter() - start
        result["runs"][name] = run
        write_json(path, result)
        print(json.dumps(run), flush=True)
    return result


# -- report -------------------------------------------------------------------------------------


def read_meta(work: Path) -> dict[str, str]:
    """``meta.txt``: ``key<TAB>value`` lines the shell script wrote (mode, nvidia-smi, ...)."""
    meta = {}
    try:
        lines = (work / "meta.txt").read_text().splitlines()
    except OSError:
        return meta
    for line in lines:
        key, _, value = line.partition("\t")
        if key:
            meta[key] = value
    return meta


def read_steps(out: Path) -> list[dict]:
    """``steps.tsv``: one line per step the shell script ran: name, status, seconds, limit, note."""
    steps = []
    try:
        lines = (out / "steps.tsv").read_text().splitlines()
    except OSError:
        return steps
    for line in lines:
        parts = line.split("\t")
        if len(parts) >= 4:
            steps.append({"name": parts[0], "status": parts[1], "seconds": parts[2], "limit": parts[3],
                          "note": parts[4] if len(parts) > 4 else ""})
    return steps


def read_tests(path: Path) -> dict | None:
    """Counts from the plugin's lines: all tests that ended, and the CuPy cases among them."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    counts = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
    device = dict(counts)
    failures: list[str] = []
    skip_reasons: dict[str, int] = {}
    collected = None
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut short by a kill
        if "collected" in entry:
            collected = entry
            continue
        outcome = entry.get("outcome")
        if outcome not in counts:
            continue
        counts[outcome] += 1
        if entry.get("device_case"):
            device[outcome] += 1
        if outcome in ("failed", "errors"):
            failures.append(f"{entry.get('test')}: {entry.get('message', '')}")
        elif outcome == "skipped":
            reason = entry.get("message", "")
            skip_reasons[reason] = skip_reasons.get(reason, 0) + 1
    return {"all": counts, "device": device, "failures": failures, "skip_reasons": skip_reasons,
            "collected": collected}


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _fmt_time(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.1f} s"


def build_report(work: Path) -> str:
    meta = read_meta(work)
    env = read_json(work / "env.json") or {}
    bench = read_json(work / "bench.json")
    trained = read_json(work / "train.json")
    tests = read_tests(work / "tests.jsonl")
    steps = read_steps(work)
    fake = meta.get("mode") == "fake"
    lines = ["# ag GPU check", ""]
    if fake:
        lines += ["**Fake mode**: every step ran on ag's strict fake device (NumPy underneath) at small "
                  "sizes; the timings below are not GPU figures.", ""]
    lines += [f"Started {meta.get('started', 'n/a')}, commit {meta.get('commit', 'n/a')}, "
              f"time budget {meta.get('budget_s', 'n/a')} s.", ""]

    lines += ["## Device", ""]
    name = env.get("device_name") or meta.get("smi_name") or "n/a"
    lines += [f"- device: {name}" + (f", {meta['smi_memory']}" if meta.get("smi_memory") else ""),
              f"- driver: {meta.get('smi_driver', 'n/a')} (nvidia-smi; CUDA {meta.get('smi_cuda', 'n/a')})",
              f"- extra chosen: {meta.get('extra', 'n/a')}",
              f"- CuPy: {env.get('cupy') or 'n/a'}; CUDA runtime {env.get('cuda_runtime', 'n/a')}",
              f"- ag {env.get('ag', 'n/a')}, NumPy {env.get('numpy', 'n/a')}, "
              f"SciPy {env.get('scipy', 'n/a')}, Python {env.get('python', 'n/a')} "
              f"({env.get('executable', 'n/a')})"]
    if env and not env.get("available", False):
        lines.append(f"- **no usable GPU**: {env.get('why_unavailable', 'n/a')}")
    lines.append("")

    lines += ["## Steps", "", "| step | status | time | limit | note |", "| --- | --- | --- | --- | --- |"]
    for s in steps:
        lines.append(f"| {s['name']} | {s['status']} | {s['seconds']} s | {s['limit']} s | {s['note']} |")
    if not steps:
        lines.append("| (none recorded) | | | | |")
    lines.append("")

    lines += ["## Tests", ""]
    if tests is None:
        lines += ["not run (no tests.jsonl)", ""]
    else:
        a, d = tests["all"], tests["device"]
        ended = sum(a.values()) - a["errors"]  # an error in teardown follows the test's own outcome
        collected = tests["collected"] or {}
        lines += [f"- selection: `{meta.get('tests_selection', 'n/a')}`: {collected.get('collected', '?')} "
                  f"tests, {collected.get('device_cases', '?')} of them CuPy cases; {ended} ended"]
        if isinstance(collected.get("collected"), int) and ended < collected["collected"]:
            lines.append(f"- **cut short**: {collected['collected'] - ended} tests did not end "
                         "(the step ran out of time or was stopped); the counts below are partial")
        lines += [
                  f"- all selected: {a['passed']} passed, {a['failed']} failed, {a['errors']} errors, "
                  f"{a['skipped']} skipped",
                  f"- of these, CuPy cases (run on the GPU): {d['passed']} passed, {d['failed']} failed, "
                  f"{d['errors']} errors, {d['skipped']} skipped"]
        for reason, n in sorted(tests["skip_reasons"].items(), key=lambda kv: -kv[1])[:5]:
            lines.append(f"- skipped {n}: {reason}")
        if tests["failures"]:
            lines += ["", "Failures (first 20):", ""]
            lines += [f"- `{f}`" for f in tests["failures"][:20]]
        lines.append("")

    lines += ["## Benchmarks (medians, ms per training step)", ""]
    if not bench:
        lines += ["not run (no bench.json)", ""]
    elif bench.get("no_gpu"):
        lines += [f"not run: no GPU: {bench['no_gpu']}", ""]
    else:
        lines += [f"dtype {bench.get('dtype')}, {bench.get('repeats')} device steps and "
                  f"{bench.get('cpu_repeats')} CPU steps each, device synchronised around each step.", "",
                  "| workload | ag on device | hand-written on device | ag on NumPy (CPU) | CPU / ag device "
                  "| ag / hand | weights vs NumPy (ag, hand) |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for row in bench.get("workloads", []):
            ms, agree = row.get("ms", {}), row.get("agree", {})
            speed = f"{row['speedup_vs_cpu']:.1f}x" if "speedup_vs_cpu" in row else "n/a"
            hand = f"{row['ratio_vs_hand']:.2f}x" if "ratio_vs_hand" in row else "n/a"
            agreed = ", ".join(f"{agree[k]:.1e}" if k in agree else "n/a"
                               for k in ("ag_device", "hand_device"))
            lines.append(f"| {row.get('label')} | {_ms(ms.get('ag_device'))} | "
                         f"{_ms(ms.get('hand_device'))} | {_ms(ms.get('ag_cpu'))} | {speed} | {hand} | "
                         f"{agreed} |")
        for row in bench.get("workloads", []):
            for run, err in row.get("errors", {}).items():
                lines.append(f"\n- {row.get('key')} / {run} failed: `{err}`")
        if not fake:
            lines += ["", "Targets: ag on the GPU >= 20x ag on NumPy (MLP, block); "
                          "ag <= 1.2x hand-written CuPy."]
        lines.append("")

    lines += ["## Training examples/transformer_reverse.py", ""]
    if not trained:
        lines += ["not run (no train.json)", ""]
    elif trained.get("no_gpu"):
        lines += [f"not run: no GPU: {trained['no_gpu']}", ""]
    else:
        lines += [f"settings {trained.get('settings')}; model code unchanged, the device made the default.",
                  "", "| run | device | greedy token accuracy | training time | wall time |",
                  "| --- | --- | --- | --- | --- |"]
        for label, run in trained.get("runs", {}).items():
            if "error" in run:
                lines.append(f"| {label} | {run.get('device')} | failed: `{run['error']}` | | |")
            else:
                lines.append(f"| {label} | {run.get('device')} | {run['greedy_token_accuracy']:.4f} | "
                             f"{_fmt_time(run.get('seconds'))} | {_fmt_time(run.get('wall_seconds'))} |")
        lines.append("")
    lines += ["Every step's output: `logs.txt` beside this report.", ""]
    return "\n".join(lines)


RESULT_FILES = ("env.json", "tests.jsonl", "bench.json", "train.json")


def write_report(work: Path, out: Path) -> Path:
    """``out/report.md`` from ``work``, the result files copied and the logs gathered beside it.

    At most six files in ``out`` (a device machine returns only a few).
    """
    out.mkdir(parents=True, exist_ok=True)
    for name in RESULT_FILES:
        if (work / name).exists():
            shutil.copyfile(work / name, out / name)
    logs = []
    for log in sorted((work / "logs").glob("*.log"), key=lambda p: p.stat().st_mtime):
        logs.append(f"===== {log.stem} =====\n{log.read_text(errors='replace')}")
    (out / "logs.txt").write_text("\n".join(logs))
    path = out / "report.md"
    tmp = out / "report.md.tmp"
    tmp.write_text(build_report(work))
    os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("env", help="record versions and the device")
    p.add_argument("--device", default="cuda", choices=("cuda", "fake"))
    p.add_argument("--json", required=True)
    p = sub.add_parser("train", help="train examples/transformer_reverse.py on the device and the CPU")
    p.add_argument("--device", default="cuda", choices=("cuda", "fake"))
    p.add_argument("--json", required=True)
    p.add_argument("--small", action="store_true")
    p = sub.add_parser("report", help="write OUT/report.md from the check's work folder")
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.command == "env":
        return env_main(args.device, args.json)
    if args.command == "train":
        train(args.device, args.json, args.small)
    else:
        print(f"wrote {write_report(Path(args.work), Path(args.out))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
