"""The docs site: its code (docs/hooks.py, docs/griffe_doctest.py), and the site itself,
built here as `make docs` builds it (without running the tutorials, which
tests/docs/test_notebooks.py runs), then read back: every public name documented, no
internal module in the navigation, no private helper named on the API pages, nothing
fetched from the web, and a search that works opened from the file system."""

from __future__ import annotations

import ast
import html
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# The packages whose every public name (``__all__``) the issue asks the reference to document.
MUST_DOCUMENT = ["ag", "ag.nn", "ag.optim", "ag.data", "ag.testing", "ag.exam"]


def _load(name: str, needs: str):
    pytest.importorskip(needs, reason=f"{needs} comes with the docs extra (pip install -e '.[docs]')")
    spec = importlib.util.spec_from_file_location(f"docs_{name}", DOCS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built --strict into a temporary folder (tutorials converted, not run)."""
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python", "mkdocs_jupyter"):
        pytest.importorskip(module, reason="the docs extra builds the site (pip install -e '.[docs]')")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "AG_DOCS_EXECUTE": "false", "NO_MKDOCS_2_WARNING": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    # No -q: mkdocs -q raises the log level past WARNING, so --strict then counts no warnings
    # (a page left out of the navigation passed here and failed `make docs`).
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "WARNING" not in done.stderr, done.stderr[-4000:]
    return out


def _headings(page: Path) -> set[str]:
    """The text of every heading of a built page (tags and the permalink sign dropped)."""
    text = page.read_text(encoding="utf-8")
    text = re.sub(r'<span class="doc doc-labels">.*?</span>', "", text, flags=re.S)  # "property", ...
    found = re.findall(r"<h[1-6][^>]*>(.*?)</h[1-6]>", text, re.S)
    return {html.unescape(re.sub(r"<[^>]+>", "", h)).replace("\u00b6", "").strip() for h in found}


def _article_text(page: Path) -> str:
    text = page.read_text(encoding="utf-8")
    article = text[text.find("<article"):text.find("</article>")]
    return html.unescape(re.sub(r"<[^>]+>", "", article))


def _primary_nav(page: Path) -> str:
    """The site navigation: the sidebar's links to pages and its section titles (not the
    page's own table of contents, whose links start with #), one per line."""
    text = page.read_text(encoding="utf-8")
    items = re.findall(r'<(a|label)\b([^>]*class="md-nav__link[^"]*"[^>]*)>(.*?)</\1>', text, re.S)
    return "\n".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).strip()
                     for _, attributes, body in items if 'href="#' not in attributes)


