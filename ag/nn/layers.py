"""Feed-forward layers: Linear, activations, containers, Dropout, Embedding, norms, MLP.

Weights follow the course's orientation: ``Linear`` computes ``X @ W + b`` with
``W`` of shape ``(in_features, out_features)``. Each layer checks its input's rank
and feature size and names itself and the expected shape when they are wrong.

>>> import ag, numpy as np
>>> ag.nn.init.manual_seed(0)
>>> net = ag.nn.Sequential(ag.nn.Linear(4, 8), ag.nn.ReLU(), ag.nn.Linear(8, 3))
>>> net(np.ones((2, 4))).shape
(2, 3)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import ag
from ag.nn import functional as F
from ag.nn import init as _init
from ag.nn.module import Module, as_tensor, check_input

__all__ = [
    "Linear",
    "ReLU",
    "Tanh",
    "Sigmoid",
    "Identity",
    "Sequential",
    "Residual",
    "Flatten",
    "Dropout",
    "Embedding",
    "LayerNorm",
    "BatchNorm1d",
    "BatchNorm2d",
    "MLP",
]


def _param(array: np.ndarray, label: str, dtype: Any) -> Any:
    return ag.Tensor(array, label=label, dtype=dtype or np.float64)


class Linear(Module):
    """``y = x @ weight + bias``; ``weight`` is ``(in_features, out_features)``.

    Input ``(..., in_features)``, output ``(..., out_features)``. Weights start
    ``U(-1/sqrt(in), 1/sqrt(in))`` (PyTorch's default scale), or from ``init``:
    ``"kaiming_normal"``, ``"kaiming_uniform"``, ``"xavier_normal"``,
    ``"xavier_uniform"``. The bias starts at the same uniform scale.

    >>> import ag, numpy as np
    >>> Linear(3, 2)(np.ones((5, 3))).shape
    (5, 2)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        init: str | None = None,
        dtype: Any = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        shape = (in_features, out_features)
        bound = 1.0 / np.sqrt(in_features)
        if init is None:
            w = _init.uniform(shape, bound, rng)
        else:
            makers = {
                "kaiming_normal": _init.kaiming_normal,
                "kaiming_uniform": _init.kaiming_uniform,
                "xavier_normal": _init.xavier_normal,
                "xavier_uniform": _init.xavier_uniform,
            }
            if init not in makers:
                raise ValueError(f"Linear init must be one of {sorted(makers)}, got {init!r}")
            w = makers[init](shape, rng=rng)
        self.weight = _param(w, "weight", dtype)
        self.bias = _param(_init.uniform((out_features,), bound, rng), "bias", dtype) if bias else None

    def forward(self, x: Any) -> Any:
        x = as_tensor(x, self.weight.dtype)
        check_input(self, x, 0, self.in_features, f"(..., {self.in_features})")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
        )


class ReLU(Module):
    """``max(x, 0)`` elementwise."""

    def forward(self, x: Any) -> Any:
        return ag.relu(as_tensor(x))


class Tanh(Module):
    """``tanh(x)`` elementwise."""

    def forward(self, x: Any) -> Any:
        return ag.tanh(as_tensor(x))


class Sigmoid(Module):
    """``1 / (1 + exp(-x))`` elementwise (stable)."""

    def forward(self, x: Any) -> Any:
        return ag.sigmoid(as_tensor(x))


class Identity(Module):
    """Returns its input unchanged (a placeholder layer)."""

    def forward(self, x: Any) -> Any:
        return as_tensor(x)


class Sequential(Module):
    """Layers applied in order; index it, slice it, iterate over it.

    >>> import ag
    >>> net = Sequential(ag.nn.Linear(2, 2), ag.nn.Tanh())
    >>> len(net), type(net[1]).__name__
    (2, 'Tanh')
    """

    def __init__(self, *layers: Callable[[Any], Any]) -> None:
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], list | tuple):
            layers = tuple(layers[0])
        self.layers = list(layers)

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return Sequential(*self.layers[index])
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.layers)

    def append(self, layer: Callable[[Any], Any]) -> Sequential:
        self.layers.append(layer)
        return self


