"""Gaussian moments of activations: alpha_{i,j}(sigma), rho(sigma), Hermite coefficients.

Zhong, Song, Jain, Bartlett & Dhillon, "Recovery guarantees for one-hidden-layer neural
networks" (ICML 2017), with z ~ N(0, 1):

    alpha_{i,j}(sigma) = E[(phi'(sigma z))^i z^j]
    rho(sigma) = min{ alpha_20 - alpha_10^2 - alpha_11^2,
                      alpha_22 - alpha_11^2 - alpha_12^2,
                      alpha_10 alpha_12 - alpha_11^2 }
    c_j(sigma) = E[phi(sigma z) He_j(z)]      (probabilists' Hermite polynomials)

The first two terms of rho are residual variances and are computed as such,
E[(phi'(sigma z) - alpha_10 - alpha_11 z)^2] and E[(z phi'(sigma z) - alpha_11 - alpha_12 z)^2],
so they never lose digits to cancellation and are >= 0 by construction. A term smaller
than 1e-14 (alpha_20 + alpha_22) is rounding noise and is reported as exactly 0 (the
linear activation's rho is 0, not 1e-35).

Quadrature: composite Gauss-Legendre on [-13, 13] (the Gaussian tail beyond carries
< 1e-37 of the mass), split exactly at every kink kink/sigma of the activation and into
sub-intervals 0.5 / sigma long where |sigma z| <= 40 and 0.5 long beyond (where every
built-in is saturated or polynomial), each with 32 nodes. Between kinks the
integrands are analytic, so each piece converges geometrically: the moments agree with
scipy's adaptive ``quad`` to ~1e-14 (tests/activations/test_activation_moments.py).

Property checks (the paper's P1-P3), done numerically:
    P1: 0 <= phi'(z) <= L1 |z|^p for some p >= 0: phi' >= 0 on a grid to |z| = 1e4, and
        the smallest integer p in 0..4 for which phi'(z) / |z|^p stays bounded;
    P2: rho(sigma) > 0 on a log grid of sigma in [0.1, 10] (the definition asks all
        sigma > 0; the grid is the range a table can show);
    P3: phi piecewise linear, or phi'' bounded on the grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from .registry import Activation, get
from .registry import names as registered_names

__all__ = [
    "ActivationReport",
    "alpha",
    "alphas",
    "gaussian_expectation",
    "hermite",
    "hermite_orders",
    "properties",
    "report",
    "rho",
    "rho_terms",
]

TAIL = 13.0
NODES_PER_PIECE = 32
SIGMA_GRID = tuple(float(s) for s in np.logspace(-1, 1, 9))
RHO_POSITIVE = 1e-12  # rho above this counts as > 0 (quadrature error is ~1e-15)
ROUNDING = 1e-14  # rho terms below this * (alpha_20 + alpha_22) are reported as 0
VANISH_REL = 1e-10  # |c_j| <= this * max_l |c_l| counts as a vanishing coefficient


@lru_cache(maxsize=1)
def _legendre() -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(NODES_PER_PIECE)


def _check_sigma(sigma: float) -> float:
    s = float(sigma)
    if not (math.isfinite(s) and s > 0):
        raise ValueError(f"sigma must be a positive finite number; got {sigma!r}.")
    return s


@lru_cache(maxsize=256)
def _nodes(sigma: float, kinks: tuple[float, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes z and weights w (Gaussian density included): E[f(z)] ~= w @ f(z).

    Pieces are 0.5 / sigma long where phi'(sigma z) may still vary (|sigma z| <= 40:
    beyond, every built-in smooth activation is saturated or polynomial) and 0.5 long
    elsewhere, so the node count stays below ~10^4 at any sigma.
    """
    inner = min(TAIL, 40.0 / sigma)
    cuts = {-TAIL, TAIL, -inner, inner}
    cuts.update(k / sigma for k in kinks if -TAIL < k / sigma < TAIL)
    cuts = sorted(cuts)
    x, wx = _legendre()
    zs, ws = [], []
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        if b - a <= 0:
            continue
        h = 0.5 / sigma if (a >= -inner and b <= inner) else 0.5
        h = min(h, 0.5)
        n = max(1, math.ceil((b - a) / h))
        edges = np.linspace(a, b, n + 1)
        mid = 0.5 * (edges[1:] + edges[:-1])[:, None]
        half = 0.5 * (edges[1:] - edges[:-1])[:, None]
        zs.append((mid + half * x).ravel())
        ws.append((half * wx).ravel())
    z = np.concatenate(zs)
    w = np.concatenate(ws) * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    return torch.from_numpy(z), torch.from_numpy(w)


