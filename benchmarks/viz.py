"""How fast tracing and drawing are: the figures the README quotes.

    python benchmarks/viz.py

* recording a backward trace of a 10,000-node Scalar graph (and the same backward
  pass untraced, for the overhead);
* the DOT text of a 2,000-node graph;
* for scale, the text table of the 10,000-node trace and the SVG of a 200-node graph.

Each figure is the best of several runs, in milliseconds.
"""

from __future__ import annotations

import shutil
import time

import ag
from ag import viz


def graph(n_nodes: int) -> ag.Scalar:
    """A DAG of about ``n_nodes`` Scalars: each new node mixes the last two (shared inputs)."""
    a, b = ag.Scalar(0.5, label="a"), ag.Scalar(-0.25, label="b")
    nodes = 2
    while nodes < n_nodes - 1:
        a, b = b, ag.tanh(a * 0.3 + b)  # mul (+ const leaf), add, tanh: 4 nodes
        nodes += 4
    return b * b


def best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def main() -> None:
    big = graph(10_000)
    n_big = len(big.topological_sort())

    def traced():
        with ag.trace():
            big.backward()

    plain_ms = best(big.backward)
    traced_ms = best(traced)
    with ag.trace() as t:
        big.backward()
    run = t.last
    text_ms = best(lambda: run.text(), repeat=3)

    medium = graph(2_000)
    n_medium = len(medium.topological_sort())
    medium.backward()
    dot_ms = best(lambda: viz.to_dot(medium))

    print(f"backward, {n_big} nodes, untraced:          {plain_ms:8.1f} ms")
    print(f"backward, {n_big} nodes, recording a trace: {traced_ms:8.1f} ms "
          f"(+{traced_ms - plain_ms:.1f} ms for the record)")
    print(f"text table of that trace ({len(run.steps)} iterations):   {text_ms:8.1f} ms")
    print(f"DOT text of a {n_medium}-node graph:           {dot_ms:8.1f} ms")
    if shutil.which("dot"):
        small = graph(200)
        small.backward()
        svg_ms = best(lambda: viz.to_svg(small), repeat=3)
        print(f"SVG of a {len(small.topological_sort())}-node graph (Graphviz dot):  {svg_ms:8.1f} ms")


if __name__ == "__main__":
    main()
