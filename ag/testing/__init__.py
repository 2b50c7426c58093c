"""Gradient checks for students and for the kit's own tests.

``gradcheck`` compares backprop with central finite differences;
``ag.testing.strategies`` (needs hypothesis, from the ``dev`` extra) draws inputs,
shapes and random computation graphs.
"""

from ag.testing.gradcheck import GradcheckError, GradcheckResult, gradcheck, gradgradcheck

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError", "GradcheckResult"]
