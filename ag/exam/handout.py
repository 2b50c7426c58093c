"""Printable handouts of exam problems: student sheets, answer keys, answer templates.

A student sheet (:func:`sheet_html`) is a self-contained HTML page with print CSS
for US Letter or A4: the seed (to find the key when regrading), the forward code,
the non-reversed topological order (or, with ``show_order=False``, room to run the
depth-first search by hand), a blank exam-layout sheet to draw the graph on
(inputs on the left, the output on the right) and an empty per-iteration table.
:func:`key_html` is the instructor's key: the drawn graph with values and grads,
each iteration's rule with numbers, and the leaves' grads. :func:`sheet_latex` is
the same sheet as a complete LaTeX document. :func:`answer_template` is the file a
student fills in for ``ag grade`` (CSV or a Markdown table), and :func:`print_pdf`
prints any of these pages to PDF through headless Chromium.

>>> from ag.exam import generate
>>> page = sheet_html(generate(seed=3))
>>> page.startswith("<!DOCTYPE html>") and "@page" in page and "seed 3" in page
True
"""

from __future__ import annotations

import html as _html
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ag.exam.problem import ExamProblem

__all__ = [
    "PAPERS",
    "sheet_html",
    "sheets_html",
    "key_html",
    "sheet_latex",
    "answer_template",
    "key_data",
    "print_pdf",
    "find_chromium",
    "ChromiumNotFoundError",
    "parse_seeds",
    "write_batch",
    "write_key",
    "parenthesize_negatives",
    "question_sheets_html",
    "question_latex",
    "question_template",
    "write_question_batch",
]

#: paper name -> CSS page size
PAPERS = {"letter": "8.5in 11in", "a4": "210mm 297mm"}
_SCREEN_WIDTH = {"letter": "8.5in", "a4": "210mm"}


class ChromiumNotFoundError(RuntimeError):
    """``--pdf`` was asked for, but no Chromium (or Chrome) is installed."""


def _e(text: Any) -> str:
    return _html.escape(str(text), quote=True)


_NEGATIVE_TERM = re.compile(r"(?<=[+*/] )-(\d[\d.]*(?:e[+-]?\d+)?)")


def parenthesize_negatives(line: str) -> str:
    """A key's update line with negative terms in parentheses, as a student writes them.

    >>> parenthesize_negatives("z2.grad = 0 + -1 * 2 = -2")
    'z2.grad = 0 + (-1) * 2 = -2'
    """
    return _NEGATIVE_TERM.sub(r"(-\1)", line)


def _tex(text: str) -> str:
    """LaTeX-escaped text whose ``^`` prints (and copies, and extracts) as a caret, not an accent."""
    from ag.trace import latex_escape

    return latex_escape(text).replace("\\^{}", "\\textasciicircum{}")


