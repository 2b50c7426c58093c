"""The course's single-head self-attention block, its gradient worked by hand.

The block, as the course writes it (Xin is (n_samples, n_context, n_features)):

    Queries = Xin @ Wq;  Keys = Xin @ Wk
    KQ = Keys @ moveaxis(Queries, 1, 2);  expKQ = exp(KQ)
    softmaxKQ = expKQ / sum(expKQ, axis=1, keepdims=True)
    P = moveaxis(Xin, 1, 2) @ softmaxKQ;  Xout = moveaxis(P, 1, 2) @ Wv

The loss is sum(Xout). With Xin = I (one sample, 2x2), Wq = 0, Wk = diag(1, 2) and
Wv = [[1, 2], [3, 4]] the gradient is worked out by hand:

* Queries = 0, so KQ = 0 and softmaxKQ = 1/2 everywhere; P = Xin^T softmaxKQ = 1/2 everywhere.
* Wv.grad = P @ dXout = (1/2 ones) @ ones = [[1, 1], [1, 1]].
* dP[f, j] = row sums of Wv = r = [3, 7]; dsoftmaxKQ[i, j] = (Xin r)_i = g = [3, 7].
* softmax over i at the uniform point: dKQ[i, j] = 1/2 (g_i - mean g) = [[-1, -1], [1, 1]].
* dQueries[j] = sum_i dKQ[i, j] Keys[i] = -[1, 0] + [0, 2] = [-1, 2]; Wq.grad = Xin^T dQueries
  = [[-1, 2], [-1, 2]].
* dKeys = dKQ @ Queries = 0, so Wk.grad = 0.

Run ``ag trace exercises/attention_block.py`` to see the backward pass on Tensors, and
``python exercises/attention_block.py --latex`` (or ``--markdown``) for the answer key.
"""

import numpy as np

import ag
from ag.answer_key import AnswerKey, Entry, print_key


class SingleHeadAttention:
    """The course's attention block on ag Tensors (weights given, not random)."""

    def __init__(self, Wq: np.ndarray, Wk: np.ndarray, Wv: np.ndarray) -> None:
        self.Wq = ag.Tensor(Wq, label="Wq")
        self.Wk = ag.Tensor(Wk, label="Wk")
        self.Wv = ag.Tensor(Wv, label="Wv")

    def __call__(self, Xin):
        # Xin is a (n_samples, n_context, n_features) tensor, and so is Xout
        Queries = Xin @ self.Wq
        Keys = Xin @ self.Wk
        KQ = Keys @ ag.moveaxis(Queries, 1, 2)
        expKQ = ag.exp(KQ)
        softmaxKQ = expKQ / ag.sum(expKQ, axis=1, keepdims=True)
        P = ag.moveaxis(Xin, 1, 2) @ softmaxKQ
        Xout = ag.moveaxis(P, 1, 2) @ self.Wv
        self.parts = {"Queries": Queries, "Keys": Keys, "KQ": KQ, "softmaxKQ": softmaxKQ, "P": P}
        return Xout


att = SingleHeadAttention(
    Wq=np.zeros((2, 2)),
    Wk=np.array([[1.0, 0.0], [0.0, 2.0]]),
    Wv=np.array([[1.0, 2.0], [3.0, 4.0]]),
)
Xin = ag.Tensor(np.eye(2)[None], label="Xin", requires_grad=False)
Xout = att(Xin)
loss = ag.sum(Xout)

with ag.trace() as TRACE:
    loss.backward()
print("Xout =", Xout.value.tolist())
print("Wq.grad =", att.Wq.grad.tolist())
print("Wk.grad =", att.Wk.grad.tolist())
print("Wv.grad =", att.Wv.grad.tolist())

ANSWER = {
    "Xout": [[[2.0, 3.0], [2.0, 3.0]]],
    "grads": {
        "Wq": [[-1.0, 2.0], [-1.0, 2.0]],
        "Wk": [[0.0, 0.0], [0.0, 0.0]],
        "Wv": [[1.0, 1.0], [1.0, 1.0]],
    },
}

parts = att.parts
KEY = AnswerKey(
    "Single-head attention",
    "Xin = I (1 sample, 2x2), Wq = 0, Wk = diag(1, 2), Wv = [[1, 2], [3, 4]], loss = sum(Xout)\n"
    "Queries = Xin Wq; Keys = Xin Wk; KQ = Keys moveaxis(Queries, 1, 2)\n"
    "softmaxKQ = exp(KQ) / sum(exp(KQ), axis=1, keepdims=True)\n"
    "P = moveaxis(Xin, 1, 2) softmaxKQ; Xout = moveaxis(P, 1, 2) Wv",
    [
        Entry("Queries", "Xin Wq", parts["Queries"].value),
        Entry("Keys", "Xin Wk", parts["Keys"].value),
        Entry("KQ", "Keys Queries^T", parts["KQ"].value),
        Entry("softmaxKQ", "exp(KQ) / sum(exp(KQ), axis=1)", parts["softmaxKQ"].value),
        Entry("P", "Xin^T softmaxKQ", parts["P"].value),
        Entry("Xout", "P^T Wv", Xout.value),
        Entry("Wv.grad", "P Xout.grad (Xout.grad = ones)", att.Wv.grad, latex_name=r"\nabla_{W_v}\ell",
              latex_formula=r"P \, \mathbf{1}"),
        Entry("softmaxKQ.grad", "Xin (Wv 1)", parts["softmaxKQ"].grad),
        Entry("KQ.grad", "S * (dS - sum(S * dS, axis=1))", parts["KQ"].grad),
        Entry("Wq.grad", "Xin^T KQ.grad^T Keys", att.Wq.grad, latex_name=r"\nabla_{W_q}\ell"),
        Entry("Wk.grad", "Xin^T KQ.grad Queries = 0 (Queries = 0)", att.Wk.grad,
              latex_name=r"\nabla_{W_k}\ell"),
    ],
    TRACE.last,
)

if __name__ == "__main__" and not TRACE.nested:
    print_key(KEY)
