"""Pictures of a printed exam sheet: the README's "For instructors" figure and review shots.

    PYTHONPATH=$PWD python scripts/exam_sheet_picture.py            # docs/exam_sheet.png
    PYTHONPATH=$PWD python scripts/exam_sheet_picture.py --out DIR --widths 1400,1024
    PYTHONPATH=$PWD python scripts/exam_sheet_picture.py --kinds    # docs/screenshots/exam-KIND.png

The sheet is opened in headless Chromium with print media emulated (what the
printer gets: page width, no screen frame) and captured page by page; with
``--widths`` it also captures the screen view at those window widths. With
``--kinds`` it captures one student sheet of every ``ag exam --kind`` (and the
scalar one) at 1400 px, saved small (a 64-colour palette) under docs/screenshots/. Needs
Chromium and the ``websocket-client`` package (the ``dev`` extra).
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ag.exam import generate  # noqa: E402
from ag.exam.handout import find_chromium, question_sheets_html, sheet_html  # noqa: E402
from ag.exam.questions import QUESTION_KINDS, question  # noqa: E402


class Page:
    """One headless Chromium page driven over the DevTools protocol."""

    def __init__(self, profile: str) -> None:
        import websocket

        binary = find_chromium()
        if binary is None:
            raise SystemExit("needs Chromium: apt-get install chromium")
        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--hide-scrollbars", f"--user-data-dir={profile}", "--remote-debugging-port=0",
             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline:
                raise SystemExit("chromium did not start")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            target = next(t for t in json.load(r) if t.get("type") == "page")
        self.ws = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=30,
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
        return self.send("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def open(self, url: str, width: int, height: int, media: str = "screen", scale: float = 1.0) -> None:
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=scale, mobile=False)
        self.send("Emulation.setEmulatedMedia", media=media)
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + 20
        while self.eval("document.readyState") != "complete":
            assert time.monotonic() < deadline, "the page did not load"
            time.sleep(0.05)

    def shot(self, path: Path, height: int | None = None) -> Path:
        full = self.eval("document.documentElement.scrollHeight")
        width = self.eval("document.documentElement.scrollWidth")
        clip = {"x": 0, "y": 0, "width": width, "height": height or full, "scale": 1}
        data = self.send("Page.captureScreenshot", format="png", clip=clip,
                         captureBeyondViewport=True)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        self.ws.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)


def small_png(path: Path) -> Path:
    """Save ``path`` again with a 64-colour palette (a sheet is black on white: nothing is lost)."""
    from PIL import Image

    with Image.open(path) as im:
        im.convert("RGB").quantize(colors=64).save(path, optimize=True)
    return path


def kind_pictures(out: Path, width: int = 1400, seed: int = 2) -> list[Path]:
    """One student sheet per kind, screen view at ``width`` px: ``out/exam-KIND.png``."""
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        page = Page(tmp + "/profile")
        try:
            pages = {"scalar": sheet_html(generate(seed=seed))}
            pages.update({kind: question_sheets_html([question(kind, seed)]) for kind in QUESTION_KINDS})
            for kind, html in pages.items():
                page_file = Path(tmp) / f"{kind}.html"
                page_file.write_text(html, encoding="utf-8")
                page.open(page_file.as_uri(), width, 900)
                written.append(small_png(page.shot(out / f"exam-{kind}.png")))
        finally:
            page.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--paper", default="letter", choices=("letter", "a4"))
    parser.add_argument("--out", default=str(ROOT / "docs"))
    parser.add_argument("--widths", default="", help="also capture the screen view at these widths")
    parser.add_argument("--kinds", action="store_true",
                        help="one sheet per kind at 1400 px into docs/screenshots/exam-KIND.png")
    args = parser.parse_args(argv)
    if args.kinds:
        for path in kind_pictures(ROOT / "docs" / "screenshots"):
            print(path)
        return 0
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        page_file = Path(tmp) / "sheet.html"
        sheet = sheet_html(generate(seed=args.seed), paper=args.paper)
        # the printer adds the @page margins; the picture shows them as a white border
        # and shows page 1 alone: what follows the page break goes on page 2
        sheet = sheet.replace("</style>", "@media print { body { padding: 0.55in 0.6in; } "
                              ".page-break, .page-break ~ * { display: none; } }</style>", 1)
        page_file.write_text(sheet, encoding="utf-8")
        page = Page(tmp + "/profile")
        try:
            # print media at the printable width of the paper (8.5in - margins at 96 px/in)
            page.open(page_file.as_uri(), 816, 1056, media="print", scale=1.25)
            print(page.shot(out / "exam_sheet.png"))
            for w in [int(w) for w in args.widths.split(",") if w]:
                page.open(page_file.as_uri(), w, 900)
                print(page.shot(out / f"exam_sheet_screen_{w}.png"))
        finally:
            page.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
