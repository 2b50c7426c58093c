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


Answer = Any  # an int, a float, a tuple of ints (a shape) or a NumPy array


@dataclass
class Question:
    """A question: the prompt (with code) and its answers by item, each checked against the kit.

    ``answers`` maps an item (``"KQ.shape"``) to its answer: an int, a float, a tuple (a
    shape) or a NumPy array. ``checked`` lists the items compared with what the kit
    computes before the question was returned (every item is). :meth:`rows` splits
    the answers into the numbers a student writes on the answer template, one per row.
    """

    kind: str
    seed: int
    title: str
    prompt: str
    answers: dict[str, Answer] = field(default_factory=dict)
    checked: list[str] = field(default_factory=list)

    @property
    def checks(self) -> int:
        """How many answers were compared with the kit."""
        return len(self.checked)

    def shown(self, item: str) -> str:
        """An answer as the key prints it."""
        return _show(self.answers[item])

    def checked_note(self) -> str:
        """``(3 answers checked against the kit: a, b, c)``: which, not only how many."""
        return (f"({self.checks} answer{'s' if self.checks != 1 else ''} checked against the kit before "
                f"printing: {', '.join(self.checked)})")

    def rows(self) -> list[tuple[str, str, float]]:
        """``(item, quantity, number)``: every number of every answer, one per template row.

        A shape ``(2, 3)`` gives ``KQ.shape[0]`` and ``KQ.shape[1]``; a matrix gives
        ``W.grad[i][j]`` (no commas: the template is a CSV file).

        >>> [r[1:] for r in attention_question(seed=1).rows()[:2]]
        [('Wq.shape[0]', 2.0), ('Wq.shape[1]', 2.0)]
        """
        out = []
        for item, value in self.answers.items():
            label = _quantity(item)
            if isinstance(value, tuple):
                out += [(item, f"{label}[{i}]", float(v)) for i, v in enumerate(value)]
            elif isinstance(value, np.ndarray):
                out += [(item, label + "".join(f"[{i}]" for i in idx), float(value[idx]))
                        for idx in np.ndindex(value.shape)]
            else:
                out.append((item, label, float(value)))
        return out

    def text(self, answers: bool = True) -> str:
        parts = [f"{self.title} (seed {self.seed})", "", self.prompt, ""]
        if answers:
            width = max(len(k) for k in self.answers)
            parts += ["Answer key", "==========", ""]
            parts += [f"{k.ljust(width)}  {self.shown(k)}" for k in self.answers]
            parts += ["", self.checked_note()]
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
            parts += [f"| `{k}` | `{self.shown(k)}` |" for k in self.answers]
            parts += ["", self.checked_note()]
        else:
            parts += ["| question | answer |", "|---|---|"] + [f"| `{k}` | |" for k in self.answers]
        return "\n".join(parts)

    def problem_key(self) -> Any:
        """The key ``ag grade`` reads: one :class:`ag.exam.key.KeyRow` per template row."""
        from ag.exam.key import KeyRow, ProblemKey

        rows = [KeyRow(_section(item), item, quantity, value) for item, quantity, value in self.rows()]
        return ProblemKey(self.seed, rows, kind=self.kind, code=self.prompt, keys_checked=self.checks)


def _show(value: Answer) -> str:
    if isinstance(value, np.ndarray):
        return _matrix(value)
    if isinstance(value, float):
        return f"{round(value, 4):g}"
    return str(value)


def _quantity(item: str) -> str:
    """A template's quantity for an item: without its note in parentheses, its step or commas.

    >>> _quantity("step 2: momentum u_w"), _quantity("Hout, Wout"), _quantity("P (patches per image)")
    ('momentum u_w', 'Hout_Wout', 'P')
    """
    head = item.split(": ", 1)[1] if item.startswith("step ") else item
    if not head.startswith("("):
        head = head.split(" (")[0]
    return head.replace(", ", "_").replace(",", "_")


def _section(item: str) -> str:
    """The template's first column: ``step 2`` for an optimizer's step, else ``answer``."""
    return item.split(":")[0] if item.startswith("step ") else "answer"


