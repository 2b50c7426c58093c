"""A class graded at once: 30 generated answer files with planted slips, a hostile file and a
spreadsheet export, in ONE `ag grade` call with --summary and --gradescope.

Every expected score is computed here from the slip that was planted (a transcription slip at
one cell loses exactly that cell's point, two blanks lose two, another valid order with the
key's own contributions loses nothing), never by asking the grader. The key's numbers come
from `key.json` (the kit's backward pass, checked against finite differences by `ag exam`).
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
from gradescope_schema import validate_gradescope

from ag.cli import main

SEEDS = range(1, 31)
KINDS = ("all right", "transcription", "accumulation", "blanks", "other order", "spreadsheet")

def key_rows(key: dict, seed: int) -> list[list]:
    return key["problems"][str(seed)]["rows"]


def number(x: float) -> str:
    return repr(float(x))


def write_rows(seed: int, rows: list[tuple[str, str, str, str]]) -> str:
    lines = [f"# seed: {seed}", "iteration,node,quantity,answer"]
    lines += [",".join(r) for r in rows]
    return "\n".join(lines) + "\n"


def another_order(problem: dict) -> list[str]:
    """A valid backward order (every node before its inputs) that prefers the highest z-number
    among the ready nodes, found here by Kahn's algorithm, not by the grader."""
    n_leaves, ops = problem["n_leaves"], problem["ops"]
    size = n_leaves + len(ops)
    inputs = {n_leaves + k: list(dict.fromkeys(args)) for k, (_, args) in enumerate(ops)}
    consumers = {z: 0 for z in range(size)}
    for ins in inputs.values():
        for i in ins:
            consumers[i] += 1
    ready, order = [size - 1], []
    while ready:
        ready.sort()
        z = ready.pop(0) if len(order) % 2 else ready.pop()  # alternate: lowest, highest, ...
        order.append(f"z{z + 1}")
        for i in inputs.get(z, []):
            consumers[i] -= 1
            if consumers[i] == 0:
                ready.append(i)
    assert len(order) == size
    return order


def plant(kind: str, seed: int, problem: dict, rng: random.Random) -> tuple[str, int, str]:
    """(file text, points lost, what was planted)."""
    rows = problem["rows"]
    graded = [r for r in rows if r[2] != "nothing"]
    if kind == "other order":
        # the key's contribution of each (node, input), from consecutive key grads
        last: dict[str, float] = {}
        added: dict[tuple[str, str], float] = {}
        for k, _, q, a, _ in rows:
            if k == "forward" or q == "nothing":
                continue
            target = q.split(".")[0]
            added[(problem["iteration_nodes"][int(k)], target)] = a - last.get(target, 0.0)
            last[target] = a
        out = [(k, node, q, number(a)) for k, node, q, a, _ in rows if k == "forward"]
        grads: dict[str, float] = {}
        n_leaves = problem["n_leaves"]
        for j, z in enumerate(another_order(problem)):
            idx = int(z[1:]) - 1
            if idx < n_leaves:
                out.append((str(j), z, "nothing", ""))
                continue
            for a in dict.fromkeys(problem["ops"][idx - n_leaves][1]):
                t = f"z{a + 1}"
                grads[t] = grads.get(t, 0.0) + added[(z, t)]
                out.append((str(j), z, f"{t}.grad", number(grads[t])))
        return write_rows(seed, out), 0, "another valid order, right arithmetic"
    # even seeds write the key's exact forms (e^-6, ln 2) where it prints one, odd seeds decimals
    answers = {(r[0], r[2]): ("" if r[2] == "nothing" else r[4] if r[4] and seed % 2 == 0 else number(r[3]))
               for r in rows}
    lost, what = 0, "nothing"
    if kind in ("transcription", "spreadsheet"):
        k, _, q, a, _ = rng.choice(graded)
        answers[(k, q)] = number(a + 1 + abs(a))  # a mistyped number; later cells use the true one
        lost, what = 1, f"transcription at {k} {q}"
    elif kind == "accumulation":
        # a grad written as only this iteration's contribution (the += forgotten), at a cell whose
        # target already had a grad: the earlier grad is the difference
        last: dict[str, float] = {}
        candidates = []
        for k, _, q, a, _ in rows:
            if k == "forward" or q == "nothing":
                continue
            prev = last.get(q, 0.0)
            if abs(prev) >= 0.05:
                candidates.append((k, q, a - prev))
            last[q] = a
        if candidates:
            k, q, contribution = rng.choice(candidates)
            answers[(k, q)] = number(contribution)
            lost, what = 1, f"+= forgotten at {k} {q}"
        else:  # no grad accumulates in this problem: a sign slip on a non-zero grad instead
            k, _, q, a, _ = next(r for r in graded if r[0] != "forward" and abs(r[3]) >= 0.05)
            answers[(k, q)] = number(-a)
            lost, what = 1, f"sign at {k} {q}"
    elif kind == "blanks":
        for k, _, q, _, _ in rng.sample(graded, 2):
            answers[(k, q)] = ""
        lost, what = 2, "two blanks"
    text = write_rows(seed, [(r[0], r[1], r[2], answers[(r[0], r[2])]) for r in rows])
    if kind == "spreadsheet":  # Excel in a German locale: BOM, ';', decimal commas, CRLF, quotes
        lines = []
        for line in text.splitlines():
            if line.startswith("#"):
                lines.append(line + ";;;;")
                continue
            k, node, q, a = line.split(",")
            lines.append(f'{k};"{node}";{q};{a.replace(".", ",")};;')
        text = "\ufeff" + "\r\n".join(lines) + "\r\n"
    return text, lost, what


