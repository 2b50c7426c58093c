"""Exam problem 1.2: log(exp(x*y)) at x = 2, y = 3; the grads are y and x.

Run ``ag trace exercises/problem_1_2.py`` (or this file) for the iteration table.
"""

import math

import ag

x = ag.Scalar(2.0, label="z1\nleaf(x)")
y = ag.Scalar(3.0, label="z2\nleaf(y)")

z1 = x
z2 = y
z3 = z1*z2
z4 = ag.exp(z3)
z5 = ag.log(z4)

with ag.trace() as TRACE:
    z5.backward()
print(x.grad, y.grad)

# iteration 0 (z5:log): z4.grad += z5.grad / z4.value = 1/e^6
# iteration 1 (z4:exp): z3.grad += z4.value * z4.grad = e^6 * e^-6 = 1
# iteration 2 (z3:mul): z1.grad += z2.value * z3.grad = 3*1, z2.grad += z1.value * z3.grad = 2*1
ANSWER = {
    "order": ["z1:leaf(x)", "z2:leaf(y)", "z3:mul", "z4:exp", "z5:log"],
    "iterations": [{"z4": math.exp(-6.0)}, {"z3": 1.0}, {"z1": 3.0, "z2": 2.0}, {}, {}],
    "grads": {"x": 3.0, "y": 2.0},
}

if __name__ == "__main__" and not TRACE.nested:
    print(TRACE.text())
