"""Every op traced, drawn and stepped: a new op without a recipe here fails, it is not skipped.

The op lists are read from the registry (``ag.registry.tensor_ops()``, ``scalar_ops()``)
and from ``ag.nn.functional`` at test time, so an op added later is picked up by this
file on its own: an op called with its inputs alone gets a recipe made from its registry
facts; any other needs a small-input recipe in ``TENSOR_RECIPES`` (or
``FUNCTIONAL_RECIPES``), and the test says so by name. Each recipe's graph is traced
and written in all four forms a student sees (text, Markdown, LaTeX, the HTML stepper
with its drawings); the op's own backward rule must be written out in full, with no
placeholder left unfilled (an op whose rule-facts function and saved context drift
apart fails here, as cross-entropy's did).
"""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest
import scipy.sparse as sp

import ag
import ag.gpu  # noqa: F401  (registers "to")
import ag.nn
import ag.nn.functional as F
import ag.remat
from ag import registry, stepper


def _rng(label: str, shape: tuple) -> np.random.Generator:
    """A generator of its own per label and shape: the values do not depend on test order."""
    return np.random.default_rng([577, zlib.crc32(label.encode()), *shape])


def _w(*shape: int, label: str, positive: bool = False) -> ag.Tensor:
    """A parameter of ``shape`` with values away from 0 and from each other (no ties, no kinks)."""
    rng = _rng(label, shape)
    v = rng.uniform(0.5, 1.5, shape) + np.arange(int(np.prod(shape))).reshape(shape) * 0.01
    if not positive:
        v = v * np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    return ag.Tensor(v, label=label)


def _data(*shape: int, label: str = "D") -> ag.Tensor:
    """Data that needs no grad: its node stays in the graph, no rule runs for it."""
    return ag.Tensor(_rng(label, shape).uniform(-1.0, 1.0, shape) + 0.05, label=label, requires_grad=False)


def _create_graph_grad(build):
    """``x.grad`` as a graph (``create_graph=True``) of a scalar built by ``build(x)``: the
    second backward then runs the ops that only appear in gradients (col2im, index_add)."""
    x = _w(1, 1, 3, 3, label="x")
    build(x).backward(create_graph=True)
    return ag.sum(x.grad * _data(*x.shape, label="C"))


def _checkpointed():
    W = _w(2, 2, label="W")
    x = _w(3, 2, label="x")
    return ag.remat.checkpoint(lambda t: ag.tanh(t @ W), x)


