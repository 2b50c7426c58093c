"""The answer key of an exam: one typed record that sheets, ``ag grade`` and ``ag check`` share.

A key file (``key.json``, written by ``ag exam --seeds ... --out DIR``) holds one
:class:`ProblemKey` per seed in an :class:`ExamKey`. A problem's key lists the
rows of the student's answer template (:class:`KeyRow`: iteration, node,
quantity) with the true answer of each and, where a decimal does not fit, the
exact form printed on the key (``e^6``, ``1/e^6``, ``ln 2``; read by
:func:`ag.exam.exact.read_number`). A backprop problem (``kind="backprop"``) also
carries its graph (``n_leaves``, ``ops``, ``leaf_values``) and the key's backward
order (``iteration_nodes``), so the grader can carry a student's slips forward;
other kinds are graded row by row against ``answer``.

Keys written before this module (``ag-exam-key/1``) are read too.

>>> from ag.exam import generate
>>> key = ExamKey.from_problems([generate(seed=4)])
>>> again = ExamKey.from_json(key.to_json())
>>> again == key and again.version == KEY_VERSION
True
>>> p = key[4]
>>> p.answer("forward", p.rows[0].quantity) == p.rows[0].answer
True
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["KEY_FORMAT", "KEY_VERSION", "KeyFormatError", "KeyRow", "ProblemKey", "ExamKey"]

KEY_FORMAT = "ag-exam-key"
#: version 2: typed rows with exact forms, ``kind``, ``order_shown``, tolerances
KEY_VERSION = 2


class KeyFormatError(ValueError):
    """A key file that is not one ``ag exam`` wrote, or one whose numbers disagree with its problem."""


def key_numbers(run: Any) -> dict[tuple[str, str], float | None]:
    """Every number a backprop key asks for, keyed as the key's rows ``(iteration, quantity)``.

    ``("forward", "z4.value")`` for each op node, ``("3", "z4.grad")`` for each node's grad
    after iteration 3 (``None`` where the loop has not reached it yet).

    >>> import ag
    >>> x = ag.Scalar(3.0, label="z1:leaf(x)"); y = x * x
    >>> numbers = key_numbers(ag.backward_trace(y))
    >>> numbers[("forward", "z2.value")], numbers[("0", "z2.grad")], numbers[("0", "z1.grad")]
    (9.0, 1.0, 6.0)
    """
    names = {id(n): run.name(n) for n in run.order}
    numbers: dict[tuple[str, str], float | None] = {}
    for n, value in zip(run.order, run.values):
        if n.inputs:
            numbers[("forward", f"{names[id(n)]}.value")] = value
    for k in range(len(run.steps)):
        for name, g in run.grads_after(k).items():
            numbers[(str(k), f"{name}.grad")] = g
    return numbers


@dataclass(frozen=True)
class KeyRow:
    """One row of the answer template and its true answer.

    ``iteration``: ``"forward"`` or the backward iteration (``"0"``, ``"1"``, ...; other
    kinds may use their own labels); ``node``: what the template prints in the node
    column (``"z4:mul"``); ``quantity``: ``"z4.value"``, ``"z3.grad"`` or ``"nothing"``
    (a leaf's iteration); ``answer``: the number (``None`` for ``nothing``); ``exact``:
    the exact form printed on the key, or ``""`` when the decimal is exact.
    """

    iteration: str
    node: str
    quantity: str
    answer: float | None
    exact: str = ""

    @property
    def shown(self) -> str:
        """The answer as the key prints it: the exact form, else the short decimal."""
        from ag.trace import format_number

        if self.answer is None:
            return ""
        return self.exact or format_number(self.answer)


@dataclass
class ProblemKey:
    """What grading one problem needs, offline (see the module docstring)."""

    seed: int
    rows: list[KeyRow]
    kind: str = "backprop"
    code: str = ""
    order: str = ""
    difficulty: str = "exam"
    #: the node each backward iteration works on, in the key's (depth-first) order: ``["z9", ...]``
    iteration_nodes: list[str] = field(default_factory=list)
    n_leaves: int = 0
    #: op node ``n_leaves + k`` is ``ops[k] = (exam op name, argument node indices)``
    ops: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    leaf_values: list[float] = field(default_factory=list)
    #: ``{"z1": "x", ...}``: the leaves' variable names
    leaves: dict[str, str] = field(default_factory=dict)
    keys_checked: int = 0
    #: False when the sheet hid the topological order: the node column is graded too
    order_shown: bool = True
    rel_tol: float = 1e-3
    abs_tol: float = 5e-3

    def __post_init__(self) -> None:
        self.rows = [r if isinstance(r, KeyRow) else KeyRow(*r) for r in self.rows]
        self.ops = [(str(op), tuple(int(a) for a in args)) for op, args in self.ops]
        self.leaf_values = [float(v) for v in self.leaf_values]

    # -- reading ----------------------------------------------------------------------------

    @property
    def is_backprop(self) -> bool:
        """A scalar backprop problem: graded with slips carried forward through its graph."""
        return self.kind == "backprop" and bool(self.ops)

    def row(self, iteration: str, quantity: str) -> KeyRow | None:
        """The key's row for ``(iteration, quantity)``, or None when the template has no such row."""
        return self._index().get((iteration, quantity))

    def answer(self, iteration: str, quantity: str) -> float | None:
        """The true answer of a row (KeyError when the key has no such row)."""
        row = self.row(iteration, quantity)
        if row is None:
            raise KeyError(f"seed {self.seed}: the key has no row ({iteration}, {quantity})")
        return row.answer

    def _index(self) -> dict[tuple[str, str], KeyRow]:
        return {(r.iteration, r.quantity): r for r in self.rows}

    def shape(self) -> Any:
        """The graph as :class:`ag.exam.generator.Shape`."""
        from ag.exam.generator import Shape

        return Shape(self.n_leaves, list(self.ops))

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def from_problem(cls, p: Any, *, order_shown: bool = True) -> ProblemKey:
        """The key of a generated :class:`ag.exam.ExamProblem`.

        Exact forms come from ``p.exact_forms`` when the problem has it:
        ``{(iteration, quantity): "e^6"}``.
        """
        from ag.exam.handout import template_rows

        run = p.run
        names = {id(n): run.name(n) for n in run.order}
        # a grad not reached yet is still 0 on the key
        truth = {q: 0.0 if x is None else float(x) for q, x in key_numbers(run).items()}
        exact = dict(getattr(p, "exact_forms", None) or {})
        rows = [KeyRow(k, node, q, truth.get((k, q)) if q != "nothing" else None, exact.get((k, q), ""))
                for k, node, q in template_rows(p)]
        shape = p.shape
        return cls(
            seed=int(p.seed), rows=rows, code=p.code, order=p.order, difficulty=p.difficulty,
            iteration_nodes=[names[id(s.node)] for s in run.steps],
            n_leaves=shape.n_leaves if shape is not None else 0,
            ops=[(op, tuple(args)) for op, args in shape.ops] if shape is not None else [],
            leaf_values=list(p.leaf_values or []),
            leaves={f"z{i + 1}": n for i, n in enumerate(p.leaves)},
            keys_checked=int(p.keys_checked), order_shown=order_shown)

    # -- checking ---------------------------------------------------------------------------

    def verify(self) -> None:
        """Refuse a key whose numbers disagree with its own problem (edited, corrupt or perturbed).

        Every answer must be finite, every exact form must read as its answer, and for
        a backprop key every value and grad must be what the graph and leaf values give.
        Raises :class:`KeyFormatError` naming the seed and the row.
        """
        from ag.exam.exact import NumberFormatError, read_number

        where = f"key of seed {self.seed}"
        for r in self.rows:
            if r.answer is None:
                continue
            if not math.isfinite(r.answer):
                raise KeyFormatError(f"{where}: {r.quantity} in {r.iteration} is {r.answer}, not finite")
            if r.exact:
                try:
                    exact = read_number(r.exact)
                except NumberFormatError as err:
                    raise KeyFormatError(f"{where}: the exact form of {r.quantity} does not read: "
                                         f"{err}") from None
                if not math.isclose(exact, r.answer, rel_tol=1e-9, abs_tol=1e-12):
                    raise KeyFormatError(f"{where}: {r.quantity} in {r.iteration} is {r.answer!r} but "
                                         f"its exact form {r.exact!r} is {exact!r}")
        if not self.is_backprop:
            return
        from ag.exam.generator import backprop, evaluate

        try:
            values = evaluate(self.shape(), self.leaf_values)
        except (ArithmeticError, ValueError, IndexError, KeyError) as err:
            raise KeyFormatError(f"{where}: its graph cannot be evaluated ({err})") from None
        final = backprop(self.shape(), values)[0]
        for r in self.rows:
            if r.iteration == "forward" and r.answer is not None:
                z = int(r.quantity[1:].split(".")[0]) - 1
                if not math.isclose(r.answer, values[z], rel_tol=1e-9, abs_tol=1e-12):
                    raise KeyFormatError(f"{where}: {r.quantity} is {r.answer!r} in the key, but its graph "
                                         f"gives {values[z]!r}; the key was edited or is corrupt")
        last: dict[str, float] = {}
        for r in self.rows:  # the grad after the last iteration that changes it is the final grad
            if r.iteration != "forward" and r.answer is not None:
                last[r.quantity] = r.answer
        for q, g in last.items():
            z = int(q[1:].split(".")[0]) - 1
            if not math.isclose(g, final[z], rel_tol=1e-9, abs_tol=1e-12):
                raise KeyFormatError(f"{where}: {q} ends at {g!r} in the key, but backprop through its graph "
                                     f"gives {final[z]!r}; the key was edited or is corrupt")

    # -- JSON -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (rows as ``[iteration, node, quantity, answer, exact]``)."""
        data = asdict(self)
        data["rows"] = [[r.iteration, r.node, r.quantity, r.answer, r.exact] for r in self.rows]
        data["ops"] = [[op, list(args)] for op, args in self.ops]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "key") -> ProblemKey:
        """The inverse of :meth:`to_dict`; also reads a version-1 problem (``rows`` + ``answers``)."""
        try:
            if "answers" in data:  # ag-exam-key/1: rows [k, node, q], answers {"k|q": number}
                answers = data["answers"]
                rows = [KeyRow(str(k), str(node), str(q),
                               None if q == "nothing" else float(answers[f"{k}|{q}"]))
                        for k, node, q in data["rows"]]
                extra = {k: v for k, v in data.items() if k not in ("answers", "rows")}
                return cls(rows=rows, **extra)
            rows = [KeyRow(str(k), str(node), str(q), None if a is None else float(a), str(exact or ""))
                    for k, node, q, a, exact in data["rows"]]
            known = set(cls.__dataclass_fields__)
            unknown = sorted(set(data) - known)
            if unknown:
                raise KeyFormatError(f"{where}: unknown field(s) {', '.join(unknown)} (a newer ag wrote it?)")
            return cls(**{**data, "rows": rows})
        except KeyFormatError:
            raise
        except (KeyError, TypeError, ValueError) as err:
            raise KeyFormatError(f"{where}: not a problem key ag exam wrote "
                                 f"({type(err).__name__}: {err})") from None


