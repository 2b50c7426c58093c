"""Exam problem 1.1a: x**4 at x = 2 built as z4 = z1*(z1*(z1*z1)), the left operand always x.

Run ``ag trace exercises/problem_1_1a.py`` (or this file) for the iteration table.
"""

import ag

x = ag.Scalar(2.0, label="z1:leaf(x)")
z1 = x
z2 = z1*z1
z3 = z1*z2
z4 = z1*z3

with ag.trace() as TRACE:
    z4.backward()
print(x.grad)

# iteration 0 (z4): z1.grad += z3.value*z4.grad = 8*1, z3.grad += z1.value*z4.grad = 2*1
# iteration 1 (z3): z1.grad += z2.value*z3.grad = 4*2 -> 16, z2.grad += 2*2 = 4
# iteration 2 (z2): z1.grad += z1.value*z2.grad twice = 2*4 + 2*4 -> 32
ANSWER = {
    "order": ["z1:leaf(x)", "z2:mul", "z3:mul", "z4:mul"],
    "iterations": [{"z1": 8.0, "z3": 2.0}, {"z1": 16.0, "z2": 4.0}, {"z1": 32.0}, {}],
    "grads": {"x": 32.0},
}

if __name__ == "__main__" and not TRACE.nested:
    print(TRACE.text())
