"""Matrix products: ``@`` with NumPy's rules, and ``spcmatmul`` with a constant sparse matrix.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ag import buffers, parallel
from ag.ops.api import (
    Tensor,
    array_module_of,
    describe,
    describe_operands,
    lift_pair,
    make_node,
    register,
    value_of,
)


def _blas_ready(g: Any) -> Any:
    # sum's backward hands on a stride-0 broadcast view, which BLAS cannot take:
    # NumPy would fall back to a slow loop, so a contiguous copy is cheaper.
    strides = getattr(g, "strides", None)
    if strides is not None and 0 in strides:
        return array_module_of(g).ascontiguousarray(g)
    return g


def _rows(x: Any) -> Any:
    """``x`` (.., k) as a matrix of its rows, (N, k); also when a dimension is 0
    (``reshape(-1, 0)`` cannot tell N)."""
    n = 1
    for d in x.shape[:-1]:
        n *= d
    return x.reshape(n, x.shape[-1])


def _is_c_stack(x: Any) -> bool:
    """A C-contiguous array of 3 or more dimensions (its rows fold into one matrix)."""
    flags = getattr(x, "flags", None)
    return x.ndim >= 3 and flags is not None and flags.c_contiguous


# A product is split over the cores (ag.parallel) from about 2 million multiply-adds:
# below that, handing half of it to a thread costs more than the half takes.
SPLIT_PRODUCTS_FROM = 1 << 21
PRODUCT_HEAD_START = 1 << 20  # what one core multiplies while a worker wakes up


def _split_product(kernel: Any, n_rows: int, work: int) -> list:
    """``kernel(start, stop)`` (BLAS calls on a range of rows) over the cores (ag.parallel)."""
    return parallel.split_rows(kernel, n_rows, SPLIT_PRODUCTS_FROM, work=work,
                               head_start=PRODUCT_HEAD_START, blas=True)


def _stack_times_matrix(x: Any, w: Any) -> Any:
    """``x @ w`` for a stack ``x`` (.., n, k) and a matrix ``w`` (k, m).

    NumPy's matmul runs one small GEMM per matrix of the stack; when the stack is
    C-contiguous its rows are one (N*n, k) matrix, and a single GEMM does the same
    arithmetic with fewer calls, its rows split over the cores (ag.parallel). Any
    other stack (a ``moveaxis`` view: the conv's gradient) is a stack product.
    """
    if _is_c_stack(x):
        rows = _rows(x)
        if type(x) is np.ndarray and x.dtype == w.dtype and w.shape[0] == rows.shape[1]:
            product = buffers.empty((rows.shape[0], w.shape[-1]), x.dtype)
            _split_product(lambda i, j: np.dot(rows[i:j], w, out=product[i:j]), rows.shape[0],
                           product.size * w.shape[0])
        else:
            product = rows @ w
        return product.reshape(x.shape[:-1] + (w.shape[-1],))
    return _stack_product(x, w)


def _stack_product(x: Any, y: Any) -> Any:
    """``x @ y`` for stacks of one batch shape (or a stack and a matrix), into a reused
    buffer (ag.buffers), the stack split over the cores (ag.parallel).

    NumPy runs a stack's small products one after another, each on one core (OpenBLAS
    threads none of the course's 64x64 ones), and reads a transposed view as it lies.
    """
    if (type(x) is np.ndarray and type(y) is np.ndarray and x.ndim >= 3 and x.dtype == y.dtype
            and (y.ndim == 2 or (x.ndim == y.ndim and x.shape[:-2] == y.shape[:-2]))
            and x.shape[-1] == y.shape[-2]):
        out = buffers.empty(x.shape[:-1] + (y.shape[-1],), x.dtype)
        if y.ndim == 2:
            def kernel(i: int, j: int) -> None:
                np.matmul(x[i:j], y, out=out[i:j])
        else:
            def kernel(i: int, j: int) -> None:
                np.matmul(x[i:j], y[i:j], out=out[i:j])
        _split_product(kernel, x.shape[0], out.size * x.shape[-1])
        return out
    return x @ y


def _shared_matrix_grad(a: Any, g: Any) -> Any:
    """The gradient of a matrix ``b`` (k, m) used by every matrix of a stack, ``a @ b``.

    It is the sum over the stack of ``a_i^T g_i``: one product over all rows,
    ``a_rows^T @ g_rows``, instead of a stack of products summed afterwards. Its inner
    dimension is long and its result small, which OpenBLAS runs on one core: the rows
    are cut into one range per core (ag.parallel) and the partial products added.
    When ``g`` is a transposed view (a ``moveaxis`` downstream, as in the course's
    conv), its rows are not a view: each range sums the stacked ``a_i^T g_i`` as they lie.
    """
    numpy = type(a) is np.ndarray and type(g) is np.ndarray and a.dtype == g.dtype
    k, m = a.shape[-1], g.shape[-1]
    if a.size == 0 or g.size == 0:  # an empty stack, or k or m is 0: a sum of nothing
        return array_module_of(a).zeros((k, m), dtype=np.result_type(a.dtype, g.dtype))
    work = a.size * m
    if numpy and a.ndim == 3 and _is_c_stack(g.swapaxes(-1, -2)) and not g.flags.c_contiguous:
        aT = a.swapaxes(-1, -2)
        parts = _split_product(lambda i, j: np.matmul(aT[i:j], g[i:j]).sum(axis=0), a.shape[0], work)
    elif numpy:
        if not a.flags.c_contiguous:
            # its rows as one matrix need a copy (as by hand), into a reused buffer
            rows_a = buffers.empty((a.size // k, k), a.dtype)
            np.copyto(rows_a.reshape(a.shape), a)
        else:
            rows_a = _rows(a)
        rows_g = _rows(g)
        # np.dot hands transposed operands to BLAS as they are; the same ranges written
        # with @ ran half as fast side by side
        parts = _split_product(lambda i, j: np.dot(rows_a[i:j].T, rows_g[i:j]), rows_a.shape[0], work)
    else:
        return _rows(a).T @ _rows(g)
    total = parts[0]  # a fresh (k, m) array: C-ordered, so a leaf takes it without a copy
    for part in parts[1:]:
        total += part
    return total


def _matmul_a(g, out, ctx, a, b):
    a1, b1 = ctx
    g = _blas_ready(g)
    if b1:  # (.., n, k) @ (k,) -> (.., n): grad_a = g[..., None] * b
        return g.reshape(g.shape + (1,)) * b
    if a1:  # (k,) @ (.., k, m) -> (.., m): grad_a = sum over batch of b @ g
        return (b @ g.reshape(g.shape + (1,))).reshape(b.shape[:-2] + (b.shape[-2],))
    if isinstance(g, Tensor) or g.ndim < 3:  # a graph, or plain matrices: nothing to fold
        return g @ b.swapaxes(-1, -2)
    if b.ndim == 2:
        return _stack_times_matrix(g, b.T)
    return _stack_product(g, b.swapaxes(-1, -2))


def _matmul_b(g, out, ctx, a, b):
    a1, b1 = ctx
    g = _blas_ready(g)
    if a1 and b1:
        return g * a
    if a1:  # (k,) @ (.., k, m): grad_b = a[:, None] * g[..., None, :]
        return a.reshape((a.shape[0], 1)) * g.reshape(g.shape[:-1] + (1, g.shape[-1]))
    if b1:  # (.., n, k) @ (k,): grad_b = sum over batch of a^T g
        return (a.swapaxes(-1, -2) @ g.reshape(g.shape + (1,))).reshape(a.shape[:-2] + (a.shape[-1],))
    if isinstance(g, Tensor) or a.ndim < 3:
        return a.swapaxes(-1, -2) @ g
    if b.ndim == 2:
        return _shared_matrix_grad(a, g)
    return _stack_product(a.swapaxes(-1, -2), g)


def matmul(a: Any, b: Any) -> Tensor:
    """``a @ b`` with NumPy's rules: 1-D operands, and batched stacks that broadcast."""
    a, b = lift_pair(a, b, "matmul")
    av, bv = a.value, b.value
    a_ndim, b_ndim = av.ndim, bv.ndim
    if a_ndim == 0 or b_ndim == 0:
        raise ValueError(f"{describe_operands('matmul', a, b)}: matmul needs at least 1-D operands")
    try:
        if a_ndim < 3:
            value = av @ bv
        else:
            value = _stack_times_matrix(av, bv) if b_ndim == 2 else _stack_product(av, bv)
    except ValueError:
        k_a = a.shape[-1]
        k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        why = (f"inner dimensions differ ({k_a} != {k_b})" if k_a != k_b
               else "batch dimensions do not broadcast")
        raise ValueError(f"{describe_operands('matmul', a, b)}: {why}") from None
    return make_node(value, (a, b), "matmul", (_matmul_a, _matmul_b), (a_ndim == 1, b_ndim == 1))


def _matmul_facts(node: Tensor) -> dict[str, str]:
    a, b = node.inputs
    # 2-D: the course's X.T; batched: the last two axes swapped; a vector stays a vector
    return {"aT": ".T" if a.ndim == 2 else (".swapaxes(-1, -2)" if a.ndim > 2 else ""),
            "bT": ".T" if b.ndim == 2 else (".swapaxes(-1, -2)" if b.ndim > 2 else "")}


register("tensor", "matmul", matmul, (_matmul_a, _matmul_b),
         ("{a}.grad += {out}.grad @ {b}.value{bT}", "{b}.grad += {a}.value{aT} @ {out}.grad"),
         facts=_matmul_facts,
         arity=2, methods=("__matmul__",), reflected=("__rmatmul__",))


def _sparse_module(matrix: Any) -> Any:
    getter = getattr(type(matrix), "__ag_sparse_module__", None)
    if getter is not None:  # a test backend's sparse matrix (ag.testing.fake_device)
        return getter(matrix)
    if type(matrix).__module__.startswith("cupyx"):
        import cupyx.scipy.sparse as sparse
    else:
        import scipy.sparse as sparse
    return sparse


def _selection_columns(s: Any) -> Any:
    """For a matrix with at most one nonzero per column (im2col's shape): the row of each
    column's entry, its value (None when every value is 1) and the empty columns (None
    when there are none; padding makes them); else None.

    Then ``x @ s`` is a column gather of ``x``: one C-ordered copy instead of scipy's
    Fortran-ordered product that the next reshape would copy again. The analysis is
    cached on the matrix object together with the arrays it was made from, and redone
    whenever the matrix changed since (``S.data *= 3``, ``S[0, 0] = 5``): a matrix whose
    arrays are read-only (im2col's shared matrices) is trusted while they are the same
    arrays; any other is compared with a copy of its arrays.
    """
    cached = getattr(s, "_ag_selection", None)
    if cached is not None and cached[0].matches(s):
        return cached[1]
    result = None
    if type(s).__module__.startswith("scipy"):
        csc = s.tocsc()
        counts = np.diff(csc.indptr)
        if csc.shape[0] and csc.shape[1] and counts.max(initial=0) <= 1:
            filled = counts == 1
            rows = np.zeros(csc.shape[1], dtype=np.intp)
            rows[filled] = csc.indices
            data = np.ones(csc.shape[1], dtype=csc.dtype)
            data[filled] = csc.data
            empty = np.flatnonzero(~filled)
            result = (rows, None if np.all(data == 1) else data, empty if empty.size else None)
    try:
        s._ag_selection = (SparseSnapshot(s), result)
    except AttributeError:  # a matrix type that takes no attributes: analyse each time
        pass
    return result


class SparseSnapshot:
    """What a scipy.sparse matrix held when something derived from it was cached.

    ``matches(s)`` is True while ``s`` still holds exactly that: the same arrays
    (``S[0, 0] = 5`` on a new entry replaces them) with the same contents (``S.data *= 3``
    changes them in place). Read-only arrays (im2col's shared matrices) are trusted
    without a comparison; writable ones are compared with a copy taken here.

    >>> import scipy.sparse as sp
    >>> S = sp.csr_matrix([[1.0, 0.0], [0.0, 2.0]]); snap = SparseSnapshot(S)
    >>> snap.matches(S)
    True
    >>> S.data *= 3
    >>> snap.matches(S)
    False
    """

    __slots__ = ("shape", "arrays", "copies")

    def __init__(self, s: Any) -> None:
        names = ("data", "indices", "indptr", "row", "col", "offsets")
        self.shape = s.shape
        self.arrays = tuple(a for a in (getattr(s, n, None) for n in names) if isinstance(a, np.ndarray))
        frozen = all(not a.flags.writeable for a in self.arrays)
        self.copies = None if frozen else tuple(a.copy() for a in self.arrays)

    def matches(self, s: Any) -> bool:
        names = ("data", "indices", "indptr", "row", "col", "offsets")
        now = tuple(a for a in (getattr(s, n, None) for n in names) if isinstance(a, np.ndarray))
        if s.shape != self.shape or len(now) != len(self.arrays) or any(
                a is not b for a, b in zip(now, self.arrays)):
            return False
        if self.copies is None:  # read-only then; still read-only now means unchanged
            return all(not a.flags.writeable for a in now)
        return all(np.array_equal(a, b) for a, b in zip(now, self.copies))


def _dense_times_sparse(x: Any, s: Any) -> Any:
    flat = _rows(x)
    selection = _selection_columns(s) if array_module_of(flat) is np else None
    if selection is not None:
        rows, data, empty = selection
        dtype = np.result_type(flat.dtype, s.dtype)
        if flat.dtype != dtype:  # int images, a float matrix: gather what the product gives
            flat = flat.astype(dtype)
        # into a reused buffer (ag.buffers); mode="clip" because take buffers its output
        # in the default mode, and every index is a row of the matrix, so none is clipped
        product = buffers.empty((flat.shape[0], rows.shape[0]), flat.dtype)
        parallel.split_rows(
            lambda i, j: np.take(flat[i:j], rows, axis=1, mode="clip", out=product[i:j]),
            flat.shape[0], work=product.size)
        if data is not None:
            product *= data.astype(product.dtype, copy=False)
        if empty is not None:
            product[:, empty] = 0
    else:
        # scipy's dense @ sparse comes back Fortran-ordered; the callers reshape it
        product = flat @ s
        xp = array_module_of(product)
        product = xp.ascontiguousarray(product)
    return product.reshape(x.shape[:-1] + (s.shape[1],))


@functools.cache
def _csr_matvec() -> Any:
    """SciPy's CSR mat-vec kernel (private, stable for many releases), or None.

    Loaded by the first sparse product that needs it, not with ``ag``: importing
    scipy.sparse takes about 180 ms, most of a first Tensor's cost otherwise.
    """
    try:
        from scipy.sparse._sparsetools import csr_matvec
    except ImportError:  # pragma: no cover - another scipy layout: the public product is used
        return None
    return csr_matvec


def _spc_dense_left(g, out, s, x):
    if isinstance(g, Tensor) or not type(s).__module__.startswith("scipy"):
        return spcmatmul(g, s.T)
    # g @ s.T one row at a time: each row is a CSR mat-vec into a preallocated
    # C-ordered result, with no transposed copy of g and no big temporary.
    flat = _rows(g)
    dtype = np.result_type(flat.dtype, s.dtype)
    result = buffers.empty((flat.shape[0], s.shape[0]), dtype)
    csr_matvec = _csr_matvec()
    if csr_matvec is not None and s.format == "csr" and flat.dtype == dtype == s.dtype \
            and flat.flags.c_contiguous:
        # scipy's own CSR kernel straight into each row (it adds, so the rows start at 0):
        # ``s @ row`` would pay scipy's dispatch and a temporary per row
        n_row, n_col = s.shape
        indptr, indices, data = s.indptr, s.indices, s.data

        def rows(i: int, j: int) -> None:
            result[i:j] = 0
            for r in range(i, j):
                csr_matvec(n_row, n_col, indptr, indices, data, flat[r], result[r])

        parallel.split_rows(rows, flat.shape[0], work=flat.size)
    else:
        for i in range(flat.shape[0]):
            result[i] = s @ flat[i]
    return result.reshape(g.shape[:-1] + (s.shape[0],))


def _spc_dense_right(g, out, s, x):
    return spcmatmul(s.T, g)


def spcmatmul(a: Any, b: Any) -> Any:
    """Dense times a constant sparse matrix (either order), differentiable in the dense one.

    ``spcmatmul(X, S)`` is ``X @ S`` for ``X`` of shape ``(..., n)`` and ``S`` of shape
    ``(n, m)``; ``spcmatmul(S, X)`` is ``S @ X`` for ``X`` of shape ``(n, k)``. ``S`` is a
    scipy.sparse (or cupyx.scipy.sparse) matrix and gets no gradient. The product uses
    the matrix as it is at the call: changing its entries in place between calls is seen.

    >>> import ag, scipy.sparse as sp
    >>> X = ag.tensor([[1.0, 2.0]])
    >>> ag.spcmatmul(X, sp.csr_matrix([[0.0, 1.0], [1.0, 0.0]])).value
    array([[2., 1.]])
    """
    a_sparse = _is_sparse(a)
    b_sparse = _is_sparse(b)
    if a_sparse == b_sparse:
        raise TypeError("spcmatmul: exactly one operand must be a scipy.sparse matrix")
    _check_sparse_device(a, b) if b_sparse else _check_sparse_device(b, a)
    if b_sparse:
        if not isinstance(a, Tensor):
            return _dense_times_sparse(a, b)
        if a.ndim < 1 or a.shape[-1] != b.shape[0]:
            raise ValueError(
                f"spcmatmul: {describe(a)} times a sparse matrix of shape {tuple(b.shape)}: "
                f"the last dimension {a.shape[-1] if a.ndim else '()'} must equal the "
                f"matrix's rows {b.shape[0]}"
            )
        return make_node(_dense_times_sparse(a.value, b), (a,), "spcmatmul", (_spc_dense_left,), b)
    if not isinstance(b, Tensor):
        return a @ b
    if b.ndim not in (1, 2) or b.shape[0] != a.shape[1]:
        raise ValueError(
            f"spcmatmul: a sparse matrix of shape {tuple(a.shape)} times {describe(b)}: the "
            f"matrix's columns {a.shape[1]} must equal the first dimension "
            f"{b.shape[0] if b.ndim else '()'}"
        )
    return make_node(a @ b.value, (b,), "spcmatmul", (_spc_dense_right,), a)


register("tensor", "spcmatmul", spcmatmul, (_spc_dense_left, _spc_dense_right),
         ("{a}.grad += spcmatmul({out}.grad, S.T)",))


def _check_sparse_device(dense: Any, matrix: Any) -> None:
    value = value_of(dense)
    if array_module_of(value) is np and type(matrix).__module__.startswith("scipy"):
        return  # the common host case, decided without ag.gpu
    from ag.gpu.device import DeviceMismatchError, device_of

    on, m_on = device_of(value), device_of(matrix)
    if on != m_on:
        what = describe(dense) if isinstance(dense, Tensor) else f"an array {tuple(value.shape)}"
        raise DeviceMismatchError(
            f"spcmatmul: {what} is on {on} but the sparse matrix {tuple(matrix.shape)} is on "
            f"{m_on}; move the matrix explicitly with ag.gpu.to_device_sparse(matrix, {on!r})"
        )


def _is_sparse(x: Any) -> bool:
    return hasattr(x, "tocsr") and hasattr(x, "nnz")
