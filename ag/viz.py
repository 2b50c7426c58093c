"""Drawing computation graphs the way the exam does, and backward traces frame by frame.

>>> import ag
>>> x = ag.Scalar(2.0, label="z1:leaf(x)")
>>> z2 = x * x
>>> z3 = z2 * z2
>>> z3.backward()
>>> g = ag.viz.draw(z3)          # a graphviz.Digraph: shows inline in Jupyter
>>> "z2:mul" in g.source
True

Layout: inputs on the left (every leaf in the first column), the output on the right
(``rankdir=LR``), and for a two-input op the left operand above the right one: edges
in operand order with ``ordering=in``, each node in the column of its depth with
invisible constraints between operands (:func:`_operand_order`), and, for the few
graphs where dot still puts a right operand level or above, a pinned layout solved
as a small linear program (:func:`_pin_if_out_of_order`). When two ops use the same
pair of nodes in opposite orders no drawing can satisfy both; it is drawn anyway. Unlabelled nodes are named
``z1, z2, ...`` by creation order within the graph (:func:`ag.trace.exam_names`).

Every label goes into an HTML-like Graphviz label after HTML escaping, so quotes,
``<script>``, braces, pipes and newlines in a label are shown as text.

``graphviz`` (the Python package) is imported inside the functions, so ``import ag``
stays fast. Rendering (SVG, PNG, PDF) needs Graphviz's ``dot`` program; DOT text
does not.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from ag.autodiff import topological_sort
from ag.number_format import NOT_REACHED, format_number, preview
from ag.trace_record import BackwardTrace, backward_trace, exam_names, needs_grad
from ag.trace_render import grad_cell, iteration_title

__all__ = [
    "draw",
    "to_dot",
    "to_svg",
    "render",
    "trace",
    "frame",
    "frames",
    "GraphvizNotFoundError",
    "INSTALL_HINT",
    "STYLES",
]

INSTALL_HINT = (
    "Install Graphviz: `sudo apt-get install graphviz` (Debian/Ubuntu), "
    "`brew install graphviz` (macOS) or `conda install graphviz`; see https://graphviz.org/download/. "
    "DOT text (ag.viz.to_dot) works without it."
)

# node kind -> Graphviz attributes
STYLES: dict[str, dict[str, str]] = {
    "leaf": {"fillcolor": "#dbeafe", "color": "#1d4ed8"},
    "parameter": {"fillcolor": "#fef3c7", "color": "#b45309", "penwidth": "2"},
    "intermediate": {"fillcolor": "#ffffff", "color": "#374151"},
    "output": {"fillcolor": "#fee2e2", "color": "#b91c1c", "penwidth": "2", "peripheries": "2"},
    # frame states
    "current": {"fillcolor": "#fde047", "color": "#dc2626", "penwidth": "3"},
    "updated": {"fillcolor": "#bbf7d0", "color": "#15803d", "penwidth": "2.5"},
    "pending": {"fillcolor": "#f3f4f6", "color": "#d1d5db", "fontcolor": "#9ca3af"},
}
KIND_NAMES = {
    "leaf": "leaf (input)",
    "parameter": "parameter",
    "intermediate": "intermediate",
    "output": "output",
    "current": "current iteration",
    "updated": "just received a grad",
    "pending": "not yet visited",
}
_FRAME_STATES = ("current", "updated", "pending")


class GraphvizNotFoundError(RuntimeError):
    """Rendering was asked for, but Graphviz's ``dot`` program is not installed."""


def _graphviz() -> Any:
    try:
        import graphviz
    except ImportError:  # pragma: no cover - graphviz is a dependency
        raise ImportError(
            "ag.viz needs the graphviz Python package: `pip install graphviz`; " + INSTALL_HINT
        ) from None
    return graphviz


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def html_text(text: Any) -> str:
    """``text`` for a Graphviz HTML-like label: escaped, newlines as ``<BR/>``.

    >>> html_text('a "b" <script>\\n{c|d}')
    'a &quot;b&quot; &lt;script&gt;<BR ALIGN="CENTER"/>{c|d}'
    """
    text = _CONTROL.sub(" ", str(text).replace("\r\n", "\n").replace("\r", "\n"))
    lines = (html.escape(line, quote=True).replace("&#x27;", "&#39;") for line in text.split("\n"))
    return '<BR ALIGN="CENTER"/>'.join(lines)


