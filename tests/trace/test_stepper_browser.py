"""The HTML stepper in a real headless Chromium, driven over the DevTools protocol.

Chromium runs headless with no sandbox, no GPU and background networking off, in a
fresh profile; the test talks to it through `websocket-client` (the `dev` extra).
It skips, saying why, when Chromium, Graphviz's dot or websocket-client is missing.
"""

import itertools
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import course_problems
import pytest

import ag
from ag import stepper
from ag.trace import NOT_REACHED, format_number

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-extensions",
    "--disable-default-apps",
    "--window-size=1300,900",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


class Browser:
    """A headless Chromium with one page, and a minimal DevTools-protocol client."""

    def __init__(self, binary: str, profile: Path) -> None:
        import websocket

        self.proc = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                pytest.skip(f"chromium did not start (exit status {self.proc.returncode})")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.load(r)
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=20,
                                              suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict] = []
        self.send("Runtime.enable")
        self.send("Log.enable")

    def send(self, method: str, **params):
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv())
            if "method" in reply:
                self.events.append(reply)
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def eval(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self) -> list[dict]:
        """Uncaught exceptions and console errors seen so far."""
        bad = []
        for e in self.events:
            if e["method"] == "Runtime.exceptionThrown":
                bad.append(e)
            elif e["method"] == "Runtime.consoleAPICalled" and e["params"].get("type") == "error":
                bad.append(e)
            elif e["method"] == "Log.entryAdded" and e["params"]["entry"].get("level") == "error":
                bad.append(e)
        return bad

    def size(self, width: int, height: int) -> None:
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def open(self, url: str) -> None:
        self.events.clear()
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + 20
        while self.eval("document.readyState") != "complete" or not self.eval(
            "!!document.querySelector('.ag-stepper[data-ag-ready]')"
        ):
            assert time.monotonic() < deadline, "the page did not load"
            time.sleep(0.05)

    def press(self, key: str, code: int) -> None:
        for kind in ("keyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", type=kind, key=key, code=key,
                      windowsVirtualKeyCode=code, nativeVirtualKeyCode=code)

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


