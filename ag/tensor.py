"""``ag.Tensor``: the array engine on the shared core, with broadcasting.

>>> import ag
>>> W = ag.tensor([[1.0, 2.0], [3.0, 4.0]], label="W")
>>> x = ag.tensor([1.0, -1.0], label="x")
>>> y = ag.relu(W @ x + 2.0).sum()      # W @ x + 2 = [1, 1]
>>> y.backward()
>>> W.grad
array([[ 1., -1.],
       [ 1., -1.]])

How an op is made: the forward computes the output array, and the node keeps one
backward *rule* per input, a module-level function ``rule(g, out, ctx, *inputs)``
returning that input's gradient. Rules use only operators and functions that accept
both raw arrays and Tensors, so the same rule serves two paths:

* plain backward: ``g``, ``out`` and the inputs are arrays (fast, no graph);
* ``backward(create_graph=True)``: they are Tensors, so the gradient is itself a
  graph that can be differentiated again (Hessian-vector products, Newton's method).

Broadcasting is undone in one place, :meth:`Tensor._backward`, which sums each
gradient back to its input's shape. Inputs that need no gradient get no work.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from itertools import count
from typing import Any

import numpy as np

from ag.autodiff import grad_mode, run_backward, topological_sort

_creation_counter = count(1)
_new = object.__new__


class _Settings:
    """Module switches: anomaly mode, and the array module for new tensors."""

    __slots__ = ("detect_anomaly", "default_xp")

    def __init__(self) -> None:
        self.detect_anomaly = False
        self.default_xp = np


settings = _Settings()


def array_module_of(array: Any) -> Any:
    """NumPy, or CuPy for a CuPy array (the module that owns ``array``)."""
    if type(array) is np.ndarray:  # the hot path: checked first, by identity
        return np
    if type(array).__module__.split(".")[0] == "cupy":
        import cupy

        return cupy
    xp_getter = getattr(type(array), "__ag_array_module__", None)
    if xp_getter is not None:  # a test backend that stands in for a device
        return xp_getter(array)
    return np


def _describe(t: Tensor) -> str:
    name = f"{t.label!r}" if t.label else (t.op or "leaf")
    return f"{name} {tuple(t.shape)}"


def _operands(op: str, *tensors: Tensor) -> str:
    return f"{op}: " + " and ".join(_describe(t) for t in tensors)


def _check_devices(op: str, *tensors: Tensor) -> None:
    """Raise when the operands of ``op`` live on different devices (ag.gpu).

    Called only when the value types differ, so the common path pays one ``is`` test.
    """
    from ag.gpu.device import DeviceMismatchError, device_of

    devices = [device_of(t.value) for t in tensors]
    for t, d in zip(tensors[1:], devices[1:]):
        if d != devices[0]:
            raise DeviceMismatchError(
                f"{op}: {_describe(tensors[0])} is on {devices[0]} but {_describe(t)} is on {d}; "
                f"move one with .to({d!r}) or .to({devices[0]!r})"
            )


class Tensor:
    """An array node of a computation graph.

    ``Tensor(value, label="", requires_grad=True, dtype=None)``: floating dtypes only;
    float64 by default, float32 kept; ints become float64. The value is always a copy
    (as ``torch.tensor``), so two tensors built from one array never share it; use
    :func:`from_numpy` to wrap an array without copying. ``grad`` is None until a
    backward pass reaches the tensor, then an array of the same shape (a Tensor after
    ``backward(create_graph=True)``).

    >>> x = Tensor([1.0, 2.0, 3.0], label="x")
    >>> (x * x).sum().backward()
    >>> x.grad
    array([2., 4., 6.])
    """

    __slots__ = (
        "value", "grad", "inputs", "op", "label", "requires_grad", "_rules", "_ctx", "_id",
        "__weakref__",
    )
    __array_ufunc__ = None  # make NumPy defer to Tensor's reflected operators
    __hash__ = object.__hash__  # nodes are keyed by identity; == is elementwise

    def __init__(
        self, value: Any, label: str = "", requires_grad: bool = True, dtype: Any = None
    ) -> None:
        self.value = _as_float_array(value, dtype, label, copy=True)
        self.grad = None
        self.inputs = ()
        self.op = ""
        self.label = label
        self.requires_grad = bool(requires_grad)
        self._rules = None
        self._ctx = None
        self._id = next(_creation_counter)

    # -- array facts --------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def ndim(self) -> int:
        return self.value.ndim

    @property
    def dtype(self) -> Any:
        return self.value.dtype

    @property
    def size(self) -> int:
        return self.value.size

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def __len__(self) -> int:
        return len(self.value)

    def item(self) -> float:
        """The value of a one-element tensor as a Python float."""
        if self.value.size != 1:
            raise ValueError(
                f"item: {_describe(self)} has {self.value.size} elements; .item() needs exactly "
                "one (reduce first, e.g. .sum() or .mean(), or index one element)"
            )
        return float(self.value.item() if hasattr(self.value, "item") else self.value)

    def numpy(self) -> np.ndarray:
        """The value as a NumPy array on the host (copied from a device if needed)."""
        get = getattr(self.value, "get", None)
        return get() if callable(get) else np.asarray(self.value)

    # -- devices (ag.gpu) ------------------------------------------------------------------
    @property
    def device(self) -> str:
        """Where the value lives: ``"cpu"``, ``"cuda:0"``, ... or ``"fake"`` (the test device)."""
        from ag.gpu.device import device_of

        return device_of(self.value)

    def to(self, device: Any) -> Tensor:
        """This tensor on ``device`` ("cpu", "cuda", "cuda:N", "fake"): itself when already
        there, else a differentiable copy (node ``to``; its gradient goes back here)."""
        from ag.gpu.device import tensor_to

        return tensor_to(self, device)

    def cuda(self) -> Tensor:
        """``self.to("cuda")``."""
        return self.to("cuda")

    def cpu(self) -> Tensor:
        """``self.to("cpu")``."""
        return self.to("cpu")

    def detach(self) -> Tensor:
        """The same values as a new leaf that needs no gradient (shares memory)."""
        return _leaf(self.value, False)

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), precision=4, separator=", ", threshold=20,
                               prefix="Tensor(")
        extras = [f"label={self.label!r}"] if self.label else []
        if self.op:
            extras.append(f"op={self.op!r}")
        if self.value.dtype != np.float64:
            extras.append(f"dtype={self.value.dtype}")
        if not self.requires_grad:
            extras.append("requires_grad=False")
        return f"Tensor({body}{''.join(', ' + e for e in extras)})"

    # -- the backward pass ------------------------------------------------------------
    def topological_sort(self) -> list[Tensor]:
        """Every node this one depends on, each after its inputs (exam order)."""
        return topological_sort(self)

    def backward(self, grad: Any = None, create_graph: bool = False) -> None:
        """Backpropagate from this tensor; leaves accumulate into ``.grad``.

        A tensor with more than one element needs a seed ``grad`` of its shape.
        With ``create_graph=True`` the gradients are built as graph nodes (Tensors)
        that can be differentiated again.
        """
        if not self.requires_grad:
            raise RuntimeError(
                f"backward: {_describe(self)} does not require grad (it was built from "
                "constants, inside ag.no_grad(), or with requires_grad=False)"
            )
        xp = array_module_of(self.value)
        if grad is None:
            if self.value.size != 1:
                raise RuntimeError(
                    f"backward: {_describe(self)} is not a scalar; pass a seed gradient of "
                    f"shape {tuple(self.shape)}, e.g. y.backward(ag.ones_like(y))"
                )
            seed = xp.ones_like(self.value)
        else:
            raw = grad.value if isinstance(grad, Tensor) else grad
            kind = getattr(getattr(raw, "dtype", None), "kind", None) or np.asarray(raw).dtype.kind
            if kind not in "biuf":  # strings would be parsed, complex values truncated
                raise TypeError(
                    f"backward: the seed gradient for {_describe(self)} must hold real numbers, "
                    f"got {type(raw).__name__} of dtype kind {kind!r}; pass an array like "
                    "ag.ones_like(y)"
                )
            # a copy: the seed becomes a grad, and must not alias the caller's array
            seed = xp.array(raw, dtype=self.dtype)
            if seed.shape != self.shape:
                raise ValueError(
                    f"backward: the seed gradient has shape {tuple(seed.shape)} but "
                    f"{_describe(self)} has shape {tuple(self.shape)}"
                )
        if settings.detect_anomaly and not bool(xp.isfinite(self.value).all()):
            raise FloatingPointError(f"backward: {_describe(self)} has non-finite values")
        if not create_graph:
            run_backward(self, seed, None)
            return
        previous = grad_mode.enabled, grad_mode.create_graph
        grad_mode.enabled = grad_mode.create_graph = True
        try:
            run_backward(self, _leaf(seed, False), None)
        finally:
            grad_mode.enabled, grad_mode.create_graph = previous

    def zero_grad(self) -> None:
        """Set the grad of every node in this graph to None."""
        for node in topological_sort(self):
            node.grad = None

    def _backward(self) -> None:
        rules = self._rules
        g = self.grad
        if rules is None or g is None:
            return
        inputs = self.inputs
        if grad_mode.create_graph:
            args, out = inputs, self
            if not isinstance(g, Tensor):
                g = _leaf(g, False)
        else:
            args = tuple([t.value for t in inputs])
            out = self.value
        ctx = self._ctx
        for inp, rule in zip(inputs, rules):
            if rule is None or not inp.requires_grad:
                continue
            gi = rule(g, out, ctx, *args)
            if gi.shape != inp.value.shape:
                gi = _summed_back(gi, inp, self)
            if not inp.inputs and gi.dtype != inp.value.dtype and not isinstance(gi, Tensor):
                gi = gi.astype(inp.value.dtype)  # a leaf's grad has the leaf's dtype (torch's rule)
            current = inp.grad
            if current is not None:
                inp.grad = current + gi
            elif inp.inputs or isinstance(gi, Tensor) or (gi.base is None and gi is not g):
                inp.grad = gi
            else:  # a leaf's grad is the user's: never a view shared with another node
                inp.grad = gi.copy()

    # -- operators -------------------------------------------------------------------------
    def __add__(self, other: Any) -> Tensor:
        return add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return div(other, self)

    def __pow__(self, exponent: Any) -> Tensor:
        return power(self, exponent)

    def __rpow__(self, base: Any) -> Tensor:
        return power(base, self)

    def __neg__(self) -> Tensor:
        return _node(-self.value, (self,), "neg", (_neg_rule,))

    def __matmul__(self, other: Any) -> Tensor:
        return matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return matmul(other, self)

    def __getitem__(self, index: Any) -> Tensor:
        return getitem(self, index)

    # Comparisons give plain boolean arrays: they are not differentiable.
    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        return self.value == _value_of(other)

    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
        return self.value != _value_of(other)

    def __lt__(self, other: Any) -> Any:
        return self.value < _value_of(other)

    def __le__(self, other: Any) -> Any:
        return self.value <= _value_of(other)

    def __gt__(self, other: Any) -> Any:
        return self.value > _value_of(other)

    def __ge__(self, other: Any) -> Any:
        return self.value >= _value_of(other)

    def __bool__(self) -> bool:
        if self.value.size != 1:
            raise ValueError(
                f"the truth value of {_describe(self)} is ambiguous; use .value.any() or .all()"
            )
        return bool(self.value)

    def __float__(self) -> float:
        return self.item()

    # -- methods that mirror the ag. functions ------------------------------------------------
    def exp(self) -> Tensor:
        return exp(self)

    def log(self) -> Tensor:
        return log(self)

    def sqrt(self) -> Tensor:
        return sqrt(self)

    def abs(self) -> Tensor:
        return absolute(self)

    def relu(self) -> Tensor:
        return relu(self)

    def tanh(self) -> Tensor:
        return tanh(self)

    def sigmoid(self) -> Tensor:
        return sigmoid(self)

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return tsum(self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return mean(self, axis, keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return tmax(self, axis, keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return tmin(self, axis, keepdims)

    def var(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        return var(self, axis, keepdims, ddof)

    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return reshape(self, shape)

    def flatten(self) -> Tensor:
        return reshape(self, (-1,))

    def transpose(self, *axes: Any) -> Tensor:
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return transpose(self, axes or None)

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        return swapaxes(self, axis1, axis2)

    def squeeze(self, axis: Any = None) -> Tensor:
        return squeeze(self, axis)

    def clip(self, low: Any = None, high: Any = None) -> Tensor:
        return clip(self, low, high)

    def softmax(self, axis: int = -1) -> Tensor:
        return softmax(self, axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return log_softmax(self, axis)

    def logsumexp(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return logsumexp(self, axis, keepdims)

    def backward_rule(self) -> tuple[str, ...]:
        """This node's backward rule as text, one template per input (for traces)."""
        from ag.tensor_rules_text import rule_templates

        return rule_templates(self)


