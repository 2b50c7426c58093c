"""Optimizer.step refuses a parameter it cannot update before it changes anything.

A read-only parameter (``ag.from_numpy`` of ``np.load(..., mmap_mode="r")``) used to
raise a bare "output array is read-only" after the earlier parameters had been
updated, with ``t`` already 1 and Adam's state made.
"""

from __future__ import annotations

import numpy as np
import pytest

import ag
from ag.optim import SGD, Adam, AdamW


def _optimizers(params):
    yield SGD(params, lr=0.1)
    yield SGD(params, lr=0.1, momentum=0.9)
    yield Adam(params, lr=0.1)
    yield AdamW(params, lr=0.1)


@pytest.mark.parametrize("k", range(4), ids=["sgd", "momentum", "adam", "adamw"])
def test_a_read_only_parameter_is_refused_before_any_update(tmp_path, k):
    np.save(tmp_path / "frozen.npy", np.arange(3.0))
    frozen = ag.from_numpy(np.load(tmp_path / "frozen.npy", mmap_mode="r"), label="frozen")
    assert not frozen.value.flags.writeable
    w = ag.tensor([1.0, 2.0], label="w")
    (w * w).sum().backward()
    frozen.grad = np.ones(3)
    opt = list(_optimizers([w, frozen]))[k]
    with pytest.raises(ValueError, match=r"parameter 1 \('frozen' \(3,\)\): its value is a read-only "
                                         r"array.*nothing was updated"):
        opt.step()
    np.testing.assert_array_equal(w.value, [1.0, 2.0])  # the earlier parameter too
    np.testing.assert_array_equal(frozen.value, [0.0, 1.0, 2.0])
    assert opt.t == 0 and opt.state == {}
    frozen.value = frozen.value.copy()  # the fix the message suggests
    opt.step()
    assert opt.t == 1 and not np.array_equal(w.value, [1.0, 2.0])


def test_a_read_only_parameter_without_a_grad_is_skipped_as_before():
    frozen = ag.from_numpy(np.arange(3.0), label="frozen")
    frozen.value.flags.writeable = False
    w = ag.tensor([1.0], label="w")
    w.grad = np.ones(1)
    opt = SGD([w, frozen], lr=0.5)
    opt.step()
    np.testing.assert_array_equal(w.value, [0.5])
