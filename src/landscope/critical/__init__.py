"""Certification of critical points: verdicts from gradients and Hessian spectra."""

from .certify import (
    CERTIFICATE_COLUMNS,
    MAX_LANCZOS,
    VERDICTS,
    Certificate,
    Tolerances,
    certify,
    check_certifiable,
)

__all__ = [
    "CERTIFICATE_COLUMNS",
    "MAX_LANCZOS",
    "VERDICTS",
    "Certificate",
    "Tolerances",
    "certify",
    "check_certifiable",
]
