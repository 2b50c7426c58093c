"""Drawings, frames and the HTML stepper page (the browser test is test_stepper_browser.py)."""

import html.parser
import re
import shutil
import xml.etree.ElementTree as ET

import course_problems
import pytest

import ag
from ag import stepper, viz

graphviz = pytest.importorskip("graphviz")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def problem_1_3():
    return course_problems.problem_1_3().z10  # exercises/problem_1_3.py, fresh


def node_labels(source: str) -> dict[str, str]:
    """DOT node id -> its HTML-like label, from DOT text."""
    return dict(re.findall(r"^\s*(n\d+) \[label=<(.*?)> (?=[a-z]+=)", source, flags=re.M))


def test_draw_shows_names_values_and_grads_after_backward():
    x = ag.scalar(2.0, label="z1\nleaf(x)")
    z2 = x * x
    z3 = z2 * z2
    g = viz.draw(z3)
    assert isinstance(g, graphviz.Digraph)
    labels = node_labels(g.source)
    assert "grad" not in g.source  # no backward yet
    assert labels["n1"].startswith("<B>z2:mul</B>") and "value = 4" in labels["n1"]
    z3.backward()
    labels = node_labels(viz.draw(z3).source)
    # z1 keeps its two-line label; the unlabelled ops get z2, z3 by creation order
    assert labels["n0"].startswith('<B>z1<BR ALIGN="CENTER"/>leaf(x)</B>')
    assert "grad = 32" in labels["n0"] and "grad = 8" in labels["n1"] and "grad = 1" in labels["n2"]
    assert "value = 16" in labels["n2"]
    assert "engine" not in g.source and 'pos="' in g.source and g.engine == "neato"  # pinned boxes


def test_blank_exam_sheet_and_op_nodes():
    z10 = problem_1_3()
    z10.backward()
    blank = viz.draw(z10, values=False, grads=False, legend=False).source
    assert "value =" not in blank and "grad =" not in blank and "z10:mul" in blank
    ops = viz.draw(z10, op_nodes=True, legend=False).source
    # the op of z10 is its own ellipse node between the inputs and the result
    assert re.search(r"n9op \[label=<mul> .*shape=ellipse", ops)
    assert "n7 -> n9op" in ops and "n8 -> n9op" in ops and "n9op -> n9" in ops
    assert ops.count("shape=ellipse") == 5  # five ops: mul, mul, add, relu, mul


def test_node_kinds_are_styled_with_a_legend():
    z10 = problem_1_3()
    src = viz.draw(z10).source
    assert re.search(r'n0 \[label=.*fillcolor="#dbeafe"', src)  # leaf
    assert re.search(r'n2 \[label=.*fillcolor="#ffffff"', src)  # intermediate
    assert re.search(r'n9 \[label=.*fillcolor="#fee2e2".*peripheries=2', src)  # output
    assert "legend" in src and "leaf (input)" in src and "output" in src
    assert "leaf (input)" not in viz.draw(z10, legend=False).source


def test_tensor_nodes_show_shape_preview_and_parameters():
    np = pytest.importorskip("numpy")
    pytest.importorskip("ag.tensor")
    X = ag.Tensor(np.arange(6.0).reshape(2, 3), label="X", requires_grad=False)
    W = ag.Tensor(np.ones((3, 2)), label="W")
    y = ag.sum(X @ W)
    y.backward()
    labels = node_labels(viz.draw(y).source)
    src = viz.draw(y).source
    # values and grads in full as aligned matrices (monospace rows, spaces kept)
    row = r'<FONT FACE="Courier" POINT-SIZE="10">{}</FONT>'
    nb = "\u00a0"
    x_rows = [row.format(r.replace(" ", nb)) for r in ("[[0  1  2]", " [3  4  5]]")]
    br = '<BR ALIGN="CENTER"/>'
    assert "shape (2, 3)" in labels["n0"] and "value =" + br.join(["", *x_rows]) in labels["n0"]
    # W.grad = X^T @ ones(2, 2) = [[3, 3], [5, 5], [7, 7]]
    w_rows = [row.format(r.replace(" ", nb)) for r in ("[[3  3]", " [5  5]", " [7  7]]")]
    assert "shape (3, 2)" in labels["n1"] and "grad =" + br.join(["", *w_rows]) in labels["n1"]
    assert re.search(r'n1 \[label=.*fillcolor="#fef3c7"', src)  # a parameter
    assert re.search(r'n0 \[label=.*fillcolor="#dbeafe"', src)  # a plain leaf
    assert "parameter" in src
    big = ag.Tensor(np.zeros((100, 100)), label="big")
    label = node_labels(viz.draw(ag.sum(big)).source)["n0"]
    assert "shape (100, 100)" in label and len(label) < 300