class Residual(Module):
    """``x + fn(x)``: a skip connection around ``fn`` (which must keep the shape)."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Any) -> Any:
        x = as_tensor(x)
        y = self.fn(x)
        if tuple(y.shape) != tuple(x.shape):
            raise ValueError(
                f"Residual: the wrapped {type(self.fn).__name__} maps {tuple(x.shape)} to "
                f"{tuple(y.shape)}; a skip connection needs the same shape"
            )
        return x + y


class Flatten(Module):
    """Merge axes ``start_axis..`` into one: ``(N, C, H, W) -> (N, C*H*W)`` by default."""

    def __init__(self, start_axis: int = 1) -> None:
        super().__init__()
        self.start_axis = start_axis

    def forward(self, x: Any) -> Any:
        x = as_tensor(x)
        if x.ndim <= self.start_axis:
            raise ValueError(
                f"{self!r} expects an input of rank > {self.start_axis}, got shape {tuple(x.shape)}"
            )
        return x.reshape(*x.shape[: self.start_axis], -1)

    def extra_repr(self) -> str:
        return f"start_axis={self.start_axis}"


class Dropout(Module):
    """In training, zero each element with probability ``p`` and scale the rest by
    ``1/(1-p)``; in eval mode, the identity.

    Random numbers come from ``rng`` or the shared generator (``ag.nn.init.manual_seed``).
    """

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout p must be in [0, 1), got {p}")
        self.p = p
        self.rng = rng

    def forward(self, x: Any) -> Any:
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Embedding(Module):
    """A lookup table: integer indices ``(...)`` -> rows ``(..., embedding_dim)``.

    Rows start ``N(0, 1)`` (PyTorch's default).
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        *,
        dtype: Any = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = _param(_init.normal((num_embeddings, embedding_dim), 1.0, rng), "embedding", dtype)

    def forward(self, indices: Any) -> Any:
        return F.embedding(indices, self.weight)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class LayerNorm(Module):
    """Normalise each sample over its last axes, then scale and shift.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias`` over the trailing
    ``normalized_shape`` (an int or a tuple); ``weight`` starts at 1, ``bias`` at 0.
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...],
        eps: float = 1e-5,
        affine: bool = True,
        *,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.normalized_shape = (
            (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        )
        self.eps = eps
        self.weight = _param(np.ones(self.normalized_shape), "ln_weight", dtype) if affine else None
        self.bias = _param(np.zeros(self.normalized_shape), "ln_bias", dtype) if affine else None

    def forward(self, x: Any) -> Any:
        x = as_tensor(x)
        k = len(self.normalized_shape)
        if x.ndim < k or tuple(x.shape[-k:]) != self.normalized_shape:
            raise ValueError(
                f"LayerNorm({self.extra_repr()}) expects input of shape (..., "
                f"{', '.join(map(str, self.normalized_shape))}), got {tuple(x.shape)}"
            )
        return F.layer_norm(x, self.weight, self.bias, k, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"


class _BatchNorm(Module):
    ranks: tuple[int, ...] = ()
    layout = ""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        *,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = _param(np.ones(num_features), "bn_weight", dtype) if affine else None
        self.bias = _param(np.zeros(num_features), "bn_bias", dtype) if affine else None
        self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype or np.float64))
        self.register_buffer("running_var", np.ones(num_features, dtype=dtype or np.float64))

    def forward(self, x: Any) -> Any:
        x = as_tensor(x)
        if x.ndim not in self.ranks or x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}({self.extra_repr()}) expects input of shape "
                f"{self.layout.format(C=self.num_features)}, got {tuple(x.shape)}"
            )
        if self.training and x.size // x.shape[1] < 2:
            raise ValueError(f"{type(self).__name__}: training needs more than one value per channel")
        return F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training,
            self.momentum,
            self.eps,
        )

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of ``(N, C)`` or ``(N, C, L)`` inputs, per feature ``C``.

    Training: normalise with the batch's statistics and update ``running_mean`` /
    ``running_var`` (buffers: saved in the state dict) as
    ``running <- (1 - momentum) * running + momentum * batch`` (unbiased variance).
    Eval: normalise with the running statistics.
    """

    ranks = (2, 3)
    layout = "(N, {C}) or (N, {C}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of ``(N, C, H, W)`` images, per channel (see BatchNorm1d)."""

    ranks = (4,)
    layout = "(N, {C}, H, W)"


class MLP(Module):
    """The course's MLP, ``relu(X @ Wh + bh) @ Wo + bo``, with optional extra depth.

    ``MLP(n_features, n_hidden)`` maps ``(..., n_features)`` back to
    ``(..., n_features)`` as in the course's transformer block; pass ``n_out`` for
    another output size and ``hidden_layers`` for more hidden layers.

    >>> import numpy as np
    >>> MLP(64, 128, 10, hidden_layers=2)(np.zeros((5, 64))).shape
    (5, 10)
    """

    def __init__(
        self,
        n_features: int,
        n_hidden: int,
        n_out: int | None = None,
        *,
        hidden_layers: int = 1,
        activation: str = "relu",
        dropout: float = 0.0,
        dtype: Any = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        acts = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid}
        if activation not in acts:
            raise ValueError(f"MLP activation must be one of {sorted(acts)}, got {activation!r}")
        if hidden_layers < 1:
            raise ValueError("MLP needs at least one hidden layer")
        n_out = n_features if n_out is None else n_out
        sizes = [n_features] + [n_hidden] * hidden_layers
        layers: list[Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [Linear(a, b, init="kaiming_uniform", dtype=dtype, rng=rng), acts[activation]()]
            if dropout:
                layers.append(Dropout(dropout))
        layers.append(Linear(n_hidden, n_out, dtype=dtype, rng=rng))
        self.layers = layers
        self.n_features, self.n_hidden, self.n_out = n_features, n_hidden, n_out

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x
