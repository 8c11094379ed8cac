"""FIRE, the fast inertial relaxation engine, as a driver method with per-row state.

Bitzek, Bitzek, Koskinen, Gumbsch & Moseler, "Structural relaxation made simple", PRL 97,
170201 (2006): molecular dynamics on the force F = -grad, with a friction that is tuned on
the fly. Each row r is one system with its own velocity v, time step dt, mixing factor
alpha and count n_pos of consecutive steps with positive power. One iteration:

    P = F . v                                   (the power, over the whole row)
    if P > 0:   v <- (1 - alpha) v + alpha |v| F / |F|,   n_pos <- n_pos + 1,
                and once n_pos > n_min:  dt <- min(f_inc dt, dt_max),  alpha <- f_alpha alpha
    else:       v <- 0,  n_pos <- 0,  alpha <- alpha0,  dt <- f_dec dt
    v <- v + dt F,   dx = dt v,   theta <- theta + dx

(the power test and the mixing come before a semi-implicit Euler move). The velocity starts
at 0, so the first iteration takes the ``P <= 0`` branch and halves dt0 once. Each block of
``block`` consecutive coordinates (an atom, an image of an elastic band; the whole row when
``block`` is None) moves at most ``max_step`` per iteration: its displacement is scaled down
to that length, which keeps the first iterations safe on steep problems (the maximum
displacement of molecular-dynamics codes). Defaults are the paper's: n_min = 5, f_inc = 1.1,
f_dec = 0.5, alpha0 = 0.1, f_alpha = 0.99, dt_max = 10 dt0.

``dt0``, ``dt_max`` and ``max_step`` may be numbers or (R,) tensors (one value per row, as
when several elastic bands of different scales run in one batch); they live in the state,
so the driver's compaction keeps them aligned with the rows. FIRE needs no loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .driver import MethodBase, Step

__all__ = ["FIRE"]

Scalar = float | torch.Tensor


def _check_positive(name: str, x: Scalar | None) -> None:
    if x is None:
        return
    if isinstance(x, torch.Tensor):
        if x.ndim > 1 or not bool((torch.isfinite(x) & (x > 0)).all()):
            raise ValueError(
                f"{name} must hold positive finite numbers, one per row or one in all."
            )
        return
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {x!r}.")


def _per_row(name: str, x: Scalar, theta: torch.Tensor) -> torch.Tensor:
    R = theta.shape[0]
    t = torch.as_tensor(x, dtype=theta.dtype, device=theta.device)
    if t.ndim == 1 and t.shape[0] != R:
        raise ValueError(f"{name} has {t.shape[0]} values for {R} rows; give one per row.")
    return t.expand(R).clone()


@dataclass(frozen=True, eq=False)
class FIRE(MethodBase):
    """FIRE (Bitzek et al. 2006) on every row; steps counted: iterations.

    Attributes:
        dt0: initial time step (number or (R,) tensor).
        dt_max: largest time step (number or (R,) tensor); None for 10 dt0.
        max_step: largest displacement of one block per iteration (number or (R,)
            tensor); None for no cap.
        block: coordinates per block for ``max_step`` (must divide P); None: the whole row.
        n_min: positive-power steps before dt may grow and alpha shrink.
        f_inc, f_dec: factors of dt after a long positive run / at a negative power.
        alpha0, f_alpha: initial mixing factor and its decay.
    """

    dt0: Scalar = 0.1
    dt_max: Scalar | None = None
    max_step: Scalar | None = None
    block: int | None = None
    n_min: int = 5
    f_inc: float = 1.1
    f_dec: float = 0.5
    alpha0: float = 0.1
    f_alpha: float = 0.99
    name = "fire"
    needs_loss = False

    def __post_init__(self) -> None:
        _check_positive("dt0", self.dt0)
        _check_positive("dt_max", self.dt_max)
        _check_positive("max_step", self.max_step)
        if self.block is not None and (
            isinstance(self.block, bool) or not isinstance(self.block, int) or self.block < 1
        ):
            raise ValueError(f"block must be None or an integer >= 1, got {self.block!r}.")
        if isinstance(self.n_min, bool) or not isinstance(self.n_min, int) or self.n_min < 0:
            raise ValueError(f"n_min must be an integer >= 0, got {self.n_min!r}.")
        if not (self.f_inc >= 1 and 0 < self.f_dec < 1):
            raise ValueError(
                f"need f_inc >= 1 and 0 < f_dec < 1, got {self.f_inc!r}, {self.f_dec!r}."
            )
        if not (0 < self.alpha0 < 1 and 0 < self.f_alpha <= 1):
            raise ValueError(
                f"need 0 < alpha0 < 1 and 0 < f_alpha <= 1, got {self.alpha0!r}, {self.f_alpha!r}."
            )

    def init(self, problem, theta: torch.Tensor) -> dict[str, torch.Tensor | None]:
        P = theta.shape[1]
        if self.block is not None and P % self.block != 0:
            raise ValueError(f"block {self.block} does not divide the row length {P}.")
        dt = _per_row("dt0", self.dt0, theta)
        dt_max = 10 * dt if self.dt_max is None else _per_row("dt_max", self.dt_max, theta)
        step = None if self.max_step is None else _per_row("max_step", self.max_step, theta)
        return {
            "v": torch.zeros_like(theta),
            "dt": dt,
            "alpha": torch.full_like(dt, self.alpha0),
            "n_pos": torch.zeros(theta.shape[0], dtype=torch.long, device=theta.device),
            "dt_max": dt_max,
            "max_step": step,
        }

    def update(self, problem, theta, loss, grad, state) -> Step:
        v, dt, alpha, n_pos = state["v"], state["dt"], state["alpha"], state["n_pos"]
        F = -grad
        up = (F * v).sum(1) > 0
        vn = torch.linalg.vector_norm(v, dim=1)
        fn = torch.linalg.vector_norm(F, dim=1)
        # rows with P <= 0 take v = 0 below, so a zero or overflowing mix there is harmless
        mixed = (1 - alpha)[:, None] * v + (alpha * vn)[:, None] * F / fn.clamp_min(1e-300)[:, None]
        n_pos = torch.where(up, n_pos + 1, 0)
        fast = up & (n_pos > self.n_min)
        dt = torch.where(
            fast,
            torch.minimum(dt * self.f_inc, state["dt_max"]),
            torch.where(up, dt, dt * self.f_dec),
        )
        alpha = torch.where(fast, alpha * self.f_alpha, torch.where(up, alpha, self.alpha0))
        v = torch.where(up[:, None], mixed, 0.0) + dt[:, None] * F
        dx = dt[:, None] * v
        if state["max_step"] is not None:
            R, P = theta.shape
            d = dx.reshape(R, -1, P if self.block is None else self.block)
            dn = torch.linalg.vector_norm(d, dim=2, keepdim=True)
            scale = torch.clamp(
                dn.clamp_min(1e-300).reciprocal() * state["max_step"][:, None, None], max=1.0
            )
            dx = (d * scale).reshape(R, P)
        new = {**state, "v": v, "dt": dt, "alpha": alpha, "n_pos": n_pos}
        return Step(theta + dx, new)
