"""A checkpoint's recompute runs through the shared backward loop, so observers see it."""

import numpy as np
import pytest

import ag
from ag.autodiff import observe_backward


class Recorder:
    """A backward observer that writes down what the loop tells it."""

    def __init__(self):
        self.log = []

    def begin(self, root, order):
        self.log.append(("begin", root.op))

    def before(self, step, node):
        self.log.append(("step", node.op or node.label))

    def after(self, step, node):
        pass

    def end(self, root):
        self.log.append(("end", root.op))


def _graph():
    W = ag.tensor([[1.0, -2.0], [0.5, 1.0]], label="W")
    x = ag.tensor([[1.0, 2.0]], label="x")

    def block(h):
        return ag.tanh(ag.relu(h @ W) @ W)

    return W, x, block


def test_an_observer_sees_the_recompute_steps_inside_the_checkpoint_step():
    W, x, block = _graph()
    y = ag.checkpoint(block, x).sum()
    recorder = Recorder()
    with observe_backward(recorder):
        y.backward()
    assert recorder.log == [
        ("begin", "sum"), ("step", "sum"), ("step", "checkpoint"),
        # the recompute: its own pass, inside the checkpoint's step, stopping at x and W
        ("begin", "tanh"), ("step", "tanh"), ("step", "matmul"), ("step", "relu"),
        ("step", "matmul"), ("end", "tanh"),
        ("step", "W"), ("step", "x"), ("end", "sum"),
    ]


def test_a_trace_records_the_recompute_and_the_grads_match_the_plain_run():
    W, x, block = _graph()
    y = ag.checkpoint(block, x).sum()
    with ag.trace() as t:
        y.backward()
    assert len(t.runs) == 1 and len(t.recomputes) == 1
    inner = t.recomputes[0]
    assert [s.node.op for s in inner.steps] == ["tanh", "matmul", "relu", "matmul"]
    gW, gx = W.grad.copy(), x.grad.copy()
    W.grad = x.grad = None
    block(x).sum().backward()
    np.testing.assert_array_equal(W.grad, gW)
    np.testing.assert_array_equal(x.grad, gx)
    with ag.trace() as t2:  # a second backward in another trace starts clean
        y.backward()
    assert len(t2.runs) == 1 and len(t2.recomputes) == 1


def test_anomaly_mode_names_the_node_inside_the_recompute():
    x = ag.tensor([0.0, 4.0], label="x")
    y = ag.checkpoint(lambda h: ag.sqrt(h * 1.0), x).sum()
    with np.errstate(divide="ignore"), ag.detect_anomaly(), pytest.raises(FloatingPointError, match="sqrt"):
        y.backward()


def test_a_recompute_drops_its_grads_and_leaves_the_outer_graph_alone():
    W, x, block = _graph()
    h = x * 2.0
    h.label = "h"
    y = ag.checkpoint(block, h).sum()
    recorder = Recorder()
    with observe_backward(recorder):
        y.backward()
    inner = recorder.log[recorder.log.index(("begin", "tanh")):recorder.log.index(("end", "tanh"))]
    assert ("step", "h") not in inner and ("step", "mul") not in inner  # the boundary holds
    assert h.grad is not None and W.grad is not None


def test_a_failed_pass_ends_for_its_observers_so_the_next_one_is_not_nested():
    x = ag.tensor([0.0, 4.0], label="x")
    y = ag.checkpoint(lambda h: ag.sqrt(h * 1.0), x).sum()
    recorder = Recorder()
    with ag.trace() as t, observe_backward(recorder):
        with np.errstate(divide="ignore"), ag.detect_anomaly(), pytest.raises(FloatingPointError):
            y.backward()
        ok = ag.tensor([1.0, 4.0], label="ok")
        ag.checkpoint(lambda h: ag.sqrt(h * 1.0), ok).sum().backward()
    assert recorder.log.count(("end", "sum")) == 2 and recorder.log.count(("end", "sqrt")) == 2
    assert len(t.runs) == 2 and len(t.recomputes) == 2  # the failed pass and its recompute, then the good one
    assert x.grad is None and ok.grad.tolist() == [0.5, 0.25]