def _css(paper: str) -> str:
    if paper not in PAPERS:
        raise ValueError(f"ag exam: paper must be one of {', '.join(PAPERS)}, not {paper!r}")
    return f"""
@page {{ size: {PAPERS[paper]}; margin: 0.55in 0.6in; }}
* {{ box-sizing: border-box; }}
body {{ font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; color: #111; margin: 0;
       background: #e5e7eb; font-size: 11pt; }}
.sheet {{ background: #fff; width: {_SCREEN_WIDTH[paper]}; max-width: 100%; margin: 1.5em auto;
          padding: 0.55in 0.6in; box-shadow: 0 1px 6px rgba(0,0,0,.25); }}
.sheet + .sheet {{ margin-top: 2em; }}
header {{ display: flex; justify-content: space-between; align-items: baseline; gap: 1em;
          border-bottom: 2px solid #111; padding-bottom: .3em; margin-bottom: .6em; flex-wrap: wrap; }}
header h1 {{ font-size: 15pt; margin: 0; }}
.seed {{ font-weight: 700; white-space: nowrap; }}
.who {{ display: flex; gap: 2em; margin: .4em 0 .8em; }}
.who span {{ flex: 1; border-bottom: 1px solid #111; padding-top: 1.2em; font-size: 9pt; color: #444; }}
.who span.seed-again {{ flex: 0 0 auto; border-bottom: none; font-weight: 700; color: #111; }}
table.qa td {{ height: 0.55in; }}
table.qa td.item {{ width: 40%; }}
table.qa td.tall {{ height: 1.1in; }}
table.qa thead tr.who-row th {{ background: #fff; font-weight: 400; font-size: 9pt; color: #444;
                               border: none; padding: .1em 0 .5em; }}
.exact {{ font-size: 9.5pt; }}
@media screen {{ table.qa thead tr.who-row {{ display: none; }} }}  /* a printed page repeats it */
h2 {{ font-size: 11.5pt; margin: .9em 0 .35em; }}
pre, code {{ font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; }}
pre {{ font-size: 9.5pt; line-height: 1.3; border: 1px solid #9ca3af; padding: .5em .7em; margin: 0;
       white-space: pre-wrap; overflow-wrap: anywhere; }}
.order {{ font-size: 9.5pt; overflow-wrap: anywhere; }}
ul.rules {{ margin: .2em 0 .2em 1.2em; padding: 0; font-size: 9.5pt; }}
.canvas {{ border: 1.5px solid #111; height: 3.6in; position: relative; margin-top: .3em; }}
.canvas svg {{ position: absolute; inset: 0; width: 100%; height: 100%; }}
.dfs {{ border: 1px solid #111; height: 1.2in; margin-top: .3em; padding: .3em .5em;
         font-size: 9pt; color: #555; }}
table {{ border-collapse: collapse; width: 100%; font-size: 9.5pt; }}
th, td {{ border: 1px solid #111; padding: .25em .4em; text-align: left; vertical-align: top; }}
th {{ background: #f3f4f6; }}
table.iterations td {{ height: 0.62in; }}
table.iterations td.k {{ width: 0.55in; text-align: center; }}
table.iterations td.node {{ width: 1.3in; }}
tr {{ break-inside: avoid; }}
.page-break {{ break-before: page; }}
.note {{ font-size: 9pt; color: #444; }}
.answers {{ display: flex; gap: 1.5em; flex-wrap: wrap; }}
.blank {{ display: inline-block; min-width: 1.9in; border-bottom: 1px solid #111; padding-bottom: .1em; }}
.graph svg {{ max-width: 100%; height: auto; }}
@media print {{
  body {{ background: none; }}
  .sheet {{ width: auto; margin: 0; padding: 0; box-shadow: none; }}
  .sheet + .sheet {{ break-before: page; margin-top: 0; }}
  th {{ -webkit-print-color-adjust: exact; print-color-adjust: exact; }}
}}
"""


def _page(title: str, body: str, paper: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{_css(paper)}</style></head>"
            f"<body>{body}</body></html>\n")


def _grid_svg(columns: int = 6, rows: int = 5) -> str:
    """Faint guides for the drawing: columns from inputs (left) to output (right)."""
    lines = []
    for c in range(1, columns):
        x = 100 * c / columns
        lines.append(f'<line x1="{x:.2f}%" y1="6%" x2="{x:.2f}%" y2="100%" stroke="#d1d5db" '
                     'stroke-dasharray="3 5"/>')
    for r in range(1, rows):
        y = 6 + 94 * r / rows
        lines.append(f'<line x1="0" y1="{y:.2f}%" x2="100%" y2="{y:.2f}%" stroke="#eef0f3"/>')
    labels = ('<text x="1%" y="4.5%" font-size="11" fill="#6b7280">inputs (leaves) here</text>'
              '<text x="99%" y="4.5%" font-size="11" fill="#6b7280" text-anchor="end">output here</text>')
    return f'<svg xmlns="http://www.w3.org/2000/svg" aria-hidden="true">{"".join(lines)}{labels}</svg>'


def _instructions() -> str:
    return (
        "<ul class='rules'>"
        "<li>Draw the graph from left (inputs) to right (output); for a node with two inputs, "
        "put its <b>left</b> operand on <b>top</b> and its right operand below.</li>"
        "<li>Write each node's value next to it.</li>"
        "<li>For each iteration of the backward loop, write what it does: the grads it adds to, "
        "with numbers, or <i>nothing</i> for a leaf.</li></ul>"
    )


