"""The finals' other problem types: every key is checked against the kit, over many seeds.

Each generator raises if one of its answers disagrees with what the kit computes; on
top of that, a few answers are recomputed here by hand-written formulas and checked.
"""

from __future__ import annotations

import numpy as np
import pytest

from ag.cli import main
from ag.exam.questions import QUESTION_KINDS, question

_COUNTS = {"questions": 0, "answers": 0}


@pytest.mark.parametrize("kind", list(QUESTION_KINDS))
def test_every_key_checked_over_seeds(kind):
    seeds = range(8) if kind == "remat" else range(25)
    keys = set()
    for seed in seeds:
        q = question(kind, seed)
        assert q.checks >= 3 and q.answers
        keys.add(tuple(q.answers.values()))
        _COUNTS["questions"] += 1
        _COUNTS["answers"] += q.checks
        assert "Answer key" in q.text() and "Answer key" not in q.text(answers=False)
    assert len(keys) > len(seeds) // 2  # the seeds give different questions


def test_im2col_answers_by_hand():
    # seed 3: Cin=2, Cout=6, K=1, stride 2, padding 0 on (2, 2, 8, 7): Hout = (8-1)//2+1 = 4,
    # Wout = (7-1)//2+1 = 4, P = 16, patch = 2*1*1 = 2, cost = N*P*patch*Cout = 2*16*2*6 = 384
    q = question("im2col", 3)
    assert "Cin=2, Cout=6, K=1, stride=2, padding=0" in q.prompt and "(2, 2, 8, 7)" in q.prompt
    assert q.answers["Hout, Wout"] == "(4, 4)" and q.answers["self.im2col_mat.shape"] == "(112, 32)"
    assert q.answers["self.im2col_mat.nnz"] == "32"
    assert q.answers["cost of Xout_flat (multiply-adds)"] == "384"


def test_remat_answers_by_hand():
    # seed 3: 9 layers, 3 segments of 3: forward keeps h3, h6, h9; backward rebuilds one segment
    # at a time next to the 3 kept outputs: peak 3 + 3 = 6; all 9 layers run again
    q = question("remat", 3)
    assert q.answers["activations kept after the checkpointed forward"] == "3: h3, h6, h9"
    assert q.answers["peak stored activations with checkpoints"] == "6"
    assert q.answers["layers recomputed during backward"] == "9"


def test_network_grads_by_hand():
    q = question("network", 3)
    # X = [[1,-1],[1,1],[-1,-1]], W = [[2,2],[1,-2]], b = [1,-1], Y = [[2,2],[0,2],[2,0]]
    # Z = XW + b = [[2,3],[4,-1],[-2,-1]]; H = [[2,3],[4,0],[0,0]]; dH = 2(H-Y) = [[0,2],[8,-4],[-4,0]]
    # relu mask [[1,1],[1,0],[0,0]] -> dZ = [[0,2],[8,0],[0,0]]; W.grad = X^T dZ = [[8,2],[8,-2]]
    assert q.answers["dL/dH (= 2 (H - Y))"] == "[0 2; 8 -4; -4 0]"
    assert q.answers["W.grad"] == "[8 2; 8 -2]" and q.answers["b.grad"] == "[8 2]"
    dZ = np.array([[0, 2], [8, 0], [0, 0]])
    assert q.answers["X.grad"] == "[" + "; ".join(" ".join(f"{v:g}" for v in r)
                                                  for r in dZ @ np.array([[2, 2], [1, -2]]).T) + "]"


def test_cli_kinds(capsys, tmp_path):
    assert main(["exam", "--kind", "attention", "--seed", "2"]) == 0
    assert "KQ.shape" in capsys.readouterr().out
    assert main(["exam", "--kind", "im2col", "--seeds", "1-4", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "im2col-key.md").read_text().count("## im2col question") == 4
    assert "Answer key" not in (tmp_path / "im2col-questions.md").read_text()
    assert main(["exam", "--kind", "remat", "--format", "latex"]) == 2


def test_counts_reported(capsys):
    with capsys.disabled():
        print(f"\n[exam questions] questions: {_COUNTS['questions']}, "
              f"answers checked against the kit: {_COUNTS['answers']}")
