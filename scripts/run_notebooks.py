"""Execute the tutorial notebooks in place, so GitHub, nbconvert and the docs site show outputs.

    python scripts/run_notebooks.py [NAME.ipynb ...]     (default: every docs/notebooks/*.ipynb)

Each notebook runs headless (nbclient) with this checkout's ``ag`` on PYTHONPATH, and is
written back with its outputs. Widget state is not saved: a page without Jupyter's widget
manager then shows each stepper's own offline HTML (the widget's ``text/html`` fallback),
which works with no network. Volatile metadata (execution timings) is dropped, so
re-running changes the file only where an output changed. tests/docs/test_notebooks.py
fails when a committed notebook's outputs no longer match a fresh run: run this then.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "docs" / "notebooks"


def execute(path: Path):
    """The notebook at ``path``, executed, with volatile metadata removed."""
    import nbclient
    import nbformat

    book = nbformat.read(path, as_version=4)
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), old) if p)
    try:
        nbclient.NotebookClient(book, timeout=300, kernel_name="python3", store_widget_state=False,
                                resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
    book.metadata.pop("widgets", None)
    for cell in book.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":  # the kernel's own start-up warnings are not the tutorial's
            cell.outputs = [o for o in cell.outputs
                            if not (o.get("output_type") == "stream" and o.get("name") == "stderr"
                                    and "IPKernelApp" in o.get("text", ""))]
    return book


def main(argv: list[str]) -> int:
    import nbformat

    paths = [NOTEBOOKS / name for name in argv] if argv else sorted(NOTEBOOKS.glob("*.ipynb"))
    for path in paths:
        book = execute(path)
        nbformat.write(book, path)
        print(f"executed {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
