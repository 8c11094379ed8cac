"""Low-loss curves between two points, fitted by stochastic descent (Garipov et al. 2018).

Garipov, Izmailov, Podoprikhin, Vetrov & Wilson ("Loss surfaces, mode connectivity, and
fast ensembling of DNNs", NeurIPS 2018) join two minima theta_A, theta_B by a curve
gamma_c(t) with a trainable control point c and fit c by minimizing the loss averaged
along the curve,

    ell(c) = E_{t ~ U[0, 1]} L(gamma_c(t)),

with one stochastic t per step. Two families:

    Bezier (quadratic):  gamma_c(t) = (1 - t)^2 theta_A + 2 t (1 - t) c + t^2 theta_B,
    polygonal chain:     gamma_c(t) = theta_A + 2 t (c - theta_A)        for t <= 1/2,
                                      c + (2 t - 1)(theta_B - c)          for t >  1/2.

Both are linear in c, so grad_c L(gamma_c(t)) = w(t) grad L(gamma_c(t)) with the scalar
weight w(t) = 2 t (1 - t) (Bezier) or 1 - |2 t - 1| (chain). Each step here draws
``samples`` stratified t (one uniform point in each of ``samples`` equal bins, a lower
variance estimate of the same expectation), evaluates all of them as rows of one
``problem.loss_and_grad`` call and takes an Adam step (``landscope.optim.Adam``) on c.
c starts at the midpoint (theta_A + theta_B)/2, where both curves are the straight
segment. The fit runs under the optimization driver (``landscope.optim.run``): the
sampled objective is a stochastic problem over control points (``_CurveLoss``, which
holds the generator), trained for exactly ``steps`` Adam steps; the driver also evaluates
the final control point (one more draw of t), and a non-finite gradient stops the fit
(status ``"not_converged"``).

The result is a ``Path`` whose beads are the curve sampled at ``beads`` equally spaced t
(33 by default, so the polygon's length approximates the curve's); with an odd count
the middle bead is gamma_c(1/2), from which c is recovered: c = 2 gamma(1/2) -
(theta_A + theta_B)/2 for Bezier, c = gamma(1/2) for the chain.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import torch

from ..optim import Adam, Stop, run
from ..problems import Problem
from .interpolate import as_endpoint, profile
from .path import Path

__all__ = ["bezier_points", "chain_points", "fit_bezier", "fit_chain"]


def bezier_points(
    theta_a: torch.Tensor, control: torch.Tensor, theta_b: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """gamma(t) = (1-t)^2 A + 2t(1-t) c + t^2 B at each t (M,): (M, P)."""
    t = t[:, None]
    return (1 - t) ** 2 * theta_a + 2 * t * (1 - t) * control + t**2 * theta_b


def chain_points(
    theta_a: torch.Tensor, control: torch.Tensor, theta_b: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """The polygon A -> c -> B, with c at t = 1/2, at each t (M,): (M, P)."""
    t = t[:, None]
    first = theta_a + 2 * t * (control - theta_a)
    second = control + (2 * t - 1) * (theta_b - control)
    return torch.where(t <= 0.5, first, second)


def _bezier_weight(t: torch.Tensor) -> torch.Tensor:
    return 2 * t * (1 - t)


def _chain_weight(t: torch.Tensor) -> torch.Tensor:
    return 1 - (2 * t - 1).abs()


Curve = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

_DIVERGED = 3  # code of landscope.optim.STATUS
# Stop.diverge of the fit: only a non-finite gradient ends it (a huge finite one is
# harmless to Adam, whose step is scale-free).
_FINITE_ONLY = sys.float_info.max


class _CurveLoss:
    """The sampled loss along curves theta_A -> c -> theta_B, a problem over rows c (R, P).

    Each evaluation draws ``samples`` stratified t per row from ``generator`` (so it is a
    stochastic problem: two calls at the same c differ), evaluates the curve points of
    all rows in one ``problem.loss_and_grad`` call and returns the mean loss (R,) and the
    estimate mean_t w(t) grad L(gamma_c(t)) (R, P) of the gradient in c. Its stopping
    norm (``StopNorm``) is the largest entry of the gradient.
    """

    def __init__(
        self,
        problem: Problem,
        theta_a: torch.Tensor,
        theta_b: torch.Tensor,
        curve: Curve,
        weight: Callable[[torch.Tensor], torch.Tensor],
        samples: int,
        generator: torch.Generator | None,
    ) -> None:
        self.problem, self.theta_a, self.theta_b = problem, theta_a, theta_b
        self.curve, self.weight, self.samples, self.generator = curve, weight, samples, generator
        self.n_params = theta_a.shape[0]
        self.bins = torch.arange(samples, dtype=theta_a.dtype, device=theta_a.device)

    def loss_and_grad(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        R, S, a = c.shape[0], self.samples, self.theta_a
        # drawn on the CPU: the same generator gives the same t on any device
        u = torch.rand(R, S, generator=self.generator, dtype=a.dtype, device="cpu").to(a.device)
        t = (self.bins + u) / S  # (R, S)
        pts = self.curve(a, c.repeat_interleave(S, dim=0), self.theta_b, t.reshape(-1))
        loss, g = self.problem.loss_and_grad(pts)
        gc = (self.weight(t)[..., None] * g.reshape(R, S, -1)).mean(1)
        return loss.reshape(R, S).mean(1), gc

    def loss(self, c: torch.Tensor) -> torch.Tensor:
        return self.loss_and_grad(c)[0]

    def grad(self, c: torch.Tensor) -> torch.Tensor:
        return self.loss_and_grad(c)[1]

    def stop_norm(self, grad: torch.Tensor) -> torch.Tensor:
        """max_i |g_i| (R,): non-finite exactly when an entry is (the l2 norm overflows
        from |g| ~ 1e154 on, where Adam's scale-free step is still fine), 0 when g is."""
        return grad.abs().amax(dim=1)


def _fit(
    problem: Problem,
    theta_a: object,
    theta_b: object,
    *,
    curve: Curve,
    weight: Callable[[torch.Tensor], torch.Tensor],
    method: str,
    steps: int,
    lr: float,
    samples: int,
    generator: torch.Generator | None,
    control: object | None,
    beads: int,
    points_per_segment: int,
) -> Path:
    for name, val, least in (("steps", steps, 0), ("samples", samples, 1), ("beads", beads, 3)):
        if isinstance(val, bool) or not isinstance(val, int) or val < least:
            raise ValueError(f"{name} must be an integer >= {least}, got {val!r}.")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a positive finite number, got {lr!r}.")
    a = as_endpoint(problem, theta_a, "theta_a")
    b = as_endpoint(problem, theta_b, "theta_b")
    c = (0.5 * (a + b) if control is None else as_endpoint(problem, control, "control"))[None]
    objective = _CurveLoss(problem, a, b, curve, weight, samples, generator)
    stop = Stop(grad_tol=0.0, max_steps=steps, diverge=_FINITE_ONLY)
    res = run(objective, c, Adam(lr=lr), stop=stop)
    c, ok = res.theta, int(res.status[0]) != _DIVERGED
    ts = torch.linspace(0, 1, beads, dtype=a.dtype, device=a.device)
    pts = curve(a, c[0], b, ts)
    pts[0], pts[-1] = a, b
    tp, loss = profile(problem, pts, points_per_segment=points_per_segment)
    bead_loss = loss[::points_per_segment]
    return Path(
        beads=pts,
        bead_loss=bead_loss,
        t=tp,
        loss=loss,
        method=method,
        status="connected" if ok else "not_converged",
    )


def fit_bezier(
    problem: Problem,
    theta_a: object,
    theta_b: object,
    *,
    steps: int = 500,
    lr: float = 1e-2,
    samples: int = 16,
    generator: torch.Generator | None = None,
    control: object | None = None,
    beads: int = 33,
    points_per_segment: int = 4,
) -> Path:
    """Fit a quadratic Bezier curve theta_A -> theta_B minimizing E_t L(gamma(t)).

    Args:
        problem: any Problem.
        theta_a, theta_b: the fixed endpoints (P,) or (1, P).
        steps: Adam steps on the control point.
        lr: Adam's learning rate (parameter units per step).
        samples: stratified t per step, evaluated as one batch.
        generator: draws the t (explicit randomness; None uses torch's global one).
        control: a starting control point (P,); default the midpoint.
        beads: curve points in the returned Path (>= 3; odd keeps gamma(1/2) a bead).
        points_per_segment: loss samples per bead segment for ``Path.t``/``Path.loss``.

    Returns:
        Path with method ``"bezier"``: status ``"connected"`` (the fit has no level), or
        ``"not_converged"`` if the gradient turned non-finite (the fit stopped there).

    Raises:
        ValueError: for mis-shaped or non-finite endpoints, steps < 0, samples < 1,
            beads < 3 or a non-positive lr.
    """
    return _fit(
        problem,
        theta_a,
        theta_b,
        curve=bezier_points,
        weight=_bezier_weight,
        method="bezier",
        steps=steps,
        lr=lr,
        samples=samples,
        generator=generator,
        control=control,
        beads=beads,
        points_per_segment=points_per_segment,
    )


def fit_chain(
    problem: Problem,
    theta_a: object,
    theta_b: object,
    *,
    steps: int = 500,
    lr: float = 1e-2,
    samples: int = 16,
    generator: torch.Generator | None = None,
    control: object | None = None,
    beads: int = 33,
    points_per_segment: int = 4,
) -> Path:
    """Fit a polygonal chain theta_A -> c -> theta_B minimizing E_t L(gamma(t)).

    Same arguments and result as ``fit_bezier`` (method ``"chain"``); the bend c is the
    middle bead when ``beads`` is odd. The Path's beads sample the chain at equally
    spaced t, so with an odd count the polygon through them is the chain itself.
    """
    return _fit(
        problem,
        theta_a,
        theta_b,
        curve=chain_points,
        weight=_chain_weight,
        method="chain",
        steps=steps,
        lr=lr,
        samples=samples,
        generator=generator,
        control=control,
        beads=beads,
        points_per_segment=points_per_segment,
    )
