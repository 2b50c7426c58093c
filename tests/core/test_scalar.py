import math
import sys

import pytest
from course_problems import problem_1_3, recursive_topological_order
from hypothesis import given
from hypothesis import strategies as st

import ag
from ag.scalar import rule_templates
from ag.testing import GradcheckError, gradcheck
from ag.testing import strategies as ags


def labels(order):
    return [node.label or node.op for node in order]


# -- the course's exam problems: exact order and leaf grads -------------------------


def test_problem_1_1_square_of_square():
    x = ag.scalar(2.0, label="z1:leaf(x)")
    z2 = x * x
    z3 = z2 * z2
    z3.backward()
    assert labels(z3.topological_sort()) == ["z1:leaf(x)", "mul", "mul"]
    assert z2.grad == 8.0
    assert x.grad == 32.0


def test_problem_1_1a_repeated_left_multiplication():
    x = ag.Scalar(2.0, label="z1:leaf(x)")
    z2 = x * x
    z3 = x * z2
    z4 = x * z3
    z4.backward()
    assert z4.topological_sort() == [x, z2, z3, z4]
    assert x.grad == 32.0  # d/dx x^4 = 4 x^3
    assert z3.grad == 2.0 and z2.grad == 4.0


def test_problem_1_2_exp_log():
    x = ag.Scalar(2.0, label="z1:leaf(x)")
    y = ag.Scalar(3.0, label="z2:leaf(y)")
    z3 = x * y
    z4 = ag.exp(z3)
    z5 = ag.log(z4)
    z5.backward()
    assert labels(z5.topological_sort()) == ["z1:leaf(x)", "z2:leaf(y)", "mul", "exp", "log"]
    assert x.grad == pytest.approx(3.0, rel=1e-12)
    assert y.grad == pytest.approx(2.0, rel=1e-12)


def test_problem_1_3_recurrent_cell():
    p = problem_1_3()
    p.z10.backward()
    assert p.z10.topological_sort() == [p.wr, p.h0, p.z5, p.wi, p.x1, p.z6, p.z7, p.z8, p.wo, p.z10]
    assert (p.wr.grad, p.wi.grad, p.wo.grad, p.h0.grad, p.x1.grad) == (18.0, 12.0, 22.0, 24.0, 30.0)
    assert p.z10.value == 132.0


def test_topological_sort_matches_recursive_reference():
    # The recursive version from the slides, on random graphs.
    @given(ags.scalar_graphs(max_leaves=4, max_steps=20))
    def check(graph):
        out = graph.build(*graph.leaves())
        assert [id(n) for n in out.topological_sort()] == [id(n) for n in recursive_topological_order(out)]

    check()


# -- semantics ----------------------------------------------------------------------


def test_inputs_keep_operand_order_and_duplicates():
    x = ag.Scalar(1.0)
    y = ag.Scalar(2.0)
    assert (x * x).inputs == (x, x)
    assert (y - x).inputs == (y, x)
    assert isinstance((x + y).inputs, tuple)


def test_backward_twice_doubles_leaf_grads_and_zero_grad_clears():
    x = ag.Scalar(2.0)
    z2 = x * x
    z3 = z2 * z2
    z3.backward()
    z3.backward()
    assert x.grad == 64.0
    assert z2.grad == 8.0  # interior grads show the latest pass
    z3.zero_grad()
    assert (x.grad, z2.grad, z3.grad) == (0.0, 0.0, 0.0)


def test_course_style_construction():
    a = ag.Scalar(2.0, label="a")
    b = ag.Scalar(3.0)
    out = ag.Scalar(a.value * b.value, inputs=[a, b], op="mul", label="c")
    assert out.inputs == (a, b) and out.op == "mul" and out.label == "c"
    out.backward()  # a hand-built node has no rule: nothing flows, nothing breaks
    assert a.grad == 0.0


def test_reverse_operators_with_numbers():
    x = ag.Scalar(2.0)
    assert (3 + x).value == 5.0
    assert (3 - x).value == 1.0
    assert (3 * x).value == 6.0
    assert (3 / x).value == 1.5
    y = 2**x
    assert y.value == 4.0
    y.backward()
    assert x.grad == pytest.approx(4.0 * math.log(2.0))


