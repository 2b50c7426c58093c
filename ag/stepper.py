"""Step through a backward trace frame by frame: a self-contained HTML page, or a fragment.

>>> import ag
>>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
>>> page = ag.stepper.html(ag.backward_trace(z3))
>>> page.startswith("<!DOCTYPE html>") and "z1.grad = 0 + 2 * 8 + 2 * 8 = 32" in page
True

Each frame holds the graph after that iteration (an inline SVG drawn by
:func:`ag.viz.frames`, with the same node positions in every frame), and a side panel
with the node's value, the rule applied, its operands as matrices (Tensors) and every
grad after the iteration, all written by :mod:`ag.trace_render` from the iteration's
content. A small script shows one frame at a time (buttons; the arrow, Home and End
keys; ``#3`` in the URL opens iteration 3 of the first stepper) and scrolls the graph
so the current node is in view on every step. The style and the script are package
files (``ag/static/stepper.css``, ``stepper.js``), exposed as :data:`CSS` and :data:`SCRIPT`.

A page may hold any number of steppers (:func:`html_many`, or several
:func:`fragment` outputs, as in a notebook): nothing uses a document-wide id. The keys
drive the stepper that has focus or was used last. Nothing is fetched over the
network. All text, labels included, is HTML-escaped; the SVGs come from Graphviz
with their text XML-escaped.
"""

from __future__ import annotations

import html as _html
import re
from pathlib import Path
from typing import Any

from ag.number_format import NOT_REACHED, is_array
from ag.trace_record import BackwardTrace, needs_grad
from ag.trace_render import grad_cell, html_rules, html_value, is_tensor_trace, iteration

__all__ = ["html", "html_many", "fragment", "write_html", "CSS", "SCRIPT", "MAX_GRAPH_NODES"]

# Frames of graphs larger than this are left out (the page grows as nodes x iterations).
MAX_GRAPH_NODES = 150
# The graph may shrink to fit its column, but not below this share of its natural size
# (the 10 pt matrices in nodes stay >= 10 CSS px); past that the graph scrolls sideways, to
# the current node on every step.
MIN_GRAPH_SCALE = 0.8



def _static(name: str) -> str:
    """A file of the package's ``ag/static`` folder (the stepper's CSS and JavaScript)."""
    from importlib.resources import files

    return files("ag").joinpath("static", name).read_text(encoding="utf-8")


CSS = _static("stepper.css")
# One function sets up every stepper not set up yet: a page's own script calls it, and so
# does the notebook widget (ag.widget) on the element it renders into.
SCRIPT = _static("stepper.js")
_PAGE_SCRIPT = _static("stepper_page.js")


def _e(text: Any) -> str:
    return _html.escape(str(text), quote=True)


def _frame_svgs(run: BackwardTrace, draw_options: dict) -> list[str | None]:
    from ag import viz

    if len(run.order) > MAX_GRAPH_NODES:
        return [None] * len(run.steps)
    options = {"title": False, "legend": False, **draw_options}  # the page has an HTML legend
    return [_scalable(svg) for svg in viz.to_svgs(viz.frames(run, fixed_layout=True, **options))]


def _scalable(svg: str) -> str:
    """Graphviz's SVG (sized in pt) made to shrink with its column, down to MIN_GRAPH_SCALE.

    The viewBox stays, so text scales with the drawing; ``min-width`` keeps the node
    text readable, and the column scrolls sideways past that.
    """
    match = re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    if not match:
        return svg
    width_px = float(match.group(1)) * 4 / 3
    style = f' style="width:{width_px:.0f}px;min-width:{width_px * MIN_GRAPH_SCALE:.0f}px"'
    return svg.replace(match.group(0), f'<svg{style}', 1)


def _order_line(run: BackwardTrace, k: int | None) -> str:
    done = {id(s.node) for s in run.steps[:k]} if k is not None else set()
    current = run.steps[k].node if k is not None else None
    parts = []
    for node in run.order:
        cls = "ag-current" if node is current else ("ag-done" if id(node) in done else "")
        parts.append(f'<code class="{cls}">{_e(run.display_name(node))}</code>' if cls
                     else f"<code>{_e(run.display_name(node))}</code>")
    return ('<p class="ag-order">Topological order (the loop runs it backwards): '
            + ", ".join(parts) + "</p>")


