"""A strict fake device for CPU-only CI: arrays that refuse to mix with NumPy host arrays.

CuPy refuses ``cupy_array + numpy_array`` and refuses ``np.asarray(cupy_array)``; a
NumPy call hiding in a GPU code path therefore breaks only on a machine with a GPU.
:class:`FakeArray` behaves the same way on the CPU, so such a call fails in CI:

* operators and NumPy functions between fake arrays work and return fake arrays
  (NumPy ufuncs and functions dispatch through ``__array_ufunc__`` /
  ``__array_function__``, as they do for CuPy arrays);
* an operand that is a plain ``numpy.ndarray`` raises :class:`FakeDeviceError`
  (Python and NumPy *scalars* are fine, as in CuPy);
* ``np.asarray(fake)`` raises (``__array__``); ``.get()`` copies to the host
  explicitly, as in CuPy;
* reductions return 0-d fake arrays, as CuPy does, not NumPy scalars.

:data:`xp` is the array module of the device (``cupy``'s counterpart):
``xp.zeros``, ``xp.exp``, ``xp.add.at``, ... return fake arrays, and
``xp.asarray(host)`` is the explicit upload. ``ag.tensor.array_module_of`` finds it
through ``FakeArray.__ag_array_module__``.

>>> import numpy as np
>>> from ag.testing.fake_device import xp
>>> a = xp.asarray([1.0, 2.0])
>>> (a * 2).get()
array([2., 4.])
>>> a + np.ones(2)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ag.testing.fake_device.FakeDeviceError: add: a NumPy host array (2,) float64 mixed with ...; ...
"""

from __future__ import annotations

import functools
import operator
import types
from typing import Any

import numpy as np

DEVICE = "fake"


class FakeDeviceError(TypeError):
    """A host NumPy array met a fake-device array, or was converted implicitly."""


def _refuse(value: np.ndarray, where: str) -> FakeDeviceError:
    return FakeDeviceError(
        f"{where}: a NumPy host array {value.shape} {value.dtype} mixed with a fake-device "
        "array; move it explicitly (xp.asarray / Tensor.to('fake'))"
    )


def _unwrap(value: Any, where: str, host_ok: bool = False) -> Any:
    """The NumPy data inside fake arrays (recursively in lists/tuples); host arrays refused."""
    kind = type(value)
    if kind is FakeArray:
        return value._data
    if kind is tuple or kind is list:
        return kind(_unwrap(v, where, host_ok) for v in value)
    if isinstance(value, np.ndarray) and not host_ok:
        raise _refuse(value, where)
    if isinstance(value, FakeSparse):
        return value._matrix
    return value


def _wrap(value: Any) -> Any:
    """NumPy results as fake arrays; NumPy scalars become 0-d arrays, as in CuPy."""
    if isinstance(value, np.ndarray):
        return FakeArray(value)
    if isinstance(value, np.generic):
        return FakeArray(np.asarray(value))
    if type(value) is tuple or type(value) is list:
        return type(value)(_wrap(v) for v in value)
    return value


def _defers(other: Any) -> bool:
    # Tensors (and sparse matrices) set __array_ufunc__ = None: let their reflected
    # operator handle the expression, as NumPy does.
    return getattr(type(other), "__array_ufunc__", 1) is None


class FakeArray:
    """An array on the fake device: NumPy data that never mixes with host arrays.

    >>> from ag.testing.fake_device import xp
    >>> x = xp.arange(3.0)
    >>> float(x.sum())
    3.0
    """

    __slots__ = ("_data",)
    __ag_device__ = DEVICE
    __hash__ = None  # type: ignore[assignment]  # arrays are unhashable

    def __init__(self, data: np.ndarray) -> None:
        self._data = data

    @staticmethod
    def __ag_array_module__(array: Any) -> Any:
        return xp

    # -- explicit and refused host conversion ------------------------------------------
    def get(self, stream: Any = None, order: str = "C", out: Any = None) -> np.ndarray:
        """A NumPy copy on the host (the explicit way, as ``cupy.ndarray.get``)."""
        return np.array(self._data, order=order, copy=True)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise FakeDeviceError(
            "Implicit conversion of a fake-device array to a NumPy array is not allowed "
            "(CuPy refuses it too); use .get() to copy it to the host explicitly"
        )

    # -- NumPy dispatch: fake with fake is fine, fake with host refused ----------------------
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        where = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
        if any(_defers(x) for x in inputs):
            return NotImplemented
        # index arguments of ufunc.at may be host arrays (CuPy copies them)
        args = [_unwrap(x, where, host_ok=method == "at" and i == 1) for i, x in enumerate(inputs)]
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = _unwrap(out, where)
        result = getattr(ufunc, method)(*args, **kwargs)
        if out is not None:
            return out[0] if isinstance(out, tuple) and len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        where = func.__name__
        return _wrap(func(*_unwrap(args, where), **{k: _unwrap(v, where) for k, v in kwargs.items()}))

    # -- array facts ---------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def T(self) -> FakeArray:
        return FakeArray(self._data.T)

    @property
    def device(self) -> str:
        return DEVICE

    def __getattr__(self, name: str) -> Any:
        # Every other ndarray method (sum, reshape, astype, ...) on the data, with fake
        # arguments unwrapped and array results wrapped.
        if name == "_data" or name.startswith("__"):
            # never hand out __array_interface__ / __array_struct__ / __dlpack__: NumPy
            # would use them to convert implicitly
            raise AttributeError(name)
        attr = getattr(self._data, name)
        if not callable(attr):
            return _wrap(attr)

        @functools.wraps(attr)
        def method(*args: Any, **kwargs: Any) -> Any:
            where = f"ndarray.{name}"
            return _wrap(attr(*_unwrap(args, where), **{k: _unwrap(v, where) for k, v in kwargs.items()}))

        return method

    def __getitem__(self, index: Any) -> Any:
        return _wrap(self._data[_unwrap(index, "getitem", host_ok=True)])

    def __setitem__(self, index: Any, value: Any) -> None:
        self._data[_unwrap(index, "setitem", host_ok=True)] = _unwrap(value, "setitem")

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Any:
        return (_wrap(row) for row in self._data)

    def __bool__(self) -> bool:
        return bool(self._data)

    def __float__(self) -> float:
        return float(self._data)

    def __int__(self) -> int:
        return int(self._data)

    def __complex__(self) -> complex:
        return complex(self._data)

    def __repr__(self) -> str:
        return f"fake({self._data!r})"

    def __copy__(self) -> FakeArray:
        return FakeArray(self._data.copy())

    def __deepcopy__(self, memo: Any) -> FakeArray:
        return FakeArray(self._data.copy())

    def __reduce__(self) -> Any:
        raise FakeDeviceError("a fake-device array cannot be pickled; .get() it to the host first")


