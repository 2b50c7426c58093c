"""Drawing computation graphs the way the exam does, and backward traces frame by frame.

>>> import ag
>>> x = ag.Scalar(2.0, label="z1:leaf(x)")
>>> z2 = x * x
>>> z3 = z2 * z2
>>> z3.backward()
>>> g = ag.viz.draw(z3)          # a graphviz.Digraph: shows inline in Jupyter
>>> "z2:mul" in g.source
True

Layout: inputs on the left (every leaf in the first column), the output on the right,
and for a two-input op the left operand above the right one. Every box is sized from
its label and placed directly by :mod:`ag.viz_layout` (no solver, no extra Graphviz
pass), so the rule holds by construction; Graphviz's ``neato`` then only draws the
pinned boxes and routes the edges. When two ops use the same pair of nodes in opposite
orders no drawing can satisfy both; it is drawn anyway. Unlabelled nodes are named
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
from ag.number_format import MAX_ELEMENTS, NOT_REACHED, format_number, matrix_lines, preview, to_numpy
from ag.trace_record import BackwardTrace, backward_trace, exam_names, needs_grad
from ag.trace_render import grad_cell, iteration_title
from ag.viz_layout import place

__all__ = [
    "draw",
    "to_dot",
    "to_svg",
    "to_svgs",
    "render",
    "trace",
    "frame",
    "frames",
    "frame_status",
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
    # grey, dashed, yet readable: #4b5563 on #f3f4f6 is 6.9:1 (WCAG AA asks 4.5:1)
    "pending": {"fillcolor": "#f3f4f6", "color": "#9ca3af", "fontcolor": "#4b5563",
                "style": "rounded,filled,dashed"},
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


# A label is a list of (font, text) lines; its box is sized from them, so the layout
# knows every box before Graphviz runs. Helvetica's widest common glyphs are ~0.6 em;
# the matrices are monospace (0.6 em), so their columns line up.
_FONTS = {"title": ("Helvetica-Bold", 11.0, 0.64), "text": ("Helvetica", 11.0, 0.6),
          "mono": ("Courier", 10.0, 0.61)}
_PAD_X, _PAD_Y = 10.0, 6.0  # points around the text of a box
_NBSP = "\u00a0"  # keeps a matrix's spaces in SVG text


def _value_lines(name: str, value: Any, digits: int, max_elements: int, width: int) -> list:
    """``name = 4`` on one line, or ``name =`` over a small matrix (at most ``max_elements``)."""
    if isinstance(value, str):  # NOT_REACHED
        return [("text", f"{name} = {value}")]
    if not _shape(value):
        return [("text", f"{name} = {format_number(value, digits)}")]
    if to_numpy(value).size <= max_elements:
        rows = matrix_lines(value, digits)
        return [("text", f"{name} =")] + [("mono", (row or " ").replace(" ", _NBSP)) for row in rows]
    text = re.sub(r" \([\dx]+\)$", "", preview(value, width=width, digits=min(digits, 3)))
    return [("text", f"{name} = {text}")]  # the shape line already says the shape


def _label_lines(node: Any, display: str, value: Any, grad: Any, *, values: bool, grads: bool,
                 digits: int, max_elements: int, show_op: bool = True, width: int = 26) -> list:
    lines = [("title", str(display))]
    op = getattr(node, "op", "") or ""
    if show_op and op and op not in display:
        lines.append(("text", f"op: {op}"))
    shape = _shape(value)
    if shape is not None and len(shape) > 0:
        lines.append(("text", f"shape {shape}"))
    if values:
        lines += _value_lines("value", value, digits, max_elements, width)
    if grads and grad is not None:
        lines += _value_lines("grad", grad, digits, max_elements, width)
    return lines


def _html_label(lines: list) -> str:
    parts = []
    for font, text in lines:
        body = html_text(text)
        if font == "title":
            body = f"<B>{body}</B>"
        elif font == "mono":
            body = f'<FONT FACE="{_FONTS["mono"][0]}" POINT-SIZE="{_FONTS["mono"][1]:g}">{body}</FONT>'
        parts.append(body)
    return "<" + '<BR ALIGN="CENTER"/>'.join(parts) + ">"


def _box(lines: list, extra: float = 0.0) -> tuple[float, float]:
    """A box's (width, height) in points for its label lines."""
    rows = [(font, row) for font, text in lines for row in text.split("\n")]  # a label's own breaks
    width = max(len(row) * _FONTS[font][1] * _FONTS[font][2] for font, row in rows)
    height = sum(_FONTS[font][1] * 1.2 for font, _ in rows)
    return max(54.0, width + 2 * _PAD_X + extra), max(30.0, height + 2 * _PAD_Y + extra)


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


