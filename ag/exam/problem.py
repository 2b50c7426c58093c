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
to which grad, and the leaves' grads. The numbers are drawn by
:mod:`ag.exam.generator` so that every value and grad is a short decimal, no op is
on a kink or off its domain; the problem is built by running its own generated
code, so the code and the key cannot disagree, and every grad of the key is compared
with central finite differences before the problem is returned.
"""

from __future__ import annotations

import math
import random
from typing import Any

import ag
from ag.exam.forms import exact_form, is_short
from ag.exam.generator import DIFFICULTIES, Controls, Shape, check_keys, draw
from ag.exam.ops import DEFAULT_OPS, OPS
from ag.trace import BackwardTrace, Trace, format_number

__all__ = ["ExamProblem", "generate", "problem_code", "problem_from_shape"]

_LEAF_NAMES = ("x", "y", "w", "b", "u", "v")


class ExamProblem:
    """A generated problem: ``code``, ``order`` (text), the trace ``run`` and ``answers``."""

    def __init__(self, seed: int, ops: tuple[str, ...], code: str, leaves: list[str],
                 run: BackwardTrace, namespace: dict, shape: Shape | None = None,
                 leaf_values: list[float] | None = None, difficulty: str = "exam") -> None:
        self.seed = seed
        self.ops = ops
        self.code = code
        self.leaves = leaves
        self.run = run
        self.namespace = namespace
        self.shape = shape
        self.leaf_values = leaf_values
        self.difficulty = difficulty
        #: the bound on values and grads the problem was drawn with (None: the difficulty's)
        self.max_abs: float | None = None
        self.order = run.order_text()
        #: leaf variable name -> its grad after backward
        self.answers = {name: namespace[name].grad for name in leaves}
        #: how many grads of the key were compared with finite differences
        self.keys_checked = 0

    def exact(self, x: float) -> str | None:
        """The exact form of a number of this key when it is not a short decimal, else ``None``.

        >>> import math
        >>> p = generate(seed=1, ops=["mul"], nodes=1)
        >>> p.exact(math.exp(-6)), p.exact(0.5)
        ('1/e^6', None)
        """
        level = DIFFICULTIES[self.difficulty]
        if is_short(float(x), level.decimals):
            return None
        return exact_form(float(x), level.decimals, max(level.max_abs, self.max_abs or 0.0), 8.0)

    @property
    def exact_forms(self) -> dict[tuple[str, str], str]:
        """Every number of the key that is not a short decimal, with its exact form.

        Keyed as the key's rows, ``(iteration, quantity)``: ``("forward", "z4.value")``,
        ``("3", "z4.grad")`` (:class:`ag.exam.key.KeyRow` carries it as ``exact``), and
        ``("answer", "x.grad")`` for the leaves' grads.

        >>> import math
        >>> p = generate(seed=1)
        >>> p.exact_forms[("answer", "x.grad")], math.exp(-6) == p.answers["x"]
        ('1/e^6', True)
        """
        from ag.exam.key import key_numbers

        # None: not reached yet (still 0 on the key)
        numbers = {q: x for q, x in key_numbers(self.run).items() if x is not None}
        for name, g in self.answers.items():
            numbers[("answer", f"{name}.grad")] = g
        return {q: form for q, x in numbers.items() if (form := self.exact(x)) is not None}

    def exact_legend(self) -> str:
        """One line: each number printed on the key that is not a short decimal = its exact form.

        Empty when every number is a short decimal.
        """
        seen: dict[str, str] = {}
        run = self.run
        numbers = list(run.values)
        for k in range(len(run.steps)):
            numbers += [g for g in run.grads_after(k).values() if g is not None]  # None: not reached
        for x in numbers:
            form = self.exact(x)
            if form is not None:
                seen.setdefault(format_number(x), form)
        if not seen:
            return ""
        return "Exact forms: " + ", ".join(f"{num} = {form}" for num, form in seen.items())

    def checked_note(self) -> str:
        """Which grads of the key were compared with finite differences, not only how many.

        >>> generate(seed=1, ops=["mul"], nodes=1).checked_note()  # doctest: +ELLIPSIS
        '(5 grads checked against central finite differences before printing: z1..z3 (every node, ...'
        """
        size = self.shape.size if self.shape is not None else len(self.run.order)
        leaves = ", ".join(f"{n}.grad" for n in self.leaves)
        return (f"({self.keys_checked} grads checked against central finite differences before printing: "
                f"z1..z{size} (every node, on the graph) and {leaves} (on the printed code))")

    def _answer_line(self) -> str:
        def one(n: str, g: float) -> str:
            form = self.exact(g)
            return f"{n}.grad = {format_number(g)}" + (f" (= {form})" if form else "")

        return ", ".join(one(n, g) for n, g in self.answers.items())

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
            if self.exact_legend():
                parts += [self.exact_legend(), ""]
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
            parts += ["", "### Answer key", "", self.run.markdown(), ""]
            if self.exact_legend():
                parts += [self.exact_legend(), ""]
            parts.append("**Answer:** " + markdown_code(self._answer_line()))
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
            parts += ["", "\\subsubsection*{Answer key}", self.run.latex(), ""]
            if self.exact_legend():
                parts += [latex_escape(self.exact_legend()), ""]
            parts.append("Answer: \\texttt{" + latex_escape(self._answer_line()) + "}")
        return "\n".join(parts)

    def _repr_markdown_(self) -> str:  # a notebook shows the problem with its answer key
        return self.markdown()

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
        if self.exact_legend():
            intro.append(("Exact forms", self.exact_legend().removeprefix("Exact forms: ")))
        return stepper.html(self.run, title=f"Exam problem (seed {self.seed})", intro=intro,
                            graphs=graphs)


def _indent(text: str) -> str:
    return "\n".join("    " + line if line else "" for line in text.splitlines())


def problem_code(shape: Shape, leaf_values: list[float]) -> tuple[str, list[str]]:
    """The forward code of a problem in the course's format, and its leaves' names.

    >>> print(problem_code(Shape(2, [("mul", (0, 1))]), [3.0, -1.0])[0])
    x = ag.Scalar(3.0, label="z1:leaf(x)")
    y = ag.Scalar(-1.0, label="z2:leaf(y)")
    <BLANKLINE>
    z1 = x
    z2 = y
    z3 = z1*z2
    z3.backward()
    print(x.grad, y.grad)
    """
    names = list(_LEAF_NAMES[: shape.n_leaves])
    lines = [f'{n} = ag.Scalar({float(v)!r}, label="z{i}:leaf({n})")'
             for i, (n, v) in enumerate(zip(names, leaf_values), 1)]
    lines.append("")
    lines += [f"z{i} = {n}" for i, n in enumerate(names, 1)]
    for k, (op, args) in enumerate(shape.ops, shape.n_leaves + 1):
        lines.append(f"z{k} = " + OPS[op].code(*(f"z{a + 1}" for a in args)))
    lines.append(f"z{shape.size}.backward()")
    lines.append(f"print({', '.join(n + '.grad' for n in names)})")
    return "\n".join(lines), names


def _run(code: str, seed: int) -> tuple[BackwardTrace, dict]:
    namespace: dict[str, Any] = {"ag": ag, "print": lambda *a, **k: None}
    with Trace() as t:
        exec(compile(code, f"<ag exam seed {seed}>", "exec"), namespace)  # our own generated code
    return t.last, namespace


def _leaf_finite_differences(code: str, names: list[str], values: list[float], out: str,
                             h: float = 1e-6) -> dict[str, float]:
    """d output / d leaf by rerunning the printed code itself with the leaf moved by +-h."""
    body = code.replace(f"{out}.backward()", "").replace("print(", "(")
    result = {}
    for name, v in zip(names, values):
        outs = []
        for delta in (h, -h):
            ns: dict[str, Any] = {"ag": ag}
            moved = body.replace(f"{name} = ag.Scalar({float(v)!r},", f"{name} = ag.Scalar({v + delta!r},", 1)
            exec(moved, ns)
            outs.append(ns[out].value)
        result[name] = (outs[0] - outs[1]) / (2 * h)
    return result


def generate(
    seed: int | None = None,
    ops: list[str] | tuple[str, ...] = DEFAULT_OPS,
    nodes: int | None = None,
    leaves: int | None = None,
    *,
    require: list[str] | tuple[str, ...] = (),
    reuse: int | None = None,
    depth: int | None = None,
    max_abs: float | None = None,
    difficulty: str = "exam",
) -> ExamProblem:
    """A random problem a student can solve by hand; same arguments and seed, same problem.

    ``ops``: the ops to draw from (as many distinct ones appear as ``nodes`` allows);
    ``require``: ops that must appear; ``nodes``: op nodes (default from the
    difficulty); ``leaves``: leaf inputs; ``reuse``: exactly this many nodes feed more
    than one op input; ``depth``: exactly this many ops on the longest leaf-to-output
    path; ``max_abs``: bound on every value and grad; ``difficulty``: ``easy``, ``exam``
    or ``hard`` (size, leaf values, decimals). Every node feeds the output. Every grad
    of the key is compared with central finite differences before the problem is
    returned. Bad controls raise ``ValueError``.

    >>> p = generate(seed=3, ops=["mul", "add"], nodes=3)
    >>> p.run.final_grads()[p.run.name(p.run.root)]
    1.0
    >>> generate(seed=5, nodes=5, reuse=1, depth=3, require=["relu"]).shape.depth()
    3
    """
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"ag exam: unknown difficulty {difficulty!r}; choose from {', '.join(DIFFICULTIES)}")
    ops = tuple(dict.fromkeys(list(ops) + [op for op in require if op not in ops]))
    unknown = [op for op in ops if op not in OPS]
    if unknown or not ops:
        raise ValueError(f"ag exam: unknown op(s) {unknown or ops!r}; choose from {', '.join(OPS)}")
    nodes = DIFFICULTIES[difficulty].nodes if nodes is None else nodes
    if not 1 <= nodes <= 60:
        raise ValueError(f"ag exam: --nodes must be between 1 and 60, got {nodes}")
    if len(set(require)) > nodes:
        raise ValueError(f"ag exam: --require names {len(set(require))} ops but --nodes is {nodes}")
    if leaves is not None and not 1 <= leaves <= len(_LEAF_NAMES):
        raise ValueError(f"ag exam: --leaves must be between 1 and {len(_LEAF_NAMES)}, got {leaves}")
    if depth is not None and not 1 <= depth <= nodes:
        raise ValueError(f"ag exam: --depth must be between 1 and --nodes ({nodes}), got {depth}")
    if reuse is not None and reuse < 0:
        raise ValueError(f"ag exam: --reuse must be 0 or more, got {reuse}")
    if max_abs is not None and not max_abs > 0:
        raise ValueError(f"ag exam: --max-value must be positive, got {max_abs}")
    if seed is None:
        seed = random.SystemRandom().randrange(10**6)
    controls = Controls(ops=ops, require=tuple(require), nodes=nodes, leaves=leaves, reuse=reuse,
                        depth=depth, max_abs=max_abs, difficulty=difficulty)
    shape, leaf_values = draw(controls, seed)
    return problem_from_shape(shape, leaf_values, seed=seed, ops=ops, difficulty=difficulty,
                              max_abs=max_abs)


def problem_from_shape(shape: Shape, leaf_values: list[float], *, seed: int = 0,
                       ops: tuple[str, ...] | None = None, difficulty: str = "exam",
                       max_abs: float | None = None) -> ExamProblem:
    """The problem of a given graph and leaf values (a past exam's, or a drawn one), its key
    checked: every node's grad against central differences of the graph, every leaf's
    grad against central differences of the printed code. A wrong key raises
    ``AssertionError`` (it is never returned).

    The finals' problem 1.2, ``log(exp(x*y))`` at x=2, y=3:

    >>> p = problem_from_shape(Shape(2, [("mul", (0, 1)), ("exp", (2,)), ("log", (3,))]), [2.0, 3.0])
    >>> p.exact_forms[("forward", "z4.value")], p.exact_forms[("1", "z4.grad")], p.answers
    ('e^6', '1/e^6', {'x': 3.0, 'y': 2.0})
    """
    code, names = problem_code(shape, leaf_values)
    run, namespace = _run(code, seed)
    used = tuple(ops) if ops is not None else tuple(dict.fromkeys(op for op, _ in shape.ops))
    problem = ExamProblem(seed, used, code, names, run, namespace, shape, leaf_values, difficulty)
    problem.max_abs = max_abs
    by_name = run.final_grads()
    key = [by_name[f"z{k + 1}"] for k in range(shape.size)]
    checked = check_keys(shape, leaf_values, key)
    fd = _leaf_finite_differences(code, names, leaf_values, f"z{shape.size}")
    for name in names:
        if not math.isclose(problem.answers[name], fd[name], rel_tol=1e-5, abs_tol=1e-5):
            raise AssertionError(f"ag exam: the key says {name}.grad = {problem.answers[name]}, "
                                 f"finite differences of the printed code give {fd[name]:.8g}: "
                                 "refusing to print a wrong key")
    problem.keys_checked = checked + len(names)
    return problem
