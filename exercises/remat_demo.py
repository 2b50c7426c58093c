"""Rematerialization: what checkpointing an N-layer MLP chain saves, and what it costs.

Run ``python exercises/remat_demo.py`` (or ``ag remat``). For a chain of N layers
``relu(h @ W + b)`` (N=64, width 512, batch 64 by default) it compares

* no checkpoints: every intermediate value stays alive until backward;
* every k-th layer: ``ag.checkpoint_sequential`` with segments of k layers;
* sqrt(N) segments: the choice that balances N/k kept outputs against k rebuilt layers;

and prints, for each, the peak activation memory (tracemalloc, and the kit's own
count of bytes held by live node values), forward/backward times and the number of
nodes rebuilt during backward. It also plots memory against compute with the
theoretical O(N/k + k) curve (``out/remat_tradeoff.png``, needs matplotlib: ``pip
install "ag-autograd[plot]"``) and draws a 9-layer chain with the checkpointed values marked
and the freed ones greyed out (``out/remat_chain.svg``, needs Graphviz's ``dot``).

Small and quick: ``python exercises/remat_demo.py --layers 16 --width 64 --no-plot``.
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import ag
from ag import nn, remat


@dataclass
class Result:
    """One setting's measurements (bytes and seconds)."""

    name: str
    k: int  # layers per segment (N for the plain run: nothing is rebuilt)
    segments: int | None  # None: no checkpoints
    kept: int  # node values alive after the forward
    peak_tracemalloc: int
    peak_kit: int
    forward: float
    backward: float
    recomputed: int

    @property
    def total(self) -> float:
        return self.forward + self.backward


# -- the model -----------------------------------------------------------------------------------------


