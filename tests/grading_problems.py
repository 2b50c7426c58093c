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

# The whole answer sheet of that problem, every row right, worked by hand:
#   x = -3, y = 0, w = 3;  z4 = exp(z2) = 1, z5 = relu(z1) = 0, z6 = z2+z4 = 1,
#   z7 = z5+z3 = 3, z8 = log(z6) = 0, z9 = z7*z8 = 0
# backward, in the given order [z1, z5, z3, z7, z2, z4, z6, z8, z9] reversed:
#   it0 z9: z7.grad = 0 + z8.value*1 = 0, z8.grad = 0 + z7.value*1 = 3
#   it1 z8: z6.grad = 3 / 1 = 3
#   it2 z6: z2.grad = 3, z4.grad = 3
#   it3 z4: z2.grad = 3 + z4.value*z4.grad = 3 + 1*3 = 6
#   it5 z7: z5.grad = 0, z3.grad = 0
#   it7 z5: z1.grad = 0 (relu's input -3 < 0)
ALL_RIGHT = """\
# seed: 1
iteration,node,quantity,answer
forward,z4:exp,z4.value,1
forward,z5:relu,z5.value,0
forward,z6:add,z6.value,1
forward,z7:add,z7.value,3
forward,z8:log,z8.value,0
forward,z9:mul,z9.value,0
0,z9:mul,z7.grad,0
0,z9:mul,z8.grad,3
1,z8:log,z6.grad,3
2,z6:add,z2.grad,3
2,z6:add,z4.grad,3
3,z4:exp,z2.grad,6
4,z2:leaf(y),nothing,
5,z7:add,z5.grad,0
5,z7:add,z3.grad,0
6,z3:leaf(w),nothing,
7,z5:relu,z1.grad,0
8,z1:leaf(x),nothing,
"""


def seed1() -> Any:
    """The problem (as ``ProblemKey.from_problem``, ``answer_template`` and ``write_key`` read it)."""
    from ag.exam.check import problem_from_code

    return problem_from_code(SEED1_CODE, "<seed 1>", seed=1)
