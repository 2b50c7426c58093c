"""Numbers and matrices as an answer key writes them: text, Markdown and LaTeX.

Small arrays (at most ``max_elements`` elements, :data:`MAX_ELEMENTS` by default) are
written in full as aligned matrices; larger ones as their shape, a summary (min, max,
mean) and a corner, with a note on how to see all of it. Numbers get ``digits``
significant digits, integers lose their ``.0`` and a negative zero is written ``0``.

>>> import numpy as np
>>> print(matrix_text(np.array([[1.0, -2.5], [0.125, 3.0]])))
[[1      -2.5]
 [0.125   3  ]]
>>> format_number(-0.0), format_number(1 / 3, 3)
('0', '0.333')
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = [
    "MAX_ELEMENTS",
    "DIGITS",
    "NOT_REACHED",
    "format_number",
    "preview",
    "is_array",
    "to_numpy",
    "unwrap",
    "shape_text",
    "matrix_lines",
    "matrix_text",
    "matrix_markdown",
    "matrix_latex",
    "summary_text",
]

# Arrays with at most this many elements are shown in full (6x6).
MAX_ELEMENTS = 36
# Significant digits of numbers in traces and answer keys.
DIGITS = 6
# What a grad that the backward pass has not reached yet reads, everywhere.
NOT_REACHED = "—"


def unwrap(value: Any) -> Any:
    """A graph node's array (a Tensor grad after ``create_graph=True``), else ``value``."""
    if hasattr(value, "inputs") and hasattr(value, "value"):
        return value.value
    return value


def is_array(value: Any) -> bool:
    """Whether ``value`` is an array with at least one axis (a 0-d array is a number).

    >>> import numpy as np
    >>> is_array(np.zeros(2)), is_array(np.float64(2.0)), is_array(3.0)
    (True, False, False)
    """
    value = unwrap(value)
    shape = getattr(value, "shape", None)
    return shape is not None and not isinstance(value, (float, int)) and len(shape) > 0


def to_numpy(value: Any) -> Any:
    """``value`` as a NumPy array on the host (a device array is copied over)."""
    import numpy as np

    value = unwrap(value)
    if not isinstance(value, np.ndarray):
        get = getattr(value, "get", None)  # a device array (CuPy, the fake device)
        if callable(get):
            value = get()
    return np.asarray(value)


def format_number(value: Any, digits: int = DIGITS) -> str:
    """A number as an exam answer writes it: ``8.0`` -> ``'8'``, ``0.125`` -> ``'0.125'``.

    Arrays get a one-line :func:`preview`. ``None`` (a grad not reached yet) is
    :data:`NOT_REACHED`.

    >>> format_number(32.0), format_number(1 / 3), format_number(-0.0), format_number(-1e-30)
    ('32', '0.333333', '0', '-1e-30')
    """
    if value is None:
        return NOT_REACHED
    if isinstance(value, bool):
        return str(value)
    if is_array(value):
        return preview(value, digits=min(digits, 4))
    try:
        v = float(unwrap(value))
    except (TypeError, ValueError):
        return str(value)
    if v != v or v in (math.inf, -math.inf):
        return str(v)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))  # int(-0.0) == 0: never "-0"
    text = f"{v:.{digits}g}"
    if re.fullmatch(r"-0(\.0*)?", text):
        return "0"
    return text


def _cells(arr: Any, digits: int) -> list[str]:
    """Each element formatted; noise far below the array's largest element reads 0."""
    import numpy as np

    flat = arr.reshape(-1)
    finite = flat[np.isfinite(flat)]
    big = float(np.abs(finite).max()) if finite.size else 0.0
    tiny = big * 1e-12
    return [format_number(0.0 if abs(v) <= tiny else v, digits) for v in flat.tolist()]


def _align(column: list[str]) -> list[str]:
    """Strings of one column aligned on their decimal point (or their right end)."""
    split = []
    for s in column:
        if re.fullmatch(r"-?\d+(\.\d+)?", s):
            whole, _, frac = s.partition(".")
            split.append((whole, ("." + frac) if frac else ""))
        else:  # 1e-05, nan, inf: aligned as a whole
            split.append((s, ""))
    left = max(len(w) for w, _ in split)
    right = max(len(f) for _, f in split)
    return [w.rjust(left) + f.ljust(right) for w, f in split]


