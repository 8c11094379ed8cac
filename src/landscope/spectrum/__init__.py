"""Curvature of any model: exact dense spectra, extreme eigenvalues by Lanczos, the trace
(Hutchinson, Hutch++) and the spectral density (stochastic Lanczos quadrature).

Every function takes a ``Problem`` and parameter rows ``theta`` (R, P) and works on all
rows at once; only ``hvp`` is needed, except by ``dense_spectrum`` (``hessian``).
``eigenvalue_clusters`` groups a computed spectrum into distinct values and multiplicities;
``bulk_outliers`` splits it into a bulk and outliers at an edge.
"""

from ._hvp import hvp_operator
from .clusters import eigenvalue_clusters
from .dense import MAX_DENSE, SpectrumSummary, dense_spectrum, summarize_spectrum
from .extremal import Extremal, extremal_eigs
from .lanczos import lanczos
from .outliers import BulkOutliers, bulk_outliers
from .report import SPECTRUM_METHODS, SpectrumReport, spectrum_of
from .slq import Density, slq
from .trace import Estimate, Trace, trace

__all__ = [
    "MAX_DENSE",
    "BulkOutliers",
    "SPECTRUM_METHODS",
    "Density",
    "Estimate",
    "Extremal",
    "SpectrumReport",
    "SpectrumSummary",
    "Trace",
    "bulk_outliers",
    "dense_spectrum",
    "eigenvalue_clusters",
    "extremal_eigs",
    "hvp_operator",
    "lanczos",
    "slq",
    "spectrum_of",
    "summarize_spectrum",
    "trace",
]
