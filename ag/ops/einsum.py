"""``einsum``: Einstein summation, differentiable in every operand.

The worked example of adding an op (CONTRIBUTING.md): this file is the one place.
It has the forward (check the operands, compute with the operands' array module,
make the node), one backward rule per input, the rule text beside it, and one
``register`` call; ``ag/ops/__init__.py`` imports the file, and the registry
makes ``ag.einsum`` and ``ag.tensor.einsum`` resolve to it.

The gradient of operand k is itself an einsum: contract the output's gradient with
the other operands, writing operand k's subscripts as the output. Subscripts that
appear only in operand k were summed away, so the gradient does not depend on them
and is broadcast back along them.

>>> import ag
>>> A = ag.tensor([[1.0, 2.0], [3.0, 4.0]], label="A")
>>> x = ag.tensor([1.0, -1.0], label="x")
>>> y = ag.einsum("ij,j->i", A, x)          # A @ x
>>> y.value
array([-1., -1.])
>>> y.sum().backward(); A.grad              # each row gets x
array([[ 1., -1.],
       [ 1., -1.]])
"""

from __future__ import annotations

import functools
from typing import Any

from ag.ops.api import (
    Tensor,
    array_module_of,
    as_tensor,
    check_devices,
    describe,
    make_node,
    register,
)
from ag.ops.reductions import expand_to


def _parse(subscripts: str, n_operands: int) -> tuple[list[str], str]:
    """The operands' subscripts and the output's, with NumPy's implicit output rule."""
    spec = subscripts.replace(" ", "")
    if "." in spec:
        raise ValueError(f"einsum {subscripts!r}: '...' is not supported; name every axis")
    inputs, arrow, output = spec.partition("->")
    parts = inputs.split(",")
    if len(parts) != n_operands:
        raise ValueError(
            f"einsum {subscripts!r}: {len(parts)} operand subscripts but {n_operands} operands"
        )
    for part in parts + [output]:
        if not all(c.isalpha() for c in part):
            raise ValueError(f"einsum {subscripts!r}: subscripts must be letters, got {part!r}")
    for part in parts:
        if len(set(part)) != len(part):
            raise ValueError(
                f"einsum {subscripts!r}: a subscript repeated within one operand ({part!r}, a "
                "diagonal or trace) is not supported; take the diagonal with indexing first"
            )
    if not arrow:  # implicit: the letters that appear exactly once, in alphabetical order
        letters = "".join(parts)
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    unknown = set(output) - set("".join(parts))
    if unknown or len(set(output)) != len(output):
        raise ValueError(f"einsum {subscripts!r}: the output {output!r} must use each operand "
                         "letter at most once")
    return parts, output


def _contract(spec: str, *operands: Any) -> Any:
    # Tensors (create_graph): a differentiable einsum node; arrays: the array module's
    if any(isinstance(x, Tensor) for x in operands):
        return einsum(spec, *operands)
    return array_module_of(operands[0]).einsum(spec, *operands, optimize=len(operands) > 2)


def _einsum_rule(k: int, g: Any, out: Any, ctx: Any, *operands: Any) -> Any:
    parts, output = ctx
    others = [p for i, p in enumerate(parts) if i != k]
    available = set(output).union(*others)
    kept = "".join(c for c in parts[k] if c in available)  # letters only in operand k: summed away
    spec = ",".join([output, *others]) + "->" + kept
    grad = _contract(spec, g, *[x for i, x in enumerate(operands) if i != k])
    if kept == parts[k]:
        return grad
    shape = operands[k].shape
    # put the summed-away axes back as size 1, then broadcast along them
    grad = grad.reshape(tuple(n if c in available else 1 for c, n in zip(parts[k], shape)))
    return expand_to(grad, shape)


_RULES: list[Any] = []


def _rules(n: int) -> tuple:
    while len(_RULES) < n:
        _RULES.append(functools.partial(_einsum_rule, len(_RULES)))
    return tuple(_RULES[:n])


def einsum(subscripts: str, *operands: Any) -> Tensor:
    """Einstein summation over the operands' axes, as ``np.einsum`` (letters, ``->``).

    ``einsum("ij,jk->ik", A, B)`` is ``A @ B``; ``"bij,bjk->bik"`` a batched product;
    ``"ij->j"`` a column sum; ``"i,j->ij"`` an outer product. Without ``->`` the
    output is the letters that appear once, sorted. Every operand gets a gradient.

    >>> import ag
    >>> a = ag.tensor([1.0, 2.0]); b = ag.tensor([3.0, 4.0])
    >>> ag.einsum("i,i->", a, b).item()
    11.0
    """
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: the subscripts must be a string, got {type(subscripts).__name__}")
    tensors = tuple(as_tensor(t) for t in operands)
    if not tensors:
        raise ValueError("einsum: needs at least one operand")
    parts, output = _parse(subscripts, len(tensors))
    if any(type(t.value) is not type(tensors[0].value) for t in tensors):
        check_devices("einsum", *tensors)
    sizes: dict[str, int] = {}
    for part, t in zip(parts, tensors):
        if len(part) != t.ndim:
            raise ValueError(f"einsum {subscripts!r}: subscripts {part!r} name {len(part)} axes but "
                             f"{describe(t)} has {t.ndim}")
        for c, n in zip(part, t.shape):
            if sizes.setdefault(c, n) != n and 1 not in (n, sizes[c]):
                shapes = ", ".join(describe(x) for x in tensors)
                raise ValueError(f"einsum {subscripts!r}: axis {c!r} has sizes {sizes[c]} and {n} "
                                 f"({shapes})")
            sizes[c] = max(sizes[c], n)
    spec = ",".join(parts) + "->" + output
    xp = array_module_of(tensors[0].value)
    try:
        value = xp.einsum(spec, *[t.value for t in tensors], optimize=len(tensors) > 2)
    except ValueError as err:
        shapes = ", ".join(describe(x) for x in tensors)
        raise ValueError(f"einsum {subscripts!r}: {shapes}: {err}") from None
    return make_node(value, tensors, "einsum", _rules(len(tensors)), (parts, output))


register("tensor", "einsum", einsum, (), ("{x}.grad += einsum(output, other operands -> {x}'s subscripts)",),
         arity=None)
