"""The ``ag.X`` functions, made from the op registry: ``ag.exp``, ``ag.add``, ``ag.einsum``, ...

``ag.X`` is the op registered as ``X`` (:func:`ag.register`), so a new op needs no line
here. An op registered for the Scalar engine is served to both engines: ``ag.exp(x)``
runs Scalar's ``exp`` on a Scalar and Tensor's on a Tensor, and on a plain number or
array it gives a plain result (the array module's function of that name when it has
one, else the Tensor op's value). Tensor backward rules are written with these
functions, so one rule serves both the fast array path and the ``create_graph`` path
that builds differentiable nodes. An op registered for Tensor only is the op itself
(``ag.matmul``).

>>> import ag
>>> ag.exp(ag.Scalar(0.0)).value
1.0
>>> float(ag.sigmoid(0.0)), ag.relu(ag.tensor([-1.0, 2.0])).value
(0.5, array([0., 2.]))
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ag import registry

_array_module_of = None


def _array_module(x: Any) -> Any:
    # Imported on first use, not at the top: `import ag` for Scalar work needs no NumPy.
    global _array_module_of
    if _array_module_of is None:
        from ag.backend import array_module_of

        _array_module_of = array_module_of
    return _array_module_of(x)


def logistic(x: Any) -> Any:
    """``1 / (1 + e**-x)`` of a number or an array, stable for large ``|x|``.

    The one sigmoid of the kit: both engines' ``sigmoid`` compute their value with it.

    >>> logistic(0.0), logistic(-1000.0), logistic(1000.0)
    (0.5, 0.0, 1.0)
    """
    # exp of a non-positive number never overflows: e = exp(-|x|) in (0, 1]
    if type(x) is float or type(x) is int:  # a NumPy scalar keeps the array path (a 0-d array)
        e = math.exp(-abs(x))
        return 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)
    xp = _array_module(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(xp.asarray(x) >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def op_function(name: str) -> Callable | None:
    """``ag.<name>``: the function for the op registered as ``name``, or None.

    >>> import ag
    >>> op_function("tanh")(ag.Scalar(0.0)).value, op_function("no_such_op")
    (0.0, None)
    """
    if name.startswith("_"):
        return None
    entry = registry.ops("scalar").get(name)
    if entry is not None and entry.function is not None and entry.op == name:
        return _both_engines(name, entry.summary, entry.arity)
    entry = registry.tensor_ops().get(name)
    if entry is None or entry.op != name:
        return None
    return entry.function


def _both_engines(name: str, summary: str, arity: int | None) -> Callable:
    by_type: dict[type, Callable] = {}  # node class -> its engine's op (the fast path)
    seen = [registry.generation]

    def function(*args: Any, **kwargs: Any) -> Any:
        if seen[0] != registry.generation:  # an op was registered or removed since
            by_type.clear()
            seen[0] = registry.generation
        for x in args:
            op = by_type.get(type(x))
            if op is not None:
                return op(*args, **kwargs)
            engine = registry.engine_of(x)
            if engine is not None:
                entry = registry.lookup(engine, name)
                if entry is None or entry.function is None:
                    raise TypeError(f"ag.{name}: not defined for a {type(x).__name__} (no "
                                    f"{engine} op {name!r} is registered); register one with "
                                    "ag.register, or write it with the node's operators")
                by_type[type(x)] = entry.function
                return entry.function(*args, **kwargs)
        return _on_values(name, args, kwargs)

    function.__name__ = function.__qualname__ = name
    args = "ag.Scalar(0.5), ag.Scalar(2.0)" if arity == 2 else "ag.Scalar(0.5)"
    function.__doc__ = (
        f"{summary or name}\n\nThe op registered as {name!r}: Scalar's for a Scalar, Tensor's for a "
        "Tensor; on plain numbers or arrays, a plain result.\n\n"
        f">>> import ag\n>>> y = ag.{name}({args}); y.backward()\n"
    )
    return function


def _on_values(name: str, args: tuple, kwargs: dict) -> Any:
    """``ag.<name>`` of plain numbers or arrays: a plain number or array."""
    direct = getattr(_array_module(args[0]), name, None) if args else None
    if callable(direct):  # np.exp, np.add, ...: the same op without a node
        return direct(*args, **kwargs)
    entry = registry.tensor_ops().get(name)
    if entry is not None and entry.function is not None:
        return entry.function(*args, **kwargs).value
    from ag.scalar import Scalar

    return registry.lookup("scalar", name).function(*(Scalar(x) for x in args), **kwargs).value


def __getattr__(name: str) -> Any:
    function = op_function(name)
    if function is None:
        raise AttributeError(f"module 'ag.functions' has no attribute {name!r}")
    globals()[name] = function
    return function
