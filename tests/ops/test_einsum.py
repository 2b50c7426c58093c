"""ag.einsum, the worked example of adding an op through the registry."""

import numpy as np
import pytest

import ag
from ag.testing import gradcheck, gradgradcheck

CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),        # matmul
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),  # batched
    ("i,i->", [(3,), (3,)]),                # dot
    ("i,j->ij", [(2,), (3,)]),              # outer
    ("ij->", [(2, 3)]),                     # total sum: every axis summed away
    ("ij->j", [(2, 3)]),                    # column sums
    ("ij,j->j", [(2, 3), (3,)]),            # i appears only in the first operand
    ("ijk->kji", [(2, 3, 4)]),              # a transpose
    ("ij,jk", [(2, 3), (3, 4)]),            # implicit output: ik
    ("ij,jk,kl->il", [(2, 3), (3, 2), (2, 2)]),  # three operands
    ("ij,ij->ij", [(2, 3), (2, 3)]),        # elementwise
]


def _operands(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


@pytest.mark.parametrize("spec,shapes", CASES)
def test_value_is_numpys_and_grads_match_finite_differences(spec, shapes):
    arrays = _operands(shapes)
    xs = [ag.tensor(a, label=f"x{i}") for i, a in enumerate(arrays)]
    np.testing.assert_allclose(ag.einsum(spec, *xs).value, np.einsum(spec, *arrays))
    gradcheck(lambda *t: ag.einsum(spec, *t), *xs)


@pytest.mark.parametrize("spec,shapes", CASES[:4] + CASES[6:7])
def test_second_derivatives_through_create_graph(spec, shapes):
    xs = [ag.tensor(a) for a in _operands(shapes, seed=1)]
    gradgradcheck(lambda *t: ag.einsum(spec, *t), *xs)


@pytest.mark.torch
@pytest.mark.parametrize("spec,shapes", CASES)
def test_grads_match_torch(spec, shapes):
    torch = pytest.importorskip("torch")
    arrays = _operands(shapes, seed=2)
    xs = [ag.tensor(a) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = ag.einsum(spec, *xs), torch.einsum(spec, *ts)
    seed = np.random.default_rng(3).standard_normal(out.shape)
    out.backward(seed)
    ref.backward(torch.tensor(seed))
    np.testing.assert_allclose(out.value, ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_it_is_registered_with_its_rule_text_and_reached_from_ag():
    assert ag.einsum is ag.registry.tensor_ops()["einsum"].function is ag.tensor.einsum
    a, b = ag.tensor([[1.0, 2.0]], label="a"), ag.tensor([[3.0], [4.0]], label="b")
    node = ag.einsum("ij,jk->ik", a, b)
    assert node.op == "einsum" and node.inputs == (a, b)
    assert node.backward_rule()[1].startswith("{b}.grad += einsum(")
    with ag.trace() as t:
        node.sum().backward()
    assert any("einsum" in str(r) for k in range(len(t.last.steps)) for r in t.last.rules(k))


def test_a_constant_operand_gets_no_gradient_and_no_grad_records_nothing():
    a = ag.tensor([1.0, 2.0])
    c = ag.tensor([3.0, 4.0], requires_grad=False)
    ag.einsum("i,i->", a, c).backward()
    assert c.grad is None and a.grad.tolist() == [3.0, 4.0]
    with ag.no_grad():
        assert ag.einsum("i,i->", a, a).inputs == ()


@pytest.mark.parametrize("spec,shapes,match", [
    ("ij,jk->ik", [(2, 3), (4, 5)], r"axis 'j' has sizes 3 and 4 \(.*\(2, 3\).*\(4, 5\)"),
    ("ij->ij", [(2, 3, 4)], "subscripts 'ij' name 2 axes but .* has 3"),
    ("ij,jk->ik", [(2, 3)], "2 operand subscripts but 1 operands"),
    ("ii->i", [(2, 2)], "repeated within one operand"),
    ("...i->i", [(2, 2)], r"'\.\.\.' is not supported"),
    ("ij->iz", [(2, 2)], "the output 'iz'"),
])
def test_bad_input_is_a_clear_error_and_makes_no_node(spec, shapes, match):
    xs = [ag.tensor(a) for a in _operands(shapes)]
    with pytest.raises(ValueError, match=match):
        ag.einsum(spec, *xs)
    assert all(x.grad is None for x in xs)


def test_mixing_devices_is_refused():
    a = ag.tensor([1.0, 2.0])
    b = ag.tensor([1.0, 2.0]).to("fake")
    with pytest.raises(ag.gpu.DeviceMismatchError, match="einsum"):
        ag.einsum("i,i->", a, b)