def plain_positions(graph) -> dict[str, tuple[float, float]]:
    out = graph.pipe(format="plain").decode()
    return {p[1]: (float(p[2]), float(p[3])) for p in (line.split() for line in out.splitlines())
            if p and p[0] == "node"}


@needs_dot
@pytest.mark.parametrize("which", ["1.3", "1.2", "sub-div", "shared"])
def test_left_operand_is_drawn_above_the_right_one(which):
    if which == "1.3":
        root = problem_1_3()
    elif which == "1.2":
        x = ag.Scalar(2.0, label="x")
        y = ag.Scalar(3.0, label="y")
        root = ag.log(ag.exp(x * y))
    elif which == "sub-div":
        a, b, c = ag.Scalar(1.0), ag.Scalar(2.0), ag.Scalar(3.0)
        root = (c - a) / (b * a)
    else:  # a node used by two later ops (consistently ordered)
        a, b = ag.Scalar(1.0), ag.Scalar(2.0)
        s = a * b
        root = (s + b) * (s - b)
    order = root.topological_sort()
    ids = {id(n): f"n{i}" for i, n in enumerate(order)}
    pos = plain_positions(viz.draw(root, legend=False))
    checked = 0
    for node in order:
        if len(node.inputs) == 2 and node.inputs[0] is not node.inputs[1]:
            (_, y_left), (_, y_right) = pos[ids[id(node.inputs[0])]], pos[ids[id(node.inputs[1])]]
            assert y_left > y_right, f"left operand of {node.op} is not above the right one"
            checked += 1
    assert checked >= (1 if which == "1.2" else 2)
    xs = [pos[ids[id(n)]][0] for n in order]
    assert xs[-1] == max(xs)  # the output is rightmost
    for node in order:  # every edge runs left to right
        for inp in node.inputs:
            assert pos[ids[id(inp)]][0] < pos[ids[id(node)]][0]


EVIL = 'q"uo\'te <script>alert(1)</script> {br|ace} a\\b\nsecond line & more'


def test_labels_are_text_in_dot():
    x = ag.Scalar(2.0, label=EVIL)
    src = viz.to_dot(x * x)
    assert "<script>" not in src
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in src
    assert "q&quot;uo&#39;te" in src and "{br|ace}" in src and "&amp; more" in src
    assert 'second line' in src and "\nsecond" not in src  # the newline is a <BR/>, not a DOT newline
    assert viz.html_text("a\x00b\rc") == 'a b<BR ALIGN="CENTER"/>c'


@needs_dot
def test_labels_are_text_in_svg():
    x = ag.Scalar(2.0, label=EVIL)
    svg = viz.to_svg(x * x)
    root = ET.fromstring(svg)  # well-formed XML
    tags = {el.tag.split("}")[-1] for el in root.iter()}
    assert "script" not in tags
    texts = [el.text for el in root.iter() if el.tag.endswith("text") and el.text]
    assert 'q"uo\'te <script>alert(1)</script> {br|ace} a\\b' in texts
    assert "second line &amp; more".replace("&amp;", "&") in texts


