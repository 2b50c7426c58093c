"""The finals' other problem types, drawn at random, each key checked against the kit itself.

* :func:`im2col_question`: a random convolution geometry; the shapes of ``im2col_mat``,
  ``weight`` and every tensor of the course's Conv2d forward, ``nnz`` of the sparse
  matrix and the cost of ``Xout_flat`` in multiply-adds. Checked against the real
  matrix (:func:`ag.nn.im2col.im2col_matrix`) and a real ``ag.nn.Conv2d`` forward.
* :func:`remat_question`: an N-layer chain with k checkpointed segments; what the
  forward keeps, the peak number of stored activations and the layers recomputed.
  Checked by running :func:`ag.checkpoint_sequential` under :class:`ag.remat.MemoryMeter`
  and counting layer calls.
* :func:`attention_question`: the course's single-head attention code with random
  sizes; the shape of every intermediate. Checked by running the printed code.
* :func:`network_question` and :func:`softmax_regression_question`: tiny matrices, the
  gradient's shapes and values. Checked against the kit's backward and central
  finite differences.

>>> q = im2col_question(seed=2)
>>> q.kind, q.checks > 5
('im2col', True)
>>> "im2col_mat.shape" in q.text()
True
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Question",
    "QUESTION_KINDS",
    "question",
    "im2col_question",
    "remat_question",
    "attention_question",
    "network_question",
    "softmax_regression_question",
]


@dataclass
class Question:
    """A question: the prompt (with code), the answers by item, and how many were checked."""

    kind: str
    seed: int
    title: str
    prompt: str
    answers: dict[str, str] = field(default_factory=dict)
    checks: int = 0

    def text(self, answers: bool = True) -> str:
        parts = [f"{self.title} (seed {self.seed})", "", self.prompt, ""]
        if answers:
            width = max(len(k) for k in self.answers)
            parts += ["Answer key", "==========", ""]
            parts += [f"{k.ljust(width)}  {v}" for k, v in self.answers.items()]
            parts += ["", f"({self.checks} answers checked against the kit before printing)"]
        else:
            parts += ["Answer:"] + [f"  {k} = " for k in self.answers]
        return "\n".join(parts)

    def markdown(self, answers: bool = True) -> str:
        prompt = self.prompt.replace("\n    ", "\n").replace("Code:\n", "Code:\n\n```python\n", 1)
        if "```python" in prompt:
            prompt += "\n```"
        parts = [f"## {self.title} (seed {self.seed})", "", prompt, ""]
        if answers:
            parts += ["### Answer key", "", "| question | answer |", "|---|---|"]
            parts += [f"| `{k}` | `{v}` |" for k, v in self.answers.items()]
            parts += ["", f"{self.checks} answers checked against the kit before printing."]
        else:
            parts += ["| question | answer |", "|---|---|"] + [f"| `{k}` | |" for k in self.answers]
        return "\n".join(parts)


def _check(got: Any, want: Any, what: str) -> int:
    if got != want:
        raise AssertionError(f"ag exam: the key says {what} = {want}, the kit gives {got}: "
                             "refusing to print a wrong key")
    return 1


def _indent(code: str) -> str:
    return "\n".join("    " + line if line else "" for line in code.strip("\n").splitlines())


# -- im2col ----------------------------------------------------------------------------------------


def im2col_question(seed: int = 0) -> Question:
    """Shapes, nnz and cost of the course's im2col convolution for a random geometry."""
    import ag
    from ag.nn.im2col import im2col_matrix, output_size

    rng = random.Random(seed)
    while True:
        N, Cin, Cout = rng.choice([1, 2, 4, 8, 16]), rng.choice([1, 2, 3, 4]), rng.choice([2, 4, 6, 8])
        H, W = rng.choice(range(4, 11)), rng.choice(range(4, 11))
        K, stride, padding = rng.choice([1, 2, 3, 5]), rng.choice([1, 1, 2]), rng.choice([0, 0, 1, 2])
        if padding < K and K <= min(H, W) + 2 * padding:
            break
    Hout, Wout = (H + 2 * padding - K) // stride + 1, (W + 2 * padding - K) // stride + 1
    P, patch = Hout * Wout, Cin * K * K
    Vh = sum(1 for ho in range(Hout) for ki in range(K) if 0 <= ho * stride + ki - padding < H)
    Vw = sum(1 for wo in range(Wout) for kj in range(K) if 0 <= wo * stride + kj - padding < W)
    nnz = Cin * Vh * Vw
    want = {
        "Hout, Wout": (Hout, Wout),
        "P (patches per image)": P,
        "patch_size": patch,
        "self.im2col_mat.shape": (Cin * H * W, P * patch),
        "self.im2col_mat.nnz": nnz,
        "self.weight.shape": (patch, Cout),
        "Xin_flat.shape": (N, Cin * H * W),
        "Xin_im2col.shape": (N, P * patch),
        "Xin_patches_flat.shape": (N, P, patch),
        "Xout_flat.shape (before moveaxis)": (N, P, Cout),
        "Xout.shape": (N, Cout, Hout, Wout),
        "cost of Xout_flat (multiply-adds)": N * P * patch * Cout,
    }
    # the kit's own objects
    checks = _check((output_size(H, K, stride, padding), output_size(W, K, stride, padding)), (Hout, Wout),
                    "Hout, Wout")
    M = im2col_matrix(Cin, H, W, K, stride, padding)
    checks += _check(M.shape, want["self.im2col_mat.shape"], "im2col_mat.shape")
    checks += _check(int(M.nnz), nnz, "im2col_mat.nnz")
    layer = ag.nn.Conv2d(Cin, Cout, K, stride=stride, padding=padding)
    checks += _check(tuple(layer.weight.shape), want["self.weight.shape"], "weight.shape")
    X = ag.tensor(np.random.default_rng(seed).standard_normal((N, Cin, H, W)))
    flat = X.reshape(N, Cin * H * W)
    checks += _check(tuple(flat.shape), want["Xin_flat.shape"], "Xin_flat.shape")
    cols = ag.spcmatmul(flat, M)
    checks += _check(tuple(cols.shape), want["Xin_im2col.shape"], "Xin_im2col.shape")
    patches = cols.reshape(N, P, patch)
    checks += _check(tuple(patches.shape), want["Xin_patches_flat.shape"], "Xin_patches_flat.shape")
    out_flat = patches @ layer.weight + layer.bias
    checks += _check(tuple(out_flat.shape), want["Xout_flat.shape (before moveaxis)"], "Xout_flat.shape")
    a, b = patches.shape, layer.weight.shape
    checks += _check(a[0] * a[1] * a[2] * b[1], want["cost of Xout_flat (multiply-adds)"], "cost")
    checks += _check(tuple(layer(X).shape), want["Xout.shape"], "Xout.shape")
    prompt = (
        f"A Conv2d layer with Cin={Cin}, Cout={Cout}, K={K}, stride={stride}, padding={padding} is applied "
        f"to a batch Xin of shape (N, Cin, H, W) = ({N}, {Cin}, {H}, {W}). Its forward is the course's:\n"
        "Code:\n" + _indent("""
Xin_flat = Xin.reshape(-1, Cin * Hin * Win)
Xin_im2col = ag.spcmatmul(Xin_flat, self.im2col_mat)
Xin_patches_flat = Xin_im2col.reshape(N, P, patch_size)
Xout_flat = (Xin_patches_flat @ self.weight) + self.bias
Xout_flat = ag.moveaxis(Xout_flat, 1, 2)
Xout = Xout_flat.reshape(N, Cout, Hout, Wout)
""") + "\n\nGive each shape below, the number of nonzeros of the 0/1 matrix im2col_mat, and the "
        "cost of computing Xout_flat in multiply-adds.")
    return Question("im2col", seed, "im2col question", prompt, {k: str(v) for k, v in want.items()}, checks)