SHOWN = """
((which = 0) => {
  const root = document.querySelectorAll('.ag-stepper')[which];
  const visible = [...root.querySelectorAll('section.frame')].filter(s => !s.hidden);
  const rows = visible.length ? [...visible[0].querySelectorAll('table.grads tr[data-node]')] : [];
  return {
    iteration: root.querySelector('[data-role=iteration]').textContent,
    position: root.querySelector('[data-role=position]').textContent,
    count: root.querySelector('[data-role=count]').textContent,
    current: [...visible[0].querySelectorAll('.ag-order code.ag-current')].map(c => c.textContent),
    visible: visible.map(s => s.dataset.iteration),
    shownHeight: visible.length ? visible[0].getBoundingClientRect().height : 0,
    node: visible.length ? visible[0].querySelector('code.node').textContent : null,
    rules: visible.length ? [...visible[0].querySelectorAll('ul.updates li')].map(li => li.textContent) : [],
    grads: Object.fromEntries(rows.map(r => [r.dataset.node, r.querySelector('td.grad').dataset.grad])),
    svgs: visible.length ? visible[0].querySelectorAll('svg').length : 0,
  };
})()
"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary = find_chromium()
    if binary is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed (apt-get install graphviz)")
    pytest.importorskip("websocket", reason="websocket-client is not installed (pip install -e '.[dev]')")
    b = Browser(binary, tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def problem_1_3():
    return course_problems.problem_1_3().z10  # exercises/problem_1_3.py, fresh


def test_arrow_keys_step_through_the_trace(browser, tmp_path):
    run = ag.backward_trace(problem_1_3())
    page = stepper.write_html(run, tmp_path / "p.html")
    browser.open(page.as_uri())
    shown = browser.eval(SHOWN)
    assert shown["iteration"] == "0" and shown["visible"] == ["0"] and shown["node"] == "z10:mul"
    assert shown["svgs"] == 1 and shown["shownHeight"] > 100
    for presses in range(1, len(run.steps)):
        browser.press("ArrowRight", 39)
        shown = browser.eval(SHOWN)
        assert shown["iteration"] == str(presses) and shown["visible"] == [str(presses)]
        reached = run.reached_after(presses)
        expected = {name: format_number(g) if reached[i] else NOT_REACHED
                    for i, (name, g) in enumerate(run.grads_after(presses).items())}
        assert shown["grads"] == expected
        assert shown["position"] == str(presses + 1) and shown["count"] == "10"
        assert shown["current"] == [run.display_name(run.steps[presses].node)]
        assert shown["node"] == run.display_name(run.steps[presses].node)
        if presses == 4:  # by hand: z6 = z4*z1 adds z1.value*6 = 12 and z4.value*6 = 30
            assert shown["rules"] == ["z4.grad = 0 + 2 * 6 = 12", "z1.grad = 0 + 5 * 6 = 30"]
            assert shown["grads"]["z4"] == "12" and shown["grads"]["z1"] == "30"
            assert shown["grads"]["z3"] == NOT_REACHED  # wr is reached at iteration 7
    # the last frame: every leaf grad by hand (wr 18, h0 24, wi 12, x1 30, wo 22)
    assert shown["grads"] == {"z3": "18", "z2": "24", "z5": "6", "z4": "12", "z1": "30",
                              "z6": "6", "z7": "6", "z8": "6", "z9": "22", "z10": "1"}
    browser.press("ArrowRight", 39)  # past the end: stays on the last iteration
    assert browser.eval(SHOWN)["iteration"] == "9"
    browser.press("ArrowLeft", 37)
    assert browser.eval(SHOWN)["iteration"] == "8"
    browser.press("Home", 36)
    assert browser.eval(SHOWN)["visible"] == ["0"]
    browser.eval("document.querySelector('[data-role=next]').click()")
    assert browser.eval(SHOWN)["iteration"] == "1"
    browser.press("End", 35)
    assert browser.eval(SHOWN)["iteration"] == "9"


def test_hostile_label_stays_text_in_the_browser(browser, tmp_path):
    x = ag.Scalar(2.0, label='<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>')
    page = stepper.write_html(ag.backward_trace(x * x), tmp_path / "evil.html")
    browser.open(page.as_uri())
    assert browser.eval("window.pwned === undefined")
    assert browser.eval("document.querySelectorAll('img').length") == 0
    assert browser.eval("document.scripts.length") == 1
    assert browser.errors() == []
    assert "<script>window.pwned=2</script>" in browser.eval("document.body.textContent")


def shown_in(browser, which: int) -> dict:
    return browser.eval(SHOWN.strip()[:-2] + f"({which})")


def softmax_regression():
    import numpy as np

    X = ag.Tensor(np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.0]]), label="X", requires_grad=False)
    Iy = ag.Tensor(np.eye(3)[[0, 2, 1]], label="I_y", requires_grad=False)
    W = ag.Tensor(np.zeros((2, 3)), label="W")
    b = ag.Tensor(np.zeros(3), label="b")
    Z = X @ W + b
    return ag.mean(ag.logsumexp(Z, axis=1) - ag.sum(Z * Iy, axis=1))


def test_two_steppers_in_one_page_step_on_their_own(browser, tmp_path):
    a = ag.backward_trace(problem_1_3())
    b = ag.backward_trace(softmax_regression())
    page = tmp_path / "two.html"
    page.write_text(stepper.html_many([("problem 1.3", a), ("softmax regression", b)]), encoding="utf-8")
    browser.open(page.as_uri())
    assert browser.eval("document.querySelectorAll('.ag-stepper[data-ag-ready]').length") == 2
    # the second stepper's button moves the second one only
    browser.eval("document.querySelectorAll('.ag-stepper')[1].querySelector('[data-role=next]').click()")
    browser.eval("document.querySelectorAll('.ag-stepper')[1].querySelector('[data-role=next]').click()")
    first, second = shown_in(browser, 0), shown_in(browser, 1)
    assert first["iteration"] == "0" and second["iteration"] == "2" and second["visible"] == ["2"]
    assert second["node"] == b.display_name(b.steps[2].node)
    # keys go to the stepper used last (the second), then to the first once it is clicked
    browser.press("ArrowRight", 39)
    assert shown_in(browser, 1)["iteration"] == "3" and shown_in(browser, 0)["iteration"] == "0"
    browser.eval("document.querySelectorAll('.ag-stepper')[0].dispatchEvent(new MouseEvent('mousedown'))")
    browser.press("ArrowRight", 39)
    assert shown_in(browser, 0)["iteration"] == "1" and shown_in(browser, 1)["iteration"] == "3"
    # the softmax frame shows W.grad in full (6 numbers) and no row for X (needs no grad)
    browser.press("End", 35)
    assert shown_in(browser, 0)["iteration"] == "9"
    assert browser.errors() == []


FONT_SIZES = """
(() => {
  const out = [];
  document.querySelectorAll('.ag-stepper').forEach(root => {
    const frame = [...root.querySelectorAll('section.frame')].find(s => !s.hidden);
    const svg = frame.querySelector('svg');
    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    const sizes = [...svg.querySelectorAll('text')].map(t => parseFloat(t.getAttribute('font-size')) * scale);
    out.push({min: Math.min(...sizes), scale: scale, width: svg.getBoundingClientRect().width});
  });
  return out;
})()
"""


@pytest.mark.parametrize("width,height", [(1024, 768), (1400, 1000)])
def test_graph_text_stays_readable(browser, tmp_path, width, height):
    browser.size(width, height)
    try:
        page = tmp_path / "sizes.html"
        runs = [("problem 1.3", ag.backward_trace(problem_1_3())),
                ("softmax regression", ag.backward_trace(softmax_regression()))]
        page.write_text(stepper.html_many(runs), encoding="utf-8")
        browser.open(page.as_uri())
        for k in range(9):
            for which, measured in enumerate(browser.eval(FONT_SIZES)):
                assert measured["min"] >= 10, (width, which, k, measured)
            browser.press("ArrowRight", 39)
        # the nav bar fits: its right edge is inside the window
        right = browser.eval("Math.max(...[...document.querySelectorAll('.ag-stepper nav')]"
                             ".map(n => n.getBoundingClientRect().right))")
        assert right <= width
        assert browser.errors() == []
    finally:
        browser.size(1300, 900)


def test_nav_bar_wraps_in_a_narrow_window(browser, tmp_path):
    browser.size(420, 700)
    try:
        page = stepper.write_html(ag.backward_trace(problem_1_3()), tmp_path / "narrow.html")
        browser.open(page.as_uri())
        boxes = browser.eval("[...document.querySelectorAll('.ag-stepper nav > *')]"
                             ".map(e => e.getBoundingClientRect().right)")
        assert max(boxes) <= 420
        browser.eval("document.querySelector('[data-role=next]').click()")
        assert browser.eval(SHOWN)["iteration"] == "1"
    finally:
        browser.size(1300, 900)


LAYOUT = """
(() => {
  const frame = [...document.querySelector('.ag-stepper').querySelectorAll('section.frame')]
    .find(s => !s.hidden);
  const box = (sel) => frame.querySelector(sel).getBoundingClientRect();
  const main = box('.main-col'), side = box('.side');
  return {mainWidth: main.width, mainBottom: main.bottom, sideTop: side.top,
          stepperWidth: document.querySelector('.ag-stepper').getBoundingClientRect().width};
})()
"""


@pytest.mark.parametrize("column", [None, 640])
def test_side_panel_is_beside_a_wide_stepper_and_below_a_narrow_one(browser, tmp_path, column):
    # A 1400 px window either way: what decides is the stepper's own width. In a docs page's or a
    # notebook's 640 px column the panel goes below the graph (the graph keeps the column's
    # width) instead of squeezing graph and order into a strip beside it.
    browser.size(1400, 1000)
    try:
        run = ag.backward_trace(problem_1_3())
        whole, body = stepper.html(run), stepper.fragment(run)
        assert body in whole
        wrapped = body if column is None else f'<div style="width:{column}px">{body}</div>'
        page = tmp_path / f"layout-{column}.html"
        page.write_text(whole.replace(body, wrapped), encoding="utf-8")
        browser.open(page.as_uri())
        at = browser.eval(LAYOUT)
        if column is None:
            assert at["stepperWidth"] > 1100 and at["sideTop"] < at["mainBottom"], at  # beside
        else:
            assert at["stepperWidth"] == column, at
            assert at["mainWidth"] >= column - 1 and at["sideTop"] >= at["mainBottom"] - 1, at  # below
        assert browser.errors() == []
    finally:
        browser.size(1300, 900)


# -- contrast and the current node in view (issue 26, items 3 and 5) ---------------------------

COLOURS = """
(() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const opaque = (c) => { const v = rgb(c); return v.length === 3 || (v.length === 4 && v[3] > 0.99); };
  function background(el) {
    for (let e = el; e; e = e.parentElement) {
      const bg = getComputedStyle(e).backgroundColor;
      if (opaque(bg)) { return bg; }
    }
    return "rgb(255, 255, 255)";
  }
  const out = [];
  const scope = [];
  for (const stepper of document.querySelectorAll('.ag-stepper')) {  // every stepper on the page
    const frame = [...stepper.querySelectorAll('section.frame')].find(s => !s.hidden);
    scope.push(stepper.querySelector('nav'), frame);
  }
  for (const root of scope) {
    for (const el of root.querySelectorAll('*')) {
      if (el.closest('svg')) { continue; }
      const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
      if (!own || !el.getClientRects().length) { continue; }
      out.push({what: el.tagName + ':' + el.textContent.trim().slice(0, 30), fg: getComputedStyle(el).color,
                bg: background(el), disabled: !!el.closest('button:disabled')});
    }
    for (const t of root.querySelectorAll('svg g.node text')) {
      const box = t.parentElement.querySelector('path, polygon');
      const fill = box && box.getAttribute('fill');
      out.push({what: 'svg:' + t.textContent.slice(0, 30), fg: getComputedStyle(t).fill,
                bg: fill && fill !== 'none' ? fill : 'rgb(255, 255, 255)', disabled: false});
    }
  }
  return out;
})()
"""


def _luminance(colour: str) -> float:
    import re

    if colour.startswith("#"):
        parts = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    else:
        parts = [float(v) for v in re.findall(r"[\d.]+", colour)[:3]]
    lin = [(c / 255) / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in parts]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(fg: str, bg: str) -> float:
    """WCAG's contrast ratio of two colours (1 to 21)."""
    a, b = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def assert_wcag_aa(browser) -> int:
    """Every text shown (HTML and the drawings' SVG) has contrast >= 4.5 with what is behind it."""
    checked = 0
    for item in browser.eval(COLOURS):
        if item["disabled"]:  # a disabled button is exempt (WCAG 1.4.3)
            continue
        ratio = contrast(item["fg"], item["bg"])
        assert ratio >= 4.5, (item, round(ratio, 2))
        checked += 1
    return checked


