"""What a custom_op rule may do with the ``g`` it is handed, under every seed.

A rule that scaled its ``g`` in place (``g *= 3; return g``) silently changed the
output's stored grad under ``y.sum().backward()`` and raised a bare "output array
is read-only" under ``y.backward(G)``. Now ``g`` is read-only while any custom rule
runs, and writing into it is an error that names the op and the rule, the same
under both seeds, with every grad as before. (That the seed itself never aliases
the caller's array is tested in test_defects_results.py.)
"""

from __future__ import annotations

import numpy as np
import pytest

import ag


def scale_in_place(g, out, ctx, a):
    g *= 3
    return g


def scale(g, out, ctx, a):
    return g * 3


SEEDS = {"sum": lambda y: y.sum().backward(), "seed array": lambda y: y.backward(np.ones(3)),
         "seed tensor": lambda y: y.backward(ag.ones(3))}


@pytest.mark.parametrize("seed", list(SEEDS), ids=list(SEEDS))
def test_a_rule_writing_into_g_is_refused_naming_the_rule(seed):
    x = ag.tensor([1.0, 2.0, 3.0], label="x")
    y = ag.custom_op(x.value.copy(), [x], "triple", [scale_in_place])
    with pytest.raises(ValueError, match=r"custom_op 'triple': the rule for input 0 \(scale_in_place\) "
                                         r"wrote into its g.*return g \* 3"):
        SEEDS[seed](y)
    assert x.grad is None and y.grad is None  # all or nothing


@pytest.mark.parametrize("seed", list(SEEDS), ids=list(SEEDS))
def test_a_rule_returning_a_new_array_works_under_every_seed(seed):
    x = ag.tensor([1.0, 2.0, 3.0], label="x")
    y = ag.custom_op(x.value.copy(), [x], "triple", [scale])
    SEEDS[seed](y)
    np.testing.assert_array_equal(x.grad, [3.0, 3.0, 3.0])
    np.testing.assert_array_equal(y.grad, [1.0, 1.0, 1.0])
    assert y.grad.flags.writeable  # g is writable again once the rule has run


def test_a_rule_under_create_graph_gets_a_tensor_and_builds_on_it():
    x = ag.tensor([1.0, 2.0, 3.0])
    y = ag.custom_op(x.value ** 2, [x], "square", [lambda g, out, ctx, a: g * 2 * a])
    (gx,) = ag.grad(y.sum(), [x], create_graph=True)
    (gg,) = ag.grad(gx.sum(), [x])  # the rule's a is x itself here: d/dx sum(2 x) = 2
    np.testing.assert_array_equal(gx.value, [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(gg.value, [2.0, 2.0, 2.0])
