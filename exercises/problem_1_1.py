"""Exam problem 1.1: the square of a square, x**4 at x = 2, as z3 = z2*z2 with z2 = z1*z1.

Run ``ag trace exercises/problem_1_1.py`` (or this file) for the iteration table.
Each mul adds to the same input twice (``x*x`` has inputs ``(x, x)``).
"""

import ag

x = ag.scalar(2.0, label="z1\nleaf(x)")
z1 = x
z2 = z1*z1  # z2.label = "z2:mul"
z3 = z2*z2

with ag.trace() as TRACE:
    z3.backward()
print(x.grad)

# The answer key: the order the exam gives, then what each iteration leaves in the
# grads it changes (iteration 0: z2.grad = 4*1 + 4*1; iteration 1: z1.grad = 2*8 + 2*8).
ANSWER = {
    "order": ["z1:leaf(x)", "z2:mul", "z3:mul"],
    "iterations": [{"z2": 8.0}, {"z1": 32.0}, {}],
    "grads": {"x": 32.0},
}

if __name__ == "__main__" and not TRACE.nested:
    print(TRACE.text())