def gaussian_expectation(fn, sigma: float = 1.0, kinks: tuple[float, ...] = ()) -> float:
    """E[fn(z)], z ~ N(0, 1), for fn smooth except at z = kink / sigma for each kink.

    ``fn`` maps a float64 tensor of nodes to values of the same shape.
    """
    z, w = _nodes(_check_sigma(sigma), tuple(kinks))
    return float(w @ fn(z))


def _dphi_values(act: Activation, sigma: float):
    z, w = _nodes(sigma, act.kinks)
    g = act.dphi(sigma * z)
    return z, w, g


def alphas(name: str | Activation, sigma: float) -> dict[tuple[int, int], float]:
    """alpha_{i,j}(sigma) for (i, j) in {1, 2} x {0, 1, 2}."""
    act, s = get(name), _check_sigma(sigma)
    z, w, g = _dphi_values(act, s)
    out = {}
    for i in (1, 2):
        gi = g**i
        for j in (0, 1, 2):
            out[(i, j)] = float(w @ (gi * z**j))
    return out


def alpha(name: str | Activation, i: int, j: int, sigma: float) -> float:
    """alpha_{i,j}(sigma) = E[(phi'(sigma z))^i z^j] for any integers i, j >= 0."""
    if int(i) != i or int(j) != j or i < 0 or j < 0:
        raise ValueError(f"alpha needs integer orders i, j >= 0; got ({i!r}, {j!r}).")
    act, s = get(name), _check_sigma(sigma)
    z, w, g = _dphi_values(act, s)
    return float(w @ (g ** int(i) * z ** int(j)))


def rho_terms(name: str | Activation, sigma: float) -> tuple[float, float, float]:
    """The three terms whose minimum is rho(sigma) (the first two as residual variances)."""
    act, s = get(name), _check_sigma(sigma)
    z, w, g = _dphi_values(act, s)
    a10 = float(w @ g)
    a11 = float(w @ (g * z))
    a12 = float(w @ (g * z * z))
    t1 = float(w @ (g - a10 - a11 * z) ** 2)
    t2 = float(w @ (z * g - a11 - a12 * z) ** 2)
    t3 = a10 * a12 - a11 * a11
    # Terms below rounding level of the moments they combine are exact zeros (linear phi).
    scale = float(w @ (g * g * (1 + z * z)))
    return tuple(0.0 if abs(t) <= ROUNDING * scale else t for t in (t1, t2, t3))


def rho(name: str | Activation, sigma: float) -> float:
    """rho(sigma) of Zhong et al. (2017): > 0 for activations with local strong convexity."""
    return min(rho_terms(name, sigma))


def hermite(name: str | Activation, j: int, sigma: float) -> float:
    """c_j(sigma) = E[phi(sigma z) He_j(z)]: the order-j Hermite coefficient (unnormalized).

    The moment M_j = E[y He_j(x)] of y = sum_i v_i phi(w_i . x) equals
    sum_i v_i c_j(|w_i|) (w_i / |w_i|)^{(x) j}.
    """
    if int(j) != j or j < 0:
        raise ValueError(f"Hermite order must be an integer >= 0; got {j!r}.")
    act, s = get(name), _check_sigma(sigma)
    z, w = _nodes(s, act.kinks)
    coef = np.zeros(int(j) + 1)
    coef[-1] = 1.0
    he = torch.from_numpy(np.polynomial.hermite_e.hermeval(z.numpy(), coef))
    return float(w @ (act.phi(s * z) * he))


