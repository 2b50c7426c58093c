"""Exam problem 1.3: one step of the course's recurrent cell, relu(wr*h0 + wi*x1)*wo.

Run ``ag trace exercises/problem_1_3.py --html out/problem_1_3.html`` (``make demo``)
for the iteration table and the HTML stepper, or run this file for the table.

The slides label ``wo`` "z5:leaf(wo)", which clashes with ``z5 = z3*z2``; the forward
code names it ``z9 = wo``, so it is labelled z9 here. The unlabelled ops get their
exam names z5..z8 and z10 from their creation order (ag.trace.exam_names).
"""

import ag

x1 = ag.Scalar(2.0, label="z1:leaf(x1)")
h0 = ag.Scalar(3.0, label="z2:leaf(h0)")
wr = ag.Scalar(4.0, label="z3:leaf(wr)")
wi = ag.Scalar(5.0, label="z4:leaf(wi)")
wo = ag.Scalar(6.0, label="z9:leaf(wo)")

z1 = x1
z2 = h0
z3 = wr
z4 = wi
z5 = z3*z2  # wr*h0
z6 = z4*z1  # wi*x1
z7 = z5+z6
z8 = ag.relu(z7)  # relu(wr*h0 + wi*x1)
z9 = wo
z10 = z8*z9

with ag.trace() as TRACE:
    z10.backward()
print(wr.grad, wi.grad, wo.grad)

# z7 = 4*3 + 5*2 = 22 > 0, so relu passes the gradient through.
# iteration 0 (z10:mul): z8.grad += z9.value*z10.grad = 6*1, z9.grad += z8.value*z10.grad = 22*1
# iteration 2 (z8:relu): z7.grad += (22 > 0)*6;  iteration 3 (z7:add): z5.grad, z6.grad += 6
# iteration 4 (z6:mul): z4.grad += z1.value*6 = 12, z1.grad += z4.value*6 = 30
# iteration 7 (z5:mul): z3.grad += z2.value*6 = 18, z2.grad += z3.value*6 = 24
ANSWER = {
    "order": [
        "z3:leaf(wr)", "z2:leaf(h0)", "z5:mul", "z4:leaf(wi)", "z1:leaf(x1)",
        "z6:mul", "z7:add", "z8:relu", "z9:leaf(wo)", "z10:mul",
    ],
    "iterations": [
        {"z8": 6.0, "z9": 22.0}, {}, {"z7": 6.0}, {"z5": 6.0, "z6": 6.0},
        {"z4": 12.0, "z1": 30.0}, {}, {}, {"z3": 18.0, "z2": 24.0}, {}, {},
    ],
    "grads": {"wr": 18.0, "wi": 12.0, "wo": 22.0, "h0": 24.0, "x1": 30.0},
}

if __name__ == "__main__" and not TRACE.nested:
    print(TRACE.text())
