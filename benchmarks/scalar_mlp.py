"""ag.Scalar against micrograd on micrograd's own demo step, in one process.

Workload: an MLP 2-16-16-1 on 64 "moons" points; one step is the forward pass to
the hinge loss with L2 regularisation, zero grads, backward, and freeing the graph
(micrograd's closures form reference cycles, so its graphs wait for the cyclic
garbage collector; ag's are freed by reference counting). The two engines run
interleaved, and the script prints medians and the ratio.

    python benchmarks/scalar_mlp.py [--repeats 15]

micrograd is optional (`pip install micrograd==0.1.0`); without it only ag runs.
Also a depth probe: backward through a chain of 1,000,000 nodes.
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ag  # noqa: E402


def moons(n: int, seed: int = 0) -> tuple[list[list[float]], list[float]]:
    """Two interleaved half circles with labels -1/+1 (like sklearn's make_moons)."""
    rng = random.Random(seed)
    xs, ys = [], []
    for i in range(n):
        t = math.pi * rng.random()
        if i % 2 == 0:
            x, y, label = math.cos(t), math.sin(t), -1.0
        else:
            x, y, label = 1 - math.cos(t), 0.5 - math.sin(t), 1.0
        xs.append([x + rng.gauss(0, 0.1), y + rng.gauss(0, 0.1)])
        ys.append(label)
    return xs, ys


class Neuron:
    """micrograd's Neuron, written against any Value/Scalar class."""

    def __init__(self, value_cls, nin: int, nonlin: bool, rng: random.Random) -> None:
        self.w = [value_cls(rng.uniform(-1, 1)) for _ in range(nin)]
        self.b = value_cls(0.0)
        self.nonlin = nonlin

    def __call__(self, x):
        act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return act.relu() if self.nonlin else act

    def parameters(self):
        return self.w + [self.b]


class MLP:
    def __init__(self, value_cls, nin: int, nouts: list[int], seed: int = 1) -> None:
        rng = random.Random(seed)
        sizes = [nin] + nouts
        self.layers = [
            [Neuron(value_cls, sizes[i], i != len(nouts) - 1, rng) for _ in range(sizes[i + 1])]
            for i in range(len(nouts))
        ]

    def __call__(self, x):
        for layer in self.layers:
            x = [n(x) for n in layer]
        return x[0]

    def parameters(self):
        return [p for layer in self.layers for n in layer for p in n.parameters()]


def make_step(value_cls, model: MLP, xs, ys):
    params = model.parameters()

    def step() -> int:
        inputs = [list(map(value_cls, row)) for row in xs]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * si).relu() for yi, si in zip(ys, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = 1e-4 * sum(p * p for p in params)
        total = data_loss + reg_loss
        for p in params:
            p.grad = 0.0
        total.backward()
        return total
    return step


def count_nodes(root) -> int:
    return len(ag.topological_sort(root))


def time_call(fn) -> float:
    # Freeing the graph is part of the step: for micrograd that is the cyclic
    # collector's work, so each timed step ends with a collection. Collecting
    # here also keeps one engine's garbage from being billed to the other.
    gc.collect()
    start = time.perf_counter()
    out = fn()
    del out
    gc.collect()
    return time.perf_counter() - start


def depth_probe(depth: int = 1_000_000) -> float:
    start = time.perf_counter()
    x = ag.Scalar(1.0)
    node = x
    for _ in range(depth):
        node = node * 1.0
    node.backward()
    assert x.grad == 1.0
    del node
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--depth", type=int, default=1_000_000)
    args = parser.parse_args()

    xs, ys = moons(64)
    engines = {"ag": ag.Scalar}
    try:
        from micrograd.engine import Value

        engines["micrograd"] = Value
    except ImportError:
        print("micrograd not installed (pip install micrograd==0.1.0): ag column only")
    steps = {name: make_step(cls, MLP(cls, 2, [16, 16, 1]), xs, ys) for name, cls in engines.items()}

    probe = steps["ag"]()
    nodes = count_nodes(probe)
    del probe
    for fn in steps.values():  # warm up
        time_call(fn)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.repeats):
        for name, fn in steps.items():  # interleaved, so drift hits both alike
            times[name].append(time_call(fn))

    print(f"MLP 2-16-16-1, 64 moons points, {nodes} nodes per step, {args.repeats} repeats")
    print(f"{'engine':<10} {'median ms':>10} {'us/node':>8}")
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, med in medians.items():
        print(f"{name:<10} {med * 1e3:>10.1f} {med / nodes * 1e6:>8.2f}")
    if "micrograd" in medians:
        print(f"ratio ag / micrograd: {medians['ag'] / medians['micrograd']:.3f} (target <= 0.15)")
    print(f"depth probe: backward through a chain of {args.depth:,} nodes in "
          f"{depth_probe(args.depth):.2f} s")


if __name__ == "__main__":
    main()