def _legend(run: BackwardTrace) -> str:
    from ag import viz

    kinds = ["current", "updated", "pending", "leaf", "parameter", "intermediate", "output"]
    present = {viz.node_kind(n, run.root) for n in run.order}
    items = []
    for kind in kinds:
        if kind in ("leaf", "parameter", "intermediate", "output") and kind not in present:
            continue
        style = viz.STYLES[kind]
        items.append(f'<span style="--f:{style["fillcolor"]};--b:{style["color"]}">'
                     f"{_e(viz.KIND_NAMES[kind])}</span>")
    return '<div class="legend">' + "".join(items) + "</div>"


def _side_panel(run: BackwardTrace, k: int, digits: int, tensor: bool, full_tables: bool,
                grads: list) -> list[str]:
    it = iteration(run, k, digits)
    step = run.steps[k]
    out = ['<div class="side">',
           f'<h3><span class="frame-iteration">{_e(it.title)}</span>: '
           f'<code class="node">{_e(it.node)}</code></h3>',
           f'<div class="node-value">{_e(run.name(step.node))}.value = '
           f"{html_value(it.value, digits, run.max_elements)}</div>",
           html_rules(it, digits, run.max_elements, tensor)]
    changed = {id(i) for i in step.node.inputs if needs_grad(i)}
    index = run.index
    out.append('<table class="grads"><tr><th>node</th><th>grad after this iteration</th></tr>')
    if full_tables:
        positions = run.graded()
    else:
        positions = [index[id(n)] for n in {id(i): i for i in step.node.inputs}.values() if needs_grad(n)]
    for i in positions:
        node = run.order[i]
        name = run.name(node)
        cls = ' class="changed"' if id(node) in changed else ""
        cell = grad_cell(run, k, i, grads, digits)
        if tensor and cell != NOT_REACHED and is_array(grads[i]):
            cell_html = html_value(grads[i], digits, run.max_elements)
        else:
            cell_html = _e(cell)
        out.append(f'<tr{cls} data-node="{_e(name)}"><th>{_e(name)}</th>'
                   f'<td class="grad" data-grad="{_e(cell)}">{cell_html}</td></tr>')
    out.append(f'</table><p class="ag-hint">{NOT_REACHED} = not reached yet; green = just received a '
               "grad; inputs that need no grad have no row</p></div>")
    return out


def fragment(
    run: BackwardTrace,
    *,
    graphs: bool = True,
    digits: int | None = None,
    **draw_options: Any,
) -> str:
    """One stepper as an HTML fragment (a ``<div class="ag-stepper">``), without its script.

    Put any number of them in a page with :data:`CSS` and :data:`SCRIPT` (as
    :func:`html_many` does); ``agStepperInit(div)`` sets one up.

    >>> import ag
    >>> x = ag.Scalar(3.0, label="x")
    >>> part = fragment(ag.backward_trace(x * x), graphs=False)
    >>> part.startswith('<div class="ag-stepper"') and " id=" not in part
    True
    """
    digits = run.digits if digits is None else digits
    n = len(run.steps)
    svgs = _frame_svgs(run, draw_options) if graphs else [None] * n
    full_tables = len(run.order) <= MAX_GRAPH_NODES  # else each frame lists only what changed
    tensor = is_tensor_trace(run)
    history = run.grad_history()
    out = [
        '<div class="ag-stepper" tabindex="0">',
        '<nav><button data-role="first" title="first (Home)">&#xAB;</button>'
        '<button data-role="prev" title="previous (left arrow)">&#x25C0; prev</button>'
        '<span class="ag-counter">iteration <span data-role="iteration">0</span> '
        f'(<span data-role="position">1</span> of <span data-role="count">{n}</span>)</span>'
        '<button data-role="next" title="next (right arrow)">next &#x25B6;</button>'
        '<button data-role="last" title="last (End)">&#xBB;</button>'
        '<span class="ag-hint">keys: &#x2190; &#x2192; Home End</span></nav>',
    ]
    for k in range(n):
        out.append(f'<section class="frame" data-iteration="{k}"{" hidden" if k else ""}>')
        # the graph's column asks for the graph's natural width; on a narrow screen the side
        # panel goes below when both do not fit, on a wide one it stays beside (stepper.css)
        match = re.search(r"width:(\d+)px", svgs[k] or "")
        basis = f' style="--natural:{match.group(1)}px"' if match else ""
        out.append(f'<div class="main-col"{basis}>')
        out.append(_order_line(run, k))
        if svgs[k] is not None and not draw_options.get("legend"):
            out.append(_legend(run))
        if svgs[k] is not None:
            out.append(f'<div class="graph">{svgs[k]}</div>')
        elif graphs:
            out.append('<div class="graph"><p class="ag-hint">(graph too large to draw per frame)</p></div>')
        out.append("</div>")
        out += _side_panel(run, k, digits, tensor, full_tables, history[k])
        out.append("</section>")
    out.append("</div>")
    return "\n".join(out)


