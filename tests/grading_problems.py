"""The fixed problem the grading tests work by hand (seed 1 of the default exam as it was drawn
before the generator changed), built from its code so that generator changes cannot move it.

  x = -3, y = 0, w = 3;  z4 = exp(z2) = 1, z5 = relu(z1) = 0, z6 = z2+z4 = 1,
  z7 = z5+z3 = 3, z8 = log(z6) = 0, z9 = z7*z8 = 0
  depth-first backward order: z9, z8, z6, z4, z2, z7, z3, z5, z1
"""

from __future__ import annotations

from typing import Any

SEED1_CODE = """\
import ag
x = ag.Scalar(-3.0, label="z1:leaf(x)")
y = ag.Scalar(0.0, label="z2:leaf(y)")
w = ag.Scalar(3.0, label="z3:leaf(w)")

z1 = x
z2 = y
z3 = w
z4 = ag.exp(z2)
z5 = ag.relu(z1)
z6 = z2+z4
z7 = z5+z3
z8 = ag.log(z6)
z9 = z7*z8
z9.backward()
print(x.grad, y.grad, w.grad)
"""


def seed1() -> Any:
    """The problem (as ``ProblemKey.from_problem``, ``answer_template`` and ``write_key`` read it)."""
    from ag.exam.check import problem_from_code

    return problem_from_code(SEED1_CODE, "<seed 1>", seed=1)
