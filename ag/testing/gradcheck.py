"""Compare backpropagated gradients with central finite differences.

>>> import ag
>>> from ag.testing import gradcheck
>>> x, y = ag.Scalar(2.0, label="x"), ag.Scalar(3.0, label="y")
>>> bool(gradcheck(lambda a, b: ag.log(a * b) + a / b, x, y))
True

Works for Scalars and Tensors alike. A Tensor with at most ``max_elements``
elements is checked element by element; a larger one along ``projections``
random directions (``<grad, d>`` against ``(f(x+eps d) - f(x-eps d)) / 2eps``).
A non-scalar output is reduced with a fixed random weighting, the same for both
sides. The result reports the worst element found.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ag.backend import to_host


class GradcheckError(AssertionError):
    """Backprop and finite differences disagree; the message says where."""


@dataclass
class GradcheckResult:
    """Outcome of :func:`gradcheck`; truthy when every checked element agrees."""

    passed: bool
    input_index: int = -1
    input_label: str = ""
    element: tuple | str = ()
    analytic: float = 0.0
    numeric: float = 0.0
    error: float = 0.0
    checked: int = 0

    def __bool__(self) -> bool:
        return self.passed

    def describe(self) -> str:
        name = f" ({self.input_label!r})" if self.input_label else ""
        return (
            f"input {self.input_index}{name}, element {self.element}: "
            f"analytic {self.analytic!r}, numeric {self.numeric!r}, "
            f"|difference| {self.error:.3g} ({self.checked} elements checked)"
        )


def _is_tensor(node: Any) -> bool:
    # np.float64 subclasses float, so ask for an array attribute instead
    return hasattr(node.value, "dtype")


def _host(array: Any) -> np.ndarray:
    return to_host(array, dtype=np.float64)


def _read(node: Any) -> np.ndarray:
    return _host(node.value).copy() if _is_tensor(node) else np.array(node.value)


def _write(node: Any, values: np.ndarray) -> None:
    if _is_tensor(node):
        xp_value = node.value
        new = np.asarray(values, dtype=xp_value.dtype).reshape(xp_value.shape)
        if type(xp_value).__module__.split(".")[0] != "numpy":
            from ag.backend import array_module_of

            new = array_module_of(xp_value).asarray(new)
        node.value = new
    else:
        node.value = float(values)


def _grad_of(node: Any) -> np.ndarray:
    grad = node.grad
    if grad is None:
        return np.zeros(np.shape(node.value))
    value = getattr(grad, "value", grad)  # a create_graph grad is a Tensor
    return _host(value) if _is_tensor(node) else np.array(float(value))


def _clear_grad(node: Any) -> None:
    node.grad = None if _is_tensor(node) else 0.0


def gradcheck(
    f: Callable[..., Any],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    max_elements: int = 256,
    projections: int = 8,
    seed: int = 0,
    raise_exception: bool = True,
) -> GradcheckResult:
    """Check ``f``'s gradient with respect to each of ``inputs`` by central differences.

    ``f(*inputs)`` must return a Scalar or a Tensor. Tensors should be float64 for
    the default tolerances. Raises :class:`GradcheckError` naming the input, the
    element, the analytic and the numeric value on a mismatch (or returns a falsy
    result with ``raise_exception=False``).
    """
    rng = np.random.default_rng(seed)
    checked = [(i, node) for i, node in enumerate(inputs) if _wants_grad(node)]
    if not checked:
        raise ValueError("gradcheck: none of the inputs requires a gradient")

    out = f(*inputs)
    weights = None
    if _is_tensor(out) and np.size(out.value) != 1:
        weights = rng.standard_normal(np.shape(out.value))
    for _, node in checked:
        _clear_grad(node)
    if getattr(out, "requires_grad", True):
        if weights is None:
            out.backward()
        else:
            out.backward(_like(out.value, weights))
    # else: the output does not depend on any input (a constant gradient's gradient),
    # so every analytic derivative is zero, and finite differences must agree.
    analytic = [_grad_of(node) for _, node in checked]

    def objective() -> float:
        value = _host(f(*inputs).value)
        return float(value.sum() if weights is None else (value * weights).sum())

    worst = GradcheckResult(passed=True)
    total = 0
    for (index, node), grad in zip(checked, analytic):
        base = _read(node)
        size = base.size
        if size <= max_elements:
            directions = ((np.unravel_index(k, base.shape) if base.ndim else (), None)
                          for k in range(size))
        else:
            directions = ((f"projection {k}", rng.standard_normal(base.shape))
                          for k in range(projections))
        try:
            for element, direction in directions:
                if direction is None:
                    step = np.zeros_like(base)
                    step[element] = eps
                    expected = float(grad[element])
                else:
                    step = eps * direction
                    expected = float((grad * direction).sum())
                _write(node, base + step)
                plus = objective()
                _write(node, base - step)
                minus = objective()
                _write(node, base)
                numeric = (plus - minus) / (2 * eps)
                error = abs(expected - numeric)
                total += 1
                bad = not error <= atol + rtol * abs(numeric)
                if bad or (worst.passed and error > worst.error):
                    worst = GradcheckResult(
                        passed=not bad and worst.passed,
                        input_index=index,
                        input_label=getattr(node, "label", ""),
                        element=element if isinstance(element, str) else tuple(int(e) for e in element),
                        analytic=expected,
                        numeric=numeric,
                        error=error,
                    )
                if bad:
                    break
        finally:
            _write(node, base)
        if not worst.passed:
            break
    worst.checked = total
    if not worst.passed and raise_exception:
        raise GradcheckError("gradcheck: gradients disagree at " + worst.describe())
    return worst


def _wants_grad(node: Any) -> bool:
    return getattr(node, "requires_grad", True) and hasattr(node, "grad")


def _like(reference: Any, values: Any) -> Any:
    values = np.asarray(values)
    if type(reference).__module__.split(".")[0] == "numpy":
        return values.astype(reference.dtype)
    from ag.backend import array_module_of

    return array_module_of(reference).asarray(values.astype(reference.dtype))


def gradgradcheck(
    f: Callable[..., Any],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-4,
    rtol: float = 1e-3,
    seed: int = 1,
    raise_exception: bool = True,
) -> GradcheckResult:
    """Check second derivatives: gradcheck of ``<grad f(inputs), w>`` for a fixed random ``w``.

    The first gradient is built with ``create_graph=True``, so this exercises every
    op's backward rule on the differentiable path.

    >>> import ag
    >>> x = ag.tensor([0.3, -0.7])
    >>> bool(gradgradcheck(lambda t: (ag.tanh(t) ** 3).sum(), x))
    True
    """
    from ag.higher_order import grad as ag_grad
    from ag.ops.api import Tensor, leaf

    rng = np.random.default_rng(seed)
    tensors = [t for t in inputs if _wants_grad(t)]
    weights = [_like(t.value, rng.standard_normal(np.shape(t.value))) for t in tensors]

    def first_gradient_projection(*args: Any) -> Any:
        out = f(*args)
        if np.size(out.value) != 1:
            out = (out * leaf(_like(out.value, np.ones(np.shape(out.value))), False)).sum()
        grads = ag_grad(out, [a for a in args if _wants_grad(a)], create_graph=True)
        total = None
        for g, w in zip(grads, weights):
            term = (g * leaf(w, False)).sum() if isinstance(g, Tensor) else None
            if term is not None:
                total = term if total is None else total + term
        return total

    return gradcheck(first_gradient_projection, *inputs, eps=eps, atol=atol, rtol=rtol,
                     seed=seed, raise_exception=raise_exception)