def node_kind(node: Any, root: Any) -> str:
    """How a node is drawn: ``output``, ``intermediate``, ``parameter`` (a Tensor that
    needs a grad) or ``leaf``."""
    if node is root:
        return "output"
    if node.inputs:
        return "intermediate"
    if getattr(node, "requires_grad", False) and hasattr(node.value, "shape"):
        return "parameter"
    return "leaf"


def _shape(value: Any) -> tuple | None:
    shape = getattr(value, "shape", None)
    if shape is None or isinstance(value, (int, float)):
        return None
    return tuple(shape)


def _value_text(value: Any, digits: int, width: int = 26) -> str:
    # a compact one-line value: a node stays narrow; the stepper's side panel has the matrices
    if not _shape(value):
        return format_number(value, digits)
    text = preview(value, width=width, digits=min(digits, 3))
    return re.sub(r" \([\dx]+\)$", "", text)  # the node's shape line already says the shape


def _node_label(
    node: Any, display: str, value: Any, grad: Any, *, values: bool, grads: bool, digits: int,
    show_op: bool = True, grad_text: str | None = None, width: int = 26,
) -> str:
    lines = [f"<B>{html_text(display)}</B>"]
    op = getattr(node, "op", "") or ""
    if show_op and op and op not in display:
        lines.append(f"op: {html_text(op)}")
    shape = _shape(value)
    if shape is not None and len(shape) > 0:
        lines.append(f"shape {html_text(shape)}")
    if values:
        lines.append(f"value = {html_text(_value_text(value, digits, width))}")
    if grads and grad_text is not None:
        lines.append(f"grad = {html_text(grad_text)}")
    elif grads and grad is not None:
        lines.append(f"grad = {html_text(_value_text(grad, digits, width))}")
    return "<" + '<BR ALIGN="CENTER"/>'.join(lines) + ">"


def _has_grads(order: list) -> bool:
    """Whether backward has run: some grad is nonzero (or an array grad exists)."""
    for node in order:
        g = node.grad
        if g is None:
            continue
        if _shape(g):
            return True
        if g != 0:
            return True
    return False


def _build(
    root: Any,
    order: list,
    values: list,
    grads: list | None,
    *,
    show_values: bool,
    show_grads: bool,
    op_nodes: bool,
    legend: bool,
    title: str | None,
    status: list[str] | None,
    digits: int,
    graph_name: str = "ag",
    grad_texts: list[str | None] | None = None,
    sizes: dict[str, tuple[str, str]] | None = None,
) -> Any:
    graphviz = _graphviz()
    short, display = exam_names(order)
    g = graphviz.Digraph(graph_name)
    g.attr(rankdir="LR", nodesep="0.25", ranksep="0.45", fontname="Helvetica")
    g.attr("node", shape="box", style="rounded,filled", fontname="Helvetica", fontsize="11")
    g.attr("edge", color="#6b7280", arrowsize="0.7")
    if title:
        g.attr(label="<" + html_text(title) + ">", labelloc="t", fontsize="13")
    ids = {id(n): f"n{i}" for i, n in enumerate(order)}
    kinds_used: list[str] = []
    for i, node in enumerate(order):
        kind = node_kind(node, root)
        attrs = dict(STYLES[kind])
        state = status[i] if status is not None else None
        if state in _FRAME_STATES:
            attrs.update(STYLES[state])
        if kind not in kinds_used:
            kinds_used.append(kind)
        nid = ids[id(node)]
        grad = grads[i] if (grads is not None and show_grads) else None
        title = getattr(node, "label", "") or display[id(node)]  # a label keeps its line breaks
        label = _node_label(
            node, str(title), values[i], grad, values=show_values, grads=show_grads,
            digits=digits, show_op=not op_nodes,
            grad_text=grad_texts[i] if grad_texts is not None and show_grads else None,
            width=20 if status is not None else 26,  # frames: narrower nodes, the side panel has all
        )
        if sizes and nid in sizes:  # the same box in every frame: the layout does not move
            attrs.update(width=sizes[nid][0], height=sizes[nid][1], fixedsize="true")
        g.node(nid, label=label, **attrs)
        if not node.inputs:
            continue
        head = nid
        if op_nodes:
            head = f"{nid}op"
            op_attrs = {"shape": "ellipse", "style": "filled", "fillcolor": "#f9fafb", "fontsize": "10"}
            if sizes and head in sizes:
                op_attrs.update(width=sizes[head][0], height=sizes[head][1], fixedsize="true")
            if state == "pending":
                op_attrs.update(fontcolor=STYLES["pending"]["fontcolor"], color=STYLES["pending"]["color"])
            g.node(head, label="<" + html_text(getattr(node, "op", "") or "?") + ">", **op_attrs)
        if len(node.inputs) > 1:  # edges in operand order, kept in that order (left on top)
            g.node(head, ordering="in")
        for inp in node.inputs:
            g.edge(ids[id(inp)], head)
        if op_nodes:
            g.edge(head, nid)
    constraints = _operand_order(g, order, ids, op_nodes)
    if legend:  # one table node: a cluster next to rank constraints crashes dot 2.43
        rows = []
        if status is not None:  # a frame: every state, so each frame has the same legend
            kinds_used += list(_FRAME_STATES)
        for k in sorted(kinds_used, key=list(STYLES).index):
            attrs = dict(STYLES[k])
            if k in _FRAME_STATES:
                attrs = {**STYLES["intermediate"], **attrs}
            font = attrs.get("fontcolor", "#000000")
            rows.append(f'<TR><TD BGCOLOR="{attrs["fillcolor"]}" COLOR="{attrs["color"]}" BORDER="1" '
                        f'STYLE="ROUNDED"><FONT POINT-SIZE="9" COLOR="{font}">'
                        f"{html_text(KIND_NAMES[k])}</FONT></TD></TR>")
        g.node("legend", shape="plaintext", style="", margin="0", label=(
            '<<TABLE BORDER="1" STYLE="ROUNDED,DASHED" COLOR="#9ca3af" CELLBORDER="0" CELLSPACING="3">'
            '<TR><TD><FONT POINT-SIZE="10">legend</FONT></TD></TR>' + "".join(rows) + "</TABLE>>"))
    _pin_if_out_of_order(g, constraints)
    return g


