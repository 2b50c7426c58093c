"""The op registry: one entry per op and engine, with rules, text, arity and domain."""

import math

import numpy as np
import pytest

import ag
from ag import registry
from ag.testing import gradcheck

SCALAR_POINTS = {  # an input where each op is smooth, inside its domain
    "add": (0.7, -1.3), "sub": (0.7, -1.3), "mul": (0.7, -1.3), "div": (0.7, -1.3),
    "pow": (1.7, 0.6), "pow_const": (1.3,), "neg": (0.7,), "exp": (0.7,), "log": (0.7,),
    "relu": (0.7,), "tanh": (0.7,), "sigmoid": (-0.7,),
}


def _call(name, op, *leaves):
    if name == "pow_const":
        return op.function(leaves[0], 3.0)
    return op.function(*leaves)


def test_every_scalar_op_is_registered_with_text_per_input():
    ops = registry.scalar_ops()
    assert set(ops) == set(SCALAR_POINTS)
    for name, op in ops.items():
        assert len(op.text) == len(op.rules) == op.arity, name
        assert op.code and op.function is not None, name


@pytest.mark.parametrize("name", sorted(SCALAR_POINTS))
def test_each_scalar_op_from_the_registry_matches_finite_differences(name):
    op = registry.scalar_ops()[name]
    leaves = [ag.Scalar(v, label=f"x{i}") for i, v in enumerate(SCALAR_POINTS[name])]
    out = _call(name, op, *leaves)
    assert out.op == op.op and len(out.inputs) == op.arity
    gradcheck(lambda *xs: _call(name, op, *xs), *leaves)


def test_the_registry_methods_are_the_engines_operators():
    x, y = ag.Scalar(2.0), ag.Scalar(3.0)
    assert (x * y).value == 6.0 and (2.0 * y).value == 6.0 and (1.0 - y).value == -2.0
    assert (2.0 ** y).value == 8.0 and (8.0 / x).value == 4.0
    for op in registry.scalar_ops().values():
        for method in op.methods:
            assert hasattr(ag.Scalar, method), method
    for op in registry.tensor_ops().values():
        for method in op.methods:
            assert hasattr(ag.Tensor, method), method


def test_rules_return_the_inputs_gradient_in_both_engines():
    # the one protocol: rule(g, out, ctx, *inputs) -> that input's gradient
    s_mul = registry.scalar_ops()["mul"].rules
    t_mul = registry.tensor_ops()["mul"].rules
    assert s_mul[0](2.0, 6.0, None, 2.0, 3.0) == 6.0 and s_mul[1](2.0, 6.0, None, 2.0, 3.0) == 4.0
    g, a, b = np.array([2.0]), np.array([2.0]), np.array([3.0])
    assert t_mul[0](g, a * b, None, a, b)[0] == 6.0 and t_mul[1](g, a * b, None, a, b)[0] == 4.0


def test_domain_and_kinks_are_there_for_tools():
    ops = registry.scalar_ops()
    assert ops["relu"].kinks == (0.0,)
    assert ops["log"].defined(0.5) and not ops["log"].defined(0.0)
    assert ops["div"].defined(1.0, 2.0) and not ops["div"].defined(1.0, 0.0)
    assert not ops["pow_const"].defined(-2.0, 0.5) and ops["pow_const"].defined(-2.0, 3.0)
    assert ops["exp"].defined(700.0) and not ops["exp"].defined(710.0)
    with pytest.raises(OverflowError):
        ag.exp(ag.Scalar(710.0))


def test_scalar_honours_no_grad():
    x = ag.Scalar(3.0, label="x")
    with ag.no_grad():
        y = x * x
        z = ag.exp(y / 9.0)
    assert y.inputs == () and z.inputs == ()
    assert y.value == 9.0 and math.isclose(z.value, math.e)
    z.backward()
    assert x.grad == 0.0  # a constant: nothing flows back
    w = x * x  # recording again after the block
    assert w.inputs == (x, x)


def test_tensor_rule_text_is_registered_beside_each_op():
    ops = registry.tensor_ops()
    for name in ["add", "mul", "matmul", "sum", "mean", "getitem", "softmax", "cross_entropy"]:
        assert name in ops and ops[name].text, name
    x = ag.tensor([[1.0, 2.0]])
    assert (x @ x.T).backward_rule() == ops["matmul"].text
    # the third input is {c}, which a trace fills with its label (issue 11 item 20)
    assert ag.concatenate([x, x, x]).backward_rule()[2] == "{c}.grad += {out}.grad[slice 2]"


def test_registering_checks_the_text_matches_the_arity():
    with pytest.raises(ValueError, match="2 inputs but 1 rule texts"):
        registry.register("tensor", "broken", function=None, text=("{a}.grad += 1",), arity=2)
    with pytest.raises(ValueError, match="engine"):
        registry.register("gpu", "broken", function=None, text=())


def test_the_docs_op_page_lists_every_registered_op():
    page = registry.markdown()
    for engine in ("scalar", "tensor"):
        for name, op in registry.ops(engine).items():
            assert f"| `{name}` |" in page
            assert all(f"`{t}`" in page for t in op.text)
    assert "`{a}.grad += {b}.value * {out}.grad`" in page  # Scalar's mul
