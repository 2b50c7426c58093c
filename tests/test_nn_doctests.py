"""The examples in the docstrings of ag.nn, ag.optim, ag.data and ag.training run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "ag.nn",
    "ag.nn.module",
    "ag.nn.layers",
    "ag.nn.functional",
    "ag.nn.init",
    "ag.nn.losses",
    "ag.nn.recurrent",
    "ag.nn.attention",
    "ag.optim",
    "ag.data",
    "ag.training",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
    assert result.attempted > 0, f"{name} has no docstring examples"
