"""The one topological sort and backward loop that both engines use.

A node is any object with ``value``, ``grad``, ``inputs`` (an ordered tuple, left
operand first, duplicates kept), ``op``, ``label`` and a ``_backward()`` method that
adds the node's contribution to its inputs' ``.grad``. :class:`ag.Scalar` and
:class:`ag.Tensor` are such nodes.

The order is the one the course's exams use: a depth-first search that visits the
inputs in operand order and appends a node after all of its inputs. The recursive
version from the slides reads::

    def topological_sort(self):
        topo_order, visited = [], set()
        def dfs(node):
            if node not in visited:
                visited.add(node)
                for input in node.inputs:
                    dfs(input)
                topo_order.append(node)
        dfs(self)
        return topo_order

:func:`topological_sort` returns exactly that list without recursion, so a chain a
million nodes deep works, and it tracks visited nodes by ``id`` because a Tensor's
``==`` is elementwise.

Observers (the backward trace, anomaly mode) watch the loop through one hook; with
none installed the loop is the bare ``for node in reversed(order): node._backward()``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import ContextDecorator, contextmanager, suppress
from typing import Any, Protocol


class Node(Protocol):
    value: Any
    grad: Any
    inputs: tuple
    op: str
    label: str

    def _backward(self) -> None: ...


class BackwardObserver(Protocol):
    """What the backward loop tells an observer, in this order."""

    def begin(self, root: Node, order: list) -> None: ...

    def before(self, step: int, node: Node) -> None: ...

    def after(self, step: int, node: Node) -> None: ...

    def end(self, root: Node) -> None: ...


class GradMode(threading.local):
    """The switches the engines read while they build and run graphs, one set per thread.

    As in PyTorch, each thread has its own: a validation loop inside ``ag.no_grad()`` in
    one thread does not stop another thread's training step from recording its graph,
    and a thread starts with the defaults (recording on, the other switches off, no
    observer), whatever the thread that started it had set.

    >>> import threading, ag
    >>> seen = []
    >>> with ag.no_grad():
    ...     t = threading.Thread(target=lambda: seen.append(ag.is_grad_enabled())); t.start(); t.join()
    ...     seen.append(ag.is_grad_enabled())
    >>> seen
    [True, False]
    """

    def __init__(self) -> None:  # run once in each thread that reads a switch
        self.enabled = True  # record graphs (off inside ag.no_grad())
        self.create_graph = False  # backward builds differentiable graph nodes
        self.detect_anomaly = False  # ops check their outputs are finite (ag.detect_anomaly())
        self.observers: list[BackwardObserver] = []  # watching this thread's backward loops


grad_mode = GradMode()


def topological_sort(root: Node, boundary: Callable[[Any], bool] | None = None) -> list:
    """Nodes reachable from ``root``, each after all of its inputs (exam order).

    ``boundary(node)`` true: the node is listed but its inputs are not entered (a
    recompute's subgraph ends at the nodes made before it).

    >>> import ag
    >>> x = ag.Scalar(2.0, label="x"); y = x * x; z = y * y
    >>> [n.label or n.op for n in topological_sort(z)]
    ['x', 'mul', 'mul']
    >>> [n.label or n.op for n in topological_sort(z, boundary=lambda n: n is y)]
    ['mul', 'mul']
    """
    order: list = []
    visited = {id(root)}
    # Each frame is (node, iterator over its inputs): the explicit form of the
    # recursive dfs, so the order is the same and the depth is unbounded.
    entered = boundary is None or not boundary(root)
    stack: list[tuple[Any, Iterator]] = [(root, iter(root.inputs if entered else ()))]
    push, pop, append, seen, mark = stack.append, stack.pop, order.append, visited.__contains__, visited.add
    while stack:
        node, pending = stack[-1]
        for child in pending:
            key = id(child)
            if not seen(key):
                mark(key)
                inputs = child.inputs
                if inputs and (boundary is None or not boundary(child)):
                    push((child, iter(inputs)))
                    break
                append(child)  # a leaf (or a boundary node) is finished when reached: no frame
        else:
            pop()
            append(node)
    return order


def run_backward(root: Node, seed: Any, cleared_grad: Any, order: list | None = None) -> list:
    """Seed ``root.grad`` and run every node's ``_backward`` in reverse exam order.

    Interior nodes (those with inputs) start from ``cleared_grad`` so that each call
    computes this pass's gradients; leaves keep accumulating, so two calls give
    twice the leaf gradients. Returns the topological order.

    ``order`` is the nodes to run, each after its inputs (default: the topological
    sort of ``root``); ``ag.remat`` passes a recomputed subgraph's, and its inputs,
    not in it, accumulate like leaves. Observers see every step.

    All or nothing: if any node's rule raises (or the user presses Ctrl-C), every
    listed node's ``grad`` is put back as it was before this call, and the error is
    raised again with the failing node's op, label and shape in its message. Rules
    never change a grad in place (they rebind ``.grad``), so remembering the old
    objects is enough: one list of references, the only cost on the success path.
    """
    order = topological_sort(root) if order is None else order
    saved = [node.grad for node in order]
    for node in order:
        if node.inputs:
            node.grad = cleared_grad
    node = root
    begun: tuple = ()
    try:
        # a leaf accumulates, also when it is the root itself (x.backward() twice gives 2)
        root.grad = seed if root.inputs or root.grad is None else root.grad + seed
        if not grad_mode.observers:
            for node in reversed(order):
                if node.inputs:  # a leaf's step does nothing (the Node protocol): not called
                    node._backward()
            return order
        observers = tuple(grad_mode.observers)
        for obs in observers:
            obs.begin(root, order)
        begun = observers
        for step, node in enumerate(reversed(order)):
            for obs in observers:
                obs.before(step, node)
            node._backward()
            for obs in observers:
                obs.after(step, node)
        for obs in observers:
            obs.end(root)
        return order
    except BaseException as err:
        for n, grad in zip(order, saved):
            n.grad = grad
        for obs in begun:  # a pass that began also ends for its observers (a trace closes it)
            with suppress(Exception):
                obs.end(root)
        wrapped = _backward_failure(err, node)
        if wrapped is err:
            raise
        raise wrapped from err


def _backward_failure(err: BaseException, node: Any) -> BaseException:
    """``err`` with the failing node named and the restore said, keeping its type.

    A KeyboardInterrupt, an error already reported by an inner backward (a checkpoint's
    recomputation) and an error whose type takes no message pass through unchanged.
    """
    if not isinstance(err, Exception) or getattr(err, "_ag_backward_reported", False):
        return err
    shape = getattr(getattr(node, "value", None), "shape", None)
    where = f"backward of node {node_name(node)!r}" + (f" {tuple(shape)}" if shape is not None else "")
    if node.inputs:
        where += " (inputs: " + ", ".join(_node_brief(t) for t in node.inputs) + ")"
    message = (f"{where}: {type(err).__name__}: {err}; every .grad is as it was before this "
               "backward() call")
    try:
        wrapped = type(err)(message)
    except Exception:  # an exception type with a special constructor: add a note instead
        wrapped = err
        if hasattr(err, "add_note"):
            err.add_note(message)
    wrapped._ag_backward_reported = True
    return wrapped


def _node_brief(node: Any) -> str:
    shape = getattr(getattr(node, "value", None), "shape", None)
    return node_name(node) + (f" {tuple(shape)}" if shape is not None else "")


@contextmanager
def grads_kept(nodes: Iterable[Node], cleared: Any = None) -> Iterator[None]:
    """Inside the block each node's grad starts from ``cleared``; afterwards (also after
    an error) every one is back as it was. ``ag.grad`` computes gradients this way
    without touching any ``.grad``.

    >>> import ag
    >>> x = ag.Scalar(2.0); y = x * x; x.grad = 5.0
    >>> with grads_kept(topological_sort(y), 0.0):
    ...     y.backward(); inside = x.grad
    >>> inside, x.grad
    (4.0, 5.0)
    """
    saved = [(node, node.grad) for node in nodes]
    try:
        for node, _ in saved:
            node.grad = cleared
        yield
    finally:
        for node, grad in saved:
            node.grad = grad


@contextmanager
def observe_backward(observer: BackwardObserver) -> Iterator[BackwardObserver]:
    """Install ``observer`` on this thread's backward loop for the duration of a ``with``
    block (another thread's backward calls are not shown to it)."""
    observers = grad_mode.observers
    observers.append(observer)
    try:
        yield observer
    finally:
        observers.remove(observer)


class _GradSwitch(ContextDecorator):
    """Set this thread's ``grad_mode.enabled`` inside a ``with`` block (or a decorated
    function), and restore it after, also after an error. A class rather than a generator-based
    context manager: it is entered on every training step's update."""

    __slots__ = ("_previous",)
    _value = True

    def __enter__(self) -> None:
        self._previous = grad_mode.enabled
        grad_mode.enabled = self._value

    def __exit__(self, *exc: object) -> None:
        grad_mode.enabled = self._previous

    def _recreate_cm(self) -> _GradSwitch:  # a decorated function, maybe recursive: fresh each call
        return type(self)()


class no_grad(_GradSwitch):  # noqa: N801 (named like the function it was, and torch's)
    """Build no graph inside the block: for parameter updates and evaluation.

    It holds for the thread that enters it only (as ``torch.no_grad``): other threads
    keep recording.

    >>> import ag
    >>> w = ag.tensor([1.0, 2.0])
    >>> with ag.no_grad():
    ...     w.value -= 0.1 * w.value
    ...     y = w * 2
    >>> y.inputs
    ()
    """

    __slots__ = ()
    _value = False


class enable_grad(_GradSwitch):  # noqa: N801
    """Record graphs again inside a ``no_grad`` block."""

    __slots__ = ()
    _value = True


def is_grad_enabled() -> bool:
    """Whether this thread records graphs now (False inside ``ag.no_grad()``).

    >>> import ag
    >>> with ag.no_grad():
    ...     inside = ag.is_grad_enabled()
    >>> inside, ag.is_grad_enabled()
    (False, True)
    """
    return grad_mode.enabled


def node_name(node: Node) -> str:
    """A node's label, or its op when it has none (for error messages)."""
    return node.label or node.op or "leaf"


def node_title(node: Node) -> str:
    """A node as error messages name it: its label quoted, or its op, or ``leaf``.

    >>> import ag
    >>> node_title(ag.Scalar(1.0, label="x")), node_title(ag.Scalar(1.0) * 2.0)
    ("'x'", 'mul')
    """
    return repr(node.label) if node.label else (node.op or "leaf")