def _operand_order(g: Any, order: list, ids: dict[int, str], op_nodes: bool) -> None:
    """Make Graphviz keep every two-input op's left operand above its right one.

    ``ordering=in`` alone only orders edges next to the op, so an operand in another
    column can end up level with or above the left one (2 of 206 ops once did). Here
    each node gets the column of its depth (leaves all in the first), nodes sharing a
    column are chained in operand order by invisible edges, and an operand in another
    column than the right one gets an invisible stand-in placed above the right operand
    in that column and tied to the operand by a heavy straight edge.
    """
    step = 2 if op_nodes else 1
    column: dict[int, int] = {}
    for node in order:  # inputs come before their users in the order
        column[id(node)] = step * (1 + max(column[id(i)] for i in node.inputs)) if node.inputs else 0
    by_column: dict[int, list[str]] = {}
    for node in order:
        by_column.setdefault(column[id(node)], []).append(ids[id(node)])
    above: list[tuple[str, str]] = []  # (upper, lower) pairs in one column
    pairs: list[tuple[str, str]] = []
    for node in order:
        if len(node.inputs) != 2 or node.inputs[0] is node.inputs[1]:
            continue
        left, right = node.inputs
        a, b = ids[id(left)], ids[id(right)]
        pairs.append((a, b))
        ca, cb = column[id(left)], column[id(right)]
        if ca == cb:
            above.append((a, b))
            continue
        shadow = f"{a}_above_{b}"
        by_column[cb].append(shadow)
        g.node(shadow, label="", shape="point", width="0", height="0", style="invis")
        above.append((shadow, b))
        tail, head = (shadow, a) if cb < ca else (a, shadow)  # along the columns: ranks stay
        g.edge(tail, head, style="invis", weight="50")
    for c, names in sorted(by_column.items()):
        with g.subgraph() as same:
            same.attr(rank="min" if c == 0 else "same")
            for name in names:
                same.node(name)
            for upper, lower in above:
                if upper in names and lower in names:
                    same.edge(upper, lower, style="invis")
    return pairs


_PIN_LIMIT = 300  # nodes; a bigger drawing keeps dot's own layout


