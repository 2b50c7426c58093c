"""Softmax regression's gradient, by autograd and by the lecture's formula X^T (Z - I_y) / m.

The hypothesis is h(x) = Theta^T x (n features, k classes); the loss is the mean over
the m examples of the cross-entropy log(sum_j exp(h_j)) - h_y. The lecture derives its
gradient with respect to Theta as X^T (Z - I_y) / m, where Z = softmax(X Theta) row by
row and I_y holds one-hot rows of the labels. With Theta = 0 every row of Z is 1/k,
so the gradient can be worked out by hand:

    X = [[1, 2], [3, -1]], y = [0, 2], k = 3:  Z - I_y = [[-2/3, 1/3, 1/3], [1/3, 1/3, -2/3]]
    X^T (Z - I_y) / 2 = [[1/6, 2/3, -5/6], [-5/6, 1/6, 2/3]],  loss = log 3

Run ``ag trace exercises/softmax_regression.py`` to see the backward pass on Tensors, and
``python exercises/softmax_regression.py --latex`` (or ``--markdown``; ``--trace`` adds the
backward pass) for the answer key to hand out.
"""

import numpy as np

import ag
from ag.answer_key import AnswerKey, Entry, print_key

X_data = np.array([[1.0, 2.0], [3.0, -1.0]])  # m = 2 examples, n = 2 features
y_data = np.array([0, 2])  # labels, k = 3 classes
m, n = X_data.shape
k = 3

X = ag.Tensor(X_data, label="X", requires_grad=False)
Iy = ag.Tensor(np.eye(k)[y_data], label="I_y", requires_grad=False)
Theta = ag.Tensor(np.zeros((n, k)), label="Theta")

H = X @ Theta  # logits, (m, k)
loss = ag.mean(ag.logsumexp(H, axis=1) - ag.sum(H * Iy, axis=1))

with ag.trace() as TRACE:
    loss.backward()


def formula_gradient(X_data: np.ndarray, y_data: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """The lecture's closed form X^T (Z - I_y) / m, in plain NumPy."""
    logits = X_data @ theta
    Z = np.exp(logits - logits.max(axis=1, keepdims=True))
    Z /= Z.sum(axis=1, keepdims=True)
    return X_data.T @ (Z - np.eye(theta.shape[1])[y_data]) / X_data.shape[0]


print("loss =", loss.item())
print("Theta.grad =\n", Theta.grad)
print("X^T (Z - I_y) / m =\n", formula_gradient(X_data, y_data, Theta.value))

ANSWER = {
    "loss": float(np.log(3.0)),
    "grads": {"Theta": [[1 / 6, 2 / 3, -5 / 6], [-5 / 6, 1 / 6, 2 / 3]]},
}

Z = np.exp(H.value - H.value.max(axis=1, keepdims=True))
Z /= Z.sum(axis=1, keepdims=True)  # softmax row by row (not a node: the loss uses logsumexp)
KEY = AnswerKey(
    "Softmax regression",
    "X = [[1, 2], [3, -1]] (m = 2, n = 2), y = [0, 2] (k = 3), Theta = 0 (2x3)\n"
    "loss = mean_i( log sum_j exp((X Theta)_ij) - (X Theta)_{i,y_i} )",
    [
        Entry("H", "X Theta", H.value, latex_formula=r"X \Theta"),
        Entry("Z", "softmax(H) row by row", Z, latex_formula=r"\operatorname{softmax}(H)"),
        Entry("Z - I_y", "", Z - Iy.value, latex_name=r"Z - I_y"),
        Entry("loss", "mean(logsumexp(H) - sum(H * I_y)) = log 3", loss.value,
              latex_name=r"\ell", latex_formula=r"\log 3"),
        Entry("Theta.grad", "X^T (Z - I_y) / m", Theta.grad,
              latex_name=r"\nabla_\Theta \ell", latex_formula=r"\tfrac{1}{m} X^\top (Z - I_y)"),
    ],
    TRACE.last,
)

if __name__ == "__main__" and not TRACE.nested:
    print_key(KEY)