def _sheet_body(p: ExamProblem, show_order: bool, title: str) -> str:
    order_nodes = [p.run.display_name(n) for n in reversed(p.run.order)]
    parts = [
        f"<section class='sheet' data-seed='{p.seed}'>",
        f"<header><h1>{_e(title)}</h1><span class='seed'>seed {p.seed}</span></header>",
        "<div class='who'><span>Name</span><span>Student ID</span></div>",
        _instructions(),
        "<h2>Forward code</h2>",
        f"<pre>{_e(p.code)}</pre>",
    ]
    if show_order:
        parts += ["<h2>Topological order (non-reversed)</h2>",
                  f"<p class='order'><code>{_e(p.order)}</code></p>"]
    else:
        parts += ["<h2>Topological order</h2>",
                  "<p class='note'>Run the depth-first topological sort by hand from the output: "
                  "write <code>visited</code> and <code>topo_order</code> as they grow.</p>",
                  "<div class='dfs'>visited / topo_order:</div>"]
    parts += ["<h2>Computational graph</h2>", f"<div class='canvas'>{_grid_svg()}</div>",
              "<div class='who page-break'><span>Name</span><span>Student ID</span>"
              f"<span class='seed-again'>seed {p.seed}</span></div>",
              "<h2>Backward pass, iteration by iteration</h2>",
              f"<p class='note'>seed {p.seed}. Iteration 0 starts at the output, whose grad is 1.</p>",
              "<table class='iterations'><thead><tr><th>iteration</th><th>node</th>"
              "<th>what happens (grads changed, with numbers), or nothing</th></tr></thead><tbody>"]
    for k, name in enumerate(order_nodes):
        shown = _e(name) if show_order else ""
        parts.append(f"<tr><td class='k'>{k}</td><td class='node'>{shown}</td><td></td></tr>")
    blanks = "".join(f"<span class='blank'><code>{_e(n)}.grad =</code></span>" for n in p.leaves)
    parts += ["</tbody></table>", f"<h2>Answer</h2><p class='answers'>{blanks}</p>", "</section>"]
    return "".join(parts)


def sheet_html(problem: ExamProblem, *, show_order: bool = True, paper: str = "letter",
               title: str = "Backpropagation by hand") -> str:
    """One student's printable sheet (no answers) as a self-contained HTML page.

    >>> from ag.exam import generate
    >>> "topological order (non-reversed)" in sheet_html(generate(seed=1), show_order=False).lower()
    False
    """
    return _page(f"{title} (seed {problem.seed})", _sheet_body(problem, show_order, title), paper)


def sheets_html(problems: list[ExamProblem], *, show_order: bool = True, paper: str = "letter",
                title: str = "Backpropagation by hand") -> str:
    """Every student's sheet in one page, each starting a new printed page.

    >>> from ag.exam import generate
    >>> sheets_html([generate(seed=1), generate(seed=2)]).count("class='sheet'")
    2
    """
    body = "".join(_sheet_body(p, show_order, title) for p in problems)
    return _page(f"{title} ({len(problems)} sheets)", body, paper)


def _key_section(p: ExamProblem, graphs: bool) -> str:
    from ag import viz

    parts = [f"<section class='sheet' data-seed='{p.seed}'>",
             f"<header><h1>Answer key</h1><span class='seed'>seed {p.seed}</span></header>",
             f"<pre>{_e(p.code)}</pre>",
             f"<p class='order'>Topological order: <code>{_e(p.order)}</code></p>"]
    if graphs:
        try:
            parts.append(f"<div class='graph'>{viz.to_svg(p.run.root)}</div>")
        except viz.GraphvizNotFoundError:
            parts.append("<p class='note'>(graph not drawn: Graphviz's dot is not installed)</p>")
    parts.append("<table><thead><tr><th>iteration</th><th>node</th><th>what happens</th></tr></thead><tbody>")
    for k, step in enumerate(p.run.steps):
        lines = [parenthesize_negatives(line) for line in p.run.update_lines(k)] or ["nothing (a leaf)"]
        parts.append(f"<tr><td class='k'>{k}</td><td>{_e(p.run.display_name(step.node))}</td>"
                     f"<td>{'<br>'.join(_e(line) for line in lines)}</td></tr>")
    answer = p._answer_line()
    legend = p.exact_legend()
    parts += ["</tbody></table>"]
    if legend:
        parts.append(f"<p class='exact'>{_e(legend)}</p>")
    parts += [f"<h2>Answer</h2><p><code>{_e(answer)}</code></p>",
              f"<p class='note'>{_e(p.checked_note())}</p></section>"]
    return "".join(parts)


