"""The finals' other problem types: every answer checked against the kit, and by hand here.

Each kind computes its answers by hand formulas (``*_answers``) and compares every one
with what the kit computes; a perturbed answer is refused (item 15 of issue 25). The
tests below also derive a few answers of each kind by hand, in the comments.
"""

from __future__ import annotations

import numpy as np
import pytest

import ag.exam.questions as questions
from ag.cli import main
from ag.exam.questions import QUESTION_KINDS, question

_COUNTS = {"questions": 0, "answers": 0}
_ANSWERS = {"im2col": "im2col_answers", "remat": "remat_answers", "attention": "attention_answers",
            "network": "network_answers", "softmax": "softmax_answers", "optimizer": "optimizer_answers",
            "conv": "conv_answers"}
_SEEDS = {"remat": range(4), "conv": range(12), "network": range(12), "softmax": range(12)}


@pytest.mark.parametrize("kind", list(QUESTION_KINDS))
def test_every_answer_checked_over_seeds(kind):
    seeds = _SEEDS.get(kind, range(20))
    prompts = set()
    for seed in seeds:
        q = question(kind, seed)
        assert q.checked == list(q.answers) and q.checks == len(q.answers) >= 3
        assert all(np.isfinite(v) for _, _, v in q.rows())
        prompts.add(q.prompt)
        _COUNTS["questions"] += 1
        _COUNTS["answers"] += q.checks
        assert "Answer key" in q.text() and "Answer key" not in q.text(answers=False)
        assert f"{q.checks} answers checked against the kit before printing: " in q.text()
    assert len(prompts) > len(seeds) // 2  # the seeds give different questions


@pytest.mark.parametrize("kind", list(QUESTION_KINDS))
def test_a_perturbed_answer_is_refused(kind, monkeypatch):
    # every answer of the key, changed in turn, must be caught by the comparison with the kit
    seed = 1
    items = list(question(kind, seed).answers)
    real = getattr(questions, _ANSWERS[kind])
    for item in items:
        def perturbed(*args, _item=item, **kwargs):
            answers = real(*args, **kwargs)
            value = answers[_item]
            if isinstance(value, tuple):
                answers[_item] = value[:-1] + (value[-1] + 1,)
            elif isinstance(value, np.ndarray):
                answers[_item] = value + 0.5
            else:
                answers[_item] = value + 1
            return answers

        monkeypatch.setattr(questions, _ANSWERS[kind], perturbed)
        with pytest.raises(AssertionError, match="refusing|did not check"):
            question(kind, seed)
    monkeypatch.setattr(questions, _ANSWERS[kind], real)


def test_the_planted_attention_fault_is_caught(monkeypatch):
    # "multiply-adds of KQ" = n*c*f*f was planted once and every test passed. KQ = Keys @ Queries^T
    # is (n, c, f) @ (n, f, c): n*c*c multiply-add sums of f terms = n*c*c*f.
    q = question("attention", 2)  # n, c, f = 1, 3, 2
    assert "n_samples, n_context, n_features = 1, 3, 2" in q.prompt
    assert q.answers["multiply-adds of KQ"] == 1 * 3 * 3 * 2 == 18
    assert q.answers["KQ.shape"] == (1, 3, 3) and q.answers["P.shape"] == (1, 2, 3)
    assert q.answers["ag.sum(expKQ, axis=1, keepdims=True).shape"] == (1, 1, 3)
    real = questions.attention_answers

    def planted(n, c, f):
        answers = real(n, c, f)
        answers["multiply-adds of KQ"] = n * c * f * f
        return answers

    monkeypatch.setattr(questions, "attention_answers", planted)
    with pytest.raises(AssertionError, match="multiply-adds of KQ"):
        question("attention", 2)


def test_im2col_answers_by_hand():
    # seed 3: Cin=2, Cout=6, K=1, stride 2, padding 0 on (2, 2, 8, 7): Hout = (8-1)//2+1 = 4,
    # Wout = (7-1)//2+1 = 4, P = 16, patch = 2*1*1 = 2, cost = N*P*patch*Cout = 2*16*2*6 = 384;
    # im2col_mat is (Cin*H*W, P*patch) = (112, 32) with one 1 per column: nnz 32
    q = question("im2col", 3)
    assert "Cin=2, Cout=6, K=1, stride=2, padding=0" in q.prompt and "(2, 2, 8, 7)" in q.prompt
    assert q.answers["Hout, Wout"] == (4, 4) and q.answers["self.im2col_mat.shape"] == (112, 32)
    assert q.answers["self.im2col_mat.nnz"] == 32 and q.answers["P (patches per image)"] == 16
    assert q.answers["cost of Xout_flat (multiply-adds)"] == 384
    assert q.answers["Xout.shape"] == (2, 6, 4, 4)


