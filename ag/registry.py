"""The op registry: every op of both engines, with its rules and their text.

Each op is registered once, where it is defined (``ag/scalar.py`` for Scalar,
``ag/ops/*.py`` for Tensor), with its forward function, one backward rule per
input, the rule text (one template per input, for traces and answer keys) and the
facts that tools need: the arity, the inputs' domain, the kinks. Everything that
lists ops reads it: Scalar's and Tensor's methods, the exam generator, the
hypothesis strategies, the traces and the docs.

>>> import ag
>>> from ag import registry
>>> mul = registry.scalar_ops()["mul"]
>>> mul.arity, mul.text[0]
(2, '{a}.grad += {b}.value * {out}.grad')
>>> registry.tensor_ops()["matmul"].text[1]  # {aT}: a fact, ".T" for a 2-D operand
'{b}.grad += {a}.value{aT} @ {out}.grad'

Rule text placeholders: ``{a}``, ``{b}`` (the inputs, left first), ``{out}`` (the
node), ``{n}`` (a number exponent), ``{x}`` (each input of a variadic op).

This module imports nothing heavy: ``import ag`` (Scalar work) reads it without NumPy.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

ENGINES = ("scalar", "tensor")


class OpDef:
    """One op of one engine, as registered.

    ``name`` is the registry key (usually the node's ``op``; a variant such as
    ``pow_const``, a power with a number exponent, has its own key and ``op="pow"``).
    ``arity`` is the number of graph inputs (None: any number, as concatenate).
    ``function`` makes the node; ``rules`` are the backward rules, one per input;
    ``text`` their templates. ``methods`` are the Scalar/Tensor methods and operators
    that call ``function``; ``domain`` says in words which inputs are allowed (None:
    all reals) and ``defined(*input_values)`` tells it for numbers (None: always);
    ``kinks`` are the input values where the derivative jumps; ``code`` is the op as
    Python source with ``{a}``, ``{b}``, ``{n}`` (``"{a} * {b}"``, ``"ag.exp({a})"``).
    """

    __slots__ = ("name", "op", "engine", "arity", "function", "rules", "text", "methods",
                 "domain", "defined", "kinks", "code", "summary", "facts")

    def __init__(self, name: str, engine: str, arity: int | None, function: Callable | None,
                 rules: tuple, text: tuple[str, ...], methods: tuple[str, ...] = (),
                 domain: str | None = None, kinks: tuple[float, ...] = (), summary: str = "",
                 op: str | None = None, defined: Callable | None = None, code: str = "",
                 facts: Callable | None = None) -> None:
        self.name = name
        # facts(node) -> {placeholder: text}: what fills the rule text's {axis}, {count},
        # {index}, ... for one node (read from the node's saved context)
        self.facts = facts
        self.op = op or name
        self.engine = engine
        self.arity = arity
        self.function = function
        self.rules = rules
        self.text = text
        self.methods = methods
        self.domain = domain
        self.defined = defined
        self.kinks = kinks
        self.code = code
        self.summary = summary

    def __repr__(self) -> str:
        return f"OpDef({self.engine}:{self.name}, arity={self.arity})"


_OPS: dict[str, dict[str, OpDef]] = {engine: {} for engine in ENGINES}

# Modules whose import registers each engine's ops (loaded on first look-up).
_DEFINED_IN = {"scalar": "ag.scalar", "tensor": "ag.ops"}


def register(engine: str, name: str, *, function: Callable | None, rules: tuple = (),
             text: tuple[str, ...], arity: int | None = 1, methods: tuple[str, ...] = (),
             domain: str | None = None, kinks: tuple[float, ...] = (), summary: str = "",
             op: str | None = None, defined: Callable | None = None, code: str = "",
             facts: Callable | None = None) -> OpDef:
    """Record an op (see :class:`OpDef`); registering a name again replaces it."""
    if engine not in _OPS:
        raise ValueError(f"register {name!r}: engine must be one of {ENGINES}, not {engine!r}")
    if arity is not None and len(text) != arity:
        raise ValueError(f"register {name!r}: {arity} inputs but {len(text)} rule texts")
    entry = OpDef(name, engine, arity, function, tuple(rules), tuple(text), tuple(methods),
                  domain, tuple(kinks), summary, op, defined, code, facts)
    _OPS[engine][name] = entry
    return entry


def ops(engine: str) -> dict[str, OpDef]:
    """Every registered op of ``engine`` by name, in registration order."""
    import_module(_DEFINED_IN[engine])
    return dict(_OPS[engine])


def scalar_ops() -> dict[str, OpDef]:
    """Scalar's op set: ``{name: OpDef}`` with arity, domain and kinks per op.

    >>> ops = scalar_ops()
    >>> sorted(ops)
    ['add', 'div', 'exp', 'log', 'mul', 'neg', 'pow', 'pow_const', 'relu', 'sigmoid', 'sub', 'tanh']
    >>> ops["relu"].kinks, ops["log"].domain, ops["log"].defined(-1.0), ops["mul"].code
    ((0.0,), 'a > 0', False, '{a} * {b}')
    """
    return ops("scalar")


def tensor_ops() -> dict[str, OpDef]:
    """Tensor's op set (loads the Tensor engine)."""
    return ops("tensor")