def _check_all(want: dict[str, Answer], got: dict[str, Answer], kind: str) -> list[str]:
    """Compare every answer (hand formulas) with what the kit gives; the items checked.

    Raises ``AssertionError`` when one differs or one was not checked at all: a key
    is never printed with an answer nobody compared.
    """
    missing = [k for k in want if k not in got]
    if missing:
        raise AssertionError(f"ag exam: the {kind} key has answers the kit did not check: {missing}")
    for item, value in want.items():
        kit = got[item]
        if isinstance(value, (np.ndarray, float)) or isinstance(kit, (np.ndarray, float)):
            same = np.shape(value) == np.shape(kit) and bool(np.allclose(value, kit, rtol=1e-9, atol=1e-9))
        else:
            same = value == kit
        if not same:
            raise AssertionError(f"ag exam: the {kind} key says {item} = {_show(value)}, the kit gives "
                                 f"{_show(kit)}: refusing to print a wrong key")
    return list(want)


def _indent(code: str) -> str:
    return "\n".join("    " + line if line else "" for line in code.strip("\n").splitlines())


# -- im2col ----------------------------------------------------------------------------------------


def im2col_answers(N: int, Cin: int, Cout: int, H: int, W: int, K: int, stride: int,
                   padding: int) -> dict[str, Answer]:
    """The im2col answers by the course's formulas (what a student writes).

    >>> im2col_answers(2, 2, 6, 8, 7, 1, 2, 0)["cost of Xout_flat (multiply-adds)"]
    384
    """
    Hout, Wout = (H + 2 * padding - K) // stride + 1, (W + 2 * padding - K) // stride + 1
    P, patch = Hout * Wout, Cin * K * K
    # nonzeros: one per (channel, output row, kernel row, output col, kernel col) that lands inside
    Vh = sum(1 for ho in range(Hout) for ki in range(K) if 0 <= ho * stride + ki - padding < H)
    Vw = sum(1 for wo in range(Wout) for kj in range(K) if 0 <= wo * stride + kj - padding < W)
    return {
        "Hout, Wout": (Hout, Wout),
        "P (patches per image)": P,
        "patch_size": patch,
        "self.im2col_mat.shape": (Cin * H * W, P * patch),
        "self.im2col_mat.nnz": Cin * Vh * Vw,
        "self.weight.shape": (patch, Cout),
        "Xin_flat.shape": (N, Cin * H * W),
        "Xin_im2col.shape": (N, P * patch),
        "Xin_patches_flat.shape": (N, P, patch),
        "Xout_flat.shape (before moveaxis)": (N, P, Cout),
        "Xout.shape": (N, Cout, Hout, Wout),
        "cost of Xout_flat (multiply-adds)": N * P * patch * Cout,
    }


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
    want = im2col_answers(N, Cin, Cout, H, W, K, stride, padding)
    # the kit's own objects
    M = im2col_matrix(Cin, H, W, K, stride, padding)
    layer = ag.nn.Conv2d(Cin, Cout, K, stride=stride, padding=padding)
    X = ag.tensor(np.random.default_rng(seed).standard_normal((N, Cin, H, W)))
    flat = X.reshape(N, Cin * H * W)
    cols = ag.spcmatmul(flat, M)
    # the course's reshape, sized from the kit's own layer (not from the answers being checked)
    P = output_size(H, K, stride, padding) * output_size(W, K, stride, padding)
    patches = cols.reshape(N, P, int(layer.weight.shape[0]))
    out_flat = patches @ layer.weight + layer.bias
    a, b = patches.shape, layer.weight.shape
    got = {
        "Hout, Wout": (output_size(H, K, stride, padding), output_size(W, K, stride, padding)),
        "P (patches per image)": int(np.prod(layer(X).shape[2:])),
        "patch_size": int(layer.weight.shape[0]),
        "self.im2col_mat.shape": tuple(M.shape), "self.im2col_mat.nnz": int(M.nnz),
        "self.weight.shape": tuple(layer.weight.shape), "Xin_flat.shape": tuple(flat.shape),
        "Xin_im2col.shape": tuple(cols.shape), "Xin_patches_flat.shape": tuple(patches.shape),
        "Xout_flat.shape (before moveaxis)": tuple(out_flat.shape), "Xout.shape": tuple(layer(X).shape),
        # a (N, P, patch) @ (patch, Cout) product: one multiply-add per (n, p, k, cout)
        "cost of Xout_flat (multiply-adds)": a[0] * a[1] * a[2] * b[1],
    }
    checked = _check_all(want, got, "im2col")
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
    return Question("im2col", seed, "im2col question", prompt, want, checked)


