"""Gradient checks for students and for the kit's own tests.

``gradcheck`` compares backprop with central finite differences;
``ag.testing.strategies`` (needs hypothesis, from the ``dev`` extra) draws inputs,
shapes and random computation graphs; ``ag.testing.fake_device`` is the strict fake
device (``"fake"``) that lets CPU-only CI catch NumPy calls in device code paths.
"""

from ag.testing.gradcheck import GradcheckError, GradcheckResult, gradcheck, gradgradcheck

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError", "GradcheckResult"]
