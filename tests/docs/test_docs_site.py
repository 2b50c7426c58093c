"""The docs site's own code (docs/hooks.py, docs/griffe_doctest.py); `make docs` builds it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _load(name: str, needs: str):
    pytest.importorskip(needs, reason=f"{needs} comes with the docs extra (pip install -e '.[docs]')")
    spec = importlib.util.spec_from_file_location(f"docs_{name}", DOCS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_pages_cover_the_public_modules_only():
    hooks = _load("hooks", "mkdocs")
    names = hooks.public_modules()
    assert {"ag", "ag.nn", "ag.nn.layers", "ag.optim", "ag.viz", "ag.cli"} <= set(names)
    assert not [n for n in names if any(part.startswith("_") for part in n.split("."))]
    assert len(names) == len(set(names))


def test_readme_links_are_rewritten_for_the_site():
    hooks = _load("hooks", "mkdocs")
    text = ("![x](docs/stepper.png) [c](CHANGELOG.md) [l](LICENSE) [n](docs/notebooks/a.ipynb) "
            "[a](CONTRIBUTING.md#adding-an-op) [w](https://example.org/x.md) [s](#speed)")
    site = ("![x](stepper.png) [c](changelog.md) [l](license.md) [n](notebooks/a.ipynb) "
            "[a](contributing.md#adding-an-op) [w](https://example.org/x.md) [s](#speed)")
    assert hooks._rewrite_links(text) == site


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
    import re

    root = DOCS.parent
    pages = {"CHANGELOG.md", "CONTRIBUTING.md", "LICENSE", "README.md"}
    link = re.compile(r"\]\(([^)\s]+)\)")
    bad = []
    for name in ("README.md", "CONTRIBUTING.md", "CHANGELOG.md", "docs/performance-notes.md"):
        base = (root / name).parent
        for target in link.findall((root / name).read_text(encoding="utf-8")):
            path = target.split("#", 1)[0]
            if not path or re.match(r"^[a-z]+:", path):
                continue  # an anchor on the page, or a web address
            resolved = (base / path).resolve()
            in_docs = DOCS in resolved.parents and resolved.exists()
            if not (in_docs or (resolved.parent == root and resolved.name in pages)):
                bad.append(f"{name} -> {target}")
    assert not bad, ("links the docs site cannot follow (link to a file under docs/ or one of "
                     f"{sorted(pages)}, or write the path as `code`): {bad}")
