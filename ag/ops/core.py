"""The Tensor node and the core every op is built on (import it through ``ag.ops.api``).

``Tensor`` is the array engine's graph node: value, grad, inputs, op, label and its
backward rules. Its operators and methods (``+``, ``@``, ``.sum()``, ...) are put
on the class by the op registry when ``ag.ops`` is imported (``ag.tensor`` does).

How a node's backward runs: each node keeps one rule per input,
``rule(g, out, ctx, *inputs)`` returning that input's gradient, and
:meth:`Tensor._backward` accumulates it, first summing a broadcast gradient back to
the input's shape (the one place broadcasting is undone). Rules use only operators
and functions that accept both raw arrays and Tensors, so the same rule serves the
plain backward (arrays, fast) and ``backward(create_graph=True)`` (Tensors, so the
gradient is itself a graph that can be differentiated again).

>>> import ag
>>> x = ag.tensor([1.0, 2.0, 3.0], label="x")
>>> (x * x).sum().backward()
>>> x.grad
array([2., 4., 6.])
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import count
from typing import Any

import numpy as np

from ag import backend, buffers, registry
from ag.autodiff import grad_mode, node_title, run_backward, topological_sort
from ag.backend import array_module_of

creation_counter = count(1)
"""Numbers nodes in creation order (``Tensor._id``): a later node has a larger id."""

_new = object.__new__


def describe(t: Tensor) -> str:
    """A node for error messages: its label (or op) and shape.

    >>> describe(Tensor([1.0, 2.0], label="x"))
    "'x' (2,)"
    """
    return f"{node_title(t)} {tuple(t.shape)}"


def describe_operands(op: str, *tensors: Tensor) -> str:
    """``"op: a (2,) and b (3,)"``: the start of an error message about an op's operands."""
    return f"{op}: " + " and ".join(describe(t) for t in tensors)


