"""The backend suite: ops, layers, losses, optimizers and batches on every backend.

Each case runs on NumPy (the reference), on the strict fake device (everywhere: it
refuses host arrays as CuPy does, so a stray ``np.`` call in a device path fails
here) and on CuPy when a GPU is there (skipped cleanly otherwise). Values and
gradients must agree with NumPy, and results must stay on the device.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from backend_cases import MODEL_CASES, OP_CASES  # tests/ is on sys.path (rootdir-relative)

import ag
from ag.gpu import device_of, move_array, move_module

BACKENDS = {"numpy": "cpu", "fake": "fake", "cupy": "cuda"}


@pytest.fixture(params=sorted(BACKENDS))
def device(request) -> str:
    if request.param == "cupy" and not ag.gpu.is_available():
        pytest.skip(f"no GPU: {ag.gpu.why_unavailable()}")
    return ag.gpu.normalize(BACKENDS[request.param])


def host(array) -> np.ndarray:
    return move_array(array, "cpu")


def _leaves(arrays, device):
    return [ag.Tensor(move_array(a, device), label=f"x{i}") for i, a in enumerate(arrays)]


def _call(case, device, leaves):
    return case.fn(device, *leaves) if case.needs_device else case.fn(*leaves)


def run_op(name: str, device: str):
    """Output, first-order grads and (where the case has them) second-order grads, on the host."""
    case = OP_CASES[name]
    leaves = _leaves(case.inputs(), device)
    out = _call(case, device, leaves)
    assert out.device == device, f"{name}: output on {out.device}, not {device}"
    seed = ag.Tensor(move_array(np.random.default_rng(1).standard_normal(out.shape), device))
    out.backward(seed)
    for t in leaves:
        assert device_of(t.grad) == device, f"{name}: grad of {t.label} on {device_of(t.grad)}"
    result = {"value": host(out.value), "grads": [host(t.grad) for t in leaves]}
    if case.second_order:
        fresh = _leaves(case.inputs(), device)
        out2 = _call(case, device, fresh)
        gs = ag.grad((out2 * seed).sum(), fresh, create_graph=True)
        total = gs[0].sum() * 0.0
        for g in gs:
            total = total + (g * g).sum()
        if total.requires_grad:
            total.backward()
        result["second"] = [host(t.grad) if t.grad is not None else None for t in fresh]
    return result


@pytest.fixture(scope="module")
def reference():
    cache: dict = {}

    def get(kind: str, name: str):
        if (kind, name) not in cache:
            cache[kind, name] = (run_op if kind == "op" else run_model)(name, "cpu")
        return cache[kind, name]

    return get


def _assert_same(got, want, what):
    if isinstance(want, dict):
        for k in want:
            _assert_same(got[k], want[k], f"{what}.{k}")
    elif isinstance(want, list):
        assert len(got) == len(want), what
        for i, (g, w) in enumerate(zip(got, want)):
            _assert_same(g, w, f"{what}[{i}]")
    elif want is None:
        assert got is None, what
    else:
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11, err_msg=what)


@pytest.mark.parametrize("name", sorted(OP_CASES))
def test_op_on_backend(name, device, reference):
    _assert_same(run_op(name, device), reference("op", name), name)


# -- models: a few training steps -----------------------------------------------------------


def run_model(name: str, device: str, steps: int = 2):
    case = MODEL_CASES[name]
    model = move_module(case.build(), device)
    opt = ag.optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(7)
    x = ag.Tensor(move_array(rng.standard_normal(case.x_shape), device), requires_grad=False)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        out = model(x)
        if isinstance(out, tuple):  # RNN: (outputs, last hidden state)
            out = out[0]
        assert out.device == device, f"{name}: model output on {out.device}"
        if case.loss == "mse":
            target = ag.Tensor(move_array(np.ones(out.shape) * 0.5, device), requires_grad=False)
            loss = ag.nn.functional.mse_loss(out, target)
        else:
            labels = np.arange(out.shape[0]) % case.n_classes
            loss = ag.nn.functional.cross_entropy(out, labels)
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    for p in model.parameters():
        assert device_of(p.value) == device and device_of(p.grad) == device
    return {"losses": losses, "params": [host(p.value) for p in model.parameters()]}


# Stray host calls the fake device caught in other owners' files, waiting for their fix
# (listed in .notes/gpu-requests.md); an entry stops xfailing once the fix lands.
KNOWN_HOST_CALLS = {
}


@pytest.mark.parametrize("name", sorted(MODEL_CASES))
def test_model_trains_on_backend(name, device, reference, request):
    if device != "cpu" and name in KNOWN_HOST_CALLS:
        request.applymarker(pytest.mark.xfail(reason=KNOWN_HOST_CALLS[name], strict=False))
    _assert_same(run_model(name, device), reference("model", name), name)


def test_sgd_momentum_and_adamw_on_backend(device):
    results = {}
    for dev in ("cpu", device):
        w = ag.Tensor(move_array(np.array([1.0, -2.0, 3.0]), dev), label="w")
        sgd = ag.optim.SGD([w], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
        for _ in range(3):
            sgd.zero_grad()
            (w * w).sum().backward()
            sgd.step()
        v = ag.Tensor(move_array(np.array([0.5, 1.5]), dev))
        adamw = ag.optim.AdamW([v], lr=0.1, weight_decay=0.1)
        for _ in range(3):
            adamw.zero_grad()
            ag.exp(v).sum().backward()
            adamw.step()
        assert device_of(w.value) == dev and device_of(v.value) == dev
        results[dev] = (host(w.value), host(v.value))
    np.testing.assert_allclose(results[device][0], results["cpu"][0])
    np.testing.assert_allclose(results[device][1], results["cpu"][1])


def test_dataloader_batches_on_backend(device):
    ds = ag.data.TensorDataset(np.arange(12.0).reshape(6, 2), np.arange(6) % 3)
    loader = ag.data.DataLoader(ds, batch_size=4, shuffle=True, seed=0)
    model = ag.nn.Linear(2, 3, rng=np.random.default_rng(0)).to(device)
    with ag.gpu.default(device):
        for xb, yb in loader:
            xt = ag.Tensor(xb, requires_grad=False)  # host batch -> the default device
            assert xt.device == device
            loss = ag.nn.functional.cross_entropy(model(xt), yb)
            loss.backward()
    assert device_of(model.weight.grad) == device
    on_device = ag.data.DataLoader(ds, batch_size=4, device=device)
    for xb, yb in on_device:  # the loader moves the batches itself
        assert device_of(xb) == device_of(yb) == device
        assert model(xb).device == device  # a layer takes a raw device array as it is


def test_module_to_and_state_dicts_on_backend(device, tmp_path):
    model = ag.nn.MLP(3, 4, 2, rng=np.random.default_rng(0))
    params = model.parameters()
    assert model.to(device) is model and model.parameters() == params
    assert all(p.device == device for p in params)
    state = model.state_dict()
    assert all(type(v) is np.ndarray for v in state.values())  # state dicts live on the host
    ag.save(model, tmp_path / "m.npz")
    fresh = ag.nn.MLP(3, 4, 2, rng=np.random.default_rng(1)).to(device)
    fresh.load_state_dict(ag.load(tmp_path / "m.npz"))
    assert all(p.device == device for p in fresh.parameters())
    x = ag.Tensor(move_array(np.ones((2, 3)), device))
    np.testing.assert_allclose(host(fresh(x).value), host(model(x).value))
    model.to("cpu")
    assert all(p.device == "cpu" for p in params)


def test_default_device_runs_unchanged_model_code(device):
    """The course's code, untouched: parameters from NumPy, inputs as NumPy arrays."""
    rng = np.random.default_rng(0)
    with ag.gpu.default(device):
        W = ag.Tensor(rng.standard_normal((4, 3)), label="W")
        b = ag.Tensor(np.zeros(3), label="b")
        X = ag.Tensor(rng.standard_normal((5, 4)), requires_grad=False)
        loss = ag.mean(ag.relu(X @ W + b) ** 2)
        loss.backward()
        noise = ag.randn(2, 2, rng=np.random.default_rng(1))
    assert W.device == b.device == noise.device == device
    assert device_of(W.grad) == device
    assert ag.get_default_device() == "cpu"


