"""The op registry: every op of both engines, with its rules and their text.

Each op is registered once, where it is defined (``ag/scalar.py`` for Scalar,
``ag/ops/*.py`` for Tensor), with :func:`register`: its forward function, one
backward rule per input, the rule text (one template per input, for traces and
answer keys) and the facts that tools need: the arity, the inputs' domain, the
kinks. Everything that lists ops reads it: Scalar's and Tensor's methods, the
``ag.X`` functions, the exam generator, ``ag grade --op``, the hypothesis
strategies, the traces and the docs.

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

from collections.abc import Callable, Iterator
from importlib import import_module
from typing import Any

ENGINES = ("scalar", "tensor")


class OpDef:
    """One op of one engine, as registered (see :func:`register` for each field).

    ``name`` is the registry key (usually the node's ``op``; a variant such as
    ``pow_const``, a power with a number exponent, has its own key and ``op="pow"``).
    ``arity`` is the number of graph inputs (None: any number, as concatenate).
    """

    __slots__ = ("name", "op", "engine", "arity", "function", "rules", "text", "methods",
                 "domain", "defined", "safe", "kinks", "n", "exam", "broadcasts", "public", "code",
                 "summary", "facts")

    def __init__(self, name: str, engine: str, arity: int | None, function: Callable | None,
                 rules: tuple, text: tuple[str, ...], methods: tuple[str, ...] = (),
                 domain: str | None = None, kinks: tuple[float, ...] = (), summary: str = "",
                 op: str | None = None, defined: Callable | None = None, code: str = "",
                 facts: Callable | None = None, safe: Callable | None = None,
                 n: float | None = None, exam: bool = True, broadcasts: bool = False,
                 public: bool = True) -> None:
        self.name = name
        self.op = op or name
        self.engine = engine
        self.arity = arity
        self.function = function
        self.rules = rules
        self.text = text
        self.methods = methods
        self.domain = domain
        self.defined = defined
        self.safe = safe
        self.kinks = kinks
        self.n = n
        self.exam = exam
        self.broadcasts = broadcasts
        self.public = public
        self.code = code
        self.summary = summary
        # facts(node) -> {placeholder: text}: what fills the rule text's {axis}, {count},
        # {index}, ... for one node (read from the node's saved context)
        self.facts = facts

    def __repr__(self) -> str:
        return f"OpDef({self.engine}:{self.name}, arity={self.arity})"

    def _number(self, n: float | None) -> tuple:
        return () if self.n is None else (self.n if n is None else n,)

    def call(self, *inputs: Any, n: float | None = None) -> Any:
        """The op applied to its graph inputs, with a number (``n``, default the registered
        one) if it takes one.

        >>> from ag import Scalar
        >>> scalar_ops()["pow_const"].call(Scalar(3.0)).value  # n = 2.0: the square
        9.0
        """
        return self.function(*inputs, *self._number(n))

    def valid(self, *values: Any, n: float | None = None) -> Any:
        """Whether tools may use these input values: defined, well-conditioned (``safe``)
        and off the kinks. Works on numbers, and elementwise on arrays (``&``).

        >>> scalar_ops()["log"].valid(0.5), scalar_ops()["log"].valid(0.01)
        (True, False)
        """
        extra = self._number(n)
        ok: Any = True
        if self.defined is not None:
            ok = self.defined(*values, *extra)
        if self.safe is not None:
            ok = ok & self.safe(*values, *extra)
        for k in self.kinks:
            for v in values:
                ok = ok & (abs(v - k) > 1e-2)
        return ok


_OPS: dict[str, dict[str, OpDef]] = {engine: {} for engine in ENGINES}
generation = 0  # counts registrations and removals: a cache of look-ups checks it
# (op, number of inputs) -> key, for ops registered as variants of another (pow_const)
_VARIANTS: dict[str, dict[tuple[str, int], str]] = {engine: {} for engine in ENGINES}
# engine -> its node class (Scalar, Tensor), where the ops' methods go; and back
_NODE_TYPES: dict[str, type] = {}
_ENGINE_OF: dict[type, str | None] = {}  # None: a type known not to be a node (a cache)

# Modules whose import registers each engine's ops (loaded on first look-up), and the
# module that defines its node class.
_DEFINED_IN = {"scalar": "ag.scalar", "tensor": "ag.ops"}
_NODE_TYPE_IN = {"scalar": "ag.scalar", "tensor": "ag.ops.core"}


def define_engine(engine: str, node_type: type) -> None:
    """Tell the registry which class is ``engine``'s node (its ops' methods go there).

    The engines call it as their node class is defined (``ag.scalar``, ``ag.ops.core``).
    """
    if engine not in _OPS:
        raise ValueError(f"define_engine: engine must be one of {ENGINES}, not {engine!r}")
    _NODE_TYPES[engine] = node_type
    for kind in [k for k, e in _ENGINE_OF.items() if e is None]:
        del _ENGINE_OF[kind]  # a type cached as "not a node" may subclass the new class
    _ENGINE_OF[node_type] = engine


def engine_of(x: Any) -> str | None:
    """``"scalar"`` or ``"tensor"`` for a graph node, None for anything else.

    >>> import ag
    >>> engine_of(ag.Scalar(1.0)), engine_of(1.0)
    ('scalar', None)
    """
    kind = type(x)
    try:
        return _ENGINE_OF[kind]
    except KeyError:
        pass
    engine = next((name for node_type, name in list(_ENGINE_OF.items())
                   if name is not None and isinstance(x, node_type)), None)  # a subclass
    _ENGINE_OF[kind] = engine
    return engine


def _reflected(function: Callable) -> Callable:
    """The right-operand operator (``__radd__``): ``function(other, self)``; the op lifts
    the number on the left itself."""
    def method(self: Any, other: Any) -> Any:
        return function(other, self)

    method.__name__ = method.__qualname__ = f"reflected_{getattr(function, '__name__', 'op')}"
    return method


def register(engine: str, name: str, function: Callable | None = None, rules: tuple = (),
             text: tuple[str, ...] = (), *, arity: Any = ...,
             methods: tuple[str, ...] = (), reflected: tuple[str, ...] = (),
             code: str = "", domain: str | None = None, defined: Callable | None = None,
             safe: Callable | None = None, kinks: tuple[float, ...] = (), n: float | None = None,
             exam: bool = True, broadcasts: bool = False, public: bool = True, op: str | None = None,
             facts: Callable | None = None, summary: str | None = None) -> Callable | None:
    """Register an op of ``engine`` ("scalar" or "tensor") and put its methods on the
    engine's node class; returns ``function``. Registering a name again replaces it.

    * ``function`` makes the node: it computes the value and calls the engine's
      ``make_node(value, inputs, op, rules, ctx)`` (``ag.scalar.make_node`` or
      ``ag.ops.api.make_node``); None for an entry that only gives rule text.
    * ``rules``: one backward rule per input, ``rule(g, out, ctx, *inputs)`` returning
      that input's gradient (``g`` is the node's grad; ``out`` and the inputs are values).
    * ``text``: the rules as text, one template per input (``{a}``, ``{b}``, ``{out}``,
      ``{n}``, or ``{x}`` for each input of a variadic op); ``arity`` defaults to
      ``len(text)`` (None: any number of inputs).
    * ``methods`` / ``reflected``: method names that call ``function(self, ...)`` /
      ``function(other, self)`` (``__add__`` / ``__radd__``).
    * Facts for tools: ``code`` (the op as Python source with ``{a}``, ``{b}``, ``{n}``,
      for generated exams and failure reports), ``domain`` (in words) and
      ``defined(*values)`` (where the op is defined), ``safe(*values)`` (well inside the
      domain, where values and finite differences stay accurate: tests, exams and
      ``ag grade --op`` draw there), ``kinks`` (input values where the derivative
      jumps), ``n`` (for a variant that takes a number, as ``a ** n``: the number tools
      use), ``exam`` (False: the exam generator does not draw it), ``broadcasts`` (the
      inputs broadcast against each other elementwise, so an input's gradient has the
      output's shape until the core sums it back: traces say so), ``public`` (False: not
      listed in ``dir(ag)``, for an op called another way, as ``x[index]``), ``op`` (the node's
      ``op`` when the key differs), ``facts(node)`` (what fills ``{axis}``, ... in the
      text), ``summary`` (default: the first line of ``function``'s docstring).
      ``defined`` and ``safe`` are written with comparisons, ``abs`` and ``&`` so they
      work on numbers and elementwise on arrays.

    The classic exercise, a Scalar op with its own forward and backward:

    >>> import math, ag
    >>> from ag.scalar import make_node
    >>> def _my_tanh_rule(g, out, ctx, a):
    ...     return (1.0 - out * out) * g
    >>> def my_tanh(x):
    ...     return make_node(math.tanh(x.value), (x,), "my_tanh", (_my_tanh_rule,))
    >>> _ = ag.register("scalar", "my_tanh", my_tanh, (_my_tanh_rule,),
    ...                 ("{a}.grad += (1 - {out}.value**2) * {out}.grad",), methods=("my_tanh",))
    >>> x = ag.Scalar(0.5, label="x"); y = x.my_tanh(); y.backward()
    >>> math.isclose(x.grad, 1 - math.tanh(0.5) ** 2), y.backward_rule()
    (True, ('{a}.grad += (1 - {out}.value**2) * {out}.grad',))
    >>> ag.my_tanh(x).value == y.value
    True
    >>> unregister("scalar", "my_tanh")
    """
    if engine not in _OPS:
        raise ValueError(f"register {name!r}: engine must be one of {ENGINES}, not {engine!r}")
    text, rules = tuple(text), tuple(rules)
    if arity is ...:  # not given: one input per rule text
        arity = len(text)
    if arity is not None and len(text) != arity:
        raise ValueError(f"register {name!r}: {arity} inputs but {len(text)} rule texts")
    if summary is None:
        summary = (function.__doc__ or "").strip().split("\n")[0] if function else ""
    global generation
    generation += 1
    entry = OpDef(name, engine, arity, function, rules, text, tuple(methods) + tuple(reflected),
                  domain, tuple(kinks), summary, op, defined, code, facts, safe, n, exam, broadcasts,
                  public)
    _OPS[engine][name] = entry
    if entry.op != name and arity is not None:
        _VARIANTS[engine][(entry.op, arity)] = name
    if methods or reflected:
        node_type = _node_type(engine)
        for method in methods:
            setattr(node_type, method, function)
        for method in reflected:
            setattr(node_type, method, _reflected(function))
    return function


def unregister(engine: str, name: str) -> None:
    """Remove an op registered with :func:`register`, and its methods (a no-op if absent)."""
    global generation
    entry = _OPS[engine].pop(name, None)
    if entry is None:
        return
    generation += 1
    if _VARIANTS[engine].get((entry.op, entry.arity)) == name:
        del _VARIANTS[engine][(entry.op, entry.arity)]
    node_type = _NODE_TYPES.get(engine)
    for method in entry.methods:
        if node_type is not None and method in vars(node_type):
            delattr(node_type, method)


def _node_type(engine: str) -> type:
    if engine not in _NODE_TYPES:
        import_module(_NODE_TYPE_IN[engine])  # it calls define_engine
    return _NODE_TYPES[engine]


def ops(engine: str) -> dict[str, OpDef]:
    """Every registered op of ``engine`` by name, in registration order."""
    import_module(_DEFINED_IN[engine])
    return dict(_OPS[engine])


def scalar_ops() -> dict[str, OpDef]:
    """Scalar's op set: ``{name: OpDef}`` with arity, domain and kinks per op.

    >>> ops = scalar_ops()
    >>> ops["relu"].kinks, ops["log"].domain, ops["log"].defined(-1.0), ops["mul"].code
    ((0.0,), 'a > 0', False, '{a} * {b}')
    >>> all(len(op.text) == op.arity for op in ops.values())
    True
    """
    return ops("scalar")


def tensor_ops() -> dict[str, OpDef]:
    """Tensor's op set (loads the Tensor engine)."""
    return ops("tensor")


class OpNames:
    """The names of ``engine``'s ops that have a fact (``OpNames("tensor", "broadcasts")``),
    read from the registry at each look-up, so an op registered later is in it too.

    >>> "mul" in OpNames("scalar", "exam"), "pow" in OpNames("scalar", "exam")
    (True, False)
    """

    def __init__(self, engine: str, fact: str) -> None:
        self.engine, self.fact = engine, fact

    def __contains__(self, name: object) -> bool:
        entry = _OPS[self.engine].get(name) if isinstance(name, str) else None
        return entry is not None and bool(getattr(entry, self.fact))

    def __iter__(self) -> Iterator[str]:
        return iter([name for name, e in ops(self.engine).items() if getattr(e, self.fact)])


def lookup(engine: str, name: str) -> OpDef | None:
    """The op registered as ``name`` for ``engine``, or None (no import is triggered)."""
    return _OPS[engine].get(name)


def entry_of(engine: str, node: Any) -> OpDef | None:
    """The registered op that made ``node``: its ``op``, or the variant registered for
    its number of inputs (a ``pow`` node with one input is a ``pow_const``).

    >>> import ag
    >>> entry_of("scalar", ag.Scalar(3.0) ** 2).name
    'pow_const'
    """
    table = _OPS[engine]
    entry = table.get(node.op)
    n_inputs = len(node.inputs)
    if entry is not None and (entry.arity is None or entry.arity == n_inputs or not n_inputs):
        return entry
    variant = _VARIANTS[engine].get((node.op, n_inputs))
    return table[variant] if variant is not None else entry


def rule_text(engine: str, name: str) -> tuple[str, ...] | None:
    """The rule templates registered for ``name``, or None (no import is triggered)."""
    entry = _OPS[engine].get(name)
    return None if entry is None else entry.text


def rule_facts(engine: str, node: Any, key: str | None = None) -> dict[str, str]:
    """What fills a node's rule text beyond names and numbers: ``{axis}``, ``{count}``, ...

    Empty for an op that registered no ``facts`` function (or a leaf).
    """
    entry = _OPS[engine].get(key) if key else entry_of(engine, node)
    if entry is None or entry.facts is None or not node.inputs:
        return {}
    return dict(entry.facts(node))


def rule_templates(engine: str, node: Any, key: str | None = None) -> tuple[str, ...]:
    """A node's backward rule as text, one template per input (empty for a leaf).

    ``key`` picks an entry by name (default: :func:`entry_of` the node); a variadic
    op's single template, written with ``{x}`` and ``k``, is repeated for each input.
    An op without registered text raises KeyError.
    """
    inputs = node.inputs
    if not inputs:
        return ()
    entry = _OPS[engine].get(key) if key else entry_of(engine, node)
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
             "Generated from the registry, so it lists exactly what the code defines.", "",
             "## An op of your own", "",
             "`ag.register` adds an op to either engine: its forward makes the node with the",
             "engine's `make_node`, one backward rule per input returns that input's gradient,",
             "and the rule text is what traces and answer keys show. The classic exercise:", "",
             "```python",
             "import math, ag",
             "from ag.scalar import make_node",
             "",
             "def _my_tanh_rule(g, out, ctx, a):",
             "    return (1.0 - out * out) * g",
             "",
             "def my_tanh(x):",
             "    return make_node(math.tanh(x.value), (x,), \"my_tanh\", (_my_tanh_rule,))",
             "",
             "ag.register(\"scalar\", \"my_tanh\", my_tanh, (_my_tanh_rule,),",
             "            (\"{a}.grad += (1 - {out}.value**2) * {out}.grad\",), methods=(\"my_tanh\",))",
             "x = ag.Scalar(0.5); y = x.my_tanh(); y.backward()   # or ag.my_tanh(x)",
             "```", "",
             "A Tensor op is the same with `ag.ops.api` (`as_tensor`, `make_node`) and",
             "`ag.register(\"tensor\", ...)`; registered for both engines, `ag.my_tanh` serves both.",
             "CONTRIBUTING.md's \"Adding an op\" walks through one for the kit itself.", ""]
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