# -- rematerialization -----------------------------------------------------------------------------


def remat_question(seed: int = 0) -> Question:
    """Forward and backward phases of a checkpointed N-layer chain."""
    import gc

    import ag
    from ag.remat import MemoryMeter
    from ag.remat.checkpoint import segment_bounds

    rng = random.Random(seed)
    n_layers = rng.randint(6, 16)
    k = rng.choice([s for s in range(2, 6) if s < n_layers])
    bounds = segment_bounds(n_layers, k)
    kept = [f"h{stop}" for _, stop in bounds]
    longest = max(stop - start for start, stop in bounds)
    want = {
        "activations stored by a plain forward": n_layers,
        "peak stored activations, plain": n_layers,
        "segments (layers of each)": ", ".join(f"h{a + 1}..h{b}" for a, b in bounds),
        "activations kept after the checkpointed forward": f"{k}: " + ", ".join(kept),
        "peak stored activations with checkpoints": k + longest,
        "layers recomputed during backward": n_layers,
        "layer calls in all (forward + backward)": 2 * n_layers,
    }
    calls = [0]

    def layer(h: Any) -> Any:
        calls[0] += 1
        return ag.tanh(h)

    size = 512

    def measure(segments: int | None) -> tuple[float, float, int]:
        gc.collect()
        x = ag.tensor(np.full(size, 0.1), requires_grad=True)
        calls[0] = 0
        with MemoryMeter() as meter:
            if segments:
                y = ag.checkpoint_sequential([layer] * n_layers, segments, x)
            else:
                y = x
                for _ in range(n_layers):
                    y = layer(y)
            after_forward = meter.sample()
            y.sum().backward()
        one = size * 8
        return after_forward / one, meter.peak / one, calls[0]

    plain_fwd, plain_peak, plain_calls = measure(None)
    fwd, peak, total_calls = measure(k)
    checks = _check(round(plain_fwd), n_layers, "activations of a plain forward")
    checks += _check(int(plain_peak), n_layers, "plain peak")  # + the 1-element loss
    checks += _check(round(fwd), k, "activations kept after the checkpointed forward")
    checks += _check(int(peak), k + longest, "peak with checkpoints")
    checks += _check(total_calls - n_layers, n_layers, "layers recomputed")
    checks += _check(total_calls, want["layer calls in all (forward + backward)"], "layer calls")
    prompt = (
        f"A chain of {n_layers} layers, h1 = f(x), h2 = f(h1), ..., h{n_layers} = f(h{n_layers - 1}) (each f "
        "makes one activation of the same size; x is a leaf and is not counted) is run\n"
        f"(a) plainly, and (b) as {k} checkpointed segments:\n"
        "Code:\n" + _indent(f"""
y = ag.checkpoint_sequential([f] * {n_layers}, {k}, x)   # segments as ag.remat.segment_bounds
y.sum().backward()
""") + "\n\nFor each: how many activations does the forward phase keep, and which? What is the peak "
        "number of stored activations during backward? Which layers are recomputed? (This kit "
        "checkpoints every segment, the last one too.)")
    return Question("remat", seed, "Rematerialization question", prompt,
                    {k_: str(v) for k_, v in want.items()}, checks)