def test_losses_and_metrics_on_backend(device):
    """Each loss with targets on the device and on the host, and accuracy, against NumPy."""
    rng = np.random.default_rng(3)
    z_h, labels_h = rng.standard_normal((6, 4)), np.array([0, 3, 1, 2, 3, -1])
    probs_h, pred_h = rng.random((6, 4)), rng.standard_normal((6, 4))
    F = ag.nn.functional

    def run(dev, targets_on):
        z = ag.Tensor(move_array(z_h, dev), label="z")
        put = (lambda a: move_array(a, dev)) if targets_on == "device" else (lambda a: a)
        losses = [
            F.cross_entropy(z, put(labels_h), ignore_index=-1),
            F.cross_entropy(z, put(np.abs(labels_h)), reduction="sum"),
            F.binary_cross_entropy_with_logits(z, put(probs_h)),
            F.mse_loss(z, put(pred_h)),
            ag.nn.CrossEntropyLoss()(z, put(np.abs(labels_h))),
            ag.nn.MSELoss()(z, put(pred_h)),
            ag.nn.BCEWithLogitsLoss()(z, put(probs_h)),
        ]
        total = losses[0]
        for loss in losses[1:]:
            assert loss.device == dev
            total = total + loss
        total.backward()
        return [float(loss.item()) for loss in losses], host(z.grad), F.accuracy(z, put(np.abs(labels_h)))

    want = run("cpu", "host")
    for targets_on in ("device", "host"):
        got = run(device, targets_on)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=1e-15)
        assert got[2] == want[2]


