"""Curvature of any model: exact dense spectra, extreme eigenvalues by Lanczos, the trace
(Hutchinson, Hutch++) and the spectral density (stochastic Lanczos quadrature).

Every function takes a ``Problem`` and parameter rows ``theta`` (R, P) and works on all
rows at once; only ``hvp`` is needed, except by ``dense_spectrum`` (``hessian``).
``eigenvalue_clusters`` groups a computed spectrum into distinct values and multiplicities.
"""

from ._hvp import hvp_operator
from .clusters import eigenvalue_clusters
from .dense import MAX_DENSE, SpectrumSummary, dense_spectrum, summarize_spectrum
from .extremal import Extremal, extremal_eigs
from .lanczos import lanczos
from .slq import Density, slq
from .trace import Estimate, Trace, trace

__all__ = [
    "MAX_DENSE",
    "Density",
    "Estimate",
    "Extremal",
    "SpectrumSummary",
    "Trace",
    "dense_spectrum",
    "eigenvalue_clusters",
    "extremal_eigs",
    "hvp_operator",
    "lanczos",
    "slq",
    "summarize_spectrum",
    "trace",
]
