"""ag.optim: first three steps by hand and against torch.optim; schedules; clipping."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ag
from ag.optim import SGD, Adam, AdamW, CosineLR, LinearWarmup, StepLR, clip_grad_norm

# f(w) = w**2 from w = 1 with lr = 0.1: the gradient is 2w. The expected weights
# after steps 1, 2, 3 were worked out by hand from each docstring's update rule,
# e.g. PyTorch momentum 0.9: v = 2, w = 0.8; v = 0.9*2 + 1.6 = 3.4, w = 0.46;
# v = 0.9*3.4 + 0.92 = 3.98, w = 0.062.
HAND = {
    "plain": (lambda p: SGD(p, lr=0.1), [0.8, 0.64, 0.512]),
    "momentum": (lambda p: SGD(p, lr=0.1, momentum=0.9), [0.8, 0.46, 0.062]),
    "nesterov": (lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True), [0.62, 0.2224, -0.108352]),
    "weight_decay": (lambda p: SGD(p, lr=0.1, weight_decay=0.1), [0.79, 0.6241, 0.493039]),
    "dampening": (lambda p: SGD(p, lr=0.1, momentum=0.9, dampening=0.5), [0.8, 0.54, 0.252]),
    # the course's exponential average u = 0.9 u + 0.1 g: u = 0.2, w = 0.98; ...
    "average": (lambda p: SGD(p, lr=0.1, momentum=0.9, convention="average"), [0.98, 0.9424, 0.889712]),
    # ... with bias correction u / (1 - 0.9**t): the first step is plain SGD's
    "average_bias_corrected": (
        lambda p: SGD(p, lr=0.1, momentum=0.9, convention="average", bias_correction=True),
        [0.8, 0.6210526315789474, 0.462303359875704],
    ),
    "average_nesterov": (
        lambda p: SGD(p, lr=0.1, momentum=0.9, convention="average", nesterov=True),
        [0.962, 0.909244, 0.844528328],
    ),
    # Adam's first step is lr * sign(g) (up to eps)
    "adam": (lambda p: Adam(p, lr=0.1), [0.9000000005, 0.8004122286917928, 0.7015862729460303]),
    "adam_l2": (
        lambda p: Adam(p, lr=0.1, weight_decay=0.1),
        [0.9000000004761904, 0.8004122286431954, 0.7015862728718214],
    ),
    "adamw": (
        lambda p: AdamW(p, lr=0.1, weight_decay=0.1),
        [0.8900000005, 0.7815718559365048, 0.6751012216400698],
    ),
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_first_three_steps_match_hand_computation(name):
    make, expected = HAND[name]
    w = ag.Tensor([1.0], label="w")
    opt = make([w])
    got = []
    for _ in range(3):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
        got.append(float(w.value[0]))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


TORCH_CASES = {
    "sgd": ({}, {}),
    "momentum": ({"momentum": 0.9}, {"momentum": 0.9}),
    "nesterov_wd": (
        {"momentum": 0.8, "nesterov": True, "weight_decay": 0.05},
        {"momentum": 0.8, "nesterov": True, "weight_decay": 0.05},
    ),
    "dampening": ({"momentum": 0.9, "dampening": 0.3}, {"momentum": 0.9, "dampening": 0.3}),
    "adam": ({}, {}),
    "adam_l2": ({"weight_decay": 0.1, "betas": (0.8, 0.99)}, {"weight_decay": 0.1, "betas": (0.8, 0.99)}),
    "adamw": ({"weight_decay": 0.1}, {"weight_decay": 0.1}),
}


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(TORCH_CASES))
def test_first_three_steps_match_torch(name):
    torch = pytest.importorskip("torch")
    ours_kw, theirs_kw = TORCH_CASES[name]
    kind = "adamw" if name == "adamw" else "adam" if name.startswith("adam") else "sgd"
    ours_cls = {"sgd": SGD, "adam": Adam, "adamw": AdamW}[kind]
    theirs_cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]
    rng = np.random.default_rng(1)
    w0, b0 = rng.standard_normal((3, 2)), rng.standard_normal(2)
    X = rng.standard_normal((5, 3))
    ours = [ag.Tensor(w0.copy()), ag.Tensor(b0.copy())]
    theirs = [torch.tensor(w0.copy(), requires_grad=True), torch.tensor(b0.copy(), requires_grad=True)]
    opt_a = ours_cls(ours, lr=0.05, **ours_kw)
    opt_t = theirs_cls(theirs, lr=0.05, **theirs_kw)
    for _ in range(3):
        opt_a.zero_grad()
        (ag.tanh(X @ ours[0] + ours[1]) ** 2).sum().backward()
        opt_a.step()
        opt_t.zero_grad()
        (torch.tanh(torch.tensor(X) @ theirs[0] + theirs[1]) ** 2).sum().backward()
        opt_t.step()
        for a, t in zip(ours, theirs):
            np.testing.assert_allclose(a.value, t.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_step_updates_in_place_and_builds_no_graph():
    w = ag.Tensor(np.ones(4))
    buffer = w.value
    opt = Adam([w], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
    assert w.value is buffer  # same array: no new parameter arrays per step
    assert w.inputs == () and w.op == ""


def test_parameters_without_grad_are_skipped_and_zero_grad_clears():
    a, b = ag.Tensor([1.0]), ag.Tensor([2.0])
    opt = SGD([a, b], lr=0.5)
    (a * 3.0).sum().backward()
    opt.step()
    assert a.value[0] == pytest.approx(1.0 - 0.5 * 3.0) and b.value[0] == 2.0
    opt.zero_grad()
    assert a.grad is None


def test_bad_arguments_are_reported():
    w = ag.Tensor([1.0])
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD([], lr=0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="convention"):
        SGD([w], lr=0.1, convention="other")
    with pytest.raises(ValueError, match="bias_correction"):
        SGD([w], lr=0.1, momentum=0.9, bias_correction=True)
    with pytest.raises(ValueError, match="betas"):
        Adam([w], betas=(1.0, 0.9))
    with pytest.raises(TypeError, match="ag.Tensors"):
        SGD([np.ones(2)], lr=0.1)


def _lrs(opt, sched, n):
    out = [opt.lr]
    for _ in range(n):
        sched.step()
        out.append(opt.lr)
    return out


def test_step_schedule():
    opt = SGD([ag.Tensor([0.0])], lr=1.0)
    np.testing.assert_allclose(
        _lrs(opt, StepLR(opt, step_size=2, gamma=0.5), 5), [1, 1, 0.5, 0.5, 0.25, 0.25]
    )


def test_cosine_schedule():
    opt = SGD([ag.Tensor([0.0])], lr=2.0)
    lrs = _lrs(opt, CosineLR(opt, total=4, min_lr=0.0), 5)
    # 2 * (1 + cos(pi k / 4)) / 2 for k = 0..4, then flat
    np.testing.assert_allclose(lrs, [2.0, 1 + math.sqrt(0.5), 1.0, 1 - math.sqrt(0.5), 0.0, 0.0], atol=1e-12)


def test_linear_warmup_then_cosine():
    opt = SGD([ag.Tensor([0.0])], lr=1.0)
    sched = LinearWarmup(opt, warmup=2, after=CosineLR(opt, total=2))
    np.testing.assert_allclose(_lrs(opt, sched, 4), [0.5, 1.0, 1.0, 0.5, 0.0], atol=1e-12)


@pytest.mark.torch
def test_schedules_match_torch():
    torch = pytest.importorskip("torch")
    p = torch.zeros(1, requires_grad=True)
    for ours_make, theirs_make in [
        (lambda o: StepLR(o, 3, 0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5)),
        (lambda o: CosineLR(o, 7, 0.01), lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 7, 0.01)),
    ]:
        opt = SGD([ag.Tensor([0.0])], lr=0.3)
        topt = torch.optim.SGD([p], lr=0.3)
        ours, theirs = ours_make(opt), theirs_make(topt)
        for _ in range(7):
            assert opt.lr == pytest.approx(topt.param_groups[0]["lr"], rel=1e-9)
            topt.step()
            ours.step()
            theirs.step()


def test_clip_grad_norm():
    a, b = ag.Tensor([0.0, 0.0]), ag.Tensor([0.0])
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([4.0])
    total = clip_grad_norm([a, b], 1.0)
    assert total == pytest.approx(5.0)
    np.testing.assert_allclose(a.grad, [0.6, 0.0])
    np.testing.assert_allclose(b.grad, [0.8])
    # under the limit nothing changes
    assert clip_grad_norm([a, b], 10.0) == pytest.approx(1.0)
    np.testing.assert_allclose(b.grad, [0.8])


@pytest.mark.torch
def test_clip_grad_norm_matches_torch():
    torch = pytest.importorskip("torch")
    g = np.random.default_rng(0).standard_normal((3, 4))
    w = ag.Tensor(np.zeros((3, 4)))
    w.grad = g.copy()
    t = torch.zeros(3, 4, dtype=torch.float64, requires_grad=True)
    t.grad = torch.tensor(g)
    assert clip_grad_norm([w], 0.5) == pytest.approx(float(torch.nn.utils.clip_grad_norm_([t], 0.5)))
    np.testing.assert_allclose(w.grad, t.grad.numpy(), rtol=1e-6)