@needs_dot
def test_render_svg_png_dot(tmp_path):
    z10 = problem_1_3()
    z10.backward()
    svg = viz.render(z10, tmp_path / "g.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "z10:mul" in svg
    assert viz.render(z10, tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert viz.render(viz.draw(z10), tmp_path / "sub" / "g.dot").read_text().startswith("digraph")
    with pytest.raises(ValueError, match="no suffix"):
        viz.render(z10, tmp_path / "noext")


def test_missing_dot_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot here
    z10 = problem_1_3()
    assert "z10:mul" in viz.to_dot(z10)  # DOT text needs no dot program
    with pytest.raises(viz.GraphvizNotFoundError) as info:
        viz.to_svg(z10)
    msg = str(info.value)
    assert "apt-get install graphviz" in msg and "brew install graphviz" in msg and "SVG" in msg
    with pytest.raises(viz.GraphvizNotFoundError):
        viz.render(z10, tmp_path / "g.png")


def test_frames_highlight_current_and_grey_unvisited():
    z10 = problem_1_3()
    run = ag.backward_trace(z10)
    frames = viz.frames(run)
    assert len(frames) == 10
    src = frames[4].source  # iteration 4 is z6:mul (z4*z1)
    labels = node_labels(src)
    assert re.search(r'n5 \[label=<<B>z6:mul</B>.*fillcolor="#fde047"', src)  # current
    # not yet visited: grey fill, dashed grey border, dark grey text (6.9:1 on the fill)
    grey = r'.*class="ag-pending" color="#9ca3af" fillcolor="#f3f4f6" fontcolor="#4b5563"'
    assert re.search(r'n0 \[label=<<B>z3:leaf\(wr\)</B>' + grey, src)
    assert not re.search(r'n9 \[label=' + grey, src)  # z10 was visited at 0
    assert re.search(r'n3 \[label=.*class="ag-updated" color="#15803d" fillcolor="#bbf7d0"', src)
    # grads so far: z4 = 2*6 = 12 and z1 = 5*6 = 30 are set; z3 (wr) not yet
    assert "grad = 12" in labels["n3"] and "grad = 30" in labels["n4"] and "grad = —" in labels["n0"]
    assert "iteration 4 (5 of 10): z6:mul" in src and "z4.grad = 0 + 2 * 6 = 12" in src
    with pytest.raises(IndexError, match="0..9"):
        viz.frame(run, 10)


# -- the HTML page (static checks; the browser test drives it) --------------------------------


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


@needs_dot
def test_stepper_page_is_self_contained_and_complete():
    z10 = problem_1_3()
    page = stepper.html(ag.backward_trace(z10))
    assert page.count('<section class="frame"') == 10 and page.count("<svg") == 10
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page
    assert "<link" not in page and "src=" not in page
    assert 'data-iteration="7"' in page and "<code>z3.grad = 0 + 3 * 6 = 18</code>" in page
    assert 'data-role="next"' in page and "ArrowRight" in page and " id=" not in page.split("<svg")[0]


@needs_dot
def test_labels_are_text_in_html():
    x = ag.Scalar(2.0, label='</code></script><script>alert("x")</script>{a|b}\n<img src=x onerror=alert(1)>')
    page = stepper.html(ag.backward_trace(x * x))
    parser = _Tags()
    parser.feed(page)
    assert parser.tags.count("script") == 1  # only the page's own
    assert "img" not in parser.tags
    text = "".join(parser.text)
    assert '<script>alert("x")</script>{a|b}' in text and "<img src=x onerror=alert(1)>" in text


def test_stepper_without_graphs_needs_no_dot(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    x = ag.Scalar(3.0, label="x")
    page = stepper.html(ag.backward_trace(x * x), graphs=False)
    assert "<svg" not in page and page.count('<section class="frame"') == 2
    first = page.split('data-iteration="0"')[1].split("</section>")[0]
    assert first.count("<code>x.grad += x.value * z1.grad</code> = <code>3 * 1</code>") == 2  # x*x: twice
    assert "<code>x.grad = 0 + 3 * 1 + 3 * 1 = 6</code>" in first


def test_viz_is_lazy():
    import subprocess
    import sys

    code = "import sys, ag; print('graphviz' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_stepper_for_a_large_graph_lists_only_changed_grads(monkeypatch):
    monkeypatch.setattr(stepper, "MAX_GRAPH_NODES", 5)
    x = ag.Scalar(1.0, label="x")
    y = x
    for _ in range(4):  # x -> mul -> add(+1 const) ... : 9 nodes, more than 5
        y = y * 2.0 + 1.0
    run = ag.backward_trace(y)
    page = stepper.html(run)
    assert "<svg" not in page and "graph too large" in page
    first = page.split('data-iteration="0"')[1].split("</section>")[0]
    # iteration 0 is the last add: its two inputs (the mul and the constant 1) changed, nothing else listed
    assert first.count("<tr class=\"changed\"") == 2 and first.count("<tr") == 3


@needs_dot
def test_stepper_frames_keep_every_node_in_place():
    # the nodes' boxes are the same in every frame, so dot puts them in the same place
    np = pytest.importorskip("numpy")
    X = ag.Tensor(np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.0]]), label="X", requires_grad=False)
    W, b = ag.Tensor(np.zeros((2, 3)), label="W"), ag.Tensor(np.zeros(3), label="b")
    Z = X @ W + b
    softmax_loss = ag.mean(ag.logsumexp(Z, axis=1) - ag.sum(Z * np.eye(3)[[0, 2, 1]], axis=1))
    # (without fixed boxes the softmax graph's nodes move: grads appear and widen them)
    for root in (problem_1_3(), softmax_loss):
        run = ag.backward_trace(root)
        svgs = [viz.to_svg(g) for g in viz.frames(run, fixed_layout=True, title=False)]
        node = r'<g id="node\d+" class="node[^"]*">\s*<title>(\w+)</title>\s*<path[^>]* d="([^"]+)"'
        shapes = [re.findall(node, s) for s in svgs]
        assert shapes[0] and all(s == shapes[0] for s in shapes), "a node moved between frames"


