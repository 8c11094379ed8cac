"""Dropout and Dropconnect on shallow linear nets: where gradient flow ends, and how fast.

Senen-Cerda & Sanders, "Asymptotic convergence rate of Dropout on shallow linear neural
networks" (SIGMETRICS 2022): gradient flow on the expected Dropout (masks on hidden units)
or Dropconnect (masks on first-layer weights) objective of f(x) = U V x converges locally,
at a rate set by the data, the keep probability and the width. This study runs gradient
flow from many starts at once, measures each run's asymptotic rate, and compares it with
the exact local rate from the Hessian at the run's limit, over keep, width, kind and data.

Run it::

    landscope run dropout-rate                  # 2 kinds x 3 keeps x 3 widths x 2 data x 6 seeds
    landscope run dropout-rate --set keep=0.3,0.5,0.7,0.9 --set width=4 --seeds 20
    landscope show dropout-rate --format json; landscope plot dropout-rate

Setup (``landscope.problems.DropoutLinear``): m = ``samples`` inputs in d_in = ``d_in``
dimensions, ``whitened`` (X'X/m = I exactly) or ``correlated`` (covariance with
correlations 0.5 and scales 1 .. 0.4), targets Y = X M' + 0.5 noise with a fixed random M
(d_out x d_in): one data set per cell, the same for every seed. Each run starts at U ~
N(0, s^2/r), V ~ N(0, s^2/d_in), s = ``init_scale``.

Protocol:

1. ``Train`` (``RateGD``): gradient descent, with step ``step_frac`` / lambda_max(H) (the
   Hessian's largest eigenvalue, the largest over the cell's rows) set afresh in ``stages``
   stages until ||grad|| <= ``tail_from``; then one more stage at a fixed step eta, set the
   same way there, down to ||grad|| <= ``grad_tol``, with ||grad|| recorded every
   ``record_every`` steps. GD with a fixed step is the Euler scheme of the flow; on the
   linearization at the limit each normal mode contracts by exactly (1 - eta h) per step,
   so the per-step factor rho fitted to log ||grad|| over the recorded tail (||grad|| from
   ``tail_from`` x 1e-1 down to ``grad_tol`` x 1e2) gives the flow's rate with no step-size
   bias: ``rate_measured`` = (1 - rho) / eta. ``flow_time`` is the sum of the steps.
2. ``Measure``: the dense Hessian's spectrum at the limit (``landscope.spectrum``):
   ``zero_modes`` (eigenvalues with |h| <= ``zero_tol`` x the largest: the dimension of the
   set of minimizers through the limit, the factorization's symmetry) and ``rate_exact``,
   the smallest eigenvalue above them (the slowest normal direction: the asymptotic rate of
   ||theta - theta_inf|| and of ||grad||; L - L* falls at twice it). ``rate_bound``: the
   same eigenvalue at the balanced point of the limit's scaling orbit (each unit rescaled
   to ||u_i|| = ||v_i||, which keeps L; see "Bound" below). For whitened data also the gap
   to the closed-form minimum and ||UV - W*|| (``landscope.problems.whitened_minimizer``).
   ``s_min``: the smallest nonzero singular value of U V (a unit direction about to switch
   on or off as keep varies makes it, and the rate, small).
   ``dim_formula`` = r kappa - kappa (kappa + 1)/2 + 1, kappa the rank of UV at the limit,
   and ``dim_match``, whether it equals ``zero_modes`` (see "Minimizers" below).
   ``rate_ode``, ``rate_ode_exact``, ``ode_gap`` (first run only): the same flow
   integrated by an adaptive stiff ODE solver (scipy's LSODA with the closed-form Hessian as
   Jacobian) to the same flow time: its measured rate, the exact rate at its own end point
   (GD at a finite step ends at another point of the same set of minimizers, where the
   rate may differ), and the relative distance of its end point to GD's.
3. ``Measure`` (SGD): the same starts trained with sampled masks (one mask per sample and
   step, ``sgd_steps`` steps at GD's tail step): ``sgd_path`` = the largest relative
   distance of UV to the expected-loss GD iterate at the same step (every 1/20 of the
   run), ``sgd_end`` = the relative distance of the last iterate's UV to the GD limit's,
   ``sgd_excess`` = L(theta_SGD) - L(theta_GD limit).

Bound. The paper's bound (its Theorem on the rate, in terms of the data, keep and width)
could not be read here: the workplace has no internet, and its library holds only the
abstract. ``rate_bound`` is a bound of the same kind derived here: the rate at the
balanced minimizer of the run's orbit. For one unit (r = 1) the normal curvature at a
minimizer is (1 + lambda)(|u|^2 + |v|^2) >= 2 (1 + lambda) |u||v|, equality at balance, so
the balanced point is the slowest point of its orbit; for r > 1 that it lower-bounds the
orbit is checked in every run (``bound_holds``), not proved.

Minimizers. For whitened data every minimizer has U V = W* (closed form, rank kappa) and
units with equal shares ||u_i|| ||v_i|| = ||W*||_* / r, which the nuclear-norm bound makes
tight only for u_i = P S^(1/2) o_i t_i, v_i = Q S^(1/2) o_i / t_i (W* = P S Q', o_i the
columns of a kappa x r matrix with orthonormal rows, t_i != 0 a scale per unit) with
o_i' S o_i = tr(S) / r for every i. So the set is a Stiefel manifold (r kappa - kappa
(kappa + 1)/2 dimensions) times the r unit scalings, cut by r - 1 equal-share
conditions: r kappa - kappa (kappa + 1)/2 + 1 dimensions, (kappa - 1)(r - (kappa + 2)/2)
more than the r of the rescalings alone (r = 8, kappa = 3: 19, not 8). The measured
zero modes give the dimension of the set through each limit, for correlated data too.

Expected (measured at default size, 6 runs per cell: 140 s on a 2-core VM, alone):

- **Measured = exact.** The fitted rate matches the Hessian's normal eigenvalue at the
  run's limit within 3.3 % in every cell (median |measured / exact - 1| per cell 1e-9 to
  0.033; single runs within 11 %), from 0.001 to 0.75. Every run converges (||grad||
  <= 1e-11); whitened runs end at the closed-form W* (||UV - W*|| <= 3e-11, L - L* <=
  1e-14).
- **Whitened data: Dropout = Dropconnect** (the same objective), cell for cell.
- **Minimizer dimension.** ``zero_modes`` equals r kappa - kappa (kappa + 1)/2 + 1 in
  every run, whitened or not, both kinds: 2 (r = 2), 4 / 6 / 7 (r = 4, kappa = 1 / 2 /
  3), 14 / 19 (r = 8, kappa = 2 / 3).
- **What sets the rate.** Not keep or width alone: it varies up to 4x between runs of one
  cell (the limit's place on its set of minimizers: the ODE's end point, 0.5-3 % from
  GD's, has an exact rate 0.74-1.45 times GD's), and collapses where the minimizer's
  rank is about to change: 0.0010 (dropout, correlated, q = 0.7, r = 8: smallest singular
  value of UV 0.0026, just switched on) and 0.0012 (dropconnect, correlated, q = 0.5,
  r = 4: rank 1, a second direction just below the shrinkage threshold), against 0.02-0.2
  elsewhere. Those two cells take 25-33 s of the 140.
- **Bound.** The balanced-point rate is not a lower bound for r >= 2: it is above the
  exact rate in 90 % of the runs (median ratio per cell 1.0004-1.21; the balanced point
  is the slowest of its orbit only for r = 1).
- **ODE.** LSODA's rate matches the exact rate at its own end point within 10 % (largest
  gap 9.9 %, whitened q = 0.5, r = 8).
- **SGD** with sampled masks at GD's step (eta lambda_max = 1), 4,000 steps: UV ends
  1.7-11 % from the expected-loss limit (path up to 4-23 % from GD's iterates), excess
  loss 0.002-0.09, largest for q = 0.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.integrate import solve_ivp

from ..optim import GD, SampledGD, Stop, run
from ..optim.driver import RunResult, View
from ..problems import DropoutLinear
from ..problems.dropout_linear import KINDS, whitened_minimizer
from ..spectrum import dense_spectrum
from ._checks import at_least, between, one_of, positive
from ._params import max_steps
from ._study import Grid, Param, Results, Study
from .figures import FigureSpec, Line, Panel, floats
from .protocol import Cell, Measure, Progress, Protocol, Train
from .summary import Agg, SummarySpec, param_keys

__all__ = ["DATA", "PROTOCOL", "STUDY", "fit_rate", "make_data", "make_problem", "normal_rate"]

DATA = ("whitened", "correlated")

PARAMS = (
    Param("kind", str, KINDS, "dropout (unit masks) or dropconnect (weight masks)",
          one_of("kind", KINDS)),
    Param("keep", float, (0.5, 0.7, 0.9), "probability q that a unit / weight is kept",
          between("keep", 0, 1, include_hi=True)),
    Param("width", int, (2, 4, 8), "hidden units r", at_least("width", 1)),
    Param("data", str, DATA, "whitened (X'X/m = I) or correlated inputs", one_of("data", DATA)),
    Param("d_in", int, (4,), "input dimension", at_least("d_in", 1)),
    Param("d_out", int, (3,), "output dimension", at_least("d_out", 1)),
    Param("samples", int, (64,), "samples m", at_least("samples", 1)),
    Param("data_seed", int, (0,), "seed of the data set (shared by the cell's runs)",
          at_least("data_seed", 0)),
    Param("init_scale", float, (0.5,), "U ~ N(0, s^2/r), V ~ N(0, s^2/d_in)",
          positive("init_scale")),
    Param("step_frac", float, (1.0,), "GD step x lambda_max(H), set per stage",
          between("step_frac", 0, 2)),
    Param("stages", int, (8,), "stages before the tail, each with the step set afresh",
          at_least("stages", 1)),
    Param("tail_from", float, (1e-5,), "the recorded tail starts at ||grad|| <= tail_from",
          positive("tail_from")),
    Param("grad_tol", float, (1e-11,), "GD stops at ||grad|| <= grad_tol", positive("grad_tol")),
    max_steps(400_000, "GD steps per run, all stages"),
    Param("record_every", int, (1,), "steps between records of ||grad|| in the tail",
          at_least("record_every", 1)),
    Param("zero_tol", float, (1e-7,), "zero modes: |h| <= zero_tol x lambda_max",
          positive("zero_tol")),
    Param("sgd_steps", int, (4000,), "steps of the sampled-mask SGD runs (0: none)",
          at_least("sgd_steps", 0)),
)  # fmt: skip


# ------------------------------------------------------------------------------ data
def make_data(cfg: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(X (m, d_in), Y (m, d_out)) of the cell, float64, from ``data_seed``."""
    g = torch.Generator().manual_seed(int(cfg["data_seed"]))
    m, d, o = cfg["samples"], cfg["d_in"], cfg["d_out"]
    Z = torch.randn(m, d, generator=g, dtype=torch.float64)
    if cfg["data"] == "whitened":
        if m < d:
            raise ValueError(f"whitened data need samples >= d_in; got {m} < {d}.")
        L = torch.linalg.cholesky(Z.T @ Z / m)
        X = torch.linalg.solve_triangular(L, Z.T, upper=False).T  # X'X/m = I
    else:
        scales = torch.linspace(1.0, 0.4, d, dtype=torch.float64)
        corr = 0.5 * torch.ones(d, d, dtype=torch.float64) + 0.5 * torch.eye(d, dtype=torch.float64)
        X = Z @ torch.linalg.cholesky(corr * scales[:, None] * scales[None]).T
    M = torch.randn(o, d, generator=g, dtype=torch.float64)
    Y = X @ M.T + 0.5 * torch.randn(m, o, generator=g, dtype=torch.float64)
    return X, Y


