"""Inputs that need no grad stay in the graph: order, drawing and trace are the course's.

The finals' attention block computes ``P = moveaxis(Xin, 1, 2) @ softmaxKQ`` with data
``Xin`` (``requires_grad=False``). The slides' recursive DFS over every input gives
``[Xin, z8:transpose, Wk, ...]``; the transpose must keep ``Xin`` as its input, the
drawing must have the ``Xin -> transpose`` edge, and the backward pass must run no
rule for an input that needs no grad (nor keep anything for one).
"""

from __future__ import annotations

import contextlib
import gc
import io
import re
import runpy
import tracemalloc
import weakref

import numpy as np
import pytest

import ag
from ag import viz
from tests.course_problems import EXERCISES, attention_block_class, recursive_topological_order


def _attention():
    rng = np.random.default_rng(0)
    att = attention_block_class()(*(rng.standard_normal((2, 2)) for _ in range(3)))
    Xin = ag.Tensor(rng.standard_normal((1, 2, 2)), label="Xin", requires_grad=False)
    return att, Xin, ag.sum(att(Xin))


def test_attention_order_is_the_slides_dfs():
    att, Xin, loss = _attention()
    run = ag.backward_trace(loss)
    names = [run.display_name(n) for n in run.order]
    assert names[:3] == ["Xin", "z8:transpose", "Wk"]  # the slides' order
    assert names == [run.display_name(n) for n in recursive_topological_order(loss)]
    assert run.order_text() == (
        "[Xin, z8:transpose, Wk, z2:matmul, Wq, z1:matmul, z3:transpose, z4:matmul, z5:exp, "
        "z6:sum, z7:div, z9:matmul, z10:transpose, Wv, z11:matmul, z12:sum]")
    transpose = run.order[1]
    assert transpose.inputs == (Xin,) and not transpose.requires_grad
    assert transpose._rules is None and transpose._ctx is None  # nothing kept for the backward


def test_attention_exercise_file_gives_the_slides_order():
    with contextlib.redirect_stdout(io.StringIO()):
        ns = runpy.run_path(str(EXERCISES / "attention_block.py"), run_name="attention")
    run = ns["TRACE"].last
    assert run.order_text().startswith("[Xin, z8:transpose, Wk, z2:matmul, Wq, z1:matmul,")
    assert [n for n in run.order] == recursive_topological_order(run.root)


def _edges(dot: str) -> set[tuple[str, str]]:
    """``(tail label, head label)`` of each edge of a drawing (bold node titles)."""
    titles = dict(re.findall(r"^\s*(\w+) \[label=<<B>(.*?)</B>", dot, re.M))
    return {(titles[a], titles[b]) for a, b in re.findall(r"^\s*(\w+) -> (\w+)\s*$", dot, re.M)
            if a in titles and b in titles}


def test_drawing_has_the_data_edge():
    _, _, loss = _attention()
    edges = _edges(viz.to_dot(loss))
    assert ("Xin", "z8:transpose") in edges
    assert ("Xin", "z1:matmul") in edges and ("z8:transpose", "z9:matmul") in edges


def test_trace_rows_for_data_nodes():
    _, Xin, loss = _attention()
    run = ag.backward_trace(loss)
    k = next(i for i, s in enumerate(run.steps) if s.node.op == "transpose" and s.node.inputs[0] is Xin)
    assert run.rules(k) == [] and run.update_lines(k) == []
    text = run.text()
    block = text.split(f"iteration {k} (")[1].split("\n\n")[0]
    assert "z8:transpose" in block and "no input needs a grad: nothing to do" in block.lower()
    assert "Xin.grad" not in text  # no rule line, no grad row for data
    p = next(i for i, s in enumerate(run.steps) if s.node.inputs and s.node.inputs[0] is run.steps[k].node)
    assert [r.target for r in run.rules(p)] == ["z7"]  # P's rule for softmaxKQ only
    for form in (run.markdown(), run.latex()):
        assert "z8:transpose" in form and "Xin.grad" not in form
    assert Xin.grad is None


def test_no_rule_runs_for_an_input_that_needs_no_grad():
    calls = []

    def boom(g, out, ctx, *inputs):
        raise AssertionError("a rule ran for an input that needs no grad")

    def double(g, out, ctx, *inputs):
        calls.append("double")
        return 2 * g

    data = ag.Tensor([1.0, 2.0], label="data", requires_grad=False)
    w = ag.Tensor([3.0, 4.0], label="w")
    only_data = ag.custom_op(data.value * 2, [data], "scale", [boom])
    assert only_data.inputs == (data,) and not only_data.requires_grad
    mixed = ag.custom_op(only_data.value + w.value, [only_data, w], "plus", [boom, double])
    ag.sum(mixed).backward()
    assert calls == ["double"] and w.grad.tolist() == [2.0, 2.0]
    assert data.grad is None and only_data.grad is None


def test_no_grad_still_records_nothing():
    data = ag.Tensor([1.0, 2.0], requires_grad=False)
    with ag.no_grad():
        y = data * 2.0
    assert y.inputs == ()


def test_data_history_is_freed_with_the_graph():
    data = ag.Tensor(np.ones((50, 50)), requires_grad=False)
    w = ag.Tensor(np.ones((50, 50)))
    moved = ag.moveaxis(data * 2.0, 0, 1)
    loss = ag.sum(moved @ w)
    ref = weakref.ref(moved.inputs[0])  # data * 2.0, held only by the graph
    loss.backward()
    del moved, loss
    gc.collect()
    assert ref() is None


def test_training_loop_memory_stays_flat():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((64, 4)), rng.integers(0, 3, 64)
    W1, W2 = ag.Tensor(rng.standard_normal((4, 8)) * 0.5), ag.Tensor(rng.standard_normal((8, 3)) * 0.5)
    opt = ag.optim.SGD([W1, W2], lr=0.1)

    def step():
        xb = ag.Tensor(X, requires_grad=False)
        scaled = (xb - 0.5) * 2.0  # a data-only chain in every step
        loss = ag.nn.functional.cross_entropy(ag.relu(scaled @ W1) @ W2, y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(20):
        step()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(200):
            step()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, grown  # 200 steps: no graph or data kept from an earlier step


def test_scalar_keeps_every_input_too():
    x = ag.Scalar(2.0, label="x")
    y = x * 3.0
    order = y.topological_sort()
    assert len(order) == 3 and order[1].value == 3.0 and order[2] is y  # [x, 3, mul]
    run = ag.backward_trace(y)
    assert run.order_text() == "[x, z1:leaf, z2:mul]"  # the constant is a leaf of the graph
    assert x.grad == 3.0


@pytest.mark.slow
def test_ag_trace_cnn_digits_does_not_crash(tmp_path, capsys):
    """`ag trace exercises/cnn_digits.py`, shortened to one epoch: it used to crash at the end."""
    from ag.cli import main

    script = tmp_path / "cnn_one_epoch.py"
    script.write_text(
        "import runpy\n"
        f"ns = runpy.run_path({str(EXERCISES / 'cnn_digits.py')!r}, run_name='cnn_digits')\n"
        "ns['main'](['--epochs', '1', '--batch-size', '256'])\n")
    out = tmp_path / "trace.txt"
    assert main(["trace", str(script), "-q", "--max-calls", "1", "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "(softmax(" in text and "onehot(" in text and ":cross_entropy" in text  # the loss rule
    assert "more backward() call" in text  # the other steps ran untraced
    capsys.readouterr()
