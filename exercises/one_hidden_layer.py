"""A one-hidden-layer network, yhat = relu(X W1 + b1) w2 + b2, with squared loss.

Worked by hand (one example, so the mean is the value itself):

    X = [[1, 2]], W1 = [[1, 2], [-1, 1]], b1 = [0.5, -1]
    pre = X W1 + b1 = [[-1 + 0.5, 4 - 1]] = [[-0.5, 3]],  h = relu(pre) = [[0, 3]]
    w2 = [[3], [0.5]], b2 = [0.5]:  yhat = 0*3 + 3*0.5 + 0.5 = 2;  y = 1
    loss = (yhat - y)**2 / 2 = 0.5,  dloss/dyhat = yhat - y = 1

    b2.grad = 1,  w2.grad = h^T * 1 = [[0], [3]]
    dh = 1 * w2^T = [[3, 0.5]];  relu passes where pre > 0: dpre = [[0, 0.5]]
    b1.grad = [0, 0.5],  W1.grad = X^T dpre = [[0, 0.5], [0, 1]]

Run ``ag trace exercises/one_hidden_layer.py`` to see the backward pass.
"""

import numpy as np

import ag

X = ag.Tensor(np.array([[1.0, 2.0]]), label="X", requires_grad=False)
y = ag.Tensor(np.array([[1.0]]), label="y", requires_grad=False)
W1 = ag.Tensor(np.array([[1.0, 2.0], [-1.0, 1.0]]), label="W1")
b1 = ag.Tensor(np.array([0.5, -1.0]), label="b1")
w2 = ag.Tensor(np.array([[3.0], [0.5]]), label="w2")
b2 = ag.Tensor(np.array([0.5]), label="b2")

hidden = ag.relu(X @ W1 + b1)
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

if __name__ == "__main__" and not TRACE.nested:
    print(TRACE.text())
