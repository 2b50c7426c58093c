"""ag.nn losses: values, stability, gradients, label errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ag
import ag.nn as nn
import ag.nn.functional as F
from ag.testing import gradcheck


def _x(*shape, seed=0, scale=1.0):
    return ag.Tensor(scale * np.random.default_rng(seed).standard_normal(shape), label="logits")


def test_cross_entropy_value_by_hand():
    # log(e^2 + e^0 + e^-1) - 2 for label 0;  log(e^0 + e^0 + e^-inf) - 0 = log 2 for label 1
    logits = ag.Tensor([[2.0, 0.0, -1.0], [0.0, 0.0, -math.inf]])
    expected = [math.log(math.exp(2) + 1 + math.exp(-1)) - 2, math.log(2.0)]
    per_row = F.cross_entropy(logits, np.array([0, 1]), reduction="none").value
    np.testing.assert_allclose(per_row, expected, rtol=1e-12)
    assert F.cross_entropy(logits, np.array([0, 1])).item() == pytest.approx(sum(expected) / 2)
    assert F.cross_entropy(logits, np.array([0, 1]), reduction="sum").item() == pytest.approx(sum(expected))


def test_cross_entropy_is_stable_for_huge_logits():
    logits = ag.Tensor([[1000.0, 0.0], [-1000.0, 1000.0]])
    loss = F.cross_entropy(logits, np.array([1, 0]), reduction="none")
    np.testing.assert_allclose(loss.value, [1000.0, 2000.0])
    loss.sum().backward()
    np.testing.assert_allclose(logits.grad, [[1.0, -1.0], [-1.0, 1.0]])


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5)])
def test_cross_entropy_gradient(shape):
    labels = np.random.default_rng(1).integers(0, shape[-1], size=shape[:-1])
    assert gradcheck(lambda z: F.cross_entropy(z, labels), _x(*shape))


def test_cross_entropy_ignore_index():
    z = _x(2, 3, 4)
    labels = np.array([[1, -1, 3], [-1, 0, 2]])
    assert gradcheck(lambda z: F.cross_entropy(z, labels, ignore_index=-1), z)
    full = F.cross_entropy(z, labels, reduction="none", ignore_index=-1).value
    assert full[0, 1] == 0.0 and full[1, 0] == 0.0
    kept = [(0, 0), (0, 2), (1, 1), (1, 2)]
    mean = F.cross_entropy(z, labels, ignore_index=-1).item()
    assert mean == pytest.approx(sum(full[i] for i in kept) / 4)  # averaged over the 4 kept


@pytest.mark.torch
def test_cross_entropy_and_bce_match_torch():
    torch = pytest.importorskip("torch")
    z = np.random.default_rng(0).standard_normal((6, 5)) * 3
    y = np.array([0, 4, 2, 2, 1, 3])
    ours = F.cross_entropy(ag.Tensor(z), y).item()
    assert ours == pytest.approx(
        torch.nn.functional.cross_entropy(torch.tensor(z), torch.tensor(y)).item(), rel=1e-12
    )
    t = (np.random.default_rng(1).random((6, 5)) > 0.5).astype(float)
    ours = F.binary_cross_entropy_with_logits(ag.Tensor(z), t).item()
    theirs = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(z), torch.tensor(t)).item()
    assert ours == pytest.approx(theirs, rel=1e-12)


@pytest.mark.parametrize("bad", [3, -2])
def test_cross_entropy_label_out_of_range(bad):
    with pytest.raises(
        ValueError, match=rf"label {bad} is out of range for 3 classes \(labels must be 0\.\.2\)"
    ):
        nn.CrossEntropyLoss()(_x(2, 3), np.array([0, bad]))


def test_cross_entropy_label_shape_and_type_errors():
    with pytest.raises(ValueError, match=r"need labels of shape \(2,\), got \(3,\)"):
        F.cross_entropy(_x(2, 3), np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="integer class indices"):
        F.cross_entropy(_x(2, 3), np.array([0.5, 1.0]))


def test_bce_with_logits_value_stability_and_gradient():
    z = ag.Tensor([0.0, 800.0, -800.0])
    t = np.array([1.0, 0.0, 0.0])
    np.testing.assert_allclose(
        F.binary_cross_entropy_with_logits(z, t, reduction="none").value, [math.log(2.0), 800.0, 0.0]
    )
    targets = (np.random.default_rng(2).random((3, 4)) > 0.5).astype(float)
    assert gradcheck(lambda z: nn.BCEWithLogitsLoss()(z, targets), _x(3, 4, scale=3.0))
    with pytest.raises(ValueError, match="targets shape"):
        F.binary_cross_entropy_with_logits(ag.Tensor([0.0, 1.0]), np.array([1.0]))


def test_mse_value_gradient_and_shape_error():
    pred = ag.Tensor([1.0, 2.0, 4.0])
    assert nn.MSELoss()(pred, np.array([1.0, 0.0, 1.0])).item() == pytest.approx((0 + 4 + 9) / 3)
    assert nn.MSELoss(reduction="sum")(pred, np.array([1.0, 0.0, 1.0])).item() == pytest.approx(13.0)
    target = np.random.default_rng(3).standard_normal((4, 2))
    assert gradcheck(lambda p: F.mse_loss(p, target), _x(4, 2))
    with pytest.raises(ValueError, match=r"prediction shape \(3,\) != target shape \(2,\)"):
        F.mse_loss(pred, np.zeros(2))
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(pred, np.zeros(3), reduction="avg")


def test_accuracy_helper():
    logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert F.accuracy(logits, np.array([1, 1, 1])) == pytest.approx(2 / 3)
    assert F.accuracy(logits, np.array([1, -1, 0]), ignore_index=-1) == pytest.approx(0.5)
