"""ag.nn.RNN / LSTM: the course's scalar cell as the 1-unit case, gradients, torch agreement."""

from __future__ import annotations

import numpy as np
import pytest

import ag
import ag.nn as nn
from ag.testing import gradcheck


def test_one_unit_rnn_is_exam_problem_1_3():
    # The exam's Scalar graph: z10 = wo * relu(wr*h0 + wi*x1)
    x1 = ag.Scalar(2.0, label="z1:leaf(x1)")
    h0 = ag.Scalar(3.0, label="z2:leaf(h0)")
    wr = ag.Scalar(4.0, label="z3:leaf(wr)")
    wi = ag.Scalar(5.0, label="z4:leaf(wi)")
    wo = ag.Scalar(6.0, label="z5:leaf(wo)")
    z10 = ag.relu(wr * h0 + wi * x1) * wo
    z10.backward()
    assert (wr.grad, wi.grad, wo.grad) == (18.0, 12.0, 22.0)  # the answer key

    # The same cell as an RNN layer with one unit and a 1x1 read-out
    rnn = nn.RNN(1, 1, nonlinearity="relu", bias=False)
    rnn.Wr.value[...] = 4.0
    rnn.Wi.value[...] = 5.0
    readout = nn.Linear(1, 1, bias=False)
    readout.weight.value[...] = 6.0
    _, h1 = rnn(np.array([[[2.0]]]), h0=np.array([[3.0]]))
    out = readout(h1).sum()
    out.backward()
    assert out.item() == z10.value == 132.0
    assert (rnn.Wr.grad.item(), rnn.Wi.grad.item(), readout.weight.grad.item()) == (wr.grad, wi.grad, wo.grad)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_gradients(nonlinearity):
    rng = np.random.default_rng(0)
    rnn = nn.RNN(3, 4, nonlinearity=nonlinearity)
    x = ag.Tensor(rng.standard_normal((2, 5, 3)), label="x")
    h0 = ag.Tensor(rng.standard_normal((2, 4)), label="h0")
    assert gradcheck(lambda x, h0, *p: rnn(x, h0)[0], x, h0, *rnn.parameters())


def test_lstm_gradients():
    rng = np.random.default_rng(1)
    lstm = nn.LSTM(3, 2)
    x = ag.Tensor(rng.standard_normal((2, 4, 3)), label="x")
    h0, c0 = (ag.Tensor(rng.standard_normal((2, 2))) for _ in range(2))
    assert gradcheck(lambda x, h0, c0, *p: lstm(x, (h0, c0))[1][1], x, h0, c0, *lstm.parameters())


@pytest.mark.torch
def test_rnn_and_lstm_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 6, 4))
    ours = nn.RNN(4, 5, nonlinearity="tanh")
    theirs = torch.nn.RNN(4, 5, nonlinearity="tanh", batch_first=True).double()
    with torch.no_grad():
        # torch keeps W as (hidden, input) and two biases; ours is x @ Wi with one bias
        theirs.weight_ih_l0.copy_(torch.tensor(ours.Wi.value.T))
        theirs.weight_hh_l0.copy_(torch.tensor(ours.Wr.value.T))
        theirs.bias_ih_l0.copy_(torch.tensor(ours.b.value))
        theirs.bias_hh_l0.zero_()
    out, h = ours(x)
    t_out, t_h = theirs(torch.tensor(x))
    np.testing.assert_allclose(out.value, t_out.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(h.value, t_h[0].detach().numpy(), atol=1e-12)

    ours = nn.LSTM(4, 3)
    theirs = torch.nn.LSTM(4, 3, batch_first=True).double()
    with torch.no_grad():  # both order the gates (i, f, g, o)
        theirs.weight_ih_l0.copy_(torch.tensor(ours.Wi.value.T))
        theirs.weight_hh_l0.copy_(torch.tensor(ours.Wr.value.T))
        theirs.bias_ih_l0.copy_(torch.tensor(ours.b.value))
        theirs.bias_hh_l0.zero_()
    out, (h, c) = ours(x)
    t_out, (t_h, t_c) = theirs(torch.tensor(x))
    np.testing.assert_allclose(out.value, t_out.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(c.value, t_c[0].detach().numpy(), atol=1e-12)


def test_recurrent_input_errors():
    with pytest.raises(
        ValueError,
        match=r"RNN\(input_size=3, hidden_size=4.*expects input of shape \(N, T, 3\), got \(5, 3\)",
    ):
        nn.RNN(3, 4)(np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"expects h0 of shape \(2, 4\)"):
        nn.RNN(3, 4)(np.zeros((2, 5, 3)), h0=np.zeros((4,)))
    with pytest.raises(ValueError, match=r"LSTM.*expects input of shape \(N, T, 3\), got \(2, 5, 2\)"):
        nn.LSTM(3, 4)(np.zeros((2, 5, 2)))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
