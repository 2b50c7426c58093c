"""Ctrl-C at any point of ``ag.parallel.split_rows`` ends the split with KeyboardInterrupt.

A KeyboardInterrupt between listing a range and handing it to a worker used to leave
a range nobody ran, and the cleanup waited for it forever (only ``kill -9`` ended
the process). Here a ``sys.settrace`` hook raises KeyboardInterrupt at one line or
bytecode boundary of the split's own code (the hand-over, the worker queue, the
cleanup, holding OpenBLAS at one thread), once for every boundary the split passes;
each case must end with KeyboardInterrupt (or, past the last boundary, with the
right result) within a bounded time, and the next splits must still work, split
over the threads, with OpenBLAS back at its thread count. A second test fires a 50 µs
timer whose handler raises KeyboardInterrupt inside the split's code.

The cases run in a fresh interpreter, with a watchdog thread that ends it if a case
hangs, so a hang is a failure with the case named rather than a stuck test run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOUND_S = 10.0  # one case: a few milliseconds of work; a hang is the failure

COMMON = textwrap.dedent(f"""
    import os, sys, threading, time
    import numpy as np
    from ag import parallel

    parallel.set_num_threads(3)
    CODE_FILE = parallel.__file__
    x = np.arange(64.0).reshape(32, 2)
    out = np.empty_like(x)

    def kernel(start, stop):
        np.multiply(x[start:stop], 2.0, out=out[start:stop])
        return start

    BLAS = len(sys.argv) > 1 and sys.argv[1] == "blas"  # hold OpenBLAS at one thread too

    def split_and_check():
        out[...] = 0.0
        starts = parallel.split_rows(kernel, 32, min_work=0, blas=BLAS)
        assert (len(starts) == 3 or BLAS) and starts[0] == 0, starts
        assert np.array_equal(out, 2.0 * x)

    current = ["start"]
    ended = threading.Event()

    def watchdog():
        while not ended.wait(0.5):
            if time.monotonic() - current[1] > {BOUND_S}:
                print("HANG in case", current[0], flush=True)
                os._exit(3)

    def case(name):
        current[:] = [name, time.monotonic()]
""")


SETTRACE = COMMON + textwrap.dedent("""
    class Interrupt:
        \"\"\"Raise KeyboardInterrupt at boundary number `at` of the split's own code.\"\"\"

        def __init__(self, at):
            self.at, self.seen, self.fired = at, 0, False

        def call(self, frame, event, arg):
            if frame.f_code.co_filename != CODE_FILE:
                return None
            frame.f_trace_opcodes = True
            return self.step

        def step(self, frame, event, arg):
            if event in ("line", "opcode") and not self.fired:
                if self.seen == self.at:
                    self.fired = True
                    raise KeyboardInterrupt  # a trace function that raises is removed
                self.seen += 1
            return self.step

    threading.Thread(target=watchdog, daemon=True).start()
    current[:] = ["warm-up", time.monotonic()]
    split_and_check()
    count = Interrupt(10**9)
    sys.settrace(count.call)
    split_and_check()
    sys.settrace(None)
    boundaries = count.seen
    assert boundaries > 50, boundaries  # the hook did see the split's bytecode
    interrupted = 0
    limiter = parallel._blas_limiter() if BLAS else None
    blas_threads = limiter.controller.num_threads if limiter else None
    for at in range(boundaries + 20):  # the count varies a little with thread timing
        case(f"Ctrl-C at boundary {at} of {boundaries}")
        hook = Interrupt(at)
        sys.settrace(hook.call)
        try:
            split_and_check()
        except KeyboardInterrupt:
            assert hook.fired
            interrupted += 1
        else:
            assert not hook.fired, "the interrupt was swallowed"
        finally:
            sys.settrace(None)
        current[:] = [f"the split after boundary {at}", time.monotonic()]
        split_and_check()  # the workers still serve the next split
        if limiter is not None:  # and OpenBLAS is back at its count (not left held at one)
            assert limiter.controller.num_threads == blas_threads, (at, limiter.controller.num_threads)
    ended.set()
    print("boundaries", boundaries, "interrupted", interrupted)
""")


ALARM = COMMON + textwrap.dedent("""
    import signal

    SPLIT_CODE = {parallel.split_rows.__code__, parallel._wait_all.__code__,
                  parallel._Workers.submit.__code__, parallel._Range.__init__.__code__,
                  parallel._Range.take.__code__, parallel._bounds.__code__, parallel._pool.__code__}
    fired = [0]

    def inside_split(frame):
        while frame is not None:
            if frame.f_code in SPLIT_CODE:
                return True
            frame = frame.f_back
        return False

    def handler(signum, frame):
        if inside_split(frame):  # only inside the split's code, never in this script's
            fired[0] += 1
            raise KeyboardInterrupt

    threading.Thread(target=watchdog, daemon=True).start()
    current[:] = ["warm-up", time.monotonic()]
    split_and_check()  # the worker threads start before the timer does
    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 50e-6, 50e-6)
    stop = time.monotonic() + float(sys.argv[2])
    splits = interrupted = 0
    while time.monotonic() < stop:
        case(f"split {splits} under a 50 us Ctrl-C timer")
        try:
            split_and_check()
        except KeyboardInterrupt:
            interrupted += 1
        splits += 1
    signal.setitimer(signal.ITIMER_REAL, 0, 0)
    current[:] = ["after the timer", time.monotonic()]
    split_and_check()
    ended.set()
    print("splits", splits, "interrupted", interrupted)
""")


def _run(script: str, *args: str, timeout: float) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("AG_NUM_THREADS", None)
    try:
        done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                              env=env, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired as err:  # the watchdog should have ended it first
        pytest.fail(f"the split hung and the watchdog did not end it: {err.stdout!r}")
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("blas", ["", "blas"], ids=["plain", "blas held"])
def test_ctrl_c_at_every_boundary_of_a_split_ends_it_and_later_splits_work(blas):
    out = _run(SETTRACE, blas, timeout=300)
    boundaries, interrupted = int(out.split()[1]), int(out.split()[3])
    # nearly every boundary did fire (the count varies with thread timing, and with OpenBLAS
    # held a split that finds it already at one thread takes a shorter path)
    assert interrupted >= 0.9 * boundaries


@pytest.mark.skipif(not hasattr(__import__("signal"), "setitimer"), reason="needs signal.setitimer")
def test_ctrl_c_from_a_fast_timer_never_hangs_a_split():
    out = _run(ALARM, "", "3", timeout=120)
    splits, interrupted = int(out.split()[1]), int(out.split()[3])
    assert splits > 20 and interrupted > 0, out