def key_html(problems: list[ExamProblem], *, paper: str = "letter", graphs: bool = True) -> str:
    """The answer key of one or more problems, one printed page each.

    >>> from ag.exam import generate
    >>> "Answer key" in key_html([generate(seed=1)], graphs=False)
    True
    """
    return _page(f"Answer key ({len(problems)} problems)",
                 "".join(_key_section(p, graphs) for p in problems), paper)


# -- LaTeX ---------------------------------------------------------------------------------


def _latex_preamble(geometry: str) -> list[str]:
    """The opening lines every LaTeX sheet shares, up to ``\\begin{document}``."""
    return [f"\\documentclass[11pt,{geometry}]{{article}}",
            f"\\usepackage[{geometry},margin=0.7in]{{geometry}}",
            "\\usepackage[T1]{fontenc}",
            "\\usepackage{array,longtable}",
            "\\pagestyle{empty}",
            "\\setlength{\\parindent}{0pt}",
            "\\begin{document}"]


def sheet_latex(problem: ExamProblem, *, show_order: bool = True, paper: str = "letter",
                answers: bool = False) -> str:
    """The sheet (or, with ``answers``, sheet and key) as a complete LaTeX document.

    It uses only packages in every TeX distribution (``geometry``, ``array``,
    ``longtable``) and compiles with ``pdflatex``, ``xelatex`` or ``lualatex``.

    >>> from ag.exam import generate
    >>> doc = sheet_latex(generate(seed=1))
    >>> doc.startswith("\\\\documentclass") and doc.rstrip().endswith("\\\\end{document}")
    True
    """
    from ag.trace import latex_escape

    if paper not in PAPERS:
        raise ValueError(f"ag exam: paper must be one of {', '.join(PAPERS)}, not {paper!r}")
    p = problem
    geometry = "letterpaper" if paper == "letter" else "a4paper"
    order_nodes = [p.run.display_name(n) for n in reversed(p.run.order)]
    rows = "\n".join(
        f"{k} & {latex_escape(name) if show_order else ''} & \\\\[2.4em] \\hline"
        for k, name in enumerate(order_nodes))
    lines = [
        *_latex_preamble(geometry),
        f"{{\\Large\\bfseries Backpropagation by hand}} \\hfill {{\\bfseries seed {p.seed}}}\\par",
        "\\vspace{0.8em}Name \\rule{2.5in}{0.4pt} \\hfill Student ID \\rule{2in}{0.4pt}\\par\\medskip",
        "\\begin{itemize}",
        "\\item Draw the graph from left (inputs) to right (output); for a node with two inputs put "
        "its left operand on top and its right operand below.",
        "\\item Write each node's value next to it.",
        "\\item For each iteration of the backward loop write the grads it adds to, with numbers, "
        "or \\emph{nothing} for a leaf.",
        "\\end{itemize}",
        "\\subsection*{Forward code}",
        "\\begin{verbatim}",
        p.code,
        "\\end{verbatim}",
    ]
    if show_order:
        lines += ["\\subsection*{Topological order (non-reversed)}",  # breakable after commas
                  "{\\raggedright\\texttt{" + latex_escape(p.order).replace(", ", ",\\allowbreak{} ")
                  + "}\\par}"]
    else:
        lines += ["\\subsection*{Topological order}",
                  "Run the depth-first topological sort by hand; write \\texttt{visited} and "
                  "\\texttt{topo\\_order} as they grow.\\par\\vspace{1in}"]
    lines += [
        "\\subsection*{Computational graph}",
        "\\fbox{\\parbox[t][3.4in][t]{\\dimexpr\\linewidth-2\\fboxsep-2\\fboxrule}"
        "{\\small inputs (leaves) here \\hfill output here}}",
        "\\newpage",
        f"Name \\rule{{2.5in}}{{0.4pt}} \\hfill Student ID \\rule{{1.6in}}{{0.4pt}} \\hfill "
        f"{{\\bfseries seed {p.seed}}}\\par",
        f"\\subsection*{{Backward pass, iteration by iteration (seed {p.seed})}}",
        "\\begin{longtable}{|p{0.6in}|p{1.3in}|p{3.9in}|}",
        "\\hline iteration & node & what happens (grads changed, with numbers), or nothing \\\\ \\hline",
        "\\endhead",
        rows,
        "\\end{longtable}",
        "\\subsection*{Answer}",
        "\\texttt{" + latex_escape(", ".join(f"{n}.grad = " for n in p.leaves)) + "}",
    ]
    if answers:
        lines += ["\\newpage", f"\\section*{{Answer key (seed {p.seed})}}", p.run.latex(), "\\medskip"]
        if p.exact_legend():
            lines += [_tex(p.exact_legend()) + "\\par\\medskip"]
        lines += ["Answer: \\texttt{" + _tex(p._answer_line()) + "}"]
    lines.append("\\end{document}")
    return "\n".join(lines) + "\n"


