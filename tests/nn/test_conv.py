"""Conv2d and pooling: three methods agree, gradients check, PyTorch agrees, errors are clear."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ag
import ag.nn.functional as F
from ag.nn.im2col import conv2d_naive, im2col_matrix, output_size
from ag.testing import gradcheck, gradgradcheck

METHODS = ("sparse", "strided", "naive")


@st.composite
def conv_cases(draw, max_size=6):
    """(x, weight, bias, stride, padding) as arrays; tiny, so the loop version stays quick."""
    K = draw(st.integers(1, 3))
    padding = draw(st.integers(0, 2))
    low = max(1, K - 2 * padding)
    N, Cin, Cout = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 3))
    H, W = draw(st.integers(low, max_size)), draw(st.integers(low, max_size))
    stride = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    x = rng.standard_normal((N, Cin, H, W))
    w = rng.standard_normal((Cin * K * K, Cout))
    b = rng.standard_normal(Cout)
    return x, w, b, stride, padding


def run(method, x, w, b, stride, padding, seed=0):
    """Output and the grads of a fixed random weighting of it, for one method."""
    xt, wt, bt = ag.tensor(x), ag.tensor(w), ag.tensor(b)
    out = F.conv2d(xt, wt, bt, stride=stride, padding=padding, method=method)
    weights = np.random.default_rng(seed).standard_normal(out.shape)
    (out * weights).sum().backward()
    return out.value, xt.grad, wt.grad, bt.grad


# --- the three methods against each other and the loop reference --------------------


@given(conv_cases())
def test_three_methods_agree(case):
    x, w, b, stride, padding = case
    results = {m: run(m, x, w, b, stride, padding) for m in METHODS}
    K = int(round((w.shape[0] / x.shape[1]) ** 0.5))
    H, W = x.shape[2:]
    Hout, Wout = output_size(H, K, stride, padding), output_size(W, K, stride, padding)
    expected_shape = (x.shape[0], w.shape[1], Hout, Wout)
    assert results["naive"][0].shape == expected_shape
    for m in ("sparse", "strided"):
        for got, want, name in zip(results[m], results["naive"], ("out", "x.grad", "w.grad", "b.grad")):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10, err_msg=f"{m} {name}")


def test_batch_of_one_non_square_strided_padded():
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((1, 2, 5, 8)), rng.standard_normal((2 * 9, 3)), rng.standard_normal(3)
    outs = {m: run(m, x, w, b, 2, 1) for m in METHODS}
    assert outs["sparse"][0].shape == (1, 3, 3, 4)
    for m in ("sparse", "strided"):
        for got, want in zip(outs[m], outs["naive"]):
            np.testing.assert_allclose(got, want, atol=1e-12)


def test_conv_by_hand():
    # Vertical-edge filter on a step image: only windows straddling the step respond.
    x = np.zeros((1, 1, 3, 4))
    x[..., 2:] = 1.0
    w = np.array([[-1.0, 0.0, 1.0] * 3]).T  # (9, 1): rows (ki, kj), right minus left
    for m in METHODS:
        out = F.conv2d(ag.tensor(x), ag.tensor(w), method=m).value
        np.testing.assert_array_equal(out[0, 0], [[3.0, 3.0]])


# --- gradcheck ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1)])
def test_gradcheck_input_weight_bias(method, stride, padding):
    rng = np.random.default_rng(2)
    x = ag.tensor(rng.standard_normal((2, 2, 5, 4)), label="x")
    w = ag.tensor(rng.standard_normal((2 * 9, 3)), label="weight")
    b = ag.tensor(rng.standard_normal(3), label="bias")
    gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride, padding, method=method), x, w, b)


def test_conv2d_module_gradcheck():
    conv = ag.nn.Conv2d(2, 3, 2, stride=1, padding=1, rng=np.random.default_rng(3))
    x = ag.tensor(np.random.default_rng(4).standard_normal((1, 2, 3, 4)), label="x")
    gradcheck(lambda x, w, b: conv(x), x, conv.weight, conv.bias)


@pytest.mark.parametrize("method", ["sparse", "strided"])
def test_second_order(method):
    # The strided op's backward is col2im, whose backward is im2col again; the sparse
    # path is spcmatmul both ways. Second derivatives (weight x input) must check.
    rng = np.random.default_rng(5)
    x = ag.tensor(rng.standard_normal((1, 1, 4, 4)))
    w = ag.tensor(rng.standard_normal((4, 2)))
    gradgradcheck(lambda x, w: (F.conv2d(x, w, stride=2, padding=1, method=method) ** 2).sum(), x, w)


def test_naive_refuses_second_order_clearly():
    x = ag.tensor(np.ones((1, 1, 3, 3)))
    w = ag.tensor(np.ones((4, 1)))
    y = (F.conv2d(x, w, method="naive") ** 2).sum()
    with pytest.raises(NotImplementedError, match="first-order gradients only"):
        y.backward(create_graph=True)


# --- against PyTorch ------------------------------------------------------------------------


@pytest.mark.torch
@given(conv_cases(max_size=9))
def test_against_torch(case):
    torch = pytest.importorskip("torch")
    x, w, b, stride, padding = case
    Cin, Cout = x.shape[1], w.shape[1]
    K = int(round((w.shape[0] / Cin) ** 0.5))
    out, gx, gw, gb = run("sparse", x, w, b, stride, padding, seed=7)
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w.T.reshape(Cout, Cin, K, K), requires_grad=True)  # the course's conversion
    bt = torch.tensor(b, requires_grad=True)
    yt = torch.nn.functional.conv2d(xt, wt, bt, stride=stride, padding=padding)
    (yt * torch.tensor(np.random.default_rng(7).standard_normal(out.shape))).sum().backward()
    np.testing.assert_allclose(out, yt.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(gx, xt.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(gw, wt.grad.numpy().reshape(Cout, -1).T, atol=1e-10)
    np.testing.assert_allclose(gb, bt.grad.numpy(), atol=1e-10)


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("K, stride, padding", [(2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 1, 0)])
def test_pooling_against_torch(kind, K, stride, padding):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(8).standard_normal((2, 3, 7, 6)) - 3.0  # negative: padding must not win
    pool = {"max": F.max_pool2d, "avg": F.avg_pool2d}[kind]
    xt = ag.tensor(x)
    out = pool(xt, K, stride, padding)
    out.sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    tpool = {"max": torch.nn.functional.max_pool2d, "avg": torch.nn.functional.avg_pool2d}[kind]
    ty = tpool(tx, K, stride, padding)
    ty.sum().backward()
    np.testing.assert_allclose(out.value, ty.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), atol=1e-12)


# --- pooling ------------------------------------------------------------------------------------


def pool_reference(x, K, stride, padding, kind):
    """Loops; padding is -inf for max and 0 for the average (which divides by K*K)."""
    N, C, H, W = x.shape
    Hout, Wout = output_size(H, K, stride, padding), output_size(W, K, stride, padding)
    out = np.empty((N, C, Hout, Wout))
    for n in range(N):
        for c in range(C):
            for ho in range(Hout):
                for wo in range(Wout):
                    window = [
                        x[n, c, h, w] if 0 <= h < H and 0 <= w < W else (-np.inf if kind == "max" else 0.0)
                        for h in range(ho * stride - padding, ho * stride - padding + K)
                        for w in range(wo * stride - padding, wo * stride - padding + K)
                    ]
                    out[n, c, ho, wo] = max(window) if kind == "max" else sum(window) / (K * K)
    return out


@st.composite
def pool_cases(draw):
    K = draw(st.integers(1, 3))
    padding = draw(st.integers(0, K // 2))
    low = max(1, K - 2 * padding)
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    shape = (N, C, draw(st.integers(low, 6)), draw(st.integers(low, 6)))
    stride = draw(st.one_of(st.none(), st.integers(1, 3)))
    x = np.random.default_rng(draw(st.integers(0, 2**31 - 1))).standard_normal(shape) - 1.0
    return x, K, stride, padding


@pytest.mark.parametrize("kind", ["max", "avg"])
@given(case=pool_cases())
def test_pooling_against_loops_all_methods(kind, case):
    x, K, stride, padding = case
    expected = pool_reference(x, K, K if stride is None else stride, padding, kind)
    layer = {"max": ag.nn.MaxPool2d, "avg": ag.nn.AvgPool2d}[kind]
    grads = []
    for method in ("sparse", "strided", "naive"):
        xt = ag.tensor(x)
        out = layer(K, stride, padding, method=method)(xt)
        np.testing.assert_allclose(out.value, expected, atol=1e-12)
        (out * np.arange(out.size).reshape(out.shape)).sum().backward()
        grads.append(xt.grad)
    np.testing.assert_allclose(grads[0], grads[1], atol=1e-12)
    np.testing.assert_allclose(grads[0], grads[2], atol=1e-12)


@pytest.mark.parametrize("method", ["sparse", "strided"])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_gradcheck(method, kind):
    x = ag.tensor(np.random.default_rng(9).standard_normal((2, 2, 5, 4)), label="x")
    pool = {"max": F.max_pool2d, "avg": F.avg_pool2d}[kind]
    gradcheck(lambda x: pool(x, 3, 2, 1, method=method), x)


# --- the layer ----------------------------------------------------------------------------------


def test_conv2d_layer_shapes_and_init():
    conv = ag.nn.Conv2d(16, 64, 3, rng=np.random.default_rng(10))
    assert conv.weight.shape == (16 * 9, 64) and conv.bias.shape == (64,)
    assert [name for name, _ in conv.named_parameters()] == ["weight", "bias"]
    # Kaiming normal, fan_in = Cin*K*K = 144: std sqrt(2/144) (9216 draws, ~1% error).
    assert abs(conv.weight.value.std() / np.sqrt(2 / 144) - 1) < 0.05
    assert abs(conv.weight.value.mean()) < 0.01
    assert np.all(conv.bias.value == 0)
    assert ag.nn.Conv2d(1, 2, 3, bias=False).bias is None


def test_conv2d_layer_matches_naive_reference():
    rng = np.random.default_rng(11)
    conv = ag.nn.Conv2d(3, 4, 3, stride=2, padding=1, rng=rng)
    conv.bias.value[:] = rng.standard_normal(4)
    x = rng.standard_normal((2, 3, 7, 5))
    expected = conv2d_naive(x, conv.weight.value, conv.bias.value, 2, 1)
    np.testing.assert_allclose(conv(x).value, expected, atol=1e-12)


def test_float32_stays_float32():
    conv = ag.nn.Conv2d(2, 3, 3, padding=1, dtype=np.float32)
    y = conv(ag.tensor(np.ones((1, 2, 4, 4)), dtype=np.float32))
    assert y.dtype == np.float32 and conv.im2col_mat.dtype == np.float32
    y.sum().backward()
    assert conv.weight.grad.dtype == np.float32


def test_matrix_cache_follows_the_input_geometry():
    rng = np.random.default_rng(12)
    conv = ag.nn.Conv2d(2, 3, 3, padding=1, rng=rng)
    first = rng.standard_normal((1, 2, 6, 6))
    y1 = conv(first).value
    m1 = conv.im2col_mat
    assert m1.shape == (2 * 36, 36 * 18) and m1 is im2col_matrix(2, 6, 6, 3, 1, 1)
    # Another image size: another matrix, and the right answer with it.
    second = rng.standard_normal((3, 2, 5, 9))
    y2 = conv(second).value
    assert conv.im2col_mat is not m1 and conv.im2col_mat.shape == (2 * 45, 45 * 18)
    np.testing.assert_allclose(y2, conv2d_naive(second, conv.weight.value, conv.bias.value, 1, 1), atol=1e-12)
    # Back to the first size: the cached matrix comes back, the result is unchanged.
    hits = im2col_matrix.cache_info().hits
    np.testing.assert_array_equal(conv(first).value, y1)
    assert conv.im2col_mat is m1 and im2col_matrix.cache_info().hits == hits + 1
    # A different channel count is a different key (the functional form takes any Cin).
    w3 = rng.standard_normal((3 * 9, 2))
    x3 = rng.standard_normal((1, 3, 6, 6))
    expected = conv2d_naive(x3, w3, None, 1, 1)
    np.testing.assert_allclose(F.conv2d(x3, w3, padding=1).value, expected, atol=1e-12)


# --- errors ---------------------------------------------------------------------------------------


def test_error_not_4d():
    conv = ag.nn.Conv2d(3, 8, 3)
    layer = r"Conv2d\(3, 8, kernel_size=3, stride=1, padding=0\)"
    shapes = r" expects a 4-D input \(N, 3, H, W\), got shape \(3, 32, 32\)"
    with pytest.raises(ValueError, match=layer + shapes):
        conv(np.zeros((3, 32, 32)))


def test_error_channel_mismatch():
    with pytest.raises(ValueError, match=r"Conv2d\(3, 8, .*\) expects 3 input channels, got 1 "
                                         r"\(input shape \(2, 1, 28, 28\)"):
        ag.nn.Conv2d(3, 8, 3)(np.zeros((2, 1, 28, 28)))


def test_error_kernel_larger_than_padded_image():
    layer = r"Conv2d\(1, 2, kernel_size=5, stride=1, padding=1\) on input of shape \(1, 1, 2, 4\)"
    with pytest.raises(ValueError, match=layer + r": kernel_size=5 is larger than the padded input 4x6"):
        ag.nn.Conv2d(1, 2, 5, padding=1)(np.zeros((1, 1, 2, 4)))


def test_error_stride_zero():
    with pytest.raises(ValueError, match=r"Conv2d\(3, 8, kernel_size=3, stride=0, padding=0\): stride must"):
        ag.nn.Conv2d(3, 8, 3, stride=0)
    with pytest.raises(ValueError, match=r"conv2d on input of shape \(1, 1, 4, 4\): stride must be"):
        F.conv2d(np.zeros((1, 1, 4, 4)), np.zeros((9, 1)), stride=0)


def test_error_pooling():
    with pytest.raises(ValueError, match=r"MaxPool2d\(kernel_size=2, stride=2, padding=0\) expects a 4-D"):
        ag.nn.MaxPool2d(2)(np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"AvgPool2d\(kernel_size=2, stride=0, padding=0\): stride must be"):
        ag.nn.AvgPool2d(2, stride=0)
    with pytest.raises(ValueError, match=r"padding=2 must be at most half the kernel_size=3"):
        F.max_pool2d(np.zeros((1, 1, 5, 5)), 3, padding=2)


def test_error_functional_weight_shape_and_method():
    with pytest.raises(ValueError, match=r"a weight with 10 rows does not fit 1 input channels"):
        F.conv2d(np.zeros((1, 1, 4, 4)), np.zeros((10, 2)))
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\), got \(3,\)"):
        F.conv2d(np.zeros((1, 1, 4, 4)), np.zeros((4, 2)), np.zeros(3))
    with pytest.raises(ValueError, match=r"method must be one of"):
        ag.nn.Conv2d(1, 1, 2, method="fft")


# --- the exercises run and say the right things ---------------------------------------------------


def load_exercise(name):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "exercises" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"exercise_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_exercise_im2col_questions(capsys):
    questions = load_exercise("im2col_questions")
    ans = questions.main([])  # N=32, Cin=3, 32x32, K=3, Cout=16; checks itself against the kit
    assert ans["im2col_mat.shape"] == (3 * 32 * 32, 30 * 30 * 27) == (3072, 24300)
    assert ans["weight.shape"] == (27, 16)
    assert ans["Xout_flat multiply-adds"] == 32 * 900 * 27 * 16 == 12_441_600
    assert "(3072, 24300)" in capsys.readouterr().out
    padded = questions.main("--N 2 --cin 2 --H 4 --W 5 --stride 2 --padding 1".split())
    assert padded["im2col_mat nnz"] == 70  # worked by hand in test_im2col.test_padded_matrix_by_hand


def test_exercise_flipped_filter(capsys):
    same, wrong = load_exercise("flipped_filter").main()
    assert same < 1e-10 and wrong > 1.0


def test_exercise_cnn_digits_learns(capsys):
    pytest.importorskip("sklearn")
    assert load_exercise("cnn_digits").main(["--epochs", "3"]) > 0.85


def test_exercise_cnn_reads_mnist_idx_files(tmp_path, capsys):
    from ag.data import write_idx

    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", images)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n).astype(np.uint8))
    accuracy = load_exercise("cnn_digits").main(["--mnist", str(tmp_path), "--epochs", "1"])
    assert 0.0 <= accuracy <= 1.0
    assert "MNIST: 40 training and 20 test images of shape (1, 28, 28)" in capsys.readouterr().out


# --- devices: the strict fake device stands in for CuPy on CPU-only CI -------------------------------


def test_sparse_path_runs_on_the_fake_device():
    from ag.gpu.modules import move_module

    rng = np.random.default_rng(13)
    conv = ag.nn.Conv2d(2, 3, 3, stride=2, padding=1, rng=rng)
    x = rng.standard_normal((2, 2, 6, 5))
    host = conv(x)
    host.sum().backward()
    host_grad = conv.weight.grad.copy()
    conv.zero_grad()
    move_module(conv, "fake")
    # A NumPy call hiding in the path would raise FakeDeviceError here.
    out = conv(ag.Tensor(x).to("fake"))
    out.sum().backward()
    assert type(conv.im2col_mat).__name__ == "FakeSparse"
    np.testing.assert_allclose(out.value.get(), host.value, atol=1e-12)
    np.testing.assert_allclose(conv.weight.grad.get(), host_grad, atol=1e-12)
    for pool in (F.max_pool2d, F.avg_pool2d):
        np.testing.assert_allclose(pool(ag.Tensor(x).to("fake"), 3, 2, 1).value.get(), pool(x, 3, 2, 1).value)
    with pytest.raises(ValueError, match=r"method='strided' runs on NumPy \(CPU\) arrays only.*on fake"):
        F.conv2d(ag.Tensor(x).to("fake"), conv.weight, method="strided")
