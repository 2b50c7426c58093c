"""The Tensor op set, one module per family, on the public op-author API.

Layering: ``ag.ops.core`` (the Tensor node) <- ``ag.ops.api`` (what an op may use)
<- the op families (``arithmetic``, ``elementwise``, ...), each of which registers
its ops in :mod:`ag.registry` and puts their methods on Tensor. Importing this
package loads every family, so a Tensor has all its operators and methods.
``ag.tensor`` re-exports the ops under their public names.
"""

from ag.ops import (  # noqa: F401  (imported for their registrations)
    arithmetic,
    einsum,
    elementwise,
    factories,
    indexing,
    linalg,
    reductions,
    shape,
    softmax,
)
