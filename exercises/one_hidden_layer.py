"""A one-hidden-layer network, yhat = relu(X W1 + b1) w2 + b2, with squared loss.

Worked by hand (one example, so the mean is the value itself):

    X = [[1, 2]], W1 = [[1, 2], [-1, 1]], b1 = [0.5, -1]
    pre = X W1 + b1 = [[-1 + 0.5, 4 - 1]] = [[-0.5, 3]],  h = relu(pre) = [[0, 3]]
    w2 = [[3], [0.5]], b2 = [0.5]:  yhat = 0*3 + 3*0.5 + 0.5 = 2;  y = 1
    loss = (yhat - y)**2 / 2 = 0.5,  dloss/dyhat = yhat - y = 1

    b2.grad = 1,  w2.grad = h^T * 1 = [[0], [3]]
    dh = 1 * w2^T = [[3, 0.5]];  relu passes where pre > 0: dpre = [[0, 0.5]]
    b1.grad = [0, 0.5],  W1.grad = X^T dpre = [[0, 0.5], [0, 1]]

Run ``ag trace exercises/one_hidden_layer.py`` to see the backward pass, and
``python exercises/one_hidden_layer.py --latex`` (or ``--markdown``) for the answer key.
"""

import numpy as np

import ag
from ag.answer_key import AnswerKey, Entry, print_key

X = ag.Tensor(np.array([[1.0, 2.0]]), label="X", requires_grad=False)
y = ag.Tensor(np.array([[1.0]]), label="y", requires_grad=False)
W1 = ag.Tensor(np.array([[1.0, 2.0], [-1.0, 1.0]]), label="W1")
b1 = ag.Tensor(np.array([0.5, -1.0]), label="b1")
w2 = ag.Tensor(np.array([[3.0], [0.5]]), label="w2")
b2 = ag.Tensor(np.array([0.5]), label="b2")

pre = X @ W1 + b1
hidden = ag.relu(pre)
yhat = hidden @ w2 + b2
loss = ag.mean((yhat - y) ** 2) * 0.5

with ag.trace() as TRACE:
    loss.backward()
print("loss =", loss.item())
print("W1.grad =", W1.grad.tolist(), "b1.grad =", b1.grad.tolist())
print("w2.grad =", w2.grad.tolist(), "b2.grad =", b2.grad.tolist())

ANSWER = {
    "loss": 0.5,
    "grads": {
        "W1": [[0.0, 0.5], [0.0, 1.0]],
        "b1": [0.0, 0.5],
        "w2": [[0.0], [3.0]],
        "b2": [1.0],
    },
}

KEY = AnswerKey(
    "One hidden layer",
    "X = [[1, 2]], W1 = [[1, 2], [-1, 1]], b1 = [0.5, -1], w2 = [[3], [0.5]], b2 = [0.5], y = 1\n"
    "yhat = relu(X W1 + b1) w2 + b2,  loss = mean((yhat - y)**2) / 2",
    [
        Entry("pre", "X W1 + b1", pre.value, latex_formula=r"X W_1 + b_1"),
        Entry("h", "relu(pre)", hidden.value, latex_formula=r"\max(0, \mathrm{pre})"),
        Entry("yhat", "h w2 + b2", yhat.value, latex_name=r"\hat y", latex_formula=r"h w_2 + b_2"),
        Entry("loss", "(yhat - y)**2 / 2", loss.value, latex_name=r"\ell"),
        Entry("yhat.grad", "yhat - y", yhat.grad, latex_name=r"\partial\ell/\partial\hat y"),
        Entry("b2.grad", "yhat.grad summed over the rows", b2.grad, latex_name=r"\nabla_{b_2}\ell"),
        Entry("w2.grad", "h^T yhat.grad", w2.grad, latex_name=r"\nabla_{w_2}\ell",
              latex_formula=r"h^\top \, \partial\ell/\partial\hat y"),
        Entry("h.grad", "yhat.grad w2^T", hidden.grad, latex_name=r"\nabla_h\ell"),
        Entry("pre.grad", "h.grad * (pre > 0)", pre.grad, latex_name=r"\nabla_{\mathrm{pre}}\ell"),
        Entry("b1.grad", "pre.grad summed over the rows", b1.grad, latex_name=r"\nabla_{b_1}\ell"),
        Entry("W1.grad", "X^T pre.grad", W1.grad, latex_name=r"\nabla_{W_1}\ell",
              latex_formula=r"X^\top \nabla_{\mathrm{pre}}\ell"),
    ],
    TRACE.last,
)

if __name__ == "__main__" and not TRACE.nested:
    print_key(KEY)