# -- rematerialization -----------------------------------------------------------------------------


def remat_answers(n_layers: int, k: int) -> dict[str, Answer]:
    """The checkpointing answers by hand: ``k`` segments of sizes within one, longest first.

    >>> remat_answers(9, 3)["peak stored activations with checkpoints"]
    6
    """
    size, extra = divmod(n_layers, k)
    sizes = [size + (1 if s < extra else 0) for s in range(k)]
    ends = tuple(sum(sizes[: s + 1]) for s in range(k))
    return {
        "activations stored by a plain forward": n_layers,
        "peak stored activations, plain": n_layers,
        "segments (last layer of each)": ends,
        "activations kept after the checkpointed forward": k,
        "which (hK kept)": ends,
        "peak stored activations with checkpoints": k + max(sizes),
        "layers recomputed during backward": n_layers,
        "layer calls in all (forward + backward)": 2 * n_layers,
    }


def remat_question(seed: int = 0) -> Question:
    """Forward and backward phases of a checkpointed N-layer chain."""
    import gc

    import ag
    from ag.remat import MemoryMeter
    from ag.remat.checkpoint import segment_bounds

    rng = random.Random(seed)
    n_layers = rng.randint(6, 16)
    k = rng.choice([s for s in range(2, 6) if s < n_layers])
    want = remat_answers(n_layers, k)
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

    plain_fwd, plain_peak, _ = measure(None)
    fwd, peak, total_calls = measure(k)
    ends = tuple(stop for _, stop in segment_bounds(n_layers, k))
    got = {
        "activations stored by a plain forward": round(plain_fwd),
        "peak stored activations, plain": int(plain_peak),  # + the 1-element loss
        "segments (last layer of each)": ends,
        "activations kept after the checkpointed forward": round(fwd),
        "which (hK kept)": ends,
        "peak stored activations with checkpoints": int(peak),
        "layers recomputed during backward": total_calls - n_layers,
        "layer calls in all (forward + backward)": total_calls,
    }
    checked = _check_all(want, got, "remat")
    prompt = (
        f"A chain of {n_layers} layers, h1 = f(x), h2 = f(h1), ..., h{n_layers} = f(h{n_layers - 1}) (each f "
        "makes one activation of the same size; x is a leaf and is not counted) is run\n"
        f"(a) plainly, and (b) as {k} checkpointed segments:\n"
        "Code:\n" + _indent(f"""
y = ag.checkpoint_sequential([f] * {n_layers}, {k}, x)   # segments as ag.remat.segment_bounds
y.sum().backward()
""") + "\n\nFor each: how many activations does the forward phase keep, and which? What is the peak "
        "number of stored activations during backward? Which layers are recomputed? (Segments differ "
        "in size by at most one, the longer ones first; this kit checkpoints every segment, the last "
        "one too.)")
    return Question("remat", seed, "Rematerialization question", prompt, want, checked)


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


def attention_answers(n: int, c: int, f: int) -> dict[str, Answer]:
    """Shapes by hand; ``KQ`` is ``(n, c, f) @ (n, f, c)``: ``n*c*c*f`` multiply-adds.

    >>> attention_answers(2, 3, 4)["multiply-adds of KQ"]
    72
    """
    return {
        "Wq.shape": (f, f), "Queries.shape": (n, c, f), "Keys.shape": (n, c, f),
        "KQ.shape": (n, c, c), "expKQ.shape": (n, c, c),
        "ag.sum(expKQ, axis=1, keepdims=True).shape": (n, 1, c), "softmaxKQ.shape": (n, c, c),
        "P.shape": (n, f, c), "Xout.shape": (n, c, f),
        "multiply-adds of KQ": n * c * c * f,
    }


