"""From loops to BLAS, broadcasting, a 2-layer network's backward by hand, Modules, Kaiming init.

The path of fast.ai's "deep learning from the foundations" lesson 8, in NumPy and
checked against ag:

1. Matrix multiply four ways: three Python loops, one loop with a broadcast row,
   ``np.einsum``, and BLAS (``@``), with a measured speed table (``--speed``).
2. Broadcasting rules: :func:`broadcast_shape` by hand (align the shapes on the
   right; each pair of sizes must be equal or one of them 1).
3. A 2-layer network with a mean squared error, forward and backward written by hand
   (:func:`forward_and_backward`), the same as ag's gradients.
4. The same refactored into small Modules with ``forward``/``backward`` (:class:`Model`).
5. Kaiming init: the standard deviation of activations through a deep ReLU stack with
   N(0, 1) weights (explodes), N(0, 1/fan_in) (vanishes) and N(0, 2/fan_in) (stays).

    python exercises/fastai_lesson8.py            # answers to 2-5, checked against ag
    python exercises/fastai_lesson8.py --speed    # also the matmul speed table
"""

from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import ag  # noqa: E402

# -- 1. matrix multiply, from loops to BLAS ---------------------------------------------------------


def matmul_loops(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ar, ac = a.shape
    br, bc = b.shape
    assert ac == br, f"inner sizes differ: {ac} != {br}"
    c = np.zeros((ar, bc))
    for i in range(ar):
        for j in range(bc):
            for k in range(ac):
                c[i, j] += a[i, k] * b[k, j]
    return c


def matmul_broadcast(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    c = np.zeros((a.shape[0], b.shape[1]))
    for i in range(a.shape[0]):
        # row i as a column (ac, 1) broadcast against b (ac, bc), summed over the rows
        c[i] = (a[i, :, None] * b).sum(axis=0)
    return c


def matmul_einsum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ik,kj->ij", a, b)


def matmul_blas(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a @ b


MATMULS = {"three loops": matmul_loops, "broadcast row": matmul_broadcast,
           "einsum": matmul_einsum, "BLAS (@)": matmul_blas}


def speed_table(rows: int = 5, inner: int = 784, cols: int = 10, seed: int = 0) -> list[tuple[str, float]]:
    """Seconds per call of each matmul on (rows x inner) @ (inner x cols), measured here."""
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((rows, inner)), rng.standard_normal((inner, cols))
    out = []
    for name, fn in MATMULS.items():
        number = 1 if fn is matmul_loops else 200
        out.append((name, min(timeit.repeat(lambda fn=fn: fn(a, b), number=number, repeat=3)) / number))
    return out


# -- 2. broadcasting rules ---------------------------------------------------------------------------


def broadcast_shape(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The shape NumPy broadcasts ``shapes`` to, by the rules: align on the right; sizes
    must be equal or 1; a missing leading size counts as 1.

    >>> broadcast_shape((256, 256, 3), (3,)), broadcast_shape((8, 1, 6, 1), (7, 1, 5))
    ((256, 256, 3), (8, 7, 6, 5))
    """
    ndim = max(len(s) for s in shapes)
    out = []
    for axis in range(-ndim, 0):
        sizes = {s[axis] for s in shapes if len(s) >= -axis} - {1}
        if len(sizes) > 1:
            raise ValueError(f"shapes {shapes} do not broadcast: sizes {sorted(sizes)} on axis {axis}")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


# -- 3. a 2-layer network with MSE, by hand ------------------------------------------------------------


def forward_and_backward(x: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray,
                         y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    """loss = mean((relu(x @ w1 + b1) @ w2 + b2 - y)**2), and its gradients by the chain rule."""
    l1 = x @ w1 + b1
    l2 = np.maximum(l1, 0)
    out = (l2 @ w2 + b2)[:, 0]
    loss = float(((out - y) ** 2).mean())
    d_out = 2 * (out - y)[:, None] / len(y)           # mse_grad
    grads = {"w2": l2.T @ d_out, "b2": d_out.sum(0)}  # lin_grad of the second layer
    d_l2 = d_out @ w2.T
    d_l1 = d_l2 * (l1 > 0)                            # relu_grad
    grads.update(w1=x.T @ d_l1, b1=d_l1.sum(0), x=d_l1 @ w1.T)
    return loss, grads


def ag_gradients(x, w1, b1, w2, b2, y) -> tuple[float, dict[str, np.ndarray]]:
    """The same loss in ag, and its gradients by ag's backward."""
    given = dict(x=x, w1=w1, b1=b1, w2=w2, b2=b2)
    ts = {k: ag.tensor(v.copy(), requires_grad=True) for k, v in given.items()}
    out = (ag.relu(ts["x"] @ ts["w1"] + ts["b1"]) @ ts["w2"] + ts["b2"])[:, 0]
    loss = ag.mean((out - ag.tensor(y)) ** 2)
    loss.backward()
    return float(loss.value), {k: t.grad for k, t in ts.items()}


# -- 4. the same as Modules ----------------------------------------------------------------------------


class Module:
    """Remembers its inputs and output so that backward() can fill in their gradients."""

    def __call__(self, *args):
        self.args = args
        self.out = np.asarray(self.forward(*args)).view(Array)  # an array that can hold .g
        return self.out

    def forward(self, *args):
        raise NotImplementedError

    def backward(self):
        self.bwd(self.out, *self.args)


class Relu(Module):
    def forward(self, inp):
        return np.maximum(inp, 0)

    def bwd(self, out, inp):
        inp.g = out.g * (inp > 0)


class Lin(Module):
    def __init__(self, w, b):
        self.w, self.b = w, b

    def forward(self, inp):
        return inp @ self.w + self.b

    def bwd(self, out, inp):
        inp.g = out.g @ self.w.T
        self.w.g = inp.T @ out.g
        self.b.g = out.g.sum(0)


class Mse(Module):
    def forward(self, inp, targ):
        return ((inp[:, 0] - targ) ** 2).mean()

    def bwd(self, out, inp, targ):
        inp.g = 2 * (inp[:, 0] - targ)[:, None] / targ.shape[0]


class Array(np.ndarray):
    """An ndarray that can carry a ``.g`` (gradient) attribute, as the lesson's tensors do."""


class Model:
    def __init__(self, w1, b1, w2, b2):
        self.layers = [Lin(w1, b1), Relu(), Lin(w2, b2)]
        self.loss = Mse()

    def __call__(self, x, targ):
        for layer in self.layers:
            x = layer(x)
        return self.loss(x, targ)

    def backward(self):
        self.loss.backward()
        for layer in reversed(self.layers):
            layer.backward()


# -- 5. Kaiming init ----------------------------------------------------------------------------------


def activation_stds(init: str, depth: int = 20, width: int = 256, batch: int = 512,
                    seed: int = 0) -> list[float]:
    """Std of the activations after each Linear+ReLU layer, for weights drawn by ``init``.

    ``normal``: N(0, 1); ``lecun``: N(0, 1/fan_in); ``kaiming``: N(0, 2/fan_in) (He et al.,
    the ReLU gain sqrt(2) making up for the half of the inputs relu zeroes).
    """
    rng = np.random.default_rng(seed)
    scale = {"normal": 1.0, "lecun": np.sqrt(1.0 / width), "kaiming": np.sqrt(2.0 / width)}[init]
    h = rng.standard_normal((batch, width))
    stds = []
    for _ in range(depth):
        h = np.maximum(h @ (rng.standard_normal((width, width)) * scale), 0)
        stds.append(float(h.std()))
    return stds


def data(seed: int = 0, n: int = 16, d: int = 5, hidden: int = 8):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)), rng.standard_normal((d, hidden)) * np.sqrt(2 / d), np.zeros(hidden),
            rng.standard_normal((hidden, 1)) / np.sqrt(hidden), np.zeros(1), rng.standard_normal(n))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--speed", action="store_true", help="measure the matmul speed table")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 7)), rng.standard_normal((7, 3))
    print("1. matmul four ways agree:", all(np.allclose(fn(a, b), a @ b) for fn in MATMULS.values()))
    if args.speed:
        table = speed_table()
        slowest = table[0][1]
        print("   (5 x 784) @ (784 x 10), seconds per call, measured now:")
        for name, sec in table:
            print(f"   {name:14s} {sec:10.2e}   {slowest / sec:10.0f}x the loops")
    print("2. broadcast_shape((8, 1, 6, 1), (7, 1, 5)) =", broadcast_shape((8, 1, 6, 1), (7, 1, 5)))
    x, w1, b1, w2, b2, y = data()
    loss, grads = forward_and_backward(x, w1, b1, w2, b2, y)
    ag_loss, ag_grads = ag_gradients(x, w1, b1, w2, b2, y)
    same = np.isclose(loss, ag_loss) and all(np.allclose(grads[k], ag_grads[k]) for k in grads)
    print(f"3. 2-layer MSE network: loss {loss:.6f}; hand-written grads == ag's: {same}")
    model = Model(*(v.view(Array) for v in (w1, b1, w2, b2)))
    xs = x.view(Array)
    model_loss = model(xs, y)
    model.backward()
    same = np.isclose(model_loss, loss) and np.allclose(model.layers[0].w.g, grads["w1"]) and np.allclose(
        xs.g, grads["x"])
    print(f"4. the same as Modules: loss {float(model_loss):.6f}; grads equal: {same}")
    for init in ("normal", "lecun", "kaiming"):
        stds = activation_stds(init)
        print(f"5. {init:8s} init: activation std after layers 1, 10, 20: "
              f"{stds[0]:.3g}, {stds[9]:.3g}, {stds[19]:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
