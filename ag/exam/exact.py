"""Numbers as students and keys write them: decimals, fractions and exact forms like ``e^-6``.

An exam key prints a number that is not a short decimal in an exact form (``e^6``,
``1/e^6``, ``ln 2``, ``2 ln 3``); a student may answer with that form or with a
decimal. :func:`read_number` reads either into a float, with a small grammar and
no ``eval``: numbers (``6``, ``-0.5``, ``1.5e-3``, ``1/4``), ``e`` and ``pi``,
``exp``, ``ln``/``log``, ``sqrt``, ``+ - * / ^ **``, parentheses and implicit
products (``2 ln 3``, ``3e^2``). Anything else, an unreadable, too long or
non-finite number, raises :class:`NumberFormatError` saying what to write.

>>> [round(read_number(t), 9) for t in ("1/e^6", "e^-6", "exp(-6)")]
[0.002478752, 0.002478752, 0.002478752]
>>> round(read_number("ln 2"), 6), read_number("1/4"), read_number("-0,5", decimal_comma=True)
(0.693147, 0.25, -0.5)
>>> try:
...     read_number("1" + "0" * 45 + "/1")
... except NumberFormatError as err:
...     print(err)
'1000000000000…' has more than 40 digits: write at most 40 (or use an exact form like e^6)
"""

from __future__ import annotations

import math
import re

__all__ = ["NumberFormatError", "NonFiniteNumberError", "read_number", "MAX_DIGITS", "MAX_LENGTH"]

#: the most digits one number in an answer may have (a 5,000-digit number is a slip)
MAX_DIGITS = 40
#: the longest answer cell read (a formula longer than this is not a hand-written answer)
MAX_LENGTH = 120

_TOKEN = re.compile(r"""\s*(?:
    (?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)   # 6, 0.5, .5, 1.5e-3
  | (?P<name>[A-Za-z]+|π|√)
  | (?P<op>\*\*|[-+*/^()·×÷−])
)""", re.VERBOSE)

_FUNCTIONS = {"exp": math.exp, "ln": math.log, "log": math.log, "sqrt": math.sqrt, "√": math.sqrt}
_CONSTANTS = {"e": math.e, "pi": math.pi, "π": math.pi}
_HINT = "write a number like 6, -0.5 or 1/4, or an exact form like e^6, 1/e^6, ln 2"


class NumberFormatError(ValueError):
    """The text is not a number (or exact form) the grader reads; the message says what to write."""


class NonFiniteNumberError(NumberFormatError):
    """The text is a number, but not a finite one (``inf``, ``nan``, ``1e999``): it earns no credit."""


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            bad = text[pos:].strip()[:10]
            raise NumberFormatError(f"{text!r} is not a number: unexpected {bad!r}; {_HINT}")
        tok = m.group("num") or m.group("name") or m.group("op")
        if m.group("num"):
            digits = sum(ch.isdigit() for ch in tok.split("e")[0].split("E")[0])
            if digits > MAX_DIGITS:
                shown = text[:13] + "…" if len(text) > 13 else text
                raise NumberFormatError(f"{shown!r} has more than {MAX_DIGITS} digits: write at most "
                                        f"{MAX_DIGITS} (or use an exact form like e^6)")
        out.append({"−": "-", "·": "*", "×": "*", "÷": "/", "**": "^"}.get(tok, tok))
        pos = m.end()
    return out


class _Parser:
    """Recursive descent over the tokens; every step is plain float arithmetic."""

    def __init__(self, tokens: list[str], text: str) -> None:
        self.toks, self.i, self.text = tokens, 0, text

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, why: str) -> NumberFormatError:
        return NumberFormatError(f"{self.text!r} is not a number: {why}; {_HINT}")

    def expr(self) -> float:
        value = self.term()
        while self.peek() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
        return value

    def _starts_atom(self, tok: str | None) -> bool:
        return tok is not None and (tok == "(" or tok[0].isdigit() or tok[0] == "." or
                                    tok in _CONSTANTS or tok in _FUNCTIONS)

    def term(self) -> float:
        value = self.unary()
        while True:
            tok = self.peek()
            if tok in ("*", "/"):
                self.take()
                right = self.unary()
                if tok == "*":
                    value *= right
                elif right == 0:
                    raise self.fail("division by zero")
                else:
                    value /= right
            elif self._starts_atom(tok):  # an implicit product: 2 ln 3, 3e^2
                value *= self.power()
            else:
                return value

    def unary(self) -> float:
        if self.peek() in ("-", "+"):
            return -self.unary() if self.take() == "-" else self.unary()
        return self.power()

    def power(self) -> float:
        base = self.atom()
        if self.peek() == "^":
            self.take()
            exponent = self.unary()  # right-associative; e^-6 allowed
            return base ** exponent
        return base

    def atom(self) -> float:
        tok = self.peek()
        if tok is None:
            raise self.fail("it ends too early")
        self.take()
        if tok == "(":
            value = self.expr()
            if self.peek() != ")":
                raise self.fail("a '(' is not closed")
            self.take()
            return value
        if tok[0].isdigit() or tok[0] == ".":
            return float(tok)
        if tok in _CONSTANTS:
            return _CONSTANTS[tok]
        if tok in _FUNCTIONS:
            arg = self.power() if self.peek() != "(" else self.atom()
            try:
                return _FUNCTIONS[tok](arg)
            except ValueError:
                raise self.fail(f"{tok} of {arg:g} is not defined") from None
        raise self.fail(f"unknown name {tok!r}" if tok[0].isalpha() else f"unexpected {tok!r}")


def read_number(text: str, *, decimal_comma: bool = False) -> float:
    """The value of a number or exact form written in an answer cell (see the module docstring).

    ``decimal_comma``: read ``0,5`` as 0.5 (spreadsheets in German or French locales).
    Raises :class:`NumberFormatError` for anything else, including ``inf``, ``nan``,
    results that overflow and numbers of more than :data:`MAX_DIGITS` digits.

    >>> read_number("2 ln 3") == 2 * math.log(3)
    True
    """
    text = text.strip()
    if len(text) > MAX_LENGTH:
        raise NumberFormatError(f"{text[:20]!r}... is {len(text)} characters long: an answer is one "
                                f"number of at most {MAX_DIGITS} digits or a short exact form")
    if decimal_comma:
        text = re.sub(r"(?<=\d),(?=\d)", ".", text)
    if text.lower().lstrip("+-−") in ("inf", "infinity", "nan", "∞"):
        raise NonFiniteNumberError(f"{text!r} is not a finite number: no credit for a non-finite answer")
    tokens = _tokens(text)
    if not tokens:
        raise NumberFormatError(f"the answer is empty; {_HINT}")
    parser = _Parser(tokens, text)
    try:
        value = parser.expr()
    except OverflowError:
        raise NonFiniteNumberError(f"{text!r} overflows: no credit for a non-finite answer") from None
    if parser.peek() is not None:
        raise parser.fail(f"unexpected {parser.peek()!r}")
    if not math.isfinite(value):
        raise NonFiniteNumberError(f"{text!r} is not a finite number: no credit for a non-finite answer")
    return value
