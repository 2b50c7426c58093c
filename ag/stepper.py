"""One self-contained HTML page that steps through a backward trace, frame by frame.

>>> import ag
>>> x = ag.Scalar(2.0, label="z1:leaf(x)"); z2 = x * x; z3 = z2 * z2
>>> page = ag.stepper.html(ag.backward_trace(z3))
>>> page.startswith("<!DOCTYPE html>") and "z1.grad = 0 + 2 * 8 + 2 * 8 = 32" in page
True

The page holds every frame as an inline SVG (drawn by :func:`ag.viz.frame`), the
rule applied and every grad after the iteration; a few lines of JavaScript show one
frame at a time (buttons, and the arrow, Home and End keys; ``#3`` in the URL opens
iteration 3). Nothing is fetched over the network. All text, labels included, is
HTML-escaped, and the SVGs come from Graphviz with their text XML-escaped.
"""

from __future__ import annotations

import html as _html
from pathlib import Path
from typing import Any

from ag.trace import BackwardTrace, format_number

__all__ = ["html", "write_html", "MAX_GRAPH_NODES"]

# Frames of graphs larger than this are left out (the page grows as nodes x iterations).
MAX_GRAPH_NODES = 150

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 1.2em 2em; color: #111827; }
h1 { font-size: 1.3em; margin: 0 0 .3em 0; }
h2 { font-size: 1.05em; margin: .2em 0 .5em 0; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
pre { background: #f9fafb; border: 1px solid #e5e7eb; padding: .6em .8em; overflow-x: auto; }
.order { color: #374151; }
nav { display: flex; align-items: center; gap: .5em; margin: .8em 0; position: sticky; top: 0;
      background: #fff; padding: .4em 0; border-bottom: 1px solid #e5e7eb; }
nav button { font-size: 1em; padding: .25em .8em; cursor: pointer; }
#counter { margin: 0 .8em; font-weight: 600; }
.frame { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
.frame[hidden] { display: none; }
.graph { flex: 1 1 560px; min-width: 320px; }
.graph svg { max-width: 100%; height: auto; }
.side { flex: 0 1 420px; }
ul.rules, ul.updates { padding-left: 1.2em; }
ul.updates li { font-weight: 600; }
table.grads { border-collapse: collapse; }
table.grads th, table.grads td { border: 1px solid #e5e7eb; padding: .15em .6em; text-align: left; }
table.grads tr.changed td { background: #fef9c3; font-weight: 600; }
.hint { color: #6b7280; font-size: .9em; }
"""

_JS = """
(function () {
  var frames = Array.prototype.slice.call(document.querySelectorAll("section.frame"));
  var current = 0;
  function show(i) {
    if (!frames.length) { return; }
    current = Math.max(0, Math.min(frames.length - 1, i));
    frames.forEach(function (f, j) { f.hidden = (j !== current); });
    document.getElementById("iteration").textContent = String(current);
    document.getElementById("prev").disabled = current === 0;
    document.getElementById("first").disabled = current === 0;
    document.getElementById("next").disabled = current === frames.length - 1;
    document.getElementById("last").disabled = current === frames.length - 1;
  }
  document.getElementById("first").addEventListener("click", function () { show(0); });
  document.getElementById("prev").addEventListener("click", function () { show(current - 1); });
  document.getElementById("next").addEventListener("click", function () { show(current + 1); });
  document.getElementById("last").addEventListener("click", function () { show(frames.length - 1); });
  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) { return; }
    if (e.key === "ArrowRight" || e.key === "ArrowDown" || e.key === "PageDown") { show(current + 1); }
    else if (e.key === "ArrowLeft" || e.key === "ArrowUp" || e.key === "PageUp") { show(current - 1); }
    else if (e.key === "Home") { show(0); }
    else if (e.key === "End") { show(frames.length - 1); }
    else { return; }
    e.preventDefault();
  });
  var start = parseInt((window.location.hash || "#0").slice(1), 10);
  show(isNaN(start) ? 0 : start);
})();
"""


def _e(text: Any) -> str:
    return _html.escape(str(text), quote=True)


def _frame_svgs(run: BackwardTrace, draw_options: dict) -> list[str | None]:
    from ag import viz

    if len(run.order) > MAX_GRAPH_NODES:
        return [None] * len(run.steps)
    return [viz.to_svg(g) for g in viz.frames(run, **draw_options)]


def html(
    run: BackwardTrace,
    *,
    title: str | None = None,
    intro: list[tuple[str, str]] | None = None,
    graphs: bool = True,
    digits: int = 6,
    **draw_options: Any,
) -> str:
    """The stepper page for one backward trace, as a string.

    ``intro`` is a list of ``(heading, preformatted text)`` sections shown above the
    stepper (``ag exam`` puts the problem there). ``graphs=False`` leaves the
    drawings out (no Graphviz needed); graphs of more than ``MAX_GRAPH_NODES`` nodes
    are left out too. ``draw_options`` go to :func:`ag.viz.frame`.

    >>> import ag
    >>> x = ag.Scalar(3.0, label="<b>x</b>")
    >>> page = html(ag.backward_trace(x * x), graphs=False)
    >>> "<b>x</b>" in page, "&lt;b&gt;x&lt;/b&gt;" in page
    (False, True)
    """
    n = len(run.steps)
    title = title or f"Backward pass of {run.display_name(run.root)}"
    svgs = _frame_svgs(run, draw_options) if graphs else [None] * n
    full_tables = len(run.order) <= MAX_GRAPH_NODES  # else each frame lists only what changed
    grads = list(run.initial_grads)
    index = run.index
    names = [run.name(node) for node in run.order]
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">",
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head><body>",
        f"<h1>{_e(title)}</h1>",
    ]
    for heading, text in intro or []:
        out.append(f"<h2>{_e(heading)}</h2><pre>{_e(text)}</pre>")
    out += [
        f'<p class="order">Topological order: <code id="order">{_e(run.order_text())}</code></p>',
        '<nav><button id="first" title="Home">&#xAB; first</button>'
        '<button id="prev" title="left arrow">&#x25C0; previous</button>'
        f'<span id="counter">iteration <span id="iteration">0</span> of '
        f'<span id="count">{max(n - 1, 0)}</span></span>'
        '<button id="next" title="right arrow">next &#x25B6;</button>'
        '<button id="last" title="End">last &#xBB;</button>'
        '<span class="hint">keys: &#x2190; &#x2192; Home End</span></nav>',
        "<main>",
    ]
    for k, step in enumerate(run.steps):
        changed = {id(i) for i in step.node.inputs}
        rules = run.rules(k, digits)
        out.append(f'<section class="frame" data-iteration="{k}"{" hidden" if k else ""}>')
        if svgs[k] is not None:
            out.append(f'<div class="graph">{svgs[k]}</div>')
        elif graphs:
            out.append('<div class="graph"><p class="hint">(graph too large to draw per frame)</p></div>')
        out.append('<div class="side">')
        out.append(
            f'<h2>iteration <span class="frame-iteration">{k}</span>: '
            f'<code class="node">{_e(run.display_name(step.node))}</code></h2>'
        )
        if rules:
            out.append('<ul class="rules">')
            for r in rules:
                out.append(f'<li><code>{_e(r.symbolic)}</code> = <code>{_e(r.numeric)}</code></li>')
            out.append('</ul><ul class="updates">')
            for line in run.update_lines(k, digits):
                out.append(f"<li><code>{_e(line)}</code></li>")
            out.append("</ul>")
        else:
            out.append('<p class="rules">a leaf: its rule does nothing</p>')
        for inp, g in zip(step.node.inputs, step.after):
            grads[index[id(inp)]] = g
        out.append('<table class="grads"><tr><th>node</th><th>grad after this iteration</th></tr>')
        if full_tables:
            rows = zip(run.order, names, grads)
        else:
            shown = list({id(i): i for i in step.node.inputs}.values())
            rows = ((n, names[index[id(n)]], grads[index[id(n)]]) for n in shown)
        for node, name, g in rows:
            cls = ' class="changed"' if id(node) in changed else ""
            out.append(
                f'<tr{cls} data-node="{_e(name)}"><th>{_e(name)}</th>'
                f'<td class="grad">{_e(format_number(g, digits))}</td></tr>'
            )
        out.append("</table></div></section>")
    out += ["</main>", f"<script>{_JS}</script>", "</body></html>", ""]
    return "\n".join(out)


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