def _labels(order: list, values: list, grads: list | None, *, show_values: bool, show_grads: bool,
            op_nodes: bool, digits: int, max_elements: int) -> list[list]:
    _, display = exam_names(order)
    out = []
    for i, node in enumerate(order):
        title = getattr(node, "label", "") or display[id(node)]  # a label keeps its line breaks
        grad = grads[i] if (grads is not None and show_grads) else None
        out.append(_label_lines(node, str(title), values[i], grad, values=show_values,
                                grads=show_grads, digits=digits, max_elements=max_elements,
                                show_op=not op_nodes))
    return out


def _sizes(order: list, labels: list[list], root: Any, op_nodes: bool) -> dict[Any, tuple[float, float]]:
    sizes = {}
    for node, lines in zip(order, labels):
        sizes[id(node)] = _box(lines, 8.0 if node is root else 0.0)  # the output's double border
        if op_nodes and node.inputs:
            sizes[(id(node), "op")] = _box([("text", getattr(node, "op", "") or "?")], 8.0)
    return sizes


def _build(
    root: Any,
    order: list,
    labels: list[list],
    *,
    op_nodes: bool,
    legend: bool,
    title: str | None,
    status: list[str] | None,
    graph_name: str = "ag",
    sizes: dict[Any, tuple[float, float]] | None = None,
    direction: str = "LR",
) -> Any:
    """The Digraph: every box sized from its label and pinned where :mod:`ag.viz_layout` puts it."""
    graphviz = _graphviz()
    sizes = sizes or _sizes(order, labels, root, op_nodes)
    pos = place(order, sizes, op_nodes=op_nodes, direction=direction)
    g = graphviz.Digraph(graph_name, engine="neato")
    g.attr(splines="true" if len(order) <= _SPLINE_LIMIT else "line", overlap="true",
           outputorder="edgesfirst", fontname="Helvetica", pad="0.1")
    g.attr("node", shape="box", style="rounded,filled", fontname="Helvetica", fontsize="11",
           fixedsize="true")
    g.attr("edge", color="#4b5563", arrowsize="0.7")
    if title:
        g.attr(label="<" + html_text(title) + ">", labelloc="t", fontsize="13")
    ids = {id(n): f"n{i}" for i, n in enumerate(order)}
    kinds_used: list[str] = []

    def box(name: str, key: Any, **attrs: str) -> None:
        (x, y), (w, h) = pos[key], sizes[key]
        g.node(name, pos=f"{x / 72:.3f},{y / 72:.3f}!", width=f"{w / 72:.3f}", height=f"{h / 72:.3f}",
               **attrs)

    for i, node in enumerate(order):
        kind = node_kind(node, root)
        attrs = dict(STYLES[kind])
        state = status[i] if status is not None else None
        if state in _FRAME_STATES:
            attrs.update(STYLES[state])
            attrs["class"] = f"ag-{state}"
        if kind not in kinds_used:
            kinds_used.append(kind)
        nid = ids[id(node)]
        box(nid, id(node), label=_html_label(labels[i]), **attrs)
        if not node.inputs:
            continue
        target = nid
        if op_nodes:
            target = f"{nid}op"
            op_attrs = {"shape": "ellipse", "style": "filled", "fillcolor": "#f9fafb", "fontsize": "10"}
            if state == "pending":
                op_attrs.update(fontcolor=STYLES["pending"]["fontcolor"], color=STYLES["pending"]["color"])
            box(target, (id(node), "op"), label="<" + html_text(getattr(node, "op", "") or "?") + ">",
                **op_attrs)
        for inp in node.inputs:
            g.edge(ids[id(inp)], target)
        if op_nodes:
            g.edge(target, nid)
    if legend:
        _legend_node(g, kinds_used, status is not None, pos, sizes, direction)
    return g


_SPLINE_LIMIT = 300  # nodes; a bigger drawing gets straight edges (routing round boxes is slow)


