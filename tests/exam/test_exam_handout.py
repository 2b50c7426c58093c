"""Printable handouts: sheets, keys, LaTeX, PDF, batches; the sheet in headless Chromium."""

from __future__ import annotations

import html
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ag.cli import main
from ag.exam import generate
from ag.exam.handout import (
    answer_template,
    find_chromium,
    key_html,
    parenthesize_negatives,
    parse_seeds,
    print_pdf,
    sheet_html,
    sheet_latex,
    template_rows,
)

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())


def pdf_pages(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert data.startswith(b"%PDF")
    return re.findall(rb"/MediaBox\s*\[([^\]]*)\]", data)


def pdf_text(path: Path) -> list[str]:
    """The text on each page of a PDF (pdftotext, from poppler-utils), whitespace collapsed."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is not installed (apt-get install poppler-utils)")
    done = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          timeout=60, check=True)
    return [" ".join(page.split()) for page in done.stdout.split("\f")[:-1]]


def test_sheet_has_everything_a_student_needs_and_no_answers():
    p = generate(seed=12)
    page = sheet_html(p)
    assert "@page { size: 8.5in 11in" in page and "@media print" in page
    assert "seed 12" in page and p.order.replace("[", "") in page.replace("&#x27;", "'")
    assert page.count("<td class='k'>") == len(p.run.order)  # one row per iteration
    assert "class='canvas'" in page  # the blank graph sheet
    for name, g in p.answers.items():  # the answers are not on the sheet
        assert f"{name}.grad = {g}" not in page
    for line in p.run.update_lines(0):
        assert line not in page
    hidden = sheet_html(p, show_order=False, paper="a4")
    assert "210mm 297mm" in hidden and p.order not in hidden and "topo_order" in hidden


def test_key_has_the_answers_and_the_drawing():
    p = generate(seed=12)
    page = key_html([p], graphs=shutil.which("dot") is not None)
    for k in range(len(p.run.steps)):
        for line in p.run.update_lines(k):
            assert html.escape(parenthesize_negatives(line)) in page
    assert "finite" in page and str(p.keys_checked) in page
    # which grads were checked, not only how many
    assert "every node" in page and ", ".join(f"{n}.grad" for n in p.leaves) in page
    if shutil.which("dot"):
        assert "<svg" in page


def test_template_rows_cover_every_value_and_grad():
    p = generate(seed=5)
    rows = template_rows(p)
    assert sum(1 for r in rows if r[0] == "forward") == len(p.shape.ops)
    assert [int(r[2][1:].split(".")[0]) for r in rows if r[0] == "forward"] == sorted(
        int(r[2][1:].split(".")[0]) for r in rows if r[0] == "forward")  # in code order
    leaf_iterations = sum(1 for r in rows if r[2] == "nothing")
    assert leaf_iterations == p.shape.n_leaves
    csv = answer_template(p)
    md = answer_template(p, "md")
    assert "# seed: 5" in csv and "<!-- seed: 5 -->" in md
    assert csv.count("\n") - 3 == len(rows) and md.count("\n| ") == len(rows) + 1


def test_latex_is_a_complete_document():
    doc = sheet_latex(generate(seed=3), answers=True)
    assert doc.startswith("\\documentclass") and "\\begin{document}" in doc
    assert doc.rstrip().endswith("\\end{document}") and "\\begin{longtable}" in doc
    assert doc.count("\\begin{") == doc.count("\\end{")


# pdflatex is the engine CI installs (texlive-latex-base): under CI=true its skip is a failure
@pytest.mark.parametrize("engine", [pytest.param("pdflatex", marks=pytest.mark.latex), "xelatex", "lualatex",
                                    "tectonic"])
def test_latex_compiles_with_an_installed_engine(engine, tmp_path):
    if shutil.which(engine) is None:
        pytest.skip(f"{engine} is not installed")
    tex = tmp_path / "sheet.tex"
    tex.write_text(sheet_latex(generate(seed=3), answers=True, paper="a4"))
    flags = [] if engine == "tectonic" else ["-interaction=nonstopmode", "-halt-on-error"]
    cmd = [engine, *flags, tex.name]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:]
    pages = pdf_text(tmp_path / "sheet.pdf")
    assert len(pages) >= 3 and "seed 3" in pages[0] and "Name" in pages[0] and "Name" in pages[1]
    assert "Answer key (seed 3)" in pages[-1] or "Answer key (seed 3)" in pages[-2]
    if engine != "tectonic":  # the student sheet alone fits its page width (a 10-node order too)
        tex.write_text(sheet_latex(generate(seed=9, difficulty="hard"), paper="letter"))
        done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 and "Overfull \\hbox" not in (tmp_path / "sheet.log").read_text()


def test_parse_seeds_and_its_errors():
    assert parse_seeds("1-3,7,2") == [1, 2, 3, 7]
    for bad in ("", "a-b", "5-1", "1,,x"):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)


def test_batch_of_40_distinct_sheets_with_one_key(tmp_path, capsys):
    out = tmp_path / "exam"
    assert main(["exam", "--seeds", "1-40", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "40 sheets (40 distinct problems)" in said and "finite differences" in said
    sheets = sorted(out.glob("sheet-seed-*.html"))
    assert len(sheets) == 40 and len(list(out.glob("answers-seed-*.csv"))) == 40
    assert all(f"seed {s}</span>" in (out / f"sheet-seed-{s}.html").read_text() for s in (1, 17, 40))
    key = json.loads((out / "key.json").read_text())
    assert sorted(map(int, key["problems"])) == list(range(1, 41))
    assert len({p["code"] for p in key["problems"].values()}) == 40
    assert (out / "sheets.html").read_text().count("class='sheet'") == 40


def test_pdf_needs_chromium_and_says_so(tmp_path, monkeypatch, capsys):
    import ag.exam.handout as handout

    monkeypatch.setattr(handout, "find_chromium", lambda: None)
    code = main(["exam", "--seed", "3", "--pdf", "-o", str(tmp_path / "s.pdf")])
    assert code == 1 and "apt-get install chromium" in capsys.readouterr().err
    assert main(["exam", "--seed", "3", "--pdf"]) == 2


@pytest.mark.browser
def test_pdf_pages_letter_and_a4(tmp_path):
    if find_chromium() is None:
        pytest.skip("chromium is not installed")
    for paper, box in (("letter", b"0 0 612 792"), ("a4", b"0 0 594.9")):
        page = tmp_path / f"{paper}.html"
        page.write_text(sheet_html(generate(seed=8), paper=paper))
        pages = pdf_pages(print_pdf(page, tmp_path / f"{paper}.pdf"))
        assert len(pages) == 2 and all(p.strip().startswith(box) for p in pages), pages
    assert main(["exam", "--seeds", "1-3", "--out", str(tmp_path / "b"), "--pdf"]) == 0
    assert len(pdf_pages(tmp_path / "b" / "sheets.pdf")) == 6
    sheets = pdf_text(tmp_path / "b" / "sheets.pdf")
    assert all("Name" in page for page in sheets)  # a name field on every printed page
    for seed, (first, second) in zip((1, 2, 3), zip(sheets[::2], sheets[1::2])):
        p = generate(seed=seed)
        assert f"seed {seed}" in first and f"seed {seed}" in second and "Forward code" in first
        assert "Backward pass, iteration by iteration" in second
        assert all(name not in " ".join(sheets) for name in [p._answer_line()])
    key = " ".join(pdf_text(tmp_path / "b" / "key.pdf"))
    for seed in (1, 2, 3):
        p = generate(seed=seed)
        assert f"seed {seed}" in key and " ".join(p._answer_line().split()) in key


def _picture_module():
    path = ROOT / "scripts" / "exam_sheet_picture.py"
    spec = importlib.util.spec_from_file_location("exam_sheet_picture", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["exam_sheet_picture"] = module
    spec.loader.exec_module(module)
    return module


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
    rows: document.querySelectorAll('table.iterations tbody tr').length,
    canvasHeight: document.querySelector('.canvas').getBoundingClientRect().height,
    seed: document.querySelector('.seed').textContent,
    names: [...document.querySelectorAll('.who span')].filter(s => s.textContent === 'Name').length,
    rowHeight: document.querySelector('table.iterations td').getBoundingClientRect().height,
    code: document.querySelector('pre').textContent,
  };
})()
"""


@pytest.mark.browser
@pytest.mark.parametrize("width,media", [(1400, "screen"), (1024, "screen"), (816, "print")])
def test_sheet_in_headless_chromium(tmp_path, width, media):
    if find_chromium() is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    pytest.importorskip("websocket", reason="websocket-client is not installed")
    p = generate(seed=21)
    page_file = tmp_path / "sheet.html"
    page_file.write_text(sheet_html(p))
    module = _picture_module()
    page = module.Page(str(tmp_path / "profile"))
    try:
        page.open(page_file.as_uri(), width, 900, media=media)
        shown = page.eval(LAYOUT)
        shot = page.shot(tmp_path / "sheet.png")
    finally:
        page.close()
    assert shown["overflow"] == [] and shown["docWidth"] <= shown["viewport"]
    assert shown["rows"] == len(p.run.order) and shown["canvasHeight"] > 300
    assert shown["seed"] == "seed 21" and shown["code"] == p.code
    assert shown["names"] == 2 and shown["rowHeight"] >= 50  # a name on each page; rows to write in
    from PIL import Image

    with Image.open(shot) as im:  # the picture shows the page: not blank, as wide as the window
        assert im.width == width and len(im.convert("L").getcolors(256) or range(257)) > 8