def attention_question(seed: int = 0) -> Question:
    """Shapes of every tensor of the course's single-head attention, random sizes."""
    import ag

    rng = random.Random(seed)
    n, c, f = rng.choice([1, 2, 4, 8, 32]), rng.choice([3, 4, 5, 6, 10]), rng.choice([2, 3, 4, 8, 16])
    code = _ATTENTION_CODE.format(n=n, c=c, f=f)
    want = attention_answers(n, c, f)
    ns: dict[str, Any] = {"ag": ag, "rng": np.random.default_rng(seed)}
    exec(compile(code, f"<attention question {seed}>", "exec"), ns)  # the printed code itself
    got: dict[str, Answer] = {f"{name}.shape": tuple(ns[name].shape)
                              for name in ("Wq", "Queries", "Keys", "KQ", "expKQ", "softmaxKQ", "P", "Xout")}
    sums = ag.sum(ns["expKQ"], axis=1, keepdims=True)
    got["ag.sum(expKQ, axis=1, keepdims=True).shape"] = tuple(sums.shape)
    # the product's operands as the code makes them: (n, c, f) @ (n, f, c), one multiply-add per
    # (batch, row, column, inner index)
    left, right = ns["Keys"].shape, ag.moveaxis(ns["Queries"], 1, 2).shape
    assert left[2] == right[1]
    got["multiply-adds of KQ"] = left[0] * left[1] * right[2] * left[2]
    if not np.allclose(ns["softmaxKQ"].value.sum(axis=1), 1.0):
        raise AssertionError("ag exam: softmaxKQ's columns do not sum to 1: refusing to print the key")
    checked = _check_all(want, got, "attention")
    prompt = ("The course's single-head attention, with n_samples, n_context, n_features = "
              f"{n}, {c}, {f}:\nCode:\n{_indent(code)}\n\nGive the shape of each tensor below "
              "and the multiply-adds of KQ.")
    return Question("attention", seed, "Attention shapes question", prompt, want, checked)


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
    rows = [" ".join(f"{round(float(v), digits) + 0.0:g}" for v in row) for row in np.atleast_2d(a)]
    return "[" + "; ".join(rows) + "]"


def _ints(a: np.ndarray) -> str:
    return str(a.astype(int).tolist())


def network_answers(X: np.ndarray, W: np.ndarray, b: np.ndarray, Y: np.ndarray) -> dict[str, Answer]:
    """The network's grads by the chain rule, written out with NumPy (not the kit)."""
    Z = X @ W + b
    H = np.maximum(Z, 0)
    dH = 2 * (H - Y)
    dZ = dH * (Z > 0)
    return {
        "(X @ W + b).shape": Z.shape, "H.shape": H.shape, "L": float(((H - Y) ** 2).sum()),
        "dL/dH (= 2 (H - Y))": dH, "W.grad.shape": W.shape, "W.grad (= X^T dZ)": X.T @ dZ,
        "b.grad.shape": b.shape, "b.grad (= column sums of dZ)": dZ.sum(axis=0),
        "X.grad.shape": X.shape, "X.grad (= dZ W^T)": dZ @ W.T,
    }


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
    code = (f"X = ag.tensor({_ints(X)})\nW = ag.tensor({_ints(W)})\n"
            f"b = ag.tensor({_ints(b)})\nY = ag.tensor({_ints(Y)})\n"
            "H = ag.relu(X @ W + b)\nL = ag.sum((H - Y) ** 2)\nL.backward()")
    want = network_answers(X, W, b, Y)
    Xt, Wt, bt, Yt = (ag.tensor(a.copy(), requires_grad=True) for a in (X, W, b, Y))
    pre = Xt @ Wt + bt
    Ht = ag.relu(pre)
    L = ag.sum((Ht - Yt) ** 2)
    L.backward()
    arrays = {"W": W.copy(), "b": b.copy(), "X": X.copy()}

    def loss() -> float:
        return float(((np.maximum(arrays["X"] @ arrays["W"] + arrays["b"], 0) - Y) ** 2).sum())

    for name, t in (("W", Wt), ("b", bt), ("X", Xt)):  # the kit itself against finite differences
        if not np.allclose(t.grad, _finite_differences(loss, arrays[name]), atol=1e-5):
            raise AssertionError(f"ag exam: the kit's {name}.grad disagrees with finite differences")
    got = {
        "(X @ W + b).shape": tuple(pre.shape), "H.shape": tuple(Ht.shape), "L": float(L.value),
        "dL/dH (= 2 (H - Y))": np.asarray(Ht.grad) if Ht.grad is not None else None,
        "W.grad.shape": tuple(np.shape(Wt.grad)), "W.grad (= X^T dZ)": np.asarray(Wt.grad),
        "b.grad.shape": tuple(np.shape(bt.grad)), "b.grad (= column sums of dZ)": np.asarray(bt.grad),
        "X.grad.shape": tuple(np.shape(Xt.grad)), "X.grad (= dZ W^T)": np.asarray(Xt.grad),
    }
    checked = _check_all(want, got, "network")
    prompt = ("A one-layer ReLU network with a squared loss on tiny integer matrices (no entry of "
              "X @ W + b is 0, so relu is differentiable everywhere here):\nCode:\n" + _indent(code) +
              "\n\nGive each shape and, by hand, the grads of W, b and X.")
    return Question("network", seed, "One-layer network gradients", prompt, want, checked)


