"""``ag.tensor``: the Tensor engine's public names in one place, and ``ag.tensor(...)``.

>>> import ag
>>> W = ag.tensor([[1.0, 2.0], [3.0, 4.0]], label="W")
>>> x = ag.tensor([1.0, -1.0], label="x")
>>> y = ag.relu(W @ x + 2.0).sum()      # W @ x + 2 = [1, 1]
>>> y.backward()
>>> W.grad
array([[ 1., -1.],
       [ 1., -1.]])

Where things are: the Tensor node and its backward step in ``ag.ops.core``, the
op-author API in ``ag.ops.api``, the ops by family in ``ag/ops/*.py`` (each with
its backward rules and their text side by side, registered in ``ag.registry``).
This module only gathers their public names; nothing imports back from it.
"""

from __future__ import annotations

import sys
from typing import Any

from ag import registry
from ag.backend import array_module_of
from ag.ops.arithmetic import add, div, mul, neg, power, sub
from ag.ops.core import Tensor, custom_op, from_numpy, sum_to_shape, tensor
from ag.ops.elementwise import (
    absolute,
    clip,
    exp,
    log,
    maximum,
    minimum,
    relu,
    sigmoid,
    sqrt,
    tanh,
    where,
)
from ag.ops.factories import arange, ones, ones_like, rand, randn, randn_like, zeros, zeros_like
from ag.ops.indexing import concatenate, getitem, index_add, split, stack
from ag.ops.linalg import matmul, spcmatmul
from ag.ops.reductions import mean, tmax, tmin, tsum, var
from ag.ops.shape import (
    broadcast_to,
    expand_dims,
    flatten,
    moveaxis,
    reshape,
    squeeze,
    swapaxes,
    transpose,
)
from ag.ops.softmax import log_softmax, logsumexp, softmax, softmax_cross_entropy

__all__ = [
    "Tensor", "tensor", "custom_op", "from_numpy", "sum_to_shape", "array_module_of",
    "add", "sub", "mul", "div", "neg", "power", "absolute", "clip", "exp", "log", "maximum",
    "minimum", "relu", "sigmoid", "sqrt", "tanh", "where", "arange", "ones", "ones_like", "rand",
    "randn", "randn_like", "zeros", "zeros_like", "concatenate", "getitem", "index_add", "split",
    "stack", "matmul", "spcmatmul", "mean", "tmax", "tmin", "tsum", "var", "broadcast_to",
    "expand_dims", "flatten", "moveaxis", "reshape", "squeeze", "swapaxes", "transpose",
    "log_softmax", "logsumexp", "softmax", "softmax_cross_entropy",
]


def __getattr__(name: str) -> Any:
    # an op registered in ag.registry (ag.tensor.einsum) without a line here
    entry = registry.tensor_ops().get(name) if not name.startswith("_") else None
    if entry is None or entry.function is None:
        raise AttributeError(f"module 'ag.tensor' has no attribute {name!r}")
    return entry.function


# `ag.tensor(...)` is the course's constructor, and `ag.tensor` is also this module:
# importing `ag.tensor` rebinds the package attribute to the module, so the module
# itself is made callable and forwards to the constructor.
class _CallableModule(sys.modules[__name__].__class__):
    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        return tensor(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
