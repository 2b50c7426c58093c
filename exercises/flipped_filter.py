"""The flipped filter: dL/dXin is a convolution of dL/dXout with the flipped filter.

    python exercises/flipped_filter.py

For a stride-1 convolution ``Xout = conv(Xin, W)`` with padding ``p``, each input
pixel reaches the outputs through every kernel position, mirrored. So

    dL/dXin = conv(dL/dXout, flip(W), padding = K - 1 - p)

where ``flip(W)`` turns each K x K kernel by 180 degrees and swaps the roles of
input and output channels. (In matrix terms: the forward multiplies by the im2col
matrix then by W; the backward multiplies by their transposes, and a transposed
convolution is the convolution with the flipped filter.)

The script backpropagates through ``ag.nn.functional.conv2d`` and computes the
right-hand side with the same conv2d, then prints both: first a 1-channel example
small enough to read, then a multi-channel one with padding, and what goes wrong
when the filter is not flipped.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import ag  # noqa: E402
import ag.nn.functional as F  # noqa: E402


def flip_filter(weight: np.ndarray, Cin: int, K: int, flip: bool = True) -> np.ndarray:
    """The course-layout ``(Cin*K*K, Cout)`` weight of the backward convolution.

    As a PyTorch-layout filter bank ``(Cout, Cin, K, K)``, rotate each kernel by 180
    degrees and swap the two channel axes; then back to the course layout, which for
    the backward conv (Cout channels in, Cin out) is ``(Cout*K*K, Cin)``.
    """
    Cout = weight.shape[1]
    bank = weight.T.reshape(Cout, Cin, K, K)
    if flip:
        bank = bank[:, :, ::-1, ::-1]
    swapped = bank.transpose(1, 0, 2, 3)  # (Cin, Cout, K, K): Cout is now the input side
    return np.ascontiguousarray(swapped.reshape(Cin, Cout * K * K).T)


def input_grad_by_backprop(x: np.ndarray, weight: np.ndarray, grad_out: np.ndarray, padding: int):
    xt = ag.tensor(x)
    out = F.conv2d(xt, ag.tensor(weight), padding=padding)
    out.backward(grad_out)
    return xt.grad


def compare(x, weight, grad_out, padding, show=False):
    K = int(round((weight.shape[0] / x.shape[1]) ** 0.5))
    backprop = input_grad_by_backprop(x, weight, grad_out, padding)
    full = K - 1 - padding  # pads the output gradient so that every input pixel is reached
    flipped = F.conv2d(grad_out, flip_filter(weight, x.shape[1], K), padding=full).value
    unflipped = F.conv2d(grad_out, flip_filter(weight, x.shape[1], K, flip=False), padding=full).value
    if show:
        np.set_printoptions(precision=3, suppress=True)
        print("filter W (K x K):\n", weight[:, 0].reshape(K, K))
        print("flipped filter:\n", flip_filter(weight, 1, K)[:, 0].reshape(K, K))
        print("dL/dXout (the output gradient):\n", grad_out[0, 0])
        print("dL/dXin by backprop:\n", backprop[0, 0])
        print(f"conv(dL/dXout, flipped W, padding={full}):\n", flipped[0, 0])
    return np.abs(backprop - flipped).max(), np.abs(backprop - unflipped).max()


def main() -> tuple[float, float]:
    rng = np.random.default_rng(0)

    print("== one channel, 5x5 image, 3x3 filter, no padding ==")
    x = rng.standard_normal((1, 1, 5, 5))
    w = np.arange(1.0, 10.0).reshape(9, 1)  # 1..9, so the flip is easy to see
    g = rng.integers(-2, 3, size=(1, 1, 3, 3)).astype(float)
    same, _ = compare(x, w, g, padding=0, show=True)
    print(f"max |difference| = {same:.2e}")

    print()
    print("== N=2, Cin=3 -> Cout=4, 7x6 images, K=3, padding=1 ==")
    x = rng.standard_normal((2, 3, 7, 6))
    w = rng.standard_normal((3 * 9, 4))
    g = rng.standard_normal((2, 4, 7, 6))
    same, wrong = compare(x, w, g, padding=1)
    print(f"max |backprop - conv with the flipped filter|   = {same:.2e}")
    print(f"max |backprop - conv with the unflipped filter| = {wrong:.2e}   (the flip matters)")
    return same, wrong


if __name__ == "__main__":
    main()
