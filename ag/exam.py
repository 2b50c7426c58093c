"""Random exam problems in the course's format, with their answer keys.

>>> from ag.exam import generate
>>> p = generate(seed=7, ops=["mul", "add", "exp"], nodes=3)
>>> p.code == generate(seed=7, ops=["mul", "add", "exp"], nodes=3).code   # same seed, same problem
True
>>> print(p.text(answers=False).splitlines()[0])
Exam problem (seed 7)

A problem is what the course's exams give: the forward code (leaves labelled
``z1:leaf(x)``, then ``z1 = x`` aliases and one op per line), and the non-reversed
topological order. The answer key is the backward trace: what each iteration adds
to which grad, and the leaves' grads. Values are small integers chosen so that
every op is defined (``log`` of a positive number, no division by zero, no huge
``exp``). The problem is built by running its own generated code, so the code and
the key cannot disagree.
"""

from __future__ import annotations

import math
import random
from typing import Any

import ag
from ag.trace import BackwardTrace, Trace, format_number

__all__ = ["OPS", "DEFAULT_OPS", "ExamProblem", "generate"]

# op -> (arity, code template, value function)
OPS: dict[str, tuple[int, str, Any]] = {
    "add": (2, "{a}+{b}", lambda a, b: a + b),
    "sub": (2, "{a}-{b}", lambda a, b: a - b),
    "mul": (2, "{a}*{b}", lambda a, b: a * b),
    "div": (2, "{a}/{b}", lambda a, b: a / b if abs(b) >= 0.5 else None),
    "pow": (1, "{a}**2", lambda a: a * a if abs(a) <= 30 else None),
    "neg": (1, "-{a}", lambda a: -a),
    "exp": (1, "ag.exp({a})", lambda a: math.exp(a) if a <= 3 else None),
    "log": (1, "ag.log({a})", lambda a: math.log(a) if a > 0 else None),
    "relu": (1, "ag.relu({a})", lambda a: max(a, 0.0)),
    "tanh": (1, "ag.tanh({a})", lambda a: math.tanh(a)),
    "sigmoid": (1, "ag.sigmoid({a})", lambda a: 1 / (1 + math.exp(-a))),
}
DEFAULT_OPS = ("mul", "add", "exp", "log", "relu")
_LEAF_NAMES = ("x", "y", "w", "b", "u", "v")
_LEAF_VALUES = (1.0, 2.0, 3.0, 4.0, 2.0, 3.0, -1.0, -2.0)
_MAX_ABS = 1000.0


class ExamProblem:
    """A generated problem: ``code``, ``order`` (text), the trace ``run`` and ``answers``."""

    def __init__(self, seed: int, ops: tuple[str, ...], code: str, leaves: list[str],
                 run: BackwardTrace, namespace: dict) -> None:
        self.seed = seed
        self.ops = ops
        self.code = code
        self.leaves = leaves
        self.run = run
        self.namespace = namespace
        self.order = run.order_text()
        #: leaf variable name -> its grad after backward
        self.answers = {name: namespace[name].grad for name in leaves}

    def _answer_line(self) -> str:
        return ", ".join(f"{n}.grad = {format_number(g)}" for n, g in self.answers.items())

    def text(self, answers: bool = True) -> str:
        """The problem (and its answer key) for a terminal.

        >>> print(generate(seed=1, ops=["mul"], nodes=1).text(answers=False))  # doctest: +ELLIPSIS
        Exam problem (seed 1)
        ...
        """
        parts = [
            f"Exam problem (seed {self.seed})",
            "",
            "Forward code:",
            "",
            _indent(self.code),
            "",
            "Topological order (non-reversed):",
            "",
            _indent(self.order),
            "",
            "Draw the computational graph and compute the leaves' grads iteration by iteration.",
        ]
        if answers:
            parts += ["", "Answer key", "==========", "", self.run.text(), ""]
            parts.append("Answer: " + self._answer_line())
        return "\n".join(parts)

    def markdown(self, answers: bool = True) -> str:
        """The problem as Markdown; the answer key under its own heading.

        >>> "### Answer key" in generate(seed=1, ops=["mul"], nodes=1).markdown()
        True
        """
        from ag.trace import markdown_code

        parts = [
            f"## Exam problem (seed {self.seed})",
            "",
            "Forward code:",
            "",
            "```python",
            self.code,
            "```",
            "",
            f"Topological order (non-reversed): {markdown_code(self.order)}",
            "",
            "Draw the computational graph and compute the leaves' grads iteration by iteration.",
        ]
        if answers:
            parts += ["", "### Answer key", "", self.run.markdown(), "",
                      "**Answer:** " + markdown_code(self._answer_line())]
        return "\n".join(parts)

    def latex(self, answers: bool = True) -> str:
        """The problem as a LaTeX fragment (``verbatim`` code, ``tabular`` answer key).

        >>> "{verbatim}" in generate(seed=1, ops=["mul"], nodes=1).latex(answers=False)
        True
        """
        from ag.trace import latex_escape

        parts = [
            f"\\subsection*{{Exam problem (seed {self.seed})}}",
            "Forward code:",
            "\\begin{verbatim}",
            self.code,
            "\\end{verbatim}",
            "Topological order (non-reversed): \\texttt{" + latex_escape(self.order) + "}",
            "",
            "Draw the computational graph and compute the leaves' grads iteration by iteration.",
        ]
        if answers:
            parts += ["", "\\subsubsection*{Answer key}", self.run.latex(), "",
                      "Answer: \\texttt{" + latex_escape(self._answer_line()) + "}"]
        return "\n".join(parts)

    def html(self, answers: bool = True, graphs: bool = True) -> str:
        """A self-contained HTML page: the problem, then (with answers) the stepper.

        >>> generate(seed=1, ops=["mul"], nodes=1).html(graphs=False).startswith("<!DOCTYPE html>")
        True
        """
        from ag import stepper

        intro = [("Forward code", self.code), ("Topological order (non-reversed)", self.order)]
        if not answers:
            import html as _html

            body = "".join(f"<h2>{_html.escape(h)}</h2><pre>{_html.escape(t)}</pre>" for h, t in intro)
            title = f"Exam problem (seed {self.seed})"
            return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
                    f"</head><body><h1>{title}</h1>{body}</body></html>\n")
        intro.append(("Answer", self._answer_line()))
        return stepper.html(self.run, title=f"Exam problem (seed {self.seed})", intro=intro,
                            graphs=graphs)