def _binary(name: str, fn: Any, reflected: bool = False) -> Any:
    def method(self: FakeArray, other: Any) -> Any:
        if _defers(other):
            return NotImplemented
        o = _unwrap(other, name)
        return _wrap(fn(o, self._data) if reflected else fn(self._data, o))

    method.__name__ = f"__{'r' if reflected else ''}{name}__"
    return method


def _inplace(name: str, fn: Any) -> Any:
    def method(self: FakeArray, other: Any) -> Any:
        if _defers(other):
            return NotImplemented
        self._data = fn(self._data, _unwrap(other, name))  # in place: fn is operator.i*
        return self

    method.__name__ = f"__i{name}__"
    return method


def _unary(name: str, fn: Any) -> Any:
    def method(self: FakeArray) -> Any:
        return _wrap(fn(self._data))

    method.__name__ = f"__{name}__"
    return method


_BINARY = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv,
    "floordiv": operator.floordiv, "mod": operator.mod, "pow": operator.pow,
    "matmul": operator.matmul, "and": operator.and_, "or": operator.or_, "xor": operator.xor,
}
_INPLACE = {
    "add": operator.iadd, "sub": operator.isub, "mul": operator.imul, "truediv": operator.itruediv,
    "floordiv": operator.ifloordiv, "mod": operator.imod, "pow": operator.ipow,
    "and": operator.iand, "or": operator.ior, "xor": operator.ixor,
}
_COMPARE = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le,
            "gt": operator.gt, "ge": operator.ge}
for _name, _fn in _BINARY.items():
    setattr(FakeArray, f"__{_name}__", _binary(_name, _fn))
    setattr(FakeArray, f"__r{_name}__", _binary(_name, _fn, reflected=True))
for _name, _fn in _INPLACE.items():
    setattr(FakeArray, f"__i{_name}__", _inplace(_name, _fn))
for _name, _fn in _COMPARE.items():
    setattr(FakeArray, f"__{_name}__", _binary(_name, _fn))
for _name, _fn in {"neg": operator.neg, "pos": operator.pos, "abs": operator.abs,
                   "invert": operator.invert}.items():
    setattr(FakeArray, f"__{_name}__", _unary(_name, _fn))


# -- the array module ------------------------------------------------------------------------


class _FakeUfunc:
    """A NumPy ufunc on fake arrays: ``xp.add(a, b)``, ``xp.add.at(out, index, values)``."""

    def __init__(self, ufunc: np.ufunc) -> None:
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return FakeArray.__array_ufunc__(None, self._ufunc, "__call__", *args, **kwargs)  # type: ignore[arg-type]

    def __getattr__(self, method: str) -> Any:
        if method not in ("at", "reduce", "accumulate", "outer", "reduceat"):
            return getattr(self._ufunc, method)
        return functools.partial(FakeArray.__array_ufunc__, None, self._ufunc, method)  # type: ignore[arg-type]


def _upload(value: Any, dtype: Any = None, copy: bool = False, **kwargs: Any) -> FakeArray:
    """``xp.asarray``/``xp.array``: the explicit host-to-device copy (fake arrays pass)."""
    if type(value) is FakeArray:
        data = np.array(value._data, dtype=dtype, copy=True) if copy else np.asarray(value._data, dtype=dtype)
        return FakeArray(data)
    # host data is copied: device memory never aliases host memory
    return FakeArray(np.array(_unwrap(value, "asarray", host_ok=True), dtype=dtype, copy=True, **kwargs))