def make_problem(cfg: dict, dtype: str = "float64", device: str = "cpu") -> DropoutLinear:
    """The expected-loss problem of one cell."""
    X, Y = make_data(cfg)
    dt = torch.float64 if dtype == "float64" else torch.float32
    return DropoutLinear(X.to(device=device, dtype=dt), Y.to(device=device, dtype=dt),
                         width=cfg["width"], keep=cfg["keep"], kind=cfg["kind"],
                         init_scale=cfg["init_scale"])  # fmt: skip


def _validate(cfg: dict) -> None:
    if cfg["data"] == "whitened" and cfg["samples"] < cfg["d_in"]:
        raise ValueError(
            f"whitened data need samples >= d_in; got {cfg['samples']} < {cfg['d_in']}."
        )
    if cfg["grad_tol"] >= cfg["tail_from"]:
        raise ValueError(f"grad_tol ({cfg['grad_tol']:g}) must be below tail_from "
                         f"({cfg['tail_from']:g}): the tail runs from one to the "
                         "other.")  # fmt: skip


# -------------------------------------------------------------------------- analysis
def _sharpness(problem: DropoutLinear, theta: torch.Tensor) -> float:
    """max over rows of lambda_max(H)."""
    return float(torch.linalg.eigvalsh(problem.hessian(theta))[:, -1].max())


