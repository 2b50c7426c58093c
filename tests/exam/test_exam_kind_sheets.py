"""Sheets, keys and templates of every ``--kind`` (issue 25, item 11): what is on the page.

PDFs are read back with pdftotext, LaTeX is compiled when an engine is installed, and
the HTML sheet is laid out in headless Chromium and read from its DOM.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from test_exam_handout import _picture_module, pdf_text  # same folder (pytest puts it on the path)

from ag.cli import main
from ag.exam.handout import (
    find_chromium,
    question_latex,
    question_sheets_html,
    question_template,
)
from ag.exam.questions import QUESTION_KINDS, question

KINDS = list(QUESTION_KINDS)


def _squash(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("kind", KINDS)
def test_sheet_and_key_html(kind):
    q = question(kind, 2)
    sheet = question_sheets_html([q])
    key = question_sheets_html([q], answers=True)
    for item in q.answers:
        assert f"<code>{item.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}" in sheet
    assert "Name" in sheet and f"seed {q.seed}" in sheet and "answer key" not in sheet
    import html

    for item in q.answers:
        assert html.escape(q.shown(item), quote=True) in key
    assert "checked against the kit before printing: " in key


@pytest.mark.parametrize("kind", KINDS)
def test_template_has_one_row_per_number(kind):
    q = question(kind, 2)
    lines = question_template(q).splitlines()
    assert lines[1] == "# seed: 2" and lines[2] == "iteration,node,quantity,answer"
    body = lines[3:]
    assert len(body) == len(q.rows()) and all(line.count(",") == 3 for line in body)
    md = question_template(q, "md")
    assert md.count("\n| ") == len(q.rows()) + 1


@pytest.mark.latex
@pytest.mark.parametrize("kind", KINDS)
def test_latex_compiles_and_shows_the_questions(kind, tmp_path):
    engine = shutil.which("pdflatex")
    if engine is None:
        pytest.skip("pdflatex is not installed")
    q = question(kind, 3)
    for answers in (False, True):
        tex = tmp_path / "q.tex"
        tex.write_text(question_latex(q, answers=answers, paper="a4"))
        done = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-2000:]
        pages = pdf_text(tmp_path / "q.pdf")
        text = _squash(" ".join(pages))
        assert all("Name" in page for page in pages), kind  # the name line heads every page
        assert f"seed {q.seed}" in text and q.title in text
        last = list(q.answers)[-1]
        assert _squash(last) in text
        shown = _squash(q.shown(last))
        assert (shown in text) == answers


@pytest.mark.browser
def test_attention_pdf_is_written_and_says_what_it_should(tmp_path, capsys):
    # --kind attention --pdf once wrote nothing and said nothing
    if find_chromium() is None:
        pytest.skip("chromium is not installed")
    out = tmp_path / "attention.pdf"
    assert main(["exam", "--kind", "attention", "--seed", "2", "--pdf", "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    text = _squash(" ".join(pdf_text(out)))
    for item in question("attention", 2).answers:
        assert _squash(item) in text
    assert "(1, 3, 3)" not in text  # the student's sheet: no answers


@pytest.mark.browser
def test_batch_pdfs_of_a_kind(tmp_path):
    if find_chromium() is None:
        pytest.skip("chromium is not installed")
    assert main(["exam", "--kind", "optimizer", "--seeds", "1-2", "--out", str(tmp_path), "--pdf"]) == 0
    sheets = pdf_text(tmp_path / "sheets.pdf")
    key = _squash(" ".join(pdf_text(tmp_path / "key.pdf")))
    assert all("Name" in page for page in sheets)
    for seed in (1, 2):
        q = question("optimizer", seed)
        assert f"seed {seed}" in key and _squash(q.checked_note()[:60]) in key
        for item in ("step 2: momentum u_w", "step 2: momentum w"):
            assert f"{item} {q.shown(item)}" in key


LAYOUT = """
(() => {
  const sheet = document.querySelector('section.sheet').getBoundingClientRect();
  const out = [...document.querySelectorAll('section.sheet *')].filter(e => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && (r.right > sheet.right + 1 || r.left < sheet.left - 1);
  }).map(e => e.tagName + '.' + e.className);
  return {
    overflow: out,
    docWidth: document.documentElement.scrollWidth,
    viewport: window.innerWidth,
    items: [...document.querySelectorAll('table.qa td.item')].map(td => td.textContent),
    answers: [...document.querySelectorAll('table.qa td.ans')].map(td => td.textContent),
    rowHeight: Math.min(...[...document.querySelectorAll('table.qa td.ans')].map(
      td => td.getBoundingClientRect().height)),
    names: [...document.querySelectorAll('.who span')].filter(s => s.textContent === 'Name').length,
    seed: document.querySelector('.seed').textContent,
  };
})()
"""


@pytest.mark.browser
@pytest.mark.parametrize("width", [1400, 1024])
def test_every_kind_sheet_in_headless_chromium(tmp_path, width):
    if find_chromium() is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    pytest.importorskip("websocket", reason="websocket-client is not installed")
    module = _picture_module()
    page = module.Page(str(tmp_path / "profile"))
    try:
        for kind in KINDS:
            q = question(kind, 2)
            for answers in (False, True):
                page_file = tmp_path / f"{kind}-{answers}.html"
                page_file.write_text(question_sheets_html([q], answers=answers))
                page.open(page_file.as_uri(), width, 900)
                shown = page.eval(LAYOUT)
                assert shown["overflow"] == [] and shown["docWidth"] <= shown["viewport"], (kind, shown)
                assert shown["items"] == list(q.answers) and shown["seed"] == f"{kind}, seed 2"
                if answers:
                    assert shown["answers"] == [q.shown(i) for i in q.answers]
                else:
                    assert shown["answers"] == [""] * len(q.answers) and shown["names"] >= 1
                    assert shown["rowHeight"] >= 45  # room to write an answer
    finally:
        page.close()


def test_every_kind_has_a_screenshot_in_the_docs():
    root = Path(__file__).resolve().parents[2]
    for kind in ["scalar", *KINDS]:
        assert (root / "docs" / "screenshots" / f"exam-{kind}.png").exists(), kind
