"""Rematerialization (gradient checkpointing): trade compute for memory.

A plain forward pass keeps every intermediate value alive until backward needs it,
so an N-layer chain holds O(N) activations. ``ag.checkpoint(fn, *args)`` runs
``fn`` and keeps only its output, as ONE graph node; when backward reaches that
node it runs ``fn`` again with the graph switched on, backpropagates the incoming
gradient through the rebuilt subgraph and hands the input gradients on. Splitting a
chain into segments of k layers keeps N/k segment outputs plus one rebuilt segment:
O(N/k + k) memory, O(sqrt N) at k = sqrt N, for about one extra forward pass.

>>> import ag
>>> W = ag.tensor([[1.0, -2.0], [0.5, 1.0]], label="W")
>>> x = ag.tensor([[1.0, 2.0]], label="x")
>>> block = lambda h: ag.tanh(ag.relu(h @ W) @ W)
>>> y = ag.checkpoint(block, x)
>>> y.op, [t.label for t in y.inputs]          # one node; W was found inside block
('checkpoint', ['x', 'W'])
>>> y.sum().backward()
>>> gW = W.grad.copy(); W.grad = x.grad = None
>>> block(x).sum().backward()                   # the plain graph gives the same grads
>>> bool((W.grad == gW).all())
True

What the node's inputs are: the Tensors passed as arguments plus every Tensor that
needs a gradient and that ``fn`` reads without being given it (a Module's
parameters, a closure's weights). With ``params=None`` the first run records the
subgraph once to find them exactly, then drops it, so nothing inside ``fn`` outlives
the call; with ``params=[...]`` (what :func:`checkpoint_sequential` passes for
Modules) ``fn`` runs under ``ag.no_grad()`` and backward checks that nothing was
missed.

Randomness is replayed: the states of NumPy's global generator, of ``ag.nn``'s
shared generator, of generators held by Modules found in ``fn`` (``Dropout(rng=)``)
and of any passed in ``rngs=`` are saved before the forward and restored for the
recompute (and put back afterwards, so the recompute does not shift later draws).
Module buffers (BatchNorm running statistics) are restored after the recompute, so
they are updated once, as in the plain run.

The recompute is built on the input nodes themselves, and its backward stops at
them (every node made before the recompute is a boundary), so the outer graph is
never walked twice. Double backward follows: under ``backward(create_graph=True)``
the returned gradients are graph nodes that depend on the inputs and can be
differentiated again. Nesting works: an inner checkpoint runs
plainly inside the outer forward and becomes its own node in the outer recompute.
"""

from __future__ import annotations

import functools
import gc
import math
import sys
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from ag import registry
from ag.autodiff import enable_grad, grad_mode, no_grad, observe_backward
from ag.ops.api import Tensor, array_module_of, creation_counter, custom_op

__all__ = [
    "checkpoint",
    "checkpoint_sequential",
    "stats",
    "live_tensor_bytes",
    "MemoryMeter",
    "segment_bounds",
    "sqrt_segments",
]


class _Stats:
    """Counters of the work done by recomputation (read them, or ``reset()``)."""

    __slots__ = ("recomputations", "recomputed_nodes")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.recomputations = 0  # how many times a checkpointed fn ran again in backward
        self.recomputed_nodes = 0  # op nodes rebuilt by those runs

    def __repr__(self) -> str:
        return f"remat.stats(recomputations={self.recomputations}, recomputed_nodes={self.recomputed_nodes})"


stats = _Stats()
_meters: list[MemoryMeter] = []  # active meters; empty in normal runs, so sampling costs nothing


# -- what fn touches besides its arguments --------------------------------------------------------


def _module_class() -> type | None:
    # ag.nn is optional here: a Module can only be in play if ag.nn was imported.
    module = sys.modules.get("ag.nn.module")
    return getattr(module, "Module", None)


