#!/usr/bin/env bash
# The whole GPU check in one call, for a machine with an NVIDIA GPU:
#
#   bash scripts/gpu_check.sh            # on the GPU machine, from the repository root
#   bash scripts/gpu_check.sh --fake     # the same steps on ag's fake device, small sizes (CI)
#
# Steps, each under its own time limit (a step that fails or runs out of time is
# recorded and the next one runs):
#   1. device   nvidia-smi: the GPU, the driver; driver >= 580 -> the `gpu` extra (CUDA 13),
#               older -> `gpu-cuda12`
#   2. install  a venv that sees the interpreter's packages, then ag with that extra and
#               `dev` (pip install -e); offline, what is already there is used
#   3. env      versions, and whether ag sees a usable GPU (and why not)
#   4. tests    the CuPy cases of tests/gpu (pytest -k "cupy or cuda")
#   5. bench    benchmarks/gpu.py: MLP, attention + MLP block, conv; ag on the GPU vs ag on
#               NumPy vs the same step hand-written in CuPy
#   6. train    examples/transformer_reverse.py, unchanged model code, on the GPU and the CPU
# After every step $OUT/report.md is rewritten from what has been recorded, so a run cut
# short still leaves a report with its partial results; also in $OUT: logs.txt (every
# step's output), env.json, tests.jsonl (one line per test), bench.json, train.json.
#
# Environment: OUT (default ./gpu-report); AG_GPU_CHECK_BUDGET (seconds for the whole
# check, default 450: give the remote command ~60 s more); AG_GPU_CHECK_FAKE=1 (as --fake);
# PYTHON (the base interpreter, default python3); AG_GPU_EXTRA (force gpu or gpu-cuda12);
# AG_GPU_VENV (default $TMPDIR/ag-gpu-venv); AG_GPU_CHECK_TESTS (the pytest -k expression);
# AG_GPU_CHECK_STEPS (default device,install,env,tests,bench,train: a rerun can pick some);
# AG_GPU_CHECK_INSTALL=1 (the install step in fake mode too).
# Exit status: 0 when every step ran and passed, 1 otherwise (the report says which).
set -uo pipefail
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"  # the steps run it again, from any cwd
cd "$(dirname "$SELF")/.."
ROOT="$PWD"

# -- the steps' bodies (each in a child: AG_GPU_CHECK_STEP=NAME bash scripts/gpu_check.sh) --

step_device() {
  if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "nvidia-smi not found: no NVIDIA driver here"
    note device "no nvidia-smi: no NVIDIA driver"
    echo "gpu" > "$WORK/extra"
    return 1
  fi
  nvidia-smi || return 1
  local query name driver memory cuda major
  query="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n 1)"
  IFS=',' read -r name driver memory <<< "$query"
  name="$(echo "$name" | xargs)"; driver="$(echo "$driver" | xargs)"; memory="$(echo "$memory" | xargs)"
  cuda="$(nvidia-smi | grep -o 'CUDA Version: [0-9.]*' | head -n 1 | awk '{print $3}')"
  major="${driver%%.*}"
  meta smi_name "$name"; meta smi_driver "$driver"; meta smi_memory "$memory"; meta smi_cuda "${cuda:-n/a}"
  if [ -n "${AG_GPU_EXTRA:-}" ]; then echo "$AG_GPU_EXTRA" > "$WORK/extra"
  elif [[ "$major" =~ ^[0-9]+$ ]] && [ "$major" -ge 580 ]; then echo gpu > "$WORK/extra"
  else echo gpu-cuda12 > "$WORK/extra"
  fi
  echo "GPU $name, driver $driver (CUDA $cuda): extra $(cat "$WORK/extra")"
  note device "$name, driver $driver: extra $(cat "$WORK/extra")"
}