# -- attention ----------------------------------------------------------------------------------------

_ATTENTION_CODE = """
Xin = ag.tensor(rng.standard_normal(({n}, {c}, {f})), label="Xin")   # (n_samples, n_context, n_features)
Wq = ag.tensor(rng.standard_normal(({f}, {f})), label="Wq")
Wk = ag.tensor(rng.standard_normal(({f}, {f})), label="Wk")
Wv = ag.tensor(rng.standard_normal(({f}, {f})), label="Wv")
Queries = Xin @ Wq
Keys = Xin @ Wk
KQ = (Keys @ ag.moveaxis(Queries, 1, 2))
expKQ = ag.exp(KQ)
softmaxKQ = expKQ / ag.sum(expKQ, axis=1, keepdims=True)
P = ag.moveaxis(Xin, 1, 2) @ softmaxKQ
Xout = ag.moveaxis(P, 1, 2) @ Wv
"""


def attention_question(seed: int = 0) -> Question:
    """Shapes of every tensor of the course's single-head attention, random sizes."""
    import ag

    rng = random.Random(seed)
    n, c, f = rng.choice([1, 2, 4, 8, 32]), rng.choice([3, 4, 5, 6, 10]), rng.choice([2, 3, 4, 8, 16])
    code = _ATTENTION_CODE.format(n=n, c=c, f=f)
    want = {
        "Wq.shape": (f, f), "Queries.shape": (n, c, f), "Keys.shape": (n, c, f),
        "KQ.shape": (n, c, c), "expKQ.shape": (n, c, c),
        "ag.sum(expKQ, axis=1, keepdims=True).shape": (n, 1, c), "softmaxKQ.shape": (n, c, c),
        "P.shape": (n, f, c), "Xout.shape": (n, c, f),
        "multiply-adds of KQ": n * c * c * f,
    }
    ns: dict[str, Any] = {"ag": ag, "rng": np.random.default_rng(seed)}
    exec(compile(code, f"<attention question {seed}>", "exec"), ns)  # the printed code itself
    checks = 0
    for name in ("Wq", "Queries", "Keys", "KQ", "expKQ", "softmaxKQ", "P", "Xout"):
        checks += _check(tuple(ns[name].shape), want[f"{name}.shape"], f"{name}.shape")
    checks += _check(tuple(ag.sum(ns["expKQ"], axis=1, keepdims=True).shape),
                     want["ag.sum(expKQ, axis=1, keepdims=True).shape"], "the column sums' shape")
    columns = ns["softmaxKQ"].value.sum(axis=1)
    checks += _check(bool(np.allclose(columns, 1.0)), True, "softmaxKQ columns summing to 1")
    prompt = ("The course's single-head attention, with n_samples, n_context, n_features = "
              f"{n}, {c}, {f}:\nCode:\n{_indent(code)}\n\nGive the shape of each tensor below "
              "and the multiply-adds of KQ.")
    return Question("attention", seed, "Attention shapes question", prompt,
                    {k: str(v) for k, v in want.items()}, checks)


