"""ag: a small autograd kit for deep-learning coursework and exams.

>>> import ag
>>> x = ag.Scalar(2.0, label="x")
>>> y = x * x
>>> z = y * y
>>> z.backward()
>>> x.grad
32.0
"""

from ag.autodiff import enable_grad, is_grad_enabled, no_grad, topological_sort
from ag.functions import exp, log, relu, sigmoid, tanh
from ag.scalar import Scalar, scalar

__version__ = "0.1.0"

__all__ = [
    "Scalar",
    "scalar",
    "exp",
    "log",
    "relu",
    "sigmoid",
    "tanh",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "topological_sort",
]
