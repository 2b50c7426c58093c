"""Grad mode, create-graph mode, anomaly mode and the open trace belong to one thread.

Each test parks one thread inside a mode (or inside a backward pass, in a rule that
waits on an event) while another thread works; events synchronise them, never sleeps.
Before the modes were per thread, the parked thread's mode leaked into the other:
nothing was recorded under a validation loop's ``no_grad``, plain grads came back as
Tensors, a finite program raised in anomaly mode, and a second thread's backward was
filed into the first thread's trace as a checkpoint recompute.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import ag
from ag.cli import main

WAIT = 30  # seconds: only reached when the other thread is stuck


def _in_thread(target, *args):
    """Start ``target(*args)`` in a thread; ``join()`` re-raises what it raised."""
    errors: list[BaseException] = []

    def run():
        try:
            target(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the joining test
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def join():
        thread.join(WAIT)
        assert not thread.is_alive(), "the other thread did not finish"
        if errors:
            raise errors[0]

    return join


def _parked(mode, inside: threading.Event, leave: threading.Event, seen: list):
    with mode():
        seen.append(ag.is_grad_enabled())
        inside.set()
        assert leave.wait(WAIT)


def test_no_grad_in_another_thread_does_not_stop_this_thread_recording():
    inside, leave, seen = threading.Event(), threading.Event(), []
    join = _in_thread(_parked, ag.no_grad, inside, leave, seen)
    try:
        assert inside.wait(WAIT)
        assert ag.is_grad_enabled()
        x = ag.tensor([1.0, 2.0])
        y = (x * 2.0 + x * 3.0).sum()
        assert y.requires_grad and y.inputs
        y.backward()
        np.testing.assert_array_equal(x.grad, [5.0, 5.0])
    finally:
        leave.set()
        join()
    assert seen == [False]  # the other thread itself was inside no_grad


def test_a_new_thread_starts_recording_whatever_its_parent_set():
    seen = []
    with ag.no_grad():
        _in_thread(lambda: seen.append(ag.is_grad_enabled()))()
        assert not ag.is_grad_enabled()
    assert seen == [True]


def _waiting_rule(reached: threading.Event, go_on: threading.Event):
    def rule(g, out, ctx, a):
        reached.set()
        assert go_on.wait(WAIT)
        return g * 2.0  # an array in a plain backward, a Tensor under create_graph
    return rule


def test_create_graph_in_another_thread_leaves_this_thread_s_grads_arrays():
    reached, go_on = threading.Event(), threading.Event()
    w = ag.tensor([1.0, 2.0])
    y = ag.custom_op(w.value * 2.0, [w], "double", [_waiting_rule(reached, go_on)])

    def second_order():
        y.sum().backward(create_graph=True)

    join = _in_thread(second_order)
    try:
        assert reached.wait(WAIT)  # that thread is inside backward(create_graph=True)
        x = ag.tensor([1.0, 2.0])
        (x * x).sum().backward()
        assert type(x.grad) is np.ndarray
        np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    finally:
        go_on.set()
        join()
    assert isinstance(w.grad, ag.Tensor)  # that thread's pass did build a graph


def test_anomaly_mode_in_another_thread_does_not_stop_this_one():
    inside, leave, seen = threading.Event(), threading.Event(), []
    join = _in_thread(_parked, ag.detect_anomaly, inside, leave, seen)
    try:
        assert inside.wait(WAIT)
        x = ag.tensor([1000.0, 1.0])
        with np.errstate(over="ignore"):
            y = ag.exp(x)  # inf: allowed outside anomaly mode
        assert np.isinf(y.value[0])
    finally:
        leave.set()
        join()
    with ag.detect_anomaly(), pytest.raises(FloatingPointError), np.errstate(over="ignore"):
        ag.exp(ag.tensor([1000.0, 1.0]))  # and in this thread's own anomaly mode it raises


def test_each_thread_s_backward_is_its_own_run_in_its_own_trace():
    reached, go_on = threading.Event(), threading.Event()
    w = ag.tensor([1.0, 2.0], label="w")
    ya = ag.custom_op(w.value * 2.0, [w], "double", [_waiting_rule(reached, go_on)]).sum()
    traces = {}

    def traced_a():
        with ag.trace() as t:
            ya.backward()
        traces["a"] = t

    join = _in_thread(traced_a)
    try:
        assert reached.wait(WAIT)  # thread A is halfway through its traced backward
        assert not ag.trace_record.is_tracing()  # A's trace is not open here
        x = ag.tensor([3.0], label="x")
        yb = (x * x).sum()
        with ag.trace() as tb:
            yb.backward()
        untraced = (x * 4.0).sum()
        untraced.backward()  # no trace open in this thread: recorded nowhere
    finally:
        go_on.set()
        join()
    ta = traces["a"]
    assert [r.root for r in ta.runs] == [ya] and ta.recomputes == []
    assert [r.root for r in tb.runs] == [yb] and tb.recomputes == [] and not tb.nested
    assert ta.last.final_grads()["w"].tolist() == [2.0, 2.0]
    assert tb.last.final_grads()["x"].tolist() == [6.0]
    assert "w.grad" in ta.text() and "x.grad" in tb.text()  # both render


def test_ag_trace_on_a_program_whose_threads_both_call_backward(tmp_path, capsys):
    program = tmp_path / "two_threads.py"
    # the two passes overlap: main's begins, the helper's begins, main's ends, the helper's ends
    program.write_text(
        "import threading\n"
        "import ag\n"
        "main_waits, helper_waits, main_done = (threading.Event() for _ in range(3))\n"
        "def main_rule(g, out, ctx, a):\n"
        "    main_waits.set()\n"
        "    helper_waits.wait(30)\n"
        "    return g * 2.0\n"
        "def helper_rule(g, out, ctx, a):\n"
        "    helper_waits.set()\n"
        "    main_done.wait(30)\n"
        "    return g * 3.0\n"
        "def helper():\n"
        "    main_waits.wait(30)\n"
        "    v = ag.tensor([3.0], label='v')\n"
        "    (ag.custom_op(v.value * 3.0, [v], 'triple', [helper_rule]) * v).sum().backward()\n"
        "thread = threading.Thread(target=helper)\n"
        "thread.start()\n"
        "w = ag.tensor([1.0, 2.0], label='w')\n"
        "(ag.custom_op(w.value * 2.0, [w], 'double', [main_rule]) * w).sum().backward()\n"
        "main_done.set()\n"
        "thread.join()\n",
        encoding="utf-8",
    )
    assert main(["trace", str(program)]) == 0
    out = capsys.readouterr().out
    assert "w.grad" in out and "v.grad" not in out and "backward call 2" not in out


def test_ag_trace_says_that_other_threads_are_not_traced(tmp_path, capsys):
    program = tmp_path / "in_a_thread.py"
    program.write_text(
        "import threading\n"
        "import ag\n"
        "x = ag.tensor([1.0], label='x')\n"
        "t = threading.Thread(target=(x * x).sum().backward)\n"
        "t.start()\n"
        "t.join()\n",
        encoding="utf-8",
    )
    assert main(["trace", str(program)]) == 1
    assert "not those of threads it starts" in capsys.readouterr().err
