"""lambda_0 and both ends of the spectrum of a point set's infinite-width kernel: the
analysis behind ``landscope ntk``.

Du, Zhai, Poczos & Singh (ICLR 2019): gradient descent on a wide two-layer ReLU net
converges at a rate set by lambda_0, the smallest eigenvalue of H-infinity; the width it
needs grows like 1 / lambda_0^4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import activations as acts
from .analytic import DEFAULT_KIND, KernelSpectrum, kernel_spectrum, ntk_gram, spectrum_summary

__all__ = ["NtkReport", "ntk_report"]


@dataclass(frozen=True)
class NtkReport:
    """The spectrum of one point set's kernel, and what kernel it is.

    Attributes:
        activation: the activation's name.
        kind: ``"h_inf"``, ``"ntk"`` or ``"nngp"``.
        depth: hidden layers.
        d: input dimension of the points.
        spectrum: n, lambda_0, lambda_max, condition and the eigenvalues at both ends.
    """

    activation: str
    kind: str
    depth: int
    d: int
    spectrum: KernelSpectrum

    def as_dict(self) -> dict[str, Any]:
        """activation, kind, depth, d and ``KernelSpectrum.as_dict()`` in one flat dict."""
        return {
            "activation": self.activation,
            "kind": self.kind,
            "depth": self.depth,
            "d": self.d,
            **self.spectrum.as_dict(),
        }


def ntk_report(
    X: object,
    activation: str | acts.Activation = "relu",
    kind: str = DEFAULT_KIND,
    depth: int = 1,
    *,
    k: int = 5,
) -> NtkReport:
    """lambda_0, lambda_max, the condition number and the k eigenvalues at each end.

    Args:
        X: (n, d) points (torch or numpy), as ``ntk_gram`` takes them.
        activation: a registered name or an ``Activation``.
        kind: ``"h_inf"`` (default), ``"ntk"`` or ``"nngp"`` (see ``ntk_gram``).
        depth: hidden layers.
        k: eigenvalues reported at each end (>= 1; capped at n).

    Returns:
        An ``NtkReport``.

    Raises:
        ValueError: for points that are not (n, d), an unknown activation or kind, a depth
            the kind does not take, or k < 1 (one sentence each).
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k (eigenvalues shown at each end) must be an integer >= 1; got {k!r}.")
    K = ntk_gram(X, activation, kind, depth)
    if K.dim() != 2:
        raise ValueError(f"ntk_report takes one point set (n, d); got {K.dim() + 1} dimensions.")
    n = int(K.shape[0])
    name = activation if isinstance(activation, str) else activation.name
    return NtkReport(
        activation=name,
        kind=kind,
        depth=int(depth),
        d=int(np.shape(X)[-1]),
        spectrum=spectrum_summary(kernel_spectrum(K), min(int(k), n)),
    )
