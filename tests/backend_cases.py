"""Cases for the backend suite: every Tensor op, and the nn/optim/data pieces, as small
deterministic computations that tests/gpu/test_backends.py runs on NumPy, on the strict
fake device and (where a GPU is there) on CuPy, comparing values and gradients.

An op case is ``(fn, input shapes, options)``; its inputs are drawn from a fixed seed,
positive where the op needs it. The NumPy run is the reference: the op suite
(tests/ops/test_tensor_ops.py) checks it against finite differences.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

import ag

SPARSE = sp.random(6, 4, density=0.5, random_state=np.random.default_rng(3), format="csr")


def _sparse_on(device: str) -> Any:
    return ag.gpu.to_device_sparse(SPARSE, device)


@dataclass
class OpCase:
    fn: Callable[..., Any]
    shapes: tuple[tuple[int, ...], ...]
    positive: bool = False
    second_order: bool = True
    needs_device: bool = False  # fn takes the device name as its first argument
    extra: dict = field(default_factory=dict)

    def inputs(self, seed: int = 0) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        arrays = [rng.standard_normal(s) for s in self.shapes]
        return [np.abs(a) + 0.5 for a in arrays] if self.positive else arrays


OP_CASES: dict[str, OpCase] = {
    # elementwise
    "add_broadcast": OpCase(lambda a, b: a + b, ((2, 3), (3,))),
    "sub_scalar": OpCase(lambda a: 2.0 - a - 1, ((3,),)),
    "mul_broadcast": OpCase(lambda a, b: a * b, ((2, 1, 3), (4, 1))),
    "div": OpCase(lambda a, b: a / b, ((2, 3), (2, 3)), positive=True),
    "neg": OpCase(lambda a: -a, ((4,),)),
    "pow_const": OpCase(lambda a: a**3 + a**0.5, ((3,),), positive=True),
    "pow_tensor": OpCase(lambda a, b: a**b, ((3,), (3,)), positive=True),
    "rpow_number": OpCase(lambda a: 2.0**a, ((3,),)),
    "numpy_scalar": OpCase(lambda a: a * np.float32(2.0) + np.int64(1), ((3,),)),
    "exp_log_sqrt": OpCase(lambda a: ag.exp(a) + ag.log(a) + ag.sqrt(a), ((2, 3),), positive=True),
    "abs": OpCase(lambda a: ag.abs(a), ((5,),)),
    "relu_tanh_sigmoid": OpCase(lambda a: ag.relu(a) + ag.tanh(a) + ag.sigmoid(a), ((2, 4),)),
    "maximum_minimum": OpCase(lambda a, b: ag.maximum(a, b) + ag.minimum(a, 0.1), ((2, 3), (3,))),
    "where": OpCase(lambda a, b: ag.where(a > 0, a, b), ((2, 3), (2, 3))),
    "clip": OpCase(lambda a: ag.clip(a, -0.5, 0.5), ((6,),)),
    # reductions
    "sum_axis": OpCase(lambda a: a.sum(axis=1) + a.sum(), ((2, 3),)),
    "mean_keepdims": OpCase(lambda a: a.mean(axis=0, keepdims=True), ((3, 2),)),
    "var": OpCase(lambda a: a.var(axis=-1, ddof=1), ((2, 4),)),
    "max_min": OpCase(lambda a: a.max(axis=1) + a.min(), ((3, 4),), second_order=False),
    # matrix products
    "matmul": OpCase(lambda a, b: a @ b, ((2, 3), (3, 4))),
    "matmul_batched": OpCase(lambda a, b: a @ b, ((2, 2, 3), (3, 4))),
    "matmul_vector": OpCase(lambda a, b: (a @ b) + (b @ a.T), ((2, 3), (3,))),
    "spcmatmul_right": OpCase(lambda d, x: ag.spcmatmul(x, _sparse_on(d)), ((3, 6),), needs_device=True),
    "spcmatmul_left": OpCase(lambda d, x: ag.spcmatmul(_sparse_on(d), x), ((4, 2),), needs_device=True),
    # shapes
    "reshape_transpose": OpCase(lambda a: a.reshape(3, 2).T.reshape(-1), ((2, 3),)),
    "moveaxis_swapaxes": OpCase(lambda a: ag.moveaxis(a, 0, 2).swapaxes(0, 1), ((2, 3, 4),)),
    "squeeze_expand": OpCase(lambda a: ag.expand_dims(ag.squeeze(a), 0), ((1, 3),)),
    "broadcast_to": OpCase(lambda a: ag.broadcast_to(a, (2, 3)), ((3,),)),
    "getitem_basic": OpCase(lambda a: a[1:, ::2], ((3, 4),)),
    "getitem_repeated": OpCase(lambda a: a[[0, 2, 0]], ((3, 2),)),
    "getitem_host_int_array": OpCase(lambda a: a[np.array([1, 1, 0])], ((3, 2),)),
    "concatenate_stack": OpCase(
        lambda a, b: ag.concatenate([a, b], axis=1) + ag.stack([a, b]).sum(axis=0).sum(), ((2, 2), (2, 2))
    ),
    "split": OpCase(lambda a: ag.split(a, 2, axis=1)[1] * 2, ((2, 4),)),
    # softmax family
    "softmax": OpCase(lambda a: ag.softmax(a, axis=1), ((2, 3),)),
    "log_softmax": OpCase(lambda a: ag.log_softmax(a, axis=-1), ((2, 3),)),
    "logsumexp": OpCase(lambda a: ag.logsumexp(a, axis=0), ((3, 2),)),
    # the kit's own helpers
    "factories_like": OpCase(lambda a: a * ag.ones_like(a) + ag.zeros_like(a), ((3,),)),
    "to_and_back": OpCase(lambda d, a: (a.to("cpu") * 2.0).to(d) * a, ((3,),), needs_device=True),
}


# -- models: modules, losses, optimizers ------------------------------------------------------


def _mlp() -> Any:
    return ag.nn.MLP(4, 8, 3, hidden_layers=2, rng=np.random.default_rng(0))


def _norms() -> Any:
    return ag.nn.Sequential(
        ag.nn.Linear(4, 6, rng=np.random.default_rng(1)), ag.nn.LayerNorm(6), ag.nn.BatchNorm1d(6),
        ag.nn.Tanh(), ag.nn.Linear(6, 3, rng=np.random.default_rng(2)),
    )


def _cnn() -> Any:
    rng = np.random.default_rng(4)
    return ag.nn.Sequential(
        ag.nn.Conv2d(1, 2, 3, padding=1, rng=rng), ag.nn.ReLU(), ag.nn.MaxPool2d(2),
        ag.nn.Conv2d(2, 2, 3, rng=rng), ag.nn.AvgPool2d(2, stride=1),
        ag.nn.Flatten(), ag.nn.Linear(2, 3, rng=rng),
    )


def _attention() -> Any:
    return ag.nn.TransformerBlock(8, 16, n_heads=2, causal=True, residual=True, norm="pre",
                                  rng=np.random.default_rng(5))


def _rnn() -> Any:
    return ag.nn.RNN(3, 4, rng=np.random.default_rng(6))


def _lstm() -> Any:
    return ag.nn.LSTM(3, 4, rng=np.random.default_rng(8))


def _conv_bn() -> Any:
    rng = np.random.default_rng(9)
    return ag.nn.Sequential(
        ag.nn.Conv2d(2, 3, 3, stride=2, padding=1, rng=rng), ag.nn.BatchNorm2d(3), ag.nn.Sigmoid(),
        ag.nn.AvgPool2d(2), ag.nn.Flatten(), ag.nn.Linear(12, 3, rng=rng),
    )


def _residual_dropout() -> Any:
    rng = np.random.default_rng(10)
    return ag.nn.Sequential(
        ag.nn.Residual(ag.nn.Linear(4, 4, rng=rng)), ag.nn.Dropout(0.3, rng=np.random.default_rng(11)),
        ag.nn.Identity(), ag.nn.Linear(4, 3, rng=rng),
    )


def _attention_heads() -> Any:
    rng = np.random.default_rng(12)
    return ag.nn.Sequential(
        ag.nn.SingleHeadAttention(8, causal=True, rng=rng),
        ag.nn.MultiHeadAttention(8, 2, causal=True, bias=True, rng=rng),  # its dropout is unseeded
    )


class _EmbedThenPool(ag.nn.Module):
    """Token ids in the input's first feature, embedded, averaged over the sequence."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = ag.nn.Embedding(5, 4, rng=np.random.default_rng(13))
        self.out = ag.nn.Linear(4, 3, rng=np.random.default_rng(14))

    def forward(self, x: Any) -> Any:
        ids = (abs(x.value[..., 0]) * 2).astype(int) % 5  # integer ids on x's device
        return self.out(self.embed(ids).mean(axis=1))


@dataclass
class ModelCase:
    build: Callable[[], Any]
    x_shape: tuple[int, ...]
    loss: str = "cross_entropy"  # or "mse"
    n_classes: int = 3


MODEL_CASES: dict[str, ModelCase] = {
    "mlp": ModelCase(_mlp, (5, 4)),
    "norms": ModelCase(_norms, (5, 4)),
    "cnn": ModelCase(_cnn, (2, 1, 8, 8)),
    "transformer_block": ModelCase(_attention, (2, 5, 8), loss="mse"),
    "rnn": ModelCase(_rnn, (2, 4, 3), loss="mse"),
    "lstm": ModelCase(_lstm, (2, 4, 3), loss="mse"),
    "conv_batchnorm": ModelCase(_conv_bn, (3, 2, 8, 8)),
    "residual_dropout": ModelCase(_residual_dropout, (5, 4)),
    "attention_heads": ModelCase(_attention_heads, (2, 5, 8), loss="mse"),
    "embedding": ModelCase(_EmbedThenPool, (4, 6, 2)),
}
