"""Exam problem 1.3: one step of the course's recurrent cell, relu(wr*h0 + wi*x1)*wo.

Run it to print the topological order and what each backward iteration adds.
"""

import ag
from ag.autodiff import observe_backward

x1 = ag.Scalar(2.0, label="z1:leaf(x1)")
h0 = ag.Scalar(3.0, label="z2:leaf(h0)")
wr = ag.Scalar(4.0, label="z3:leaf(wr)")
wi = ag.Scalar(5.0, label="z4:leaf(wi)")
wo = ag.Scalar(6.0, label="z5:leaf(wo)")

z1 = x1
z2 = h0
z3 = wr
z4 = wi
z5 = z3 * z2  # wr*h0
z6 = z4 * z1  # wi*x1
z7 = z5 + z6
z8 = ag.relu(z7)  # relu(wr*h0 + wi*x1)
z9 = wo
z10 = z8 * z9
for name, node in [("z5", z5), ("z6", z6), ("z7", z7), ("z8", z8), ("z10", z10)]:
    node.label = f"{name}:{node.op}"

ANSWER = {"wr": 18.0, "wi": 12.0, "wo": 22.0, "h0": 24.0, "x1": 30.0}


class PrintIterations:
    def begin(self, root, order):
        print("topological order:", "[" + ", ".join(n.label for n in order) + "]")

    def before(self, step, node):
        self.grads = [i.grad for i in node.inputs]

    def after(self, step, node):
        adds = ", ".join(
            f"{i.label}.grad += {i.grad - g:g}" for i, g in zip(node.inputs, self.grads)
        )
        print(f"iteration {step} ({node.label}): {adds or 'leaf, nothing to do'}")

    def end(self, root):
        pass


if __name__ == "__main__":
    with observe_backward(PrintIterations()):
        z10.backward()
    print("wr.grad, wi.grad, wo.grad =", wr.grad, wi.grad, wo.grad)
