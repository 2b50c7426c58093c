"""``Module``: parameters found from attributes, train/eval, state dicts, save/load.

A module's parameters are the ``ag.Tensor`` objects among its attributes, and
inside lists, tuples and dicts held by them; sub-modules are found the same way,
so a class written the course's way needs nothing else::

    class MLP(ag.nn.Module):
        def __init__(self, n_features, n_hidden):
            self.Wh = ag.Tensor(np.random.randn(n_features, n_hidden), label="Whidden")
            self.bh = ag.Tensor(np.random.randn(n_hidden), label="bhidden")
        def forward(self, X):
            return ag.relu(X @ self.Wh + self.bh)

(``super().__init__()`` is optional.) Constants that are not parameters, such as
a mask, are best kept as NumPy arrays; running statistics are *buffers*
(:meth:`Module.register_buffer`): saved in the state dict, never trained.

>>> import ag
>>> net = ag.nn.Sequential(ag.nn.Linear(3, 4), ag.nn.ReLU(), ag.nn.Linear(4, 2))
>>> [name for name, _ in net.named_parameters()]
['layers.0.weight', 'layers.0.bias', 'layers.2.weight', 'layers.2.bias']
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from ag.backend import to_host

__all__ = ["Module", "StateDictError", "save", "load", "as_tensor", "check_input"]


_TENSOR_CLASS: list[type] = []


def _tensor_class() -> type:
    if not _TENSOR_CLASS:  # imported late: `import ag.nn` stays cheap; then kept (hot path)
        from ag.tensor import Tensor

        _TENSOR_CLASS.append(Tensor)
    return _TENSOR_CLASS[0]


def _is_tensor(x: Any) -> bool:
    return isinstance(x, _tensor_class())


def _host(array: Any) -> np.ndarray:
    return to_host(array, copy=True)


class StateDictError(ValueError):
    """A state dict does not fit the module: missing/unexpected keys or wrong shapes."""


class Module:
    """Base class of layers and models: ``forward`` plus bookkeeping.

    Subclasses define ``forward(*args)``; calling the module calls it. Methods:
    ``parameters()``, ``named_parameters()``, ``modules()``, ``train()``/``eval()``,
    ``zero_grad()``, ``state_dict()``/``load_state_dict()``, ``num_parameters()``.
    """

    training: bool = True  # class default, so subclasses need not call __init__

    def __init__(self) -> None:
        self.training = True

    # ------------------------------------------------------------------ calling
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ---------------------------------------------------------------- discovery
    def _attributes(self) -> Iterator[tuple[str, Any]]:
        for name, value in vars(self).items():
            if name != "_buffers" and name != "training":
                yield name, value

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct sub-modules, named by attribute (``layers.0`` for a list element)."""
        for name, value in self._attributes():
            for sub_name, item in _walk(name, value):
                if isinstance(item, Module):
                    yield sub_name, item

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module (named ``prefix``) and every sub-module below it, each once."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            kids = [(f"{name}.{n}" if name else n, m) for n, m in module.named_children()]
            stack.extend(reversed(kids))

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self) -> Iterator[tuple[str, Any]]:
        """``(dotted name, Tensor)`` for every parameter, shared ones once."""
        seen: set[int] = set()
        for mod_name, module in self.named_modules():
            for name, value in module._attributes():
                for sub_name, item in _walk(name, value):
                    if _is_tensor(item) and id(item) not in seen:
                        seen.add(id(item))
                        yield (f"{mod_name}.{sub_name}" if mod_name else sub_name), item

    def parameters(self) -> list:
        """The parameters as a list (pass it to an optimizer)."""
        return [p for _, p in self.named_parameters()]

    def num_parameters(self) -> int:
        """How many numbers the parameters hold."""
        return int(sum(p.value.size for p in self.parameters()))

    # ------------------------------------------------------------------ buffers
    def register_buffer(self, name: str, array: Any) -> None:
        """Keep ``array`` as attribute ``name`` and in the state dict, but not as a parameter."""
        buffers = self.__dict__.setdefault("_buffers", [])
        if name not in buffers:
            buffers.append(name)
        setattr(self, name, array)

    def named_buffers(self) -> Iterator[tuple[str, Any]]:
        for mod_name, module in self.named_modules():
            for name in module.__dict__.get("_buffers", ()):
                yield (f"{mod_name}.{name}" if mod_name else name), getattr(module, name)

    # ------------------------------------------------------------- train / eval
    def train(self, mode: bool = True) -> Module:
        """Training mode (Dropout drops, BatchNorm uses batch statistics) for all sub-modules."""
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode: Dropout is the identity, BatchNorm uses its running statistics."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (``grad = None``) before the next backward."""
        for p in self.parameters():
            p.grad = None

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every sub-module and on this one (e.g. a custom initialiser)."""
        for module in self.modules():
            fn(module)
        return self

    def to(self, dtype: Any) -> Module:
        """Cast every parameter and float buffer to ``dtype`` in place (``np.float32``, ...),
        or move them to a device (``"cuda"``, ``"cpu"``, ``"fake"``; see ``ag.gpu``)."""
        if isinstance(dtype, str) and dtype.split(":")[0].lower() in ("cpu", "cuda", "gpu", "fake"):
            from ag.gpu.modules import move_module

            return move_module(self, dtype)  # in place: the parameters stay the same Tensors
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}.to: parameters must stay floating-point, not {dtype}")
        for p in self.parameters():
            p.value = p.value.astype(dtype)
            if p.grad is not None:
                p.grad = None
        for module in self.modules():
            for name in module.__dict__.get("_buffers", ()):
                buf = getattr(module, name)
                if getattr(buf, "dtype", None) is not None and buf.dtype.kind == "f":
                    setattr(module, name, buf.astype(dtype))
        return self

    # ------------------------------------------------------------- state dicts
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of all parameters and buffers as NumPy arrays, keyed by dotted name."""
        state = {name: _host(p.value) for name, p in self.named_parameters()}
        for name, buf in self.named_buffers():
            state[name] = _host(buf)
        return state

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> None:
        """Copy ``state``'s arrays into the parameters and buffers, in place.

        Every key, shape and dtype is checked, and every entry converted, before
        anything is written: missing keys, unexpected keys (when ``strict``), a wrong
        shape or an entry that is not real numbers (strings, objects, complex values
        whose imaginary part would be dropped) raise :class:`StateDictError` naming
        them, and leave the module unchanged.
        """
        targets: dict[str, tuple[Any, str, Any]] = {}
        for name, p in self.named_parameters():
            targets[name] = (p, "param", p.value)
        for mod_name, module in self.named_modules():
            for bname in module.__dict__.get("_buffers", ()):
                full = f"{mod_name}.{bname}" if mod_name else bname
                targets[full] = ((module, bname), "buffer", getattr(module, bname))
        missing = [k for k in targets if k not in state]
        unexpected = [k for k in state if k not in targets]
        wrong = [
            f"{k}: expected {tuple(np.shape(targets[k][2]))}, got {tuple(np.shape(state[k]))}"
            for k in targets
            if k in state and tuple(np.shape(state[k])) != tuple(np.shape(targets[k][2]))
        ]
        problems = []
        if missing:
            problems.append("missing keys: " + ", ".join(missing))
        if unexpected and strict:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if wrong:
            problems.append("wrong shapes: " + "; ".join(wrong))
        converted: dict[str, Any] = {}
        bad_dtype = []
        if not problems:
            for key, (_, _, current) in targets.items():
                entry = state[key]
                src = np.asarray(entry) if isinstance(entry, np.ndarray) else _host(entry)
                if src.dtype.kind not in "biuf":
                    bad_dtype.append(f"{key}: dtype {src.dtype} (expected real numbers)")
                    continue
                converted[key] = _like(current, src)
        if bad_dtype:
            problems.append("wrong dtypes: " + "; ".join(bad_dtype))
        if problems:
            raise StateDictError(
                f"{type(self).__name__}.load_state_dict: " + " | ".join(problems) + " (nothing was loaded)"
            )
        for key, (owner, kind, _) in targets.items():  # every entry is ready: write them all
            if kind == "param":
                owner.value = converted[key]
            else:
                module, bname = owner
                setattr(module, bname, converted[key])

    # -------------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """The text inside ``Name(...)``; by default the shapes of the module's own tensors."""
        parts = []
        for name, value in self._attributes():
            for sub_name, item in _walk(name, value):
                if _is_tensor(item):
                    parts.append(f"{sub_name}: {tuple(item.shape)}")
        return ", ".join(parts)

    def __repr__(self) -> str:
        extra = self.extra_repr()
        children = [(n, m) for n, m in self.named_children()]
        if not children:
            return f"{type(self).__name__}({extra})"
        lines = [f"  {extra}"] if extra else []
        for name, child in children:
            lines.append(f"  ({name}): " + repr(child).replace("\n", "\n  "))
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"


