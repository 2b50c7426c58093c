"""Big NumPy kernels split over the machine's cores, as PyTorch's ops are.

NumPy runs a gather (``np.take``), a copy or a scipy sparse kernel on one core,
and OpenBLAS parallelises a matrix product only across its output: a product with
a long inner dimension and a small result (the weight gradient of a convolution,
``patches.T @ grad``) runs on one core too. PyTorch splits such work across its
threads. :func:`split_rows` does the same for the few big kernels of the Tensor
engine: it cuts the rows into one range per thread and runs ``kernel(start,
stop)`` on each, the calling thread taking the first range. The kernels release
the GIL, so the ranges run at the same time.

Only work of at least ``min_work`` elements (or multiply-adds) is split: below
that, handing a range to a thread costs more than it saves. With ``blas=True``
the kernel calls BLAS, and NumPy's OpenBLAS is held at one thread while the ranges
run (through threadpoolctl), so that the two threads do not each start a pool of
their own; where NumPy's BLAS is another library such a kernel runs unsplit.

What it buys, measured on the course workloads (``benchmarks/course_workloads.py``,
interleaved, a quiet 2-core machine): without it the float64 conv goes from 1.20x to
1.92x the time of PyTorch.

``ag.parallel.set_num_threads(1)`` (or ``AG_NUM_THREADS=1`` in the environment)
turns splitting off, for debugging or to measure what it buys; the results are the
same, bit for bit (``tests/core/test_speed_switches.py``). The default is the number
of cores this process may use, at most 4.

>>> import numpy as np
>>> from ag import parallel
>>> x = np.arange(12.0).reshape(6, 2)
>>> out = np.empty_like(x)
>>> def double(start, stop):              # one range of rows
...     np.multiply(x[start:stop], 2, out=out[start:stop])
>>> _ = parallel.split_rows(double, 6, min_work=0)
>>> out[:, 0]
array([ 0.,  4.,  8., 12., 16., 20.])
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["split_rows", "set_num_threads", "get_num_threads", "MIN_WORK"]

T = TypeVar("T")

# About 0.1 ms of a gather or a copy: below it a second thread does not pay for itself
# (handing over a range and waiting for it takes some 20-40 microseconds).
MIN_WORK = 1 << 18
# What the calling thread gets done while a worker wakes up (about 30 microseconds):
# elements of a gather or copy; a product passes its own figure in multiply-adds.
HEAD_START = 1 << 16


def _default_threads() -> int:
    configured = os.environ.get("AG_NUM_THREADS", "").strip()
    if configured:
        if not (configured.isascii() and configured.isdigit()) or int(configured) < 1:
            raise ValueError(f"AG_NUM_THREADS must be a whole number >= 1, got {configured!r}")
        return int(configured)
    try:  # the cores this process may run on (a container or taskset may allow fewer)
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


_state: dict[str, Any] = {"threads": _default_threads(), "pool": None, "blas": None, "held": None}
_lock = threading.Lock()  # guards the pool's replacement (set_num_threads from any thread)
_inside = threading.local()  # a range already running is never split again (see _nested)


def set_num_threads(n: int) -> None:
    """How many threads a big kernel may use (1: none but the caller's).

    A split already running finishes on the threads it started with.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"ag.parallel.set_num_threads: n must be an integer >= 1, got {n!r}")
    with _lock:
        old, _state["pool"] = _state["pool"], None
        _state["threads"] = n
    if old is not None and old[0] is not None:
        old[0].close()  # its queued ranges still run; its threads then end


def get_num_threads() -> int:
    """How many threads a big kernel may use."""
    return _state["threads"]


