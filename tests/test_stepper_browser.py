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

import pytest

import ag
from ag import stepper
from ag.trace import format_number

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

    def send(self, method: str, **params):
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def eval(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + 20
        while self.eval("document.readyState") != "complete" or not self.eval(
            "!!document.getElementById('iteration')"
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
(() => {
  const visible = [...document.querySelectorAll('section.frame')].filter(s => !s.hidden);
  const rows = visible.length ? [...visible[0].querySelectorAll('table.grads tr[data-node]')] : [];
  return {
    iteration: document.getElementById('iteration').textContent,
    visible: visible.map(s => s.dataset.iteration),
    shownHeight: visible.length ? visible[0].getBoundingClientRect().height : 0,
    node: visible.length ? visible[0].querySelector('code.node').textContent : null,
    rules: visible.length ? [...visible[0].querySelectorAll('ul.updates li')].map(li => li.textContent) : [],
    grads: Object.fromEntries(rows.map(r => [r.dataset.node, r.querySelector('td.grad').textContent])),
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
    x1 = ag.Scalar(2.0, label="z1:leaf(x1)")
    h0 = ag.Scalar(3.0, label="z2:leaf(h0)")
    wr = ag.Scalar(4.0, label="z3:leaf(wr)")
    wi = ag.Scalar(5.0, label="z4:leaf(wi)")
    wo = ag.Scalar(6.0, label="z9:leaf(wo)")
    return ag.relu(wr * h0 + wi * x1) * wo


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
        expected = {name: format_number(g) for name, g in run.grads_after(presses).items()}
        assert shown["grads"] == expected
        assert shown["node"] == run.display_name(run.steps[presses].node)
        if presses == 4:  # by hand: z6 = z4*z1 adds z1.value*6 = 12 and z4.value*6 = 30
            assert shown["rules"] == ["z4.grad = 0 + 2 * 6 = 12", "z1.grad = 0 + 5 * 6 = 30"]
            assert shown["grads"]["z4"] == "12" and shown["grads"]["z1"] == "30"
            assert shown["grads"]["z3"] == "0"  # wr is reached at iteration 7
    # the last frame: every leaf grad by hand (wr 18, h0 24, wi 12, x1 30, wo 22)
    assert shown["grads"] == {"z3": "18", "z2": "24", "z5": "6", "z4": "12", "z1": "30",
                              "z6": "6", "z7": "6", "z8": "6", "z9": "22", "z10": "1"}
    browser.press("ArrowRight", 39)  # past the end: stays on the last iteration
    assert browser.eval(SHOWN)["iteration"] == "9"
    browser.press("ArrowLeft", 37)
    assert browser.eval(SHOWN)["iteration"] == "8"
    browser.press("Home", 36)
    assert browser.eval(SHOWN)["visible"] == ["0"]
    browser.eval("document.getElementById('next').click()")
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
    assert "<script>window.pwned=2</script>" in browser.eval("document.body.textContent")
