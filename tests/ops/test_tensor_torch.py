"""Cross-checks of ag.Tensor gradients against PyTorch's autograd (skipped without torch)."""

import numpy as np
import pytest

import ag

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def both(arrays):
    ours = [ag.Tensor(a) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    return ours, theirs


def compare(f_ag, f_torch, arrays, seed=0):
    ours, theirs = both(arrays)
    out = f_ag(*ours)
    ref = f_torch(*theirs)
    np.testing.assert_allclose(out.value, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    w = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(w)
    ref.backward(torch.tensor(w))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-9, atol=1e-12)


rng = np.random.default_rng(0)
A = rng.standard_normal((3, 4))
B = rng.standard_normal((4,))
P = rng.random((3, 4)) + 0.5

CASES = {
    "add_broadcast": (lambda a, b: a + b, lambda a, b: a + b, [A, B]),
    "mul_broadcast": (lambda a, b: a * b, lambda a, b: a * b, [A, B]),
    "div": (lambda a, b: a / b, lambda a, b: a / b, [A, P]),
    "pow": (lambda a, b: a**b, lambda a, b: a**b, [P, A]),
    "matmul_vec": (lambda a, b: a @ b, lambda a, b: a @ b, [A, B]),
    "batched_matmul": (lambda a, b: a @ b, lambda a, b: a @ b,
                       [rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5))]),
    "exp_log_sqrt": (lambda a: ag.log(ag.exp(a) + ag.sqrt(a)),
                     lambda a: torch.log(torch.exp(a) + torch.sqrt(a)), [P]),
    "tanh_sigmoid_relu": (lambda a: ag.tanh(a) * ag.sigmoid(a) + ag.relu(a),
                          lambda a: torch.tanh(a) * torch.sigmoid(a) + torch.relu(a), [A]),
    "softmax": (lambda a: ag.softmax(a, axis=0), lambda a: torch.softmax(a, dim=0), [A]),
    "log_softmax": (lambda a: ag.log_softmax(a, axis=1), lambda a: torch.log_softmax(a, dim=1), [A]),
    "logsumexp": (lambda a: ag.logsumexp(a, axis=1), lambda a: torch.logsumexp(a, dim=1), [A]),
    "max_keepdims": (lambda a: a.max(axis=1, keepdims=True), lambda a: a.amax(dim=1, keepdim=True), [A]),
    "var": (lambda a: ag.var(a, axis=0), lambda a: a.var(dim=0, unbiased=False), [A]),
    "moveaxis_reshape": (lambda a: ag.moveaxis(a.reshape(3, 2, 2), 0, 2),
                         lambda a: torch.movedim(a.reshape(3, 2, 2), 0, 2), [A]),
    "index": (lambda a: a[np.array([0, 2, 0]), 1:3], lambda a: a[torch.tensor([0, 2, 0]), 1:3], [A]),
    "concat_stack": (lambda a, b: ag.stack([ag.concatenate([a, b]), ag.concatenate([b, a]) * 2], 1),
                     lambda a, b: torch.stack([torch.cat([a, b]), torch.cat([b, a]) * 2], dim=1),
                     [B, B[::-1].copy()]),
    "where_max_min": (lambda a, b: ag.where(A > 0, ag.maximum(a, b), ag.minimum(a, b)),
                      lambda a, b: torch.where(torch.tensor(A > 0), torch.maximum(a, b), torch.minimum(a, b)),
                      [A, P]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_torch(name):
    compare(*CASES[name])


def test_course_attention_and_mlp_block_matches_torch():
    """The course's SingleHeadAttention followed by its MLP, exactly as written in the slides."""
    r = np.random.default_rng(3)
    n_samples, n_context, n_features, n_hidden = 2, 5, 4, 6
    arrays = [
        r.standard_normal((n_samples, n_context, n_features)) * 0.5,  # Xin
        r.standard_normal((n_features, n_features)) * 0.5,  # Wq
        r.standard_normal((n_features, n_features)) * 0.5,  # Wk
        r.standard_normal((n_features, n_features)) * 0.5,  # Wv
        r.standard_normal((n_features, n_hidden)),  # Whidden
        r.standard_normal(n_hidden),  # bhidden
        r.standard_normal((n_hidden, n_features)),  # Wout
        r.standard_normal(n_features),  # bout
    ]

    def block(lib, X, Wq, Wk, Wv, Wh, bh, Wo, bo):
        Queries = X @ Wq
        Keys = X @ Wk
        KQ = Keys @ lib.moveaxis(Queries, 1, 2)
        expKQ = lib.exp(KQ)
        softmaxKQ = expKQ / lib.sum(expKQ, axis=1, keepdims=True)
        P = lib.moveaxis(X, 1, 2) @ softmaxKQ
        Xout = lib.moveaxis(P, 1, 2) @ Wv
        hidden = lib.relu((Xout @ Wh) + bh)
        return hidden @ Wo + bo

    class TorchLib:
        moveaxis = staticmethod(torch.movedim)
        exp = staticmethod(torch.exp)
        relu = staticmethod(torch.relu)

        @staticmethod
        def sum(x, axis, keepdims):
            return torch.sum(x, dim=axis, keepdim=keepdims)

    compare(lambda *ts: block(ag, *ts), lambda *ts: block(TorchLib, *ts), arrays)