def build_chain(n_layers: int, width: int, dropout: float = 0.0, seed: int = 0) -> list:
    """``n_layers`` x (Linear, ReLU[, Dropout]) as a flat list of modules."""
    nn.init.manual_seed(seed)
    layers: list = []
    for _ in range(n_layers):
        layers += [nn.Linear(width, width, init="kaiming_normal"), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
    return layers


def loss_of(layers: list, x: ag.Tensor, segments: int | None, per_layer: int) -> ag.Tensor:
    """Forward pass and a scalar loss; ``segments=None`` is the plain run."""
    if segments is None:
        h = x
        for layer in layers:
            h = layer(h)
    else:
        # checkpoint_sequential splits the flat list; keep each model layer's modules together
        blocks = [nn.Sequential(*layers[i:i + per_layer]) for i in range(0, len(layers), per_layer)]
        h = ag.checkpoint_sequential(blocks, segments, x)
    return (h * h).mean()


# -- measuring -----------------------------------------------------------------------------------------


def _fresh_grads(params: list) -> None:
    # Parameter gradients are preallocated (as after a first step), so the peaks below
    # are activation memory, not the weight gradients every setting needs equally.
    for p in params:
        p.grad = np.zeros_like(p.value)


def measure_memory(
    layers: list, x: ag.Tensor, segments: int | None, per_layer: int
) -> tuple[int, int, int, int]:
    """(tracemalloc peak, kit-count peak, values kept after the forward, nodes rebuilt)."""
    params = [p for layer in layers for p in layer.parameters()]
    tracemalloc.start()
    # traced from their allocation, so a gradient replaced by a new array is a wash
    _fresh_grads(params)
    gc.collect()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    loss = loss_of(layers, x, segments, per_layer)
    loss.backward()
    peak_tm = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    del loss

    _fresh_grads(params)
    gc.collect()
    base = remat.live_tensor_bytes()
    remat.stats.reset()
    with remat.MemoryMeter() as meter:
        loss = loss_of(layers, x, segments, per_layer)
        kept = meter.sample() - base
        loss.backward()
    recomputed = remat.stats.recomputed_nodes
    del loss
    return peak_tm, meter.peak - base, kept, recomputed


def measure_time(layers: list, x: ag.Tensor, segments: int | None, per_layer: int) -> tuple[float, float]:
    params = [p for layer in layers for p in layer.parameters()]
    _fresh_grads(params)
    gc.collect()
    t0 = time.perf_counter()
    loss = loss_of(layers, x, segments, per_layer)
    t1 = time.perf_counter()
    loss.backward()
    t2 = time.perf_counter()
    del loss
    return t1 - t0, t2 - t1


def run_units(ks: list[int], repeats: int) -> int:
    """How many measurements ``run`` makes (for the progress bar): warm-up, timed, memory."""
    return 1 + (repeats + 1) * (len(ks) + 1)


def run(n_layers: int, width: int, batch: int, ks: list[int], repeats: int, dropout: float,
        seed: int = 0, progress=None) -> list[Result]:
    """Measure the plain chain and one checkpointed chain per segment length in ``ks``.

    ``progress`` (a tqdm bar, or None) advances by one per measurement (``run_units``).
    """
    tick = progress.update if progress is not None else (lambda n=1: None)
    layers = build_chain(n_layers, width, dropout, seed)
    per_layer = 3 if dropout else 2
    x = ag.tensor(np.random.default_rng(seed + 1).standard_normal((batch, width)), requires_grad=False)
    settings: list[tuple[str, int, int | None]] = [("no checkpoints", n_layers, None)]
    for k in ks:
        segments = math.ceil(n_layers / k)
        settings.append((f"segments of {k}", k, segments))
    times = {name: ([], []) for name, _, _ in settings}
    measure_time(layers, x, None, per_layer)  # warm up (page faults, caches)
    tick()
    for _ in range(repeats):  # interleaved, so a busy moment hits every setting alike
        for name, _, segments in settings:
            f, b = measure_time(layers, x, segments, per_layer)
            times[name][0].append(f)
            times[name][1].append(b)
            tick()
    results = []
    for name, k, segments in settings:
        peak_tm, peak_kit, kept, recomputed = measure_memory(layers, x, segments, per_layer)
        tick()
        fwd, bwd = times[name]
        # the minimum is the least disturbed run on a shared machine
        results.append(Result(name, k, segments, kept, peak_tm, peak_kit, min(fwd), min(bwd), recomputed))
    return results


# -- reporting -----------------------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    """The measurements as a Markdown table, ratios against the plain run."""
    plain = results[0]
    head = ("| setting | kept after fwd (MB) | peak tracemalloc (MB) | x plain | peak kit count (MB) "
            "| x plain | fwd (ms) | bwd (ms) | fwd+bwd (ms) | x plain | rebuilt nodes |")
    rows = [head, "|" + "---|" * 11]
    for r in results:
        rows.append(
            f"| {r.name} | {r.kept / 1e6:.3g} | {r.peak_tracemalloc / 1e6:.3g} | "
            f"{r.peak_tracemalloc / plain.peak_tracemalloc:.2f} | {r.peak_kit / 1e6:.3g} | "
            f"{r.peak_kit / plain.peak_kit:.2f} | {r.forward * 1e3:.3g} | {r.backward * 1e3:.3g} | "
            f"{r.total * 1e3:.3g} | {r.total / plain.total:.2f} | {r.recomputed} |"
        )
    return "\n".join(rows)


def theory_bytes(n_layers: int, k: float, act: int, values_per_layer: int) -> float:
    """Kit-count model: N/k kept segment outputs + k rebuilt layers of ``values_per_layer`` values."""
    return act * (n_layers / k + values_per_layer * k)


def plot(sweep: list[Result], n_layers: int, act: int, values_per_layer: int, path: Path) -> Path | None:
    """Peak memory against segment length (with the O(N/k + k) curve) and against compute."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print('matplotlib is not installed: pip install "ag-autograd[plot]" (skipping the plot)')
        return None
    plain, ckpt = sweep[0], sweep[1:]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    ks = np.array([r.k for r in ckpt], dtype=float)
    grid = np.geomspace(ks.min(), ks.max(), 200)
    left.plot(grid, theory_bytes(n_layers, grid, act, values_per_layer) / 1e6, "-", color="#9ca3af",
              label=f"theory: a·(N/k + {values_per_layer}k)")
    left.plot(ks, [r.peak_kit / 1e6 for r in ckpt], "o-", color="#1d4ed8", label="kit count (node values)")
    left.plot(ks, [r.peak_tracemalloc / 1e6 for r in ckpt], "s--", color="#b45309", label="tracemalloc (all)")
    left.axhline(plain.peak_kit / 1e6, color="#1d4ed8", ls=":", label="no checkpoints (kit count)")
    left.axhline(plain.peak_tracemalloc / 1e6, color="#b45309", ls=":", label="no checkpoints (tracemalloc)")
    k_best = math.sqrt(n_layers / values_per_layer)
    left.axvline(k_best, color="#16a34a", ls="-.", lw=1,
                 label=f"theory's best k = sqrt(N/{values_per_layer})")
    left.set_xscale("log", base=2)
    left.set_xlabel("segment length k (layers per checkpoint)")
    left.set_ylabel("peak activation memory (MB)")
    left.set_title(f"memory, N = {n_layers}")
    left.legend(fontsize=7)
    for r in sweep:
        where = (r.total / plain.total, r.peak_kit / plain.peak_kit)
        right.scatter(*where, color="#1d4ed8" if r.segments else "#b91c1c")
        right.annotate("plain" if r.segments is None else f"k={r.k}", where,
                       textcoords="offset points", xytext=(5, 3), fontsize=8)
    right.axvline(4 / 3, color="#9ca3af", ls=":", label="+1 forward: (F + 2F + F) / 3F")
    right.set_xlabel("forward + backward time / plain")
    right.set_ylabel("peak memory (kit count) / plain")
    right.set_title("memory vs compute")
    right.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def draw_chain(n_layers: int = 9, segments: int = 3, width: int = 4) -> object:
    """A ``graphviz.Digraph`` of an n-layer chain: checkpointed values marked, freed ones grey.

    Which values are kept is read off the kit: a layer output counts as kept when a
    checkpoint node of ``checkpoint_sequential`` holds exactly that value.
    """
    import graphviz

    from ag.viz import STYLES, html_text

    layers = build_chain(n_layers, width)
    x = ag.tensor(np.random.default_rng(0).standard_normal((2, width)), requires_grad=False, label="x")
    outputs, h = [], x
    for i in range(0, 2 * n_layers, 2):
        h = layers[i + 1](layers[i](h))
        outputs.append(h.value)
    blocks = [nn.Sequential(*layers[i:i + 2]) for i in range(0, 2 * n_layers, 2)]
    y = ag.checkpoint_sequential(blocks, segments, x)
    kept_values = [n.value for n in ag.topological_sort(y) if n.op == "checkpoint"]
    kept = [any(np.array_equal(v, k) for k in kept_values) for v in outputs]
    bounds = remat.segment_bounds(n_layers, segments)

    g = graphviz.Digraph("remat_chain")
    g.attr(rankdir="LR", nodesep="0.3", ranksep="0.35", fontname="Helvetica", labelloc="t", fontsize="13",
           label=html_text(f"{n_layers}-layer chain, {segments} checkpointed segments: only the "
                           "marked values stay alive after the forward; grey ones are freed and rebuilt "
                           "in backward"))
    g.attr("node", shape="box", style="rounded,filled", fontname="Helvetica", fontsize="10")
    kept_style = {"fillcolor": "#dcfce7", "color": "#15803d", "penwidth": "2.5"}
    freed_style = {**STYLES["pending"], "style": "rounded,filled,dashed"}
    g.node("x", label="<<B>x</B><BR/>input (kept)>", **STYLES["leaf"])
    for s, (lo, hi) in enumerate(bounds):
        with g.subgraph(name=f"cluster_{s}") as c:
            c.attr(label=f"segment {s + 1}: checkpoint node, rebuilt in backward", style="rounded,dashed",
                   color="#6b7280", fontsize="9")
            for i in range(lo, hi):
                what = "kept: checkpoint" if kept[i] else "freed"
                label = (f"<<B>h{i + 1}</B><BR/>relu(h{i} W{i + 1} + b{i + 1})<BR/>"
                         f"matmul, add: freed<BR/>relu: {what}>")
                c.node(f"h{i + 1}", label=label, **(kept_style if kept[i] else freed_style))
    g.node("loss", label="<<B>loss</B><BR/>mean(h²)>", **STYLES["output"])
    previous = "x"
    for i in range(n_layers):
        g.edge(previous, f"h{i + 1}")
        previous = f"h{i + 1}"
    g.edge(previous, "loss")
    return g


# -- the command ----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ag remat",
        description="Memory vs compute of gradient checkpointing on an N-layer MLP chain.",
    )
    p.add_argument("--layers", "-N", type=int, default=64, help="chain depth N (default 64)")
    p.add_argument("--width", type=int, default=512, help="layer width (default 512)")
    p.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--every", "-k", type=int, default=4, help="the 'every k-th layer' setting (default 4)")
    p.add_argument("--repeats", type=int, default=5,
                   help="timed runs per setting; the fastest counts (default 5)")
    p.add_argument("--dropout", type=float, default=0.0, help="add Dropout(p) to every layer")
    p.add_argument("--no-plot", action="store_true", help="skip the k sweep, the plot and the drawing")
    p.add_argument("--out", type=Path, default=Path("out"),
                   help="folder for the plot (remat_tradeoff.png) and the drawing (remat_chain.svg); "
                   "default out/ (`--out docs` refreshes the README's figures)")
    p.add_argument("--plot", type=Path, default=None,
                   help="where the plot goes (default OUT/remat_tradeoff.png)")
    p.add_argument("--drawing", type=Path, default=None,
                   help="where the chain drawing goes (default OUT/remat_chain.svg)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    n = args.layers
    if n < 1 or args.every < 1 or args.width < 1 or args.batch < 1:
        print("ag remat: --layers, --width, --batch and --every must be positive", file=sys.stderr)
        return 2
    plot_path = args.plot or args.out / "remat_tradeoff.png"
    drawing_path = args.drawing or args.out / "remat_chain.svg"
    sqrt_k = math.ceil(n / remat.sqrt_segments(n))
    ks = [k for k in (1, 2, 4, 8, 16, 32, 64, 128) if k <= n]
    units = run_units([args.every, sqrt_k], args.repeats)
    units += 0 if args.no_plot else run_units(ks, args.repeats)
    from tqdm.auto import tqdm

    bar = tqdm(total=units, desc="ag remat: measuring", unit="run", disable=args.no_progress, leave=False)
    print(f"N = {n} layers of relu(h @ W + b), width {args.width}, batch {args.batch}, float64"
          + (f", dropout {args.dropout}" if args.dropout else ""))
    with bar:
        results = run(n, args.width, args.batch, [args.every, sqrt_k], args.repeats, args.dropout,
                      progress=bar)
        sweep = None if args.no_plot else run(n, args.width, args.batch, ks, args.repeats, args.dropout,
                                              progress=bar)
    results[1].name = f"every {args.every}th layer"
    results[2].name = f"sqrt(N) = {remat.sqrt_segments(n)} segments"
    print(table(results))
    plain, root = results[0], results[2]
    mem_ratio = root.peak_kit / plain.peak_kit
    tm_ratio = root.peak_tracemalloc / plain.peak_tracemalloc
    time_ratio = root.total / plain.total
    targets = n == 64  # the targets are stated for N = 64
    print(f"\nsqrt(N) segments: peak activation memory {tm_ratio:.2f}x (tracemalloc), "
          f"{mem_ratio:.2f}x (kit count) of the plain run{' [target <= 0.32x]' if targets else ''}; "
          f"forward+backward {time_ratio:.2f}x{' [target <= 1.4x]' if targets else ''}")
    if sweep is None:
        return 0
    act = args.batch * args.width * 8
    values_per_layer = 4 if args.dropout else 3
    out = plot(sweep, n, act, values_per_layer, plot_path)
    if out:
        print(f"wrote {out}")
    try:
        from ag.viz import render

        print(f"wrote {render(draw_chain(), drawing_path)}")
    except Exception as err:  # no dot program: say so, the numbers above still stand
        print(f"could not draw the chain: {err}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
