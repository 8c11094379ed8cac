"""Certification of critical points: verdicts from gradients and Hessian spectra."""

from .certify import VERDICTS, Certificate, Tolerances, certify

__all__ = ["VERDICTS", "Certificate", "Tolerances", "certify"]