step_install() {
  local extra venv site parents
  extra="$(cat "$WORK/extra" 2>/dev/null || echo gpu)"
  venv="${AG_GPU_VENV:-${TMPDIR:-/tmp}/ag-gpu-venv}"
  if [ ! -x "$venv/bin/python" ]; then
    "$BASE_PY" -m venv --system-site-packages --without-pip "$venv" || {
      note install "no venv: $BASE_PY itself"; return 1; }
  fi
  # The venv sees the base interpreter's packages, also when that is itself a venv (where
  # --system-site-packages alone would skip them): CuPy, NumPy, pytest already there count.
  site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  parents="$("$BASE_PY" -c 'import site, sysconfig
paths = site.getsitepackages() + [sysconfig.get_paths()[k] for k in ("purelib", "platlib")]
print("\n".join(dict.fromkeys(paths)))')"
  echo "$parents" > "$site/_ag_base_site.pth"
  "$venv/bin/python" -m pip --version || "$venv/bin/python" -m ensurepip || return 1
  local pip=("$venv/bin/python" -m pip install --disable-pip-version-check --no-input --progress-bar off
             --timeout 15 --retries 1)
  # Without a reachable index pip would wait on every missing package: ask once, quickly.
  local index="${PIP_INDEX_URL:-https://pypi.org/simple/}"
  if timeout 8 "$BASE_PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=6)' \
       "${index%/}/pip/" 2>/dev/null && "${pip[@]}" -e ".[$extra,dev]"; then
    note install "pip installed ag[$extra,dev] into $venv"
  else
    echo "pip could not install ag[$extra,dev] from $index (offline?): ag alone, the rest as found"
    if "${pip[@]}" --no-deps --no-build-isolation --no-index -e .; then
      note install "index unreachable or install failed: ag alone (no deps) into $venv, the rest as found"
    else
      note install "index unreachable or install failed: ag from the checkout, the rest as found"
    fi
  fi
  # Run the check with the first interpreter on which ag finds a usable GPU (the venv
  # first; CuPy may find its CUDA libraries only from the base), else the venv when it
  # has the test tools.
  local candidate usable=""
  for candidate in "$venv/bin/python" "$BASE_PY"; do
    if "$candidate" -c 'import sys, ag, pytest, hypothesis; sys.exit(not ag.gpu.is_available())'; then
      usable="$candidate"; break
    fi
  done
  if [ -n "$usable" ]; then
    echo "$usable" > "$WORK/python"
    echo "ag sees a usable GPU from $usable"
  elif "$venv/bin/python" -c 'import numpy, scipy, pytest, hypothesis'; then
    echo "$venv/bin/python" > "$WORK/python"
    note install "ag sees no usable GPU from the venv nor $BASE_PY"
    return 1
  else
    note install "the venv lacks numpy/scipy/pytest/hypothesis: $BASE_PY used"
    return 1
  fi
}

meta() { printf '%s\t%s\n' "$1" "$2" >> "$WORK/meta.txt"; }
note() {  # add to the step's one-line note in the report
  if [ -s "$WORK/note.$1" ]; then echo "$(cat "$WORK/note.$1"); $2" > "$WORK/note.$1"
  else echo "$2" > "$WORK/note.$1"; fi
}

case "${AG_GPU_CHECK_STEP:-}" in  # a child of the check itself (WORK, BASE_PY exported)
  "") ;;
  device) step_device; exit $? ;;
  install) step_install; exit $? ;;
  *) echo "gpu_check: unknown step $AG_GPU_CHECK_STEP" >&2; exit 2 ;;
esac

mode=gpu
for arg in "$@"; do
  case "$arg" in
    --fake) mode=fake ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$SELF"; exit 0 ;;
    *) echo "gpu_check: unknown argument '$arg' (use --fake or nothing)" >&2; exit 2 ;;
  esac
done
case "${AG_GPU_CHECK_FAKE:-0}" in 1|true|yes) mode=fake ;; esac

OUT="${OUT:-$ROOT/gpu-report}"
mkdir -p "$OUT" || { echo "gpu_check: cannot create OUT=$OUT" >&2; exit 2; }
OUT="$(cd "$OUT" && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ag-gpu-check.XXXXXX")"
mkdir -p "$WORK/logs"
BUDGET="${AG_GPU_CHECK_BUDGET:-450}"
RESERVE=15                      # seconds kept back for the last report
BASE_PY="${PYTHON:-python3}"
echo "$BASE_PY" > "$WORK/python"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HYPOTHESIS_PROFILE=ci
export MPLBACKEND=Agg
start=$SECONDS
child=""

if [ "$mode" = fake ]; then
  device=fake; sizes=(--small); bench_args=(--repeats 2 --cpu-repeats 1)
else
  device=cuda; sizes=(); bench_args=(--repeats 20 --cpu-repeats 3)
fi
selection="${AG_GPU_CHECK_TESTS:-cupy or cuda}"
wanted=",${AG_GPU_CHECK_STEPS:-device,install,env,tests,bench,train},"
want() { [[ "$wanted" == *",$1,"* ]]; }

: > "$WORK/meta.txt"
: > "$WORK/steps.tsv"
meta mode "$mode"
meta started "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
meta commit "$(git rev-parse --short HEAD 2>/dev/null || echo n/a)"
meta budget_s "$BUDGET"
meta tests_selection "$selection"

