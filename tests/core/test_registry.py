"""The op registry: one entry per op and engine, with rules, text, arity and domain."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import ag
from ag import registry
from ag.testing import gradcheck

SCALAR_OPS = sorted(registry.scalar_ops())  # whatever is registered: a new op is tested too


def test_every_scalar_op_is_registered_with_what_tools_need():
    for name, op in registry.scalar_ops().items():
        assert op.arity in (1, 2) and len(op.text) == len(op.rules) == op.arity, name
        assert op.code and op.function is not None, name
        assert all(f"{{{k}}}" in op.code for k in "ab"[: op.arity]), name
        assert ("{n}" in op.code) == (op.n is not None), name  # a number argument is declared


@pytest.mark.parametrize("name", SCALAR_OPS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(data=st.data())
def test_every_scalar_op_matches_finite_differences_where_it_is_valid(name, data):
    # the property, over every registered op: where the op says it is defined, safe and
    # off its kinks, its registered rules agree with central finite differences
    op = registry.scalar_ops()[name]
    values = [data.draw(st.floats(-4.0, 4.0, allow_nan=False), label=f"x{i}") for i in range(op.arity)]
    assume(op.valid(*values))
    leaves = [ag.Scalar(v, label=f"x{i}") for i, v in enumerate(values)]
    out = op.call(*leaves)
    assert out.op == op.op and len(out.inputs) == op.arity
    assert registry.entry_of("scalar", out) is op  # the node finds its registered entry
    gradcheck(lambda *xs: op.call(*xs), *leaves)


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


# -- one public register, for both engines (issue 21) ----------------------------------------


def _cube_rule(g, out, ctx, a):
    return 3.0 * a * a * g


def _scalar_cube(x):
    """``x ** 3``, written as a student writes a Scalar op."""
    from ag.scalar import make_node

    return make_node(x.value ** 3, (x,), "cube", (_cube_rule,))


def _tensor_cube(x):
    """``x ** 3`` of a Tensor."""
    from ag.ops.api import as_tensor, make_node

    x = as_tensor(x)
    return make_node(x.value ** 3, (x,), "cube", (_cube_rule,))


CUBE_TEXT = ("{a}.grad += 3 * {a}.value**2 * {out}.grad",)


def test_a_student_registers_a_scalar_op_with_its_own_forward_and_backward():
    ag.register("scalar", "cube", _scalar_cube, (_cube_rule,), CUBE_TEXT,
                methods=("cube",), code="ag.cube({a})")
    try:
        x = ag.Scalar(1.5, label="x")
        y = x.cube()
        y.backward()
        assert x.grad == 3.0 * 1.5**2  # hand-derived
        assert y.backward_rule() == CUBE_TEXT  # the trace's text is the registered one
        assert ag.cube(x).value == 1.5**3  # ag.X made from the registry
        gradcheck(lambda t: ag.cube(t), ag.Scalar(-0.7))
        assert "cube" in dir(ag) and "cube" in ag.__all__
        with pytest.raises(TypeError, match="cube: not defined for a Tensor"):
            ag.cube(ag.tensor([1.0]))
        from ag.exam.ops import _ops_from_registry  # the exam generator sees it too

        assert _ops_from_registry()["cube"].partials(2.0) == (12.0,)
    finally:
        registry.unregister("scalar", "cube")
    assert not hasattr(ag.Scalar, "cube") and "cube" not in registry.scalar_ops()


def test_an_op_registered_for_both_engines_is_one_ag_function_for_both():
    # the softplus bug of issue 21: ag.X of a Scalar went to the Tensor op
    ag.register("scalar", "cube", _scalar_cube, (_cube_rule,), CUBE_TEXT, code="ag.cube({a})")
    ag.register("tensor", "cube", _tensor_cube, (_cube_rule,), CUBE_TEXT, methods=("cube",))
    try:
        s = ag.cube(ag.Scalar(2.0))
        t = ag.cube(ag.tensor([2.0, -1.0]))
        assert isinstance(s, ag.Scalar) and s.value == 8.0
        assert isinstance(t, ag.Tensor) and t.value.tolist() == [8.0, -1.0]
        assert ag.tensor([3.0]).cube().value.tolist() == [27.0]
        gradcheck(lambda v: ag.cube(v).sum(), ag.tensor([0.3, -1.2]))
    finally:
        registry.unregister("scalar", "cube")
        registry.unregister("tensor", "cube")
    assert not hasattr(ag.Tensor, "cube")


def test_ag_functions_serve_scalars_tensors_and_plain_values():
    x = ag.Scalar(0.5)
    t = ag.tensor([0.5])
    for name in ("exp", "log", "tanh", "sigmoid", "relu"):
        s_value = getattr(ag, name)(x).value
        t_value = float(getattr(ag, name)(t).value[0])
        plain = float(getattr(ag, name)(np.array([0.5]))[0])
        assert math.isclose(s_value, t_value, rel_tol=1e-15) and math.isclose(plain, t_value), name
    assert (ag.add(2.0, x)).value == 2.5 and (ag.power(x, 2)).value == 0.25
    assert (2.0 ** x).value == 2.0**0.5 and (1.0 - x).value == 0.5  # one _reflected helper


def test_a_tensor_op_given_a_scalar_says_the_engines_do_not_mix():
    with pytest.raises(TypeError, match="engines do not mix"):
        ag.softmax(ag.Scalar(1.0))


def test_one_stable_sigmoid_for_both_engines():
    from ag.functions import logistic

    for v in (-1000.0, -40.0, -1e-3, 0.0, 2.5, 40.0, 1000.0):
        assert ag.Scalar(v).sigmoid().value == logistic(v)
        assert math.isclose(float(ag.tensor([v]).sigmoid().value[0]), logistic(v), rel_tol=1e-15)
    assert ag.Scalar(-40.0).sigmoid().value > 0.0  # 1 - 1/(1 + e^-40) would be exactly 0
    with np.errstate(over="raise"):
        assert ag.sigmoid(np.array([-1000.0, 1000.0])).tolist() == [0.0, 1.0]


def test_a_variant_is_found_by_its_op_and_number_of_inputs():
    x, t = ag.Scalar(2.0), ag.tensor([2.0])
    assert registry.entry_of("scalar", x**3).name == "pow_const"
    assert registry.entry_of("scalar", x**x).name == "pow"
    assert registry.entry_of("tensor", t**3).name == "pow_const"
    assert (t**3).backward_rule() == registry.tensor_ops()["pow_const"].text


def test_dir_ag_is_the_public_api_only():
    names = dir(ag)
    for private in ("Any", "import_module", "buffers", "number_format", "trace_render",
                    "trace_record", "autodiff", "backend", "annotations", "_LAZY"):
        assert private not in names, private
    for public in ("Scalar", "Tensor", "tensor", "trace", "no_grad", "register", "grad", "nn",
                   "optim", "exam", "exp", "matmul", "einsum", "sum", "power", "checkpoint"):
        assert public in names, public
    for name, op in registry.scalar_ops().items():  # every op, read from the registry
        assert op.op != name or name in names or name == "pow", name  # pow is listed as power
        assert op.op != name or callable(getattr(ag, name)), name
    assert "index_add" not in names and "getitem" not in names  # registered public=False
    for name in ag.__all__:
        assert getattr(ag, name) is not None, name
    namespace: dict = {}
    exec("from ag import *", namespace)
    assert "exp" in namespace and "Tensor" in namespace and "import_module" not in namespace


def test_the_ops_page_example_of_an_op_of_your_own_runs():
    code = registry.markdown().split("```python", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    try:
        exec(code, namespace)
        x = namespace["x"]
        assert math.isclose(x.grad, 1 - math.tanh(0.5) ** 2)  # hand-derived
    finally:
        registry.unregister("scalar", "my_tanh")