# -- answer templates and keys for ag grade -----------------------------------------------

TEMPLATE_HEADER = ("iteration", "node", "quantity", "answer")


def template_rows(p: ExamProblem) -> list[tuple[str, str, str]]:
    """``(iteration, node, quantity)`` rows a student answers, in the order they are worked.

    First the value of every op node (``forward``), then for each iteration of the
    backward loop the grad of each input after it (a leaf's iteration: ``nothing``).
    """
    run = p.run
    made = sorted((n for n in run.order if n.inputs), key=lambda n: int(run.name(n)[1:]))  # code order
    rows = [("forward", run.display_name(n), f"{run.name(n)}.value") for n in made]
    for k, step in enumerate(run.steps):
        node = step.node
        inputs = list(dict.fromkeys(run.name(i) for i in node.inputs))
        if not inputs:
            rows.append((str(k), run.display_name(node), "nothing"))
        for name in inputs:
            rows.append((str(k), run.display_name(node), f"{name}.grad"))
    return rows


def answer_template(p: ExamProblem, fmt: str = "csv", show_order: bool = True) -> str:
    """The file a student fills in for ``ag grade``: CSV or a Markdown table.

    Each row names a quantity (``z5.value`` in the forward pass, ``z3.grad`` after
    an iteration); the student writes its number in the ``answer`` column. Lines
    starting with ``#`` (CSV) or ``<!--`` (Markdown) are comments; the seed line
    tells the grader which problem it is.

    With ``show_order=False`` (the sheet hides the order) the backward rows are left
    for the student to fill in: two blank rows per iteration, node and quantity too
    (add rows as needed).

    >>> from ag.exam import generate
    >>> print(answer_template(generate(seed=1)).splitlines()[2])
    iteration,node,quantity,answer
    """
    rows = template_rows(p)
    if not show_order:
        rows = [r for r in rows if r[0] == "forward"]
        rows += [(str(k), "", "") for k in range(len(p.run.steps)) for _ in range(2)]
    how = ("leave the other columns as they are" if show_order else
           "for each iteration write the node and each grad it changes (zK.grad), one per row")
    if fmt == "csv":
        out = [f"# ag exam answers, seed {p.seed}: write each number in the answer column; {how}",
               f"# seed: {p.seed}", ",".join(TEMPLATE_HEADER)]
        out += [f"{k},{node},{q}," for k, node, q in rows]
    elif fmt in ("md", "markdown"):
        out = [f"<!-- ag exam answers, seed {p.seed}: write each number in the answer column; {how} -->",
               f"<!-- seed: {p.seed} -->",
               "| " + " | ".join(TEMPLATE_HEADER) + " |", "|---|---|---|---|"]
        out += [f"| {k} | {node} | {q} |  |" for k, node, q in rows]
    else:
        raise ValueError(f"ag exam: template format must be csv or md, not {fmt!r}")
    return "\n".join(out) + "\n"


def key_data(p: ExamProblem) -> dict[str, Any]:
    """What ``ag grade`` needs to grade one problem offline (JSON-ready; see :mod:`ag.exam.key`)."""
    from ag.exam.key import ProblemKey

    return ProblemKey.from_problem(p).to_dict()