# One small graph per registered Tensor op; the op may sit anywhere in it.
TENSOR_RECIPES = {
    "astype": lambda: _w(2, 3, label="x").astype(np.float32),
    "add": lambda: _w(2, 3, label="x") + _data(3),
    "sub": lambda: _data(2, 3) - _w(2, 3, label="x"),
    "mul": lambda: _w(2, 3, label="x") * _w(3, label="y"),
    "div": lambda: _w(2, 3, label="x") / _w(2, 1, label="y", positive=True),
    "neg": lambda: -_w(2, 3, label="x"),
    "pow": lambda: _w(2, 2, label="x", positive=True) ** _w(2, 2, label="y"),
    "pow_const": lambda: _w(2, 2, label="x") ** 3,
    "reshape": lambda: _w(2, 3, label="x").reshape(3, 2),
    "transpose": lambda: ag.transpose(_w(2, 3, 4, label="x"), (2, 0, 1)),
    "broadcast_to": lambda: ag.broadcast_to(_w(3, label="v"), (2, 3)),
    "sum": lambda: _w(2, 3, label="x").sum(axis=0),
    "mean": lambda: _w(2, 3, label="x").mean(axis=1, keepdims=True),
    "max": lambda: _w(2, 3, label="x").max(axis=1),
    "min": lambda: _w(2, 3, label="x").min(),
    "einsum": lambda: ag.einsum("ij,jk->ik", _data(2, 3), _w(3, 2, label="W")),
    "exp": lambda: ag.exp(_w(2, 2, label="x")),
    "log": lambda: ag.log(_w(2, 2, label="x", positive=True)),
    "sqrt": lambda: ag.sqrt(_w(2, 2, label="x", positive=True)),
    "abs": lambda: abs(_w(2, 2, label="x")),
    "relu": lambda: ag.relu(_w(2, 2, label="x")),
    "tanh": lambda: ag.tanh(_w(2, 2, label="x")),
    "sigmoid": lambda: ag.sigmoid(_w(2, 2, label="x")),
    "maximum": lambda: ag.maximum(_w(2, 2, label="x"), _data(2, 2)),
    "minimum": lambda: ag.minimum(_data(2, 2), _w(2, 2, label="x")),
    "where": lambda: ag.where(np.array([[True, False], [False, True]]), _w(2, 2, label="x"),
                              _w(2, 2, label="y")),
    "clip": lambda: ag.clip(_w(2, 3, label="x"), -0.9, 0.9),
    "index_add": lambda: ag.index_add(_w(3, 2, label="g"), np.array([0, 2, 0]), (4, 2)),
    "getitem": lambda: _w(3, 2, label="x")[np.array([0, 2, 0])],
    "concatenate": lambda: ag.concatenate([_w(2, 2, label="x"), _data(1, 2)], axis=0),
    "stack": lambda: ag.stack([_w(2, label="x"), _w(2, label="y")]),
    "matmul": lambda: _data(2, 3) @ _w(3, 2, label="W"),
    "spcmatmul": lambda: ag.spcmatmul(_w(2, 3, label="x"), sp.csr_matrix(np.eye(3)[:, ::-1])),
    "softmax": lambda: ag.softmax(_w(2, 3, label="x"), axis=1),
    "log_softmax": lambda: ag.log_softmax(_w(2, 3, label="x")),
    "logsumexp": lambda: ag.logsumexp(_w(2, 3, label="x"), axis=1),
    "cross_entropy": lambda: ag.softmax_cross_entropy(_data(2, 2, label="X") @ _w(2, 3, label="W"),
                                                      np.array([0, 2])),
    "im2col_strided": lambda: F.im2col(_w(1, 1, 3, 3, label="x"), 2, method="strided"),
    "im2col_columns": lambda: F.conv2d(_w(1, 1, 3, 3, label="x"), _w(4, 2, label="w"), method="strided"),
    "col2im": lambda: _create_graph_grad(lambda x: ag.sum(F.im2col(x, 2, method="strided") ** 2)),
    "im2col_naive": lambda: F.im2col(_w(1, 1, 3, 3, label="x"), 2, method="naive"),
    "conv2d_naive": lambda: F.conv2d(_data(1, 1, 3, 3, label="X"), _w(4, 2, label="w"), _w(2, label="b"),
                                     method="naive"),
    "bce_with_logits": lambda: F.binary_cross_entropy_with_logits(_w(2, 2, label="z"),
                                                                  np.array([[0.0, 1.0], [1.0, 0.0]])),
    "to": lambda: _w(2, 2, label="x").to("fake").to("cpu"),
    "checkpoint": _checkpointed,
}

# Every public function of ag.nn.functional that builds a graph; the others are listed
# in NOT_GRAPH_FUNCTIONS with a call that shows they build none.
FUNCTIONAL_RECIPES = {
    "linear": lambda: F.linear(_data(2, 3), _w(3, 2, label="W"), _w(2, label="b")),
    "dropout": lambda: F.dropout(_w(2, 3, label="x"), 0.5, rng=np.random.default_rng(1)),
    "layer_norm": lambda: F.layer_norm(_w(2, 3, label="x"), _w(3, label="g"), _w(3, label="b")),
    "batch_norm": lambda: F.batch_norm(_w(3, 2, label="x"), np.zeros(2), np.ones(2), _w(2, label="g"),
                                       _w(2, label="b")),
    "embedding": lambda: F.embedding(np.array([0, 2, 0]), _w(3, 2, label="E")),
    "mse_loss": lambda: F.mse_loss(_w(2, 2, label="p"), np.array([[0.0, 1.0], [1.0, 0.0]])),
    "cross_entropy": lambda: F.cross_entropy(_data(2, 2, label="X") @ _w(2, 3, label="W"), np.array([0, 2])),
    "binary_cross_entropy_with_logits": lambda: F.binary_cross_entropy_with_logits(
        _w(2, 2, label="z"), np.array([[0.0, 1.0], [1.0, 0.0]])),
    "conv2d": lambda: F.conv2d(_data(1, 1, 3, 3, label="X"), _w(4, 2, label="w"), _w(2, label="b")),
    "im2col": lambda: F.im2col(_w(1, 1, 3, 3, label="x"), 2),
    "max_pool2d": lambda: F.max_pool2d(_w(1, 1, 4, 4, label="x"), 2),
    "avg_pool2d": lambda: F.avg_pool2d(_w(1, 1, 4, 4, label="x"), 2),
}