def _strict_function(fn: Any, where: str) -> Any:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        return _wrap(fn(*_unwrap(args, where), **{k: _unwrap(v, where) for k, v in kwargs.items()}))

    return call


class _FakeNamespace:
    """NumPy (or one of its submodules) with every function moved to the fake device."""

    def __init__(self, module: types.ModuleType, name: str) -> None:
        self._module = module
        self.__name__ = name

    def __repr__(self) -> str:
        return f"<fake-device array module {self.__name__!r}>"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        attr = getattr(self._module, name)
        if isinstance(attr, np.ufunc):
            value: Any = _FakeUfunc(attr)
        elif isinstance(attr, types.ModuleType):
            value = _FakeNamespace(attr, f"{self.__name__}.{name}")
        elif isinstance(attr, type) or not callable(attr):
            value = attr  # dtypes, errstate, finfo, constants
        else:
            value = _strict_function(attr, name)
        setattr(self, name, value)  # cache: the next lookup is a plain attribute
        return value


class FakeArrayModule(_FakeNamespace):
    """The fake device's array module (the counterpart of ``cupy``)."""

    __ag_device__ = DEVICE
    ndarray = FakeArray

    def __init__(self) -> None:
        super().__init__(np, "ag.testing.fake_device.xp")

    def asarray(self, value: Any, dtype: Any = None, order: Any = None) -> FakeArray:
        return _upload(value, dtype)

    def array(self, value: Any, dtype: Any = None, copy: bool = True, order: Any = "K",
              ndmin: int = 0) -> FakeArray:
        if type(value) is FakeArray:
            return _upload(value, dtype, copy=copy)
        return _upload(value, dtype, copy=copy, ndmin=ndmin)

    def ascontiguousarray(self, value: Any, dtype: Any = None) -> FakeArray:
        return FakeArray(np.ascontiguousarray(_unwrap(value, "ascontiguousarray"), dtype=dtype))

    def asnumpy(self, value: Any) -> np.ndarray:
        """The host copy (``cupy.asnumpy``)."""
        return value.get() if type(value) is FakeArray else np.asarray(value)

    def get_array_module(self, *arrays: Any) -> Any:
        return self if any(type(a) is FakeArray for a in arrays) else np


xp = FakeArrayModule()


# -- sparse matrices on the fake device -------------------------------------------------------


class FakeSparse:
    """A scipy.sparse matrix on the fake device: multiplies fake arrays only.

    >>> import scipy.sparse as sp
    >>> from ag.testing.fake_device import FakeSparse, xp
    >>> S = FakeSparse(sp.identity(2, format="csr"))
    >>> (xp.asarray([[1.0, 2.0]]) @ S).get()
    array([[1., 2.]])
    """

    __ag_device__ = DEVICE
    __array_ufunc__ = None  # NumPy defers to our reflected operators

    def __init__(self, matrix: Any) -> None:
        self._matrix = matrix

    @staticmethod
    def __ag_sparse_module__(matrix: Any) -> Any:
        return sparse

    shape = property(lambda self: self._matrix.shape)
    dtype = property(lambda self: self._matrix.dtype)
    nnz = property(lambda self: self._matrix.nnz)
    format = property(lambda self: self._matrix.format)
    T = property(lambda self: FakeSparse(self._matrix.T))

    def transpose(self) -> FakeSparse:
        return FakeSparse(self._matrix.T)

    def tocsr(self) -> FakeSparse:
        return FakeSparse(self._matrix.tocsr())

    def get(self) -> Any:
        """The scipy.sparse matrix on the host."""
        return self._matrix.copy()

    def _dense(self, other: Any, where: str) -> Any:
        if type(other) is FakeArray:
            return other._data
        if isinstance(other, np.ndarray):
            raise _refuse(other, where)
        raise TypeError(f"{where}: cannot multiply a fake-device sparse matrix by {type(other).__name__}")

    def __matmul__(self, other: Any) -> Any:
        if isinstance(other, FakeSparse):
            return FakeSparse(self._matrix @ other._matrix)
        return FakeArray(np.asarray(self._matrix @ self._dense(other, "sparse matmul")))

    def __rmatmul__(self, other: Any) -> Any:
        return FakeArray(np.asarray(self._dense(other, "sparse matmul") @ self._matrix))

    def __repr__(self) -> str:
        return f"fake({self._matrix!r})"


class _FakeSparseModule:
    """The fake device's sparse module (the counterpart of ``cupyx.scipy.sparse``)."""

    __ag_device__ = DEVICE

    @staticmethod
    def csr_matrix(matrix: Any) -> FakeSparse:
        import scipy.sparse as sp

        return FakeSparse(sp.csr_matrix(matrix._matrix if isinstance(matrix, FakeSparse) else matrix))

    @staticmethod
    def issparse(x: Any) -> bool:
        return isinstance(x, FakeSparse)


sparse = _FakeSparseModule()
