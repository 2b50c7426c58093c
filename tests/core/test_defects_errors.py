"""Issue 11 items 19-21: bad input gets an error that names the op, the labels and the
shapes and says what to do; `ag trace` stops cleanly on Ctrl-C and caps its output."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import ag
import ag.nn.functional as F
from ag.cli import main
from ag.optim import SGD
from ag.trace import trace

# -- item 19: optimizers ----------------------------------------------------------------------


def test_optimizer_refuses_scalars_up_front():
    with pytest.raises(TypeError, match=r"parameter 0 is an ag\.Scalar.*p\.value -= lr \* p\.grad"):
        SGD([ag.Scalar(1.0)])


def test_parameter_listed_twice_is_updated_once():
    w = ag.tensor([1.0, 2.0], label="w")
    with pytest.warns(UserWarning, match="'w'.*more than once"):
        opt = SGD([w, w], lr=0.5)
    assert len(opt.params) == 1
    w.grad = np.array([1.0, 1.0])
    opt.step()
    np.testing.assert_array_equal(w.value, [0.5, 1.5])  # one step of lr * g, not two


# -- item 20: messages -----------------------------------------------------------------------


def test_tensor_plus_scalar_says_to_use_value():
    t = ag.tensor([1.0, 2.0], label="t")
    with pytest.raises(TypeError, match=r"add: .*'t' \(2,\).*ag\.Scalar 's'.*\.value"):
        t + ag.Scalar(2.0, label="s")
    with pytest.raises(TypeError, match=r"mul: .*ag\.Tensor of shape \(2,\).*\.value"):
        ag.Scalar(2.0) * t


def test_scalar_pow_overflow_names_the_op():
    with pytest.raises(OverflowError, match=r"pow: Scalar .*10\.0.*400"):
        ag.Scalar(10.0) ** 400
    with pytest.raises(OverflowError, match="pow"):
        ag.Scalar(10.0) ** ag.Scalar(400.0)


def test_split_errors_and_empty_axis():
    x = ag.tensor(np.arange(6.0), label="x")
    with pytest.raises(ValueError, match=r"split: 'x' \(6,\) into 0 parts"):
        ag.split(x, 0)
    with pytest.raises(ValueError, match=r"length 6.*4 equal parts"):
        ag.split(x, 4)
    with pytest.raises(np.exceptions.AxisError, match="split"):
        ag.split(x, 2, axis=1)
    pieces = ag.split(ag.tensor(np.zeros((0, 3))), 3)  # as np.split: three empty pieces
    assert [p.shape for p in pieces] == [(0, 3)] * 3


def test_load_of_an_npy_file_says_what_it_is(tmp_path):
    np.save(tmp_path / "w.npy", np.ones(2))
    with pytest.raises(ValueError, match=r"w\.npy.*single array.*np\.load"):
        ag.load(tmp_path / "w.npy")


def test_save_keeps_keys_named_like_savez_arguments(tmp_path):
    state = {"file": np.ones(2), "allow_pickle": np.zeros(3), "w": np.arange(4.0)}
    ag.save(state, tmp_path / "s.npz")
    loaded = ag.load(tmp_path / "s.npz")
    assert sorted(loaded) == sorted(state)
    for k, v in state.items():
        np.testing.assert_array_equal(loaded[k], v)
    ag.save({"a": np.ones(1)}, tmp_path / "nosuffix")  # the suffix is added, as np.savez does
    assert os.path.exists(tmp_path / "nosuffix.npz")


def test_bad_seed_gradients_are_refused_before_any_grad():
    x = ag.tensor([1.0, 2.0], label="x")
    y = x * 2
    with pytest.raises(TypeError, match=r"seed gradient for mul \(2,\).*real numbers"):
        y.backward("12")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning: refused, not truncated
        with pytest.raises(TypeError, match="seed gradient"):
            y.backward(np.array([1 + 1j, 2.0]))
    assert x.grad is None


def test_clip_with_a_tensor_bound():
    x = ag.tensor([1.0, 5.0], label="x")
    with pytest.raises(TypeError, match=r"clip: the high bound 'hi' \(\).*'x' \(2,\).*ag\.minimum"):
        ag.clip(x, None, ag.tensor(3.0, label="hi"))


def test_log_and_sqrt_of_nan_say_nan():
    x = ag.tensor([1.0, np.nan], label="x")
    with pytest.raises(ValueError, match=r"log: .*'x' \(2,\) has NaN elements.*\(1,\)"):
        ag.log(x)
    with pytest.raises(ValueError, match=r"sqrt: .*NaN"):
        ag.sqrt(x)
    with pytest.raises(ValueError, match=r"log: .*non-positive elements \(the first, -1\.0"):
        ag.log(ag.tensor([2.0, -1.0]))
    with pytest.raises(ValueError, match="is NaN"):
        ag.log(ag.Scalar(float("nan")))


def test_item_of_a_non_scalar():
    with pytest.raises(ValueError, match=r"item: 'v' \(2, 2\) has 4 elements.*\.sum\(\)"):
        ag.tensor(np.ones((2, 2)), label="v").item()


def test_float_labels_in_cross_entropy_name_the_shapes():
    z = ag.tensor(np.zeros((2, 3)))
    with pytest.raises(TypeError, match=r"labels of shape \(2,\).*0\.5.*0\.\.2.*\(2, 3\)"):
        F.cross_entropy(z, np.array([0.5, 1.0]))


def test_concatenate_rule_text_names_every_input():
    a, b, c = (ag.tensor([float(i)], label=n) for i, n in enumerate("abc"))
    out = ag.concatenate([a, b, c])
    templates = out.backward_rule()
    assert templates[2].startswith("{c}.grad")
    with trace() as t:
        out.sum().backward()
    text = t.last.text()
    assert "c.grad += " in text and "input 2" not in text


# -- item 21: ag trace ------------------------------------------------------------------------


def test_trace_ctrl_c_is_one_line(capsys, tmp_path):
    f = tmp_path / "loops.py"
    f.write_text("import ag\nx = ag.Scalar(1.0)\n(x * x).backward()\nraise KeyboardInterrupt\n")
    assert main(["trace", str(f)]) == 130
    err = capsys.readouterr().err
    assert "interrupted (Ctrl-C)" in err and "line 4" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_trace_caps_the_number_of_calls(capsys, tmp_path):
    f = tmp_path / "train.py"
    f.write_text("import ag\nw = ag.Scalar(1.0, label='w')\n"
                 "for _ in range(50):\n    (w * w).backward()\n")
    assert main(["trace", str(f)]) == 0
    out = capsys.readouterr().out
    assert out.count("backward call ") == 10
    assert "40 more backward() calls ran untraced" in out
    assert main(["trace", str(f), "--max-calls", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("backward call ") == 3 and "47 more" in out
    assert main(["trace", str(f), "--max-calls", "0"]) == 0
    assert capsys.readouterr().out.count("backward call ") == 50
