"""Stateless forms of the layers and losses: plain functions of Tensors.

Every function is built from differentiable ``ag`` ops, so gradients (and
``create_graph`` higher-order gradients) come for free. Inputs may be Tensors or
arrays; class labels are integer NumPy arrays.

>>> import ag, numpy as np
>>> import ag.nn.functional as F
>>> logits = ag.Tensor([[2.0, 0.0, -1.0]])
>>> round(F.cross_entropy(logits, np.array([0])).item(), 4)
0.1698
"""

from __future__ import annotations

from typing import Any

import numpy as np

import ag
from ag import registry
from ag.backend import to_host
from ag.nn.conv_functional import avg_pool2d, conv2d, im2col, im2col_matrix, max_pool2d  # noqa: F401
from ag.nn.init import default_rng
from ag.nn.module import as_tensor

__all__ = [
    "linear",
    "dropout",
    "layer_norm",
    "batch_norm",
    "embedding",
    "causal_mask",
    "mse_loss",
    "cross_entropy",
    "binary_cross_entropy_with_logits",
    "accuracy",
]

# A large negative number instead of -inf for masked attention scores: exp() of it
# is exactly 0 after the max is subtracted, and anomaly mode sees only finite values.
MASKED_SCORE = -1e9


def on_device_of(array: np.ndarray, like: Any) -> Any:
    """A host constant moved to the array module of the Tensor ``like`` (NumPy or CuPy).

    >>> import ag
    >>> on_device_of(np.ones(2), ag.tensor([0.0])).__class__.__name__
    'ndarray'
    """
    from ag.backend import array_module_of

    xp = array_module_of(like.value)
    return array if xp is np else xp.asarray(array)


def _array(x: Any, like: Any = None) -> Any:
    """The array inside ``x`` (a Tensor's value, or ``x``), left on its device (never
    ``np.asarray`` of a CuPy array); with ``like`` (a Tensor), moved to ``like``'s device."""
    from ag.backend import array_module_of

    v = getattr(x, "value", x)
    if not hasattr(v, "dtype") or isinstance(v, np.generic):
        v = np.asarray(v)
    if like is not None and not (isinstance(v, np.ndarray) and array_module_of(like.value) is np):
        from ag.gpu.device import device_of, move_array

        v = move_array(v, device_of(like.value))
    return v


def _host(x: Any) -> np.ndarray:
    """A NumPy copy of ``x``'s array (``.get()`` for device arrays), for host-side metrics."""
    return to_host(getattr(x, "value", x))


def _xp(array: Any) -> Any:
    from ag.backend import array_module_of

    return array_module_of(array)


def _reduce(loss: Any, reduction: str) -> Any:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def linear(x: Any, weight: Any, bias: Any = None) -> Any:
    """``x @ weight + bias`` with ``weight`` of shape ``(in, out)`` (the course's order).

    Inputs of rank > 2 are folded to 2-D first so the product is one matrix
    multiply (and the weight gradient one more), not a batch of small ones.
    """
    x = as_tensor(x, weight.dtype)
    if x.ndim > 2:
        lead = x.shape[:-1]
        out = x.reshape(-1, x.shape[-1]) @ weight
        if bias is not None:
            out = out + bias
        return out.reshape(*lead, weight.shape[-1])
    out = x @ weight
    return out + bias if bias is not None else out


def dropout(x: Any, p: float = 0.5, training: bool = True, rng: np.random.Generator | None = None) -> Any:
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)`` (training only).

    The scaling keeps the expected value, so evaluation is the identity. Draws from
    ``rng`` or the shared generator of :mod:`ag.nn.init`.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    x = as_tensor(x)
    if not training or p == 0.0:
        return x
    gen = default_rng() if rng is None else rng
    keep = gen.random(x.shape) >= p
    return x * on_device_of(keep.astype(x.dtype) / (1.0 - p), x)


