"""The ``ag.`` elementwise functions, for Scalars, Tensors and raw arrays alike.

``ag.exp(x)`` calls ``x.exp()`` on a graph node (a Scalar or a Tensor) and the
array module's ``exp`` on a plain number or array. Tensor backward rules are
written with these functions, so one rule serves both the fast array path and the
``create_graph`` path that builds differentiable nodes.

>>> import ag
>>> ag.exp(ag.Scalar(0.0)).value
1.0
"""

from __future__ import annotations

from typing import Any

_array_module_of = None


def _array_module(x: Any) -> Any:
    # Imported on first use, not at the top: `import ag` for Scalar work needs no NumPy.
    global _array_module_of
    if _array_module_of is None:
        from ag.backend import array_module_of

        _array_module_of = array_module_of
    return _array_module_of(x)


def _elementwise(name: str, example: str = "ag.Scalar(0.5)"):
    def fn(x: Any) -> Any:
        method = getattr(type(x), name, None)
        if method is not None:
            return method(x)
        if hasattr(x, "_backward"):  # a graph node without this op
            raise TypeError(f"{name}: not defined for {type(x).__name__}; "
                            f"use a Tensor, or write it with the node's operators")
        return getattr(_array_module(x), name)(x)

    fn.__name__ = name
    fn.__qualname__ = name
    fn.__doc__ = (
        f"``{name}`` of a Scalar or Tensor (differentiable), or of a plain number/array.\n\n"
        f">>> import ag\n>>> x = {example}; y = ag.{name}(x); y.sum().backward() "
        f"if hasattr(y, 'shape') else y.backward()\n"
    )
    return fn


exp = _elementwise("exp")
log = _elementwise("log")
tanh = _elementwise("tanh")
sqrt = _elementwise("sqrt", "ag.tensor([0.25, 4.0])")


def relu(x: Any) -> Any:
    """``max(x, 0)`` of a Scalar or Tensor (differentiable), or of a number/array.

    >>> import ag
    >>> ag.relu(ag.Scalar(-2.0)).value
    0.0
    """
    method = getattr(type(x), "relu", None)
    if method is not None:
        return method(x)
    return _array_module(x).maximum(x, 0.0)


def sigmoid(x: Any) -> Any:
    """The logistic function, stable for large ``|x|``.

    >>> import ag
    >>> round(ag.sigmoid(ag.Scalar(0.0)).value, 3)
    0.5
    """
    method = getattr(type(x), "sigmoid", None)
    if method is not None:
        return method(x)
    xp = _array_module(x)
    # exp of a non-positive number never overflows
    e = xp.exp(-xp.abs(x))
    return xp.where(xp.asarray(x) >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
