"""Package-level promises: a light `import ag`, a complete public surface."""

import subprocess
import sys

import ag


def test_import_ag_loads_no_heavy_modules():
    # `import ag` must stay fast (<= 100 ms over a bare interpreter, measured by
    # benchmarks/import_time.py): NumPy, SciPy and graphviz load on first use.
    code = "import sys, ag; print(sorted(m.split('.')[0] for m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout
    for heavy in ("numpy", "scipy", "graphviz", "matplotlib", "torch"):
        assert f"'{heavy}'" not in loaded, heavy


def test_public_surface():
    for name in ["Scalar", "scalar", "Tensor", "tensor", "exp", "log", "relu", "tanh", "sigmoid",
                 "sum", "mean", "max", "moveaxis", "reshape", "matmul", "spcmatmul", "softmax",
                 "logsumexp", "log_softmax", "no_grad", "grad", "hvp", "detect_anomaly"]:
        assert hasattr(ag, name), name
    assert ag.tensor([1.0]).shape == (1,)
    assert "Tensor" in dir(ag)


def test_each_op_module_imports_on_its_own():
    # any op family may be imported first: it loads the core and the API, never ag.tensor
    for module in ["arithmetic", "elementwise", "linalg", "reductions", "shape", "indexing", "softmax",
                   "einsum", "api", "core"]:
        code = f"import ag.ops.{module}, ag; assert ag.tensor([1.0]).shape == (1,)"
        subprocess.run([sys.executable, "-c", code], check=True)
