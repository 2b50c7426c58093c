"""Exam problems in the course's format, with answer keys checked before they are printed.

>>> from ag.exam import generate
>>> p = generate(seed=7, ops=["mul", "add", "exp"], nodes=3)
>>> p.code == generate(seed=7, ops=["mul", "add", "exp"], nodes=3).code   # same seed, same problem
True
>>> print(p.text(answers=False).splitlines()[0])
Exam problem (seed 7)

Modules: :mod:`ag.exam.ops` (the op table), :mod:`ag.exam.generator` (shapes,
numbers, hand-solvability and the finite-difference check), :mod:`ag.exam.problem`
(the problem and its text, Markdown, LaTeX and HTML forms).
"""

from ag.exam.generator import DIFFICULTIES, GenerationError
from ag.exam.ops import DEFAULT_OPS, KINKED_OPS, OPS
from ag.exam.problem import ExamProblem, generate

__all__ = ["OPS", "DEFAULT_OPS", "KINKED_OPS", "DIFFICULTIES", "ExamProblem", "GenerationError", "generate"]
