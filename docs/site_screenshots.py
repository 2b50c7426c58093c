"""Screenshots of the README and the docs site at 1400 px, to look at after a docs change.

    make docs && python docs/site_screenshots.py      # writes out/shots/*.png

The README is rendered as GitHub renders it (CommonMark, with HTML and tables, through
markdown-it-py, in GitHub-like CSS); the site pages are the built site/ opened from the
file system, as the README tells a reader to. Headless Chromium takes the pictures.
"""

from __future__ import annotations

import base64
import sys
import tempfile
import time
from pathlib import Path

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "out" / "shots"
CSS = """
body { font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif;
       font-size: 16px; line-height: 1.5; color: #1f2328; background: #fff; margin: 0; }
.markdown-body { max-width: 980px; margin: 32px auto; padding: 45px; border: 1px solid #d1d9e0;
                 border-radius: 6px; }
h1, h2 { border-bottom: 1px solid #d1d9e0; padding-bottom: .3em; } h1 { font-size: 2em; }
h2 { font-size: 1.5em; margin-top: 24px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 85%;
       background: #eff1f3; padding: .2em .4em; border-radius: 6px; }
pre { background: #f6f8fa; padding: 16px; border-radius: 6px; overflow: auto; font-size: 85%; }
pre code { background: none; padding: 0; font-size: 100%; }
img { max-width: 100%; } a { color: #0969da; text-decoration: none; }
table { border-collapse: collapse; } td, th { border: 1px solid #d1d9e0; padding: 6px 13px; }
"""
# (page of the built site, element to scroll to or None, picture)
SITE_PAGES = [("index.html", None, "site-home-1400.png"),
              ("api/tensor.html", None, "api-tensor-1400.png"),
              ("api/nn.html", "ag.nn.layers.Linear", "api-nn-1400.png"),
              ("api/exams.html", "ag.exam.grade", "api-exams-1400.png"),
              ("api/cli.html", None, "api-cli-1400.png")]


def readme_page() -> Path:
    body = MarkdownIt("commonmark", {"html": True}).enable("table").render(
        (ROOT / "README.md").read_text(encoding="utf-8"))
    page = OUT / "readme.html"
    page.write_text(f'<!doctype html><html><head><meta charset="utf-8"><base href="{ROOT.as_uri()}/">'
                    f'<style>{CSS}</style></head><body><article class="markdown-body">{body}</article>'
                    "</body></html>", encoding="utf-8")
    return page


def shoot(browser, url: str, name: str, scroll_to: str | None = None, full: bool = False) -> None:
    browser.size(1400, 1000)
    browser.send("Page.navigate", url=url)
    deadline = time.monotonic() + 30
    while browser.eval("document.readyState") != "complete" and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # the theme's scripts lay the page out
    if scroll_to:
        browser.eval(f"document.getElementById({scroll_to!r}).scrollIntoView()")
        time.sleep(0.3)
    params: dict = {"format": "png"}
    if full:
        height = browser.eval("document.documentElement.scrollHeight")
        params.update(captureBeyondViewport=True,
                      clip={"x": 0, "y": 0, "width": 1400, "height": height, "scale": 1})
    (OUT / name).write_bytes(base64.b64decode(browser.send("Page.captureScreenshot", **params)["data"]))
    print(f"wrote {OUT / name}")


def main() -> None:
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "trace")]
    from test_stepper_browser import Browser, find_chromium  # the browser tests' DevTools client

    OUT.mkdir(parents=True, exist_ok=True)
    binary = find_chromium()
    if binary is None:
        sys.exit("chromium is not installed (Debian: apt-get install chromium)")
    browser = Browser(binary, Path(tempfile.mkdtemp()))
    try:
        shoot(browser, readme_page().as_uri(), "readme-1400-full.png", full=True)
        site = ROOT / "site"
        if not (site / "index.html").exists():
            print("no site/ yet: run make docs for the site's pictures")
            return
        for page, scroll_to, name in SITE_PAGES:
            shoot(browser, (site / page).as_uri(), name, scroll_to)
    finally:
        browser.close()


if __name__ == "__main__":
    main()