def test_remat_answers_by_hand():
    # seed 3: 9 layers, 3 segments of 3: forward keeps h3, h6, h9; backward rebuilds one segment
    # at a time next to the 3 kept outputs: peak 3 + 3 = 6; all 9 layers run again: 18 calls
    q = question("remat", 3)
    assert "A chain of 9 layers" in q.prompt and "as 3 checkpointed segments" in q.prompt
    assert q.answers["which (hK kept)"] == (3, 6, 9)
    assert q.answers["activations kept after the checkpointed forward"] == 3
    assert q.answers["peak stored activations with checkpoints"] == 6
    assert q.answers["layers recomputed during backward"] == 9
    assert q.answers["layer calls in all (forward + backward)"] == 18


def test_network_grads_by_hand():
    q = question("network", 3)
    # X = [[1,-1],[1,1],[-1,-1]], W = [[2,2],[1,-2]], b = [1,-1], Y = [[2,2],[0,2],[2,0]]
    # Z = XW + b = [[2,3],[4,-1],[-2,-1]]; H = [[2,3],[4,0],[0,0]]; dH = 2(H-Y) = [[0,2],[8,-4],[-4,0]]
    # relu mask [[1,1],[1,0],[0,0]] -> dZ = [[0,2],[8,0],[0,0]]; W.grad = X^T dZ = [[8,2],[8,-2]]
    # X.grad = dZ W^T = [[4,-4],[16,8],[0,0]]; L = 0+1+16+4+4+0 = 25
    assert "X = ag.tensor([[1, -1], [1, 1], [-1, -1]])" in q.prompt
    assert q.shown("dL/dH (= 2 (H - Y))") == "[0 2; 8 -4; -4 0]"
    assert q.shown("W.grad (= X^T dZ)") == "[8 2; 8 -2]"
    assert q.shown("b.grad (= column sums of dZ)") == "[8 2]"
    assert q.shown("X.grad (= dZ W^T)") == "[4 -4; 16 8; 0 0]" and q.answers["L"] == 25


def test_softmax_grads_by_hand():
    q = question("softmax", 3)
    # X = [[-1,-2],[2,2],[0,-2]], W = [[-1,-1],[0,0]], labels all 0: logits = [[1,1],[-2,-2],[0,0]]
    # equal logits in each row: P = 1/2 everywhere; dL/dlogits = (P - Y)/3 = [-1/6, 1/6] per row;
    # W.grad = X^T dlogits = [[-(-1+2+0)/6, (-1+2+0)/6], [-(-2+2-2)/6, ...]] = [[-1/6, 1/6], [1/3, -1/3]]
    # b.grad = [-1/2, 1/2]; L = ln 2
    assert "y = np.array([0, 0, 0])" in q.prompt
    np.testing.assert_allclose(q.answers["softmax probabilities P"], np.full((3, 2), 0.5))
    np.testing.assert_allclose(q.answers["W.grad (= X^T (P - Y) / n)"], [[-1 / 6, 1 / 6], [1 / 3, -1 / 3]])
    np.testing.assert_allclose(q.answers["b.grad (= column sums of dL/dlogits)"], [-0.5, 0.5])
    assert abs(q.answers["L"] - np.log(2)) < 1e-12


def test_optimizer_steps_by_hand():
    q = question("optimizer", 1)
    # (x, y) = (2, 2), w = 1, b = -1, lr = 0.1, beta = 0.5; L = (wx + b - y)^2/2, r = wx + b - y
    # SGD: r = -1: grads (-2, -1) -> w = 1.2, b = -0.9; r = -0.5: grads (-1, -0.5) -> w = 1.3, b = -0.85
    # momentum: u = 0.5*0 + 0.5*(-2, -1) = (-1, -0.5) -> w = 1.1, b = -0.95;
    #   r = 2.2 - 0.95 - 2 = -0.75: grads (-1.5, -0.75), u = (-1.25, -0.625) -> w = 1.225, b = -0.8875
    assert "(x, y) = (2, 2)" in q.prompt and "w = 1, b = -1" in q.prompt
    assert "lr = 0.1, beta = 0.5" in q.prompt
    expected = {"step 1: SGD w": 1.2, "step 1: SGD b": -0.9, "step 2: SGD w": 1.3, "step 2: SGD b": -0.85,
                "step 1: momentum u_w": -1.0, "step 1: momentum u_b": -0.5, "step 1: momentum w": 1.1,
                "step 2: momentum grad w": -1.5, "step 2: momentum u_w": -1.25,
                "step 2: momentum u_b": -0.625, "step 2: momentum w": 1.225, "step 2: momentum b": -0.8875}
    for item, value in expected.items():
        assert q.answers[item] == pytest.approx(value, abs=1e-12), item
    rows = {(r[0].split(":")[0], r[1]): r[2] for r in q.rows()}
    assert rows[("step 2", "momentum u_w")] == pytest.approx(-1.25)


