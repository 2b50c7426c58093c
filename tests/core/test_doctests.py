"""Docstring examples are collected by pytest itself (``--doctest-modules`` over ag/).

No hand-kept list of modules: every module under ag/ is collected, so a new module's
examples run without anyone adding it anywhere. This file checks that the
configuration says so, and that the modules people read first do have examples.
"""

import doctest
import importlib
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]

# modules whose examples are the documentation a reader starts from
DOCUMENTED = [
    "ag", "ag.autodiff", "ag.scalar", "ag.tensor", "ag.registry", "ag.backend", "ag.ops.api",
    "ag.ops.core", "ag.ops.einsum", "ag.functions", "ag.higher_order", "ag.testing.gradcheck",
    "ag.remat", "ag.remat.checkpoint", "ag.remat.replay", "ag.nn", "ag.nn.layers", "ag.optim",
    "ag.data", "ag.data.loader", "ag.gpu", "ag.gpu.device", "ag.viz", "ag.cli", "ag.exam",
]


def test_pytest_collects_the_examples_of_every_module_under_ag():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "ag" in config["testpaths"]
    assert "--doctest-modules" in config["addopts"].split()


@pytest.mark.parametrize("name", DOCUMENTED)
def test_the_modules_people_read_first_have_examples(name):
    module = importlib.import_module(name)
    examples = sum(len(t.examples) for t in doctest.DocTestFinder().find(module))
    assert examples > 0, f"{name} has no docstring examples"