def check_devices(op: str, *tensors: Tensor) -> None:
    """Raise ``DeviceMismatchError`` when the operands of ``op`` live on different devices.

    Ops call it only when the value types differ, so the common path pays one ``is`` test.
    """
    from ag.gpu.device import DeviceMismatchError, device_of

    devices = [device_of(t.value) for t in tensors]
    for t, d in zip(tensors[1:], devices[1:]):
        if d != devices[0]:
            raise DeviceMismatchError(
                f"{op}: {describe(tensors[0])} is on {devices[0]} but {describe(t)} is on {d}; "
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
        self.value = as_float_array(value, dtype, label, copy=True)
        self.grad = None
        self.inputs = ()
        self.op = ""
        self.label = label
        self.requires_grad = bool(requires_grad)
        self._rules = None
        self._ctx = None
        self._id = next(creation_counter)

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
                f"item: {describe(self)} has {self.value.size} elements; .item() needs exactly "
                "one (reduce first, e.g. .sum() or .mean(), or index one element)"
            )
        return float(self.value.item() if hasattr(self.value, "item") else self.value)

    def numpy(self) -> np.ndarray:
        """The value as a NumPy array on the host (copied from a device if needed)."""
        return backend.to_host(self.value)

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
        return leaf(self.value, False)

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), precision=4, separator=", ", threshold=20,
                               prefix="Tensor(")
        extras = [f"label={self.label!r}"] if self.label else []
        if self.op:
            extras.append(f"op={self.op!r}")
        if self.value.dtype != np.float64:
            extras.append(f"dtype={self.value.dtype}")
        extras.append(f"requires_grad={self.requires_grad}")  # as torch writes it
        if self.grad is not None:
            grad = self.grad.value if isinstance(self.grad, Tensor) else self.grad
            get = getattr(grad, "get", None)
            text = np.array2string(get() if callable(get) else np.asarray(grad), precision=4,
                                   separator=", ", threshold=20, prefix="       grad=")
            # a matrix grad starts on its own line, aligned under the value
            extras.append(f"\n       grad={text}" if "\n" in text else f"grad={text}")
        return f"Tensor({body}{''.join(',' + ('' if e[0] == chr(10) else ' ') + e for e in extras)})"

    def _repr_markdown_(self) -> str:
        """A notebook shows a Tensor as its label, shape, value and grad (full when small)."""
        from ag.number_format import matrix_markdown, shape_text

        head = f"**Tensor** `{self.label}` " if self.label else "**Tensor** "
        lines = [head + f"shape `{shape_text(self.value)}`, dtype `{self.value.dtype}`, "
                 f"requires_grad `{self.requires_grad}`" + (f", op `{self.op}`" if self.op else ""),
                 "", "value:", "", matrix_markdown(self.numpy())]
        if self.grad is not None:
            grad = self.grad.value if isinstance(self.grad, Tensor) else self.grad
            get = getattr(grad, "get", None)
            lines += ["", "grad:", "", matrix_markdown(get() if callable(get) else np.asarray(grad))]
        return "\n".join(lines)

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
                f"backward: {describe(self)} does not require grad (it was built from "
                "constants, inside ag.no_grad(), or with requires_grad=False)"
            )
        xp = array_module_of(self.value)
        if grad is None:
            if self.value.size != 1:
                raise RuntimeError(
                    f"backward: {describe(self)} is not a scalar; pass a seed gradient of "
                    f"shape {tuple(self.shape)}, e.g. y.backward(ag.ones_like(y))"
                )
            seed = xp.ones_like(self.value)
        else:
            raw = grad.value if isinstance(grad, Tensor) else grad
            kind = getattr(getattr(raw, "dtype", None), "kind", None) or np.asarray(raw).dtype.kind
            if kind not in "biuf":  # strings would be parsed, complex values truncated
                raise TypeError(
                    f"backward: the seed gradient for {describe(self)} must hold real numbers, "
                    f"got {type(raw).__name__} of dtype kind {kind!r}; pass an array like "
                    "ag.ones_like(y)"
                )
            # A copy, always: the seed becomes this node's grad (and, through the rules
            # that pass it on, views of it become other nodes' grads), so it must not
            # alias an array the caller can still change. Into a reused buffer: the copy
            # of a large seed then costs a memcpy, not fresh pages (ag.buffers).
            seed = _own_copy(raw, self.dtype, xp)
            if seed.shape != self.shape:
                raise ValueError(
                    f"backward: the seed gradient has shape {tuple(seed.shape)} but "
                    f"{describe(self)} has shape {tuple(self.shape)}"
                )
        if grad_mode.detect_anomaly and not bool(xp.isfinite(self.value).all()):
            raise FloatingPointError(f"backward: {describe(self)} has non-finite values")
        if not create_graph:
            run_backward(self, seed, None)
            return
        previous = grad_mode.enabled, grad_mode.create_graph
        grad_mode.enabled = grad_mode.create_graph = True
        try:
            run_backward(self, leaf(seed, False), None)
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
                g = leaf(g, False)
        elif len(inputs) == 2:  # most ops: the tuple without a list
            args = (inputs[0].value, inputs[1].value)
            out = self.value
        else:
            args = tuple([t.value for t in inputs])
            out = self.value
        ctx = self._ctx
        for inp, rule in zip(inputs, rules):
            if rule is None or not inp.requires_grad:
                continue
            gi = rule(g, out, ctx, *args)
            value = inp.value
            if gi.shape != value.shape:
                if type(gi) is np.ndarray and gi.shape[1:] == value.shape:
                    gi = np.add.reduce(gi, axis=0)  # a bias over a batch, without two calls
                else:
                    gi = _summed_back(gi, inp, self)
            current = inp.grad
            if inp.inputs:  # an interior node: its grad is this pass's, shared views are fine
                inp.grad = gi if current is None else current + gi
                continue
            if gi.dtype is not value.dtype and gi.dtype != value.dtype:  # `is`: the usual case, fast
                gi = astype(gi, value.dtype)  # a leaf's grad has the leaf's dtype (torch's rule)
            if current is not None:
                inp.grad = current + gi
            elif isinstance(gi, Tensor) or (gi.base is None and gi is not g):
                inp.grad = gi
            else:  # a leaf's grad is the user's: never a view shared with another node
                inp.grad = gi.copy()


    # Comparisons give plain boolean arrays: they are not differentiable.
    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        return self.value == value_of(other)

    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
        return self.value != value_of(other)

    def __lt__(self, other: Any) -> Any:
        return self.value < value_of(other)

    def __le__(self, other: Any) -> Any:
        return self.value <= value_of(other)

    def __gt__(self, other: Any) -> Any:
        return self.value > value_of(other)

    def __ge__(self, other: Any) -> Any:
        return self.value >= value_of(other)

    def __bool__(self) -> bool:
        if self.value.size != 1:
            raise ValueError(
                f"the truth value of {describe(self)} is ambiguous; use .value.any() or .all()"
            )
        return bool(self.value)

    def __float__(self) -> float:
        return self.item()

    def rule_facts(self) -> dict[str, str]:
        """What fills this node's rule text: axis, keepdims, count, index, permutation, ..."""
        if self._rules is None:  # a leaf, or a node of data alone: no rule, no facts kept
            return {}
        return registry.rule_facts("tensor", self)

    def backward_rule(self) -> tuple[str, ...]:
        """This node's backward rule as text, one template per input (for traces).

        The text is registered beside each op's rules (``ag.registry``); an op
        without registered text (a ``custom_op``) gets a generic line.
        """
        try:
            return registry.rule_templates("tensor", self)
        except KeyError:
            generic = "{a}.grad += (rule of " + self.op + ")"
            return tuple(generic.replace("{a}", name) for name in
                         (["{a}", "{b}"] + [f"input {k}" for k in range(2, len(self.inputs))])
                         )[: len(self.inputs)]