def _legend_node(g: Any, kinds_used: list[str], frame: bool, pos: dict, sizes: dict, direction: str) -> None:
    """One table node beside the drawing (right of it; below it when drawn top to bottom)."""
    if frame:  # a frame: every state, so each frame has the same legend
        kinds_used = kinds_used + list(_FRAME_STATES)
    rows = []
    kinds = sorted(kinds_used, key=list(STYLES).index)
    for k in kinds:
        attrs = dict(STYLES[k])
        if k in _FRAME_STATES:
            attrs = {**STYLES["intermediate"], **attrs}
        font = attrs.get("fontcolor", "#000000")
        rows.append(f'<TR><TD BGCOLOR="{attrs["fillcolor"]}" COLOR="{attrs["color"]}" BORDER="1" '
                    f'STYLE="ROUNDED"><FONT POINT-SIZE="9" COLOR="{font}">'
                    f"{html_text(KIND_NAMES[k])}</FONT></TD></TR>")
    w = 36 + 9 * 0.62 * max(len(KIND_NAMES[k]) for k in kinds)
    h = 26 + 21 * len(kinds)
    right = max(x + sizes[k][0] / 2 for k, (x, _) in pos.items())
    top = max(y + sizes[k][1] / 2 for k, (_, y) in pos.items())
    bottom = min(y - sizes[k][1] / 2 for k, (_, y) in pos.items())
    left = min(x - sizes[k][0] / 2 for k, (x, _) in pos.items())
    x, y = (right + 20 + w / 2, top - h / 2) if direction == "LR" else (left + w / 2, bottom - 20 - h / 2)
    g.node("legend", shape="plaintext", style="", margin="0", pos=f"{x / 72:.3f},{y / 72:.3f}!",
           width=f"{w / 72:.3f}", height=f"{h / 72:.3f}", label=(
               '<<TABLE BORDER="1" STYLE="ROUNDED,DASHED" COLOR="#6b7280" CELLBORDER="0" CELLSPACING="3">'
               '<TR><TD><FONT POINT-SIZE="10">legend</FONT></TD></TR>' + "".join(rows) + "</TABLE>>"))


def draw(
    root: Any,
    *,
    values: bool = True,
    grads: bool | None = None,
    op_nodes: bool = False,
    legend: bool = True,
    title: str | None = None,
    digits: int = 4,
    max_elements: int = MAX_ELEMENTS,
    direction: str = "LR",
) -> Any:
    """Draw the graph that computes ``root`` as a ``graphviz.Digraph`` (exam layout).

    Each node shows its name (label, or ``z<k>:<op>``), its op, its value and, once
    backward has run, its grad; a Tensor node shows its shape, and its value and grad
    as small aligned matrices up to ``max_elements`` elements (a one-line preview
    beyond). ``values=False, grads=False`` gives a blank exam sheet; ``op_nodes=True``
    draws each op as its own small node between the inputs and the result;
    ``direction="TB"`` draws inputs on top and the output at the bottom (long chains).

    >>> import ag
    >>> x = ag.Scalar(2.0, label="x"); y = ag.Scalar(3.0, label="y")
    >>> g = draw(x * y, values=False, grads=False, legend=False)
    >>> "value" in g.source
    False
    """
    order = topological_sort(root)
    show_grads = _has_grads(order) if grads is None else grads
    labels = _labels(order, [n.value for n in order], [n.grad for n in order], show_values=values,
                     show_grads=show_grads, op_nodes=op_nodes, digits=digits, max_elements=max_elements)
    return _build(root, order, labels, op_nodes=op_nodes, legend=legend, title=title, status=None,
                  direction=direction)


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
        if isinstance(graph, list):  # several graphs through one Graphviz process
            source = "\n".join(g.source for g in graph).encode("utf-8")
            return graphviz.pipe(graph[0].engine, fmt, source)
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


def to_svgs(graphs: list) -> list[str]:
    """SVG text of each ``Digraph`` (all with one engine), rendered by one Graphviz process.

    >>> import ag
    >>> x = ag.Scalar(2.0, label="x"); run = ag.backward_trace((x * x) * x)
    >>> svgs = to_svgs(frames(run, fixed_layout=True))
    >>> len(svgs), all(s.startswith("<svg") for s in svgs)
    (3, True)
    """
    if not graphs:
        return []
    if len({g.engine for g in graphs}) > 1:
        raise ValueError("to_svgs: the graphs must share one layout engine")
    text = _pipe(list(graphs), "svg").decode("utf-8")
    svgs = [part[part.find("<svg"):] for part in text.split("<?xml")[1:]]
    if len(svgs) != len(graphs):  # not expected; each graph on its own then
        return [to_svg(g) for g in graphs]
    # the graph after the first is "page0,k_graph0" in one stream: named as on its own
    return [re.sub(r'id="page\d+,\d+_graph0"', 'id="graph0"', svg.rstrip() + "\n", count=1) for svg in svgs]


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