def _find_context(objects: Iterable[Any], limit: int = 2000) -> tuple[list, list]:
    """Modules and NumPy Generators reachable from ``objects`` (fn, its args, layers).

    Looks through Modules (all sub-modules), bound methods, ``functools.partial``,
    closure cells and defaults, lists, tuples and dicts. It finds the generators a
    Dropout draws from and the modules whose buffers a recompute must not update twice.
    """
    module_cls = _module_class()
    modules: list = []
    generators: list = []
    seen: set[int] = set()
    stack = list(objects)
    while stack and len(seen) < limit:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (Tensor, np.ndarray, str, bytes, int, float)):
            continue
        seen.add(id(obj))
        if isinstance(obj, np.random.Generator):
            generators.append(obj)
        elif module_cls is not None and isinstance(obj, module_cls):
            for m in obj.modules():
                if id(m) not in seen or m is obj:
                    seen.add(id(m))
                    modules.append(m)
                    stack.extend(v for v in vars(m).values() if not isinstance(v, module_cls))
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, types.MethodType):
            stack.extend((obj.__self__, obj.__func__))
        elif isinstance(obj, functools.partial):
            stack.extend((obj.func, obj.args, obj.keywords))
        elif isinstance(obj, types.FunctionType):
            stack.extend(cell.cell_contents for cell in (obj.__closure__ or ()) if _has_contents(cell))
            stack.extend(obj.__defaults__ or ())
        elif isinstance(obj, _Segment):
            stack.extend(obj.layers)
        elif callable(obj) and hasattr(obj, "__dict__") and not isinstance(obj, (type, types.ModuleType)):
            stack.extend(vars(obj).values())  # a callable object holding layers
    return modules, generators


