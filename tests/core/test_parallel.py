"""ag.parallel: row ranges that cover the job once, in order, on several threads, and that
have all finished when split_rows returns or raises, with NumPy's BLAS threads put back."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from ag import parallel


@pytest.fixture
def threads():
    """Split into up to n threads for one test (whatever the machine has), then restore."""
    before = parallel.get_num_threads()

    def use(n: int) -> None:
        parallel.set_num_threads(n)

    yield use
    parallel.set_num_threads(before)


def _record(calls: list, lock: threading.Lock):
    def kernel(start: int, stop: int):
        with lock:
            calls.append((start, stop, threading.get_ident()))
        return start, stop

    return kernel


@pytest.mark.parametrize("n_threads", [2, 3, 4])
@pytest.mark.parametrize("n_rows", [1, 2, 3, 7, 32, 1000])
@pytest.mark.parametrize("head_start", [0, 10, 10**9])
def test_ranges_cover_every_row_once_in_order(threads, n_threads, n_rows, head_start):
    threads(n_threads)
    calls, lock = [], threading.Lock()
    results = parallel.split_rows(_record(calls, lock), n_rows, 0, work=10**6, head_start=head_start)
    assert results[0][0] == 0 and results[-1][1] == n_rows
    assert all(a[1] == b[0] for a, b in zip(results, results[1:]))  # consecutive, in row order
    assert all(start < stop for start, stop in results)  # none empty
    assert len(results) == min(n_threads, n_rows)
    assert sorted((s, e) for s, e, _ in calls) == results  # each range ran exactly once


def test_big_jobs_use_other_threads_and_small_ones_do_not(threads):
    threads(2)
    calls, lock = [], threading.Lock()
    parallel.split_rows(_record(calls, lock), 8, 100, work=1000)
    assert len({ident for *_, ident in calls}) == 2
    assert calls[0][2] == threading.get_ident() or calls[1][2] == threading.get_ident()
    calls.clear()
    assert parallel.split_rows(_record(calls, lock), 8, 100, work=99) == [(0, 8)]
    assert [ident for *_, ident in calls] == [threading.get_ident()]


def test_one_thread_means_no_splitting(threads):
    threads(1)
    calls, lock = [], threading.Lock()
    assert parallel.split_rows(_record(calls, lock), 100, 0) == [(0, 100)]


def test_the_caller_takes_a_longer_range_for_the_worker_s_start():
    # half of the job each, plus the head start the caller gets done before a worker runs
    assert parallel._bounds(32, 2, 1000, 0) == [0, 16, 32]
    assert parallel._bounds(32, 2, 1000, 125) == [0, 18, 32]
    assert parallel._bounds(100, 4, 1000, 0) == [0, 25, 50, 75, 100]
    assert parallel._bounds(10, 2, 0, 5) == [0, 5, 10]  # no work given: no division by 0


def test_a_worker_s_error_is_raised_after_every_range_finished(threads):
    threads(2)
    finished = []

    def kernel(start, stop):
        if start == 0:  # the caller's range: slow, and must be over before the raise
            time.sleep(0.05)
            finished.append(start)
            return start
        raise ValueError(f"range {start}:{stop} failed")

    with pytest.raises(ValueError, match="failed"):
        parallel.split_rows(kernel, 4, 0)
    assert finished == [0]


def test_the_caller_s_error_waits_for_the_workers(threads):
    # a range a worker has started is over before the error comes out; one it has not
    # started yet is dropped (never run), so nothing writes into the caller's arrays later
    threads(3)
    started, finished = [], []
    lock = threading.Lock()

    def kernel(start, stop):
        if start == 0:
            raise KeyError("caller")
        with lock:
            started.append(start)
        time.sleep(0.05)
        with lock:
            finished.append(start)

    with pytest.raises(KeyError, match="caller"):
        parallel.split_rows(kernel, 3, 0)
    with lock:
        assert sorted(started) == sorted(finished)
        seen = list(started)
    parallel.split_rows(lambda start, stop: None, 3, 0)  # queued behind any dropped range
    assert started == seen  # a dropped range did not run afterwards


def test_a_split_inside_a_range_runs_there_without_deadlock(threads):
    threads(2)

    def inner(start, stop):
        return threading.get_ident()

    def outer(start, stop):
        idents = parallel.split_rows(inner, 10, 0)
        return idents

    results = parallel.split_rows(outer, 2, 0)
    for idents in results:
        assert len(idents) == 1  # not split again


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_num_threads_refuses_anything_but_a_positive_int(bad):
    with pytest.raises(ValueError, match="set_num_threads"):
        parallel.set_num_threads(bad)


def test_the_environment_sets_the_thread_count():
    code = "from ag import parallel; print(parallel.get_num_threads())"
    env = dict(os.environ, AG_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "1"
    env["AG_NUM_THREADS"] = "two"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "AG_NUM_THREADS must be a whole number >= 1, got 'two'" in out.stderr


def _blas_threads():
    limiter = parallel._blas_limiter()
    return None if limiter is None else limiter.controller.num_threads


@pytest.fixture
def blas_at_two(threads):
    """Two ag threads and NumPy's OpenBLAS at two threads for one test, then as before."""
    limiter = parallel._blas_limiter()
    if limiter is None:
        pytest.skip("NumPy's BLAS is not an OpenBLAS that threadpoolctl can reach")
    threads(2)
    before = limiter.controller.num_threads
    limiter.controller.set_num_threads(2)
    yield limiter
    limiter.controller.set_num_threads(before)


