"""Step through a backward trace frame by frame: a self-contained HTML page, or a fragment.

>>> import ag
>>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
>>> page = ag.stepper.html(ag.backward_trace(z3))
>>> page.startswith("<!DOCTYPE html>") and "z1.grad = 0 + 2 * 8 + 2 * 8 = 32" in page
True

Each frame holds the graph after that iteration (an inline SVG drawn by
:func:`ag.viz.frames`, with the same node positions in every frame), and a side panel
with the rule applied, its operands as matrices (Tensors) and every grad after the
iteration. A few lines of JavaScript show one frame at a time (buttons; the arrow,
Home and End keys; ``#3`` in the URL opens iteration 3 of the first stepper).

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

from ag.number_format import NOT_REACHED, format_number, is_array, matrix_text
from ag.trace_record import BackwardTrace, needs_grad
from ag.trace_render import grad_cell, is_tensor_trace, iteration_title, rules, update_lines

__all__ = ["html", "html_many", "fragment", "write_html", "CSS", "SCRIPT", "MAX_GRAPH_NODES"]

# Frames of graphs larger than this are left out (the page grows as nodes x iterations).
MAX_GRAPH_NODES = 150
# The graph may shrink to fit its column, but not below this share of its natural size
# (Graphviz's 11 pt node text stays >= 10 CSS px); past that the graph scrolls sideways.
MIN_GRAPH_SCALE = 0.7

CSS = """
.ag-stepper { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
  color: #111827; max-width: 100%; outline: none; margin: .5em 0 1.5em 0; }
.ag-stepper code, .ag-stepper pre { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas,
  monospace; }
.ag-stepper .ag-order { color: #374151; margin: .3em 0; line-height: 1.6; }
.ag-stepper .ag-order code { white-space: nowrap; padding: 0 .15em; border-radius: 3px; }
.ag-stepper .ag-order code.ag-current { background: #fde047; outline: 2px solid #dc2626; font-weight: 700; }
.ag-stepper .ag-order code.ag-done { color: #6b7280; }
.ag-stepper nav { display: flex; flex-wrap: wrap; align-items: center; gap: .4em; margin: .5em 0;
  position: sticky; top: 0; z-index: 1; background: #fff; padding: .35em 0;
  border-bottom: 1px solid #e5e7eb; }
.ag-stepper nav button { font-size: .95em; padding: .2em .7em; cursor: pointer; }
.ag-stepper .ag-counter { margin: 0 .5em; font-weight: 600; white-space: nowrap; }
.ag-stepper .ag-hint { color: #6b7280; font-size: .85em; }
.ag-stepper section.frame { display: flex; flex-wrap: wrap; gap: 1em 1.5em; align-items: flex-start; }
.ag-stepper section.frame[hidden] { display: none; }
.ag-stepper .main-col { flex: 1 1 640px; min-width: 0; }
.ag-stepper .legend { font-size: .8em; color: #374151; display: flex; flex-wrap: wrap; gap: .3em .8em;
  margin: .2em 0; }
.ag-stepper .legend span::before { content: ""; display: inline-block; width: .9em; height: .9em;
  margin-right: .3em; vertical-align: -.1em; border: 2px solid var(--b); background: var(--f);
  border-radius: 3px; }
.ag-stepper .graph { flex: 1 1 520px; min-width: 0; max-width: 100%; overflow-x: auto; }
.ag-stepper .graph svg { max-width: 100%; height: auto; }
.ag-stepper .side { flex: 1 1 340px; min-width: 280px; max-width: 640px; overflow-x: auto; }
.ag-stepper h3 { font-size: 1.05em; margin: .2em 0 .4em 0; }
.ag-stepper ul.rules, .ag-stepper ul.updates { padding-left: 1.2em; margin: .3em 0; }
.ag-stepper ul.rules li { margin: .15em 0; }
.ag-stepper ul.updates li { font-weight: 600; }
.ag-stepper .shapes, .ag-stepper .note { color: #4b5563; font-size: .9em; }
.ag-stepper .note { color: #92400e; }
.ag-stepper pre { background: #f9fafb; border: 1px solid #e5e7eb; padding: .3em .5em; margin: .15em 0 .5em 0;
  overflow-x: auto; font-size: .9em; line-height: 1.25; }
.ag-stepper table.grads { border-collapse: collapse; margin-top: .4em; }
.ag-stepper table.grads th, .ag-stepper table.grads td { border: 1px solid #e5e7eb; padding: .1em .5em;
  text-align: left; vertical-align: top; }
.ag-stepper table.grads td pre { margin: 0; border: 0; padding: 0; background: none; }
.ag-stepper table.grads tr.changed td, .ag-stepper table.grads tr.changed th { background: #bbf7d0;
  font-weight: 600; }
"""

# One function sets up every stepper not set up yet: a page's own script calls it, and so
# does the notebook widget (ag.widget) on the element it renders into.
SCRIPT = """
function agStepperInit(root) {
  if (!root || root.dataset.agReady) { return; }
  root.dataset.agReady = "1";
  var frames = Array.prototype.slice.call(root.querySelectorAll("section.frame"));
  var q = function (name) { return root.querySelector("[data-role='" + name + "']"); };
  var current = 0;
  function show(i) {
    if (!frames.length) { return; }
    current = Math.max(0, Math.min(frames.length - 1, i));
    frames.forEach(function (f, j) { f.hidden = (j !== current); });
    q("iteration").textContent = String(current);
    q("position").textContent = String(current + 1);
    q("prev").disabled = q("first").disabled = current === 0;
    q("next").disabled = q("last").disabled = current === frames.length - 1;
    root.dataset.iteration = String(current);
    if (root.agOnShow) { root.agOnShow(current); }
  }
  root.agShow = show;
  root.agStep = function (d) { show(current + d); };
  q("first").addEventListener("click", function () { show(0); });
  q("prev").addEventListener("click", function () { show(current - 1); });
  q("next").addEventListener("click", function () { show(current + 1); });
  q("last").addEventListener("click", function () { show(frames.length - 1); });
  root.addEventListener("mousedown", function () { window.agStepperActive = root; });
  root.addEventListener("click", function () { window.agStepperActive = root; });
  root.addEventListener("focusin", function () { window.agStepperActive = root; });
  root.addEventListener("keydown", function (e) { if (agStepperKey(root, e)) { e.stopPropagation(); } });
  var start = 0;
  if (!document.querySelector(".ag-stepper[data-ag-first]")) {
    root.dataset.agFirst = "1";  // #3 in the URL opens iteration 3 of the page's first stepper
    start = parseInt((window.location.hash || "#0").slice(1), 10);
  }
  show(isNaN(start) ? 0 : start);
}
function agStepperKey(root, e) {
  if (e.altKey || e.ctrlKey || e.metaKey) { return false; }
  var n = root.querySelectorAll("section.frame").length;
  if (e.key === "ArrowRight" || e.key === "ArrowDown" || e.key === "PageDown") { root.agStep(1); }
  else if (e.key === "ArrowLeft" || e.key === "ArrowUp" || e.key === "PageUp") { root.agStep(-1); }
  else if (e.key === "Home") { root.agShow(0); }
  else if (e.key === "End") { root.agShow(n - 1); }
  else { return false; }
  e.preventDefault();
  return true;
}
"""

# On a page of its own, the keys also work without focus: on the stepper used last, or the
# first one. (In a notebook only a focused stepper takes keys: the notebook needs them.)
_PAGE_SCRIPT = """
document.querySelectorAll(".ag-stepper").forEach(agStepperInit);
document.addEventListener("keydown", function (e) {
  var t = e.target && e.target.tagName;
  if (t === "INPUT" || t === "TEXTAREA" || t === "SELECT") { return; }
  var root = window.agStepperActive || document.querySelector(".ag-stepper");
  if (root && root.agStep) { agStepperKey(root, e); }
});
"""


def _e(text: Any) -> str:
    return _html.escape(str(text), quote=True)


def _frame_svgs(run: BackwardTrace, draw_options: dict) -> list[str | None]:
    from ag import viz

    if len(run.order) > MAX_GRAPH_NODES:
        return [None] * len(run.steps)
    options = {"title": False, "legend": False, **draw_options}  # the page has an HTML legend
    return [_scalable(viz.to_svg(g)) for g in viz.frames(run, fixed_layout=True, **options)]


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


def _value_block(value: Any, digits: int, max_elements: int) -> str:
    if value is None:
        return f"<code>{NOT_REACHED}</code>"
    if not is_array(value):
        return f"<code>{_e(format_number(value, digits))}</code>"
    return f"<pre>{_e(matrix_text(value, digits, max_elements))}</pre>"


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
    step = run.steps[k]
    n = len(run.steps)
    out = ['<div class="side">',
           f'<h3><span class="frame-iteration">{_e(iteration_title(k, n))}</span>: '
           f'<code class="node">{_e(run.display_name(step.node))}</code></h3>']
    rs = rules(run, k, digits)
    if rs:
        if tensor:
            out.append(f"<div>{_e(run.name(step.node))}.grad = "
                       f"{_value_block(step.out_grad, digits, run.max_elements)}</div>")
        out.append('<ul class="rules">')
        shown = {f"{run.name(step.node)}.grad"}
        for r in rs:
            if tensor:
                item = [f"<code>{_e(r.symbolic)}</code>", f'<div class="shapes">shapes: {_e(r.shapes)}</div>']
                item += [f'<div class="note">then {_e(note)}</div>' for note in r.notes]
                for name, value in r.operands:
                    if name not in shown and value is not None:
                        shown.add(name)
                        block = _value_block(value, digits, run.max_elements)
                        item.append(f"<div>{_e(name)} = {block}</div>")
                out.append("<li>" + "".join(item) + "</li>")
            else:
                out.append(f"<li><code>{_e(r.symbolic)}</code> = <code>{_e(r.numeric)}</code></li>")
        out.append("</ul>")
        if not tensor:
            out.append('<ul class="updates">')
            out += [f"<li><code>{_e(line)}</code></li>" for line in update_lines(run, k, digits)]
            out.append("</ul>")
    elif step.node.inputs:
        out.append('<p class="rules">no input needs a grad: nothing to do</p>')
    else:
        out.append('<p class="rules">a leaf: its rule does nothing</p>')
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
            cell_html = _value_block(grads[i], digits, run.max_elements)
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
        # the graph's column asks for the graph's natural width: when that and the side
        # panel do not fit in one row, the side panel goes below and the graph keeps its size
        match = re.search(r"width:(\d+)px", svgs[k] or "")
        basis = f' style="flex-basis:{match.group(1)}px"' if match else ""
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


def html_many(runs: list[tuple[str, BackwardTrace]], *, title: str = "Backward passes",
              graphs: bool = True, **options: Any) -> str:
    """One page with a stepper per ``(heading, trace)``; each steps on its own.

    >>> import ag
    >>> a, b = ag.Scalar(2.0, label="a"), ag.Scalar(3.0, label="b")
    >>> page = html_many([("a", ag.backward_trace(a * a)), ("b", ag.backward_trace(b * b))], graphs=False)
    >>> page.count('<div class="ag-stepper"')
    2
    """
    body = [f"<h1>{_e(title)}</h1>"]
    for heading, run in runs:
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