def _page(title: str, body: list[str]) -> str:
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">",
        f"<title>{_e(title)}</title>",
        "<style>body { font-family: system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif;"
        " margin: 1em 1.5em; color: #111827; } h1 { font-size: 1.3em; margin: 0 0 .3em 0; }"
        " h2 { font-size: 1.1em; margin: .8em 0 .3em 0; } pre.intro { background: #f9fafb;"
        " border: 1px solid #e5e7eb; padding: .6em .8em; overflow-x: auto; }" + CSS + "</style>",
        "</head><body>",
        *body,
        f"<script>{SCRIPT}{_PAGE_SCRIPT}</script>",
        "</body></html>",
        "",
    ])


def html(
    run: BackwardTrace,
    *,
    title: str | None = None,
    intro: list[tuple[str, str]] | None = None,
    graphs: bool = True,
    digits: int | None = None,
    **draw_options: Any,
) -> str:
    """The stepper page for one backward trace, as a string.

    ``intro`` is a list of ``(heading, preformatted text)`` sections shown above the
    stepper (``ag exam`` puts the problem there). ``graphs=False`` leaves the
    drawings out (no Graphviz needed); graphs of more than ``MAX_GRAPH_NODES`` nodes
    are left out too. ``draw_options`` go to :func:`ag.viz.frames`.

    >>> import ag
    >>> x = ag.Scalar(3.0, label="<b>x</b>")
    >>> page = html(ag.backward_trace(x * x), graphs=False)
    >>> "<b>x</b>" in page, "&lt;b&gt;x&lt;/b&gt;" in page
    (False, True)
    """
    title = title or f"Backward pass of {run.display_name(run.root)}"
    body = [f"<h1>{_e(title)}</h1>"]
    for heading, text in intro or []:
        body.append(f'<h2>{_e(heading)}</h2><pre class="intro">{_e(text)}</pre>')
    body.append(fragment(run, graphs=graphs, digits=digits, **draw_options))
    return _page(title, body)


def html_many(runs: list, *, title: str = "Backward passes", graphs: bool = True, **options: Any) -> str:
    """One page with a stepper per trace; each steps on its own.

    ``runs`` holds traces, or ``(heading, trace)`` pairs (a trace alone is headed by its
    output's name).

    >>> import ag
    >>> a, b = ag.Scalar(2.0, label="a"), ag.Scalar(3.0, label="b")
    >>> page = html_many([ag.backward_trace(a * a), ("b", ag.backward_trace(b * b))], graphs=False)
    >>> page.count('<div class="ag-stepper"')
    2
    """
    body = [f"<h1>{_e(title)}</h1>"]
    for i, entry in enumerate(runs):
        if isinstance(entry, BackwardTrace):
            heading, run = f"Backward pass of {entry.display_name(entry.root)}", entry
        elif isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], BackwardTrace):
            heading, run = entry
        else:
            raise TypeError(f"html_many: entry {i} is {type(entry).__name__} {entry!r:.60}; give a "
                            "BackwardTrace (ag.backward_trace(loss)) or a (heading, BackwardTrace) pair")
        body.append(f"<h2>{_e(heading)}</h2>")
        body.append(fragment(run, graphs=graphs, **options))
    return _page(title, body)


def write_html(run: BackwardTrace, path: str | Path, **options: Any) -> Path:
    """Write :func:`html` of a trace to ``path`` (parent folders are created).

    >>> import ag, tempfile, os
    >>> x = ag.Scalar(2.0, label="x")
    >>> p = write_html(ag.backward_trace(x * x), os.path.join(tempfile.mkdtemp(), "t.html"))
    >>> p.read_text(encoding="utf-8").count('<section class="frame"')
    2
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html(run, **options), encoding="utf-8")
    return path
