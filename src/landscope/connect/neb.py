"""Nudged elastic band with a climbing image (Henkelman, Uberuaga & Jónsson 2000).

A band of K images theta_0 = theta_A, theta_1, ..., theta_{K-1} = theta_B (endpoints
fixed) relaxes towards a minimum-energy path: each interior image i feels

    F_i = -grad L(theta_i)_perp + F_i^spring_par,
    grad_perp = grad - (grad . tau_i) tau_i,
    F_i^spring_par = k (|theta_{i+1} - theta_i| - |theta_i - theta_{i-1}|) tau_i,

the true force perpendicular to the path and the spring force along it, with the
improved tangent tau_i of Henkelman & Jónsson (J. Chem. Phys. 113, 9978, 2000): the
vector to the higher neighbour when the image is between its neighbours in energy,

    tau = theta_{i+1} - theta_i  if L_{i+1} > L_i > L_{i-1},
    tau = theta_i - theta_{i-1}  if L_{i+1} < L_i < L_{i-1},

and otherwise the blend tau+ dL_max + tau- dL_min (when L_{i+1} > L_{i-1}; the weights
swapped otherwise), dL_max/min = max/min(|L_{i+1} - L_i|, |L_{i-1} - L_i|), normalized.
The climbing image (Henkelman, Uberuaga & Jónsson, J. Chem. Phys. 113, 9901, 2000), the
highest interior image, instead feels no spring and the true force with its component
along the path inverted,

    F_ci = -grad + 2 (grad . tau) tau,

so it climbs along the path and descends across it, and converges to a first-order
saddle point; since F_ci is a reflection of -grad, ||F_ci|| = ||grad|| there. Climbing
starts after ``climb_after`` iterations (the band first finds the rough shape of the
path). Draxler et al. (ICML 2018) use this AutoNEB machinery between minima of neural
networks and report essentially no barriers.

Optimizer: FIRE (Bitzek et al., PRL 97, 170201, 2006) on the whole band as one system,
the method of choice for NEB in Sheppard, Terrell & Henkelman (J. Chem. Phys. 128,
134106, 2008): velocity Verlet-like steps v <- v + dt F, with the velocity mixed towards
the force, v <- (1 - alpha) v + alpha |v| F/|F|, dt growing (x1.1, up to dt_max) while
the power F.v is positive and halving (with v = 0) when it turns negative. Every image's
move is capped at ``step`` per iteration, which keeps the first iterations safe on
steep problems. Defaults are scale-free: ``step`` is a tenth of the initial image
spacing, the spring constant k = 0.1 max_i ||grad_i|| / (initial spacing) (springs about
a tenth as strong as the true forces), dt0 = sqrt(step / max_i ||F_i||), dt_max = 10 dt0.
The band converges when every interior image's force norm is <= tol.

All interior images are rows of one (K-2, P) batch: one ``problem.loss_and_grad`` call
per iteration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..problems import Problem
from .interpolate import as_beads, as_endpoint, profile
from .path import Path

__all__ = ["NebResult", "neb", "neb_forces", "resample"]


@dataclass(frozen=True)
class NebResult:
    """Outcome of ``neb``.

    Attributes:
        path: the band as a ``Path`` (method ``"neb"``; status ``"connected"`` if the
            band converged, else ``"not_converged"``).
        climbing_index: index into ``path.beads`` of the climbing image (the highest
            interior image at the end), or -1 when climbing was off.
        saddle: (P,) the highest interior image (the climbing image when climbing).
        saddle_loss: its loss.
        saddle_grad_norm: ||grad|| there (small at a converged climbing image).
        max_force: the largest interior force norm at the end.
        iters: iterations taken.
        converged: max_force <= tol.
        spring: the spring constant used.
    """

    path: Path
    climbing_index: int
    saddle: torch.Tensor
    saddle_loss: float
    saddle_grad_norm: float
    max_force: float
    iters: int
    converged: bool
    spring: float


def resample(polygon: torch.Tensor, K: int) -> torch.Tensor:
    """K points equally spaced by arc length along the polygon through ``polygon`` (M, P).

    The first and last points are the polygon's ends. A zero-length polygon gives K
    copies of its first point.
    """
    seg = torch.linalg.vector_norm(polygon.diff(dim=0), dim=1)
    cum = torch.cat([seg.new_zeros(1), seg.cumsum(0)])
    total = cum[-1]
    if float(total) == 0:
        return polygon[:1].expand(K, -1).clone()
    s = torch.linspace(0, 1, K, dtype=polygon.dtype, device=polygon.device) * total
    j = torch.searchsorted(cum, s, right=True).clamp(1, polygon.shape[0] - 1) - 1
    frac = ((s - cum[j]) / seg[j].clamp_min(torch.finfo(polygon.dtype).tiny)).clamp(0, 1)
    out = polygon[j] + frac[:, None] * (polygon[j + 1] - polygon[j])
    out[0], out[-1] = polygon[0], polygon[-1]
    return out


def _tangents(band: torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
    """Improved tangents (K-2, P) of the interior images (Henkelman & Jónsson 2000)."""
    tp = band[2:] - band[1:-1]  # tau+
    tm = band[1:-1] - band[:-2]  # tau-
    Ep, E, Em = energy[2:], energy[1:-1], energy[:-2]
    dp, dm = (Ep - E).abs(), (Em - E).abs()
    dmax, dmin = torch.maximum(dp, dm), torch.minimum(dp, dm)
    up = (Ep > E) & (E > Em)
    down = (Ep < E) & (E < Em)
    mixed = torch.where(
        (Ep > Em)[:, None],
        tp * dmax[:, None] + tm * dmin[:, None],
        tp * dmin[:, None] + tm * dmax[:, None],
    )
    tau = torch.where(up[:, None], tp, torch.where(down[:, None], tm, mixed))
    # an exactly flat neighbourhood (all three energies equal) gives tau = 0: use the chord
    flat = torch.linalg.vector_norm(tau, dim=1) == 0
    tau = torch.where(flat[:, None], tp + tm, tau)
    n = torch.linalg.vector_norm(tau, dim=1, keepdim=True)
    return tau / n.clamp_min(torch.finfo(band.dtype).tiny)


def neb_forces(
    band: torch.Tensor,
    energy: torch.Tensor,
    grad: torch.Tensor,
    spring: float,
    climbing_index: int | None,
) -> torch.Tensor:
    """NEB forces (K-2, P) on the interior images of ``band`` (K, P).

    Args:
        band: all images, endpoints included.
        energy: (K,) losses of all images.
        grad: (K-2, P) gradients of the interior images.
        spring: the spring constant k.
        climbing_index: index into the interior images (0..K-3) of the climbing image,
            or None.
    """
    tau = _tangents(band, energy)
    gpar = (grad * tau).sum(1, keepdim=True)
    lengths = torch.linalg.vector_norm(band.diff(dim=0), dim=1)  # (K-1,)
    fs = spring * (lengths[1:] - lengths[:-1])[:, None] * tau
    F = -(grad - gpar * tau) + fs
    if climbing_index is not None:
        c = climbing_index
        F[c] = -grad[c] + 2 * gpar[c] * tau[c]
    return F


def _check_positive(name: str, x: float | None, allow_none: bool = True) -> None:
    if x is None and allow_none:
        return
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {x!r}.")


def neb(
    problem: Problem,
    theta_a: object,
    theta_b: object,
    *,
    images: int = 17,
    init_path: object | None = None,
    spring: float | None = None,
    climbing: bool = True,
    climb_after: int = 50,
    step: float | None = None,
    max_iter: int = 5000,
    tol: float = 1e-6,
    points_per_segment: int = 8,
) -> NebResult:
    """Relax a nudged elastic band between theta_a and theta_b.

    Args:
        problem: any Problem (``loss_and_grad`` on a (K-2, P) batch, ``loss`` for the
            profile).
        theta_a, theta_b: the fixed endpoints (P,) or (1, P) (usually two minima).
        images: K, the number of images, endpoints included (>= 3).
        init_path: a starting polygon (M, P), M >= 2, from theta_a to theta_b (for
            example a string or curve's beads); resampled to K images equally spaced by
            arc length, with its ends replaced by theta_a and theta_b. Default: the
            straight segment.
        spring: the spring constant k; default scale-free (module docstring).
        climbing: use the climbing image.
        climb_after: iterations before the highest image starts climbing.
        step: the largest move of one image per iteration; default a tenth of the
            initial spacing.
        max_iter: iteration budget.
        tol: convergence when every interior force norm is <= tol.
        points_per_segment: loss samples per segment for ``Path.t``/``Path.loss``.

    Returns:
        NebResult (the band as ``.path``, the saddle estimate, diagnostics).

    Raises:
        ValueError: for mis-shaped or non-finite endpoints or init_path, images < 3,
            equal endpoints without an init_path, or non-positive spring/step/tol.
    """
    if isinstance(images, bool) or not isinstance(images, int) or images < 3:
        raise ValueError(f"images must be an integer >= 3 (endpoints included), got {images!r}.")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 0:
        raise ValueError(f"max_iter must be an integer >= 0, got {max_iter!r}.")
    if isinstance(climb_after, bool) or not isinstance(climb_after, int) or climb_after < 0:
        raise ValueError(f"climb_after must be an integer >= 0, got {climb_after!r}.")
    _check_positive("spring", spring)
    _check_positive("step", step)
    _check_positive("tol", tol, allow_none=False)
    a = as_endpoint(problem, theta_a, "theta_a")
    b = as_endpoint(problem, theta_b, "theta_b")
    K = images
    if init_path is None:
        if float(torch.linalg.vector_norm(b - a)) == 0:
            raise ValueError("theta_a and theta_b are the same point; give an init_path.")
        s = torch.linspace(0, 1, K, dtype=a.dtype, device=a.device)[:, None]
        band = (1 - s) * a + s * b
    else:
        poly = as_beads(problem, init_path, "init_path")
        band = resample(poly, K)
        band[0], band[-1] = a, b
    spacing = float(torch.linalg.vector_norm(band.diff(dim=0), dim=1).mean())
    if spacing == 0:
        raise ValueError("init_path has zero length; give a path between distinct points.")
    if step is None:
        step = 0.1 * spacing

    e_ends = problem.loss(torch.stack([a, b]))
    inner = band[1:-1].clone()
    e_in, g = problem.loss_and_grad(inner)
    gmax = float(torch.linalg.vector_norm(g, dim=1).max())
    if spring is None:
        spring = 0.1 * max(gmax, 1e-12) / spacing

    def energies(e: torch.Tensor) -> torch.Tensor:
        return torch.cat([e_ends[:1], e, e_ends[1:]])

    def forces(
        x: torch.Tensor, e: torch.Tensor, gr: torch.Tensor, climb: bool
    ) -> tuple[torch.Tensor, int | None]:
        c = int(e.argmax()) if climb else None
        full = torch.cat([a[None], x, b[None]])
        return neb_forces(full, energies(e), gr, spring, c), c

    climb = climbing and climb_after == 0
    F, c = forces(inner, e_in, g, climb)
    fmax0 = float(torch.linalg.vector_norm(F, dim=1).max())
    dt = math.sqrt(step / max(fmax0, 1e-300))
    dt_max, alpha0, n_min = 10 * dt, 0.1, 5
    alpha, n_pos = alpha0, 0
    v = torch.zeros_like(inner)
    it = 0
    fmax = fmax0
    while it < max_iter:
        fmax = float(torch.linalg.vector_norm(F, dim=1).max())
        if not math.isfinite(fmax):
            break
        if fmax <= tol and (climb or not climbing):
            break
        if climbing and not climb and it >= climb_after:
            climb, v, n_pos, alpha = True, torch.zeros_like(v), 0, alpha0
            F, c = forces(inner, e_in, g, True)
            continue
        # FIRE
        power = float((F * v).sum())
        if power > 0:
            vn = float(torch.linalg.vector_norm(v))
            fn = float(torch.linalg.vector_norm(F))
            v = (1 - alpha) * v + alpha * vn * F / max(fn, 1e-300)
            n_pos += 1
            if n_pos > n_min:
                dt, alpha = min(dt * 1.1, dt_max), alpha * 0.99
        else:
            v, n_pos, alpha, dt = torch.zeros_like(v), 0, alpha0, dt * 0.5
        v = v + dt * F
        dx = dt * v
        dn = torch.linalg.vector_norm(dx, dim=1, keepdim=True)
        dx = dx * torch.clamp(step / dn.clamp_min(1e-300), max=1.0)
        inner = inner + dx
        e_in, g = problem.loss_and_grad(inner)
        F, c = forces(inner, e_in, g, climb)
        it += 1

    fmax = float(torch.linalg.vector_norm(F, dim=1).max())
    converged = math.isfinite(fmax) and fmax <= tol and (climb or not climbing)
    beads = torch.cat([a[None], inner, b[None]])
    t, loss = profile(problem, beads, points_per_segment=points_per_segment)
    bead_loss = energies(e_in)
    path = Path(
        beads=beads,
        bead_loss=bead_loss,
        t=t,
        loss=loss,
        method="neb",
        status="connected" if converged else "not_converged",
    )
    top = int(e_in.argmax())
    return NebResult(
        path=path,
        climbing_index=(top + 1) if climb else -1,
        saddle=inner[top].clone(),
        saddle_loss=float(e_in[top]),
        saddle_grad_norm=float(torch.linalg.vector_norm(g[top])),
        max_force=fmax,
        iters=it,
        converged=converged,
        spring=float(spring),
    )
