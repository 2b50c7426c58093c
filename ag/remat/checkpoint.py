"""The checkpoint node: ``ag.checkpoint`` and ``ag.checkpoint_sequential``.

The node keeps ``fn`` and its inputs instead of the subgraph; when backward reaches
it, it reruns ``fn`` (random draws replayed, buffers kept: :mod:`ag.remat.replay`)
and backpropagates through the rebuilt subgraph with the shared loop
(:func:`ag.autodiff.run_backward` with a boundary at the nodes made before the
recompute), so traces, anomaly mode and memory meters see the recompute's steps.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from ag import registry
from ag.autodiff import enable_grad, grad_mode, no_grad, run_backward, topological_sort
from ag.ops.api import Tensor, array_module_of, creation_counter, custom_op
from ag.remat.memory import active_meters
from ag.remat.replay import RandomState, buffers_kept, find_context


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


def backward_inside(out: Tensor, g: Any, rebuilt: list[Tensor], inputs: list[Tensor]) -> None:
    """The shared backward loop (:func:`ag.autodiff.run_backward`) inside a recompute.

    ``rebuilt`` is the recomputed subgraph, each node after its inputs; ``inputs`` are
    the nodes made before the recompute that it reads: the loop neither enters nor
    clears them, so they accumulate like leaves, and on an error their grads are put
    back as the loop puts back the rebuilt ones. Each rebuilt node's grad is dropped
    afterwards (nobody reads it, and a segment's grads must not pile up on its values).
    Observers (traces, anomaly mode, meters) see the steps. Under create_graph ``g`` is
    a Tensor and the gradients stay functions of it.
    """
    if not rebuilt or rebuilt[-1] is not out:  # fn returned one of its inputs: a leaf here
        out.grad = g if out.grad is None else out.grad + g
        return
    saved = [n.grad for n in inputs]
    try:
        run_backward(out, g, None, rebuilt)
    except BaseException:
        for n, grad in zip(inputs, saved):
            n.grad = grad
        raise
    finally:
        for n in rebuilt:
            n.grad = None


def _made_before(start: int) -> Callable[[Tensor], bool]:
    """The boundary of a recompute: every node made before it (inputs, parameters,
    outer nodes) is listed but not entered, so the inner backward never walks into,
    or clears grads of, the outer graph."""
    return lambda node: node._id < start


def _boundary_tensors(root: Tensor, start: int) -> list[Tensor]:
    """Tensors from before ``start`` that ``root`` depends on and that need a gradient."""
    outside = _made_before(start)
    return [n for n in topological_sort(root, outside) if outside(n) and n.requires_grad]


class _Checkpoint:
    """What a checkpoint node keeps instead of the subgraph: how to rebuild it."""

    __slots__ = ("fn", "args", "inputs", "random", "modules", "pending", "pending_g", "name")

    def __init__(self, fn: Callable, args: tuple, inputs: tuple, random: RandomState | None,
                 modules: list) -> None:
        self.fn, self.args, self.inputs, self.random, self.modules = fn, args, inputs, random, modules
        self.pending: set[int] = set()  # inputs whose rule has not yet taken its gradient
        self.pending_g: Any = None  # the incoming gradient of that pass
        self.name = getattr(fn, "__name__", type(fn).__name__)

    def rerun(self) -> Tensor:
        """Run ``fn`` again with the graph on, with the forward's random draws."""
        with enable_grad(), buffers_kept(self.modules):
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
        outside = _made_before(start)
        order = topological_sort(out, outside)
        if active_meters:
            for meter in active_meters:
                meter.sample()  # every rebuilt value is alive now: the recompute's peak
        wanted = {id(t) for t in self.inputs}
        # An outer Tensor fn reads that needs a gradient but is not an input would lose
        # its gradient: refuse before anything accumulates.
        missed = [n for n in order if outside(n) and n.requires_grad and id(n) not in wanted]
        if missed:
            raise RuntimeError(_missed_message(self.name, missed))
        rebuilt = [n for n in order if not outside(n)]
        backward_inside(out, g, rebuilt, [n for n in order if outside(n)])
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
    modules, generators = find_context((fn, args))
    random = RandomState([*generators, *rngs]) if preserve_rng_state else None
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


def sqrt_segments(n_layers: int) -> int:
    """The segment count that minimises N/k + k: round(sqrt N), at least 1."""
    return max(1, round(math.sqrt(n_layers)))


registry.register("tensor", "checkpoint", function=checkpoint, arity=None,
                  text=("{x}.grad += backprop of {out}.grad through the recomputed fn",))