def _frame_title(run: BackwardTrace, k: int, digits: int) -> str:
    step = run.steps[k]
    head = f"{iteration_title(k, len(run.steps))}: {run.display_name(step.node)}"
    lines = run.update_lines(k, digits)
    return head + ("\n" + "\n".join(lines) if lines else "\n(a leaf: nothing to do)")


def frame_status(run: BackwardTrace, k: int) -> list[str]:
    """Each node's state after iteration ``k``: ``current``, ``updated``, ``pending`` or ``done``.

    >>> import ag
    >>> x = ag.Scalar(2.0, label="x"); run = ag.backward_trace(x * x)
    >>> frame_status(run, 0)
    ['updated', 'current']
    """
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


def _frame_grads(run: BackwardTrace, k: int, grads: list, digits: int) -> list[Any]:
    """What each node's grad line shows: None (no line), NOT_REACHED, or the grad."""
    reached = run.reached_after(k)
    out: list[Any] = []
    for i, node in enumerate(run.order):
        if not needs_grad(node):
            out.append(None)
        elif not reached[i] and grad_cell(run, k, i, grads, digits) == NOT_REACHED:
            out.append(NOT_REACHED)
        else:
            out.append(grads[i])
    return out


def _frame_labels(run: BackwardTrace, k: int, grads: list, opts: dict) -> list[list]:
    return _labels(run.order, run.values, _frame_grads(run, k, grads, opts["digits"]),
                   show_values=opts["values"], show_grads=True, op_nodes=opts["op_nodes"],
                   digits=opts["digits"], max_elements=opts["max_elements"])


def _frame(run: BackwardTrace, k: int, labels: list[list], opts: dict,
           sizes: dict[Any, tuple[float, float]] | None = None) -> Any:
    title = opts["title"]
    text = _frame_title(run, k, opts["digits"]) if title is True else (title or None)
    return _build(run.root, run.order, labels, op_nodes=opts["op_nodes"], legend=opts["legend"],
                  title=text, status=frame_status(run, k), graph_name=f"iteration{k}", sizes=sizes,
                  direction=opts["direction"])


def frame(run: BackwardTrace, k: int, **options: Any) -> Any:
    """The graph after iteration ``k`` of a trace: the current node highlighted, the nodes
    that just received a grad in green, unvisited ones greyed.

    Grads shown are those after iteration ``k`` (NOT_REACHED before the pass reaches a
    node); ``title=True`` puts the rule applied in the graph's title (the stepper puts it
    in its side panel instead: ``title=False``). Options as :func:`draw`'s (``values``,
    ``op_nodes``, ``legend``, ``digits``, ``max_elements``, ``direction``) and ``title``.

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
    opts = _frame_options(options)
    return _frame(run, k, _frame_labels(run, k, list(run.grad_history()[k]), opts), opts)


def frames(run: BackwardTrace, *, fixed_layout: bool = False, **options: Any) -> list[Any]:
    """One graph per iteration of a trace (see :func:`frame`).

    ``fixed_layout=True`` gives every node the same box, in the same place, in every
    frame (each box sized for its largest label over the pass), so the drawing does not
    move between iterations; the frame title (``title=True``) is left out then, since
    its size changes from frame to frame. The stepper draws its frames this way.

    >>> import ag
    >>> x = ag.Scalar(2.0, label="x"); run = ag.backward_trace((x * x) * x)
    >>> len(frames(run)) == len(run.steps) == 3
    True
    """
    opts = _frame_options(options)
    history = run.grad_history()
    labels = [_frame_labels(run, k, list(history[k]), opts) for k in range(len(run.steps))]
    sizes = None
    if fixed_layout and run.steps:
        opts["title"] = False if opts["title"] is True else opts["title"]
        each = [_sizes(run.order, frame_labels, run.root, opts["op_nodes"]) for frame_labels in labels]
        sizes = {key: (max(s[key][0] for s in each), max(s[key][1] for s in each)) for key in each[0]}
    return [_frame(run, k, labels[k], opts, sizes) for k in range(len(run.steps))]


_FRAME_DEFAULTS: dict[str, Any] = {
    "values": True, "op_nodes": False, "legend": True, "title": True, "digits": 4,
    "max_elements": MAX_ELEMENTS, "direction": "LR",
}


def _frame_options(options: dict) -> dict[str, Any]:
    unknown = set(options) - set(_FRAME_DEFAULTS)
    if unknown:
        raise TypeError(f"frames: unknown option(s) {sorted(unknown)}; known: {sorted(_FRAME_DEFAULTS)}")
    return {**_FRAME_DEFAULTS, **options}
