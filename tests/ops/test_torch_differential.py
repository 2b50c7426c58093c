"""Random expressions against PyTorch: values, first and second derivatives, float64.

Hypothesis builds each expression step by step over the documented Tensor op set
(elementwise functions, broadcasting arithmetic, reductions over axes with keepdims,
shape ops, slicing with steps, integer-array indexing with repeats, concatenate /
stack / split, matmul of every rank, the softmax family and the losses), on leaves
laid out C-ordered, Fortran-ordered, strided (a slice with a step) or transposed
(wrapped with ``ag.from_numpy`` so the layout reaches the ops). The same expression
is built in torch from the same numbers; then for ``L = sum(out * W)`` with a random
``W``:

* the value of ``out``,
* ``dL/dx`` for every leaf (``ag.grad`` vs ``torch.autograd.grad``),
* the Hessian-vector product ``d/dx <dL/dx, V>`` for random ``V`` (second derivatives
  through ``create_graph=True``),

must agree to 1e-9. Leaf values come from a NumPy generator seeded by hypothesis, so
no two entries tie (max/min/maximum would then follow different but valid
conventions) and no relu/abs input sits exactly on its kink.

Every checked expression is counted; the count is printed at the end of the module
(``HYPOTHESIS_PROFILE=thorough`` checks many more than the default ``ci`` profile).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import ag
import ag.nn.functional as F

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

TOL = dict(rtol=1e-9, atol=1e-9)
_checked = {"expressions": 0}


@pytest.fixture(scope="module", autouse=True)
def _report_count(request):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    line = f"torch differential: {_checked['expressions']} expressions checked (values, grads, hvps)"
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_line(line)
    else:  # pragma: no cover
        print(line)


class Pair:
    """The same expression in both engines: ``a`` (ag.Tensor) and ``t`` (torch tensor)."""

    def __init__(self, a, t):
        self.a, self.t = a, t

    @property
    def shape(self):
        return tuple(self.a.shape)


def _layout(data, rng, shape):
    """An array of ``shape`` in a drawn memory layout (its values from ``rng``)."""
    kind = data.draw(st.sampled_from(["C", "F", "strided", "transposed"]), label="layout")
    values = np.asarray(rng.standard_normal(shape))
    if kind == "F":
        return np.asfortranarray(values)
    if kind == "strided" and shape:
        big = np.zeros(shape[:-1] + (2 * shape[-1],))
        big[..., ::2] = values
        return big[..., ::2]
    if kind == "transposed" and len(shape) >= 2:
        return np.ascontiguousarray(values.T).T
    return values


class Leaves:
    def __init__(self, data, rng):
        self.data, self.rng = data, rng
        self.a, self.t = [], []

    def new(self, shape) -> Pair:
        array = _layout(self.data, self.rng, shape)
        a = ag.from_numpy(array, label=f"x{len(self.a)}")  # keeps the drawn layout
        t = torch.tensor(np.array(array, order="C"), dtype=torch.float64, requires_grad=True)
        self.a.append(a)
        self.t.append(t)
        return Pair(a, t)


small_shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)


def _positive(p: Pair) -> Pair:
    return Pair(p.a * p.a + 0.5, p.t * p.t + 0.5)


# -- one step of an expression: each takes the current Pair and returns the next ------------


def step_unary(data, leaves, p):
    name = data.draw(st.sampled_from(
        ["exp", "tanh", "sigmoid", "relu", "abs", "neg", "log", "sqrt", "pow", "square"]), label="unary")
    if name == "exp":
        return Pair(ag.exp(p.a * 0.5), torch.exp(p.t * 0.5))
    if name == "tanh":
        return Pair(ag.tanh(p.a), torch.tanh(p.t))
    if name == "sigmoid":
        return Pair(ag.sigmoid(p.a), torch.sigmoid(p.t))
    if name == "relu":
        return Pair(ag.relu(p.a), torch.relu(p.t))
    if name == "abs":
        return Pair(ag.abs(p.a), torch.abs(p.t))
    if name == "neg":
        return Pair(-p.a, -p.t)
    if name == "square":
        return Pair(p.a * p.a, p.t * p.t)
    q = _positive(p)
    if name == "log":
        return Pair(ag.log(q.a), torch.log(q.t))
    if name == "sqrt":
        return Pair(ag.sqrt(q.a), torch.sqrt(q.t))
    n = data.draw(st.sampled_from([-1.5, -1.0, 0.5, 2.0, 3.0]), label="exponent")
    return Pair(q.a**n, q.t**n)


def _broadcast_partner_shape(data, shape):
    """A shape that broadcasts with ``shape``: some axes set to 1, some leading ones dropped
    (or one extra leading axis)."""
    dims = [1 if data.draw(st.booleans(), label="stretch") else n for n in shape]
    drop = data.draw(st.integers(0, len(dims)), label="drop leading")
    dims = dims[drop:]
    if drop == 0 and len(shape) < 3 and data.draw(st.booleans(), label="extra axis"):
        dims = [data.draw(st.integers(1, 3), label="extra")] + dims
    return tuple(dims)


def step_binary(data, leaves, p):
    name = data.draw(st.sampled_from(["add", "sub", "mul", "div", "maximum", "minimum", "where"]),
                     label="binary")
    other = leaves.new(_broadcast_partner_shape(data, p.shape))
    if data.draw(st.booleans(), label="swap"):
        p, other = other, p
    if name == "add":
        return Pair(p.a + other.a, p.t + other.t)
    if name == "sub":
        return Pair(p.a - other.a, p.t - other.t)
    if name == "mul":
        return Pair(p.a * other.a, p.t * other.t)
    if name == "div":
        q = _positive(other)
        return Pair(p.a / q.a, p.t / q.t)
    if name == "maximum":
        return Pair(ag.maximum(p.a, other.a), torch.maximum(p.t, other.t))
    if name == "minimum":
        return Pair(ag.minimum(p.a, other.a), torch.minimum(p.t, other.t))
    shape = np.broadcast_shapes(p.shape, other.shape)
    cond = np.asarray(leaves.rng.random(shape) > 0.5)
    return Pair(ag.where(cond, p.a, other.a), torch.where(torch.from_numpy(cond), p.t, other.t))


def _axes(data, ndim):
    if ndim == 0:
        return None
    choice = data.draw(st.sampled_from(["none", "int", "tuple"]), label="axes kind")
    if choice == "none":
        return None
    if choice == "int":
        return data.draw(st.integers(-ndim, ndim - 1), label="axis")
    picked = data.draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True),
                       label="axes")
    return tuple(picked)


def step_reduce(data, leaves, p):
    name = data.draw(st.sampled_from(["sum", "mean", "max", "min", "logsumexp", "var"]), label="reduce")
    axis = _axes(data, len(p.shape))
    keep = data.draw(st.booleans(), label="keepdims")
    dim = tuple(range(len(p.shape))) if axis is None else axis
    if name == "sum":
        return Pair(p.a.sum(axis, keep), torch.sum(p.t, dim=dim, keepdim=keep) if p.shape else p.t)
    if name == "mean":
        return Pair(p.a.mean(axis, keep), torch.mean(p.t, dim=dim, keepdim=keep) if p.shape else p.t)
    if name == "max":  # amax splits the gradient between tied entries, as ag does
        return Pair(p.a.max(axis, keep), torch.amax(p.t, dim=dim, keepdim=keep) if p.shape else p.t)
    if name == "min":
        return Pair(p.a.min(axis, keep), torch.amin(p.t, dim=dim, keepdim=keep) if p.shape else p.t)
    if name == "logsumexp":
        return Pair(ag.logsumexp(p.a, axis, keep),
                    torch.logsumexp(p.t, dim=dim, keepdim=keep) if p.shape else p.t)
    count = int(np.prod([p.shape[d] for d in ((dim,) if isinstance(dim, int) else dim)]))
    ddof = data.draw(st.integers(0, 1), label="ddof")
    assume(count > ddof)
    if not p.shape:
        return p
    return Pair(p.a.var(axis, keep, ddof), torch.var(p.t, dim=dim, keepdim=keep, correction=ddof))


def step_shape(data, leaves, p):
    shape = p.shape
    name = data.draw(st.sampled_from(
        ["reshape", "transpose", "moveaxis", "swapaxes", "expand_squeeze", "broadcast_to", "flatten"]),
        label="shape op")
    if name == "reshape":
        size = int(np.prod(shape))
        factors = [d for d in range(1, size + 1) if size % d == 0]
        first = data.draw(st.sampled_from(factors), label="factor")
        new = (first, -1) if data.draw(st.booleans(), label="2d") else (size,)
        return Pair(p.a.reshape(new), p.t.reshape(new))
    if name == "flatten" or not shape:
        return Pair(ag.flatten(p.a), p.t.reshape(-1))
    if name == "transpose":
        perm = tuple(data.draw(st.permutations(range(len(shape))), label="perm"))
        return Pair(p.a.transpose(perm), p.t.permute(perm))
    nd = len(shape)
    i = data.draw(st.integers(-nd, nd - 1), label="i")
    j = data.draw(st.integers(-nd, nd - 1), label="j")
    if name == "moveaxis":
        return Pair(ag.moveaxis(p.a, i, j), torch.movedim(p.t, i, j))
    if name == "swapaxes":
        return Pair(ag.swapaxes(p.a, i, j), torch.swapaxes(p.t, i, j))
    if name == "expand_squeeze":
        k = data.draw(st.integers(0, nd), label="k")
        a, t = ag.expand_dims(p.a, k), p.t.unsqueeze(k)
        ones = [d for d, n in enumerate(a.shape) if n == 1]
        d = data.draw(st.sampled_from(ones), label="squeeze axis")
        return Pair(ag.squeeze(a, d), t.squeeze(d))
    target = tuple(n if n != 1 else data.draw(st.integers(1, 3), label="stretch") for n in shape)
    target = (2,) + target if data.draw(st.booleans(), label="lead") else target
    return Pair(ag.broadcast_to(p.a, target), p.t.broadcast_to(target))


def step_index(data, leaves, p):
    if not p.shape:
        return Pair(p.a.reshape((1,)), p.t.reshape(1))
    nd = len(p.shape)
    if data.draw(st.booleans(), label="slices"):
        index = []
        for n in p.shape:
            step = data.draw(st.sampled_from([1, 2, -1, -2]), label="step")
            start = data.draw(st.integers(0, n - 1), label="start")
            index.append(slice(start, None, step))
        index = tuple(index[: data.draw(st.integers(1, nd), label="sliced axes")])
        return Pair(p.a[index], p.t[index] if all(s.step > 0 for s in index) else
                    _torch_negative_slices(p.t, index))
    axis = data.draw(st.integers(0, nd - 1), label="index axis")
    picks = data.draw(st.lists(st.integers(0, p.shape[axis] - 1), min_size=1, max_size=5),
                      label="picks")  # repeats allowed: their gradients accumulate
    idx = np.array(picks)
    index = (slice(None),) * axis + (idx,)
    return Pair(p.a[index], p.t[(slice(None),) * axis + (torch.from_numpy(idx),)])


def _torch_negative_slices(t, index):
    # torch has no negative steps: flip, then slice with the mirrored start
    for axis, s in enumerate(index):
        if s.step < 0:
            n = t.shape[axis]
            t = torch.flip(t, (axis,))
            t = t[(slice(None),) * axis + (slice(n - 1 - s.start, None, -s.step),)]
        else:
            t = t[(slice(None),) * axis + (s,)]
    return t


def step_join(data, leaves, p):
    if not p.shape:
        p = Pair(p.a.reshape((1,)), p.t.reshape(1))
    nd = len(p.shape)
    name = data.draw(st.sampled_from(["concatenate", "stack", "split"]), label="join")
    axis = data.draw(st.integers(-nd, nd - 1), label="join axis")
    if name == "split":
        n = p.shape[axis]
        parts = data.draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]), label="parts")
        k = data.draw(st.integers(0, parts - 1), label="piece")
        pieces = ag.split(p.a, parts, axis)
        return Pair(pieces[k] * (k + 1.0) + pieces[0],
                    torch.split(p.t, n // parts, axis)[k] * (k + 1.0) + torch.split(p.t, n // parts, axis)[0])
    others = []
    for _ in range(data.draw(st.integers(1, 2), label="joined")):
        shape = list(p.shape)
        if name == "concatenate":
            shape[axis] = data.draw(st.integers(1, 3), label="length")
        others.append(leaves.new(tuple(shape)))
    pairs = [p, *others]
    if name == "concatenate":
        return Pair(ag.concatenate([q.a for q in pairs], axis), torch.cat([q.t for q in pairs], axis))
    sax = data.draw(st.integers(-nd - 1, nd), label="stack axis")
    return Pair(ag.stack([q.a for q in pairs], sax), torch.stack([q.t for q in pairs], sax))


def step_matmul(data, leaves, p):
    if not p.shape:
        p = Pair(p.a.reshape((1,)), p.t.reshape(1))
    k = p.shape[-1]
    if len(p.shape) == 1:
        shape = (k,) if data.draw(st.booleans(), label="vector") else (k, data.draw(st.integers(1, 3)))
    else:
        m = data.draw(st.integers(1, 3), label="m")
        batch = p.shape[:-2]
        if batch and data.draw(st.booleans(), label="batch broadcast"):
            batch = tuple(1 for _ in batch)
        shape = (k,) if data.draw(st.booleans(), label="vector") else batch + (k, m)
    other = leaves.new(shape)
    if data.draw(st.booleans(), label="left"):
        return Pair(p.a @ other.a, torch.matmul(p.t, other.t))
    # other on the left: (.., m, k) @ p needs p as (.., k, n); transpose p's last two axes
    if len(p.shape) >= 2:
        pt = Pair(ag.swapaxes(p.a, -1, -2), p.t.transpose(-1, -2))
        left = leaves.new((data.draw(st.integers(1, 3), label="rows"), pt.shape[-2]))
        return Pair(left.a @ pt.a, torch.matmul(left.t, pt.t))
    left = leaves.new((data.draw(st.integers(1, 3), label="rows"), k))
    return Pair(left.a @ p.a, torch.matmul(left.t, p.t))


def step_softmax(data, leaves, p):
    if not p.shape:
        p = Pair(p.a.reshape((1,)), p.t.reshape(1))
    axis = data.draw(st.integers(-len(p.shape), len(p.shape) - 1), label="softmax axis")
    name = data.draw(st.sampled_from(["softmax", "log_softmax"]), label="softmax kind")
    if name == "softmax":
        return Pair(ag.softmax(p.a, axis), torch.softmax(p.t, axis))
    return Pair(ag.log_softmax(p.a, axis), torch.log_softmax(p.t, axis))


def step_loss(data, leaves, p):
    if not p.shape:
        p = Pair(p.a.reshape((1,)), p.t.reshape(1))
    name = data.draw(st.sampled_from(["cross_entropy", "bce", "mse"]), label="loss")
    reduction = data.draw(st.sampled_from(["mean", "sum", "none"]), label="reduction")
    tf = torch.nn.functional
    if name == "cross_entropy":
        n_classes = p.shape[-1]
        labels = np.asarray(leaves.rng.integers(0, n_classes, size=p.shape[:-1]))
        a = F.cross_entropy(p.a, labels, reduction=reduction)
        # torch wants the classes on axis 1: move them there
        logits = p.t.reshape(1, -1) if len(p.shape) == 1 else torch.movedim(p.t, -1, 1)
        target = torch.from_numpy(labels.reshape(1) if len(p.shape) == 1 else labels)
        t = tf.cross_entropy(logits, target, reduction=reduction)
        return Pair(a, t.reshape(()) if len(p.shape) == 1 and reduction == "none" else t)
    targets = np.asarray(leaves.rng.random(p.shape))
    if name == "bce":
        return Pair(F.binary_cross_entropy_with_logits(p.a, targets, reduction),
                    tf.binary_cross_entropy_with_logits(p.t, torch.from_numpy(targets), reduction=reduction))
    return Pair(F.mse_loss(p.a, targets, reduction),
                tf.mse_loss(p.t, torch.from_numpy(targets), reduction=reduction))


STEPS = {
    "unary": step_unary, "binary": step_binary, "reduce": step_reduce, "shape": step_shape,
    "index": step_index, "join": step_join, "matmul": step_matmul, "softmax": step_softmax,
    "loss": step_loss,
}


# -- the check ---------------------------------------------------------------------------------


def _np(t):
    t = t.detach()
    if t._is_zerotensor():  # torch's lazy zeros (abs'' is one) have no buffer to read
        return np.zeros(tuple(t.shape))
    # a plain dense copy first: numpy(force=True) on lazily negated or expanded second
    # derivatives crashed the interpreter now and then in torch 2.13
    return t.resolve_neg().resolve_conj().clone(memory_format=torch.contiguous_format).numpy()


def _check(leaves: Leaves, out: Pair) -> None:
    expected = _np(out.t)
    assert out.a.shape == tuple(expected.shape), (out.a.shape, expected.shape)
    assume(np.all(np.isfinite(expected)) and np.abs(expected).max(initial=0) < 1e6)
    np.testing.assert_allclose(out.a.value, expected, **TOL)
    rng = leaves.rng
    W = np.asarray(rng.standard_normal(expected.shape))
    loss_a = (out.a * W).sum()
    loss_t = (out.t * torch.from_numpy(W)).sum()
    grads_a = ag.grad(loss_a, leaves.a, create_graph=True)
    grads_t = torch.autograd.grad(loss_t, leaves.t, create_graph=True, allow_unused=True)
    for a, g_a, g_t in zip(leaves.a, grads_a, grads_t):
        want = np.zeros(a.shape) if g_t is None else _np(g_t)
        assume(np.all(np.isfinite(want)))
        np.testing.assert_allclose(g_a.value, want, **TOL, err_msg=f"dL/d{a.label}")
    # second derivatives: d/dx <dL/dx, V>
    Vs = [np.asarray(rng.standard_normal(a.shape)) for a in leaves.a]
    s_a = sum(((g * V).sum() for g, V in zip(grads_a, Vs)), ag.tensor(0.0, requires_grad=False))
    terms = [(g * torch.from_numpy(V)).sum() for g, V in zip(grads_t, Vs) if g is not None]
    s_t = sum(terms) if terms else None
    hv_t = [None] * len(leaves.t)
    if s_t is not None and s_t.requires_grad:
        hv_t = torch.autograd.grad(s_t, leaves.t, allow_unused=True)
    hv_a = ag.grad(s_a, leaves.a) if s_a.requires_grad else [None] * len(leaves.a)
    for a, h_a, h_t in zip(leaves.a, hv_a, hv_t):
        want = np.zeros(a.shape) if h_t is None else _np(h_t)
        got = np.zeros(a.shape) if h_a is None else h_a.value
        assume(np.all(np.isfinite(want)))
        np.testing.assert_allclose(got, want, **TOL, err_msg=f"hvp of {a.label}")
    _checked["expressions"] += 1


def _run(data, kinds, max_steps=4):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    leaves = Leaves(data, rng)
    p = leaves.new(data.draw(small_shapes, label="shape"))
    for _ in range(data.draw(st.integers(1, max_steps), label="steps")):
        kind = data.draw(st.sampled_from(kinds), label="step")
        p = STEPS[kind](data, leaves, p)
        assume(0 < p.a.size <= 400 and p.a.ndim <= 5)
    _check(leaves, p)


@given(st.data())
def test_random_expressions_agree_with_torch(data):
    _run(data, sorted(STEPS))


@given(st.data())
def test_broadcasting_and_reductions_agree_with_torch(data):
    _run(data, ["unary", "binary", "reduce"])


@given(st.data())
def test_shapes_indexing_and_joins_agree_with_torch(data):
    _run(data, ["shape", "index", "join", "unary"])


@given(st.data())
def test_matmul_softmax_and_losses_agree_with_torch(data):
    _run(data, ["matmul", "softmax", "loss", "unary"], max_steps=3)