def shape_text(value: Any) -> str:
    """``(3, 2)`` for an array, ``()`` for a number.

    >>> import numpy as np
    >>> shape_text(np.zeros((3, 2))), shape_text(2.0)
    ('(3, 2)', '()')
    """
    shape = tuple(getattr(unwrap(value), "shape", ()) or ())
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _grid(arr: Any, digits: int) -> list[list[str]]:
    """A 2-D array as rows of aligned cells (columns aligned on the decimal point)."""
    rows, cols = arr.shape
    cells = _cells(arr, digits)
    grid = [cells[r * cols:(r + 1) * cols] for r in range(rows)]
    for c in range(cols):
        aligned = _align([grid[r][c] for r in range(rows)])
        for r in range(rows):
            grid[r][c] = aligned[r]
    return grid


def matrix_lines(value: Any, digits: int = DIGITS) -> list[str]:
    """An array in full, NumPy style, one line per matrix row; a number is one line.

    Columns are aligned on the decimal point; arrays of 3 or more axes are written as
    a stack of matrices, a blank line between them.

    >>> import numpy as np
    >>> matrix_lines(np.array([1.0, 20.0, -3.5]))
    ['[1  20  -3.5]']
    >>> matrix_lines(np.arange(8.0).reshape(2, 2, 2))
    ['[[[0  1]', '  [2  3]]', '', ' [[4  5]', '  [6  7]]]']
    """
    if not is_array(value):
        return [format_number(value, digits)]
    arr = to_numpy(value)
    if arr.ndim == 1:
        grid = _grid(arr.reshape(1, -1), digits)
        return ["[" + "  ".join(grid[0]) + "]"]
    if arr.ndim == 2:
        if arr.shape[0] == 0 or arr.shape[1] == 0:
            return ["[]"]
        grid = _grid(arr, digits)
        body = ["  ".join(row) for row in grid]
        lines = []
        for r, text in enumerate(body):
            opening = "[[" if r == 0 else " ["
            closing = "]]" if r == len(body) - 1 else "]"
            lines.append(opening + text + closing)
        return lines
    lines = []
    for i in range(arr.shape[0]):
        inner = matrix_lines(arr[i], digits)
        if i:
            lines.append("")
        for j, line in enumerate(inner):
            first = "[" if i == 0 and j == 0 else " "
            last = "]" if i == arr.shape[0] - 1 and j == len(inner) - 1 else ""
            lines.append(first + line + last)
    return lines


def summary_text(value: Any, digits: int = 4, corner: int = 3, max_elements: int = MAX_ELEMENTS) -> list[str]:
    """A large array as a few lines: shape, min/max/mean, its top-left corner, and how to see it all.

    >>> import numpy as np
    >>> print("\\n".join(summary_text(np.arange(100.0).reshape(10, 10))))
    shape (10, 10), 100 elements: min 0, max 99, mean 49.5
    corner [:3, :3]:
    [[ 0   1   2]
     [10  11  12]
     [20  21  22]]
    (all of it: ag.trace(max_elements=100), or ag trace --max-elements 100)
    """
    arr = to_numpy(value)
    if arr.size == 0:
        return [f"shape {shape_text(arr)}, empty"]
    head = (
        f"shape {shape_text(arr)}, {arr.size} elements: min {format_number(arr.min(), digits)}, "
        f"max {format_number(arr.max(), digits)}, mean {format_number(arr.mean(), digits)}"
    )
    index = tuple(slice(0, corner) for _ in range(min(arr.ndim, 2)))
    lead = (0,) * max(arr.ndim - 2, 0)
    part = arr[lead + index] if arr.ndim > 2 else arr[index]
    where = "[" + ", ".join(["0"] * max(arr.ndim - 2, 0) + [f":{corner}"] * min(arr.ndim, 2)) + "]"
    return [
        head,
        f"corner {where}:",
        *matrix_lines(part, digits),
        f"(all of it: ag.trace(max_elements={arr.size}), or ag trace --max-elements {arr.size})",
    ]


def matrix_text(value: Any, digits: int = DIGITS, max_elements: int = MAX_ELEMENTS) -> str:
    """An array in full when it has at most ``max_elements`` elements, else a summary.

    >>> import numpy as np
    >>> print(matrix_text(np.eye(2)))
    [[1  0]
     [0  1]]
    >>> matrix_text(np.zeros((7, 7)), max_elements=36).splitlines()[0]
    'shape (7, 7), 49 elements: min 0, max 0, mean 0'
    """
    if value is None:
        return NOT_REACHED
    if is_array(value) and to_numpy(value).size > max_elements:
        return "\n".join(summary_text(value, min(digits, 4), max_elements=max_elements))
    return "\n".join(matrix_lines(value, digits))


