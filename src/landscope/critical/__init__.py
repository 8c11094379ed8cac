"""Certification of critical points: verdicts from gradients and Hessian spectra."""

from .certify import CERTIFICATE_COLUMNS, VERDICTS, Certificate, Tolerances, certify

__all__ = ["CERTIFICATE_COLUMNS", "VERDICTS", "Certificate", "Tolerances", "certify"]
