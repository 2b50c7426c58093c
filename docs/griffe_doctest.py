"""A griffe extension for the API reference: fence docstrings' doctest examples.

ag's docstrings carry short ``>>>`` examples (collected as doctests) in the body, not
only under an ``Examples:`` heading. Markdown would read their output, such as
``['x', 'mul']``, as link references; this wraps each run of example lines (the
prompts, ``...`` continuations and the expected output up to the next blank line) in
a ```` ```pycon ```` fence before the docstring is parsed.
"""

from __future__ import annotations

import re

import griffe

# Sphinx roles (:mod:`x`, :meth:`x`) that some docstrings use; Markdown shows them as code.
SPHINX_ROLE = re.compile(r":(?:mod|meth|func|class|attr|data|obj|exc):(`[^`]+`)")


def fence_doctests(text: str) -> str:
    """Wrap each ``>>>`` example run of ``text`` in a pycon fence (fenced code is left alone)."""
    out: list[str] = []
    in_fence = in_example = False
    indent = ""
    for line in text.split("\n"):
        stripped = line.lstrip()
        if in_example and (not stripped or not line.startswith(indent)):
            out.append(f"{indent}```")
            in_example = False
        if stripped.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and not in_example and stripped.startswith(">>>"):
            indent = line[: len(line) - len(stripped)]
            out.append(f"{indent}```pycon")
            in_example = True
        out.append(line)
    if in_example:
        out.append(f"{indent}```")
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Fence doctest examples in every docstring griffe loads."""

    def on_instance(self, *, node, obj, agent, **kwargs) -> None:
        if obj.docstring is None:
            return
        text = SPHINX_ROLE.sub(r"\1", obj.docstring.value)
        obj.docstring.value = fence_doctests(text) if ">>>" in text else text
