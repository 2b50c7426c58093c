"""Names flow one way: no private cross-module imports, no module-level import cycles.

The facts come from ``ast`` over ag/ (tests/layering.py); tests themselves may import
private names. A cycle between a package and its own submodules is allowed (Python
loads the package first), any other one is not.
"""

import subprocess
import sys
import textwrap

from layering import ROOT, cycles, import_graph, private_imports


def test_no_module_imports_a_private_name_from_another():
    assert private_imports() == []


def test_no_module_level_import_cycle():
    assert cycles(import_graph()) == []


def test_the_checks_find_what_they_look_for(tmp_path):
    # a tiny package with both faults: the checks must report them, not pass vacuously
    pkg = tmp_path / "ag"
    (pkg / "ops").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "tensor.py").write_text("from ag.ops.linalg import matmul\n")
    (pkg / "ops" / "__init__.py").write_text("")
    (pkg / "ops" / "linalg.py").write_text(textwrap.dedent("""
        from ag.tensor import _node
        def matmul(): pass
        def later():
            from ag.tensor import _late  # call-time: private, but no cycle
    """))
    found = private_imports(pkg)
    assert [f.split(" imports ")[1] for f in found] == ["ag.tensor._node", "ag.tensor._late"]
    assert cycles(import_graph(pkg)) == [["ag.ops.linalg", "ag.tensor"]]


def test_the_real_package_is_what_is_checked():
    assert (ROOT / "tensor.py").exists() and (ROOT / "ops" / "api.py").exists()


def test_import_ag_tensor_alone_gives_tensors_their_methods():
    # the op families put the methods on Tensor; ag.tensor loads them all
    code = "import ag.tensor as t; x = t.Tensor([1.0, 2.0]); print((x @ x + x.sum()).item())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "8.0"