# -- tensor gradients on tiny matrices ------------------------------------------------------------------


def _finite_differences(loss: Callable[[], float], array: np.ndarray, h: float = 1e-6) -> np.ndarray:
    g = np.zeros_like(array)
    for idx in np.ndindex(array.shape):
        old = array[idx]
        array[idx] = old + h
        up = loss()
        array[idx] = old - h
        down = loss()
        array[idx] = old
        g[idx] = (up - down) / (2 * h)
    return g


def _matrix(a: np.ndarray, digits: int = 4) -> str:
    rows = [" ".join(f"{float(v):g}" if digits == 0 else f"{round(float(v), digits):g}" for v in row)
            for row in np.atleast_2d(a)]
    return "[" + "; ".join(rows) + "]"


def network_question(seed: int = 0) -> Question:
    """A 1-layer ReLU network with squared loss on tiny integer matrices: grads by hand."""
    import ag

    rng = np.random.default_rng(seed)
    n, d, h = int(rng.integers(2, 4)), int(rng.integers(2, 4)), int(rng.integers(2, 4))
    while True:
        X = rng.integers(-2, 3, size=(n, d)).astype(float)
        W = rng.integers(-2, 3, size=(d, h)).astype(float)
        b = rng.integers(-1, 2, size=h).astype(float)
        Y = rng.integers(-1, 3, size=(n, h)).astype(float)
        Z = X @ W + b
        if np.all(Z != 0) and (Z < 0).any() and (Z > 0).any():  # no kink; both relu branches
            break
    code = (f"X = ag.tensor({X.astype(int).tolist()})\nW = ag.tensor({W.astype(int).tolist()})\n"
            f"b = ag.tensor({b.astype(int).tolist()})\nY = ag.tensor({Y.astype(int).tolist()})\n"
            "H = ag.relu(X @ W + b)\nL = ag.sum((H - Y) ** 2)\nL.backward()")
    Xt, Wt, bt, Yt = (ag.tensor(a.copy(), requires_grad=True) for a in (X, W, b, Y))
    Ht = ag.relu(Xt @ Wt + bt)
    L = ag.sum((Ht - Yt) ** 2)
    L.backward()
    arrays = {"W": W.copy(), "b": b.copy(), "X": X.copy()}

    def loss() -> float:
        return float((np.maximum(arrays["X"] @ arrays["W"] + arrays["b"], 0) - Y).__pow__(2).sum())

    checks = 0
    for name, t in (("W", Wt), ("b", bt), ("X", Xt)):
        fd = _finite_differences(loss, arrays[name])
        checks += _check(bool(np.allclose(t.grad, fd, atol=1e-5)), True, f"{name}.grad vs finite differences")
        checks += _check(bool(np.allclose(t.grad, np.round(t.grad))), True, f"{name}.grad being integers")
    Hv = np.maximum(Z, 0)
    want = {
        "(X @ W + b).shape": str(Z.shape), "H.shape": str(Hv.shape), "L.shape": "() (a number)",
        "L": f"{float(L.value):g}", "dL/dH (= 2 (H - Y))": _matrix(2 * (Hv - Y), 0),
        "W.grad.shape": str(W.shape), "W.grad": _matrix(Wt.grad, 0),
        "b.grad.shape": str(b.shape), "b.grad": _matrix(bt.grad, 0),
        "X.grad.shape": str(X.shape), "X.grad": _matrix(Xt.grad, 0),
    }
    prompt = ("A one-layer ReLU network with a squared loss on tiny integer matrices (no entry of "
              "X @ W + b is 0, so relu is differentiable everywhere here):\nCode:\n" + _indent(code) +
              "\n\nGive each shape and, by hand, the grads of W, b and X.")
    return Question("network", seed, "One-layer network gradients", prompt, want, checks)