def test_contrast_helper_by_hand():
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#9ca3af", "#f3f4f6"), 1) == 2.3  # the old grey on grey (issue 26)
    assert contrast("#4b5563", "#f3f4f6") > 6.5  # the new "not yet visited" text


@pytest.mark.parametrize("which", ["1.3", "attention"])
def test_every_text_meets_wcag_aa_contrast(browser, tmp_path, which):
    if which == "1.3":
        run = ag.backward_trace(problem_1_3())
    else:
        run = course_problems_attention()
    page = stepper.write_html(run, tmp_path / "c.html")
    browser.size(1400, 1000)
    browser.open(page.as_uri())
    checked = 0
    for k in (0, 3, len(run.steps) - 1):
        browser.eval(f"document.querySelector('.ag-stepper').agShow({k})")
        checked += assert_wcag_aa(browser)
    assert checked > 100


def course_problems_attention():
    import contextlib
    import io
    import runpy
    from pathlib import Path

    with contextlib.redirect_stdout(io.StringIO()):
        ns = runpy.run_path(str(Path(__file__).resolve().parents[2] / "exercises" / "attention_block.py"),
                            run_name="test")
    return ns["TRACE"].last


NODE_IN_VIEW = """
(() => {
  const frame = [...document.querySelectorAll('section.frame')].find(s => !s.hidden);
  const node = frame.querySelector('g.node.ag-current');
  const r = node.getBoundingClientRect(), box = frame.querySelector('.graph').getBoundingClientRect();
  return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, boxLeft: box.left,
          boxRight: box.right, height: window.innerHeight, title: node.querySelector('title').textContent};
})()
"""