# -- construction -------------------------------------------------------------------------


def _as_float_array(value: Any, dtype: Any, label: str, follow_default: bool = True,
                    copy: bool = False) -> Any:
    if isinstance(value, Tensor):
        value = value.value
    xp = array_module_of(value)
    if xp is np and (follow_default or not isinstance(value, np.ndarray)):
        # host data goes to the default device (ag.set_default_device): Tensor(data) is
        # an explicit construction, so this upload is asked for
        xp = settings.default_xp
    try:
        array = xp.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as err:
        where = f" {label!r}" if label else ""
        raise TypeError(f"Tensor{where}: cannot make an array of {type(value).__name__}: {err}") from None
    kind = array.dtype.kind
    if kind == "f":
        if copy and (array is value or getattr(array, "base", None) is not None):
            array = array.copy()  # the caller's array (or a view of it): never alias it
        return array
    if kind in "iu":
        return array.astype(xp.float64)
    where = f" {label!r}" if label else ""
    raise TypeError(
        f"Tensor{where}: dtype {array.dtype} is not supported; ag tensors hold floating "
        "point numbers (float64 by default, float32 on request)"
    )


def from_numpy(array: Any, label: str = "", requires_grad: bool = True) -> Tensor:
    """A leaf that wraps ``array`` without copying it: the two share memory.

    ``ag.Tensor(array)`` copies (as ``torch.tensor``); this is ``torch.from_numpy``'s
    zero-copy way, for big data you do not want twice. Changing one changes the other,
    and an optimizer step on the tensor writes into ``array``. The array must already
    be floating point (a conversion would be a copy) and stays on its device.

    >>> import numpy as np, ag
    >>> a = np.zeros(2); t = ag.from_numpy(a); t.value += 1; a
    array([1., 1.])
    """
    dtype = getattr(array, "dtype", None)
    if dtype is None or getattr(dtype, "kind", "") != "f" or not hasattr(array, "shape"):
        raise TypeError(
            f"from_numpy{' ' + repr(label) if label else ''}: needs a floating-point array, "
            f"got {type(array).__name__}{' of dtype ' + str(dtype) if dtype is not None else ''}; "
            "use ag.Tensor(...) to convert (it copies)"
        )
    out = _leaf(array, bool(requires_grad))
    out.label = label
    return out