def _plain_positions(text: str) -> dict[str, tuple[float, float, float, float]]:
    """``name -> (x, y, width, height)`` in inches from Graphviz's ``plain`` output."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[0] == "node":
            out[parts[1]] = (float(parts[2]), float(parts[3]), float(parts[4]), float(parts[5]))
    return out


def _pin_if_out_of_order(g: Any, pairs: list[tuple[str, str]]) -> None:
    """If dot still put a right operand level with or above its left one, move nodes up or
    down (x kept) as little as possible so every left operand is above, and pin them.

    dot's coordinates cannot be told "this node above that one" across columns; the
    constraints of :func:`_operand_order` make it rare (4 of 486 ops over 200 problems),
    and this fixes the rest: a linear program keeps each column's order and spacing,
    puts each left operand at least 0.3 in above its right one and moves the nodes the
    least in total. The drawing is then laid out by ``neato`` with every node pinned.
    Needs ``dot`` (without it nothing is rendered anyway) and skips contradictory
    orders (``z1*z2`` and ``z2*z1`` in one graph) and big graphs.
    """
    import shutil

    if not pairs or shutil.which("dot") is None or len(g.body) > 4 * _PIN_LIMIT:
        return
    graphviz = _graphviz()
    try:
        pos = _plain_positions(g.pipe(format="plain").decode("utf-8"))
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError):
        return
    gap = 0.3
    if all(pos[a][1] >= pos[b][1] + gap - 1e-6 for a, b in pairs if a in pos and b in pos):
        return
    import numpy as np
    from scipy.optimize import linprog

    names = list(pos)
    k = {n: i for i, n in enumerate(names)}
    n = len(names)
    rows, rhs = [], []

    def at_least(upper: str, lower: str, d: float) -> None:  # y[upper] - y[lower] >= d
        row = np.zeros(2 * n)
        row[k[upper]], row[k[lower]] = -1.0, 1.0
        rows.append(row)
        rhs.append(-d)

    columns: dict[float, list[str]] = {}
    for name, (x, *_rest) in pos.items():
        columns.setdefault(round(x, 2), []).append(name)
    for members in columns.values():
        members.sort(key=lambda m: -pos[m][1])
        for upper, lower in zip(members, members[1:]):
            at_least(upper, lower, (pos[upper][3] + pos[lower][3]) / 2 + 0.1)
    for a, b in pairs:
        at_least(a, b, gap)
    for name in names:  # t >= |y - y0|
        for sign in (1.0, -1.0):
            row = np.zeros(2 * n)
            row[k[name]], row[n + k[name]] = sign, -1.0
            rows.append(row)
            rhs.append(sign * pos[name][1])
    cost = np.concatenate([np.zeros(n), np.ones(n)])
    bounds = [(None, None)] * n + [(0, None)] * n
    result = linprog(cost, A_ub=np.array(rows), b_ub=np.array(rhs), bounds=bounds, method="highs")
    if not result.success:
        return
    for name in names:
        g.node(name, pos=f"{pos[name][0]:.4f},{result.x[k[name]]:.4f}!")
    g.engine = "neato"
    g.attr(splines="true", overlap="true")


def draw(
    root: Any,
    *,
    values: bool = True,
    grads: bool | None = None,
    op_nodes: bool = False,
    legend: bool = True,
    title: str | None = None,
    digits: int = 4,
) -> Any:
    """Draw the graph that computes ``root`` as a ``graphviz.Digraph`` (exam layout).

    Each node shows its name (label, or ``z<k>:<op>``), its op, its value and, once
    backward has run, its grad; Tensor nodes show their shape and a short preview.
    ``values=False, grads=False`` gives a blank exam sheet; ``op_nodes=True`` draws
    each op as its own small node between the inputs and the result.

    >>> import ag
    >>> x = ag.Scalar(2.0, label="x"); y = ag.Scalar(3.0, label="y")
    >>> g = draw(x * y, values=False, grads=False, legend=False)
    >>> "value" in g.source
    False
    """
    order = topological_sort(root)
    show_grads = _has_grads(order) if grads is None else grads
    return _build(
        root, order, [n.value for n in order], [n.grad for n in order],
        show_values=values, show_grads=show_grads, op_nodes=op_nodes, legend=legend,
        title=title, status=None, digits=digits,
    )


def _as_graph(obj: Any, **options: Any) -> Any:
    if hasattr(obj, "pipe") and hasattr(obj, "source"):
        return obj
    return draw(obj, **options)


def to_dot(obj: Any, **options: Any) -> str:
    """DOT text of a node's graph (or of a ``Digraph``); needs no ``dot`` program.

    >>> import ag
    >>> x = ag.Scalar(2.0, label='say "hi" <script>')
    >>> "&lt;script&gt;" in to_dot(x * x)
    True
    """
    return _as_graph(obj, **options).source


def _pipe(graph: Any, fmt: str) -> bytes:
    graphviz = _graphviz()
    try:
        return graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise GraphvizNotFoundError(
            f"rendering the graph to {fmt.upper()} needs Graphviz's `dot` program, which is not "
            f"on PATH. {INSTALL_HINT}"
        ) from None
    except graphviz.CalledProcessError as err:
        raise RuntimeError(f"Graphviz's dot failed to render {fmt.upper()}: {err.stderr!r}") from None


def to_svg(obj: Any, **options: Any) -> str:
    """SVG text of a node's graph (or of a ``Digraph``), without the XML prolog.

    >>> import ag
    >>> to_svg(ag.Scalar(1.0, label="x") * 2).startswith("<svg")
    True
    """
    svg = _pipe(_as_graph(obj, **options), "svg").decode("utf-8")
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def render(obj: Any, path: str | Path, *, dpi: float | None = None, **options: Any) -> Path:
    """Write a node's graph (or a ``Digraph``) to ``path``; the suffix picks the format.

    ``.svg``, ``.png``, ``.pdf`` (need ``dot``) or ``.dot``/``.gv`` (DOT text). ``dpi``
    sets Graphviz's resolution (its default is 96 for PNG): ``dpi=200`` gives a PNG about
    twice as many pixels wide; it goes into the graph's attributes, so DOT text keeps it.

    >>> import ag, tempfile, os
    >>> p = render(ag.Scalar(1.0) * 2, os.path.join(tempfile.mkdtemp(), "g.dot"))
    >>> p.read_text().startswith("digraph")
    True
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if not fmt:
        raise ValueError(f"render: {str(path)!r} has no suffix; use .svg, .png, .pdf or .dot")
    bad_dpi = isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not 0 < dpi < 10000
    if dpi is not None and bad_dpi:
        raise ValueError(f"render: dpi must be a positive number (below 10000), got {dpi!r}")
    graph = _as_graph(obj, **options)
    if dpi is not None:
        graph = graph.copy()  # a Digraph passed in is the caller's: leave it as it was
        graph.graph_attr["dpi"] = f"{dpi:g}"
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt in ("dot", "gv"):
        path.write_text(graph.source, encoding="utf-8")
    else:
        path.write_bytes(_pipe(graph, fmt))
    return path