def _has_contents(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


# -- random state and buffers ---------------------------------------------------------------------


class _RandomState:
    """The state of every generator ``fn`` may draw from, taken before the forward."""

    __slots__ = ("legacy", "sources")

    def __init__(self, generators: Sequence[np.random.Generator]) -> None:
        self.legacy = np.random.get_state()
        # A source is a getter, not a Generator: ag.nn.init.manual_seed() swaps the
        # shared generator, and the recompute must seed whichever one fn will use.
        getters: list[Callable[[], np.random.Generator]] = []
        init = sys.modules.get("ag.nn.init")
        if init is not None and hasattr(init, "default_rng"):
            getters.append(init.default_rng)
        shared = getters[0]() if getters else None
        seen = {id(shared)}
        for gen in generators:
            if id(gen) not in seen:
                seen.add(id(gen))
                getters.append(lambda gen=gen: gen)
        self.sources = [(get, get().bit_generator.state) for get in getters]

    @contextmanager
    def replayed(self) -> Iterator[None]:
        """Draws inside the block repeat the forward's; afterwards the streams go on as before."""
        current_legacy = np.random.get_state()
        current = [(get(), get().bit_generator.state) for get, _ in self.sources]
        np.random.set_state(self.legacy)
        for get, state in self.sources:
            get().bit_generator.state = state
        try:
            yield
        finally:
            np.random.set_state(current_legacy)
            for gen, state in current:
                gen.bit_generator.state = state


@contextmanager
def _buffers_kept(modules: Sequence[Any]) -> Iterator[None]:
    """Put module buffers (running statistics) back after the block: one update per step."""
    saved = []
    for m in modules:
        for name in m.__dict__.get("_buffers", ()):
            value = getattr(m, name)
            saved.append((m, name, value, value.copy() if hasattr(value, "copy") else value))
    try:
        yield
    finally:
        for m, name, original, snapshot in saved:
            current = getattr(m, name)
            if current is original and hasattr(original, "copy"):
                original[...] = snapshot  # updated in place
            else:
                setattr(m, name, original)


# -- the rebuilt subgraph -----------------------------------------------------------------------------


def _subgraph_order(root: Tensor, start: int) -> list[Tensor]:
    """Nodes of ``root``'s graph made after id ``start``, then the boundary nodes they read.

    Depth-first, each node after its inputs; a node made before ``start`` (an input,
    a parameter, an outer node) is a boundary: listed, not entered. So the inner
    backward never walks into, or clears grads of, the outer graph.
    """
    order: list[Tensor] = []
    visited = {id(root)}
    stack: list[tuple[Tensor, Iterator]] = [(root, iter(root.inputs if root._id > start else ()))]
    while stack:
        node, pending = stack[-1]
        for child in pending:
            if id(child) not in visited:
                visited.add(id(child))
                stack.append((child, iter(child.inputs if child._id > start else ())))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def _boundary_tensors(root: Tensor, start: int) -> list[Tensor]:
    """Tensors from before ``start`` that ``root`` depends on and that need a gradient."""
    return [n for n in _subgraph_order(root, start) if n._id < start and n.requires_grad]


class _Checkpoint:
    """What a checkpoint node keeps instead of the subgraph: how to rebuild it."""

    __slots__ = ("fn", "args", "inputs", "random", "modules", "pending", "pending_g", "name")

    def __init__(self, fn: Callable, args: tuple, inputs: tuple, random: _RandomState | None,
                 modules: list) -> None:
        self.fn, self.args, self.inputs, self.random, self.modules = fn, args, inputs, random, modules
        self.pending: set[int] = set()  # inputs whose rule has not yet taken its gradient
        self.pending_g: Any = None  # the incoming gradient of that pass
        self.name = getattr(fn, "__name__", type(fn).__name__)

    def rerun(self) -> Tensor:
        """Run ``fn`` again with the graph on, with the forward's random draws."""
        with enable_grad(), _buffers_kept(self.modules):
            if self.random is None:
                out = self.fn(*self.args)
            else:
                with self.random.replayed():
                    out = self.fn(*self.args)
        return _check_output(out, self.fn)

    def gradients(self, g: Any) -> None:
        """Backpropagate ``g`` through a rebuilt subgraph into the inputs' ``.grad``.

        The inputs accumulate in place, exactly as in the plain pass; the per-input
        rules then hand each total to ``Tensor._backward``, which puts it back. So no
        input's gradient is ever held twice (a segment's weight gradients would be).
        """
        start = next(creation_counter)
        out = self.rerun()
        order = _subgraph_order(out, start)
        if _meters:
            for meter in _meters:
                meter.sample()  # every rebuilt value is alive now: the recompute's peak
        wanted = {id(t) for t in self.inputs}
        # An outer Tensor fn reads that needs a gradient but is not an input would lose
        # its gradient: refuse before anything accumulates.
        missed = [n for n in order if n._id < start and n.requires_grad and id(n) not in wanted]
        if missed:
            raise RuntimeError(_missed_message(self.name, missed))
        rebuilt = [n for n in order if n._id > start]
        try:
            # a Tensor under create_graph: the gradient stays a function of g
            out.grad = g if out.grad is None or out._id > start else out.grad + g  # fn may return an input
            for n in reversed(rebuilt):
                n._backward()  # boundary nodes are the outer pass's to run, not ours
                # Nobody reads a rebuilt node's grad: drop it now, so the segment's
                # grads never pile up on top of its values.
                n.grad = None
        finally:
            for n in rebuilt:
                n.grad = None
        stats.recomputations += 1
        stats.recomputed_nodes += sum(1 for n in rebuilt if n.inputs)
        self.pending = {k for k, t in enumerate(self.inputs) if t.requires_grad}
        self.pending_g = g


def _missed_message(name: str, missed: list[Tensor]) -> str:
    what = ", ".join(
        f"{t.label or t.op or 'a leaf'!r} {tuple(t.shape)}" + (" (computed outside it)" if t.inputs else "")
        for t in missed[:4]
    )
    return (
        f"checkpoint({name}): the recompute reads {what}, which needs a gradient but is not one "
        "of the checkpoint's inputs, so its gradient would be lost. Pass it to ag.checkpoint as "
        "an argument, or list it in params=[...] (or use params=None to find it automatically)."
    )


def _rule(k: int, g: Any, out: Any, ctx: _Checkpoint, *inputs: Any) -> Any:
    # Tensor._backward calls one rule per input. The first one rebuilds the subgraph
    # and backpropagates into every input's .grad; each rule then moves its input's
    # total out (Tensor._backward stores it right back). A new incoming g: a new pass.
    if ctx.pending_g is not g or k not in ctx.pending:
        ctx.gradients(g)
    ctx.pending.discard(k)
    if not ctx.pending:
        ctx.pending_g = None  # let the incoming gradient go once every input has its share
    t = ctx.inputs[k]
    total, t.grad = t.grad, None
    if total is None:  # fn did not use this input: its gradient is zero
        total = array_module_of(t.value).zeros_like(t.value)
        if grad_mode.create_graph:
            total = Tensor(total, requires_grad=False)
    return total


_RULES: list[Callable] = []


def _rules(n: int) -> tuple:
    while len(_RULES) < n:
        _RULES.append(functools.partial(_rule, len(_RULES)))
    return tuple(_RULES[:n])


def _check_output(out: Any, fn: Callable) -> Tensor:
    if not isinstance(out, Tensor):
        name = getattr(fn, "__name__", type(fn).__name__)
        raise TypeError(
            f"checkpoint({name}): fn must return one ag.Tensor, got {type(out).__name__}; "
            "to checkpoint several outputs, concatenate them (ag.concatenate) or checkpoint each"
        )
    return out


def _unique(tensors: Iterable[Tensor]) -> list[Tensor]:
    seen: set[int] = set()
    out = []
    for t in tensors:
        if id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


# -- the public functions ------------------------------------------------------------------------------


def checkpoint(
    fn: Callable[..., Tensor],
    *args: Any,
    params: Iterable[Tensor] | None = None,
    rngs: Iterable[np.random.Generator] = (),
    preserve_rng_state: bool = True,
) -> Tensor:
    """``fn(*args)`` as one graph node whose inside is recomputed during backward.

    ``args`` may mix Tensors (those needing no grad too) and anything else, which is
    passed through. ``fn`` must return one Tensor. ``params``: the Tensors ``fn`` reads
    without receiving them (None: find them by recording the subgraph once, then
    dropping it). ``rngs``: extra Generators ``fn`` draws from (NumPy's global one,
    ``ag.nn``'s shared one and those of Modules reachable from ``fn`` are always
    replayed). Outside a graph (``ag.no_grad()``, or nothing needs a gradient) it
    is just ``fn(*args)``.

    >>> import ag
    >>> x = ag.tensor([1.0, 2.0])
    >>> y = ag.checkpoint(lambda t, n: (t ** n).sum(), x, 3)
    >>> y.backward(); x.grad                     # 3 x^2
    array([ 3., 12.])
    """
    if not callable(fn):
        raise TypeError(f"checkpoint: fn must be callable, got {type(fn).__name__}")
    explicit = [a for a in args if isinstance(a, Tensor)]
    if params is not None:
        params = [p for p in params if isinstance(p, Tensor)]  # may be a generator: read it once
    needs_graph = grad_mode.enabled and (
        any(t.requires_grad for t in explicit) or params is None or any(p.requires_grad for p in params)
    )
    if not needs_graph:
        return _check_output(fn(*args), fn)
    modules, generators = _find_context((fn, args))
    random = _RandomState([*generators, *rngs]) if preserve_rng_state else None
    if params is None:
        # Record once to learn exactly which outer Tensors fn reads; the subgraph is
        # dropped when this function returns, so only the output's value stays.
        start = next(creation_counter)
        with enable_grad():
            out = _check_output(fn(*args), fn)
        found = _boundary_tensors(out, start)
    else:
        with no_grad():
            out = _check_output(fn(*args), fn)
        found = params
    inputs = tuple(_unique([*explicit, *found]))
    if not any(t.requires_grad for t in inputs):
        return out  # fn reads nothing that needs a gradient: a constant, no node
    ctx = _Checkpoint(fn, args, inputs, random, modules)
    node = custom_op(out.value, inputs, "checkpoint", _rules(len(inputs)), ctx)
    node.label = out.label
    return node


def _parameters_of(layers: Sequence[Any]) -> list[Tensor] | None:
    """The Tensors the layers hold, or None when some layer is not a Module (record instead)."""
    found: list[Tensor] = []
    for layer in layers:
        get = getattr(layer, "parameters", None)
        if not callable(get):
            return None
        found.extend(p for p in get() if isinstance(p, Tensor) and p.requires_grad)
    return _unique(found)


class _Segment:
    """Layers ``[start, stop)`` of a chain, applied in order (the function one checkpoint runs)."""

    __slots__ = ("layers", "start", "stop", "__name__")

    def __init__(self, layers: Sequence[Callable], start: int, stop: int) -> None:
        self.layers = list(layers)
        self.start, self.stop = start, stop
        self.__name__ = f"layers[{start}:{stop}]"

    def __call__(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x


def segment_bounds(n_layers: int, segments: int) -> list[tuple[int, int]]:
    """``segments`` contiguous ``(start, stop)`` ranges covering ``n_layers``, sizes within one.

    >>> segment_bounds(10, 3)
    [(0, 4), (4, 7), (7, 10)]
    """
    if not isinstance(segments, int) or segments < 1:
        raise ValueError(f"checkpoint_sequential: segments must be a positive int, got {segments!r}")
    segments = min(segments, max(n_layers, 1))
    size, extra = divmod(n_layers, segments)
    bounds, start = [], 0
    for s in range(segments):
        stop = start + size + (1 if s < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def checkpoint_sequential(
    layers: Sequence[Callable] | Any,
    segments: int,
    x: Any,
    *,
    preserve_rng_state: bool = True,
) -> Tensor:
    """Run a chain of layers as ``segments`` checkpointed pieces; keep only their outputs.

    ``layers``: an ``ag.nn.Sequential`` or a list of callables (Modules or functions).
    Every segment is checkpointed, the last one too: this kit keeps node values until
    the graph is dropped, so an un-checkpointed last segment would hold its
    activations through the whole backward (PyTorch frees them as it goes and can
    skip it). ``segments = round(sqrt(len(layers)))`` gives O(sqrt N) memory.

    >>> import ag, numpy as np
    >>> ag.nn.init.manual_seed(0)
    >>> net = ag.nn.Sequential(*[ag.nn.Linear(4, 4) for _ in range(6)])
    >>> y = ag.checkpoint_sequential(net, 3, ag.tensor(np.ones((2, 4))))
    >>> [t.op for t in ag.topological_sort(y) if t.inputs]
    ['checkpoint', 'checkpoint', 'checkpoint']
    """
    layers = list(getattr(layers, "layers", layers))
    for bound in segment_bounds(len(layers), segments):
        part = layers[bound[0]:bound[1]]
        if not part:
            continue
        x = checkpoint(_Segment(part, *bound), x, params=_parameters_of(part),
                       preserve_rng_state=preserve_rng_state)
    return x


# -- counting memory -----------------------------------------------------------------------------------


def _root_buffer(array: Any) -> Any:
    while getattr(array, "base", None) is not None and hasattr(array.base, "nbytes"):
        array = array.base
    return array


def live_tensor_bytes(*, leaves: bool = False, grads: bool = False) -> int:
    """Bytes held by the values of live Tensor nodes, each underlying buffer once.

    By default only op outputs (nodes with inputs: the activations a backward pass
    will read); ``leaves=True`` adds leaf Tensors (parameters, data); ``grads=True``
    adds the nodes' ``.grad`` arrays. Buffers owned by a leaf are not counted as
    activations (a reshape of the input is a view, not new memory). It scans
    ``gc.get_objects()``, so it costs a few milliseconds per call and nothing when
    not called.

    >>> import ag, numpy as np
    >>> x = ag.tensor(np.ones(1000))
    >>> before = live_tensor_bytes()
    >>> y = (x * 2.0).exp()
    >>> live_tensor_bytes() - before               # two float64 outputs of 1000 elements
    16000
    """
    nodes, leaf_nodes = [], []
    for obj in gc.get_objects():
        # issubclass on the type: isinstance would read obj.__class__, which lazy
        # proxies (torch's deprecated attributes) answer with a warning
        if issubclass(type(obj), Tensor):
            (nodes if obj.inputs else leaf_nodes).append(obj)
    counted: set[int] = set()
    if not leaves:
        counted.update(id(_root_buffer(t.value)) for t in leaf_nodes)
    total = 0
    for t in nodes + leaf_nodes if leaves else nodes:
        arrays = [t.value]
        if grads and t.grad is not None:
            arrays.append(t.grad.value if isinstance(t.grad, Tensor) else t.grad)
        for a in arrays:
            base = _root_buffer(a)
            if id(base) not in counted and hasattr(base, "nbytes"):
                counted.add(id(base))
                total += int(base.nbytes)
    return total


class MemoryMeter:
    """The peak of :func:`live_tensor_bytes` over a block, sampled where peaks happen.

    Samples on entry, at every step of a backward loop and inside each recompute
    (when the rebuilt segment's values are all alive);
    call :meth:`sample` yourself elsewhere (e.g. right after the forward).

    >>> import ag, numpy as np
    >>> x = ag.tensor(np.ones(1000))
    >>> with MemoryMeter() as meter:
    ...     y = (x * 2.0).sum()
    ...     _ = meter.sample()
    ...     y.backward()
    >>> meter.peak >= 8000
    True
    """

    def __init__(self, *, leaves: bool = False, grads: bool = False) -> None:
        self.leaves, self.grads = leaves, grads
        self.peak = 0
        self.samples = 0
        self._observing: Any = None

    def sample(self) -> int:
        now = live_tensor_bytes(leaves=self.leaves, grads=self.grads)
        self.peak = max(self.peak, now)
        self.samples += 1
        return now

    # the backward-loop observer protocol (ag.autodiff.BackwardObserver)
    def begin(self, root: Any, order: list) -> None:
        self.sample()

    def before(self, step: int, node: Any) -> None:
        pass

    def after(self, step: int, node: Any) -> None:
        self.sample()

    def end(self, root: Any) -> None:
        pass

    def __enter__(self) -> MemoryMeter:
        self._observing = observe_backward(self)
        self._observing.__enter__()
        _meters.append(self)
        self.sample()
        return self

    def __exit__(self, *exc: Any) -> None:
        _meters.remove(self)
        self._observing.__exit__(*exc)
        self._observing = None


def sqrt_segments(n_layers: int) -> int:
    """The segment count that minimises N/k + k: round(sqrt N), at least 1."""
    return max(1, round(math.sqrt(n_layers)))


registry.register("tensor", "checkpoint", function=checkpoint, arity=None,
                  text=("{x}.grad += backprop of {out}.grad through the recomputed fn",))