def rule_text(engine: str, name: str) -> tuple[str, ...] | None:
    """The rule templates registered for ``name``, or None (no import is triggered)."""
    entry = _OPS[engine].get(name)
    return None if entry is None else entry.text


def rule_facts(engine: str, node: Any, key: str | None = None) -> dict[str, str]:
    """What fills a node's rule text beyond names and numbers: ``{axis}``, ``{count}``, ...

    Empty for an op that registered no ``facts`` function (or a leaf).
    """
    entry = _OPS[engine].get(key or node.op)
    if entry is None or entry.facts is None or not node.inputs:
        return {}
    return dict(entry.facts(node))


def rule_templates(engine: str, node: Any, key: str | None = None) -> tuple[str, ...]:
    """A node's backward rule as text, one template per input (empty for a leaf).

    ``key`` picks a variant (``pow_const``); a variadic op's single template, written
    with ``{x}`` and ``k``, is repeated for each input. An op without registered text
    raises KeyError.
    """
    inputs = node.inputs
    if not inputs:
        return ()
    key = key or node.op
    entry = _OPS[engine].get(key)
    if entry is None:
        raise KeyError(f"no backward rule text for {engine} op {node.op!r}")
    templates = entry.text
    if len(templates) < len(inputs):  # concatenate/stack/checkpoint: one line per input
        # {a}..{f} are the names a trace fills in (the inputs' labels); past six, by position
        names = [f"{{{c}}}" for c in "abcdef"][: len(inputs)]
        names += [f"input {k}" for k in range(len(names), len(inputs))]
        templates = tuple(
            templates[0].replace("{x}", name).replace(" k", f" {k}") for k, name in enumerate(names)
        )
    return templates[: len(inputs)]


def markdown() -> str:
    """Both engines' op sets as Markdown tables: the docs' page of ops is made from this.

    >>> print(markdown().splitlines()[0])
    # Ops
    """
    lines = ["# Ops", "",
             "Every op of both engines, as registered (`ag.registry`): the backward rule of",
             "each input as text, the methods and operators that call it, its domain and kinks.",
             "Generated from the registry, so it lists exactly what the code defines.", ""]
    for engine in ENGINES:
        lines += [f"## {engine.capitalize()}", "",
                  "| op | inputs | backward rule per input | methods | domain | kinks |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for name, op in ops(engine).items():
            cell = lambda items: "<br>".join(f"`{x}`" for x in items) or "-"  # noqa: E731
            arity = "any" if op.arity is None else str(op.arity)
            kinks = ", ".join(repr(k) for k in op.kinks) or "-"
            lines.append(f"| `{name}` | {arity} | {cell(op.text)} | {cell(op.methods)} | "
                         f"{op.domain or '-'} | {kinks} |")
        lines.append("")
    return "\n".join(lines)