def _wrap(value: Any, label: str, requires_grad: bool) -> Tensor:
    """A leaf around an array the caller has just made (the factories): no copy."""
    out = _leaf(_as_float_array(value, None, label), bool(requires_grad))
    out.label = label
    return out


def _leaf(value: Any, requires_grad: bool) -> Tensor:
    """A leaf from an array that is already a float array (no checks)."""
    out = _new(Tensor)
    out.value = value
    out.grad = None
    out.inputs = ()
    out.op = ""
    out.label = ""
    out.requires_grad = requires_grad
    out._rules = None
    out._ctx = None
    out._id = next(_creation_counter)
    return out


def custom_op(value: Any, inputs: Sequence[Tensor], op: str, rules: Sequence[Any],
              ctx: Any = None) -> Tensor:
    """Make a differentiable op from its output ``value`` and one backward rule per input.

    Each rule is ``rule(g, out, ctx, *inputs) -> gradient of that input``. In a plain
    backward ``g`` (the output's gradient), ``out`` and the inputs are arrays; under
    ``backward(create_graph=True)`` they are Tensors and the rule must return a Tensor
    (write it with operators and ``ag`` functions and it serves both). A rule may
    return a gradient that broadcasts to its input's shape: it is summed back. A rule
    of None means that input gets no gradient. Prefer module-level functions to
    closures over the output node: those would make reference cycles.

    >>> import numpy as np, ag
    >>> def cube_rule(g, out, ctx, a):
    ...     return g * 3 * a * a
    >>> x = ag.tensor([1.0, 2.0])
    >>> y = ag.custom_op(x.value ** 3, [x], "cube", [cube_rule])
    >>> y.sum().backward(); x.grad
    array([ 3., 12.])
    """
    inputs = tuple(inputs)
    rules = tuple(rules)
    if not all(isinstance(t, Tensor) for t in inputs):
        raise TypeError(f"custom_op {op!r}: inputs must be Tensors")
    if len(rules) != len(inputs):
        raise ValueError(f"custom_op {op!r}: {len(inputs)} inputs but {len(rules)} rules")
    value = _as_float_array(value, None, op)
    return _node(value, inputs, op, rules, ctx)