write_report() {
  # The report needs the standard library only; if even that fails, a plain one from bash.
  if ! timeout 30 "$BASE_PY" benchmarks/gpu_report.py report --work "$WORK" --out "$OUT" >/dev/null 2>&1; then
    {
      echo "# ag GPU check"; echo
      echo "gpu_report.py could not write the report; the steps as recorded:"; echo
      echo '```'; cat "$WORK/steps.tsv"; echo '```'
    } > "$OUT/report.md"
    cat "$WORK"/logs/*.log > "$OUT/logs.txt" 2>/dev/null
  fi
}

finish() {
  write_report
  echo "gpu_check: done in $((SECONDS - start)) s; report: $OUT/report.md"
  echo "================================================================"
  cat "$OUT/report.md"
  rm -rf "$WORK"
}

on_signal() {
  [ -n "$child" ] && kill -TERM "$child" 2>/dev/null
  printf '%s\t%s\t%s\t%s\t%s\n' "(check)" "interrupted" "$((SECONDS - start))" "$BUDGET" \
    "the check was stopped by a signal" >> "$WORK/steps.tsv"
  finish
  exit 143
}
trap on_signal TERM INT HUP

# run_step NAME CAP COMMAND...: COMMAND under min(CAP, time left) seconds, its output in
# logs/NAME.log, a line in steps.tsv, then the report rewritten.
run_step() {
  local name="$1" cap="$2"; shift 2
  local left=$((BUDGET - (SECONDS - start) - RESERVE))
  local limit=$(( cap < left ? cap : left ))
  local log="$WORK/logs/$name.log"
  if [ "$limit" -lt 5 ]; then
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "not run" 0 "$limit" "out of time" >> "$WORK/steps.tsv"
    echo "gpu_check: $name: not run, out of time"
    write_report
    return 1
  fi
  echo "gpu_check: $name (limit $limit s) ..."
  local t0=$SECONDS rc status
  timeout -k 5 "$limit" "$@" > "$log" 2>&1 &
  child=$!
  wait "$child"; rc=$?
  child=""
  case "$rc" in
    0) status=ok ;;
    124|137) status="timed out" ;;
    *) status="failed (exit $rc)" ;;
  esac
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$((SECONDS - t0))" "$limit" \
    "$(cat "$WORK/note.$name" 2>/dev/null)" >> "$WORK/steps.tsv"
  echo "gpu_check: $name: $status in $((SECONDS - t0)) s"
  if [ "$rc" != 0 ]; then sed 's/^/    /' "$log" | tail -n 25; fi
  write_report
  return "$rc"
}

# -- the check --------------------------------------------------------------------------------

echo "gpu_check: mode $mode, budget $BUDGET s, report in $OUT"
export WORK BASE_PY
if [ "$mode" = gpu ]; then
  echo "${AG_GPU_EXTRA:-gpu}" > "$WORK/extra"
  want device && run_step device 20 env AG_GPU_CHECK_STEP=device bash "$SELF"
  meta extra "$(cat "$WORK/extra")"
  want install && run_step install 150 env AG_GPU_CHECK_STEP=install bash "$SELF"
else
  meta extra "none (fake mode: nothing installed)"
  if [ "${AG_GPU_CHECK_INSTALL:-0}" = 1 ]; then
    echo gpu > "$WORK/extra"
    run_step install 150 env AG_GPU_CHECK_STEP=install bash "$SELF"
  fi
fi
PY="$(cat "$WORK/python")"
meta python "$PY"

want env && run_step env 60 "$PY" benchmarks/gpu_report.py env --device "$device" --json "$WORK/env.json"
# -p gpu_report: one line per test into tests.jsonl as it ends, saying which are CuPy cases
want tests && run_step tests 150 env PYTHONPATH="$ROOT/benchmarks:$PYTHONPATH" \
  AG_GPU_CHECK_TESTS_LOG="$WORK/tests.jsonl" \
  "$PY" -m pytest -p no:cacheprovider -p gpu_report -q -rs tests/gpu -k "$selection" \
  --ignore=tests/gpu/test_gpu_check_script.py
want bench && run_step bench 150 "$PY" benchmarks/gpu.py --device "$device" ${sizes[@]+"${sizes[@]}"} \
  "${bench_args[@]}" --json "$WORK/bench.json"
want train && run_step train 200 "$PY" benchmarks/gpu_report.py train --device "$device" ${sizes[@]+"${sizes[@]}"} \
  --json "$WORK/train.json"
failed="$(awk -F '\t' '$2 != "ok"' "$WORK/steps.tsv" | wc -l)"
finish
[ "$failed" -eq 0 ]  # exit 1 when a step failed, timed out or did not run