# -- traces ---------------------------------------------------------------------------


def trace(root: Any, *args: Any, **kwargs: Any) -> BackwardTrace:
    """Deprecated: it draws nothing; use :func:`ag.backward_trace` (same arguments).

    "trace" means one thing in ag: ``with ag.trace() as t`` records backward calls.
    """
    import warnings

    warnings.warn("ag.viz.trace(root) is deprecated: use ag.backward_trace(root), which runs "
                  "root.backward() and returns its BackwardTrace", DeprecationWarning, stacklevel=2)
    return backward_trace(root, *args, **kwargs)


def frame(
    run: BackwardTrace,
    k: int,
    *,
    values: bool = True,
    op_nodes: bool = False,
    legend: bool = True,
    title: bool | str = True,
    digits: int = 4,
) -> Any:
    """The graph after iteration ``k`` of a trace: the current node highlighted, the nodes
    that just received a grad in green, unvisited ones greyed.

    Grads shown are those after iteration ``k`` (NOT_REACHED before the pass reaches a
    node); ``title=True`` puts the rule applied in the graph's title (the stepper puts it
    in its side panel instead: ``title=False``).

    >>> import ag
    >>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
    >>> g = frame(ag.backward_trace(z3), 1)
    >>> "grad = 32" in g.source and "iteration 1" in g.source
    True
    """
    n = len(run.steps)
    if not 0 <= k < n:
        raise IndexError(f"frame: iteration {k} is out of range; the trace of "
                         f"{run.display_name(run.root)} has {n} iterations (0..{n - 1})")
    grads = list(run.grad_history()[k]) if n else list(run.initial_grads)
    return _frame(run, k, grads, values=values, op_nodes=op_nodes, legend=legend, title=title,
                  digits=digits)