def _node(value: Any, inputs: tuple, op: str, rules: tuple, ctx: Any = None) -> Tensor:
    """The output of an op; it records its inputs only when a gradient can flow."""
    out = _new(Tensor)
    out.value = value
    out.grad = None
    out.op = op
    out.label = ""
    out._id = next(_creation_counter)
    if grad_mode.enabled and any([t.requires_grad for t in inputs]):
        out.inputs = inputs
        out.requires_grad = True
        out._rules = rules
        out._ctx = ctx
    else:
        out.inputs = ()
        out.requires_grad = False
        out._rules = None
        out._ctx = None
    if settings.detect_anomaly:
        _check_finite(out, inputs)
    return out


def _check_finite(out: Tensor, inputs: tuple) -> None:
    xp = array_module_of(out.value)
    if not bool(xp.isfinite(out.value).all()):
        raise FloatingPointError(
            f"anomaly: {out.op} of {', '.join(_describe(t) for t in inputs)} produced "
            "non-finite values"
        )


def _lift(x: Any, like: Tensor | None = None) -> Tensor:
    """Tensors pass through; numbers and arrays become constant leaves."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (int, float)) and not isinstance(x, bool):
        xp = array_module_of(like.value)
        return _leaf(xp.asarray(x, dtype=like.value.dtype), False)
    if isinstance(x, np.ndarray):  # a host array stays on the host: mixing it with a
        return _leaf(_as_float_array(x, None, "", follow_default=False), False)  # device is an error
    if like is not None and isinstance(x, np.generic) and array_module_of(like.value) is not np:
        return Tensor(array_module_of(like.value).asarray(x), requires_grad=False)  # as CuPy does
    return Tensor(x, requires_grad=False)


def _value_of(x: Any) -> Any:
    return x.value if isinstance(x, Tensor) else x


def tensor(value: Any, label: str = "", requires_grad: bool = True, dtype: Any = None) -> Tensor:
    """A leaf Tensor, as the course writes it: ``ag.tensor([[1.0, 2.0]], label="W")``."""
    return Tensor(value, label=label, requires_grad=requires_grad, dtype=dtype)


def _unary(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x, requires_grad=False)


def _pair(a: Any, b: Any, op: str = "op") -> tuple[Tensor, Tensor]:
    try:
        if not isinstance(a, Tensor):
            a = _lift(a, b if isinstance(b, Tensor) else None)
        if not isinstance(b, Tensor):
            b = _lift(b, a)
    except TypeError as err:
        raise _operand_error(op, a, b, err) from None
    if type(a.value) is not type(b.value):  # cheap; devices are compared only then
        _check_devices(op, a, b)
    return a, b


def _operand_error(op: str, a: Any, b: Any, err: Exception) -> TypeError:
    """The error for an operand that is not a number, an array or a Tensor."""
    tensor, other = (a, b) if isinstance(a, Tensor) else (b, a)
    known = _describe(tensor) if isinstance(tensor, Tensor) else type(tensor).__name__
    if type(other).__name__ == "Scalar" and hasattr(other, "_backward"):
        return TypeError(
            f"{op}: cannot combine the Tensor {known} with the ag.Scalar "
            f"{other.label or other.op or 'leaf'!r} (value={other.value!r}): the two engines "
            "do not mix. Use the Scalar's .value (a float) as a constant, or build the whole "
            "expression from Tensors"
        )
    return TypeError(f"{op}: cannot combine the Tensor {known} with {type(other).__name__}: {err}")


# -- shape helpers that accept arrays and Tensors -------------------------------------------


def sum_to_shape(g: Any, shape: tuple) -> Any:
    """Sum ``g`` over the axes that broadcasting added or stretched to reach ``shape``.

    ``g`` must be ``shape`` broadcast: anything else (a transposed or mis-sized
    gradient from a rule) is an error, never silently reshaped.

    >>> sum_to_shape(np.ones((2, 3)), (3,))
    array([2., 2., 2.])
    """
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    if lead < 0 or any(n != 1 and n != m for n, m in zip(shape, g.shape[lead:])):
        raise ValueError(
            f"sum_to_shape: a gradient of shape {tuple(g.shape)} is not a broadcast of the "
            f"shape {tuple(shape)}, so it cannot be summed back to it"
        )
    stretched = tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    if stretched:
        g = g.sum(axis=stretched, keepdims=True)
    if lead:  # summing the added axes away leaves exactly `shape`, as a fresh array
        g = g.sum(axis=tuple(range(lead)))
    return g


def _summed_back(gi: Any, inp: Tensor, node: Tensor) -> Any:
    """``gi`` summed back to ``inp``'s shape, or an error naming the op and both shapes."""
    try:
        return sum_to_shape(gi, inp.value.shape)
    except ValueError:
        k = next(i for i, t in enumerate(node.inputs) if t is inp)
        raise ValueError(
            f"backward of {node.op!r}: the rule for input {k} ({_describe(inp)}) returned a "
            f"gradient of shape {tuple(gi.shape)}, which is not a broadcast of the input's "
            f"shape {tuple(inp.value.shape)}; a rule must return the input's shape (or one "
            "that broadcasts from it)"
        ) from None


