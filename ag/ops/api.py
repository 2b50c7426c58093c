"""The op-author API: everything an op needs, and all that ag's own ops use.

ag's ops (``ag/ops/*.py``), ``ag.nn`` (conv, attention), ``ag.remat`` and
``ag.gpu`` build their nodes with these names and nothing else from the core; a
``custom_op`` user needs the same few. An op is three things side by side:

1. the forward: lift the operands (:func:`as_tensor`, :func:`lift_pair`), compute
   the value with the operands' array module (:func:`array_module_of`), and make
   the node with :func:`make_node` (one backward rule per input, plus a ``ctx``);
2. the rules, ``rule(g, out, ctx, *inputs) -> that input's gradient``, written with
   operators and ``ag`` functions so one rule serves arrays and Tensors
   (``create_graph``); a gradient that broadcasts is summed back by the core;
3. :func:`register` (``ag.register``, the one registration of both engines):
   ``register("tensor", name, function, rules, text, ...)`` records its rules and
   rule text in :mod:`ag.registry` and puts the Tensor methods that call it on Tensor.

Errors name the op and the operands (:func:`describe`, :func:`describe_operands`)
and are raised before any node changes.

>>> import ag
>>> from ag.ops.api import as_tensor, make_node, array_module_of
>>> def _cube_rule(g, out, ctx, a):
...     return g * 3 * a * a
>>> def cube(x):
...     x = as_tensor(x)
...     return make_node(array_module_of(x.value).power(x.value, 3), (x,), "cube", (_cube_rule,))
>>> x = ag.tensor([1.0, 2.0])
>>> cube(x).sum().backward(); x.grad
array([ 3., 12.])
"""

from ag.backend import array_module_of
from ag.ops.core import (
    Tensor,
    as_float_array,
    as_tensor,
    check_devices,
    check_finite,
    creation_counter,
    custom_op,
    describe,
    describe_operands,
    keepdims_shape,
    leaf,
    lift,
    lift_pair,
    make_node,
    normalize_axes,
    register_method,
    sum_to_shape,
    tensor,
    value_of,
)
from ag.registry import register

__all__ = [
    "Tensor", "array_module_of", "as_float_array", "as_tensor", "check_devices", "check_finite",
    "creation_counter", "custom_op", "describe", "describe_operands", "keepdims_shape", "leaf",
    "lift", "lift_pair", "make_node", "normalize_axes", "register", "register_method",
    "sum_to_shape", "tensor", "value_of",
]
