"""ag.nn.Module: parameter discovery, modes, repr, state dicts, save/load."""

from __future__ import annotations

import numpy as np
import pytest

import ag
import ag.nn as nn


class CourseMLP(nn.Module):
    """Written the course's way: no super().__init__(), bare Tensors as attributes."""

    def __init__(self, n_features, n_hidden):
        rng = np.random.default_rng(0)
        self.Wh = ag.Tensor(rng.standard_normal((n_features, n_hidden)), label="Whidden")
        self.bh = ag.Tensor(rng.standard_normal(n_hidden), label="bhidden")
        self.wo = ag.Tensor(rng.standard_normal((n_hidden, n_features)), label="Wout")
        self.bo = ag.Tensor(rng.standard_normal(n_features), label="bout")

    def forward(self, Xin):
        hidden = ag.relu((Xin @ self.Wh) + self.bh)
        return hidden @ self.wo + self.bo


class Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(3, 4)
        self.blocks = [nn.Linear(4, 4), nn.Sequential(nn.ReLU(), nn.Linear(4, 4))]
        self.heads = {"a": nn.Linear(4, 2), "b": nn.Linear(4, 1, bias=False)}
        self.scale = ag.Tensor(np.ones(1), label="scale")
        self.shared = self.encoder  # the same module twice: its tensors count once
        self.norm = nn.BatchNorm1d(4)
        self.not_a_param = np.zeros(3)  # a plain array is neither parameter nor buffer

    def forward(self, x):
        h = self.norm(self.encoder(x))
        for block in self.blocks:
            h = block(h)
        return self.heads["a"](h) * self.scale


def test_course_style_module_finds_its_tensors_without_init():
    model = CourseMLP(3, 5)
    assert [name for name, _ in model.named_parameters()] == ["Wh", "bh", "wo", "bo"]
    assert model.training  # the class default, though __init__ never ran
    out = model(np.ones((2, 3)))
    assert out.shape == (2, 3)
    assert "Wh: (3, 5)" in repr(model)


def test_parameters_from_attributes_lists_and_dicts_each_once():
    model = Nested()
    names = [name for name, _ in model.named_parameters()]
    assert names == [
        "scale",  # the module's own tensors first, then each sub-module's (as PyTorch)
        "encoder.weight", "encoder.bias",
        "blocks.0.weight", "blocks.0.bias", "blocks.1.layers.1.weight", "blocks.1.layers.1.bias",
        "heads.a.weight", "heads.a.bias", "heads.b.weight",
        "norm.weight", "norm.bias",
    ]  # fmt: skip
    params = model.parameters()
    assert len({id(p) for p in params}) == len(params)
    assert model.num_parameters() == sum(p.value.size for p in params)
    assert [name for name, _ in model.named_buffers()] == ["norm.running_mean", "norm.running_var"]


def test_train_eval_reach_every_submodule():
    model = Nested()
    model.eval()
    assert all(not m.training for m in model.modules())
    assert model.train() is model and all(m.training for m in model.modules())


def test_zero_grad_clears_every_parameter():
    model = Nested()
    model(np.random.default_rng(0).standard_normal((4, 3))).sum().backward()
    assert model.encoder.weight.grad is not None
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_repr_is_a_readable_tree():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Dropout(0.1))
    assert repr(model) == (
        "Sequential(\n"
        "  (layers.0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (layers.1): ReLU()\n"
        "  (layers.2): Dropout(p=0.1)\n"
        ")"
    )


def test_state_dict_round_trip_includes_buffers(tmp_path):
    rng = np.random.default_rng(0)
    a, b = Nested(), Nested()
    a(rng.standard_normal((8, 3)))  # moves the running statistics away from 0 / 1
    state = a.state_dict()
    assert set(state) == {n for n, _ in a.named_parameters()} | {"norm.running_mean", "norm.running_var"}
    path = tmp_path / "model.npz"
    ag.save(a, path)
    loaded = ag.load(path)
    b.load_state_dict(loaded)
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.value, q.value, err_msg=name)
    np.testing.assert_array_equal(a.norm.running_mean, b.norm.running_mean)
    a.eval(), b.eval()
    x = rng.standard_normal((3, 3))
    np.testing.assert_array_equal(a(x).value, b(x).value)
    # the state dict holds copies: changing it leaves the model alone
    state["encoder.weight"][...] = 7.0
    assert not np.any(a.encoder.weight.value == 7.0)


def test_save_uses_no_pickle(tmp_path):
    path = tmp_path / "w.npz"
    ag.save({"w": np.arange(3.0)}, path)
    with np.load(path, allow_pickle=False) as f:  # raises if anything needs pickle
        np.testing.assert_array_equal(f["w"], [0.0, 1.0, 2.0])
    ag.save(nn.Linear(2, 2), tmp_path / "no_suffix")  # np.savez adds .npz; load finds it
    assert sorted(ag.load(tmp_path / "no_suffix")) == ["bias", "weight"]


def test_missing_keys_are_named_and_nothing_changes():
    model = Nested()
    before = model.state_dict()
    state = dict(before)
    state = {k: v + 1.0 for k, v in state.items()}
    del state["heads.b.weight"], state["norm.running_var"]
    with pytest.raises(nn.StateDictError, match=r"missing keys: heads\.b\.weight, norm\.running_var"):
        model.load_state_dict(state)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


def test_wrong_shapes_are_named_and_nothing_changes():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    before = model.state_dict()
    state = {k: v + 1.0 for k, v in before.items()}
    state["layers.1.weight"] = np.zeros((2, 4))
    with pytest.raises(nn.StateDictError, match=r"layers\.1\.weight: expected \(4, 2\), got \(2, 4\)"):
        model.load_state_dict(state)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


def test_unexpected_keys_strict_and_not():
    model = nn.Linear(2, 2)
    state = dict(model.state_dict(), extra=np.zeros(1))
    with pytest.raises(nn.StateDictError, match="unexpected keys: extra"):
        model.load_state_dict(state)
    model.load_state_dict(state, strict=False)


def test_load_keeps_dtype_and_to_casts():
    model = nn.Linear(2, 2, dtype=np.float32)
    model.load_state_dict({"weight": np.ones((2, 2)), "bias": np.zeros(2)})
    assert model.weight.dtype == np.float32
    bn = nn.BatchNorm1d(2).to(np.float32)
    assert bn.weight.dtype == np.float32 and bn.running_mean.dtype == np.float32
    with pytest.raises(TypeError, match="floating-point"):
        bn.to(np.int32)


def test_module_without_forward_says_so():
    with pytest.raises(NotImplementedError, match="Empty does not define forward"):
        type("Empty", (nn.Module,), {})()(1)