def _expand(g: Any, shape: tuple) -> Any:
    """``g`` broadcast to ``shape``: a differentiable node for a Tensor, else a fresh
    C-ordered array (a stride-0 view would be cheaper to make but slows every
    consumer, and NumPy's broadcast_to costs more than the copy at small sizes)."""
    if isinstance(g, Tensor):
        return broadcast_to(g, shape)
    out = array_module_of(g).empty(shape, dtype=g.dtype)
    out[...] = g
    return out


def _normalize_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    if type(axis) is int and -ndim <= axis < ndim:  # the common case, without the loop
        return (axis % ndim,)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise np.exceptions.AxisError(f"axis {a} is out of bounds for a tensor of dimension {ndim}")
        out.append(int(a) % max(ndim, 1))
    return tuple(out)


def _keepdims_shape(shape: tuple, axes: tuple[int, ...]) -> tuple:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


# -- factories ------------------------------------------------------------------------------------------


def _shape_arg(shape: tuple) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = True, label: str = "") -> Tensor:
    """A tensor of zeros: ``ag.zeros(2, 3)`` or ``ag.zeros((2, 3))``."""
    return _wrap(settings.default_xp.zeros(_shape_arg(shape), dtype=dtype or np.float64),
                 label, requires_grad)


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = True, label: str = "") -> Tensor:
    """A tensor of ones."""
    return _wrap(settings.default_xp.ones(_shape_arg(shape), dtype=dtype or np.float64),
                 label, requires_grad)


