"""The exam drawing rules on generated graphs, read from Graphviz's own node positions.

For every two-input op the left operand is drawn above the right one, and every leaf
sits in the first column (inputs on the left), on a few hundred generated problems.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from course_problems import problem_1_3

import ag
from ag import viz
from ag.autodiff import topological_sort
from ag.exam import OPS, generate

pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")
_COUNTS = {"graphs": 0, "ops": 0}


def positions(graph) -> dict[str, tuple[float, float]]:
    """Node centres as laid out by the graph's own engine (``dot``, or ``neato`` when pinned)."""
    out = subprocess.run(["dot", f"-K{graph.engine}", "-Tplain"], input=graph.source,
                         capture_output=True, text=True, check=True).stdout
    return {p[1]: (float(p[2]), float(p[3])) for p in (ln.split() for ln in out.splitlines())
            if p and p[0] == "node"}


def check_drawing(root, **options) -> int:
    order = topological_sort(root)
    graph = viz.draw(root, **options)
    pos = positions(graph)
    ids = {id(n): f"n{i}" for i, n in enumerate(order)}
    first_column = min(x for x, _ in (pos[ids[id(n)]] for n in order))
    checked = 0
    for n in order:
        if not n.inputs:
            assert abs(pos[ids[id(n)]][0] - first_column) < 1e-6, "a leaf outside the first column"
        if len(n.inputs) == 2 and n.inputs[0] is not n.inputs[1]:
            (_, y_left), (_, y_right) = (pos[ids[id(i)]] for i in n.inputs)
            assert y_left > y_right, (n.op, y_left, y_right, graph.source)
            checked += 1
    _COUNTS["graphs"] += 1
    _COUNTS["ops"] += checked
    return checked


@pytest.mark.parametrize("kwargs", [{}, {"ops": list(OPS), "nodes": 8}], ids=["default", "all-ops-8"])
def test_left_operand_above_right_on_generated_graphs(kwargs):
    checked = sum(check_drawing(generate(seed=s, **kwargs).run.root, values=False, grads=False,
                                legend=False) for s in range(120))
    assert checked > 200


def test_with_values_grads_legend_and_op_nodes():
    for s in range(0, 100, 7):
        root = generate(seed=s, difficulty="hard").run.root
        check_drawing(root)
        check_drawing(root, op_nodes=True, legend=False)


def test_course_problem_1_3_and_a_late_leaf():
    # 1.3: wo feeds only the last op; it stays with the other inputs in the first column
    z10 = problem_1_3().z10  # exercises/problem_1_3.py, fresh
    z10.backward()
    assert check_drawing(z10) == 4


def test_contradictory_orders_still_draw():
    # z1*z2 and z2*z1 in one graph: no drawing satisfies both; it must still render
    x, y = ag.Scalar(2.0, label="x"), ag.Scalar(3.0, label="y")
    out = x * y + y * x
    assert "<svg" in viz.to_svg(out)


def test_counts_reported(capsys):
    with capsys.disabled():
        print(f"\n[exam drawing] graphs checked: {_COUNTS['graphs']}, "
              f"two-input ops with left operand above right: {_COUNTS['ops']}")