def matrix_markdown(value: Any, digits: int = DIGITS, max_elements: int = MAX_ELEMENTS) -> str:
    """An array as a fenced Markdown code block (aligned, in full when small); a number as code.

    >>> import numpy as np
    >>> print(matrix_markdown(np.array([[1.0, 2.0]])))
    ```
    [[1  2]]
    ```
    >>> matrix_markdown(2.5)
    '`2.5`'
    """
    text = matrix_text(value, digits, max_elements)
    if "\n" not in text and not is_array(value):
        return f"`{text}`"
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}\n{text}\n{fence}"


def _latex_number(text: str) -> str:
    match = re.fullmatch(r"(-?[\d.]+)e([+-]?)0*(\d+)", text)
    if match:
        sign = "-" if match.group(2) == "-" else ""
        return f"{match.group(1)} \\times 10^{{{sign}{match.group(3)}}}"
    if text == NOT_REACHED:
        return r"\text{---}"
    return text


def matrix_latex(value: Any, digits: int = DIGITS, max_elements: int = MAX_ELEMENTS) -> str:
    r"""An array as LaTeX math: a ``bmatrix`` (a row of them for 3 or more axes), in full when small.

    A large array is its shape and summary, as text in math mode.

    >>> import numpy as np
    >>> matrix_latex(np.array([[1.0, 2.0], [3.0, 4.5]]))
    '\\begin{bmatrix} 1 & 2 \\\\ 3 & 4.5 \\end{bmatrix}'
    >>> matrix_latex(np.array([1.0, 2.0]))
    '\\begin{bmatrix} 1 & 2 \\end{bmatrix}'
    """
    if value is None:
        return r"\text{---}"
    if not is_array(value):
        return _latex_number(format_number(value, digits))
    arr = to_numpy(value)
    if arr.size > max_elements:
        head = summary_text(arr, min(digits, 4), max_elements=max_elements)[0]
        return r"\text{" + head.replace("_", r"\_") + "}"
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim == 2:
        cells = [_latex_number(c) for c in _cells(arr, digits)]
        cols = arr.shape[1]
        rows = [" & ".join(cells[r * cols:(r + 1) * cols]) for r in range(arr.shape[0])]
        return r"\begin{bmatrix} " + r" \\ ".join(rows) + r" \end{bmatrix}"
    parts = [matrix_latex(arr[i], digits, max_elements) for i in range(arr.shape[0])]
    return r"\left[\, " + ",\\ ".join(parts) + r" \,\right]"


def preview(value: Any, width: int = 48, digits: int = 4) -> str:
    """A one-line preview of an array: its first and last few elements, at most ``width`` chars.

    >>> import numpy as np
    >>> preview(np.arange(6.0).reshape(2, 3))
    '[[0, 1, 2], [3, 4, 5]]'
    >>> preview(np.zeros((100, 100)))
    '[[0, 0, ..., 0, 0], [0, 0, ..., 0, 0], ...] (100x100)'
    """
    if not is_array(value):
        return format_number(value, digits)
    import numpy as np

    arr = to_numpy(value)
    text = np.array2string(
        arr + 0.0,  # + 0.0 turns -0.0 into 0.0
        precision=digits,
        separator=", ",
        threshold=8,
        edgeitems=2,
        max_line_width=10**6,
        suppress_small=True,
        floatmode="maxprec",
    )
    text = re.sub(r"\s+", " ", text).replace("[ ", "[").replace(" ]", "]")
    text = re.sub(r"(\d)\.(?=[,\]\s])", r"\1", text)  # "1." -> "1"
    text = re.sub(r"-0(?=[,\]])", "0", text)  # a rounded -0.0001 is "0", not "-0"
    text = re.sub(r"\s+,", ",", text)
    shape = "x".join(str(s) for s in arr.shape)
    if len(text) > width or "..." in text:
        if len(text) > width:
            head = text[: max(width - 8, 8)].rsplit(",", 1)[0]
            text = head + ", ...]"
        return f"{text} ({shape})"
    return text