HOSTILE = """\
# seed: {seed}
iteration,node,quantity,answer
{rows}
"""


@pytest.fixture(scope="module")
def exam(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    assert main(["exam", "--seeds", "1-30", "--out", str(folder / "exam")]) == 0
    return folder


def test_a_class_of_30_with_planted_slips_graded_in_one_call(exam, capsys):
    key_path = exam / "exam" / "key.json"
    key = json.loads(key_path.read_text())
    students = exam / "students"
    students.mkdir()
    rng = random.Random(2026)
    expected: dict[str, tuple[int, float, float | None, str]] = {}
    for i, seed in enumerate(SEEDS):
        kind = KINDS[i % len(KINDS)]
        problem = key["problems"][str(seed)]
        text, lost, what = plant(kind, seed, problem, rng)
        max_score = sum(1 for r in problem["rows"] if r[2] != "nothing")
        name = students / f"student{seed:02d}-{kind.replace(' ', '-')}.csv"
        name.write_bytes(text.encode("utf-8"))
        expected[str(name)] = (seed, max_score, max_score - lost, what)
    # a hostile file: non-finite answers everywhere, a formula in the node column, a repeated row
    rows = [r for r in key_rows(key, 7) if r[2] != "nothing"]
    bad_numbers = ["inf", "-inf", "nan", "1e999", "Infinity", "∞"]
    hostile_rows = [f'{r[0]},"=HYPERLINK(""http://x"")",{r[2]},{bad_numbers[j % 6]}'
                    for j, r in enumerate(rows)]
    hostile_rows.append(f"{rows[0][0]},{rows[0][1]},{rows[0][2]},nan")
    hostile = students / "hostile.csv"
    hostile.write_text(HOSTILE.format(seed=7, rows="\n".join(hostile_rows)))
    expected[str(hostile)] = (7, len(rows), 0.0, "non-finite answers")
    # and a file that is not in the format at all: a 5,000-digit number on line 4
    broken = students / "broken.csv"
    broken.write_text(f"# seed: 2\niteration,node,quantity,answer\nforward,z4,z4.value,{'9' * 5000}\n")
    files = sorted(str(p) for p in students.iterdir())
    summary, results = exam / "CLASS.csv", exam / "results"
    code = main(["grade", str(key_path), *files, "--summary", str(summary), "--gradescope", str(results),
                 "--quiet"])
    captured = capsys.readouterr()
    assert code == 1  # one file could not be graded; every other one was
    assert captured.err.count("not graded") == 1 and f"{broken} line 3" in captured.err
    table = list(csv.DictReader(summary.open(encoding="utf-8")))
    assert [row["file"] for row in table] == files
    assert list(table[0]) == ["file", "seed", "score", "max_score", "error"]
    by_file = {row["file"]: row for row in table}
    assert by_file[str(broken)]["error"] and by_file[str(broken)]["score"] == ""
    for name, (seed, max_score, score, what) in expected.items():
        row = by_file[name]
        assert (int(row["seed"]), float(row["max_score"]), float(row["score"]), row["error"]) == \
            (seed, max_score, score, ""), (name, what)
        data = json.loads((results / f"{Path(name).stem}.json").read_text())
        validate_gradescope(data)
        assert data["score"] == score and sum(t["max_score"] for t in data["tests"]) == max_score
    broken_result = json.loads((results / "broken.json").read_text())
    validate_gradescope(broken_result)
    assert broken_result["score"] == 0 and "line 3" in broken_result["output"]
    assert len(list(results.iterdir())) == len(files)
    # the other-order files really used other orders (for most seeds), and the report says so
    other = [n for n in expected if "other-order" in n]
    outputs = [json.loads((results / f"{Path(n).stem}.json").read_text())["output"] for n in other]
    said = sum("valid topological order" in out for out in outputs)
    assert said >= 3
    hostile_out = json.loads((results / "hostile.json").read_text())["output"]
    assert "repeats line" in hostile_out


def test_the_summary_and_results_never_overwrite_an_input(exam, capsys):
    key_path = exam / "exam" / "key.json"
    answers = exam / "exam" / "answers-seed-1.csv"
    before_key, before_answers = key_path.read_bytes(), answers.read_bytes()
    for extra in (["--gradescope", str(answers)], ["--gradescope", str(key_path)],
                  ["--summary", str(answers)], ["--summary", str(key_path)]):
        assert main(["grade", str(key_path), str(answers), *extra]) == 2, extra
        assert "refusing to write" in capsys.readouterr().err
    assert key_path.read_bytes() == before_key and answers.read_bytes() == before_answers