def normal_rate(
    problem: DropoutLinear, theta: torch.Tensor, zero_tol: float = 1e-7
) -> tuple[np.ndarray, np.ndarray]:
    """(rate, zero_modes) per row: the smallest Hessian eigenvalue above the zero cluster
    (|h| <= zero_tol x lambda_max) and the cluster's size."""
    eigs = dense_spectrum(problem, theta)
    top = eigs[:, -1:].abs()
    zero = eigs.abs() <= zero_tol * top
    above = torch.where(zero | (eigs < 0), torch.inf, eigs)
    return above.min(1).values.cpu().numpy(), zero.sum(1).cpu().numpy()


def balanced(problem: DropoutLinear, theta: torch.Tensor) -> torch.Tensor:
    """Each unit rescaled to ||u_i|| = ||v_i|| (u_i t, v_i / t): the same L and U V."""
    U, V = problem.split(theta)
    nu, nv = U.norm(dim=1), V.norm(dim=2)
    t = torch.sqrt(nv / nu.clamp_min(1e-300))
    t = torch.where((nu > 0) & (nv > 0), t, torch.ones_like(t))
    return problem.join(U * t[:, None, :], V / t[..., None])


def fit_rate(records: np.ndarray, steps: np.ndarray, lo: float, hi: float) -> float:
    """The per-step factor rho of ||grad|| fitted over records with lo <= ||grad|| <= hi
    (least squares on log ||grad|| against the step); NaN with fewer than 3 records."""
    keep = (records >= lo) & (records <= hi) & np.isfinite(records)
    if keep.sum() < 3:
        return math.nan
    slope = np.polyfit(steps[keep].astype(float), np.log(records[keep]), 1)[0]
    return float(math.exp(slope))