def _indent(text: str) -> str:
    return "\n".join("    " + line if line else "" for line in text.splitlines())


def generate(
    seed: int | None = None,
    ops: list[str] | tuple[str, ...] = DEFAULT_OPS,
    nodes: int = 4,
    leaves: int | None = None,
) -> ExamProblem:
    """A random problem with ``nodes`` op nodes drawn from ``ops``; same seed, same problem.

    Every node feeds the output. Unknown ops, or too few nodes, raise ``ValueError``.

    >>> p = generate(seed=3, ops=["mul", "add"], nodes=3)
    >>> p.run.final_grads()[p.run.name(p.run.root)]
    1.0
    """
    ops = tuple(ops)
    unknown = [op for op in ops if op not in OPS]
    if unknown or not ops:
        raise ValueError(f"ag exam: unknown op(s) {unknown or ops!r}; choose from {', '.join(OPS)}")
    if not 1 <= nodes <= 60:
        raise ValueError(f"ag exam: --nodes must be between 1 and 60, got {nodes}")
    if seed is None:
        seed = random.SystemRandom().randrange(10**6)
    rng = random.Random(seed)
    binary = [op for op in ops if OPS[op][0] == 2]
    unary = [op for op in ops if OPS[op][0] == 1]
    max_leaves = 1 + (nodes if binary else 0)
    n_leaves = leaves if leaves is not None else rng.choice([1, 2, 2, 3])
    n_leaves = max(1, min(n_leaves, max_leaves, len(_LEAF_NAMES)))

    names = list(_LEAF_NAMES[:n_leaves])
    values = [rng.choice(_LEAF_VALUES) for _ in names]
    if "log" in ops and all(v <= 0 for v in values):
        values[0] = 2.0
    lines = [
        f'{n} = ag.Scalar({v!r}, label="z{i}:leaf({n})")' for i, (n, v) in enumerate(zip(names, values), 1)
    ]
    lines.append("")
    lines += [f"z{i} = {n}" for i, n in enumerate(names, 1)]
    vals = {f"z{i}": v for i, v in enumerate(values, 1)}
    dangling = [f"z{i}" for i in range(1, n_leaves + 1)]
    for k in range(n_leaves + 1, n_leaves + nodes + 1):
        remaining = n_leaves + nodes + 1 - k
        must_merge = binary and len(dangling) - 1 >= remaining
        choice = None
        for attempt in range(60):
            if must_merge or (not unary) or (binary and rng.random() < 0.55 and attempt < 40):
                op = rng.choice(binary) if binary else rng.choice(unary)
            else:
                op = rng.choice(unary)
            arity, template, fn = OPS[op]
            a = rng.choice(dangling)
            if arity == 2:
                others = [d for d in dangling if d != a]
                if must_merge or (others and rng.random() < 0.6):
                    b = rng.choice(others) if others else a
                else:
                    b = rng.choice(list(vals))
                if rng.random() < 0.5 and not must_merge:
                    a, b = b, a
                v = fn(vals[a], vals[b])
                args = {"a": a, "b": b}
            else:
                v = fn(vals[a])
                args = {"a": a}
            if v is not None and abs(v) <= _MAX_ABS:
                choice = (op, template, args, v)
                break
        if choice is None:  # always defined: the sum of two nodes (or the node itself twice)
            a = dangling[0]
            b = dangling[1] if len(dangling) > 1 else a
            choice = ("add", OPS["add"][1], {"a": a, "b": b}, vals[a] + vals[b])
        op, template, args, v = choice
        name = f"z{k}"
        lines.append(f"{name} = {template.format(**args)}")
        vals[name] = v
        for used in args.values():
            if used in dangling:
                dangling.remove(used)
        dangling.append(name)
    out = f"z{n_leaves + nodes}"
    lines.append(f"{out}.backward()")
    lines.append(f"print({', '.join(n + '.grad' for n in names)})")
    code = "\n".join(lines)

    namespace: dict[str, Any] = {"ag": ag, "print": lambda *a, **k: None}
    with Trace() as t:
        exec(compile(code, f"<ag exam seed {seed}>", "exec"), namespace)  # our own generated code
    return ExamProblem(seed, ops, code, names, t.last, namespace)
