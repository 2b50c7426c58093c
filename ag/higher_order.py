"""Gradients as values: ``ag.grad``, Hessian-vector products and Hessians.

>>> import ag
>>> x = ag.tensor([1.0, 2.0])
>>> (g,) = ag.grad((x ** 3).sum(), [x], create_graph=True)
>>> g.value                       # 3 x^2
array([ 3., 12.])
>>> ag.hvp(lambda t: (t ** 3).sum(), x, ag.tensor([1.0, 0.0])).value   # 6 x * v
array([6., 0.])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ag.autodiff import grads_kept, topological_sort
from ag.ops.api import Tensor, array_module_of, leaf


def grad(
    output: Tensor,
    inputs: Sequence[Tensor],
    grad_output: Any = None,
    create_graph: bool = False,
) -> list[Tensor]:
    """The gradients of ``output`` with respect to ``inputs``, as new Tensors.

    Unlike ``output.backward()``, nothing accumulates: every ``.grad`` in the graph
    is as it was before the call. With ``create_graph=True`` the returned gradients
    are graph nodes that can be differentiated again. An input that ``output`` does
    not depend on gets zeros.
    """
    inputs = list(inputs)
    for t in inputs:
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: inputs must be Tensors, got {type(t).__name__}")
    with grads_kept([*topological_sort(output), *inputs]):
        output.backward(grad_output, create_graph=create_graph)
        results = []
        for t in inputs:
            g = t.grad
            if g is None:
                g = array_module_of(t.value).zeros_like(t.value)
            results.append(g if isinstance(g, Tensor) else leaf(g, False))
    return results

def hvp(f: Callable[[Tensor], Tensor], x: Tensor, v: Any) -> Tensor:
    """The Hessian of scalar ``f`` at ``x`` times ``v``, by double backward.

    Differentiates ``<grad f(x), v>`` once more, so it costs two backward passes and
    never forms the Hessian.
    """
    (g,) = grad(f(x), [x], create_graph=True)
    v_value = v.value if isinstance(v, Tensor) else v
    (hv,) = grad((g * leaf(array_module_of(x.value).asarray(v_value, dtype=x.dtype), False)).sum(), [x])
    return hv


def hessian(f: Callable[[Tensor], Tensor], x: Tensor) -> np.ndarray:
    """The full Hessian of scalar ``f`` at ``x`` (shape ``x.shape + x.shape``), one hvp per element."""
    xp = array_module_of(x.value)
    n = x.size
    rows = []
    for k in range(n):
        e = xp.zeros(n, dtype=x.dtype)
        e[k] = 1.0
        rows.append(hvp(f, x, e.reshape(x.shape)).value.reshape(-1))
    return xp.stack(rows).reshape(x.shape + x.shape)