def test_scalar_uses_slots():
    assert not hasattr(ag.Scalar(1.0), "__dict__")


def test_graph_has_no_reference_cycles():
    # A graph must be freed by reference counting: nothing for the cyclic GC.
    import gc

    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        x = ag.Scalar(2.0)
        y = ag.tanh(x * x + 1.0)
        y.backward()
        del x, y
        gc.collect()
        assert not any(isinstance(obj, ag.Scalar) for obj in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


# -- every op: hand-derived values and finite differences ------------------------------

HAND_DERIVED = [
    # (function, inputs, expected grads)
    (lambda a, b: a + b, (2.0, 3.0), (1.0, 1.0)),
    (lambda a, b: a - b, (2.0, 3.0), (1.0, -1.0)),
    (lambda a, b: a * b, (2.0, 3.0), (3.0, 2.0)),
    (lambda a, b: a / b, (2.0, 4.0), (0.25, -2.0 / 16.0)),
    (lambda a, b: a**b, (2.0, 3.0), (3.0 * 4.0, 8.0 * math.log(2.0))),
    (lambda a: a**3, (2.0,), (12.0,)),
    (lambda a: a**-1, (2.0,), (-0.25,)),
    (lambda a: -a, (2.0,), (-1.0,)),
    (lambda a: ag.exp(a), (1.0,), (math.e,)),
    (lambda a: ag.log(a), (4.0,), (0.25,)),
    (lambda a: ag.relu(a), (3.0,), (1.0,)),
    (lambda a: ag.relu(a), (-3.0,), (0.0,)),
    (lambda a: ag.tanh(a), (0.5,), (1.0 - math.tanh(0.5) ** 2,)),
    (lambda a: ag.sigmoid(a), (0.0,), (0.25,)),
]


@pytest.mark.parametrize("fn,values,expected", HAND_DERIVED)
def test_op_grads_match_hand_derived(fn, values, expected):
    leaves = [ag.Scalar(v) for v in values]
    fn(*leaves).backward()
    for leaf, want in zip(leaves, expected):
        assert leaf.grad == pytest.approx(want, rel=1e-12, abs=1e-15)


UNARY = {
    "neg": lambda a: -a,
    "exp": ag.exp,
    "tanh": ag.tanh,
    "sigmoid": ag.sigmoid,
    "relu": ag.relu,
    "pow3": lambda a: a**3,
    "rsub": lambda a: 1.5 - a,
    "rmul": lambda a: 1.5 * a,
    "radd": lambda a: 1.5 + a,
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(x=ags.kink_free_floats(-4, 4))
def test_unary_ops_against_finite_differences(name, x):
    gradcheck(UNARY[name], ag.Scalar(x))


@given(x=st.floats(0.05, 10))
def test_log_sqrt_and_rdiv_against_finite_differences(x):
    gradcheck(ag.log, ag.Scalar(x))
    gradcheck(lambda a: a**0.5, ag.Scalar(x))
    gradcheck(lambda a: 2.0 / a, ag.Scalar(x))


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(a=ags.kink_free_floats(), b=ags.floats_away_from((0.0,), 0.1))
def test_binary_ops_against_finite_differences(name, a, b):
    gradcheck(BINARY[name], ag.Scalar(a), ag.Scalar(b))


@given(a=st.floats(0.1, 5), b=st.floats(-3, 3))
def test_scalar_exponent_against_finite_differences(a, b):
    gradcheck(lambda x, y: x**y, ag.Scalar(a), ag.Scalar(b))


@given(ags.scalar_graphs())
def test_random_graphs_against_finite_differences(graph):
    try:
        gradcheck(graph.build, *graph.leaves(), atol=1e-4, rtol=1e-4)
    except GradcheckError as err:
        raise AssertionError(f"{err}\n{graph.code()}") from None


def test_sigmoid_is_stable_for_large_inputs():
    assert ag.sigmoid(ag.Scalar(-1000.0)).value == 0.0
    assert ag.sigmoid(ag.Scalar(1000.0)).value == 1.0
    y = ag.sigmoid(ag.Scalar(-800.0))
    y.backward()
    assert y.inputs[0].grad == 0.0


def test_gradcheck_reports_the_disagreeing_input():
    def wrong(a, b):
        out = a * b
        # a wrong rule pair: a gets nothing, b gets 1 (the protocol: rules return grads)
        out._rules = (lambda g, o, ctx, av, bv: 0.0, lambda g, o, ctx, av, bv: 1.0)
        return out

    with pytest.raises(GradcheckError, match=r"input 0 \('a'\).*analytic 0\.0, numeric 2\.99999"):
        gradcheck(wrong, ag.Scalar(2.0, label="a"), ag.Scalar(3.0, label="b"))


def test_every_op_has_rule_text():
    x = ag.Scalar(2.0, label="x")
    y = ag.Scalar(3.0, label="y")
    nodes = [x + y, x - y, x * y, x / y, x**y, x**2, -x, ag.exp(x), ag.log(x), ag.relu(x),
             ag.tanh(x), ag.sigmoid(x)]
    for node in nodes:
        templates = rule_templates(node)
        assert len(templates) == len(node.inputs)
    assert rule_templates(x * y)[0] == "{a}.grad += {b}.value * {out}.grad"
    assert rule_templates(x) == ()
    assert set(ag.registry.scalar_ops()) >= {n.op for n in nodes}


# -- depth: no recursion, no touching the recursion limit ------------------------------


def test_deep_chain_backward_without_recursion():
    limit = sys.getrecursionlimit()
    x = ag.Scalar(1.0)
    node = x
    for _ in range(200_000):
        node = node * 1.0
    node.backward()
    assert x.grad == 1.0
    assert sys.getrecursionlimit() == limit
    # Freeing a 200,000-deep chain must not overflow the C stack either.
    del node


def test_wide_sum_backward():
    leaves = [ag.Scalar(float(i)) for i in range(100_000)]
    total = leaves[0]
    for leaf in leaves[1:]:
        total = total + leaf
    total.backward()
    assert all(leaf.grad == 1.0 for leaf in leaves)
    assert total.value == sum(range(100_000))


# -- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["2.0", None, [1.0], 1j, True])
def test_non_numeric_value_is_refused(value):
    with pytest.raises(TypeError, match="real number"):
        ag.Scalar(value, label="x")


def test_combining_with_a_non_number_names_the_op_and_label():
    x = ag.Scalar(2.0, label="x")
    with pytest.raises(TypeError, match=r"mul: cannot combine Scalar 'x'.*str"):
        x * "3"
    with pytest.raises(TypeError, match=r"add: cannot combine Scalar 'x'"):
        None + x


def test_log_of_non_positive_names_the_label():
    x = ag.Scalar(-1.0, label="x")
    before = (x.value, x.grad)
    with pytest.raises(ValueError, match=r"log: the input Scalar 'x' \(value=-1\.0\) must be positive"):
        ag.log(x)
    assert (x.value, x.grad) == before


def test_scalar_exponent_with_non_positive_base():
    with pytest.raises(ValueError, match=r"pow: .*base Scalar 'b'.*must be positive"):
        ag.Scalar(-2.0, label="b") ** ag.Scalar(2.0, label="e")


def test_division_by_zero_names_the_labels():
    with pytest.raises(ZeroDivisionError, match=r"div: Scalar 'x'.*Scalar 'zero'"):
        ag.Scalar(1.0, label="x") / ag.Scalar(0.0, label="zero")


def test_backward_from_non_finite_value_leaves_grads_unchanged():
    x = ag.Scalar(2.0, label="x")
    y = x * float("inf")
    y.label = "y"
    with pytest.raises(ValueError, match=r"backward: .*'y'.*not finite"):
        y.backward()
    assert x.grad == 0.0 and y.grad == 0.0


def test_exp_overflow_is_a_clear_error():
    with pytest.raises(OverflowError, match=r"exp: .*'big'"):
        ag.exp(ag.Scalar(1000.0, label="big"))
