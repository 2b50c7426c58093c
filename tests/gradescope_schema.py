"""Gradescope's documented ``results.json`` as a JSON Schema, for the tests of ``ag grade``.

From https://gradescope-autograders.readthedocs.io/en/latest/specs/ ("Output format"): only
these keys at the top and in each test; a numeric score; each test with a name, its score and
max_score, and the output text shown to the student.
"""

from __future__ import annotations

import pytest

GRADESCOPE_SCHEMA = {
    "type": "object",
    "required": ["score", "tests"],
    "additionalProperties": False,
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number"},
        "output": {"type": "string"},
        "output_format": {"enum": ["text", "html", "simple_format", "md", "ansi"]},
        "test_output_format": {"enum": ["text", "html", "simple_format", "md", "ansi"]},
        "test_name_format": {"enum": ["text", "html", "simple_format", "md", "ansi"]},
        "visibility": {"enum": ["hidden", "after_due_date", "after_published", "visible"]},
        "stdout_visibility": {"enum": ["hidden", "after_due_date", "after_published", "visible"]},
        "extra_data": {"type": "object"},
        "leaderboard": {"type": "array"},
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "score", "max_score", "output"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "score": {"type": "number", "minimum": 0},
                    "max_score": {"type": "number", "minimum": 0},
                    "status": {"enum": ["passed", "failed"]},
                    "output": {"type": "string"},
                    "name_format": {"type": "string"},
                    "output_format": {"type": "string"},
                    "number": {"type": "string"},
                    "tags": {"type": "array"},
                    "visibility": {"type": "string"},
                    "extra_data": {"type": "object"},
                },
            },
        },
    },
}


def validate_gradescope(data: dict) -> None:
    """Raise unless ``data`` is a results.json Gradescope accepts (and its scores add up)."""
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(data, GRADESCOPE_SCHEMA)
    for t in data["tests"]:
        assert t["score"] <= t["max_score"] and t["output"].strip()
    assert data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]))