def softmax_regression_question(seed: int = 0) -> Question:
    """Softmax regression (mean cross-entropy) on a tiny batch: grads' shapes and values."""
    import ag

    rng = np.random.default_rng(seed)
    n, d, k = int(rng.integers(2, 4)), int(rng.integers(2, 4)), int(rng.integers(2, 4))
    X = rng.integers(-2, 3, size=(n, d)).astype(float)
    W = rng.integers(-1, 2, size=(d, k)).astype(float)
    b = np.zeros(k)
    labels = rng.integers(0, k, size=n)
    code = (f"X = ag.tensor({X.astype(int).tolist()})\nW = ag.tensor({W.astype(int).tolist()})\n"
            f"b = ag.zeros({k})\ny = np.array({labels.tolist()})\n"
            "logits = X @ W + b\nL = ag.nn.functional.cross_entropy(logits, y)   # mean over the batch\n"
            "L.backward()")
    Xt, Wt, bt = (ag.tensor(a.copy(), requires_grad=True) for a in (X, W, b))
    L = ag.nn.functional.cross_entropy(Xt @ Wt + bt, labels)
    L.backward()
    arrays = {"W": W.copy(), "b": b.copy()}

    def loss() -> float:
        z = X @ arrays["W"] + arrays["b"]
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(n), labels].mean())

    checks = 0
    for name, t in (("W", Wt), ("b", bt)):
        fd = _finite_differences(loss, arrays[name])
        checks += _check(bool(np.allclose(t.grad, fd, atol=1e-6)), True, f"{name}.grad vs finite differences")
    logits = X @ W
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    onehot = np.eye(k)[labels]
    checks += _check(bool(np.allclose(Wt.grad, X.T @ (p - onehot) / n)), True, "W.grad = X^T (P - Y) / n")
    want = {
        "logits.shape": str((n, k)), "softmax probabilities P": _matrix(p),
        "one-hot Y": _matrix(onehot, 0), "dL/dlogits (= (P - Y) / n)": _matrix((p - onehot) / n),
        "W.grad.shape": str(W.shape), "W.grad (= X^T (P - Y) / n)": _matrix(Wt.grad),
        "b.grad.shape": str(b.shape), "b.grad": _matrix(bt.grad),
        "L": f"{round(float(L.value), 4):g}",
    }
    prompt = ("Softmax regression on a tiny batch (values to 4 decimals):\nCode:\n" + _indent(code) +
              "\n\nGive the shapes, the softmax probabilities and the grads of W and b.")
    return Question("softmax", seed, "Softmax regression gradients", prompt, want, checks)


QUESTION_KINDS: dict[str, Callable[[int], Question]] = {
    "im2col": im2col_question, "remat": remat_question, "attention": attention_question,
    "network": network_question, "softmax": softmax_regression_question,
}


def question(kind: str, seed: int = 0) -> Question:
    """A question of ``kind`` (``im2col``, ``remat``, ``attention``, ``network``, ``softmax``)."""
    if kind not in QUESTION_KINDS:
        raise ValueError(f"ag exam: unknown --kind {kind!r}; choose from scalar, {', '.join(QUESTION_KINDS)}")
    return QUESTION_KINDS[kind](seed)
