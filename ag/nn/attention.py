"""Self-attention: the course's SingleHeadAttention, MultiHeadAttention, TransformerBlock.

Shapes are the course's: ``X`` is ``(n_samples, n_context, n_features)``.
:class:`SingleHeadAttention` is the course's code line for line (its softmax over
axis 1 is ``ag.softmax``, the same numbers computed stably);
:class:`MultiHeadAttention` is the usual scaled dot-product form with heads and an
optional causal mask; :class:`TransformerBlock` is the course's
``MLP(attention(X))`` with optional residual connections and LayerNorm.

>>> import ag, numpy as np
>>> block = TransformerBlock(8, 16, n_heads=2, causal=True, residual=True, norm="pre")
>>> block(np.zeros((3, 5, 8))).shape
(3, 5, 8)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import ag
from ag.nn import init as _init
from ag.nn.functional import MASKED_SCORE, causal_mask, dropout, linear, on_device_of
from ag.nn.layers import MLP, LayerNorm
from ag.nn.module import Module, as_tensor, check_input

__all__ = ["SingleHeadAttention", "MultiHeadAttention", "TransformerBlock"]


def _weight(n_in: int, n_out: int, init: str, label: str, dtype: Any, rng: Any) -> Any:
    if init == "course":  # np.random.randn, as on the slides
        w = _init.normal((n_in, n_out), 1.0, rng)
    elif init == "xavier":
        w = _init.xavier_uniform((n_in, n_out), rng=rng)
    else:
        raise ValueError(f"attention init must be 'xavier' or 'course', got {init!r}")
    return ag.Tensor(w, label=label, dtype=dtype or np.float64)


class SingleHeadAttention(Module):
    """Self-attention exactly as the course writes it (no 1/sqrt(d) scaling, no heads)::

        Queries   = Xin @ Wq
        Keys      = Xin @ Wk
        KQ        = Keys @ moveaxis(Queries, 1, 2)     # KQ[n, i, j] = key_i . query_j
        softmaxKQ = softmax(KQ, axis=1)                # over the keys i, per query j
        P         = moveaxis(Xin, 1, 2) @ softmaxKQ
        Xout      = moveaxis(P, 1, 2) @ Wv

    ``causal=True`` lets query ``j`` see only keys ``i <= j``. ``init="course"``
    draws the weights from ``N(0, 1)`` as the slides do; the default ``"xavier"``
    keeps activations at a trainable scale.
    """

    def __init__(
        self,
        n_features: int,
        *,
        causal: bool = False,
        init: str = "xavier",
        dtype: Any = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.n_features, self.causal = n_features, causal
        self.Wq = _weight(n_features, n_features, init, "Wq", dtype, rng)
        self.Wk = _weight(n_features, n_features, init, "Wk", dtype, rng)
        self.Wv = _weight(n_features, n_features, init, "Wv", dtype, rng)

    def forward(self, Xin: Any) -> Any:
        Xin = as_tensor(Xin, self.Wq.dtype)
        check_input(self, Xin, 3, self.n_features, f"(n_samples, n_context, {self.n_features})")
        Queries = Xin @ self.Wq
        Keys = Xin @ self.Wk
        KQ = Keys @ ag.moveaxis(Queries, 1, 2)
        if self.causal:
            n = Xin.shape[1]
            # KQ[n, i, j] pairs key i with query j: key i is visible to query j when
            # i <= j, the transpose of the (query, key) causal mask
            blocked = ~causal_mask(n).T
            KQ = KQ + on_device_of((blocked * MASKED_SCORE).astype(KQ.dtype), KQ)
        softmaxKQ = ag.softmax(KQ, axis=1)
        P = ag.moveaxis(Xin, 1, 2) @ softmaxKQ
        Xout = ag.moveaxis(P, 1, 2) @ self.Wv
        return Xout

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}, causal={self.causal}"


class MultiHeadAttention(Module):
    """Scaled dot-product self-attention with ``n_heads`` heads and an output projection.

    With ``d = n_features // n_heads`` and per-head slices of ``Q = X Wq``,
    ``K = X Wk``, ``V = X Wv``::

        A_h   = softmax(Q_h K_h^T / sqrt(d) + mask, axis=-1)    # (N, T, T), rows = queries
        out   = concat_h(A_h V_h) @ Wo

    ``causal=True`` masks keys after the query (``mask = -1e9`` above the diagonal),
    so position ``t`` sees only positions ``<= t``. The last attention weights are
    kept in ``self.last_attention`` (a NumPy array ``(N, heads, T, T)``) for plots.
    """

    def __init__(
        self,
        n_features: int,
        n_heads: int,
        *,
        causal: bool = False,
        bias: bool = False,
        dropout: float = 0.0,
        dtype: Any = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if n_features % n_heads:
            raise ValueError(
                f"MultiHeadAttention: n_features={n_features} is not divisible by n_heads={n_heads}"
            )
        self.n_features, self.n_heads, self.causal, self.dropout = n_features, n_heads, causal, dropout
        self.Wq = _weight(n_features, n_features, "xavier", "Wq", dtype, rng)
        self.Wk = _weight(n_features, n_features, "xavier", "Wk", dtype, rng)
        self.Wv = _weight(n_features, n_features, "xavier", "Wv", dtype, rng)
        self.Wo = _weight(n_features, n_features, "xavier", "Wo", dtype, rng)
        self.bo = ag.Tensor(np.zeros(n_features), label="bo", dtype=dtype or np.float64) if bias else None
        self.last_attention: np.ndarray | None = None

    def forward(self, x: Any) -> Any:
        x = as_tensor(x, self.Wq.dtype)
        check_input(self, x, 3, self.n_features, f"(N, T, {self.n_features})")
        n, t, f = x.shape
        h, d = self.n_heads, f // self.n_heads

        def heads(w: Any) -> Any:  # (N, T, F) -> (N, H, T, d)
            return linear(x, w).reshape(n, t, h, d).transpose(0, 2, 1, 3)

        q, k, v = heads(self.Wq), heads(self.Wk), heads(self.Wv)
        scores = (q * (1.0 / math.sqrt(d))) @ k.swapaxes(-1, -2)
        if self.causal:
            blocked = ~causal_mask(t)  # scores[..., i, j]: query i, key j
            scores = scores + on_device_of((blocked * MASKED_SCORE).astype(scores.dtype), scores)
        att = ag.softmax(scores, axis=-1)
        self.last_attention = att.value
        if self.dropout:
            att = dropout(att, self.dropout, self.training)
        out = (att @ v).transpose(0, 2, 1, 3).reshape(n, t, f)
        return linear(out, self.Wo, self.bo)

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}, n_heads={self.n_heads}, causal={self.causal}"


class TransformerBlock(Module):
    """The course's block ``MLP(attention(X))``, with options.

    * ``n_heads=None``: the course's :class:`SingleHeadAttention`; an int: a
      :class:`MultiHeadAttention` with that many heads.
    * ``residual=True``: ``X = X + attention(X)``, then ``X = X + MLP(X)``.
    * ``norm="pre"``: LayerNorm before each sub-layer (``X + attention(LN(X))``);
      ``norm="post"``: after each (``LN(X + attention(X))``); ``None``: no LayerNorm.
    """

    def __init__(
        self,
        n_features: int,
        n_hidden: int,
        *,
        n_heads: int | None = None,
        causal: bool = False,
        residual: bool = False,
        norm: str | None = None,
        dropout: float = 0.0,
        dtype: Any = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if norm not in (None, "pre", "post"):
            raise ValueError(f"TransformerBlock norm must be None, 'pre' or 'post', got {norm!r}")
        self.n_features, self.residual, self.norm = n_features, residual, norm
        if n_heads is None:
            self.att = SingleHeadAttention(n_features, causal=causal, dtype=dtype, rng=rng)
        else:
            self.att = MultiHeadAttention(
                n_features, n_heads, causal=causal, dropout=dropout, dtype=dtype, rng=rng
            )
        self.mlp = MLP(n_features, n_hidden, dropout=dropout, dtype=dtype, rng=rng)
        if norm is not None:
            self.ln1 = LayerNorm(n_features, dtype=dtype)
            self.ln2 = LayerNorm(n_features, dtype=dtype)

    def _sublayer(self, x: Any, layer: Module, ln: Module | None) -> Any:
        if self.norm == "pre":
            y = layer(ln(x))
            return x + y if self.residual else y
        y = layer(x)
        y = x + y if self.residual else y
        return ln(y) if self.norm == "post" else y

    def forward(self, Xin: Any) -> Any:
        Xin = as_tensor(Xin, self.att.Wq.dtype)
        check_input(self, Xin, 3, self.n_features, f"(n_samples, n_context, {self.n_features})")
        ln1 = getattr(self, "ln1", None)
        ln2 = getattr(self, "ln2", None)
        return self._sublayer(self._sublayer(Xin, self.att, ln1), self.mlp, ln2)

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}, residual={self.residual}, norm={self.norm!r}"
