"""Rematerialization (gradient checkpointing): trade compute for memory.

The package: :mod:`ag.remat.checkpoint` (the checkpoint node), :mod:`ag.remat.replay`
(random draws and buffers a recompute must repeat or protect) and
:mod:`ag.remat.memory` (live-bytes counting and the peak meter).

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

from ag.remat.checkpoint import checkpoint, checkpoint_sequential, segment_bounds, sqrt_segments, stats
from ag.remat.memory import MemoryMeter, live_tensor_bytes

__all__ = [
    "checkpoint",
    "checkpoint_sequential",
    "stats",
    "live_tensor_bytes",
    "MemoryMeter",
    "segment_bounds",
    "sqrt_segments",
]