registry.define_engine("tensor", Tensor)


# -- construction -------------------------------------------------------------------------


def _own_copy(raw: Any, dtype: Any, xp: Any) -> Any:
    """``raw`` (a backward seed) copied into an array of ``dtype`` that only ag holds."""
    if xp is np and type(raw) is np.ndarray:
        seed = buffers.empty(raw.shape, dtype)
        np.copyto(seed, raw, casting="unsafe")
        return seed
    return xp.array(raw, dtype=dtype)


def as_float_array(value: Any, dtype: Any, label: str, follow_default: bool = True,
                   copy: bool = False) -> Any:
    """``value`` as a floating array of its array module (ints become float64).

    Host data goes to the default device unless ``follow_default`` is false and it is
    already a NumPy array. Other dtypes are a TypeError naming ``label``.
    """
    if isinstance(value, Tensor):
        value = value.value
    xp = array_module_of(value)
    if xp is np and (follow_default or not isinstance(value, np.ndarray)):
        # host data goes to the default device (ag.set_default_device): Tensor(data) is
        # an explicit construction, so this upload is asked for
        xp = backend.default.xp
    try:
        array = xp.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as err:
        where = f" {label!r}" if label else ""
        raise TypeError(f"Tensor{where}: cannot make an array of {type(value).__name__}: {err}") from None
    kind = array.dtype.kind
    if kind == "O" and type(value).__name__ == "Scalar" and hasattr(value, "_backward"):
        raise TypeError(
            f"Tensor{' ' + repr(label) if label else ''}: got an ag.Scalar (value={value.value!r}); "
            "the two engines do not mix: use the Scalar's .value (a float), or build the whole "
            "expression from Tensors"
        )
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
    out = leaf(array, bool(requires_grad))
    out.label = label
    return out


def wrap(value: Any, label: str, requires_grad: bool) -> Tensor:
    """A leaf around an array the caller has just made (the factories): no copy."""
    out = leaf(as_float_array(value, None, label), bool(requires_grad))
    out.label = label
    return out


def leaf(value: Any, requires_grad: bool) -> Tensor:
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
    out._id = next(creation_counter)
    return out


