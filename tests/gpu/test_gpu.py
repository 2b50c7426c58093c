"""ag.gpu: availability messages, the default device, Tensor.to, device-mixing errors,
the strict fake device itself, sparse matrices and whole-model moves.

Everything here runs without a GPU; the CuPy-only checks skip cleanly.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import scipy.sparse as sp

import ag
from ag.gpu import DeviceError, DeviceMismatchError, availability, device_of, move_array
from ag.testing.fake_device import FakeArray, FakeDeviceError, FakeSparse, xp

needs_gpu = pytest.mark.skipif(not ag.gpu.is_available(), reason="no GPU: see ag.gpu.why_unavailable()")


@pytest.fixture
def reprobe(monkeypatch):
    """Forget the cached availability answer before and after the test."""
    monkeypatch.setattr(availability, "_answer", None)
    yield
    availability._answer = None


# -- is_available / why_unavailable ------------------------------------------------------------


def test_is_available_never_raises_and_explains():
    assert ag.gpu.is_available() in (True, False)
    reason = ag.gpu.why_unavailable()
    assert (reason == "") == ag.gpu.is_available()
    if reason:
        assert reason.split(":")[0] in ("no CuPy", "no driver", "no device", "no CUDA toolkit")


def test_missing_cupy_is_reported(reprobe, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    assert ag.gpu.is_available(refresh=True) is False
    why = ag.gpu.why_unavailable()
    assert why.startswith("no CuPy") and 'pip install "ag-autograd[gpu]"' in why


def test_broken_cupy_import_is_reported(reprobe, monkeypatch):
    def boom():
        raise OSError("libnvrtc.so.13: cannot open shared object file")

    monkeypatch.setattr(availability, "_import_cupy", boom)
    assert not ag.gpu.is_available(refresh=True)
    assert "no CuPy" in ag.gpu.why_unavailable() and "libnvrtc" in ag.gpu.why_unavailable()


def _fake_cupy(device_count=None, error=None, alloc_error=None, kernel_error=None):
    def get_count():
        if error is not None:
            raise error
        return device_count

    def empty(n):
        if alloc_error is not None:
            raise alloc_error
        if kernel_error is not None:
            return types.SimpleNamespace(fill=lambda v: (_ for _ in ()).throw(kernel_error))
        return xp.empty(n)  # a stand-in array that computes

    runtime = types.SimpleNamespace(getDeviceCount=get_count)
    return types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime), empty=empty)


class CUDARuntimeError(RuntimeError):
    pass


@pytest.mark.parametrize(
    "cupy, start, detail",
    [
        (_fake_cupy(error=CUDARuntimeError("cudaErrorInsufficientDriver: driver too old")),
         "no driver", "InsufficientDriver"),
        (_fake_cupy(error=CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")),
         "no device", "NoDevice"),
        (_fake_cupy(device_count=0), "no device", "0 GPUs"),
        (_fake_cupy(device_count=1, alloc_error=MemoryError("out of memory")), "no device", "out of memory"),
        (_fake_cupy(device_count=1, kernel_error=RuntimeError("CompileException: nvrtc not found")),
         "no CUDA toolkit", "cupy-cuda13x[ctk]"),
    ],
)
def test_driver_and_device_problems_are_reported(reprobe, monkeypatch, cupy, start, detail):
    monkeypatch.setattr(availability, "_import_cupy", lambda: cupy)
    assert ag.gpu.is_available(refresh=True) is False
    assert ag.gpu.why_unavailable().startswith(start)
    assert detail in ag.gpu.why_unavailable()


def test_a_working_cupy_is_available(reprobe, monkeypatch):
    monkeypatch.setattr(availability, "_import_cupy", lambda: _fake_cupy(device_count=2))
    assert ag.gpu.is_available(refresh=True) is True
    assert ag.gpu.why_unavailable() == ""


def test_asking_for_cuda_without_a_gpu_says_why(reprobe, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    availability.is_available(refresh=True)
    for ask in (lambda: ag.tensor([1.0]).to("cuda"), lambda: ag.tensor([1.0]).cuda(),
                lambda: ag.set_default_device("cuda"), lambda: ag.gpu.default("cuda").__enter__()):
        with pytest.raises(DeviceError, match="no usable GPU: no CuPy"):
            ask()
    assert ag.get_default_device() == "cpu"


def test_unknown_device_names_are_errors():
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        ag.tensor([1.0]).to("tpu")


# -- the default device ---------------------------------------------------------------------


def test_default_device_switching_and_restoring():
    assert ag.get_default_device() == "cpu"
    ag.set_default_device("fake")
    try:
        assert ag.get_default_device() == "fake"
        for t in (ag.zeros(2), ag.ones(2, 2), ag.randn(3), ag.rand(3), ag.arange(4),
                  ag.Tensor([1.0, 2.0]), ag.tensor(np.ones(3)), ag.Tensor(3.0)):
            assert t.device == "fake"
        assert ag.zeros_like(ag.zeros(2)).device == "fake"
    finally:
        ag.set_default_device("cpu")
    assert ag.zeros(2).device == "cpu" and ag.Tensor([1.0]).device == "cpu"


def test_default_context_restores_after_an_error():
    with pytest.raises(KeyError), ag.gpu.default("fake") as name:
        assert name == "fake"
        raise KeyError("inside the block")
    assert ag.get_default_device() == "cpu" and ag.zeros(1).device == "cpu"


def test_nested_default_contexts():
    with ag.gpu.default("fake"):
        with ag.gpu.default("cpu"):
            assert ag.zeros(1).device == "cpu"
        assert ag.zeros(1).device == "fake"
    assert ag.zeros(1).device == "cpu"


def test_a_device_array_keeps_its_device_whatever_the_default():
    d = move_array(np.ones(2), "fake")
    assert ag.Tensor(d).device == "fake"
    with ag.gpu.default("fake"):
        assert ag.Tensor(np.ones(2)).device == "fake"  # host data is uploaded explicitly
        assert ag.Tensor(ag.tensor([1.0]).numpy()).device == "fake"


# -- Tensor.to ----------------------------------------------------------------------------------


def test_to_same_device_is_the_tensor_itself():
    x = ag.tensor([1.0, 2.0])
    assert x.to("cpu") is x and x.cpu() is x
    f = x.to("fake")
    assert f.to("fake") is f


def test_to_is_differentiable_and_gradients_go_home():
    x = ag.tensor([1.0, 2.0, 3.0], label="x")
    y = x.to("fake")
    assert y.op == "to" and y.inputs == (x,) and y.device == "fake"
    (y * y).sum().backward()
    assert type(x.grad) is np.ndarray
    np.testing.assert_allclose(x.grad, [2.0, 4.0, 6.0])
    assert device_of(y.grad) == "fake"


def test_to_round_trip_second_order():
    x = ag.tensor([0.5, -1.0], label="x")
    y = ag.exp(x.to("fake")).cpu()
    (g,) = ag.grad(y.sum(), [x], create_graph=True)
    assert g.device == "cpu"
    g.sum().backward()
    np.testing.assert_allclose(x.grad, np.exp([0.5, -1.0]))


def test_numpy_is_always_host():
    x = ag.tensor([1.0, 2.0]).to("fake")
    host = x.numpy()
    assert type(host) is np.ndarray
    np.testing.assert_array_equal(host, [1.0, 2.0])
    assert "Tensor([1., 2.]" in repr(x)


def test_detach_of_a_device_tensor_stays_there():
    x = ag.tensor([1.0]).to("fake").detach()
    assert x.device == "fake" and not x.requires_grad


@needs_gpu
def test_cuda_round_trip():
    x = ag.tensor([1.0, 2.0], label="x")
    y = x.cuda()
    assert y.device.startswith("cuda:")
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 4.0])
    assert y.cpu().device == "cpu"


# -- device mixing is a clear error ---------------------------------------------------------------


def _pair():
    return ag.tensor([1.0, 2.0, 3.0], label="x").to("fake"), ag.tensor([1.0, 2.0, 3.0], label="w")


@pytest.mark.parametrize(
    "op, fn",
    [
        ("add", lambda a, b: a + b),
        ("sub", lambda a, b: b - a),
        ("mul", lambda a, b: a * b),
        ("div", lambda a, b: a / b),
        ("pow", lambda a, b: a ** b),
        ("matmul", lambda a, b: a @ b),
        ("maximum", ag.maximum),
        ("minimum", ag.minimum),
        ("where", lambda a, b: ag.where(a.value > 0, a, b)),
        ("concatenate", lambda a, b: ag.concatenate([a, b])),
        ("stack", lambda a, b: ag.stack([a, b])),
    ],
)
def test_mixing_devices_names_op_and_both_devices(op, fn):
    a, b = _pair()
    a.label = "x"
    with pytest.raises(DeviceMismatchError) as info:
        fn(a, b)
    message = str(info.value)
    assert message.startswith(f"{op}: ")
    assert "is on fake" in message and "is on cpu" in message
    assert "'w' (3,)" in message


def test_add_error_reads_well():
    x = ag.tensor([1.0, 2.0, 3.0]).to("fake")
    x.label = "x"
    w = ag.tensor([1.0, 2.0, 3.0], label="w")
    with pytest.raises(DeviceMismatchError, match=r"^add: 'x' \(3,\) is on fake but 'w' \(3,\) is on cpu"):
        x + w


def test_a_raw_host_array_next_to_a_device_tensor_is_an_error():
    x = ag.tensor([1.0, 2.0]).to("fake")
    with pytest.raises(DeviceMismatchError, match="mul: .* is on fake but leaf .* is on cpu"):
        x * np.array([1.0, 2.0])
    with pytest.raises(DeviceMismatchError):  # even with the fake device as the default
        with ag.gpu.default("fake"):
            np.array([1.0, 2.0]) + x


def test_numbers_and_numpy_scalars_mix_freely():
    x = ag.tensor([1.0, 2.0]).to("fake")
    for y in (x * 2, 2.0 - x, x / np.float64(2.0), x * np.float32(3.0), x + np.int64(1), x ** 2):
        assert y.device == "fake"


def test_where_with_a_host_condition_on_device_operands():
    a = ag.tensor([1.0, -1.0]).to("fake")
    with pytest.raises(DeviceMismatchError, match="where: 'condition' .* is on cpu but .* is on fake"):
        ag.where(np.array([True, False]), a, 0.0)
    assert ag.where(a > 0, a, 0.0).device == "fake"


def test_spcmatmul_host_matrix_with_device_dense_says_how_to_move_it():
    S = sp.identity(3, format="csr")
    x = ag.tensor(np.ones((2, 3)), label="X").to("fake")
    with pytest.raises(DeviceMismatchError, match=r"spcmatmul: .* is on fake but the sparse matrix \(3, 3\) "
                                                  r"is on cpu; move the matrix explicitly with "
                                                  r"ag.gpu.to_device_sparse"):
        ag.spcmatmul(x, S)
    with pytest.raises(DeviceMismatchError):
        ag.spcmatmul(S, x.T)
    with pytest.raises(DeviceMismatchError, match="is on cpu but the sparse matrix .* is on fake"):
        ag.spcmatmul(ag.tensor(np.ones((2, 3))), ag.gpu.to_device_sparse(S, "fake"))


def test_a_failed_mixed_op_leaves_grads_alone():
    a, b = _pair()
    (a * a).sum().backward()
    before = a.grad.get().copy()
    with pytest.raises(DeviceMismatchError):
        a + b
    np.testing.assert_array_equal(a.grad.get(), before)


# -- the strict fake device ---------------------------------------------------------------------


def test_fake_refuses_implicit_host_conversion():
    a = xp.asarray([1.0, 2.0])
    for convert in (np.asarray, np.array, lambda v: np.asarray(v, dtype=np.float32)):
        with pytest.raises(FakeDeviceError, match="Implicit conversion"):
            convert(a)
    np.testing.assert_array_equal(a.get(), [1.0, 2.0])
    assert xp.asnumpy(a).tolist() == [1.0, 2.0]


def test_fake_refuses_host_operands_everywhere():
    a, h = xp.ones(3), np.ones(3)
    for mix in (lambda: a + h, lambda: h + a, lambda: a @ h, lambda: np.add(a, h), lambda: xp.exp(h),
                lambda: xp.concatenate([a, h]), lambda: np.concatenate([a, h]), lambda: a.dot(h),
                lambda: a.__setitem__(slice(None), h)):
        with pytest.raises(FakeDeviceError, match="NumPy host array"):
            mix()


def test_fake_arrays_work_like_cupy_arrays():
    a = xp.arange(6.0).reshape(2, 3)
    assert isinstance(a, FakeArray) and isinstance(a, xp.ndarray)
    s = a.sum()
    assert isinstance(s, FakeArray) and s.shape == () and float(s) == 15.0  # 0-d, as in CuPy
    assert isinstance(np.exp(a), FakeArray)  # NumPy functions dispatch, as for CuPy
    assert isinstance(np.stack([a, a]), FakeArray)
    b = a.copy()
    b += 1.0
    b[0, 0] = xp.asarray(-1.0)
    assert b.get()[0].tolist() == [-1.0, 2.0, 3.0]
    out = xp.zeros(3)
    xp.add.at(out, np.array([0, 0, 2]), xp.ones(3))
    assert out.get().tolist() == [2.0, 0.0, 1.0]
    assert xp.get_array_module(a) is xp and xp.get_array_module(np.ones(1)) is np
    assert ag.tensor.array_module_of(a) is xp
    with pytest.raises(FakeDeviceError):
        __import__("pickle").dumps(a)


def test_fake_upload_copies_host_memory():
    h = np.ones(2)
    d = xp.asarray(h)
    h[0] = 5.0
    assert d.get().tolist() == [1.0, 1.0]


# -- sparse matrices and models -------------------------------------------------------------------


def test_to_device_sparse_is_explicit_cached_and_float():
    S = sp.csr_matrix(np.array([[1, 0], [0, 2]], dtype=np.int64))
    d = ag.gpu.to_device_sparse(S, "fake")
    assert isinstance(d, FakeSparse) and d.dtype == np.float64
    assert ag.gpu.to_device_sparse(S, "fake") is d
    assert device_of(d) == "fake" and device_of(S) == "cpu"
    assert ag.gpu.to_device_sparse(d, "cpu").toarray().tolist() == [[1.0, 0.0], [0.0, 2.0]]
    assert ag.ops.linalg._sparse_module(d) is ag.testing.fake_device.sparse


def test_move_module_keeps_parameters_and_optimizer():
    model = ag.nn.Linear(3, 2, rng=np.random.default_rng(0))
    weight = model.weight
    opt = ag.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ag.gpu.move_module(model, "fake")
    assert model.weight is weight and weight.device == "fake"
    x = ag.Tensor(move_array(np.ones((4, 3)), "fake"), requires_grad=False)
    for _ in range(2):
        opt.zero_grad()
        ag.mean(model(x) ** 2).backward()
        opt.step()
    state_arrays = [v for st in opt.state.values() for v in st.values() if hasattr(v, "shape")]
    assert weight.device == "fake" and state_arrays
    assert all(device_of(v) == "fake" for v in state_arrays)
    ag.gpu.move_optimizer_state(opt, "cpu")
    ag.gpu.move_module(model, "cpu")
    assert weight.device == "cpu"
    assert all(device_of(v) == "cpu" for state in opt.state.values() for v in state.values()
               if hasattr(v, "shape"))


# -- the benchmark script ----------------------------------------------------------------------


def _benchmark():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu.py"
    spec = importlib.util.spec_from_file_location("gpu_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_says_no_gpu_and_exits_0(reprobe, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "cupy", None)
    assert _benchmark().main([]) == 0
    assert capsys.readouterr().out.startswith("no GPU: no CuPy")


def test_benchmark_code_paths_run_on_the_fake_device(capsys):
    assert _benchmark().main(["--device", "fake", "--small", "--repeats", "1", "--cpu-repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "failed" not in out, out
    assert "hand-written CuPy" in out and "transformer block" in out
