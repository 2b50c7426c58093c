"""render(..., dpi=) sets the drawing's resolution (it used to be ignored)."""

from __future__ import annotations

import shutil
import struct

import pytest

import ag
from ag import viz


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])  # IHDR: width, height


def _graph():
    x = ag.Scalar(2.0, label="x")
    y = x * x
    y.backward()
    return y


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_png_pixels_follow_dpi(tmp_path):
    root = _graph()
    low = _png_size(viz.render(root, tmp_path / "low.png", dpi=50))
    high = _png_size(viz.render(root, tmp_path / "high.png", dpi=200))
    ratio = high[0] / low[0]
    assert 3.6 < ratio < 4.4, (low, high)   # 200 / 50 = 4, up to Graphviz's rounding and margins
    assert 3.6 < high[1] / low[1] < 4.4


def test_dpi_goes_into_the_dot_text_and_leaves_a_passed_graph_alone(tmp_path):
    graph = viz.draw(_graph())
    before = graph.source
    text = viz.render(graph, tmp_path / "g.dot", dpi=150).read_text(encoding="utf-8")
    assert "dpi=150" in text
    assert graph.source == before


@pytest.mark.parametrize("bad", [0, -3, "200", True, float("nan")])
def test_bad_dpi_is_refused_before_anything_is_written(tmp_path, bad):
    with pytest.raises(ValueError, match="render: dpi must be a positive number"):
        viz.render(_graph(), tmp_path / "g.png", dpi=bad)
    assert not (tmp_path / "g.png").exists()
