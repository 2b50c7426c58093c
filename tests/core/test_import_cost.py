"""The first Tensor loads NumPy and ag's core, not SciPy or threadpoolctl.

``ag.ops.linalg`` imported ``scipy.sparse`` when it loaded, so the first Tensor cost
~330 ms over ``import numpy``; SciPy now loads on the first sparse product (a conv)
and threadpoolctl on the first split that holds BLAS. The times themselves are
measured by ``benchmarks/import_time.py`` (fresh processes, medians).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FIRST_TENSOR = """
import sys
import ag
x = ag.tensor([1.0])
y = x * 2
y.backward()
(ag.tensor([[1.0, 2.0]]) @ ag.tensor([[3.0], [4.0]])).sum().backward()
assert x.grad.tolist() == [2.0]
print(sorted({m.split('.')[0] for m in sys.modules}))
"""


def test_a_first_tensor_and_its_backward_load_no_scipy_or_threadpoolctl():
    loaded = subprocess.run([sys.executable, "-c", FIRST_TENSOR], capture_output=True, text=True,
                            check=True).stdout
    assert "'numpy'" in loaded  # the check itself sees modules
    for heavy in ("scipy", "threadpoolctl", "graphviz", "torch"):
        assert f"'{heavy}'" not in loaded, heavy


def test_a_sparse_product_still_loads_scipy_when_it_needs_it():
    code = ("import sys, numpy as np, scipy.sparse as sp, ag\n"
            "x = ag.tensor(np.ones((2, 3)))\n"
            "(ag.spcmatmul(x, sp.csr_matrix(np.eye(3)))).sum().backward()\n"
            "assert x.grad.tolist() == [[1.0] * 3] * 2\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_import_benchmark_runs_and_reports_both_targets():
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "import_time.py"
    out = subprocess.run([sys.executable, str(script), "--runs", "1"], capture_output=True, text=True,
                         check=True).stdout
    assert "import ag over a bare interpreter:" in out and "first Tensor over import numpy:" in out
    assert out.count("(target <= 50 ms)") == 2