def write_key(problems: list[ExamProblem], path: str | Path, *, show_order: bool = True) -> Path:
    """Write the key file ``ag grade`` reads (:class:`ag.exam.key.ExamKey` as JSON, one entry per seed)."""
    from ag.exam.key import ExamKey

    return ExamKey.from_problems(problems, order_shown=show_order).save(path)


# -- PDF -------------------------------------------------------------------------------------


def find_chromium() -> str | None:
    """The Chromium (or Chrome) program on PATH, if any."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def print_pdf(html_path: str | Path, pdf_path: str | Path, timeout: float = 120.0) -> Path:
    """Print an HTML page to PDF with headless Chromium (the page's ``@page`` size is used).

    Raises :class:`ChromiumNotFoundError` with what to install when there is none.
    """
    binary = find_chromium()
    if binary is None:
        raise ChromiumNotFoundError(
            "--pdf prints through headless Chromium, which is not installed: "
            "`sudo apt-get install chromium` (Debian/Ubuntu) or install Google Chrome; "
            "or open the HTML file in a browser and print it to PDF")
    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path).resolve()
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ag-chromium-") as profile:
        cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-extensions", "--disable-background-networking", f"--user-data-dir={profile}",
               "--no-pdf-header-footer", "--print-to-pdf-no-header", f"--print-to-pdf={pdf_path}",
               html_path.as_uri()]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "HOME": profile})
    if not pdf_path.exists() or pdf_path.stat().st_size == 0:
        raise RuntimeError(f"Chromium did not print {html_path} (exit status {done.returncode}): "
                           f"{done.stderr.strip()[-400:]}")
    return pdf_path


# -- batches ---------------------------------------------------------------------------------


def parse_seeds(text: str) -> list[int]:
    """``"1-40"``, ``"3,5,9-11"`` -> the seeds, in order, without repeats.

    >>> parse_seeds("1-3,7,2")
    [1, 2, 3, 7]
    """
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            lo, sep, hi = part.partition("-")
            if sep:
                lo_i, hi_i = int(lo), int(hi)
                if hi_i < lo_i or hi_i - lo_i > 10000:
                    raise ValueError
                seeds += range(lo_i, hi_i + 1)
            else:
                seeds.append(int(part))
        except ValueError:
            raise ValueError(f"ag exam: --seeds {text!r}: {part!r} is not a seed or a range "
                             "like 1-40") from None
    if not seeds:
        raise ValueError(f"ag exam: --seeds {text!r} names no seed")
    return list(dict.fromkeys(seeds))


def write_batch(problems: list[ExamProblem], folder: str | Path, *, paper: str = "letter",
                show_order: bool = True, pdf: bool = False, template: str = "csv") -> list[Path]:
    """One sheet and one answer template per student, all sheets in one page, the key.

    Writes ``sheet-seed-N.html`` and ``answers-seed-N.csv`` (or ``.md``) per problem,
    ``sheets.html`` (every sheet, one per printed page), ``key.html`` (every answer,
    with drawings) and ``key.json`` (what ``ag grade`` reads); with ``pdf``, also
    ``sheets.pdf`` and ``key.pdf`` through headless Chromium. Returns the paths.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    suffix = "csv" if template == "csv" else "md"
    for p in problems:
        sheet = folder / f"sheet-seed-{p.seed}.html"
        sheet.write_text(sheet_html(p, show_order=show_order, paper=paper), encoding="utf-8")
        answers = folder / f"answers-seed-{p.seed}.{suffix}"
        answers.write_text(answer_template(p, template, show_order=show_order), encoding="utf-8")
        written += [sheet, answers]
    every = folder / "sheets.html"
    every.write_text(sheets_html(problems, show_order=show_order, paper=paper), encoding="utf-8")
    key = folder / "key.html"
    key.write_text(key_html(problems, paper=paper), encoding="utf-8")
    written += [every, key, write_key(problems, folder / "key.json", show_order=show_order)]
    if pdf:
        written += [print_pdf(every, folder / "sheets.pdf"), print_pdf(key, folder / "key.pdf")]
    return written


# -- the other kinds (--kind im2col, remat, attention, network, softmax, optimizer, conv) ---------


def _split_prompt(prompt: str) -> tuple[str, str, str]:
    """``(text before the code, the code, text after)`` of a question's prompt."""
    before, sep, rest = prompt.partition("Code:\n")
    if not sep:
        return prompt, "", ""
    lines = rest.split("\n")
    code, after = [], []
    for i, line in enumerate(lines):
        if line.startswith("    ") or (not line and i + 1 < len(lines) and lines[i + 1].startswith("    ")):
            code.append(line[4:])
        else:
            after = lines[i:]
            break
    return before.strip(), "\n".join(code).strip("\n"), "\n".join(after).strip()


def _question_section(q: Any, answers: bool) -> str:
    before, code, after = _split_prompt(q.prompt)
    title = q.title + (": answer key" if answers else "")
    parts = [f"<section class='sheet' data-seed='{q.seed}' data-kind='{_e(q.kind)}'>",
             f"<header><h1>{_e(title)}</h1><span class='seed'>{_e(q.kind)}, seed {q.seed}</span></header>"]
    if not answers:
        parts.append("<div class='who'><span>Name</span><span>Student ID</span></div>")
    parts.append(f"<p>{_e(before)}</p>")
    if code:
        parts.append(f"<pre>{_e(code)}</pre>")
    if after:
        parts.append(f"<p>{_e(after)}</p>")
    # the name row sits in the table's head, which a printed table repeats on every page
    who = ("" if answers else
           "<tr class='who-row'><th colspan='2'><div class='who'><span>Name</span><span>Student ID</span>"
           f"<span class='seed-again'>seed {q.seed}</span></div></th></tr>")
    parts.append(f"<table class='qa'><thead>{who}<tr><th>question</th><th>answer</th></tr></thead><tbody>")
    import numpy as np

    for item, value in q.answers.items():
        tall = " tall" if isinstance(value, np.ndarray) and value.size > 3 else ""
        shown = _e(q.shown(item)) if answers else ""
        parts.append(f"<tr><td class='item'><code>{_e(item)}</code></td><td class='ans{tall}'>"
                     f"<code>{shown}</code></td></tr>")
    parts.append("</tbody></table>")
    if answers:
        parts.append(f"<p class='note'>{_e(q.checked_note())}</p>")
    parts.append("</section>")
    return "".join(parts)


def question_sheets_html(questions: list[Any], *, answers: bool = False, paper: str = "letter") -> str:
    """Student sheets (or, with ``answers``, the key) of ``--kind`` questions, one per printed page.

    >>> from ag.exam.questions import question
    >>> page = question_sheets_html([question("attention", 2)])
    >>> "KQ.shape" in page and "Name" in page and "answer key" not in page
    True
    """
    kind = questions[0].kind if questions else "question"
    title = f"{kind} {'answer key' if answers else 'sheets'} ({len(questions)})"
    return _page(title, "".join(_question_section(q, answers) for q in questions), paper)


def question_latex(q: Any, *, answers: bool = False, paper: str = "letter") -> str:
    """A ``--kind`` question as a complete LaTeX document (with ``answers``: and its key).

    >>> from ag.exam.questions import question
    >>> doc = question_latex(question("im2col", 1), answers=True)
    >>> doc.startswith("\\\\documentclass") and "im2col\\\\_mat" in doc
    True
    >>> doc.count("\\\\begin{") == doc.count("\\\\end{")
    True
    """

    if paper not in PAPERS:
        raise ValueError(f"ag exam: paper must be one of {', '.join(PAPERS)}, not {paper!r}")
    geometry = "letterpaper" if paper == "letter" else "a4paper"
    before, code, after = _split_prompt(q.prompt)
    name_line = "Name \\rule{2.5in}{0.4pt} \\hfill Student ID \\rule{1.6in}{0.4pt}\\par\\medskip"
    lines = [
        *_latex_preamble(geometry),
        f"{{\\Large\\bfseries {_tex(q.title)}}} \\hfill "
        f"{{\\bfseries {_tex(q.kind)}, seed {q.seed}}}\\par",
        "\\vspace{0.8em}" + name_line,
        _tex(before) + "\\par",
    ]
    if code:
        lines += ["{\\footnotesize", "\\begin{verbatim}", code, "\\end{verbatim}", "}"]
    if after:
        lines.append(_tex(after) + "\\par")
    # the name line heads the answer table on every page it spans
    lines += ["\\begin{longtable}{|p{2.6in}|p{3.8in}|}",
              "\\hline question & answer \\\\ \\hline", "\\endfirsthead",
              "\\multicolumn{2}{l}{" + name_line.replace("\\par\\medskip", "") + f" seed {q.seed}" + "} \\\\",
              "\\hline question & answer \\\\ \\hline", "\\endhead"]
    import numpy as np

    for item, value in q.answers.items():
        shown = _tex(q.shown(item)) if answers else ""
        gap = "3.5em" if isinstance(value, np.ndarray) and value.size > 3 else "1.6em"
        lines.append(f"\\texttt{{{_tex(item)}}} & \\texttt{{{shown}}} \\\\[{gap}] \\hline")
    lines.append("\\end{longtable}")
    if answers:
        lines.append("\\small " + _tex(q.checked_note()))
    lines.append("\\end{document}")
    return "\n".join(lines) + "\n"


def question_template(q: Any, fmt: str = "csv") -> str:
    """The answer file of a ``--kind`` question for ``ag grade``: one number per row.

    >>> from ag.exam.questions import question
    >>> print(question_template(question("attention", 1)).splitlines()[3])
    answer,,Wq.shape[0],
    """
    rows = [(section, quantity) for section, quantity in
            ((r[0].split(":")[0] if r[0].startswith("step ") else "answer", r[1]) for r in q.rows())]
    how = "one number per row (a shape's sizes one by one, a matrix entry by entry)"
    if fmt == "csv":
        out = [f"# ag exam answers, {q.kind} seed {q.seed}: write each number in the answer column; {how}",
               f"# seed: {q.seed}", ",".join(TEMPLATE_HEADER)]
        out += [f"{k},,{quantity}," for k, quantity in rows]
    elif fmt in ("md", "markdown"):
        out = [f"<!-- ag exam answers, {q.kind} seed {q.seed}: write each number in the answer column; "
               f"{how} -->", f"<!-- seed: {q.seed} -->",
               "| " + " | ".join(TEMPLATE_HEADER) + " |", "|---|---|---|---|"]
        out += [f"| {k} |  | {quantity} |  |" for k, quantity in rows]
    else:
        raise ValueError(f"ag exam: template format must be csv or md, not {fmt!r}")
    return "\n".join(out) + "\n"


def write_question_batch(questions: list[Any], folder: str | Path, *, paper: str = "letter",
                         pdf: bool = False, template: str = "csv") -> list[Path]:
    """A ``--kind`` batch: per seed a sheet and an answer template; every sheet in one page;
    the key as HTML, Markdown and ``key.json`` (what ``ag grade`` reads); with ``pdf``,
    ``sheets.pdf`` and ``key.pdf``. Returns the paths written."""
    from ag.exam.key import ExamKey

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    suffix = "csv" if template == "csv" else "md"
    for q in questions:
        sheet = folder / f"sheet-seed-{q.seed}.html"
        sheet.write_text(question_sheets_html([q], paper=paper), encoding="utf-8")
        answers = folder / f"answers-seed-{q.seed}.{suffix}"
        answers.write_text(question_template(q, template), encoding="utf-8")
        written += [sheet, answers]
    every, key = folder / "sheets.html", folder / "key.html"
    every.write_text(question_sheets_html(questions, paper=paper), encoding="utf-8")
    key.write_text(question_sheets_html(questions, answers=True, paper=paper), encoding="utf-8")
    kind = questions[0].kind
    questions_md, key_md = folder / f"{kind}-questions.md", folder / f"{kind}-key.md"
    questions_md.write_text("\n\n".join(q.markdown(False) for q in questions) + "\n", encoding="utf-8")
    key_md.write_text("\n\n".join(q.markdown(True) for q in questions) + "\n", encoding="utf-8")
    exam_key = ExamKey({q.seed: q.problem_key() for q in questions})
    written += [every, key, questions_md, key_md, exam_key.save(folder / "key.json")]
    if pdf:
        written += [print_pdf(every, folder / "sheets.pdf"), print_pdf(key, folder / "key.pdf")]
    return written
