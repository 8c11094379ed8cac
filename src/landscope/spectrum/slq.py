"""Spectral density of the Hessian by stochastic Lanczos quadrature (SLQ).

Ubaru, Chen & Saad, "Fast estimation of tr(f(A)) via stochastic Lanczos quadrature"
(SIAM J. Matrix Anal. Appl. 2017); for neural-net Hessians Ghorbani, Krishnan & Xiao
(ICML 2019) and Papyan (2019). The spectral density of H (P eigenvalues lambda_i) is
phi(t) = 1/P sum_i delta(t - lambda_i). For a Rademacher probe z and v = z / sqrt(P),
E[v' f(H) v] = tr f(H) / P, and m Lanczos steps from v give the Gauss quadrature

    v' f(H) v ~= sum_k tau_k f(theta_k),

theta_k the eigenvalues (nodes) of the Lanczos matrix T and tau_k the squared first
components of its eigenvectors (weights, summing to 1). It is exact for polynomials f of
degree up to 2m - 1, so the moments tr(H^p)/P for p <= 2m - 1 are unbiased. Averaging
over probes and smoothing each node with a Gaussian of width sigma gives the density.

All rows and probes run as one batched Lanczos (``lanczos.lanczos``) over R * probes
start vectors: one tiled Hessian-vector product batch per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..problems import Problem
from ._hvp import check_chunk, hvp_many
from .lanczos import lanczos, tridiagonal
from .trace import Estimate, rademacher

__all__ = ["Density", "slq"]

# Bytes of the (rows, probes, steps, grid) Gaussian tensor evaluated at once.
_GRID_BYTES = 64 << 20


def _positive_int(name: str, value: object, least: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}.")
    return int(value)


@dataclass(frozen=True)
class Density:
    """SLQ quadrature per row and probe, and the spectral densities drawn from it.

    Attributes:
        nodes: (R, probes, m) Ritz values theta_k of each probe's Lanczos matrix,
            ascending; m = min(steps, P).
        weights: (R, probes, m) Gauss weights tau_k >= 0, summing to 1 over k.
        n_params: P, the Hessian's size.
    """

    nodes: torch.Tensor
    weights: torch.Tensor
    n_params: int

    @property
    def probes(self) -> int:
        return int(self.nodes.shape[1])

    def _grid(self, grid: object) -> torch.Tensor:
        g = torch.as_tensor(grid, dtype=self.nodes.dtype).to(self.nodes.device)
        if g.dim() != 1 or g.numel() == 0:
            raise ValueError(f"grid has shape {tuple(g.shape)}; expected a non-empty 1-D grid.")
        return g

    def per_probe(self, grid: object, sigma: float) -> torch.Tensor:
        """Each probe's smoothed density sum_k tau_k N(t; theta_k, sigma^2): (R, probes, G).

        Raises:
            ValueError: for a grid that is not 1-D or a sigma that is not positive.
        """
        if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"sigma must be a positive number, got {sigma!r}.")
        g = self._grid(grid)
        R, n, m = self.nodes.shape
        out = torch.empty(R, n, g.numel(), dtype=g.dtype, device=g.device)
        step = max(1, _GRID_BYTES // (8 * n * m * g.numel()))
        norm = 1.0 / (sigma * math.sqrt(2 * math.pi))
        for lo in range(0, R, step):  # memory chunks over rows
            x = (g - self.nodes[lo : lo + step, :, :, None]) / sigma  # (r, n, m, G)
            k = torch.exp(-0.5 * x * x) * norm
            out[lo : lo + step] = (self.weights[lo : lo + step, :, :, None] * k).sum(2)
        return out

    def density(self, grid: object, sigma: float) -> torch.Tensor:
        """The Gaussian-smoothed spectral density on ``grid``, averaged over probes: (R, G).

        It integrates to 1 over the real line (each probe's weights sum to 1).
        """
        return self.per_probe(grid, sigma).mean(1)

    def band(self, grid: object, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(lo, hi), each (R, G): the density +- 2 standard errors over probes.

        The standard error is the sample standard deviation of the per-probe densities
        divided by sqrt(probes): a pointwise band of about 95 % for the smoothed density's
        expectation when probes are many. Needs probes >= 2.
        """
        if self.probes < 2:
            raise ValueError("a band needs at least 2 probes; run slq with probes >= 2.")
        per = self.per_probe(grid, sigma)
        mean = per.mean(1)
        se = per.std(1) / math.sqrt(self.probes)
        return mean - 2 * se, mean + 2 * se

    def moments(self, p: int) -> Estimate:
        """Estimate tr(H^p) / P, the p-th moment of the spectral density.

        Each probe's quadrature sum_k tau_k theta_k^p is exactly v' H^p v for p <= 2m - 1,
        an unbiased estimate of tr(H^p)/P; the estimate is their mean over probes and the
        standard error their standard deviation over sqrt(probes) (rounding-small for
        p = 0, where every probe gives 1). Multiply by ``n_params`` for the trace of H^p.

        Raises:
            ValueError: for p < 0 or p > 2m - 1, where Gauss quadrature is not exact.
        """
        m = int(self.nodes.shape[2])
        p = _positive_int("p", p, least=0)
        if p > 2 * m - 1:
            raise ValueError(
                f"p = {p} exceeds 2 * steps - 1 = {2 * m - 1}, the largest power that "
                "Gauss quadrature integrates exactly; run slq with more steps."
            )
        per = (self.weights * self.nodes**p).sum(-1)  # (R, probes)
        se = (
            per.std(1) / math.sqrt(self.probes)
            if self.probes > 1
            else torch.full_like(per[:, 0], math.nan)
        )
        return Estimate(estimate=per.mean(1), stderr=se, probes=self.probes)

    def support(self, points: int = 512, sigma: float | None = None) -> torch.Tensor:
        """An evenly spaced grid over all rows' nodes, 3 sigma wider at each end: (points,).

        ``sigma`` defaults to ``default_sigma()``.
        """
        points = _positive_int("points", points, least=2)
        sigma = self.default_sigma() if sigma is None else sigma
        finite = self.nodes[torch.isfinite(self.nodes)]
        if finite.numel() == 0:
            raise ValueError("the density has no finite nodes; every row was non-finite.")
        lo, hi = float(finite.min()) - 3 * sigma, float(finite.max()) + 3 * sigma
        return torch.linspace(lo, hi, points, dtype=self.nodes.dtype, device=self.nodes.device)

    def default_sigma(self) -> float:
        """1 % of the range of all finite nodes (1e-3 when they all coincide)."""
        finite = self.nodes[torch.isfinite(self.nodes)]
        if finite.numel() == 0:
            return 1e-3
        span = float(finite.max() - finite.min())
        return 0.01 * span if span > 0 else 1e-3


def slq(
    problem: Problem,
    theta: object,
    probes: int = 10,
    steps: int = 30,
    generator: torch.Generator | None = None,
    *,
    chunk: int | None = None,
) -> Density:
    """Stochastic Lanczos quadrature of the Hessian spectrum of every row.

    Args:
        problem: the objective (only ``hvp`` is used).
        theta: (P,) or (R, P) rows.
        probes: Rademacher start vectors per row (>= 1; a band and standard errors need 2).
        steps: Lanczos steps per probe (>= 1), each one Hessian-vector product; capped at
            P, where the quadrature nodes are exactly H's eigenvalues.
        generator: draws the probes (on the CPU); None: torch's global generator.
        chunk: rows of the tiled (R * probes, P) batch per ``problem.hvp`` call.

    Returns:
        A ``Density``. Lanczos runs in float64 whatever the problem's dtype (each product
        is computed in the problem's dtype). Non-finite parameter rows give NaN nodes and
        weights.

    Raises:
        ValueError: for probes or steps that are not positive integers.
    """
    probes = _positive_int("probes", probes)
    steps = _positive_int("steps", steps)
    chunk = check_chunk(chunk)
    t = problem.as_batch(theta)
    R, P = t.shape
    m = min(steps, P)
    Z = rademacher((R, probes, P), generator=generator, dtype=torch.float64).to(t.device)
    nodes = torch.full((R, probes, m), math.nan, dtype=torch.float64, device=t.device)
    weights = torch.full_like(nodes, math.nan)
    rows = torch.nonzero(torch.isfinite(t).all(dim=1)).flatten()
    if rows.numel():
        tr = t[rows]
        n = rows.numel()

        def apply(X: torch.Tensor) -> torch.Tensor:
            return hvp_many(problem, tr, X.reshape(n, probes, P), chunk).reshape(n * probes, P)

        alpha, beta = lanczos(apply, Z[rows].reshape(n * probes, P), m)
        theta_k, U = torch.linalg.eigh(tridiagonal(alpha, beta))
        nodes[rows] = theta_k.reshape(n, probes, m)
        weights[rows] = (U[:, 0, :] ** 2).reshape(n, probes, m)
    return Density(nodes=nodes, weights=weights, n_params=P)
