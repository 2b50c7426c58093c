"""The notebook stepper: docs/notebooks/two-steppers.ipynb run headless with nbclient.

The executed notebook must hold two stepper widgets (each its own model and its own
``.ag-stepper``), a Tensor's rich display with its grad, and a trace's answer key. A
second test renders the two widgets' saved state through the widget's own front-end
module (``ag.widget.ESM``) in headless Chromium, as a notebook front end does, and
steps each one. Skips without the ``notebook`` extra (anywidget, nbclient, ipykernel).
"""

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "docs" / "notebooks" / "two-steppers.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


@pytest.fixture(scope="module")
def executed():
    hint = "is not installed (pip install -e '.[tutorials]')"
    nbformat = pytest.importorskip("nbformat", reason=f"nbformat {hint}")
    nbclient = pytest.importorskip("nbclient", reason=f"nbclient {hint}")
    pytest.importorskip("anywidget", reason=f"anywidget {hint}")
    pytest.importorskip("ipykernel", reason=f"ipykernel {hint}")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(ROOT) + (os.pathsep + old if old else "")  # the kernel imports this ag
    try:
        client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=True,
                                         resources={"metadata": {"path": str(ROOT)}})
        client.execute()
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
    return nb


def outputs(nb):
    return [(cell, out) for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]


def widget_states(nb):
    state = nb.metadata["widgets"][WIDGET_STATE]["state"]
    views = [out["data"][WIDGET_VIEW]["model_id"] for _, out in outputs(nb)
             if WIDGET_VIEW in out.get("data", {})]
    return views, state


def test_the_notebook_runs_and_holds_two_stepper_widgets(executed):
    errors = [out for _, out in outputs(executed) if out.get("output_type") == "error"]
    assert errors == []
    views, state = widget_states(executed)
    assert len(views) == 2 and len(set(views)) == 2
    pages = [state[v]["state"]["html"] for v in views]
    for page in pages:
        assert page.count('<div class="ag-stepper"') == 1 and ' id="' not in page.split("<svg")[0]
    assert "z10:mul" in pages[0] and pages[0].count('<section class="frame"') == 10
    # the softmax stepper: W.grad in full, no row for X or I_y (they need no grad)
    assert 'data-node="W"' in pages[1]
    assert 'data-node="X"' not in pages[1] and 'data-node="I_y"' not in pages[1]
    assert [state[v]["state"]["count"] for v in views] == [10, 11]


def test_tensor_and_trace_have_rich_displays(executed):
    shown = [out["data"] for _, out in outputs(executed) if out.get("output_type") == "execute_result"]
    tensor = next(d for d in shown if "text/markdown" in d and "**Tensor** `W`" in d["text/markdown"])
    assert "requires_grad `True`" in tensor["text/markdown"] and "grad:" in tensor["text/markdown"]
    assert "requires_grad=True" in tensor["text/plain"] and "grad=" in tensor["text/plain"]
    trace = next(d for d in shown if "text/html" in d and "ag-trace" in d["text/html"])
    assert "summed over broadcast axes (0,) to b&#x27;s shape (3,)" in trace["text/html"]
    assert "text/markdown" in trace
    drawing = next(d for d in shown if "image/svg+xml" in d)  # ag.viz.draw renders inline
    assert "z10:mul" in drawing["image/svg+xml"]


HARNESS = """<!DOCTYPE html><html><head><meta charset="utf-8"><style>{css}</style></head><body>
<div class="cell" id="out0"></div><div class="cell" id="out1"></div>
<script type="module">
{esm}
// a minimal anywidget model: get/set/on/off/save_changes, as the front end gives render()
function model(state) {{
  const handlers = {{}};
  return {{
    get: (k) => state[k],
    set: (k, v) => {{ state[k] = v; (handlers["change:" + k] || []).forEach(h => h()); }},
    on: (e, h) => {{ (handlers[e] = handlers[e] || []).push(h); }},
    off: (e, h) => {{ handlers[e] = (handlers[e] || []).filter(x => x !== h); }},
    save_changes: () => {{ window.saved = (window.saved || 0) + 1; }},
  }};
}}
const states = {states};
window.models = states.map(model);
window.models.forEach((m, i) => render({{ model: m, el: document.getElementById("out" + i) }}));
window.rendered = true;
</script></body></html>
"""


@pytest.mark.browser
def test_the_two_widgets_step_on_their_own_in_chromium(executed, tmp_path):
    from test_stepper_browser import Browser, assert_wcag_aa, find_chromium

    from ag.stepper import CSS
    from ag.widget import ESM

    binary = find_chromium()
    if binary is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    pytest.importorskip("websocket", reason="websocket-client is not installed (pip install -e '.[dev]')")
    views, state = widget_states(executed)
    states = [dict(state[v]["state"]) for v in views]
    page = tmp_path / "notebook.html"
    page.write_text(HARNESS.format(css=CSS, esm=ESM.replace("export default { render };", ""),
                                   states=json.dumps(states)), encoding="utf-8")
    browser = Browser(binary, tmp_path / "profile")
    try:
        browser.open(page.as_uri())
        assert browser.eval("document.querySelectorAll('.ag-stepper[data-ag-ready]').length") == 2
        second = "document.querySelectorAll('.ag-stepper')[1]"
        browser.eval(f"{second}.querySelector('[data-role=next]').click()")
        assert browser.eval("window.models[1].get('iteration')") == 1  # synced to the model
        assert browser.eval("window.models[0].get('iteration')") == 0
        browser.eval("window.models[0].set('iteration', 3)")  # the Python side moves the first
        assert browser.eval("document.querySelectorAll('.ag-stepper')[0].dataset.iteration") == "3"
        assert browser.eval(f"{second}.dataset.iteration") == "1"
        # a focused stepper takes the arrow keys
        browser.eval(f"{second}.focus()")
        browser.press("ArrowRight", 39)
        assert browser.eval(f"{second}.dataset.iteration") == "2"
        assert assert_wcag_aa(browser) > 50  # every text in both widgets, drawings included
        assert browser.errors() == []
    finally:
        browser.close()