class _Range:
    """One range of a split: run by a worker, waited for by the caller.

    Whoever takes it first (:meth:`take`, atomic) runs it or drops it: the worker it
    was queued on, or the caller when the split failed before the worker started it.
    So a range the caller listed but never managed to queue (a Ctrl-C in between) is
    dropped instead of being waited for forever.
    """

    __slots__ = ("kernel", "start", "stop", "result", "error", "completed", "finished", "taken")

    def __init__(self, kernel: Callable[[int, int], Any], start: int, stop: int) -> None:
        self.kernel, self.start, self.stop = kernel, start, stop
        self.result: Any = None
        self.error: BaseException | None = None
        self.completed = False
        self.finished = threading.Lock()  # held until the range is done
        self.finished.acquire()
        self.taken = threading.Lock()  # acquired once, by whoever runs or drops the range

    def take(self) -> bool:
        """Claim the range (True once, for the first caller; never blocks)."""
        return self.taken.acquire(False)

    def run(self) -> None:
        try:
            self.result = self.kernel(self.start, self.stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            self.error = exc
        finally:
            self.completed = True
            self.finished.release()


class _Workers:
    """Threads that each run the ranges of their own queue, in order.

    A ThreadPoolExecutor does the same, but handing it a range cost the caller 12 µs,
    a queue.SimpleQueue under 1 µs, and a split hands over a range each time.
    """

    def __init__(self, n: int) -> None:
        self.queues = [queue.SimpleQueue() for _ in range(n)]
        self.closed = False
        for i, jobs in enumerate(self.queues):
            threading.Thread(target=self._serve, args=(jobs,), name=f"ag-parallel-{i}",
                             daemon=True).start()

    @staticmethod
    def _serve(jobs: queue.SimpleQueue) -> None:
        _inside.busy = True  # a worker's ranges are never split again
        while True:
            job = jobs.get()
            if job is None:
                return
            if job.take():  # else the caller took it back (it ran it, or dropped it on an error)
                job.run()

    def submit(self, i: int, job: _Range) -> None:
        """Queue ``job`` on worker ``i``; after :meth:`close`, run it here instead.

        No lock: a Ctrl-C between a ``with lock`` block's last line and its exit leaves
        the lock held, and the next split would wait for it forever. Closing sets
        ``closed`` before it queues the stop signals, so a job queued behind one is seen
        here, and :meth:`_Range.take` makes sure it runs once, here or on the worker.
        """
        self.queues[i].put(job)
        if self.closed and job.take():
            job.run()

    def close(self) -> None:
        """Let each thread end once the ranges queued before now have run."""
        self.closed = True
        for jobs in self.queues:
            jobs.put(None)


def _pool() -> tuple[_Workers | None, int]:
    """The worker threads and their number, made on first use (None and 0 for one thread)."""
    entry = _state["pool"]
    if entry is not None:  # no lock on a split's way (see _Workers.submit)
        return entry
    with _lock:
        entry = _state["pool"]
        if entry is None:
            workers = _state["threads"] - 1
            entry = _state["pool"] = (_Workers(workers) if workers else None, workers)
        return entry


def _after_fork_in_child() -> None:
    # the parent's pool has no threads behind it here; and a fork taken while a split
    # held OpenBLAS at one thread would leave the child's held for good
    _state["pool"] = None
    held, _state["held"] = _state["held"], None
    if held is not None and _state["blas"]:
        _state["blas"].release(held[0])


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _OneBlasThread:
    """Holds NumPy's OpenBLAS at one thread: ``previous = hold()`` ... ``release(previous)``.

    threadpoolctl lets one thread at a time change OpenBLAS's (process-wide) count: the
    first to set it controls it until it lets go. So a hold lets go at its release,
    and where another thread holds control (a user's ``threadpool_limits`` elsewhere)
    ``hold`` gives None and the kernel runs unsplit.

    A hold is recorded (the count to go back to, the thread and the split's frame)
    before OpenBLAS is changed: a Ctrl-C that ends a split between its hold and its
    release leaves the record, and the next hold puts the count back, instead of
    leaving NumPy's products on one thread for the rest of the session.
    """

    def __init__(self, controller: Any) -> None:
        self.controller = controller
        self.let_go = getattr(type(controller), "clear_controlling_thread", None)

    def hold(self, frame: Any) -> int | None:
        """Hold OpenBLAS at one thread for the split running in ``frame``."""
        self._put_back_a_stale_hold()
        previous = self.controller.num_threads
        if previous == 1:
            return previous
        _state["held"] = (previous, threading.get_ident(), frame)
        self.controller.set_num_threads(1)
        if self.controller.num_threads != 1:  # another thread controls OpenBLAS
            _state["held"] = None
            return None
        return previous

    def release(self, previous: int) -> None:
        if previous != 1:
            self.controller.set_num_threads(previous)
            _state["held"] = None
        if self.let_go is not None:
            self.let_go()  # only the controlling thread's call has an effect

    def _put_back_a_stale_hold(self) -> None:
        held = _state["held"]
        if held is None:
            return
        previous, ident, frame = held
        top = sys._getframe() if ident == threading.get_ident() else sys._current_frames().get(ident)
        while top is not None:
            if top is frame:
                return  # that split is still running: it puts the count back itself
            top = top.f_back
        _state["held"] = None
        if self.let_go is not None:
            self.let_go(force=True)  # the thread that held it will not let go any more
        self.controller.set_num_threads(previous)
        if self.let_go is not None:
            self.let_go()


def _blas_limiter() -> Any:
    limiter = _state["blas"]
    if limiter is None:
        limiter = False
        try:
            from threadpoolctl import ThreadpoolController

            found = [lib for lib in ThreadpoolController().lib_controllers
                     if lib.internal_api == "openblas"]
            # NumPy's own copy (numpy.libs in a wheel), else the one system OpenBLAS
            # that a distribution's NumPy and SciPy share
            ours = [lib for lib in found if "numpy" in lib.filepath] or found[:1] * (len(found) == 1)
            if ours:
                limiter = _OneBlasThread(ours[0])
        except Exception:  # threadpoolctl missing, or unable to read the libraries
            limiter = False
        _state["blas"] = limiter
    return limiter or None


def _bounds(n_rows: int, threads: int, work: int, head_start: int) -> list[int]:
    """Row bounds: the caller's range ``(work + (threads-1)*head_start) / threads`` long,
    each worker's ``(work - head_start) / threads`` (in rows, rounded; none empty).

    >>> _bounds(32, 2, 1000, 0), _bounds(32, 2, 1000, 125), _bounds(3, 3, 10, 10**6)
    ([0, 16, 32], [0, 18, 32], [0, 1, 2, 3])
    """
    head = min(head_start, work // threads) / work if work > 0 else 0.0
    first = (1 + head * (threads - 1)) / threads
    rest = (1 - first) / (threads - 1)
    bounds = [0, *(round(n_rows * (first + rest * i)) for i in range(threads - 1)), n_rows]
    for i in range(1, threads):  # at least one row each (threads <= n_rows)
        bounds[i] = min(max(bounds[i], bounds[i - 1] + 1), n_rows - (threads - i))
    return bounds


def split_rows(
    kernel: Callable[[int, int], T], n_rows: int, min_work: int | None = None, *,
    work: int | None = None, blas: bool = False, head_start: int | None = None,
) -> list[T]:
    """``[kernel(start, stop), ...]`` over consecutive row ranges covering ``0..n_rows``.

    ``work`` is the size of the whole job (elements moved, or multiply-adds), ``n_rows``
    if not given; the job is split only when ``work >= min_work`` (default
    ``MIN_WORK``) and there is more than one row and one thread. The ranges run at
    once, the first in the calling thread; every range has finished when this
    returns, also when one raised (the first exception is re-raised). The results
    come in row order.

    A worker starts some tens of microseconds after it is handed its range (it has to
    wake up); ``head_start`` is the work the calling thread does in that time, and its
    range is that much longer, so that all finish together (default ``HEAD_START``).
    """
    total = n_rows if work is None else work
    if _state["threads"] < 2 or n_rows < 2 or _nested() \
            or total < (MIN_WORK if min_work is None else min_work):
        return [kernel(0, n_rows)]
    limiter = _blas_limiter() if blas else None
    if blas and limiter is None:
        return [kernel(0, n_rows)]
    pool, workers = _pool()
    threads = min(workers + 1, n_rows)
    if pool is None or threads < 2:
        return [kernel(0, n_rows)]
    bounds = _bounds(n_rows, threads, total, HEAD_START if head_start is None else head_start)

    previous: int | None = None
    ranges: list[_Range] = []
    try:
        if limiter is not None:
            previous = limiter.hold(sys._getframe())
            if previous is None:  # OpenBLAS is another thread's to set: no split
                return [kernel(0, n_rows)]
        try:
            # A range is listed before it is queued: the cleanup below sees every range
            # that a worker may run, and takes back any it never received.
            for i in range(1, threads):
                ranges.append(_Range(kernel, bounds[i], bounds[i + 1]))
                pool.submit(i - 1, ranges[-1])
            try:
                _inside.busy = sys._getframe()  # this split's frame: see _nested
                first = kernel(bounds[0], bounds[1])
            finally:
                _inside.busy = None
        except BaseException as exc:
            # no range a worker has started is left running when we leave (they write
            # into the caller's arrays); those not started are dropped, not waited for
            _, error = _wait_all(ranges, drop=True)
            if isinstance(error, KeyboardInterrupt) and not isinstance(exc, KeyboardInterrupt):
                raise error from exc  # Ctrl-C wins over any other error on its way out
            raise
        rest, error = _wait_all(ranges, drop=False)
        if error is not None:
            raise error
        return [first, *rest]
    finally:
        if limiter is not None and previous is not None:
            limiter.release(previous)


def _nested() -> bool:
    """Whether this thread is running a range of a split now (a worker always is).

    The calling thread marks its own range with the split's frame rather than a flag:
    a Ctrl-C can land between the range's end and the line that clears the mark, and
    a stale flag would keep this thread from ever splitting again; a stale frame is
    simply not on the stack any more.
    """
    marker = getattr(_inside, "busy", None)
    if marker is None or marker is True:
        return marker is True
    frame = sys._getframe(2)
    while frame is not None:
        if frame is marker:
            return True
        frame = frame.f_back
    _inside.busy = None  # left over from a split that Ctrl-C ended
    return False


def _wait_all(ranges: list[_Range], drop: bool) -> tuple[list, BaseException | None]:
    """The results of ``ranges`` in order once all are done, and the error to raise: a
    range's own, or a Ctrl-C that came while waiting (which wins over the others).

    With ``drop`` (the split failed, or Ctrl-C came while it handed ranges out) a range
    no worker has started is taken back and never run, so the wait is only ever for a
    kernel that is running; without, every range was queued and each is waited for."""
    results, error = [], None
    for job in ranges:
        if drop and job.take():
            continue
        while not job.completed:
            try:
                job.finished.acquire()  # released by the worker when the range is done
            except BaseException as exc:  # noqa: BLE001 - a Ctrl-C: wait on, then raise it
                error = _more_urgent(error, exc)
        if job.error is not None:
            error = _more_urgent(error, job.error)
        else:
            results.append(job.result)
    return results, error


def _more_urgent(error: BaseException | None, new: BaseException) -> BaseException:
    if error is None or (isinstance(new, KeyboardInterrupt) and not isinstance(error, KeyboardInterrupt)):
        return new
    return error