@needs_dot
def test_nodes_that_just_received_a_grad_are_highlighted():
    run = ag.backward_trace(problem_1_3())
    src = viz.frames(run, fixed_layout=True)[4].source  # z6 = z4 * z1 gives z4 and z1 their grads
    updated = "#bbf7d0"  # green: just received a grad (by hand, not from viz.STYLES)
    assert re.search(rf'n3 \[label=<<B>z4:leaf\(wi\)</B>.*fillcolor="{updated}"', src)
    assert re.search(rf'n4 \[label=<<B>z1:leaf\(x1\)</B>.*fillcolor="{updated}"', src)
    assert not re.search(rf'n0 \[label=.*fillcolor="{updated}"', src)


def test_html_many_takes_traces_or_pairs_and_says_what_else_is_wrong():
    a, b = ag.Scalar(2.0, label="a"), ag.Scalar(3.0, label="b")
    ra, rb = ag.backward_trace(a * a), ag.backward_trace(b * b)
    page = stepper.html_many([ra, ("second", rb)], graphs=False)
    assert page.count('<div class="ag-stepper"') == 2 and "<h2>second</h2>" in page
    with pytest.raises(TypeError, match=r"entry 1 is str .*BackwardTrace"):
        stepper.html_many([ra, "oops"], graphs=False)
    with pytest.raises(TypeError, match="entry 0 is tuple"):
        stepper.html_many([("a", "b", ra)], graphs=False)