def test_conv_by_hand():
    q = question("conv", 0)
    # Xin channel 0 = [[0,-1,-1],[-1,-1,2],[1,2,1]], channel 1 = [[1,2,1],[1,1,1],[2,0,2]]
    # filters: ch0 [[1,-1],[0,1]], ch1 [[0,-1],[1,1]], stride 1, padding 0 -> Xout (1, 1, 2, 2)
    # Xout[0,0] = (0*1 + -1*-1 + -1*0 + -1*1) + (1*0 + 2*-1 + 1*1 + 1*1) = 0 + 0 = 0
    # Xout[0,1] = (-1*1 + -1*-1 + -1*0 + 2*1) + (2*0 + 1*-1 + 1*1 + 1*1) = 2 + 1 = 3
    # G = [[1,-1],[-1,1]]: dL/dXin[ch0][0][0] = G[0,0]*w[0,0] = 1; [0][1] = G00*w01 + G01*w00 = -1 - 1 = -2
    assert "filters = np.array([[[[1, -1], [0, 1]], [[0, -1], [1, 1]]]])" in q.prompt
    assert q.answers["Xout.shape"] == (1, 1, 2, 2)
    assert q.answers["Xout[0][0]"][0, 0] == 0 and q.answers["Xout[0][0]"][0, 1] == 3
    assert q.answers["dL/dXin[0][0]"][0, 0] == 1 and q.answers["dL/dXin[0][0]"][0, 1] == -2


def test_conv_flipped_filter_by_hand():
    # one channel in and out: the flipped filter is the kernel turned by 180 degrees
    q = next(q for q in (question("conv", s) for s in range(40)) if "flipped filter" in q.answers)
    bank = q.answers["flipped filter"][::-1, ::-1]
    assert f"{bank.astype(int).tolist()}" in q.prompt.replace("[[[[", "[[").replace("]]]]", "]]")


def test_cli_kinds(capsys, tmp_path):
    assert main(["exam", "--kind", "attention", "--seed", "2"]) == 0
    assert "KQ.shape" in capsys.readouterr().out
    assert main(["exam", "--kind", "im2col", "--seeds", "1-4", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "im2col-key.md").read_text().count("## im2col question") == 4
    assert "Answer key" not in (tmp_path / "im2col-questions.md").read_text()
    capsys.readouterr()
    # every format now: LaTeX (was refused), HTML sheets
    assert main(["exam", "--kind", "remat", "--format", "latex", "--seed", "1"]) == 0
    key = capsys.readouterr().out
    assert key.startswith("\\documentclass") and question("remat", 1).shown("which (hK kept)") in key
    assert main(["exam", "--kind", "im2col", "--format", "latex", "--seed", "1", "--no-answers"]) == 0
    doc = capsys.readouterr().out
    shape = question("im2col", 1).shown("self.im2col_mat.shape")
    assert doc.startswith("\\documentclass") and "Name" in doc and shape not in doc
    assert main(["exam", "--kind", "optimizer", "--format", "html", "--seed", "1"]) == 0
    assert "step 2: momentum u_w" in capsys.readouterr().out
    assert main(["exam", "--kind", "attention", "--pdf"]) == 2  # no -o NAME.pdf: said, not silent


def test_batch_key_is_read_by_the_grader(tmp_path):
    from ag.exam.key import ExamKey

    assert main(["exam", "--kind", "optimizer", "--seeds", "1-3", "--out", str(tmp_path)]) == 0
    key = ExamKey.load(tmp_path / "key.json")
    q = question("optimizer", 2)
    rows = {(r.iteration, r.quantity): r.answer for r in key[2].rows}
    for section, quantity, value in q.rows():
        assert rows[(section.split(":")[0], quantity)] == pytest.approx(value)
    template = (tmp_path / "answers-seed-2.csv").read_text().splitlines()
    assert template[1] == "# seed: 2" and template[2] == "iteration,node,quantity,answer"
    assert len(template) - 3 == len(q.rows()) and all(line.endswith(",") for line in template[3:])


def test_counts_reported(capsys):
    with capsys.disabled():
        print(f"\n[exam questions] questions: {_COUNTS['questions']}, "
              f"answers checked against the kit: {_COUNTS['answers']}")


@pytest.mark.parametrize("seed", range(1, 9))
def test_the_optimizer_question_code_runs_as_printed_and_gives_the_key(seed, monkeypatch):
    """The sheet's code is what a student may type in: run as printed, it steps plain SGD and
    then SGD with momentum (it once printed two `opt =` lines, the second replacing the first,
    so plain SGD never ran), and the momentum run ends at the key's last w and b."""
    import ag
    from ag.exam.handout import _split_prompt

    runs = []

    class CountingSGD(ag.optim.SGD):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            runs.append([kwargs.get("momentum", 0), 0])

        def step(self):
            runs[-1][1] += 1
            return super().step()

    q = question("optimizer", seed)  # (its key is checked against ag.optim.SGD itself)
    monkeypatch.setattr(ag.optim, "SGD", CountingSGD)
    code = _split_prompt(q.prompt)[1]
    namespace = {"ag": ag}
    exec(code, namespace)
    last = max(int(k.split()[1].rstrip(":")) for k in q.answers if k.startswith("step "))
    assert [r[1] for r in runs] == [last, last] and runs[0][0] == 0 and runs[1][0] > 0
    assert namespace["w"].value[0] == pytest.approx(q.answers[f"step {last}: momentum w"], abs=1e-12)
    assert namespace["b"].value[0] == pytest.approx(q.answers[f"step {last}: momentum b"], abs=1e-12)