def test_fit_and_predict_on_backend(device):
    X, y = ag.data.make_moons(64, seed=0)
    model = ag.nn.MLP(2, 8, 2, rng=np.random.default_rng(0)).to(device)
    opt = ag.optim.Adam(model.parameters(), lr=0.05)
    loader = ag.data.DataLoader(ag.data.TensorDataset(X, y), batch_size=16, shuffle=True, seed=0,
                                device=device)  # batches where the model is
    ag.training.fit(model, loader, optimizer=opt, epochs=2, progress=False)
    assert all(p.device == device for p in model.parameters())
    out = ag.training.predict(model, ag.Tensor(move_array(X, device), requires_grad=False))
    assert type(out) is np.ndarray and out.shape == (64, 2)
    # host data with a device model: fit, evaluate and predict move the batches themselves
    ag.training.fit(model, (X, y), optimizer=opt, epochs=1, batch_size=16, val=(X, y), progress=False)
    loss, acc = ag.training.evaluate(model, (X, y))
    assert np.isfinite(loss) and 0.0 <= acc <= 1.0
    assert ag.training.predict(model, X).shape == (64, 2)


# -- the op suite's tables, with drawn shapes, on the devices -----------------------------------

# the op suite's own tables (tests/ops/test_tensor_ops.py): the same ops, drawn inputs. No
# fallback: if the suite moves, this must fail, not silently drop the device cases.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ops"))
import test_tensor_ops as _ops  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ag.testing import strategies as ags  # noqa: E402

UNARY = _ops.UNARY
BINARY = _ops.BINARY
REDUCTIONS = _ops.REDUCTIONS


# A parameter, not a fixture: hypothesis re-runs the test body, a fixture would be shared.
DEVICES = [
    pytest.param("fake"),
    pytest.param("cuda", marks=pytest.mark.skipif(not ag.gpu.is_available(), reason="no GPU")),
]


def _same_on(device, fn, *arrays):
    """``fn`` on NumPy and on ``device``: equal values, equal grads, results on the device."""
    device = ag.gpu.normalize(device)  # "cuda" -> "cuda:0"
    results = []
    for dev in ("cpu", device):
        leaves = _leaves(arrays, dev)
        out = fn(*leaves)
        assert out.device == dev
        seed = ag.Tensor(move_array(np.linspace(-1.0, 1.0, out.size).reshape(out.shape), dev))
        out.backward(seed)
        assert all(device_of(t.grad) == dev for t in leaves)
        results.append([host(out.value)] + [host(t.grad) for t in leaves])
    for got, want in zip(results[1], results[0]):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("device_only", DEVICES)
@pytest.mark.parametrize("name", sorted(UNARY))
@given(data=st.data())
def test_drawn_unary_ops_on_device(device_only, name, data):
    f, kwargs = UNARY[name]
    _same_on(device_only, f, data.draw(ags.arrays(**kwargs)))


@pytest.mark.parametrize("device_only", DEVICES)
@pytest.mark.parametrize("name", sorted(BINARY))
@given(data=st.data())
def test_drawn_binary_ops_on_device(device_only, name, data):
    (shape_a, shape_b), _ = data.draw(ags.broadcastable_shapes(2))
    a = data.draw(ags.arrays(shape_a))
    b = data.draw(ags.arrays(shape_b, min_value=0.2, max_value=3.0))
    _same_on(device_only, BINARY[name], a, b)


@pytest.mark.parametrize("device_only", DEVICES)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@given(data=st.data())
def test_drawn_reductions_on_device(device_only, name, data):
    shape = data.draw(ags.shapes(min_dims=1))
    axis = data.draw(ags.axes(len(shape)))
    keep = data.draw(st.booleans())
    x = data.draw(ags.arrays(shape))
    _same_on(device_only, lambda t: REDUCTIONS[name](t, axis, keep), x)


@pytest.mark.parametrize("device_only", DEVICES)
@given(data=st.data())
def test_drawn_matmul_on_device(device_only, data):
    shape_a, shape_b = data.draw(ags.matmul_shapes())
    _same_on(device_only, lambda a, b: a @ b, data.draw(ags.arrays(shape_a)), data.draw(ags.arrays(shape_b)))