def softmax_answers(X: np.ndarray, W: np.ndarray, b: np.ndarray, labels: np.ndarray) -> dict[str, Answer]:
    """Softmax regression's grads by hand: ``dL/dlogits = (P - Y) / n``."""
    n, k = X.shape[0], W.shape[1]
    logits = X @ W + b
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    onehot = np.eye(k)[labels]
    d = (p - onehot) / n
    return {
        "logits.shape": (n, k), "softmax probabilities P": p, "one-hot Y": onehot,
        "dL/dlogits (= (P - Y) / n)": d, "W.grad.shape": W.shape, "W.grad (= X^T (P - Y) / n)": X.T @ d,
        "b.grad.shape": b.shape, "b.grad (= column sums of dL/dlogits)": d.sum(axis=0),
        "L": float(-np.log(p[np.arange(n), labels]).mean()),
    }


def softmax_regression_question(seed: int = 0) -> Question:
    """Softmax regression (mean cross-entropy) on a tiny batch: grads' shapes and values."""
    import ag

    rng = np.random.default_rng(seed)
    n, d, k = int(rng.integers(2, 4)), int(rng.integers(2, 4)), int(rng.integers(2, 4))
    X = rng.integers(-2, 3, size=(n, d)).astype(float)
    W = rng.integers(-1, 2, size=(d, k)).astype(float)
    b = np.zeros(k)
    labels = rng.integers(0, k, size=n)
    code = (f"X = ag.tensor({_ints(X)})\nW = ag.tensor({_ints(W)})\n"
            f"b = ag.zeros({k})\ny = np.array({labels.tolist()})\n"
            "logits = X @ W + b\nL = ag.nn.functional.cross_entropy(logits, y)   # mean over the batch\n"
            "L.backward()")
    want = softmax_answers(X, W, b, labels)
    Xt, Wt, bt = (ag.tensor(a.copy(), requires_grad=True) for a in (X, W, b))
    logits = Xt @ Wt + bt
    L = ag.nn.functional.cross_entropy(logits, labels)
    L.backward()
    arrays = {"W": W.copy(), "b": b.copy()}

    def loss() -> float:
        z = X @ arrays["W"] + arrays["b"]
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(n), labels].mean())

    for name, t in (("W", Wt), ("b", bt)):  # the kit itself against finite differences
        if not np.allclose(t.grad, _finite_differences(loss, arrays[name]), atol=1e-6):
            raise AssertionError(f"ag exam: the kit's {name}.grad disagrees with finite differences")
    probs = ag.softmax(ag.tensor(X @ W + b), axis=1).value
    # dL/dlogits from the kit: the grad of the mean cross-entropy at the logits as a leaf
    leaf = ag.tensor(X @ W + b, requires_grad=True)
    ag.nn.functional.cross_entropy(leaf, labels).backward()
    got = {
        "logits.shape": tuple(logits.shape), "softmax probabilities P": np.asarray(probs),
        "one-hot Y": np.asarray(probs) - n * np.asarray(leaf.grad),  # P - n dL/dlogits, from the kit
        "dL/dlogits (= (P - Y) / n)": np.asarray(leaf.grad),
        "W.grad.shape": tuple(np.shape(Wt.grad)), "W.grad (= X^T (P - Y) / n)": np.asarray(Wt.grad),
        "b.grad.shape": tuple(np.shape(bt.grad)), "b.grad (= column sums of dL/dlogits)": np.asarray(bt.grad),
        "L": float(L.value),
    }
    checked = _check_all(want, got, "softmax")
    prompt = ("Softmax regression on a tiny batch (values to 4 decimals):\nCode:\n" + _indent(code) +
              "\n\nGive the shapes, the softmax probabilities and the grads of W and b.")
    return Question("softmax", seed, "Softmax regression gradients", prompt, want, checked)


