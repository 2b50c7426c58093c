"""Is there a GPU? Asked once, answered without raising, with the reason when it is no.

>>> from ag.gpu import availability
>>> isinstance(availability.is_available(), bool)
True
>>> availability.is_available() or "CuPy" in availability.why_unavailable() or True
True
"""

from __future__ import annotations

import importlib
from typing import Any

_INSTALL_HINT = ('pip install "ag-autograd[gpu]", from a checkout pip install -e ".[gpu]" (CuPy for CUDA 13; '
                 'the gpu-cuda12 extra for CUDA 12; docs/gpu.md)')

# (available, reason): probed on first use, kept until refresh=True.
_answer: tuple[bool, str] | None = None


def _import_cupy() -> Any:
    """Import CuPy (a seam: tests replace it to simulate a missing CuPy or driver)."""
    return importlib.import_module("cupy")


def _probe() -> tuple[bool, str]:
    try:
        cupy = _import_cupy()
    except ImportError as err:
        return False, f"no CuPy: CuPy is not installed ({err}); {_INSTALL_HINT}"
    except Exception as err:  # a broken CuPy install raises all sorts of things
        return False, f"no CuPy: importing CuPy failed ({type(err).__name__}: {err})"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:
        text = f"{type(err).__name__}: {err}"
        if "NoDevice" in text or "no CUDA-capable device" in text:
            return False, f"no device: CUDA reports no GPU ({text})"
        return False, f"no driver: the CUDA driver cannot be used ({text})"
    if count < 1:
        return False, "no device: CUDA reports 0 GPUs"
    try:
        probe = cupy.empty(1)  # one allocation: the context can be created and memory used
    except Exception as err:
        why = f"{type(err).__name__}: {err}"
        return False, f"no device: CUDA found {count} GPU(s) but allocating on one failed ({why})"
    try:
        probe.fill(1.0)
        float((probe * 2.0).sum())  # compiles a kernel: NVRTC and the CUDA libraries load
    except Exception as err:
        why = f"{type(err).__name__}: {err}"
        return False, (f"no CUDA toolkit: the GPU is there but CuPy cannot compile or run a kernel ({why}); "
                       'install the CUDA libraries with CuPy: pip install "ag-autograd[gpu]" '
                       "(cupy-cuda13x[ctk])")
    return True, ""


def _cached(refresh: bool) -> tuple[bool, str]:
    global _answer
    if _answer is None or refresh:
        _answer = _probe()
    return _answer


def is_available(refresh: bool = False) -> bool:
    """True when CuPy imports and a CUDA GPU can be used; never raises.

    The answer is cached; ``refresh=True`` asks again.

    >>> import ag.gpu
    >>> ag.gpu.is_available() in (True, False)
    True
    """
    return _cached(refresh)[0]


def why_unavailable(refresh: bool = False) -> str:
    """Why there is no GPU: "no CuPy: ...", "no driver: ...", "no device: ..." or "no CUDA
    toolkit: ..." (CuPy cannot compile kernels); "" when there is one.

    >>> import ag.gpu
    >>> ag.gpu.is_available() or ag.gpu.why_unavailable().startswith("no ")
    True
    """
    return _cached(refresh)[1]
