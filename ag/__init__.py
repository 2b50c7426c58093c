"""ag: a small autograd kit for deep-learning coursework and exams.

>>> import ag
>>> x = ag.Scalar(2.0, label="x")
>>> y = x * x
>>> z = y * y
>>> z.backward()
>>> x.grad
32.0

The Tensor engine and its functions load on first use (``ag.Tensor``,
``ag.matmul``, ...), so ``import ag`` stays fast for Scalar work. Every op is
``ag.<its registered name>`` (``ag.exp``, ``ag.matmul``, ``ag.einsum``): made from the
op registry (:mod:`ag.functions`), so an op added with :func:`ag.register` needs no
line here. ``dir(ag)`` and ``ag.__all__`` list the public API.
"""

from __future__ import annotations

import importlib as _importlib

# the public names loaded with `import ag` (_EAGER); `ag.trace` the function shadows the module
from ag.autodiff import enable_grad, is_grad_enabled, no_grad, topological_sort  # noqa: F401
from ag.registry import register  # noqa: F401
from ag.scalar import Scalar, scalar  # noqa: F401
from ag.trace import backward_trace, trace  # noqa: F401

__version__ = "0.1.0"

_EAGER = ("Scalar", "scalar", "register", "no_grad", "enable_grad", "is_grad_enabled",
          "topological_sort", "trace", "backward_trace")

# public names that are not registered ops: name -> (module, attribute), loaded on first access
_LAZY = {
    **{name: ("ag.tensor", name) for name in (
        "Tensor", "var", "moveaxis", "swapaxes", "squeeze", "expand_dims", "flatten", "split",
        "zeros", "ones", "randn", "rand", "arange", "zeros_like", "ones_like", "randn_like",
        "sum_to_shape", "custom_op", "from_numpy",
    )},
    "grad": ("ag.higher_order", "grad"),
    "hvp": ("ag.higher_order", "hvp"),
    "hessian": ("ag.higher_order", "hessian"),
    "detect_anomaly": ("ag.anomaly", "detect_anomaly"),
    "checkpoint": ("ag.remat", "checkpoint"),
    "checkpoint_sequential": ("ag.remat", "checkpoint_sequential"),
    "save": ("ag.nn.module", "save"),
    "load": ("ag.nn.module", "load"),
    "set_default_device": ("ag.gpu.device", "set_default_device"),
    "get_default_device": ("ag.gpu.device", "get_default_device"),
}
# ops whose public name is not their registry key
_ALIASES = {"power": "pow", "softmax_cross_entropy": "cross_entropy"}
_SUBMODULES = {  # public: listed by dir(ag)
    "testing", "tensor", "scalar", "functions", "higher_order", "anomaly", "viz", "stepper",
    "exam", "remat", "nn", "optim", "data", "training", "gpu", "registry", "ops", "widget",
}
_INTERNAL_SUBMODULES = {  # importable as ag.X, but not the API a course uses
    "autodiff", "backend", "buffers", "number_format", "trace_record", "trace_render",
    "parallel", "answer_key", "cli",
}


def __getattr__(name: str) -> object:
    if name == "__all__":
        return _public_names()
    if name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(_importlib.import_module(module), attribute)
        globals()[name] = value
        return value
    if name in _SUBMODULES or name in _INTERNAL_SUBMODULES:
        return _importlib.import_module(f"ag.{name}")
    from ag.functions import op_function

    function = op_function(_ALIASES.get(name, name))
    if function is not None:
        globals()[name] = function
        return function
    raise AttributeError(f"module 'ag' has no attribute {name!r}")


def _public_names() -> list[str]:
    """``ag.__all__``: the names above and every op the engines register (loads Tensor)."""
    from ag import registry

    ops = {name for name, entry in registry.scalar_ops().items()
           if entry.function is not None and entry.op == name and entry.public}
    ops |= {name for name, entry in registry.tensor_ops().items()
            if entry.function is not None and entry.op == name and entry.public
            and entry.function.__module__.startswith("ag.ops")}  # not nn's, remat's, gpu's
    ops -= set(_ALIASES.values())  # listed under their public names (power, not pow)
    return sorted(set(_EAGER) | set(_LAZY) | set(_ALIASES) | ops)


def __dir__() -> list[str]:
    return sorted(set(_public_names()) | _SUBMODULES | {"__version__"})