@dataclass
class ExamKey:
    """Every problem of an exam, by seed: the contents of ``key.json``."""

    problems: dict[int, ProblemKey]
    version: int = KEY_VERSION

    def __getitem__(self, seed: int) -> ProblemKey:
        return self.problems[int(seed)]

    def __contains__(self, seed: object) -> bool:
        return isinstance(seed, int) and seed in self.problems

    @classmethod
    def from_problems(cls, problems: list[Any], *, order_shown: bool = True) -> ExamKey:
        """The key of generated problems (``order_shown=False`` for ``--hide-order`` sheets)."""
        return cls({int(p.seed): ProblemKey.from_problem(p, order_shown=order_shown) for p in problems})

    def to_json(self) -> str:
        data = {"format": f"{KEY_FORMAT}/{self.version}", "version": self.version,
                "problems": {str(s): p.to_dict() for s, p in self.problems.items()}}
        return json.dumps(data, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str, name: str = "key.json", *, verify: bool = True) -> ExamKey:
        """Read a key (version 1 or 2); with ``verify``, refuse one whose numbers disagree."""
        try:
            data = json.loads(text)
        except ValueError as err:
            raise KeyFormatError(f"{name} is not JSON: {err}") from None
        fmt = data.get("format") if isinstance(data, dict) else None
        if fmt not in (f"{KEY_FORMAT}/1", f"{KEY_FORMAT}/2") or not isinstance(data.get("problems"), dict):
            raise KeyFormatError(f"{name} is not a key written by ag exam (format {KEY_FORMAT}/1 or /2)")
        problems = {}
        for seed, entry in data["problems"].items():
            if not isinstance(entry, dict):
                raise KeyFormatError(f"{name}: the entry of seed {seed} is not a problem key")
            p = ProblemKey.from_dict(entry, f"{name} seed {seed}")
            if verify:
                try:
                    p.verify()
                except KeyFormatError as err:
                    raise KeyFormatError(f"{name}: {err}") from None
            problems[int(p.seed)] = p
        return cls(problems, int(fmt.rsplit("/", 1)[1]))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path, *, verify: bool = True) -> ExamKey:
        """Read ``key.json`` (its name goes into error messages)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise KeyFormatError(f"cannot read the key {path}: {err}") from None
        return cls.from_json(text, str(path), verify=verify)
