"""The course's problems as test fixtures, built by running the exercise files themselves.

One source for each graph: a test that needs problem 1.3 gets exactly the graph a
student runs (``exercises/problem_1_3.py``), labels included, not a copy of it. Also
the slides' recursive topological sort, the reference the kit's iterative one is
checked against.
"""

from __future__ import annotations

import contextlib
import io
import runpy
from pathlib import Path
from types import SimpleNamespace

EXERCISES = Path(__file__).resolve().parents[1] / "exercises"


def problem_1_3() -> SimpleNamespace:
    """exercises/problem_1_3.py's graph, fresh: every grad back at 0.0.

    Attributes: the leaves ``x1 h0 wr wi wo`` (labelled z1..z4 and z9), the ops
    ``z5 z6 z7 z8`` and the root ``z10``, and the file's ``ANSWER``.
    """
    with contextlib.redirect_stdout(io.StringIO()):  # the file prints its grads
        namespace = runpy.run_path(str(EXERCISES / "problem_1_3.py"), run_name="problem_1_3")
    namespace["z10"].zero_grad()  # the file ran backward once; a test runs its own
    return SimpleNamespace(**{k: v for k, v in namespace.items() if not k.startswith("__")})


def attention_block_class() -> type:
    """exercises/attention_block.py's ``SingleHeadAttention`` (the finals' block, as the slides
    write it): ``SingleHeadAttention(Wq, Wk, Wv)(Xin)`` builds the graph afresh."""
    with contextlib.redirect_stdout(io.StringIO()):
        namespace = runpy.run_path(str(EXERCISES / "attention_block.py"), run_name="attention_block")
    return namespace["SingleHeadAttention"]


def recursive_topological_order(root) -> list:
    """The slides' recursive depth-first sort (the exam order), for Scalars and Tensors."""
    order, visited = [], set()

    def dfs(node):
        if id(node) not in visited:
            visited.add(id(node))
            for child in node.inputs:
                dfs(child)
            order.append(node)

    dfs(root)
    return order
