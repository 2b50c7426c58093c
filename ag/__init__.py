"""ag: a small autograd kit for deep-learning coursework and exams.

>>> import ag
>>> x = ag.Scalar(2.0, label="x")
>>> y = x * x
>>> z = y * y
>>> z.backward()
>>> x.grad
32.0

The Tensor engine and its functions load on first use (``ag.Tensor``,
``ag.matmul``, ...), so ``import ag`` stays fast for Scalar work.
"""

from importlib import import_module
from typing import Any

from ag.autodiff import enable_grad, is_grad_enabled, no_grad, topological_sort
from ag.functions import exp, log, relu, sigmoid, sqrt, tanh
from ag.scalar import Scalar, scalar
from ag.trace import backward_trace, trace  # the function; `ag.trace` the module is shadowed on purpose

__version__ = "0.1.0"

# name -> (module, attribute): loaded on first access by __getattr__ below.
_LAZY = {
    **{name: ("ag.tensor", name) for name in (
        "Tensor", "add", "sub", "mul", "div", "power", "matmul", "spcmatmul",
        "mean", "var", "reshape", "transpose", "moveaxis", "swapaxes", "squeeze",
        "expand_dims", "flatten", "broadcast_to", "concatenate", "stack", "split", "maximum",
        "minimum", "where", "clip", "softmax", "log_softmax", "logsumexp", "zeros", "ones",
        "randn", "rand", "arange", "zeros_like", "ones_like", "randn_like", "sum_to_shape",
        "custom_op", "softmax_cross_entropy", "from_numpy",
    )},
    "sum": ("ag.tensor", "tsum"),
    "max": ("ag.tensor", "tmax"),
    "min": ("ag.tensor", "tmin"),
    "abs": ("ag.tensor", "absolute"),
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
_SUBMODULES = {
    "testing", "tensor", "autodiff", "scalar", "functions", "higher_order", "anomaly", "viz",
    "stepper", "exam", "remat", "nn", "optim", "data", "training", "gpu", "registry", "backend",
    "ops", "number_format", "trace_record", "trace_render", "widget",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(import_module(module), attribute)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return import_module(f"ag.{name}")
    op = _registered_tensor_op(name)
    if op is not None:
        globals()[name] = op
        return op
    raise AttributeError(f"module 'ag' has no attribute {name!r}")


def _registered_tensor_op(name: str) -> Any:
    """An op registered in ag.registry under ``name`` (ag.einsum): new ops need no entry here."""
    if name.startswith("_"):
        return None
    from ag import registry

    entry = registry.tensor_ops().get(name)
    return None if entry is None else entry.function


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)


__all__ = [
    "Scalar", "scalar", "exp", "log", "relu", "sigmoid", "sqrt", "tanh", "no_grad",
    "enable_grad", "is_grad_enabled", "topological_sort", "trace", "backward_trace", *_LAZY,
]
