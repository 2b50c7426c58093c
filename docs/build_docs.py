"""Rebuild the pictures the README shows: python docs/build_docs.py

* docs/problem_1_3.svg: exam problem 1.3 drawn after backward;
* docs/problem_1_3_blank.svg: the same graph as a blank exam sheet, ops drawn separately;
* docs/problem_1_3_trace.txt: the terminal table of its backward trace;
* docs/stepper.png: the HTML stepper at iteration 4, screenshotted by headless Chromium.
"""

from __future__ import annotations

import runpy
import shutil
import subprocess
import tempfile
from pathlib import Path

from ag import stepper, viz

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent


def main() -> None:
    ns = runpy.run_path(str(ROOT / "exercises" / "problem_1_3.py"), run_name="docs")
    run = ns["TRACE"].last
    viz.render(viz.draw(ns["z10"]), DOCS / "problem_1_3.svg")
    viz.render(viz.draw(ns["z10"], values=False, grads=False, op_nodes=True, legend=False),
               DOCS / "problem_1_3_blank.svg")
    (DOCS / "problem_1_3_trace.txt").write_text(run.text() + "\n", encoding="utf-8")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium not found: docs/stepper.png left as it is")
        return
    with tempfile.TemporaryDirectory() as tmp:
        page = stepper.write_html(run, Path(tmp) / "problem_1_3.html")
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
             f"--user-data-dir={Path(tmp) / 'profile'}", "--hide-scrollbars", "--window-size=1300,760",
             f"--screenshot={DOCS / 'stepper.png'}", page.as_uri() + "#4"],
            check=True, capture_output=True, timeout=120,
        )
    print("wrote docs/problem_1_3.svg, problem_1_3_blank.svg, problem_1_3_trace.txt and stepper.png")


if __name__ == "__main__":
    main()