def test_blas_is_held_at_one_thread_inside_and_put_back_after(blas_at_two):
    seen = []
    parallel.split_rows(lambda a, b: seen.append(_blas_threads()), 2, 0, blas=True)
    assert seen == [1, 1] and _blas_threads() == 2

    def fails(a, b):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        parallel.split_rows(fails, 2, 0, blas=True)
    assert _blas_threads() == 2


def _split_in_child(queue):
    x = np.arange(10.0)
    out = np.empty_like(x)
    parallel.split_rows(lambda a, b: np.multiply(x[a:b], 3, out=out[a:b]), 10, 0)
    queue.put(out.tolist())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_a_forked_child_starts_its_own_threads(threads):
    threads(2)
    parallel.split_rows(lambda a, b: None, 4, 0)  # the parent's pool exists now
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_split_in_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0, "the child hung or failed splitting with the parent's pool"
    assert queue.get(timeout=5) == [3.0 * i for i in range(10)]


class _InterruptedOnce:
    """A range whose first wait is cut short by Ctrl-C while it still runs."""

    def __init__(self):
        self.calls, self.completed, self.error, self.result = 0, False, None, "done"
        self.finished = self

    def take(self):
        return False  # a worker is running it

    def acquire(self):
        self.calls += 1
        if self.calls == 1:
            raise KeyboardInterrupt
        self.completed = True


def test_ctrl_c_while_waiting_still_waits_for_the_range_then_is_raised():
    job = _InterruptedOnce()
    results, error = parallel._wait_all([job], drop=False)
    assert job.calls == 2 and results == ["done"]
    assert isinstance(error, KeyboardInterrupt)


def test_the_blas_hold_works_from_any_thread_and_leaves_user_limits_working(blas_at_two):
    # threadpoolctl lets one thread at a time set OpenBLAS's count: a split that took
    # control must let go, or every other thread's limits (ours and the user's) are ignored
    from threadpoolctl import threadpool_limits

    parallel.split_rows(lambda a, b: None, 8, 0, blas=True)  # this thread, once
    seen, limited = [], []

    def other():
        parallel.split_rows(lambda a, b: seen.append(_blas_threads()), 8, 0, blas=True)
        with threadpool_limits(1, user_api="blas"):
            limited.append(_blas_threads())

    t = threading.Thread(target=other)
    t.start()
    t.join(timeout=30)
    assert seen == [1, 1] and limited == [1]
    assert _blas_threads() == 2


def test_set_num_threads_from_another_thread_never_breaks_a_running_split(threads):
    threads(3)
    x = np.arange(600.0).reshape(200, 3)
    errors, stop = [], threading.Event()

    def work():
        out = np.empty_like(x)
        while not stop.is_set():
            try:
                parallel.split_rows(lambda a, b: np.multiply(x[a:b], 2, out=out[a:b]), 200, 0)
                if not np.array_equal(out, 2 * x):
                    errors.append("wrong values")
            except Exception as exc:  # noqa: BLE001 - collected for the assert
                errors.append(repr(exc))

    workers = [threading.Thread(target=work) for _ in range(2)]
    for t in workers:
        t.start()
    deadline = time.monotonic() + 2.0
    n = 0
    while time.monotonic() < deadline:
        parallel.set_num_threads(1 + n % 3)
        n += 1
    stop.set()
    for t in workers:
        t.join(timeout=30)
    assert not errors, errors[:3]