class _ReadOnlyGrad:
    """A custom_op rule that sees its ``g`` read-only while it runs.

    ``g`` is the output's ``.grad`` (an array of this pass), so a rule that wrote into
    it (``g *= 3``) would change the stored grad; with the flag off that is an error
    naming the rule, under every seed. The flag is turned back on afterwards, and the
    array is the same object (a checkpoint's rules tell a pass by its ``g``).
    """

    __slots__ = ("rule", "op", "position")

    def __init__(self, rule: Any, op: str, position: int) -> None:
        self.rule, self.op, self.position = rule, op, position

    def __call__(self, g: Any, out: Any, ctx: Any, *inputs: Any) -> Any:
        locked = type(g) is np.ndarray and g.flags.writeable
        if locked:
            g.flags.writeable = False
        try:
            return self.rule(g, out, ctx, *inputs)
        except ValueError as err:
            if not locked or "read-only" not in str(err):
                raise
            name = getattr(self.rule, "__qualname__", type(self.rule).__name__)
            raise ValueError(
                f"custom_op {self.op!r}: the rule for input {self.position} ({name}) wrote into "
                f"its g, the output's grad ({err}); a rule must not change g, out or the inputs "
                "in place: return a new array (`return g * 3`, not `g *= 3; return g`)"
            ) from err
        finally:
            if locked:
                g.flags.writeable = True


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

    A rule must not write into ``g``, ``out`` or the inputs (they are the graph's own
    grad and values): return a new array (``return g * 3``). ``g`` is read-only while
    the rule runs, so ``g *= 3`` raises an error naming the rule.

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
    value = as_float_array(value, None, op)
    rules = tuple(None if r is None else _ReadOnlyGrad(r, op, k) for k, r in enumerate(rules))
    return make_node(value, inputs, op, rules, ctx)


def make_node(value: Any, inputs: tuple, op: str, rules: tuple, ctx: Any = None) -> Tensor:
    """The output node of an op: ``value``, its ``inputs`` and one rule per input.

    With grad mode on it records every input, needed or not, so the graph, its drawing
    and the exam's topological order are the course's (``moveaxis(Xin, 1, 2)`` of data
    ``Xin`` is a node with the input ``Xin``). Rules and ``ctx`` are kept only when some
    input requires grad: a node of data alone holds its inputs and nothing else, and
    the backward pass runs no rule for it (nor for any input that needs no grad).
    Inside ``ag.no_grad()`` nothing is recorded. In anomaly mode it checks the value is
    finite. ``ctx`` is handed to every rule (shapes, masks, an exponent: whatever the
    forward kept).

    >>> x = Tensor([1.0, 2.0])
    >>> y = make_node(x.value * 2, (x,), "double", (lambda g, out, ctx, a: 2 * g,))
    >>> y.sum().backward(); x.grad
    array([2., 2.])
    """
    out = _new(Tensor)
    out.value = value
    out.grad = None
    out.op = op
    out.label = ""
    out._id = next(creation_counter)
    n = len(inputs)
    if not grad_mode.enabled:
        out.inputs = ()
        out.requires_grad = False
        out._rules = None
        out._ctx = None
    elif (inputs[0].requires_grad if n == 1
          else inputs[0].requires_grad or inputs[1].requires_grad if n == 2
          else any([t.requires_grad for t in inputs])):
        out.inputs = inputs
        out.requires_grad = True
        out._rules = rules
        out._ctx = ctx
    else:  # data only: in the graph for its order and drawing, with nothing to run
        out.inputs = inputs
        out.requires_grad = False
        out._rules = None
        out._ctx = None
    if grad_mode.detect_anomaly:
        check_finite(out, inputs)
    return out


def check_finite(out: Tensor, inputs: tuple) -> None:
    """Raise FloatingPointError naming the op and its inputs if ``out`` is not finite."""
    xp = array_module_of(out.value)
    if not bool(xp.isfinite(out.value).all()):
        raise FloatingPointError(
            f"anomaly: {out.op} of {', '.join(describe(t) for t in inputs)} produced "
            "non-finite values"
        )


def lift(x: Any, like: Tensor | None = None) -> Tensor:
    """Tensors pass through; numbers and arrays become constant leaves.

    A Python number takes the dtype and device of ``like``; a NumPy array stays on
    the host (mixing it with a device tensor is then an error, not a silent copy).

    >>> lift(2.0, like=Tensor([1.0], dtype=np.float32)).dtype
    dtype('float32')
    """
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (int, float)) and not isinstance(x, bool):
        xp = array_module_of(like.value)
        return leaf(xp.asarray(x, dtype=like.value.dtype), False)
    if isinstance(x, np.ndarray):  # a host array stays on the host: mixing it with a
        return leaf(as_float_array(x, None, "", follow_default=False), False)  # device is an error
    if like is not None and isinstance(x, np.generic) and array_module_of(like.value) is not np:
        return Tensor(array_module_of(like.value).asarray(x), requires_grad=False)  # as CuPy does
    return Tensor(x, requires_grad=False)


def value_of(x: Any) -> Any:
    """The array inside a Tensor; anything else as it is."""
    return x.value if isinstance(x, Tensor) else x