def _all_modules() -> list[str]:
    names = []
    for path in sorted((ROOT / "ag").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


def _private_helpers() -> set[str]:
    """Module-level private names defined anywhere in ag (functions, classes, constants)."""
    names = set()
    for path in (ROOT / "ag").rglob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def test_every_public_name_is_documented_on_the_site(site):
    hooks = _load("hooks", "mkdocs")
    headings = set().union(*(_headings(p) for p in (site / "api").glob("*.html")))
    wanted = [name for package in MUST_DOCUMENT for name in hooks.public_names(package)]
    assert len(wanted) > 120  # the packages' __all__ were read
    missing = [name for name in wanted if name not in headings]
    assert not missing, f"public names with no heading on the API pages: {missing}"
    # the other packages the reference covers, too
    others = [name for name in hooks.documented_names() if name not in headings]
    assert not others, f"public names with no heading on the API pages: {others}"


def test_the_navigation_groups_the_api_and_leaves_internal_modules_out(site):
    hooks = _load("hooks", "mkdocs")
    nav = _primary_nav(site / "index.html")
    for title in ("Scalar engine and autodiff", "Tensor and its ops", "Layers and losses (ag.nn)",
                  "Optimizers (ag.optim)", "Data (ag.data)", "Tracing and drawing",
                  "Exams and grading (ag.exam)", "GPU (ag.gpu)", "Testing (ag.testing)"):
        assert title in nav, title
    shown = set(hooks.DOCUMENTED_PACKAGES) | {
        name[:-2] for _, _, _, sections in hooks.API_PAGES for _, names in sections for name in names
        if name.endswith(".*")}
    internal = [m for m in _all_modules() if m not in shown]
    assert {"ag.buffers", "ag.ops.rule_facts", "ag.parallel", "ag.backend"} <= set(internal)
    in_nav = [m for m in internal if re.search(rf"(?<![\w.]){re.escape(m)}(?![\w.])", nav)]
    assert not in_nav, f"internal modules in the site's navigation: {in_nav}"
    pages = {p.stem for p in (site / "api").glob("*.html")}
    assert not [p for p in pages if p.startswith("ag.")], f"a page per module is back: {sorted(pages)}"


def test_api_pages_name_no_private_helper(site):
    helpers = _private_helpers()
    assert {"_elementwise", "_Stats", "_BatchNorm"} & helpers  # the scan sees ag's private names
    found = {}
    for page in sorted((site / "api").glob("*.html")):
        text = _article_text(page)
        named = sorted({h for h in helpers if re.search(rf"(?<![\w.]){re.escape(h)}(?!\w)", text)})
        if named:
            found[page.name] = named
    assert not found, f"private helpers named on the API pages: {found}"


def test_no_code_fence_is_left_as_text(site):
    """Every fence of the pages renders as code: ```python notest (a fragment for reading)
    included, which the site's Markdown would otherwise show as a paragraph of backticks."""
    shown = [page.relative_to(site).as_posix() for page in site.rglob("*.html")
             if re.search(r"<p>\s*```", page.read_text(encoding="utf-8"))]
    assert not shown, shown


def test_nothing_is_fetched_from_the_web(site):
    """No Google Fonts, no script from a CDN: the site works offline, from site/index.html."""
    fetched = {}
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        urls = re.findall(r"""<(?:link|script)[^>]+(?:href|src)=["'](https?://[^"']+)""", text)
        if urls:
            fetched[page.relative_to(site).as_posix()] = sorted(set(urls))
    assert not fetched, fetched


@pytest.mark.browser
def test_search_works_opened_from_the_file_system(site):
    """As the README says: open site/index.html in a browser (a file:// page), search."""
    sys.path.insert(0, str(ROOT / "tests" / "trace"))
    try:
        from test_stepper_browser import Browser, find_chromium
    finally:
        sys.path.remove(str(ROOT / "tests" / "trace"))
    binary = find_chromium()
    if binary is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    pytest.importorskip("websocket", reason="websocket-client is not installed (pip install -e '.[dev]')")
    with tempfile.TemporaryDirectory() as profile:
        browser = Browser(binary, Path(profile))
        try:
            browser.send("Page.navigate", url=(site / "api" / "nn.html").as_uri())
            deadline = time.monotonic() + 30
            while browser.eval("document.readyState") != "complete":
                assert time.monotonic() < deadline, "the page did not load"
                time.sleep(0.05)
            box = browser.eval("(() => { const r = document.querySelector('.md-search__input')"
                               ".getBoundingClientRect(); "
                               "return [r.x + r.width / 2, r.y + r.height / 2] })()")
            for kind in ("mousePressed", "mouseReleased"):  # a click opens the search, as a reader does
                browser.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left",
                             clickCount=1)
            browser.send("Input.insertText", text="gradcheck")
            deadline = time.monotonic() + 30
            links: list[str] = []
            while not links and time.monotonic() < deadline:
                time.sleep(0.1)
                links = browser.eval("[...document.querySelectorAll('.md-search-result__item a')]"
                                     ".map(a => a.href)")
            meta = browser.eval("document.querySelector('.md-search-result__meta').textContent").strip()
            assert links, f"no search results; the search box says {meta!r}"
            assert any("api/testing.html#" in link for link in links), links
            assert not browser.errors(), browser.errors()
        finally:
            browser.close()


def test_readme_links_are_rewritten_for_the_site():
    hooks = _load("hooks", "mkdocs")
    text = ("![x](docs/stepper.png) [c](CHANGELOG.md) [l](LICENSE) [n](docs/notebooks/a.ipynb) "
            "[a](CONTRIBUTING.md#adding-an-op) [w](https://example.org/x.md) [s](#speed) [g](docs/gpu.md)")
    site = ("![x](stepper.png) [c](changelog.md) [l](license.md) [n](notebooks/a.ipynb) "
            "[a](contributing.md#adding-an-op) [w](https://example.org/x.md) [s](#speed) [g](gpu.md)")
    assert hooks._rewrite_links(text) == site
    assert hooks._rewrite_links('<img src="docs/exam_sheet.png" width="420">') == (
        '<img src="exam_sheet.png" width="420">')
    guide = "[r](../README.md) [c](../CONTRIBUTING.md#adding-an-op) [p](performance-notes.md)"
    assert hooks._rewrite_up_links(guide) == (
        "[r](index.md) [c](contributing.md#adding-an-op) [p](performance-notes.md)")