# -- optimizers -----------------------------------------------------------------------------------------


def optimizer_answers(w: float, b: float, x: float, y: float, lr: float, beta: float,
                      steps: int) -> dict[str, Answer]:
    """SGD, then SGD with momentum (the course's average ``u = beta*u + (1-beta)*g``), by hand.

    >>> a = optimizer_answers(1.0, 0.0, 2.0, 1.0, 0.5, 0.5, 2)
    >>> a["step 1: SGD w"], a["step 1: momentum u_w"], a["step 1: momentum w"]
    (0.0, 1.0, 0.5)
    """
    out: dict[str, Answer] = {}
    for name, momentum in (("SGD", False), ("momentum", True)):
        pw, pb, uw, ub = w, b, 0.0, 0.0
        for t in range(1, steps + 1):
            r = pw * x + pb - y          # L = (w*x + b - y)^2 / 2: dL/dw = r*x, dL/db = r
            gw, gb = r * x, r
            out[f"step {t}: {name} grad w"] = gw
            out[f"step {t}: {name} grad b"] = gb
            if momentum:
                uw, ub = beta * uw + (1 - beta) * gw, beta * ub + (1 - beta) * gb
                out[f"step {t}: momentum u_w"] = uw
                out[f"step {t}: momentum u_b"] = ub
                pw, pb = pw - lr * uw, pb - lr * ub
            else:
                pw, pb = pw - lr * gw, pb - lr * gb
            out[f"step {t}: {name} w"] = pw
            out[f"step {t}: {name} b"] = pb
    return out


def optimizer_question(seed: int = 0) -> Question:
    """Two or three steps of SGD and of SGD with momentum on ``(w*x + b - y)^2 / 2``, by hand.

    The key is checked against ``ag.optim.SGD`` itself (plain, and ``momentum=beta,
    convention="average"``): its grads, its velocity buffers and its parameters each step.

    >>> q = optimizer_question(seed=1)
    >>> "step 1: momentum u_w" in q.answers and q.checks == len(q.answers)
    True
    """
    import ag
    from ag.optim import SGD

    rng = random.Random(seed)
    steps = rng.choice([2, 3])
    lr, beta = rng.choice([0.5, 0.25, 0.1]), rng.choice([0.5, 0.9])
    while True:
        w, b = float(rng.choice([-1, 0, 1, 2])), float(rng.choice([-1, 0, 1]))
        x, y = float(rng.choice([-2, -1, 1, 2])), float(rng.choice([-1, 0, 1, 2, 3]))
        want = optimizer_answers(w, b, x, y, lr, beta, steps)
        # a zero gradient (the fit already exact) makes the later steps copy the earlier ones
        if all(v != 0 for k, v in want.items() if " grad " in k):
            break
    got: dict[str, Answer] = {}
    for name, opt_args in (("SGD", {}), ("momentum", {"momentum": beta, "convention": "average"})):
        W, B = ag.tensor([w], requires_grad=True), ag.tensor([b], requires_grad=True)
        opt = SGD([W, B], lr=lr, **opt_args)
        for t in range(1, steps + 1):
            opt.zero_grad()
            loss = ag.sum((W * x + B - y) ** 2) * 0.5
            loss.backward()
            got[f"step {t}: {name} grad w"] = float(W.grad[0])
            got[f"step {t}: {name} grad b"] = float(B.grad[0])
            opt.step()
            if opt_args:
                got[f"step {t}: momentum u_w"] = float(opt.state[id(W)]["momentum"][0])
                got[f"step {t}: momentum u_b"] = float(opt.state[id(B)]["momentum"][0])
            got[f"step {t}: {name} w"] = float(W.value[0])
            got[f"step {t}: {name} b"] = float(B.value[0])
    checked = _check_all({k: float(v) for k, v in want.items()}, got, "optimizer")
    code = (f"x, y = {x:g}, {y:g}\n"
            f"for settings in ({{}}, {{\"momentum\": {beta:g}, \"convention\": \"average\"}}):"
            "   # (a) plain SGD, then (b) with momentum\n"
            f"    w = ag.tensor([{w:g}], requires_grad=True); b = ag.tensor([{b:g}], requires_grad=True)\n"
            f"    opt = ag.optim.SGD([w, b], lr={lr:g}, **settings)\n"
            f"    for step in range({steps}):\n"
            "        opt.zero_grad()\n"
            "        L = (w * x + b - y) ** 2 / 2\n"
            "        L.backward()\n"
            "        opt.step()")
    prompt = (f"A one-weight model w*x + b is fitted to one example (x, y) = ({x:g}, {y:g}) with the loss "
              "L = (w*x + b - y)^2 / 2, starting from w = "
              f"{w:g}, b = {b:g}, (a) by plain SGD (w <- w - lr * dL/dw) and (b) by SGD with momentum, "
              "the course's average: u <- beta*u + (1 - beta)*g with u = 0 before step 1, then "
              f"w <- w - lr * u. lr = {lr:g}, beta = {beta:g}.\nCode:\n" + _indent(code) +
              f"\n\nFor each of the {steps} steps give the grads, the velocities u (momentum) and the new "
              "w and b.")
    return Question("optimizer", seed, "SGD and momentum by hand", prompt, want, checked)