def tensor(value: Any, label: str = "", requires_grad: bool = True, dtype: Any = None) -> Tensor:
    """A leaf Tensor, as the course writes it: ``ag.tensor([[1.0, 2.0]], label="W")``."""
    return Tensor(value, label=label, requires_grad=requires_grad, dtype=dtype)


def as_tensor(x: Any) -> Tensor:
    """The one operand of a unary op as a Tensor (data becomes a constant leaf)."""
    return x if isinstance(x, Tensor) else Tensor(x, requires_grad=False)


def lift_pair(a: Any, b: Any, op: str = "op") -> tuple[Tensor, Tensor]:
    """The two operands of a binary op as Tensors on one device.

    A number takes the other operand's dtype and device; operands on different
    devices raise ``DeviceMismatchError`` naming ``op``.

    >>> a, b = lift_pair(Tensor([1.0, 2.0]), 3.0, "add")
    >>> b.value, b.requires_grad
    (array(3.), False)
    """
    try:
        if not isinstance(a, Tensor):
            a = lift(a, b if isinstance(b, Tensor) else None)
        if not isinstance(b, Tensor):
            b = lift(b, a)
    except TypeError as err:
        raise _operand_error(op, a, b, err) from None
    if type(a.value) is not type(b.value):  # cheap; devices are compared only then
        check_devices(op, a, b)
    return a, b


def _operand_error(op: str, a: Any, b: Any, err: Exception) -> TypeError:
    """The error for an operand that is not a number, an array or a Tensor."""
    tensor, other = (a, b) if isinstance(a, Tensor) else (b, a)
    known = describe(tensor) if isinstance(tensor, Tensor) else type(tensor).__name__
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
    if g.shape[1:] == shape:  # the common case (a bias over a batch), without the checks
        # np.add.reduce is ndarray.sum without its Python wrapper
        return np.add.reduce(g, axis=0) if type(g) is np.ndarray else g.sum(axis=0)
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
            f"backward of {node.op!r}: the rule for input {k} ({describe(inp)}) returned a "
            f"gradient of shape {tuple(gi.shape)}, which is not a broadcast of the input's "
            f"shape {tuple(inp.value.shape)}; a rule must return the input's shape (or one "
            "that broadcasts from it)"
        ) from None


def normalize_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """``axis`` (None, an int, negative, or a tuple) as a tuple of non-negative axes.

    >>> normalize_axes(-1, 3), normalize_axes(None, 2)
    ((2,), (0, 1))
    """
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


def keepdims_shape(shape: tuple, axes: tuple[int, ...]) -> tuple:
    """``shape`` with each of ``axes`` set to 1 (a reduction's keepdims shape).

    >>> keepdims_shape((2, 3, 4), (1,))
    (2, 1, 4)
    """
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


# -- registering an op: the registry entry and the Tensor methods that call it -------------


def register_method(name: str, method: Any) -> Any:
    """Put a method that is not itself an op (``reshape(*shape)``) on Tensor."""
    setattr(Tensor, name, method)
    return method


def _astype_rule(g, out, ctx, a):
    return astype(g, a.dtype)  # the gradient goes back in the input's dtype


def astype(x: Any, dtype: Any) -> Any:
    """``x`` converted to the floating ``dtype``, differentiably; arrays pass through.

    The backward pass uses it to give a leaf a grad of the leaf's own dtype, also
    under ``create_graph=True``.

    >>> import numpy as np, ag
    >>> x = ag.tensor([1.5, 2.0])
    >>> y = x.astype(np.float32); y.dtype
    dtype('float32')
    >>> (y * y).sum().backward(); x.grad, x.grad.dtype
    (array([3., 4.]), dtype('float64'))
    """
    if not isinstance(x, Tensor):
        return x.astype(dtype)
    if np.dtype(dtype).kind != "f":
        raise TypeError(f"astype: {describe(x)} can only become a floating dtype, not {np.dtype(dtype)}")
    if x.value.dtype == dtype:
        return x
    return make_node(x.value.astype(dtype), (x,), "astype", (_astype_rule,))


registry.register("tensor", "astype", astype, (_astype_rule,),
                  ("{a}.grad += {out}.grad cast to {a}'s dtype",), methods=("astype",))