def hermite_orders(
    name: str | Activation, max_order: int = 4, sigmas: tuple[float, ...] = (0.5, 1.0, 2.0)
) -> tuple[int, ...]:
    """Orders j in 1..max_order whose coefficient c_j(sigma) does not vanish.

    A coefficient vanishes when |c_j| <= 1e-10 max_l |c_l| at every sigma tried: a
    structural zero (odd activations have c_2 = c_4 = 0, ReLU has c_3 = 0), not a
    coincidence at one scale.
    """
    act = get(name)
    keep = set()
    for s in sigmas:
        c = [abs(hermite(act, j, s)) for j in range(1, max_order + 1)]
        top = max(c)
        keep.update(j + 1 for j, cj in enumerate(c) if top > 0 and cj > VANISH_REL * top)
    return tuple(sorted(keep))


_ZGRID = np.concatenate([-np.logspace(4, -8, 1201), [0.0], np.logspace(-8, 4, 1201)])


def _bounded(values: np.ndarray, absz: np.ndarray) -> bool:
    """Bounded on R, judged from the grid: finite, and not growing beyond |z| = 1e3."""
    if not np.all(np.isfinite(values)):
        return False
    inner = np.max(np.abs(values[absz <= 1e3]))
    outer = np.max(np.abs(values[absz >= 1e3]))
    return bool(inner <= 1e6 and outer <= inner * (1 + 1e-6) + 1e-12)


@dataclass(frozen=True)
class ActivationReport:
    """One row of ``landscope activations``."""

    name: str
    description: str
    rho: dict[str, float]
    rho_min: float
    p1: bool
    p1_exponent: int | None
    p2: bool
    p3: bool
    hermite_orders: tuple[int, ...]

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "rho": dict(self.rho),
            "rho_min": self.rho_min,
            "p1": self.p1,
            "p1_exponent": self.p1_exponent,
            "p2": self.p2,
            "p3": self.p3,
            "hermite_orders": list(self.hermite_orders),
        }


def properties(name: str | Activation) -> dict:
    """P1-P3 of Zhong et al. checked numerically (see the module docstring)."""
    act = get(name)
    z = torch.from_numpy(_ZGRID)
    absz = np.abs(_ZGRID)
    off_kink = ~np.isin(_ZGRID, np.asarray(act.kinks, dtype=float))
    d1 = act.dphi(z).numpy()
    d2 = act.ddphi(z).numpy()
    p1_exp = None
    if np.all(np.isfinite(d1)) and d1.min() >= -1e-12:
        nz = absz > 0
        for p in range(5):
            ratio = d1[nz] / absz[nz] ** p
            if _bounded(ratio, absz[nz]):
                p1_exp = p
                break
    rhos = [rho(act, s) for s in SIGMA_GRID]
    p3 = act.piecewise_linear or _bounded(d2[off_kink], absz[off_kink])
    return {
        "p1": p1_exp is not None,
        "p1_exponent": p1_exp,
        "p2": bool(min(rhos) > RHO_POSITIVE),
        "rho_min": float(min(rhos)),
        "p3": bool(p3),
    }


def report(
    name: str | Activation, sigmas: tuple[float, ...] = (0.1, 1.0, 10.0)
) -> ActivationReport:
    """rho at ``sigmas``, the property checks, and the non-vanishing Hermite orders."""
    act = get(name)
    props = properties(act)
    return ActivationReport(
        name=act.name,
        description=act.description,
        rho={f"{s:g}": rho(act, s) for s in sigmas},
        rho_min=props["rho_min"],
        p1=props["p1"],
        p1_exponent=props["p1_exponent"],
        p2=props["p2"],
        p3=props["p3"],
        hermite_orders=hermite_orders(act),
    )


def reports() -> list[ActivationReport]:
    """One report per registered activation."""
    return [report(n) for n in registered_names()]