# ------------------------------------------------------------------------- training
class _Recorder:
    """Observer: ||grad|| of every active row every ``every`` driver iterations."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.log: list[tuple[int, torch.Tensor, torch.Tensor]] = []

    def __call__(self, view: View) -> None:
        if view.step % self.every == 0:
            self.log.append((view.step, view.rows.clone(), view.grad_norm.clone()))

    def rows(self, R: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """(steps, ||grad||) of each row, in the order recorded."""
        if not self.log:
            return [(np.zeros(0), np.zeros(0))] * R
        steps = torch.cat([torch.full((len(r),), s) for s, r, _ in self.log]).numpy()
        rows = torch.cat([r for _, r, _ in self.log]).cpu().numpy()
        norms = torch.cat([g for _, _, g in self.log]).double().cpu().numpy()
        return [(steps[rows == r], norms[rows == r]) for r in range(R)]


@dataclass(frozen=True)
class RateGD(Train):
    """``Train`` by staged GD to the tail, then a fixed step with ||grad|| recorded."""

    def train(self, cell: Cell, theta: torch.Tensor) -> RunResult:
        cfg, prob = cell.cfg, cell.problem
        R = theta.shape[0]
        steps = torch.zeros(R, dtype=torch.long)
        time = torch.zeros(R, dtype=torch.float64)
        budget = cfg["max_steps"]
        per_stage = max(budget // (2 * cfg["stages"]), 1)
        theta = theta.clone()
        todo = torch.arange(R)
        for k in range(cfg["stages"]):
            lr = cfg["step_frac"] / _sharpness(prob, theta[todo])
            watch = [Progress(cell.ctx.progress, f"stage {k + 1}", every=2000)]
            stop = Stop(grad_tol=cfg["tail_from"], max_steps=per_stage)
            part = run(prob, theta[todo], GD(lr), stop=stop, observers=watch)
            theta[todo] = part.theta
            steps[todo] += part.steps.cpu()
            time[todo] += lr * part.steps.cpu().to(torch.float64)
            todo = todo[part.status.cpu() == 2]  # still short of the tail: another stage
            if not len(todo):
                break
        eta = cfg["step_frac"] / _sharpness(prob, theta)
        rec = _Recorder(cfg["record_every"])
        watch = [Progress(cell.ctx.progress, "tail", every=2000), rec]
        stop = Stop(grad_tol=cfg["grad_tol"], max_steps=max(budget - int(steps.max()), 1))
        res = run(prob, theta, GD(eta), stop=stop, observers=watch)
        steps += res.steps.cpu()
        time += eta * res.steps.cpu().to(torch.float64)
        lo, hi = 1e2 * cfg["grad_tol"], 1e-1 * cfg["tail_from"]
        tails = rec.rows(R)
        rho = np.array([fit_rate(g, st, lo, hi) for st, g in tails])
        cell.columns["flow_time"] = time.numpy()
        cell.columns["eta"] = np.full(R, eta)
        cell.columns["rate_measured"] = (1.0 - rho) / eta
        # the tail's record for the figure, at most ~200 points a run
        thin = [slice(None, None, max(len(st) // 200, 1)) for st, _ in tails]
        cell.columns["tail_t"] = [
            (st[k] * eta).tolist() for (st, _), k in zip(tails, thin, strict=True)
        ]
        cell.columns["tail_grad"] = [g[k].tolist() for (_, g), k in zip(tails, thin, strict=True)]
        return RunResult(res.theta, res.grad_norm, res.loss, steps, res.status, stop, "GD")

    def columns(self) -> dict[str, str]:
        return {**super().columns(), "flow_time": "DOUBLE", "eta": "DOUBLE",
                "rate_measured": "DOUBLE", "tail_t": "DOUBLE[]",
                "tail_grad": "DOUBLE[]"}  # fmt: skip


# ------------------------------------------------------------------------ measuring
def _ode(prob: DropoutLinear, theta0: torch.Tensor, t_end: float, lo: float, hi: float):
    """Gradient flow of one row by LSODA to t_end: (end point, rate fitted to ||grad||)."""

    def f(_t, y):
        return -prob.grad(torch.as_tensor(y)[None])[0].numpy()

    def jac(_t, y):
        return -prob.hessian(torch.as_tensor(y)[None])[0].numpy()

    t_eval = np.linspace(0.0, t_end, 2001)
    sol = solve_ivp(f, (0.0, t_end), theta0.numpy(), method="LSODA", jac=jac, t_eval=t_eval,
                    rtol=1e-12, atol=1e-15)  # fmt: skip
    ys = torch.as_tensor(sol.y.T)
    gn = prob.grad(ys).norm(dim=1).numpy()
    keep = (gn >= lo) & (gn <= hi)
    if keep.sum() < 3:
        return ys[-1], math.nan
    slope = np.polyfit(sol.t[keep], np.log(gn[keep]), 1)[0]
    return ys[-1], float(-slope)


def _measure(cell: Cell) -> dict[str, Any]:
    prob, cfg = cell.problem64, cell.cfg
    th = cell.theta.to(torch.float64).cpu()
    rate, zeros = normal_rate(prob, th, cfg["zero_tol"])
    bound, _ = normal_rate(prob, balanced(prob, th), cfg["zero_tol"])
    out: dict[str, Any] = {
        "rate_exact": rate,
        "zero_modes": zeros.astype(float),
        "rate_bound": bound,
        "bound_holds": (bound <= rate * (1 + 1e-6)).astype(float),
        "final_loss": prob.loss(th).numpy(),
        "balance": prob.conserved(th).abs().amax(1).numpy(),
    }
    if prob.whitened:
        wm = whitened_minimizer(prob.C, prob.width, prob.keep, prob.y_sq)
        out["gap_closed_form"] = (prob.loss(th) - wm.value).numpy()
        out["dist_closed_form"] = (prob.product(th) - wm.W).flatten(1).norm(dim=1).numpy()
        out["rank"] = np.full(cell.R, float(wm.active))
    else:
        out["gap_closed_form"] = np.full(cell.R, math.nan)
        out["dist_closed_form"] = np.full(cell.R, math.nan)
        out["rank"] = torch.linalg.matrix_rank(prob.product(th), rtol=1e-8).numpy().astype(float)
    sv = torch.linalg.svdvals(prob.product(th))  # (R, min(d_out, d_in)), descending
    k = torch.as_tensor(out["rank"]).long().clamp_min(1)
    out["s_min"] = sv.gather(1, (k - 1)[:, None])[:, 0].numpy()
    kappa, r = out["rank"], prob.width
    out["dim_formula"] = r * kappa - kappa * (kappa + 1) / 2 + 1
    out["dim_match"] = (out["dim_formula"] == out["zero_modes"]).astype(float)
    # one run of the flow by an adaptive ODE solver, to GD's flow time
    rate_ode, ode_gap, ode_exact = (np.full(cell.R, math.nan) for _ in range(3))
    lo, hi = 1e2 * cfg["grad_tol"], 1e-1 * cfg["tail_from"]
    t_end = float(cell.columns["flow_time"][0])
    cell.progress(0, "ODE")
    end, rate_ode[0] = _ode(prob, cell.theta0[0].to(torch.float64).cpu(), t_end, max(lo, 1e-11),
                            hi)  # fmt: skip
    ode_gap[0] = float((end - th[0]).norm() / th[0].norm())
    ode_exact[0] = normal_rate(prob, end[None], cfg["zero_tol"])[0][0]
    out["rate_ode"], out["ode_gap"], out["rate_ode_exact"] = rate_ode, ode_gap, ode_exact
    return out


class _Products:
    """Observer: U V of every active row at steps 0, ``every``, 2 ``every``, ... and ``last``."""

    def __init__(self, problem: DropoutLinear, every: int, last: int) -> None:
        self.problem, self.every, self.last = problem, every, last
        self.at: dict[int, torch.Tensor] = {}

    def __call__(self, view: View) -> None:
        if view.step % self.every == 0 or view.step == self.last:
            W = torch.full((view.total, self.problem.d_out, self.problem.d_in), math.nan,
                           dtype=view.theta.dtype)  # fmt: skip
            W[view.rows.cpu()] = self.problem.product(view.theta).cpu()
            self.at[view.step] = W


def _measure_sgd(cell: Cell) -> dict[str, Any]:
    """Sampled-mask SGD from the same starts, at GD's tail step, against expected-loss GD."""
    prob, cfg = cell.problem64, cell.cfg
    n = cfg["sgd_steps"]
    nan = np.full(cell.R, math.nan)
    if n == 0:
        return {"sgd_path": nan, "sgd_end": nan, "sgd_excess": nan}
    eta = float(cell.columns["eta"][0])
    gen = torch.Generator().manual_seed(int(cell.seeds[0]) * 7919 + 17)
    theta0 = cell.theta0.to(torch.float64).cpu()
    stop = Stop(grad_tol=None, max_steps=n, diverge=math.inf)
    every = max(n // 20, 1)
    paths = []
    cell.progress(0, "SGD")
    for method in (GD(eta), SampledGD(eta, gen)):  # the expected loss, then sampled masks
        rec = _Products(prob, every, n)
        res = run(prob, theta0, method, stop=stop, observers=[rec])
        paths.append(rec.at)
    gd, sgd = paths
    rel = [((sgd[k] - gd[k]).flatten(1).norm(dim=1) / gd[k].flatten(1).norm(dim=1)).numpy()
           for k in sorted(gd) if k > 0]  # fmt: skip
    th = cell.theta.to(torch.float64).cpu()
    W_inf = prob.product(th)
    end = (prob.product(res.theta) - W_inf).flatten(1).norm(dim=1) / W_inf.flatten(1).norm(dim=1)
    return {"sgd_path": np.max(rel, axis=0), "sgd_end": end.numpy(),
            "sgd_excess": (prob.loss(res.theta) - prob.loss(th)).numpy()}  # fmt: skip


_DOUBLES = ("rate_exact", "zero_modes", "rate_bound", "bound_holds", "final_loss", "balance",
            "gap_closed_form", "dist_closed_form", "rank", "rate_ode", "ode_gap", "rate_ode_exact",
            "dim_formula", "dim_match", "s_min")  # fmt: skip

PROTOCOL = Protocol(
    make_problem=make_problem,
    steps=(
        RateGD(method=None, stop=None, label="GD"),
        Measure(_measure, dict.fromkeys(_DOUBLES, "DOUBLE")),
        Measure(_measure_sgd, dict.fromkeys(("sgd_path", "sgd_end", "sgd_excess"), "DOUBLE")),
    ),
)

SUMMARY = SummarySpec(
    keys=param_keys(PARAMS, "kind", "data", "keep", "width"),
    aggs=(
        Agg("rate_measured", how="median"),
        Agg("rate_exact", how="median"),
        Agg("rate_bound", how="median"),
        Agg("rate_ode", how="median"),
        Agg("rate_ode_exact", how="median"),
        Agg("ode_gap", how="max"),
        Agg("bound_holds", how="fraction"),
        Agg("zero_modes", how="median"),
        Agg("rank", how="median"),
        Agg("s_min", how="median"),
        Agg("dim_formula", how="median"),
        Agg("dim_match", how="fraction"),
        Agg("gap_closed_form", how="max"),
        Agg("dist_closed_form", how="max"),
        Agg("sgd_path", how="median"),
        Agg("sgd_end", how="median"),
        Agg("sgd_excess", how="median"),
        Agg("steps", how="median"),
        Agg("flow_time", how="median"),
        Agg("converged", "opt_status", "share", ("converged",)),
        Agg("tail_t", how="first"),
        Agg("tail_grad", how="first"),
    ),
    sort=lambda c: (c["kind"], c["data"], c["keep"], c["width"]),
)


def _summarize(rows: list[dict]) -> list[dict]:
    out = []
    for c in SUMMARY(rows):
        meas, exact = c["rate_measured"], c["rate_exact"]
        ok = meas is not None and exact is not None and exact > 0
        out.append({**c, "rate_error": abs(meas / exact - 1) if ok else None})
    return out


# --------------------------------------------------------------------------- figures
def _rate_panels(summary: list[dict], x: str, group: str) -> tuple[Panel, ...]:
    """One panel per (kind, data): per ``group`` value, measured (solid, dots), exact
    (dashed) and bound (dotted) rates against ``x``, in one colour."""
    panels = []
    combos = list(dict.fromkeys((c["kind"], c["data"]) for c in summary))
    for i, (kind, data) in enumerate(combos):
        cells = [c for c in summary if c["kind"] == kind and c["data"] == data]
        marks = []
        for j, g in enumerate(sorted({c[group] for c in cells})):
            row = sorted((c for c in cells if c[group] == g), key=lambda c: c[x])
            xs = floats([c[x] for c in row])
            name = "r" if group == "width" else "q"
            for key, style, label in (
                ("rate_measured", "-", f"{name} = {g:g} measured"),
                ("rate_exact", "--", "exact" if j == 0 else None),
                ("rate_bound", ":", "bound" if j == 0 else None),
            ):
                ys = floats([c[key] if c[key] is not None else math.nan for c in row])
                marks.append(
                    Line(
                        xs,
                        ys,
                        label,
                        color=f"C{j}",
                        linestyle=style,
                        marker="o" if style == "-" else None,
                        markersize=4,
                    )
                )
        panels.append(Panel(tuple(marks), title=f"{kind}, {data}", xlabel=x,
                            ylabel="asymptotic rate" if i == 0 else None, yscale="log",
                            legend=i == 0))  # fmt: skip
    return tuple(panels)


def figures(summary: list[dict]) -> list[FigureSpec]:
    """Rate vs keep (one line per width) and vs width (one per keep), each panel a kind and
    data set: measured, exact and bound; and ||grad|| along the tail for a few cells."""
    specs = []
    for x, group, what in (("keep", "width", "keep probability q"), ("width", "keep", "width r")):
        panels = _rate_panels(summary, x, group)
        if panels:
            specs.append(FigureSpec(f"dropout-rate-vs-{x}", panels,
                                    title=f"Asymptotic rate of the flow vs {what}",
                                    ncols=min(len(panels), 2),
                                    size=(9.0, 3.4 * math.ceil(len(panels) / 2)),
                                    dpi=130))  # fmt: skip
    marks = []
    # one kind at its middle keep: every (data, width), up to 6 lines
    kind = summary[0]["kind"] if summary else None
    keeps = sorted({c["keep"] for c in summary if c["kind"] == kind})
    mid = keeps[len(keeps) // 2] if keeps else None
    picks = [c for c in summary if c["kind"] == kind and c["keep"] == mid][:6]
    for i, c in enumerate(picks):
        if c.get("tail_t") and c.get("tail_grad"):
            g = np.log10(np.maximum(np.asarray(c["tail_grad"]), 1e-300))
            t = np.asarray(c["tail_t"])
            label = f"{c['data']}, r = {c['width']}"
            marks.append(Line(floats(t - t[0]), floats(g), label, color=f"C{i}"))
    if marks:
        panel = Panel(tuple(marks), xlabel="flow time in the tail", legend=True,
                      ylabel="log10 ||grad|| (first run)")  # fmt: skip
        specs.append(FigureSpec("dropout-rate-tails", (panel,),
                                title=f"||grad|| along the flow's tail ({kind}, q = {mid:g})",
                                size=(6.4, 4.2), dpi=130))  # fmt: skip
    return specs


TABLE = (
    ("kind", "kind", "s"),
    ("data", "data", "s"),
    ("keep", "keep", "g"),
    ("width", "r", "d"),
    ("runs", "runs", "d"),
    ("rate_measured", "measured", ".4g"),
    ("rate_exact", "exact", ".4g"),
    ("rate_bound", "bound", ".4g"),
    ("rate_error", "|m/e-1|", ".1e"),
    ("zero_modes", "zeros", ".0f"),
    ("sgd_end", "SGD end", ".2g"),
    ("wall_s", "wall s", ".1f"),
)

GRID = Grid(PARAMS, seeds=6, validate=_validate)
RESULTS = Results(_summarize, TABLE, figures)
STUDY = Study(name="dropout-rate", doc=__doc__, grid=GRID, protocol=PROTOCOL, results=RESULTS)