def _walk(name: str, value: Any) -> Iterator[tuple[str, Any]]:
    """``value`` itself, or the items of a list/tuple/dict (recursively), with dotted names."""
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _walk(f"{name}.{i}", item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(f"{name}.{key}", item)
    else:
        yield name, value


def _like(current: Any, src: np.ndarray) -> Any:
    """``src`` as a fresh array of ``current``'s dtype on ``current``'s device."""
    out = src.astype(getattr(current, "dtype", src.dtype), copy=True)
    from ag.gpu.device import device_of, move_array

    return move_array(out, device_of(current))  # `out` itself when current is on the host


# ------------------------------------------------------------------ save / load


def save(obj: Module | Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write a module's state dict (or a dict of arrays) to an ``.npz`` file, no pickle.

    >>> import ag, tempfile, os
    >>> net = ag.nn.Linear(2, 3)
    >>> path = os.path.join(tempfile.mkdtemp(), "net.npz")
    >>> ag.save(net, path); sorted(ag.load(path))
    ['bias', 'weight']
    """
    state = obj.state_dict() if isinstance(obj, Module) else {k: _host(v) for k, v in obj.items()}
    for key, value in state.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"ag.save: key {key!r} must be a non-empty string")
        if value.dtype.kind not in "biufc":
            raise TypeError(f"ag.save: entry {key!r} (dtype {value.dtype}) is not a numeric array")
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"  # as np.savez does
    # np.savez's own format (one .npy per key in a zip), written directly: np.savez(path,
    # **state) would take the keys 'file' and 'allow_pickle' as its own arguments
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, value in state.items():
            with archive.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


def load(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read an ``.npz`` file written by :func:`save` into a dict (``allow_pickle=False``).

    Pass the result to ``model.load_state_dict``.
    """
    path = os.fspath(path)
    if not os.path.exists(path) and os.path.exists(path + ".npz"):
        path += ".npz"  # np.savez adds the suffix when it is missing
    contents = np.load(path, allow_pickle=False)
    if not isinstance(contents, np.lib.npyio.NpzFile):
        raise ValueError(
            f"ag.load: {path!r} holds a single array (an .npy file), not the .npz archive of "
            "named arrays that ag.save writes; read it with np.load, or save a dict with ag.save"
        )
    with contents as archive:
        return {key: archive[key] for key in archive.files}


# ---------------------------------------------------------------- input checks


def as_tensor(x: Any, dtype: Any = None) -> Any:
    """``x`` if it is already a Tensor, else a constant Tensor (``requires_grad=False``).

    Integer arrays become ``dtype`` (default float64) so layers accept raw data.
    """
    Tensor = _tensor_class()
    if isinstance(x, Tensor):
        return x
    from ag.backend import array_module_of

    # a device array (CuPy, the fake device) stays where it is; np.asarray would refuse it
    array = x if hasattr(x, "dtype") and array_module_of(x) is not np else np.asarray(x)
    if array.dtype.kind != "f":
        array = array.astype(dtype or np.float64)
    return Tensor(array, requires_grad=False)


def check_input(
    module: Module, x: Any, ndim: int | tuple[int, ...], features: int | None, expected: str
) -> None:
    """Raise a ValueError naming ``module`` and the ``expected`` shape when ``x`` does not fit.

    ``ndim`` is the required rank (or a tuple of allowed ranks, or 0 for "at least
    one"); ``features`` the required size of the last axis (None: any).
    """
    shape = tuple(x.shape)
    ranks = ndim if isinstance(ndim, tuple) else (ndim,)
    bad_rank = len(shape) == 0 if ranks == (0,) else len(shape) not in ranks
    if bad_rank or (features is not None and shape[-1] != features):
        name = f"{type(module).__name__}({module.extra_repr()})"
        raise ValueError(f"{name} expects input of shape {expected}, got {shape}")
