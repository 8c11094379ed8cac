"""The arc-cosine kernels: the one formula from vectors and from covariances, against a
numpy transcription, Monte Carlo, and each other."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope import gaussian
from landscope.gaussian import arccos

DT = torch.float64


def vectors(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """U (1, 4, 3) and Z (1, 6, 3): random rows, a zero row, parallel and antiparallel
    copies scaled by powers of two (cosines exactly +-1)."""
    g = torch.Generator().manual_seed(seed)
    U = torch.randn(1, 4, 3, generator=g, dtype=DT)
    Z = torch.randn(1, 3, 3, generator=g, dtype=DT)
    Z = torch.cat([Z, torch.zeros(1, 1, 3, dtype=DT), 2 * U[:, :1], -0.5 * U[:, 1:2]], dim=1)
    return U, Z


def numpy_kernels(U: np.ndarray, Z: np.ndarray) -> tuple[np.ndarray, ...]:
    """Orders 0, 1, 2 of Cho & Saul (2009), written out in numpy."""
    nu, nz = np.linalg.norm(U, axis=1), np.linalg.norm(Z, axis=1)
    dot = U @ Z.T
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(np.outer(nu, nz) > 0, np.clip(dot / np.outer(nu, nz), -1, 1), 0.0)
    t = np.arccos(c)
    k0 = (np.pi - t) / (2 * np.pi)
    k1 = (np.outer(nu, nz) * np.sin(t) + (np.pi - t) * dot) / (2 * np.pi)
    k2 = np.outer(nu**2, nz**2) * (3 * np.sin(t) * c + (np.pi - t) * (1 + 2 * c * c)) / (2 * np.pi)
    return k0, k1, k2


def test_vector_and_covariance_paths_agree_with_numpy() -> None:
    U, Z = vectors(0)
    k0, k1, k2 = numpy_kernels(U[0].numpy(), Z[0].numpy())
    pr = gaussian.arccos_pairs(U, Z)
    assert pr.kernel().shape == (1, 4, 6)
    # the same formula in another order: rounding, up to ~1e-8 at the parallel pairs
    # where an ulp of cosine moves the angle by sqrt(2 ulp); here they are exact (+-1)
    assert_close(pr.kernel()[0], k1, what="order 1 from vectors")
    assert_close(arccos.arccos0(pr.angle)[0], k0, what="order 0")
    # from the covariance of the stacked rows (the infinite-width kernels' parametrization)
    S = U[0] @ Z[0].T
    vi, vj = (U[0] ** 2).sum(-1), (Z[0] ** 2).sum(-1)
    cos, t, sin, k1_cov = arccos.covariance_parts(S, vi, vj)
    assert_close(k1_cov, k1, what="order 1 from covariances")
    assert_close(arccos.arccos2(vi[:, None] * vj[None, :], cos, sin, t), k2, what="order 2")


@pytest.mark.parametrize("order", [0, 1, 2])
def test_kernels_against_monte_carlo(order: int) -> None:
    """E_x[relu(u.x)^p relu(z.x)^p] (p = order; 1{.>0} for p = 0) over 4e5 draws, 6 SE."""
    U, Z = vectors(1)
    U, Z = U[0], Z[0, :3]  # the random rows (the special ones are checked above)
    g = torch.Generator().manual_seed(10 + order)
    x = torch.randn(400_000, 3, generator=g, dtype=DT)
    a, b = x @ U.T, x @ Z.T
    f = (lambda y: (y > 0).to(DT)) if order == 0 else (lambda y: torch.relu(y) ** order)
    terms = f(a)[:, :, None] * f(b)[:, None, :]
    mean, se = terms.mean(0), terms.std(0) / math.sqrt(x.shape[0])
    pr = gaussian.arccos_pairs(U[None], Z[None])
    exact = {
        0: arccos.arccos0(pr.angle)[0],
        1: pr.kernel()[0],
        2: arccos.arccos2(
            (pr.nu[0, :, None] * pr.nz[0, None, :]) ** 2, pr.cos[0], pr.sin[0], pr.angle[0]
        ),
    }[order]
    # 6 standard errors per entry: normal tail 2e-9, 12 entries per order
    assert_close(mean, exact, rtol=0, atol=6 * se.numpy(), what=f"order {order}")


def test_covariance_cosines_exact_for_parallel_and_zero() -> None:
    x = torch.tensor([[0.3, -1.1, 0.7]], dtype=DT)
    X = torch.cat([x, 4 * x, -0.25 * x, torch.zeros(1, 3, dtype=DT)])
    S = X @ X.T
    v = torch.diagonal(S)
    _, cos = arccos.covariance_cosines(S, v, v)
    assert cos[0, 1] == 1.0 and cos[0, 2] == -1.0 and cos[0, 0] == 1.0
    assert bool((cos[3] == 0).all()) and bool((cos[:, 3] == 0).all())