def layer_norm(x: Any, weight: Any = None, bias: Any = None, n_axes: int = 1, eps: float = 1e-5) -> Any:
    """Normalise over the last ``n_axes`` axes: ``(x - mean) / sqrt(var + eps) * weight + bias``.

    ``var`` is the biased (population) variance, as in PyTorch.
    """
    x = as_tensor(x)
    axes = tuple(range(x.ndim - n_axes, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    var = (centered * centered).mean(axis=axes, keepdims=True)
    out = centered / ag.sqrt(var + eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def batch_norm(
    x: Any,
    running_mean: np.ndarray | None,
    running_var: np.ndarray | None,
    weight: Any = None,
    bias: Any = None,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Any:
    """Batch normalisation over every axis except 1 (the channel/feature axis).

    Training: normalise with the batch mean and biased variance, and update the
    running statistics in place (``running <- (1 - momentum) * running + momentum *
    batch``, the variance unbiased, as PyTorch). Evaluation: use the running ones.
    ``weight``/``bias`` have shape ``(C,)``.
    """
    x = as_tensor(x)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if training:
        mean = x.mean(axis=axes, keepdims=True)
        centered = x - mean
        var = (centered * centered).mean(axis=axes, keepdims=True)
        if running_mean is not None:
            n = x.size // x.shape[1]
            batch_mean = mean.value.reshape(-1)
            batch_var = var.value.reshape(-1) * (n / max(n - 1, 1))
            running_mean *= 1.0 - momentum
            running_mean += momentum * batch_mean
            running_var *= 1.0 - momentum
            running_var += momentum * batch_var
        out = centered / ag.sqrt(var + eps)
    else:
        if running_mean is None:
            raise ValueError("batch_norm in eval mode needs running statistics")
        scale = 1.0 / np.sqrt(running_var.reshape(shape) + eps)
        out = (x - running_mean.reshape(shape).astype(x.dtype)) * scale.astype(x.dtype)
    if weight is not None:
        out = out * weight.reshape(*shape)
    if bias is not None:
        out = out + bias.reshape(*shape)
    return out


def embedding(indices: Any, weight: Any) -> Any:
    """Rows of ``weight`` picked by integer ``indices``: shape ``indices.shape + (dim,)``."""
    idx = _array(indices, like=weight)
    xp = _xp(idx)
    if idx.dtype.kind == "f":
        if not bool(xp.all(idx == xp.round(idx))):
            raise TypeError("embedding: indices must be integers")
        idx = idx.astype(np.int64)
    elif idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {idx.dtype}")
    n = weight.shape[0]
    if idx.size and (bool(idx.min() < 0) or bool(idx.max() >= n)):
        bad = idx[(idx < 0) | (idx >= n)]
        raise IndexError(f"embedding: index {int(bad.ravel()[0])} is out of range for {n} embeddings")
    return weight[idx]


def causal_mask(n: int) -> np.ndarray:
    """``(n, n)`` boolean array, True where query ``i`` may attend key ``j`` (``j <= i``)."""
    return np.tril(np.ones((n, n), dtype=bool))


# --------------------------------------------------------------------------- losses


def mse_loss(pred: Any, target: Any, reduction: str = "mean") -> Any:
    """Mean squared error ``mean((pred - target)**2)`` (``reduction`` 'mean', 'sum', 'none')."""
    pred = as_tensor(pred)
    if not hasattr(target, "requires_grad"):  # raw data goes where the prediction is
        target = _array(target, like=pred)
    if tuple(target.shape) != tuple(pred.shape):
        raise ValueError(
            f"mse_loss: prediction shape {tuple(pred.shape)} != target shape {tuple(target.shape)}"
        )
    diff = pred - target
    return _reduce(diff * diff, reduction)


def _labels(labels: Any, like: Any, ignore_index: int | None) -> Any:
    """Integer labels on ``like``'s device, checked against ``like``'s shape ``(..., C)``."""
    n_classes, batch_shape = like.shape[-1], tuple(like.shape[:-1])
    if type(labels) is np.ndarray and labels.dtype.kind in "iu" and type(like.value) is np.ndarray:
        y = labels  # the common case, NumPy int labels for host logits: nothing to convert
    else:
        y = _array(labels, like=like)
        xp = _xp(y)
        if y.dtype.kind == "f":
            whole = xp.isfinite(y) & (y == xp.round(y))
            if not bool(xp.all(whole)):
                raise TypeError(
                    f"cross_entropy: labels of shape {tuple(y.shape)} (dtype {y.dtype}) hold "
                    f"{float(y[~whole].ravel()[0])!r}; labels must be integer class indices "
                    f"0..{n_classes - 1} for logits of shape {tuple(like.shape)}"
                )
            y = y.astype(np.int64)
        elif y.dtype.kind not in "iu":
            raise TypeError(
                f"cross_entropy: labels must be integer class indices 0..{n_classes - 1} for logits "
                f"of shape {tuple(like.shape)}, got dtype {y.dtype}"
            )
    if y.shape != batch_shape:
        raise ValueError(
            f"cross_entropy: logits of shape {batch_shape + (n_classes,)} need labels of shape "
            f"{batch_shape}, got {y.shape}"
        )
    if ignore_index is None and type(y) is np.ndarray and (y.dtype.kind == "u" or y.dtype.itemsize >= 4):
        # one reduction: read as unsigned, a negative label of 32 or 64 bits is >= 2**31,
        # more classes than any logits have (an 8- or 16-bit one might not be: full check)
        if y.size == 0 or int(y.view(f"u{y.dtype.itemsize}").max()) < n_classes:
            return y
    bad = (y < 0) | (y >= n_classes)
    if ignore_index is not None:
        bad &= y != ignore_index
    if bool(bad.any()):
        raise ValueError(
            f"cross_entropy: label {int(y[bad].ravel()[0])} is out of range for {n_classes} classes "
            f"(labels must be 0..{n_classes - 1})"
        )
    return y


def cross_entropy(logits: Any, labels: Any, reduction: str = "mean", ignore_index: int | None = None) -> Any:
    """Softmax cross-entropy, classes on the last axis: ``logsumexp(z) - z[label]``.

    ``logits`` has shape ``(..., C)`` and ``labels`` integer shape ``(...)``. Stable
    for any logits (``logsumexp`` subtracts the max). Positions whose label equals
    ``ignore_index`` count for nothing; 'mean' averages over the others.
    """
    logits = as_tensor(logits)
    y = _labels(labels, logits, ignore_index)
    if ignore_index is None and reduction in ("mean", "sum", "none"):
        # one fused node: (softmax - onehot) / n in backward, no intermediate nodes
        return ag.softmax_cross_entropy(logits, y, reduction)
    xp = _xp(y)
    keep = y != ignore_index if ignore_index is not None else None
    # z[label] by selecting with a constant one-hot mask: elementwise work only, where
    # integer indexing would scatter its gradient with the slow np.add.at (and a
    # product with the mask would turn a -inf logit into nan).
    onehot = y[..., None] == xp.arange(logits.shape[-1])
    if keep is not None:
        onehot &= keep[..., None]
    picked = ag.where(onehot, logits, 0.0).sum(axis=-1)
    lse = ag.logsumexp(logits, axis=-1)
    if keep is not None:
        loss = lse * keep.astype(logits.dtype) - picked
        if reduction == "mean":
            return loss.sum() / max(int(keep.sum()), 1)
        return _reduce(loss, reduction)
    return _reduce(lse - picked, reduction)


def binary_cross_entropy_with_logits(logits: Any, targets: Any, reduction: str = "mean") -> Any:
    """``-[t log sigmoid(z) + (1-t) log(1 - sigmoid(z))]``, written stably as
    ``max(z, 0) - z t + log(1 + exp(-|z|))``; ``targets`` in [0, 1], shaped like ``logits``.
    """
    z = as_tensor(logits)
    t = _array(targets, like=z).astype(z.dtype)
    if tuple(t.shape) != tuple(z.shape):
        raise ValueError(
            "binary_cross_entropy_with_logits: logits shape "
            f"{tuple(z.shape)} != targets shape {tuple(t.shape)}"
        )
    # One node whose derivative is sigmoid(z) - t everywhere: composing relu, abs and
    # log would give each kink's one-sided slope at z = 0, the zero-initialised case.
    value = _xp(z.value).logaddexp(0.0, z.value) - z.value * t
    loss = ag.custom_op(value, [z], "bce_with_logits", [_bce_with_logits_rule], t)
    return _reduce(loss, reduction)


def _bce_with_logits_rule(g: Any, out: Any, t: Any, z: Any) -> Any:
    return g * (ag.sigmoid(z) - t)


registry.register("tensor", "bce_with_logits", function=binary_cross_entropy_with_logits,
                  rules=(_bce_with_logits_rule,),
                  text=("{a}.grad += {out}.grad * (sigmoid({a}.value) - targets)",))


def accuracy(logits: Any, labels: Any, ignore_index: int | None = None) -> float:
    """Fraction of positions whose arg-max class equals the label (a float, no graph)."""
    z, y = _host(logits), _host(labels)
    pred = z.argmax(axis=-1)
    if ignore_index is not None:
        keep = y != ignore_index
        return float((pred[keep] == y[keep]).mean()) if keep.any() else 0.0
    return float((pred == y).mean())
