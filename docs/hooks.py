"""MkDocs hooks for ag's site: the pages that come from the repository itself.

* index.md from README.md (its links into docs/ rewritten to the site's layout),
  changelog.md, contributing.md and license.md from the files of those names;
* api/<module>.md, one page per public module of the ag package, each a mkdocstrings
  ``::: module`` directive; the modules are found on disk, so the reference follows
  the package when modules are added, split or moved;
* ops.md, the op tables of both engines, from ``ag.registry.markdown()``;
* the navigation: home, tutorials (docs/notebooks/*.ipynb), notes, API reference.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ag"
FROM_ROOT = {"index.md": "README.md", "changelog.md": "CHANGELOG.md",
             "contributing.md": "CONTRIBUTING.md"}
# Links in the repository's Markdown, rewritten to the site's pages (an #anchor is kept).
PAGES = {"CHANGELOG.md": "changelog.md", "CONTRIBUTING.md": "contributing.md", "LICENSE": "license.md",
         "README.md": "index.md"}
LINK = re.compile(r"\]\((docs/)?([^)#\s]*)(#[^)\s]*)?\)")


def public_modules() -> list[str]:
    """Dotted names of ag's modules, skipping private ones (a ``_`` in any part) and __main__."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(p.startswith("_") for p in parts):
            continue
        names.append(".".join(parts))
    return names


def _rewrite_links(text: str) -> str:
    def site_link(match: re.Match) -> str:
        in_docs, target, anchor = match.group(1), match.group(2), match.group(3) or ""
        if in_docs:
            return f"]({target}{anchor})"
        return f"]({PAGES.get(target, target)}{anchor})"

    return LINK.sub(site_link, text)


def _notebooks(docs_dir: Path) -> list[str]:
    return [p.relative_to(docs_dir).as_posix() for p in sorted((docs_dir / "notebooks").glob("*.ipynb"))]


def on_config(config):
    docs_dir = Path(config["docs_dir"])
    api = [{name: f"api/{name}.md"} for name in public_modules()]
    config["nav"] = [
        {"Home": "index.md"},
        {"Tutorials": _notebooks(docs_dir)},
        {"Notes": ["ops.md", "performance-notes.md", "gpu-check.md", "changelog.md", "contributing.md",
                   "license.md"]},
        {"API reference": api},
    ]
    return config


def on_files(files, config):
    for page, source in FROM_ROOT.items():
        text = _rewrite_links((ROOT / source).read_text(encoding="utf-8"))
        files.append(File.generated(config, page, content=text))
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    files.append(File.generated(config, "license.md", content=f"# License\n\n```text\n{license_text}```\n"))
    for name in public_modules():
        files.append(File.generated(config, f"api/{name}.md", content=f"::: {name}\n"))
    from ag import registry  # the op tables come from the registry itself

    files.append(File.generated(config, "ops.md", content=registry.markdown()))
    return files