def test_a_public_name_no_page_lists_still_gets_documented(monkeypatch):
    """A name added to a package's __all__ without a line in hooks.API_PAGES lands under
    "More" on its package's page, so the reference never silently misses it."""
    hooks = _load("hooks", "mkdocs")
    trimmed = [(slug, title, intro, [(s, [n for n in names if n != "ag.nn.Linear"]) for s, names in sections])
               for slug, title, intro, sections in hooks.API_PAGES]
    monkeypatch.setattr(hooks, "API_PAGES", trimmed)
    pages = hooks.api_pages()
    assert pages["nn"][2][-1] == ("More", ["ag.nn.Linear"])


def test_a_listed_name_ag_lacks_is_named(monkeypatch):
    hooks = _load("hooks", "mkdocs")
    gone = ("extra", "Extra", "", [("Layers", ["ag.nn.NoSuchLayer"])])
    monkeypatch.setattr(hooks, "API_PAGES", [*hooks.API_PAGES, gone])
    with pytest.raises(ValueError, match="API_PAGES lists ag.nn.NoSuchLayer"):
        hooks.api_pages()


def test_doctest_examples_are_fenced_and_fences_left_alone():
    ext = _load("griffe_doctest", "griffe")
    text = "Intro.\n\n    >>> f([1])\n    ['x', 'mul']\n\nAfter.\n\n```python\n>>> in_a_fence\n```"
    assert ext.fence_doctests(text) == (
        "Intro.\n\n    ```pycon\n    >>> f([1])\n    ['x', 'mul']\n    ```\n\nAfter.\n\n"
        "```python\n>>> in_a_fence\n```"
    )
    assert ext.fence_doctests(">>> 1 + 1\n2") == "```pycon\n>>> 1 + 1\n2\n```"
    assert ext.SPHINX_ROLE.sub(r"\1", "see :mod:`ag.registry` and :meth:`Scalar.backward`") == (
        "see `ag.registry` and `Scalar.backward`"
    )


def test_markdown_links_resolve_on_the_site():
    """A relative link in the pages the site shows must lead to a page or file it has:
    a file under docs/, or one of the repository files the site turns into pages.
    (`make docs` fails on any other under --strict; this says so in `make test` too.)"""
    pages = {"CHANGELOG.md", "CONTRIBUTING.md", "LICENSE", "README.md"}
    link = re.compile(r"\]\(([^)\s]+)\)")
    bad = []
    sources = ["README.md", "CONTRIBUTING.md", "CHANGELOG.md",
               *(p.relative_to(ROOT).as_posix() for p in sorted(DOCS.glob("*.md")))]
    for name in sources:
        base = (ROOT / name).parent
        for target in link.findall((ROOT / name).read_text(encoding="utf-8")):
            path = target.split("#", 1)[0]
            if not path or re.match(r"^[a-z]+:", path):
                continue  # an anchor on the page, or a web address
            resolved = (base / path).resolve()
            in_docs = DOCS in resolved.parents and resolved.is_file()
            if not (in_docs or (resolved.parent == ROOT and resolved.name in pages)):
                bad.append(f"{name} -> {target}")
    assert not bad, ("links the docs site cannot follow (link to a file under docs/ or one of "
                     f"{sorted(pages)}, or write the path as `code`): {bad}")


def test_every_guide_in_docs_is_in_the_navigation():
    """A Markdown page in docs/ that no list of the navigation names is a page nobody finds
    (and a warning that fails `make docs --strict`)."""
    hooks = _load("hooks", "mkdocs")
    listed = set(hooks.GUIDES) | {"index.md", "ops.md", "changelog.md", "contributing.md", "license.md"}
    on_disk = {p.name for p in DOCS.glob("*.md")}
    assert on_disk <= listed, f"pages in docs/ missing from docs/hooks.py GUIDES: {sorted(on_disk - listed)}"