# -- convolution by hand ---------------------------------------------------------------------------------


def conv_answers(X: np.ndarray, Wk: np.ndarray, G: np.ndarray, stride: int,
                 padding: int) -> dict[str, Answer]:
    """The 7-loop definition of the convolution (cross-correlation) and its input grad, by hand.

    ``X`` is ``(N, Cin, H, W)``, ``Wk`` the filter bank ``(Cout, Cin, K, K)``, ``G`` the
    output's grad. ``dL/dXin`` scatters each output grad back through the kernel: for
    stride 1 it is the convolution of ``G`` with the flipped filter, padded by ``K-1-p``.
    """
    N, Cin, H, W = X.shape
    Cout, _, K, _ = Wk.shape
    Hout, Wout = (H + 2 * padding - K) // stride + 1, (W + 2 * padding - K) // stride + 1
    out = np.zeros((N, Cout, Hout, Wout))
    dX = np.zeros_like(X)
    for n in range(N):
        for co in range(Cout):
            for i in range(Hout):
                for j in range(Wout):
                    for ci in range(Cin):
                        for ki in range(K):
                            for kj in range(K):
                                r, c = i * stride + ki - padding, j * stride + kj - padding
                                if 0 <= r < H and 0 <= c < W:
                                    out[n, co, i, j] += X[n, ci, r, c] * Wk[co, ci, ki, kj]
                                    dX[n, ci, r, c] += G[n, co, i, j] * Wk[co, ci, ki, kj]
    answers: dict[str, Answer] = {"Xout.shape": out.shape}
    for co in range(Cout):
        answers[f"Xout[0][{co}]"] = out[0, co]
    if Cin == 1 and Cout == 1:
        answers["flipped filter"] = Wk[0, 0, ::-1, ::-1].copy()
    for ci in range(Cin):
        answers[f"dL/dXin[0][{ci}]"] = dX[0, ci]
    return answers


