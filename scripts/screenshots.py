"""Screenshots of the stepper for the README, taken by headless Chromium.

    python scripts/screenshots.py [OUT_DIR]      (default: docs/screenshots)

Writes, at 1400x1000 and 1024x768 CSS px:

* ``problem-1-3-{1400,1024}.png``: exam problem 1.3 (Scalars), at iteration 4;
* ``softmax-regression-{1400,1024}.png``: the softmax regression (Tensors), at iteration 6;
* ``attention-{0,3,LAST}-{1400,1024}.png``: the finals' SingleHeadAttention block at its
  first, fourth and last iteration (the stepper scrolls the current node into view);

and ``notebook-two-steppers.png`` (1400 px wide): docs/notebooks/two-steppers.ipynb
executed headless by nbclient, its cells laid out as a notebook does, each widget output
drawn by the widget's own front-end module (``ag.widget.ESM``) from its saved state,
the second stepper moved to iteration 6 by its model. (JupyterLab itself is not
installed here; the page stands in for its output area.)

Needs chromium and Graphviz's dot; the notebook shot needs the ``notebook`` and
``notebooks`` extras (anywidget, nbclient, ipykernel) and is skipped without them.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import os
import re
import runpy
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ag import stepper  # noqa: E402
from ag.stepper import CSS  # noqa: E402

SIZES = [(1400, 1000), (1024, 768)]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    raise SystemExit("screenshots: chromium is not installed (apt-get install chromium)")


def shoot(url: str, out: Path, width: int, height: int) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--disable-background-networking", "--no-first-run", f"--user-data-dir={profile}",
             f"--window-size={width},{height}", "--virtual-time-budget=3000",
             f"--screenshot={out}", url],
            check=True, capture_output=True, timeout=120,
        )
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


def exercise_trace(name: str):
    with contextlib.redirect_stdout(io.StringIO()):
        ns = runpy.run_path(str(ROOT / "exercises" / f"{name}.py"), run_name="screenshot")
    return ns["TRACE"].last


NOTEBOOK_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<style>
body {{ font-family: system-ui, sans-serif; margin: 0; background: #f3f4f6; color: #111827; }}
.nb {{ max-width: 1300px; margin: 0 auto; background: #fff; padding: 10px 24px 40px 24px; }}
.bar {{ font-size: 13px; color: #4b5563; border-bottom: 1px solid #e5e7eb; padding: 6px 0 8px 0; }}
.cell {{ display: flex; gap: 8px; margin: 8px 0; }}
.prompt {{ width: 60px; flex: none; color: #6b7280; font: 12px ui-monospace, monospace; text-align: right;
           padding-top: 6px; }}
.body {{ flex: 1; min-width: 0; }}
.input {{ background: #f9fafb; border: 1px solid #e5e7eb; border-radius: 3px; padding: 6px 8px;
          font: 13px ui-monospace, "DejaVu Sans Mono", monospace; white-space: pre; overflow-x: auto; }}
.md {{ padding: 2px 0; font-size: 14px; }}
.md h1 {{ font-size: 22px; margin: 6px 0; }} .md h2 {{ font-size: 17px; margin: 6px 0; }}
.output {{ padding: 4px 0; overflow-x: auto; }}
.output pre {{ font-size: 12px; }}
{css}
</style></head><body><div class="nb">
<div class="bar">two-steppers.ipynb (executed headless by nbclient; widget outputs drawn by ag.widget's
front-end module from the saved widget state)</div>
{cells}
</div>
<script type="module">
{esm}
function model(state) {{
  const handlers = {{}};
  return {{
    get: (k) => state[k],
    set: (k, v) => {{ state[k] = v; (handlers["change:" + k] || []).forEach(h => h()); }},
    on: (e, h) => {{ (handlers[e] = handlers[e] || []).push(h); }},
    off: (e, h) => {{ handlers[e] = (handlers[e] || []).filter(x => x !== h); }},
    save_changes: () => {{}},
  }};
}}
const states = {states};
document.querySelectorAll("[data-widget]").forEach((el) => {{
  const m = model(states[el.dataset.widget]);
  render({{ model: m, el }});
  if (el.dataset.widget === "{second}") {{ m.set("iteration", 6); }}
}});
</script></body></html>
"""


def _markdown(text: str) -> str:
    out = []
    for line in text.splitlines():
        if line.startswith("## "):
            out.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("# "):
            out.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.strip():
            out.append("<p>" + re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(line)) + "</p>")
    return "".join(out)


def notebook_page(tmp: Path) -> Path | None:
    try:
        import nbclient
        import nbformat

        from ag.widget import ESM
    except ImportError as err:
        print(f"screenshots: skipping the notebook shot ({err}); pip install -e '.[tutorials]'")
        return None
    nb = nbformat.read(ROOT / "docs" / "notebooks" / "two-steppers.ipynb", as_version=4)
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(ROOT) + (os.pathsep + old if old else "")
    try:
        nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=True,
                                resources={"metadata": {"path": str(ROOT)}}).execute()
    finally:
        os.environ.pop("PYTHONPATH", None) if old is None else os.environ.__setitem__("PYTHONPATH", old)
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    cells, widgets = [], []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cells.append(f'<div class="cell"><div class="prompt"></div><div class="body md">'
                         f"{_markdown(cell.source)}</div></div>")
            continue
        n = cell.get("execution_count") or " "
        parts = [f'<div class="input">{html.escape(cell.source)}</div>']
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data:
                model_id = data["application/vnd.jupyter.widget-view+json"]["model_id"]
                widgets.append(model_id)
                parts.append(f'<div class="output" data-widget="{model_id}"></div>')
            elif "image/svg+xml" in data:
                parts.append(f'<div class="output">{data["image/svg+xml"]}</div>')
            elif "text/html" in data:
                parts.append(f'<div class="output">{data["text/html"]}</div>')
            elif "text/plain" in data:
                parts.append(f'<div class="output"><pre>{html.escape(data["text/plain"])}</pre></div>')
        cells.append(f'<div class="cell"><div class="prompt">[{n}]:</div><div class="body">'
                     + "".join(parts) + "</div></div>")
    states = {m: state[m]["state"] for m in widgets}
    page = tmp / "notebook.html"
    page.write_text(NOTEBOOK_PAGE.format(css=CSS, cells="\n".join(cells), states=json.dumps(states),
                                         esm=ESM.replace("export default { render };", ""),
                                         second=widgets[1] if len(widgets) > 1 else ""),
                    encoding="utf-8")
    return page


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        attention = exercise_trace("attention_block")
        last = len(attention.steps) - 1
        attention_page = stepper.write_html(attention, tmp / "att.html",
                                            title="The finals' SingleHeadAttention")
        pages = {
            "problem-1-3": (stepper.write_html(exercise_trace("problem_1_3"), tmp / "p13.html",
                                               title="Exam problem 1.3"), [4]),
            "softmax-regression": (stepper.write_html(exercise_trace("softmax_regression"), tmp / "sr.html",
                                                      title="Softmax regression"), [6]),
            "attention": (attention_page, [0, 3, last]),
        }
        for name, (page, iterations) in pages.items():
            for k in iterations:
                suffix = f"-{k}" if len(iterations) > 1 else ""
                for width, height in SIZES:
                    shoot(f"{page.as_uri()}#{k}", out / f"{name}{suffix}-{width}.png", width, height)
        page = notebook_page(tmp)
        if page is not None:
            shoot(page.as_uri(), out / "notebook-two-steppers.png", 1400, 2600)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