def _host_to_default(array: np.ndarray) -> Any:
    xp = settings.default_xp
    return array if xp is np else xp.asarray(array)


def randn(*shape: Any, rng: Any = None, dtype: Any = None, requires_grad: bool = True,
          label: str = "") -> Tensor:
    """Standard normal samples; pass ``rng=np.random.default_rng(seed)`` to repeat them."""
    rng = rng if rng is not None else np.random.default_rng()
    value = rng.standard_normal(_shape_arg(shape)).astype(dtype or np.float64)
    return _wrap(_host_to_default(value), label, requires_grad)


def rand(*shape: Any, rng: Any = None, dtype: Any = None, requires_grad: bool = True,
         label: str = "") -> Tensor:
    """Uniform samples in [0, 1)."""
    rng = rng if rng is not None else np.random.default_rng()
    value = rng.random(_shape_arg(shape)).astype(dtype or np.float64)
    return _wrap(_host_to_default(value), label, requires_grad)


def arange(*args: Any, dtype: Any = None, requires_grad: bool = True, label: str = "") -> Tensor:
    """Evenly spaced values, as ``np.arange`` (float64 unless ``dtype`` says otherwise)."""
    return _wrap(settings.default_xp.arange(*args, dtype=dtype or np.float64), label,
                 requires_grad)