def _frame_title(run: BackwardTrace, k: int, digits: int) -> str:
    step = run.steps[k]
    head = f"{iteration_title(k, len(run.steps))}: {run.display_name(step.node)}"
    lines = run.update_lines(k, digits)
    return head + ("\n" + "\n".join(lines) if lines else "\n(a leaf: nothing to do)")


def _frame_status(run: BackwardTrace, k: int) -> list[str]:
    index = run.index
    status = ["pending"] * len(run.order)
    status[index[id(run.root)]] = "done"
    for step in run.steps[:k]:
        status[index[id(step.node)]] = "done"
    step = run.steps[k]
    for inp in step.node.inputs:
        if needs_grad(inp):
            status[index[id(inp)]] = "updated"
    status[index[id(step.node)]] = "current"
    return status


def _grad_texts(run: BackwardTrace, k: int, grads: list, digits: int) -> list[str | None]:
    reached = run.reached_after(k)
    out: list[str | None] = []
    for i, node in enumerate(run.order):
        if not needs_grad(node):
            out.append(None)
        elif not reached[i] and grad_cell(run, k, i, grads, digits) == NOT_REACHED:
            out.append(NOT_REACHED)
        else:
            out.append(_value_text(grads[i], digits, 20))
    return out


def _frame(run: BackwardTrace, k: int, grads: list, *, values: bool, op_nodes: bool,
           legend: bool, title: bool | str, digits: int,
           sizes: dict[str, tuple[str, str]] | None = None,
           grad_texts: list[str | None] | None = None) -> Any:
    text = _frame_title(run, k, digits) if title is True else (title or None)
    return _build(
        run.root, run.order, run.values, grads, show_values=values, show_grads=True,
        op_nodes=op_nodes, legend=legend, title=text, status=_frame_status(run, k), digits=digits,
        graph_name=f"iteration{k}",
        grad_texts=grad_texts if grad_texts is not None else _grad_texts(run, k, grads, digits),
        sizes=sizes,
    )


def _fixed_sizes(run: BackwardTrace, history: list, options: dict) -> dict[str, tuple[str, str]]:
    """Each node's box, sized for its longest label over all frames (one ``dot`` run).

    Frames drawn with these fixed sizes (and a title of constant size) get the same
    layout from dot, so the nodes do not jump between iterations.
    """
    import json

    longest: list[str | None] = [None] * len(run.order)
    digits = options["digits"]
    for k in range(len(run.steps)):
        for i, t in enumerate(_grad_texts(run, k, history[k], digits)):
            if t is not None and (longest[i] is None or len(t) > len(longest[i])):
                longest[i] = t
    sizing = _frame(run, 0, list(history[-1]), **{**options, "title": False}, grad_texts=longest)
    layout = json.loads(_pipe(sizing, "json"))
    return {obj["name"]: (obj["width"], obj["height"]) for obj in layout.get("objects", [])
            if "width" in obj and "height" in obj}


def frames(run: BackwardTrace, *, fixed_layout: bool = False, **options: Any) -> list[Any]:
    """One graph per iteration of a trace (see :func:`frame`).

    ``fixed_layout=True`` gives every node the same box in every frame, so the drawing
    does not move between iterations (this runs ``dot`` once to size the boxes); the
    frame title (``title=True``) is left out then, since its size changes from frame to
    frame. The stepper draws its frames this way.

    >>> import ag
    >>> x = ag.Scalar(2.0, label="x"); run = ag.backward_trace((x * x) * x)
    >>> len(frames(run)) == len(run.steps) == 3
    True
    """
    history = run.grad_history()
    opts = {**_FRAME_DEFAULTS, **options}
    sizes = None
    if fixed_layout and run.steps:
        opts["title"] = False if opts["title"] is True else opts["title"]
        sizes = _fixed_sizes(run, history, opts)
    return [_frame(run, k, list(history[k]), **opts, sizes=sizes) for k in range(len(run.steps))]


_FRAME_DEFAULTS: dict[str, Any] = {
    "values": True, "op_nodes": False, "legend": True, "title": True, "digits": 4,
}