def test_a_trace_shows_as_the_answer_key_table_in_a_notebook():
    run = ag.backward_trace(problem_1_3())
    page = run._repr_html_()
    assert page.startswith('<div class="ag-trace">') and '<table class="ag-iterations">' in page
    # iteration 4 row, by hand: z6 = z4 * z1 gives z4.grad 12 and z1.grad 30
    row4 = page.split("<tr><td>4</td>")[1].split("</tr>")[0]
    assert "<code>z6:mul</code>" in row4
    assert "<code>z4.grad = 0 + 2 * 6 = 12</code>" in row4 and "<code>z1.grad = 0 + 5 * 6 = 30</code>" in row4


def test_the_stepper_side_panel_shows_the_current_nodes_value():
    np = pytest.importorskip("numpy")
    T = ag.Tensor(np.array([[1.0, -2.0, 0.5], [0.0, 3.0, 4.0]]), label="T")
    run = ag.backward_trace(ag.sum(T * 2.0))
    first = stepper.fragment(run, graphs=False).split('data-iteration="1"')[0]
    # the constant 2 is node z1, T * 2 is z2, the sum z3 = 2 * 6.5
    assert '<div class="node-value">z3.value = <code>13</code></div>' in first
    second = stepper.fragment(run, graphs=False).split('data-iteration="1"')[1]
    assert "z2.value = <pre>[[2  -4  1]\n [0   6  8]]</pre>" in second  # 2T, its value in full


def test_the_widget_carries_the_offline_stepper_as_html():
    widget = pytest.importorskip("ag.widget")
    pytest.importorskip("anywidget")
    x = ag.Scalar(2.0, label="x")
    w = widget.Stepper(ag.backward_trace(x * x), graphs=False)
    bundle = w._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.jupyter.widget-view+json" in data
    html = data["text/html"]
    assert '<div class="ag-stepper"' in html and "agStepperInit(" in html and "<style>" in html


def test_the_stepper_scripts_parse():
    import subprocess
    from importlib.resources import files

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the syntax check of the stepper's JavaScript)")
    for name in ("stepper.js", "stepper_page.js"):
        path = files("ag").joinpath("static", name)
        done = subprocess.run([node, "--check", str(path)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr


def test_the_stepper_files_ship_in_the_package():
    from importlib.resources import files

    for name in ("stepper.css", "stepper.js", "stepper_page.js"):
        assert files("ag").joinpath("static", name).is_file()
    assert "function agStepperInit" in stepper.SCRIPT and ".ag-stepper" in stepper.CSS


@needs_dot
def test_vertical_layout_keeps_the_exam_rule_turned_a_quarter():
    # direction="TB": inputs on top, the output at the bottom, a left operand left of the right one
    from ag.exam import generate

    for root in [problem_1_3()] + [generate(seed=s).run.root for s in range(0, 60, 3)]:
        order = root.topological_sort()
        ids = {id(n): f"n{i}" for i, n in enumerate(order)}
        pos = plain_positions(viz.draw(root, direction="TB", legend=False))
        for node in order:
            for inp in node.inputs:  # every edge runs downwards
                assert pos[ids[id(inp)]][1] > pos[ids[id(node)]][1]
            if len(node.inputs) == 2 and node.inputs[0] is not node.inputs[1]:
                assert pos[ids[id(node.inputs[0])]][0] < pos[ids[id(node.inputs[1])]][0]
        top = max(y for _, y in pos.values())
        assert all(pos[ids[id(n)]][1] == top for n in order if not n.inputs)  # leaves in the first row
    with pytest.raises(ValueError, match="direction must be 'LR' or 'TB'"):
        viz.draw(problem_1_3(), direction="up")


@needs_dot
def test_drawing_needs_no_scipy():
    # the old layout solved a linear program (scipy) for the few graphs dot drew out of order
    import subprocess
    import sys

    code = ("import sys, ag\nfrom ag.exam import generate, OPS\n"
            "for s in range(120):\n"
            "    ag.viz.draw(generate(seed=s, ops=list(OPS), nodes=8).run.root, legend=False)\n"
            "x = ag.Scalar(2.0, label='x'); ag.viz.frames(ag.backward_trace(x * x), fixed_layout=True)\n"
            "print('scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]
