"""Certification of critical points: verdicts from gradients and Hessian spectra.

The room is one module, ``certify``; its ``__all__`` is the room's.
"""

from .certify import *  # noqa: F403
from .certify import __all__  # noqa: F401
