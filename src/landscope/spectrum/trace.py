"""Hessian trace estimates from Hessian-vector products: Hutchinson and Hutch++.

Hutchinson (1989): for Rademacher z (entries +-1), E[z' H z] = tr H, so the mean of
z_i' H z_i over m probes is unbiased with variance 2 (||H||_F^2 - sum_i H_ii^2) / m.

Hutch++ (Meyer, Musco, Musco & Woodruff, "Hutch++: Optimal Stochastic Trace
Estimation", SOSA 2021, Algorithm 1) spends m products in three equal parts: Q = an
orthonormal basis of H S for m/3 sign vectors S; tr(Q' H Q) exactly (m/3 products); and
Hutchinson on the deflated (I - QQ') H (I - QQ') with m/3 more sign vectors G. When H is
dominated by a few large eigenvalues the deflated part is small, and the error falls as
1/m instead of Hutchinson's 1/sqrt(m).

Both are batched: the probes of all R rows go through ``problem.hvp`` as one tiled batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..problems import Problem
from ._hvp import check_chunk, hvp_many

__all__ = ["Estimate", "Trace", "rademacher", "trace"]

_METHODS = ("hutch++", "hutchinson")


@dataclass(frozen=True)
class Estimate:
    """A stochastic estimate per row with its standard error.

    Attributes:
        estimate: (R,) the estimate.
        stderr: (R,) its standard error (the sample standard deviation of the random
            part over its probes, divided by the square root of their number).
        probes: random vectors per row the random part used.
    """

    estimate: torch.Tensor
    stderr: torch.Tensor
    probes: int

    def interval(self, z: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
        """(estimate - z stderr, estimate + z stderr)."""
        return self.estimate - z * self.stderr, self.estimate + z * self.stderr


@dataclass(frozen=True)
class Trace(Estimate):
    """A Hessian trace estimate per row (see ``trace``).

    Attributes:
        method: ``"hutch++"`` or ``"hutchinson"``.
        hvps: Hessian-vector products spent per row.
    """

    method: str = "hutchinson"
    hvps: int = 0


def rademacher(
    shape: tuple[int, ...], *, generator: torch.Generator | None, dtype: torch.dtype
) -> torch.Tensor:
    """Independent +-1 entries with probability 1/2 each, drawn on the CPU."""
    bits = torch.randint(0, 2, shape, generator=generator, dtype=torch.int8)
    return (2 * bits - 1).to(dtype)


def _probe_count(probes: object, method: str) -> int:
    least = 6 if method == "hutch++" else 2
    if isinstance(probes, bool) or not isinstance(probes, (int, np.integer)) or probes < least:
        raise ValueError(
            f"probes must be an integer >= {least} for {method} (it needs a spread to give a "
            f"standard error), got {probes!r}."
        )
    return int(probes)


def trace(
    problem: Problem,
    theta: object,
    probes: int = 100,
    method: str = "hutch++",
    generator: torch.Generator | None = None,
    *,
    chunk: int | None = None,
) -> Trace:
    """Estimate tr H(theta_r) for every row from Hessian-vector products.

    Args:
        problem: the objective (only ``hvp`` is used).
        theta: (P,) or (R, P) rows.
        probes: Hessian-vector products per row (the budget m). Hutchinson uses m sign
            probes; Hutch++ splits m into m // 3 for the sketch, m // 3 for tr(Q'HQ) and
            the rest for the deflated Hutchinson part.
        method: ``"hutch++"`` (default) or ``"hutchinson"``.
        generator: draws the sign probes (on the CPU); None: torch's global generator.
        chunk: rows of the tiled (R * probes, P) batch per ``problem.hvp`` call.

    Returns:
        A ``Trace``: ``estimate`` (R,) and ``stderr`` (R,). Hutch++'s stderr is that of its
        random part given the sketch Q (tr(Q'HQ) is exact given Q); Hutchinson's is the
        plain sample standard error. Both are in the problem's dtype.

    Raises:
        ValueError: for an unknown method or too few probes (Hutchinson needs 2, Hutch++ 6).
    """
    if method not in _METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {_METHODS}.")
    m = _probe_count(probes, method)
    chunk = check_chunk(chunk)
    t = problem.as_batch(theta)
    R, P = t.shape
    dt, dev = t.dtype, t.device
    if method == "hutchinson":
        Z = rademacher((R, m, P), generator=generator, dtype=dt).to(dev)
        samples = (Z * hvp_many(problem, t, Z, chunk)).sum(-1)  # (R, m): z' H z
        return Trace(
            estimate=samples.mean(1),
            stderr=samples.std(1) / math.sqrt(m),
            probes=m,
            method=method,
            hvps=m,
        )

    s = m // 3
    g = m - 2 * s
    S = rademacher((R, s, P), generator=generator, dtype=dt).to(dev)
    G = rademacher((R, g, P), generator=generator, dtype=dt).to(dev)
    # Q: an orthonormal basis of range(H S). Householder QR returns orthonormal columns
    # even when H S is rank-deficient, and tr H = tr(Q'HQ) + tr((I-QQ')H(I-QQ')) holds for
    # any orthonormal Q, so a low-rank H needs no special case.
    Q, _ = torch.linalg.qr(hvp_many(problem, t, S, chunk).transpose(1, 2))  # (R, P, s)
    Q = Q.transpose(1, 2)  # (R, q, P), q = min(s, P): for s >= P, Q spans everything
    q = Q.shape[1]
    Gp = G - (G @ Q.transpose(1, 2)) @ Q  # (I - QQ') g, (R, g, P)
    HV = hvp_many(problem, t, torch.cat([Q, Gp], dim=1), chunk)  # both parts in one batch
    exact = (Q * HV[:, :q]).sum((1, 2))  # tr(Q' H Q)
    samples = (Gp * HV[:, q:]).sum(-1)  # (R, g): g'(I-QQ')H(I-QQ')g
    return Trace(
        estimate=exact + samples.mean(1),
        stderr=samples.std(1) / math.sqrt(g),
        probes=g,
        method=method,
        hvps=s + q + g,
    )