# Variants a student reaches through other arguments (other code paths, other nodes).
VARIANTS = {
    "cross_entropy ignore_index": lambda: F.cross_entropy(_w(3, 3, label="z"), np.array([0, -1, 2]),
                                                          ignore_index=-1),
    "cross_entropy sum": lambda: F.cross_entropy(_w(2, 3, label="z"), np.array([0, 2]), reduction="sum"),
    "cross_entropy none": lambda: F.cross_entropy(_w(2, 3, label="z"), np.array([0, 2]), reduction="none"),
    "CrossEntropyLoss": lambda: ag.nn.CrossEntropyLoss()(_w(2, 3, label="z"), np.array([1, 2])),
    "MSELoss": lambda: ag.nn.MSELoss()(_w(2, 2, label="p"), np.zeros((2, 2))),
    "BCEWithLogitsLoss": lambda: ag.nn.BCEWithLogitsLoss()(_w(2, 2, label="z"), np.ones((2, 2))),
    "conv2d strided": lambda: F.conv2d(_w(1, 1, 3, 3, label="x"), _w(4, 2, label="w"), _w(2, label="b"),
                                       method="strided"),
    "max_pool2d strided": lambda: F.max_pool2d(_w(1, 1, 4, 4, label="x"), 2, method="strided"),
    "matmul batched data": lambda: ag.moveaxis(_data(1, 2, 2, label="Xin"), 1, 2) @ _w(1, 2, 2, label="S"),
}

NOT_GRAPH_FUNCTIONS = {  # name: a call whose result must not be a Tensor with inputs
    "accuracy": lambda: F.accuracy(np.eye(3), np.array([0, 1, 1])),
    "causal_mask": lambda: F.causal_mask(3),
    "im2col_matrix": lambda: F.im2col_matrix(1, 3, 3, 2),
    "on_device_of": lambda: F.on_device_of(np.ones(2), ag.tensor([0.0])),
}

LOSS_MODULES = {"CrossEntropyLoss", "MSELoss", "BCEWithLogitsLoss"}

_UNFILLED = re.compile(r"\{[a-zA-Z_]\w*\}")


def _functional_names() -> list[str]:
    """The public functions of ag.nn.functional: its __all__ and what it re-exports from ag.nn."""
    names = set(F.__all__)
    for name, value in vars(F).items():
        module = getattr(value, "__module__", "") or ""
        if callable(value) and not name.startswith("_") and not isinstance(value, type) \
                and module in ("ag.nn.functional", "ag.nn.conv_functional"):
            names.add(name)
    return sorted(names)


def _seeded_trace(root: ag.Tensor) -> ag.trace.BackwardTrace:
    seed = None if root.size == 1 else np.linspace(0.5, 1.5, root.size).reshape(root.shape)
    return ag.backward_trace(root) if seed is None else ag.backward_trace(root, seed)


def _check_renderings(run, ops_expected: set[str] = frozenset()) -> None:
    """All four forms render; each node's rule for an input that needs a grad is filled in."""
    for k, step in enumerate(run.steps):
        for rule in run.rules(k):
            assert not _UNFILLED.search(rule.symbolic), (step.node.op, rule.symbolic)
            assert rule.symbolic.startswith(f"{rule.target}.grad"), rule.symbolic
    text, md, tex = run.text(), run.markdown(), run.latex()
    page = stepper.html(run)
    assert page.count('<section class="frame"') == len(run.steps)
    assert page.count("<svg") >= len(run.steps)  # a drawing per frame
    for node in run.order:
        name = run.display_name(node)
        assert name in text and name in md, name
    for op in ops_expected:
        assert f":{op}" in text, (op, text[:400])
    assert "\\begin{tabular}" in tex or "\\begin" in tex


def _recipe(name: str):
    """The op's recipe: its own above, or, for an op called with its inputs alone (what
    ``ag grade --op`` grades: exp, softplus, ...), one made from its registry facts."""
    if name in TENSOR_RECIPES:
        return TENSOR_RECIPES[name]
    from ag.exam.grade_op import GRADABLE_OPS

    op = GRADABLE_OPS.get(name)
    if op is None:
        return None

    def made():
        inputs = [_w(2, 2, label=label) for label in "xy"[: op.arity]]
        if not np.all(op.valid(*(t.value for t in inputs))):
            inputs = [_w(2, 2, label=label, positive=True) for label in "xy"[: op.arity]]
        return op.function(*inputs)

    return made


