"""Writing the numbers of an exam key exactly: ``e^6``, ``1/e^6``, ``3 e^2``, ``ln 2``.

A hand-solvable number is a short decimal (``0.25``), a short decimal times a power of
``e`` (``exp(6)``, the grad ``1/e^6`` of ``log`` at ``e^6``), or a short decimal times the
log of a small whole number (``log(2)``). :func:`exact_form` recognizes such a number
from its float value and writes it the way a student does; :func:`ag.exam.exact.read_number`
reads it back (a grader accepts the decimal or the exact form within a tolerance).

>>> import math
>>> exact_form(math.exp(6)), exact_form(math.exp(-6)), exact_form(3 * math.exp(2))
('e^6', '1/e^6', '3 e^2')
>>> exact_form(math.log(2)), exact_form(-2 * math.log(3)), exact_form(0.25), exact_form(math.pi)
('ln 2', '-2 ln 3', '0.25', None)
>>> from ag.exam.exact import read_number
>>> math.isclose(read_number(exact_form(-0.5 * math.exp(-1.5))), -0.5 * math.exp(-1.5))
True
"""

from __future__ import annotations

import math
from functools import lru_cache

__all__ = ["exact_form", "is_short", "needs_exact_form", "LOG_BASES"]

#: the whole numbers whose logs a key writes as ``ln r`` (``ln 4`` is written ``2 ln 2``)
LOG_BASES = (2, 3, 5, 6, 7, 10)
#: exponents of ``e`` a key writes: multiples of 1/2
_EXP_STEP = 0.5


def is_short(x: float, decimals: int) -> bool:
    """Whether ``x`` is (up to float rounding) a decimal with at most ``decimals`` places.

    A nonzero number that would print as 0 (``exp(-80)``, float noise like 5.6e-17) is not.

    >>> is_short(0.25, 2), is_short(0.125, 2), is_short(5.6e-17, 2), is_short(0.0, 0)
    (True, False, False, True)
    """
    if not math.isfinite(x):
        return False
    scaled = x * 10**decimals
    if not math.isfinite(scaled):
        return False
    nearest = round(scaled)
    if nearest == 0:
        return x == 0
    return abs(scaled - nearest) <= 1e-9 * abs(scaled)


def _decimal(x: float, decimals: int) -> str:
    text = f"{round(x, decimals):.{decimals}f}".rstrip("0").rstrip(".") if decimals else str(round(x))
    return "0" if text in ("-0", "") else text


def _exponent(k: float) -> str:
    return str(int(k)) if k == int(k) else f"{k:g}"


@lru_cache(maxsize=65536)
def exact_form(x: float, decimals: int = 2, max_coefficient: float = 200.0,
               max_exponent: float = 8.0) -> str | None:
    """``x`` as a student writes it, or ``None`` when it is not hand-solvable.

    A short decimal (at most ``decimals`` places, at most ``max_coefficient`` in size) is
    written as itself; ``q*e^k`` (``k`` a multiple of 1/2 with ``|k| <= max_exponent``)
    as ``e^k``, ``q*e^k`` or ``q/e^k``; ``q*ln r`` (``r`` in :data:`LOG_BASES`) as
    ``ln r`` or ``q*ln r``. Nothing is rounded: the float must be that number to about
    nine significant digits.

    >>> exact_form(6.0), exact_form(-0.5 * math.exp(-1.5)), exact_form(2.0 ** 0.5)
    ('6', '-0.5/e^1.5', None)
    """
    if not math.isfinite(x):
        return None
    if is_short(x, decimals):
        return _decimal(x, decimals) if abs(x) <= max_coefficient else None
    # every way of writing x, the shortest coefficient wins (a long one matching to nine
    # digits is a coincidence, not a form: e^8 is not 729416.37/e^5.5)
    found: list[tuple[int, float, str]] = []
    steps = int(max_exponent / _EXP_STEP)
    for i in range(-steps, steps + 1):
        if i == 0:
            continue
        k = i * _EXP_STEP
        q = x / math.exp(k)
        if q != 0 and _short_coefficient(q, decimals) and abs(q) <= max_coefficient:
            coef = _decimal(abs(q), decimals)
            sign = "-" if q < 0 else ""
            text = (f"{sign}{'' if coef == '1' else coef + ' '}e^{_exponent(k)}" if k > 0
                    else f"{sign}{coef}/e^{_exponent(-k)}")
            found.append((len(coef), abs(k), text))
    for r in LOG_BASES:
        q = x / math.log(r)
        if q != 0 and _short_coefficient(q, decimals) and abs(q) <= max_coefficient:
            coef = _decimal(abs(q), decimals)
            sign = "-" if q < 0 else ""
            found.append((len(coef), 100 + r, f"{sign}{'' if coef == '1' else coef + ' '}ln {r}"))
    return min(found)[2] if found else None


def _short_coefficient(q: float, decimals: int) -> bool:
    """A short decimal to about eleven significant digits (float error of a few ops is ~1e-15)."""
    scaled = q * 10**decimals
    if not math.isfinite(scaled):
        return False
    nearest = round(scaled)
    return nearest != 0 and abs(scaled - nearest) <= 1e-11 * abs(scaled)


def needs_exact_form(x: float, decimals: int = 2) -> bool:
    """Whether ``x`` is not a short decimal, so a key prints its exact form next to it.

    >>> needs_exact_form(0.5), needs_exact_form(math.exp(2))
    (False, True)
    """
    return not is_short(x, decimals)
