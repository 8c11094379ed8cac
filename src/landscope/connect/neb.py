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

Optimizer: FIRE (Bitzek et al., PRL 97, 170201, 2006; ``landscope.optim.FIRE``) with the
whole band as one system, the method of choice for NEB in Sheppard, Terrell & Henkelman
(J. Chem. Phys. 128, 134106, 2008): velocity Verlet-like steps v <- v + dt F, with the
velocity mixed towards the force, v <- (1 - alpha) v + alpha |v| F/|F|, dt growing (x1.1,
up to dt_max) while the power F.v is positive and halving (with v = 0) when it turns
negative. Every image's move is capped at ``step`` per iteration, which keeps the first
iterations safe on steep problems. Defaults are scale-free: ``step`` is a tenth of the
initial image spacing, the spring constant k = 0.1 max_i ||grad_i|| / (initial spacing)
(springs about a tenth as strong as the true forces), dt0 = sqrt(step / max_i ||F_i||),
dt_max = 10 dt0. The band converges when every interior image's force norm is <= tol.

The band runs under the optimization driver (``landscope.optim.run``) as a problem over
rows (``NebBand``): a row is one band's K - 2 interior images flattened, its "gradient" is
minus the NEB force and its stopping norm (``StopNorm``) the largest image force, so
several bands can relax in one batch. The climbing switch is two runs: the band without
climbing for ``climb_after`` iterations, then with the climbing image, FIRE restarting
with v = 0 but keeping the time step it had reached. All interior images of all bands
are rows of one batch: one ``problem.loss_and_grad`` call per iteration.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import torch

from ..optim import FIRE, Stop, View, run
from ..problems import Problem
from .interpolate import as_beads, as_endpoint, profile
from .path import Path

__all__ = ["NebBand", "NebResult", "neb", "neb_forces", "resample"]

# Stop.diverge for the band: only a non-finite force ends a band early (any finite force
# is a band still relaxing, however steep the problem).
_FINITE_ONLY = sys.float_info.max
_CONVERGED, _DIVERGED = 1, 3  # codes of landscope.optim.STATUS


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
    """Improved tangents (..., K-2, P) of the interior images of bands (..., K, P) with
    energies (..., K) (Henkelman & Jónsson 2000)."""
    tp = band[..., 2:, :] - band[..., 1:-1, :]  # tau+
    tm = band[..., 1:-1, :] - band[..., :-2, :]  # tau-
    Ep, E, Em = energy[..., 2:], energy[..., 1:-1], energy[..., :-2]
    dp, dm = (Ep - E).abs(), (Em - E).abs()
    dmax, dmin = torch.maximum(dp, dm)[..., None], torch.minimum(dp, dm)[..., None]
    up = (Ep > E) & (E > Em)
    down = (Ep < E) & (E < Em)
    mixed = torch.where((Ep > Em)[..., None], tp * dmax + tm * dmin, tp * dmin + tm * dmax)
    tau = torch.where(up[..., None], tp, torch.where(down[..., None], tm, mixed))
    # an exactly flat neighbourhood (all three energies equal) gives tau = 0: use the chord
    flat = torch.linalg.vector_norm(tau, dim=-1) == 0
    tau = torch.where(flat[..., None], tp + tm, tau)
    n = torch.linalg.vector_norm(tau, dim=-1, keepdim=True)
    return tau / n.clamp_min(torch.finfo(band.dtype).tiny)


def _forces(
    band: torch.Tensor,
    energy: torch.Tensor,
    grad: torch.Tensor,
    spring: torch.Tensor,
    climbing: torch.Tensor | None,
) -> torch.Tensor:
    """NEB forces (R, K-2, P) of R bands (R, K, P), energies (R, K), interior gradients
    (R, K-2, P), spring constants (R,) and climbing images (R,) (interior indices) or None.
    """
    tau = _tangents(band, energy)
    gpar = (grad * tau).sum(-1, keepdim=True)
    lengths = torch.linalg.vector_norm(band.diff(dim=-2), dim=-1)  # (R, K-1)
    fs = spring[:, None, None] * (lengths[:, 1:] - lengths[:, :-1])[..., None] * tau
    F = -(grad - gpar * tau) + fs
    if climbing is not None:
        top = torch.arange(grad.shape[1], device=grad.device) == climbing[:, None]  # (R, K-2)
        F = torch.where(top[..., None], -grad + 2 * gpar * tau, F)
    return F


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
    spring_t = torch.full((1,), float(spring), dtype=band.dtype, device=band.device)
    c = None if climbing_index is None else torch.tensor([climbing_index], device=band.device)
    return _forces(band[None], energy[None], grad[None], spring_t, c)[0]


