"""Exam problem 1.3 in every rendering, against answers worked by hand (not by the renderer).

z10 = relu(wr*h0 + wi*x1) * wo with x1=2, h0=3, wr=4, wi=5, wo=6: a non-symmetric graph with
several two-input ops, so a rule that reads the wrong operand shows up as a wrong number
(z4.grad would read 5 * 6 = 30 instead of 2 * 6 = 12).
"""

from html import escape

import course_problems

import ag

# iteration -> (node, [(rule, numbers)], [update]); by hand from the slides' rules:
# mul: a.grad += b.value * out.grad, b.grad += a.value * out.grad; add: both += out.grad;
# relu: a.grad += (out.value > 0) * out.grad. z7 = 4*3 + 5*2 = 22, z8 = 22, z10 = 132.
BY_HAND = {
    0: ("z10:mul", [("z8.grad += z9.value * z10.grad", "6 * 1"),
                    ("z9.grad += z8.value * z10.grad", "22 * 1")],
        ["z8.grad = 0 + 6 * 1 = 6", "z9.grad = 0 + 22 * 1 = 22"]),
    1: ("z9:leaf(wo)", [], []),
    2: ("z8:relu", [("z7.grad += (z8.value > 0) * z8.grad", "(22 > 0) * 6")],
        ["z7.grad = 0 + (22 > 0) * 6 = 6"]),
    3: ("z7:add", [("z5.grad += z7.grad", "6"), ("z6.grad += z7.grad", "6")],
        ["z5.grad = 0 + 6 = 6", "z6.grad = 0 + 6 = 6"]),
    4: ("z6:mul", [("z4.grad += z1.value * z6.grad", "2 * 6"), ("z1.grad += z4.value * z6.grad", "5 * 6")],
        ["z4.grad = 0 + 2 * 6 = 12", "z1.grad = 0 + 5 * 6 = 30"]),
    7: ("z5:mul", [("z3.grad += z2.value * z5.grad", "3 * 6"), ("z2.grad += z3.value * z5.grad", "4 * 6")],
        ["z3.grad = 0 + 3 * 6 = 18", "z2.grad = 0 + 4 * 6 = 24"]),
}
ORDER = ("[z3:leaf(wr), z2:leaf(h0), z5:mul, z4:leaf(wi), z1:leaf(x1), z6:mul, z7:add, z8:relu, "
         "z9:leaf(wo), z10:mul]")
# grads after iteration 4 ("—": not reached yet), in the order's columns z3 z2 z5 z4 z1 z6 z7 z8 z9 z10
AFTER_4 = ["—", "—", "6", "12", "30", "6", "6", "6", "22", "1"]


def tex_text(s: str) -> str:
    return s.replace(">", r"\textgreater{}")  # the only LaTeX special character in these lines


def run():
    return ag.backward_trace(course_problems.problem_1_3().z10)


def test_the_content_of_each_iteration():
    r = run()
    assert r.order_text() == ORDER
    for k, (node, rules, updates) in BY_HAND.items():
        it = ag.trace_render.iteration(r, k)
        assert it.node == node
        assert [(x.symbolic, x.numeric) for x in it.rules] == rules
        assert [t.update for t in it.terms] == updates
        assert it.kind == ("leaf" if not rules else "rules")
    assert r.grads_after(4) == {"z3": None, "z2": None, "z5": 6.0, "z4": 12.0, "z1": 30.0, "z6": 6.0,
                                "z7": 6.0, "z8": 6.0, "z9": 22.0, "z10": 1.0}


def test_text_markdown_latex_and_html_write_the_same_answers():
    r = run()
    text, md, tex, page = r.text(), r.markdown(), r.latex(), r._repr_html_()
    assert f"topological order: {ORDER}" in text
    assert "4          z6:mul       z4.grad += z1.value * z6.grad        2 * 6" in text
    for rules, updates in (v[1:] for v in BY_HAND.values()):
        for u in updates:
            assert f"=> {u}" in text
            assert f"`{u}`" in md
            assert f"\\texttt{{{tex_text(u)}}}" in tex
            assert f"<code>{escape(u)}</code>" in page
        for rule, numbers in rules:
            assert f"`{rule}`" in md and f"`{numbers}`" in md
            assert f"\\texttt{{{tex_text(rule)}}}" in tex
            assert f"<code>{escape(rule)}</code> = <code>{escape(numbers)}</code>" in page
    row4 = [line for line in text.splitlines() if line.startswith("4 ") and "z4" not in line]
    assert row4 and row4[-1].split() == ["4", *AFTER_4]
    assert "| 4 | " + " | ".join(f"`{g}`" for g in AFTER_4) + " |" in md
    assert "4 & " + " & ".join("---" if g == "—" else g for g in AFTER_4) + r" \\" in tex
