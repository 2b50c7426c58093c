"""The docstring examples of the core modules run and say what they show."""

import doctest
import importlib

import pytest

CORE = ["ag", "ag.autodiff", "ag.scalar", "ag.tensor", "ag.functions", "ag.higher_order",
        "ag.anomaly", "ag.testing.gradcheck", "ag.ops.arithmetic", "ag.ops.elementwise",
        "ag.ops.linalg", "ag.ops.reductions", "ag.ops.shape", "ag.ops.indexing", "ag.ops.softmax"]


@pytest.mark.parametrize("name", CORE)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