@pytest.mark.parametrize("width,height", [(1024, 768), (1400, 1000)])
def test_the_current_node_is_brought_into_view_on_every_step(browser, tmp_path, width, height):
    run = course_problems_attention()  # wider than the page at both widths
    page = stepper.write_html(run, tmp_path / "att.html")
    browser.size(width, height)
    browser.open(page.as_uri())
    wide = browser.eval("document.querySelector('section.frame .graph').scrollWidth > "
                        "document.querySelector('section.frame .graph').clientWidth")
    assert wide, "the attention graph should be wider than its column here"
    for k in range(len(run.steps)):
        if k:
            browser.press("ArrowRight", 39)
        at = browser.eval(NODE_IN_VIEW)
        assert at["title"] == f"n{run.index[id(run.steps[k].node)]}"
        assert at["left"] >= at["boxLeft"] - 1 and at["right"] <= at["boxRight"] + 1, (k, at)
        assert at["top"] >= 0 and at["bottom"] <= at["height"], (k, at)


def test_problem_1_3_changed_rows_and_colours_by_hand(browser, tmp_path):
    # iteration 4 is z6 = z4 * z1 (wi * x1): z4 gets z1.value * 6 = 12 and z1 gets z4.value * 6 = 30;
    # exactly those two rows are marked changed, and their nodes are green; wr (z3) is still grey
    run = ag.backward_trace(problem_1_3())
    page = stepper.write_html(run, tmp_path / "p.html")
    browser.open(page.as_uri() + "#4")
    got = browser.eval("""(() => {
      const f = [...document.querySelectorAll('section.frame')].find(s => !s.hidden);
      const fill = (t) => [...f.querySelectorAll('svg g.node')].find(g => g.querySelector('title')
                              .textContent === t).querySelector('path, polygon').getAttribute('fill');
      return {changed: [...f.querySelectorAll('tr.changed')].map(r => [r.dataset.node, r.querySelector('td')
                        .textContent.trim(), getComputedStyle(r.querySelector('td')).backgroundColor]),
              wi: fill('n3'), x1: fill('n4'), wr: fill('n0'), z6: fill('n5')};
    })()""")
    assert got["changed"] == [["z4", "12", "rgb(187, 247, 208)"], ["z1", "30", "rgb(187, 247, 208)"]]
    assert got["wi"] == got["x1"] == "#bbf7d0"  # green: just received a grad
    assert got["wr"] == "#f3f4f6"  # grey: not visited yet
    assert got["z6"] == "#fde047"  # yellow: the current iteration