def test_every_registered_tensor_op_has_a_recipe():
    missing = sorted(name for name in registry.tensor_ops() if _recipe(name) is None)
    assert not missing, (
        f"no small-input recipe for the Tensor op(s) {missing}: add one to TENSOR_RECIPES in "
        f"{__file__} so the op is traced in every rendering")
    stale = sorted(set(TENSOR_RECIPES) - set(registry.tensor_ops()))
    assert not stale, f"recipes for ops the registry no longer has: {stale}"


@pytest.mark.parametrize("name", sorted(registry.tensor_ops()))
def test_tensor_op_traced_in_every_rendering(name):
    op = registry.tensor_ops()[name]
    assert _recipe(name) is not None, f"no small-input recipe for the Tensor op {name!r} (TENSOR_RECIPES)"
    root = _recipe(name)()
    run = _seeded_trace(root)
    nodes = [n for n in run.order if n.op == op.op and n.inputs]
    assert nodes, f"the recipe for {name!r} built no {op.op!r} node: {run.order_text()}"
    if name == "pow_const":
        assert any(len(n.inputs) == 1 for n in nodes)
    for node in nodes:  # the op's own step writes a rule for each input that needs a grad
        k = next(i for i, s in enumerate(run.steps) if s.node is node)
        rules = run.rules(k)
        assert len(rules) == sum(1 for i in node.inputs if getattr(i, "requires_grad", True)), name
    _check_renderings(run, {op.op})


@pytest.mark.parametrize("name", sorted(registry.scalar_ops()))
def test_scalar_op_traced_in_every_rendering(name):
    op = registry.scalar_ops()[name]
    a, b = ag.Scalar(1.5, label="a"), ag.Scalar(0.75, label="b")
    root = eval(op.code.format(a="a", b="b", n="3"), {"ag": ag, "a": a, "b": b})  # noqa: S307
    assert root.op == op.op, (name, op.code)
    run = ag.backward_trace(root * 2.0)
    k = next(i for i, s in enumerate(run.steps) if s.node is root)
    assert len(run.rules(k)) == (op.arity or 1)
    _check_renderings(run, {op.op})


def test_every_functional_has_a_recipe():
    names = _functional_names()
    missing = sorted(set(names) - set(FUNCTIONAL_RECIPES) - set(NOT_GRAPH_FUNCTIONS))
    assert not missing, f"no small-input recipe for ag.nn.functional.{missing} (FUNCTIONAL_RECIPES)"
    assert set(ag.nn.losses.__all__) <= LOSS_MODULES | set(VARIANTS), "a loss module without a recipe"


@pytest.mark.parametrize("name", sorted(NOT_GRAPH_FUNCTIONS))
def test_functional_helpers_build_no_graph(name):
    out = NOT_GRAPH_FUNCTIONS[name]()
    assert not (isinstance(out, ag.Tensor) and out.inputs), name


@pytest.mark.parametrize("name", sorted(FUNCTIONAL_RECIPES) + sorted(VARIANTS))
def test_functional_and_losses_traced_in_every_rendering(name):
    recipe = FUNCTIONAL_RECIPES.get(name) or VARIANTS[name]
    run = _seeded_trace(recipe())
    assert any(n.inputs for n in run.order)
    _check_renderings(run)


def test_the_issue_example_softmax_regression_traces():
    X = ag.Tensor([[1.0, 2.0], [3.0, -1.0]], label="X", requires_grad=False)
    W = ag.Tensor(np.zeros((2, 3)), label="W")
    run = ag.backward_trace(ag.softmax_cross_entropy(X @ W, np.array([0, 2])))
    text = run.text()
    # the rule with its facts: the labels and n = 2 rows; softmax of zeros is 1/3 everywhere
    assert "z1.grad += (softmax(z1.value, axis=-1) - onehot([0, 2])) * z2.grad / 2" in text
    np.testing.assert_allclose(W.grad, X.value.T @ ((np.full((2, 3), 1 / 3) - np.eye(3)[[0, 2]]) / 2))
    _check_renderings(run)