def zeros_like(x: Any, requires_grad: bool = True, label: str = "") -> Tensor:
    """Zeros with the shape, dtype and device of ``x``."""
    v = _value_of(x)
    return _wrap(array_module_of(v).zeros_like(v), label, requires_grad)


def ones_like(x: Any, requires_grad: bool = True, label: str = "") -> Tensor:
    """Ones with the shape, dtype and device of ``x``."""
    v = _value_of(x)
    return _wrap(array_module_of(v).ones_like(v), label, requires_grad)


def randn_like(x: Any, rng: Any = None, requires_grad: bool = True, label: str = "") -> Tensor:
    """Standard normal samples with the shape and dtype of ``x``."""
    v = _value_of(x)
    rng = rng if rng is not None else np.random.default_rng()
    sample = rng.standard_normal(v.shape).astype(v.dtype)
    return _wrap(array_module_of(v).asarray(sample), label, requires_grad)


# The op set lives in ag/ops/, one module per family of ops. Importing it here, once
# Tensor and the construction helpers exist, gives Tensor's methods their functions
# and keeps ag.tensor the one place every op can be imported from.
from ag.ops.arithmetic import (
    _add_a,
    _binary,
    _div_a,
    _div_b,
    _mul_a,
    _mul_b,
    _neg_rule,
    _np_add,
    _np_div,
    _np_mul,
    _np_sub,
    _pow_a,
    _pow_b,
    _pow_const_rule,
    _sub_b,
    add,
    div,
    mul,
    power,
    sub,
)
from ag.ops.elementwise import (
    _abs_rule,
    _clip_rule,
    _exp_rule,
    _log_rule,
    _mask_a,
    _mask_b,
    _relu_rule,
    _sigmoid_rule,
    _sqrt_rule,
    _tanh_rule,
    absolute,
    clip,
    exp,
    log,
    maximum,
    minimum,
    relu,
    sigmoid,
    sqrt,
    tanh,
    where,
)
from ag.ops.indexing import (
    _getitem_rule,
    _index_add_array,
    _index_add_rule,
    _is_basic_index,
    _part_rules,
    _plain_index,
    concatenate,
    getitem,
    index_add,
    split,
    stack,
)
from ag.ops.linalg import (
    _blas_ready,
    _check_sparse_device,
    _dense_times_sparse,
    _is_sparse,
    _matmul_a,
    _matmul_b,
    _selection_columns,
    _sparse_module,
    _spc_dense_left,
    _spc_dense_right,
    matmul,
    spcmatmul,
)
from ag.ops.reductions import (
    _extreme,
    _extreme_rule,
    _mean_rule,
    _sum_rule,
    mean,
    tmax,
    tmin,
    tsum,
    var,
)
from ag.ops.shape import (
    _broadcast_rule,
    _reshape_rule,
    _transpose_rule,
    broadcast_to,
    expand_dims,
    flatten,
    moveaxis,
    reshape,
    squeeze,
    swapaxes,
    transpose,
)
from ag.ops.softmax import (
    _cross_entropy_rule,
    _log_softmax_rule,
    _logsumexp_rule,
    _softmax_rule,
    _stable_logsumexp,
    _stable_max,
    log_softmax,
    logsumexp,
    softmax,
    softmax_cross_entropy,
)


# `ag.tensor(...)` is the course's constructor, and `ag.tensor` is also this module:
# importing `ag.tensor` rebinds the package attribute to the module, so the module
# itself is made callable and forwards to the constructor.
class _CallableModule(sys.modules[__name__].__class__):
    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        return tensor(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
