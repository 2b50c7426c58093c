"""Sparse matrices on a device: an explicit, cached move of a scipy.sparse matrix.

``ag.spcmatmul`` never moves a matrix by itself: a host scipy matrix next to a device
tensor is an error. :func:`to_device_sparse` makes the device copy once; it is cached
per (matrix, device) for as long as the host matrix lives and holds the same entries
(a change in place, ``S.data *= 3``, makes a new device copy), so a geometry-keyed cache
of host im2col matrices gives a per-device cache for free.

>>> import scipy.sparse as sp
>>> from ag.gpu.sparse import to_device_sparse
>>> S = sp.identity(3, format="csr")
>>> to_device_sparse(S, "fake") is to_device_sparse(S, "fake")
True
>>> to_device_sparse(S, "cpu") is S
True
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from ag.gpu.device import cupy_module, device_of, normalize

# id(host matrix) -> {device: device matrix}; a finalizer drops the entry when the host
# matrix is collected (scipy matrices are unhashable, so no WeakKeyDictionary)
_cache: dict[int, dict[str, Any]] = {}


def to_device_sparse(matrix: Any, device: Any = "cuda") -> Any:
    """``matrix`` (scipy.sparse) as a CSR matrix on ``device`` (cupyx.scipy.sparse on CUDA).

    cupyx.scipy.sparse supports float (and complex) values only: an integer or boolean
    matrix is converted to float64 on the way.
    """
    target = normalize(device)
    if device_of(matrix) == target:
        return matrix
    if target == "cpu":
        return matrix.get()  # a device matrix back to scipy (cupyx and fake alike)
    per_device = _cache.get(id(matrix))
    if per_device is None:
        per_device = {}
        try:
            weakref.finalize(matrix, _cache.pop, id(matrix), None)
            _cache[id(matrix)] = per_device
        except TypeError:  # not weak-referenceable: no caching
            pass
    from ag.ops.linalg import SparseSnapshot

    cached = per_device.get(target)
    if cached is not None and cached[1].matches(matrix):
        return cached[0]
    # first move, or the host matrix changed since (S.data *= 3): move it again
    moved = _move(matrix, target)
    per_device[target] = (moved, SparseSnapshot(matrix))
    return moved


def _move(matrix: Any, target: str) -> Any:
    csr = matrix.tocsr()
    if csr.dtype.kind not in "fc":
        csr = csr.astype(np.float64)
    if target == "fake":
        from ag.testing.fake_device import sparse

        return sparse.csr_matrix(csr)
    cupy = cupy_module()
    import cupyx.scipy.sparse as cusparse

    with cupy.cuda.Device(int(target.split(":")[1])):
        return cusparse.csr_matrix(csr)