@dataclass(frozen=True, eq=False)
class NebBand:
    """Nudged elastic bands as a problem over rows, for the optimization driver.

    Row r holds the K - 2 interior images of band r, flattened to ((K - 2) P,); its
    endpoints ``theta_a[r]``, ``theta_b[r]`` are fixed. ``grad`` is minus the NEB force
    (``neb_forces``; no loss has it as gradient), ``stop_norm`` the largest image force
    norm (the band converges when every image is still) and ``loss`` the highest interior
    energy (the barrier estimate). All images of all rows are one ``problem.loss_and_grad``
    batch. The bands' data are rows (``select``), so the driver drops finished bands.

    Attributes:
        problem: the objective of the images.
        theta_a, theta_b: (R, P) endpoints of each band.
        images: K, images per band, endpoints included.
        spring: (R,) spring constants.
        climbing: whether the highest interior image of each band climbs.
        end_loss: (R, 2) losses of the endpoints (computed when not given).
    """

    problem: Problem
    theta_a: torch.Tensor
    theta_b: torch.Tensor
    images: int
    spring: torch.Tensor
    climbing: bool = False
    end_loss: torch.Tensor | None = field(default=None)

    def __post_init__(self) -> None:
        if self.end_loss is None:
            R, P = self.theta_a.shape
            e = self.problem.loss(torch.cat([self.theta_a, self.theta_b]))
            object.__setattr__(self, "end_loss", torch.stack([e[:R], e[R:]], dim=1))

    @property
    def n_params(self) -> int:
        return (self.images - 2) * self.theta_a.shape[1]

    def images_of(self, x: torch.Tensor) -> torch.Tensor:
        """The interior images (R, K-2, P) of rows x (R, (K-2) P)."""
        return x.reshape(x.shape[0], self.images - 2, self.theta_a.shape[1])

    def _forces(self, x: torch.Tensor, energy: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """Forces (R, K-2, P) from interior images (R, K-2, P), their energies and gradients."""
        band = torch.cat([self.theta_a[:, None], x, self.theta_b[:, None]], dim=1)
        full = torch.cat([self.end_loss[:, :1], energy, self.end_loss[:, 1:]], dim=1)
        top = energy.argmax(dim=1) if self.climbing else None
        return _forces(band, full, grad, self.spring, top)

    def evaluate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Energies (R, K-2), true gradients and NEB forces (R, K-2, P) of the images of x."""
        imgs = self.images_of(x)
        R, n, P = imgs.shape
        e, g = self.problem.loss_and_grad(imgs.reshape(R * n, P))
        e, g = e.reshape(R, n), g.reshape(R, n, P)
        return e, g, self._forces(imgs, e, g)

    def loss_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Highest interior energy (R,) and minus the NEB force (R, (K-2) P)."""
        e, _, F = self.evaluate(x)
        return e.amax(dim=1), -F.reshape(x.shape[0], -1)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        return self.loss_and_grad(x)[0]

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        return self.loss_and_grad(x)[1]

    def stop_norm(self, grad: torch.Tensor) -> torch.Tensor:
        """max over images of ||F_i|| (R,): the band is still when every image is."""
        return torch.linalg.vector_norm(self.images_of(grad), dim=2).amax(dim=1)

    def select(self, rows: torch.Tensor) -> NebBand:
        return NebBand(
            self.problem,
            self.theta_a[rows],
            self.theta_b[rows],
            self.images,
            self.spring[rows],
            self.climbing,
            self.end_loss[rows],
        )


class _DtAtStop:
    """Observer: FIRE's time step of each row where the row stops."""

    def __init__(self, like: torch.Tensor) -> None:
        self.dt = torch.full_like(like, math.nan)

    def __call__(self, view: View) -> None:
        if view.finished:
            fin = view.status > 0
            self.dt[view.rows[fin]] = view.state["dt"][fin]


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
    P = a.shape[0]

    def bands(climb: bool) -> NebBand:
        k = torch.full((1,), spring, dtype=a.dtype, device=a.device)
        return NebBand(problem, a[None], b[None], K, k, climb, e_ends[None])

    climb = climbing and climb_after == 0
    F0 = bands(climb)._forces(inner[None], e_in[None], g[None])
    fmax0 = float(torch.linalg.vector_norm(F0, dim=2).max())
    dt = math.sqrt(step / max(fmax0, 1e-300))
    dt_max = 10 * dt
    x = inner.reshape(1, -1)
    if climbing and climb_after > 0:
        # the band finds the rough shape of the path first: climb_after iterations
        # without climbing, whatever its force (grad_tol 0) ...
        first = min(climb_after, max_iter)
        keep = _DtAtStop(x[:, 0])
        fire = FIRE(dt0=dt, dt_max=dt_max, max_step=step, block=P)
        res = run(bands(False), x, fire, stop=_stop(0.0, first), observers=[keep])
        x, it, status = res.theta, int(res.steps[0]), int(res.status[0])
        dt1 = keep.dt
        if status == _CONVERGED:  # a band exactly at rest idles until the switch, as
            dt1 = dt1 * fire.f_dec ** (first - it)  # FIRE halves dt at zero power
            it = first
        # ... then the highest image climbs: FIRE restarts (v = 0), keeping its dt
        climb = status != _DIVERGED and max_iter > climb_after
        if climb:
            fire = FIRE(dt0=dt1, dt_max=dt_max, max_step=step, block=P)
            res = run(bands(True), x, fire, stop=_stop(tol, max_iter - climb_after))
            x, it = res.theta, it + int(res.steps[0])
    else:
        fire = FIRE(dt0=dt, dt_max=dt_max, max_step=step, block=P)
        res = run(bands(climb), x, fire, stop=_stop(tol, max_iter))
        x, it = res.theta, int(res.steps[0])

    e, g, F = bands(climb).evaluate(x)
    inner, e_in, g = x.reshape(K - 2, P), e[0], g[0]
    fmax = float(torch.linalg.vector_norm(F[0], dim=1).max())
    converged = math.isfinite(fmax) and fmax <= tol and (climb or not climbing)
    beads = torch.cat([a[None], inner, b[None]])
    t, loss = profile(problem, beads, points_per_segment=points_per_segment)
    bead_loss = torch.cat([e_ends[:1], e_in, e_ends[1:]])
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


def _stop(tol: float, max_steps: int) -> Stop:
    """A band stops when every image force is <= tol, after max_steps, or non-finite."""
    return Stop(grad_tol=tol, max_steps=max_steps, diverge=_FINITE_ONLY)