def conv_question(seed: int = 0) -> Question:
    """A convolution output by hand (the 7-loop definition on a tiny input) and its input grad.

    Checked against ``ag.nn.functional.conv2d`` (the course's im2col path) and its backward;
    the flipped filter (one channel) against ``dL/dXin = conv(G, flip(W), padding=K-1-p)``.

    >>> q = conv_question(seed=2)
    >>> q.checks == len(q.answers) and "Xout[0][0]" in q.answers
    True
    """
    import ag
    import ag.nn.functional as F

    rng = np.random.default_rng(seed)
    Cin, Cout = int(rng.choice([1, 1, 2])), int(rng.choice([1, 1, 2]))
    K = int(rng.choice([2, 2, 3]))
    padding = int(rng.choice([0, 0, 1])) if K == 3 else 0
    H = Wd = int(rng.choice([3, 4])) if K == 2 else 4
    X = rng.integers(-1, 3, size=(1, Cin, H, Wd)).astype(float)
    bank = rng.integers(-1, 2, size=(Cout, Cin, K, K)).astype(float)
    bank[bank.reshape(Cout, -1).sum(axis=1) == 0, 0, 0, 0] = 1.0  # no all-zero filter
    Hout = H + 2 * padding - K + 1
    G = rng.integers(-1, 2, size=(1, Cout, Hout, Hout)).astype(float)
    want = conv_answers(X, bank, G, 1, padding)
    weight = np.ascontiguousarray(bank.reshape(Cout, Cin * K * K).T)  # the course's (Cin*K*K, Cout)
    xt = ag.tensor(X.copy(), requires_grad=True)
    out = F.conv2d(xt, ag.tensor(weight), padding=padding)
    ag.sum(out * ag.tensor(G)).backward()
    got: dict[str, Answer] = {"Xout.shape": tuple(out.shape)}
    for co in range(Cout):
        got[f"Xout[0][{co}]"] = np.asarray(out.value[0, co])
    if Cin == 1 and Cout == 1:
        # the flipped filter is the one whose convolution with G (padded K-1-p) gives dL/dXin
        flipped = want["flipped filter"]
        full = F.conv2d(ag.tensor(G), ag.tensor(flipped.reshape(K * K, 1)), padding=K - 1 - padding).value
        same = np.allclose(full, xt.grad)
        got["flipped filter"] = flipped if same else np.full_like(flipped, np.nan)
    for ci in range(Cin):
        got[f"dL/dXin[0][{ci}]"] = np.asarray(xt.grad[0, ci])
    checked = _check_all(want, got, "conv")
    code = (f"Xin = ag.tensor({_ints(X)}, requires_grad=True)   # (N, Cin, H, W) = {X.shape}\n"
            f"filters = np.array({_ints(bank)})   # (Cout, Cin, K, K) = {bank.shape}\n"
            f"Xout = conv(Xin, filters, stride=1, padding={padding})\n"
            f"G = np.array({_ints(G)})   # dL/dXout\n"
            "L = ag.sum(Xout * G)")
    def grid(name: str, a: np.ndarray) -> str:
        width = max(len(str(int(v))) for v in a.ravel())
        rows = ["  ".join(str(int(v)).rjust(width) for v in row) for row in a]
        return f"# {name}:\n" + "\n".join("#   " + r for r in rows)

    pictures = [grid(f"Xin[0][{ci}]", X[0, ci]) for ci in range(Cin)]
    pictures += [grid(f"filters[{co}][{ci}]", bank[co, ci]) for co in range(Cout) for ci in range(Cin)]
    pictures += [grid(f"G[0][{co}]", G[0, co]) for co in range(Cout)]
    code += "\n\n# the same numbers as matrices\n" + "\n".join(pictures)
    loops = ("for n, co, i, j, ci, ki, kj:   # seven loops\n"
             "    Xout[n, co, i, j] += Xin[n, ci, i + ki - p, j + kj - p] * filters[co, ci, ki, kj]"
             "   # 0 outside Xin")
    extra = (" Give also the flipped filter (turned by 180 degrees) with which dL/dXin = "
             f"conv(G, flipped, padding={K - 1 - padding})." if Cin == 1 and Cout == 1 else "")
    prompt = ("A convolution (the course's cross-correlation, no bias) by its definition:\nCode:\n" +
              _indent(code + "\n\n" + loops) + "\n\nGive the shape of Xout, every entry of Xout (one "
              "matrix per output channel) and dL/dXin for L = sum(Xout * G)." + extra)
    return Question("conv", seed, "Convolution by hand", prompt, want, checked)


QUESTION_KINDS: dict[str, Callable[[int], Question]] = {
    "im2col": im2col_question, "remat": remat_question, "attention": attention_question,
    "network": network_question, "softmax": softmax_regression_question,
    "optimizer": optimizer_question, "conv": conv_question,
}


def question(kind: str, seed: int = 0) -> Question:
    """A question of ``kind`` (one of :data:`QUESTION_KINDS`), its every answer checked against the kit."""
    if kind not in QUESTION_KINDS:
        raise ValueError(f"ag exam: unknown --kind {kind!r}; choose from scalar, {', '.join(QUESTION_KINDS)}")
    return QUESTION_KINDS[kind](seed)
