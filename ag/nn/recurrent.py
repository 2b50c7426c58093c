"""Recurrent layers: the Elman RNN (the course's recurrent cell) and an LSTM.

Inputs are batch-first, ``(N, T, input_size)``. The course's cell is

    h1 = relu(wr * h0 + wi * x1)

on Scalars; :class:`RNN` is the same rule on matrices,
``h_t = act(x_t @ Wi + h_{t-1} @ Wr + b)``, so an ``RNN(1, 1, "relu", bias=False)``
with ``Wi = [[wi]]`` and ``Wr = [[wr]]`` computes exactly the course's numbers.

>>> import ag, numpy as np
>>> rnn = RNN(1, 1, nonlinearity="relu", bias=False)
>>> rnn.Wi.value[:] = 5.0; rnn.Wr.value[:] = 4.0
>>> out, h = rnn(np.array([[[2.0]]]), h0=np.array([[3.0]]))
>>> h.value                      # relu(4*3 + 5*2)
array([[22.]])
"""

from __future__ import annotations

from typing import Any

import numpy as np

import ag
from ag.nn import init as _init
from ag.nn.functional import linear
from ag.nn.module import Module, as_tensor, check_input

__all__ = ["RNN", "LSTM"]


class RNN(Module):
    """Elman RNN: ``h_t = act(x_t @ Wi + h_{t-1} @ Wr + b)``, ``act`` tanh or relu.

    ``forward(x, h0=None)`` takes ``x`` of shape ``(N, T, input_size)`` and an
    optional ``h0`` of shape ``(N, hidden_size)`` (zeros by default); it returns
    ``(outputs, h_T)`` with ``outputs`` of shape ``(N, T, hidden_size)``.
    Weights start ``U(-1/sqrt(H), 1/sqrt(H))`` as in PyTorch.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        nonlinearity: str = "tanh",
        bias: bool = True,
        *,
        dtype: Any = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.input_size, self.hidden_size, self.nonlinearity = input_size, hidden_size, nonlinearity
        bound = 1.0 / np.sqrt(hidden_size)
        dtype = dtype or np.float64
        self.Wi = ag.Tensor(_init.uniform((input_size, hidden_size), bound, rng), label="Wi", dtype=dtype)
        self.Wr = ag.Tensor(_init.uniform((hidden_size, hidden_size), bound, rng), label="Wr", dtype=dtype)
        self.b = (
            ag.Tensor(_init.uniform((hidden_size,), bound, rng), label="b", dtype=dtype) if bias else None
        )

    def forward(self, x: Any, h0: Any = None) -> tuple[Any, Any]:
        x = as_tensor(x, self.Wi.dtype)
        check_input(self, x, 3, self.input_size, f"(N, T, {self.input_size})")
        n, steps = x.shape[0], x.shape[1]
        h = self._initial(h0, n)
        act = ag.relu if self.nonlinearity == "relu" else ag.tanh
        # The input projection for all steps is one matrix product; only the
        # recurrence h @ Wr has to run step by step.
        xw = linear(x, self.Wi, self.b)
        outputs = []
        for t in range(steps):
            h = act(xw[:, t] + h @ self.Wr)
            outputs.append(h)
        return ag.stack(outputs, axis=1), h

    def _initial(self, h0: Any, n: int) -> Any:
        if h0 is None:
            from ag.backend import array_module_of

            xp = array_module_of(self.Wi.value)  # the parameters' device, not the host
            return ag.Tensor(xp.zeros((n, self.hidden_size), dtype=self.Wi.dtype), requires_grad=False)
        h0 = as_tensor(h0, self.Wi.dtype)
        if tuple(h0.shape) != (n, self.hidden_size):
            raise ValueError(
                f"RNN({self.extra_repr()}) expects h0 of shape {(n, self.hidden_size)}, got {h0.shape}"
            )
        return h0

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"nonlinearity={self.nonlinearity!r}, bias={self.b is not None}"
        )


class LSTM(Module):
    """Long short-term memory, batch-first, one layer.

    With ``z = x_t @ Wi + h @ Wr + b`` split into four blocks ``(i, f, g, o)``::

        i, f, o = sigmoid(z_i), sigmoid(z_f), sigmoid(z_o);  g = tanh(z_g)
        c_t = f * c_{t-1} + i * g;   h_t = o * tanh(c_t)

    ``forward(x, state=None)`` returns ``(outputs, (h_T, c_T))``. The forget-gate
    bias starts at 1 (a common choice that lets memory flow early in training).
    """

    def __init__(
        self, input_size: int, hidden_size: int, *, dtype: Any = None, rng: np.random.Generator | None = None
    ) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        bound = 1.0 / np.sqrt(hidden_size)
        h4 = 4 * hidden_size
        dtype = dtype or np.float64
        self.Wi = ag.Tensor(_init.uniform((input_size, h4), bound, rng), label="Wi", dtype=dtype)
        self.Wr = ag.Tensor(_init.uniform((hidden_size, h4), bound, rng), label="Wr", dtype=dtype)
        b = _init.uniform((h4,), bound, rng)
        b[hidden_size : 2 * hidden_size] = 1.0
        self.b = ag.Tensor(b, label="b", dtype=dtype)

    def forward(self, x: Any, state: tuple[Any, Any] | None = None) -> tuple[Any, tuple[Any, Any]]:
        x = as_tensor(x, self.Wi.dtype)
        check_input(self, x, 3, self.input_size, f"(N, T, {self.input_size})")
        n, steps, hs = x.shape[0], x.shape[1], self.hidden_size
        if state is None:
            from ag.backend import array_module_of

            zeros = array_module_of(self.Wi.value).zeros((n, hs), dtype=self.Wi.dtype)  # on Wi's device
            h = ag.Tensor(zeros, requires_grad=False)
            c = ag.Tensor(zeros, requires_grad=False)
        else:
            h, c = (as_tensor(s, self.Wi.dtype) for s in state)
        xw = linear(x, self.Wi, self.b)
        outputs = []
        for t in range(steps):
            z = xw[:, t] + h @ self.Wr
            i = ag.sigmoid(z[:, :hs])
            f = ag.sigmoid(z[:, hs : 2 * hs])
            g = ag.tanh(z[:, 2 * hs : 3 * hs])
            o = ag.sigmoid(z[:, 3 * hs :])
            c = f * c + i * g
            h = o * ag.tanh(c)
            outputs.append(h)
        return ag.stack(outputs, axis=1), (h, c)

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, hidden_size={self.hidden_size}"
