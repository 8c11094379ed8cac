"""Shallow quadratic networks: when spurious critical points vanish (Kazemipour et al. 2019).

Kazemipour, Larsen & Druckmann, "No spurious local minima in training deep quadratic
networks" (2019). A network f(x) = sum_j a_j (w_j . x)^2 (+ g |x|^2) is trained on m
Gaussian samples of a target and compared with the convex lifted least-squares optimum
M* (``landscope.convex.lifted_least_squares``), which is the global minimum of the
network loss once h >= d.

Run it::

    landscope run quadratic-nets                 # 3 setups x 4 variants x h = 1..20, d = 10
    landscope show quadratic-nets --format json; landscope plot quadratic-nets

Setups (``setup``): ``identity`` (y = sum_i s_i x_i^2, random signs s_i), ``gaussian``
(y = x'A*x, A* = (G + G')/2 with G standard Gaussian), ``nonplanted`` (y ~ N(0, 2d),
independent of x, the variance of the identity target). One data set per (setup, d,
data_seed), shared by every variant and h, with m = ceil(m_factor * d(d+1)/2) samples.

Variants (``variant``): ``regular`` (W, a), ``added_norm`` (W, a, g: the input norm as an
extra regressor), ``orthogonal`` (W, a with penalty * ||W W' - I||^2), trained by batched
L-BFGS (``landscope.optim.lbfgs``) from W ~ N(0, 1/d), a ~ N(0, 1/h), Newton-polished
and certified; and ``least_squares``: the network read off M*'s eigen-decomposition
(``network_from_matrix``), no training (the same point for every seed).

Per run: the certificate (its verdict uses the convex optimum as the global value when
h >= d, h >= d - 1 with the added norm), ``reached_global`` = (loss - loss(M*)) / L0 <=
gap_tol with L0 = mean(y^2)/2 the loss of the zero network, and ``normalized_error`` =
||M - M*||_F / ||M*||_F for the network's matrix M = W' diag(a) W + g I.

The default size (240 cells x 12 inits) took 236 s on 2 CPU cores. Measured there:
with h >= d the least-squares and orthogonal variants reach the global minimizer in
every run, and the added-norm variant already from h = 9 (= d - 1: g I supplies one
more direction; 92 % at h = 8 on the identity setup); the regular variant stops at bad
critical points in 83 % (identity), 58 % (gaussian) and 42 % (nonplanted) of runs at
h = d, and in none from h = 15 on.
The regular variant's failures are explained by signs: a run reached M* exactly when
its units had at least as many positive (negative) a_j as M* has positive (negative)
eigenvalues (108 of 108 runs at h = 10..12; ``bad_sign_short`` in the summary). M =
W' diag(a) W cannot have more positive eigenvalues than positive a_j (Sylvester), and a
unit's sign changes only through a_j = 0; the added norm g I shifts the spectrum and
removes the constraint. Those bad points have d(d+1)/2 zero Hessian eigenvalues at h = d
(55 for d = 10) and G = dL/dM of rank one.
Scaling (w_j, a_j) -> (c w_j, a_j / c^2) leaves the loss unchanged, so every critical
point of the regular and added-norm variants has h zero Hessian eigenvalues: bad points
without a negative eigenvalue are reported ``degenerate`` (higher-order saddles are not
told apart from local minima by the second-order test).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ..convex import lifted_least_squares, network_from_matrix
from ..critical import CERTIFICATE_COLUMNS, VERDICTS
from ..optim import LBFGS, STATUS, Progress, Stop, run
from ..problems import QuadraticNet, init_from_seeds
from ._checks import at_least, one_of, positive
from ._common import by_cell, mean_finite, polish_and_certify
from ._study import Param, RunContext, Study
from .figures import FigureSpec, grid_chart

__all__ = ["STUDY", "make_data", "run_cell", "summarize"]

SETUPS = ("identity", "gaussian", "nonplanted")
VARIANTS = ("regular", "added_norm", "orthogonal", "least_squares")


PARAMS = (
    Param("setup", str, SETUPS, "identity, gaussian or nonplanted", one_of("setup", SETUPS)),
    Param("variant", str, VARIANTS, "how the network is trained", one_of("variant", VARIANTS)),
    Param("d", int, (10,), "input dimension", at_least("d", 1)),
    Param("h", int, tuple(range(1, 21)), "hidden units", at_least("h", 1)),
    Param("m_factor", float, (2.0,), "samples per unknown of M", positive("m_factor")),
    Param("data_seed", int, (0,), "seed of the data set", at_least("data_seed", 0)),
    Param("penalty", float, (1.0,), "orthogonality penalty weight", at_least("penalty", 0)),
    Param("tol", float, (1e-8,), "L-BFGS stops at ||grad|| <= tol", positive("tol")),
    Param("max_steps", int, (3000,), "L-BFGS iterations per run", at_least("max_steps", 1)),
    Param(
        "polish_from",
        float,
        (1e-4,),
        "Newton-polish rows below this ||grad||",
        positive("polish_from"),
    ),  # fmt: skip
    Param(
        "gap_tol",
        float,
        (1e-8,),
        "reached_global: loss gap / L0 <= gap_tol",
        positive("gap_tol"),
    ),  # fmt: skip
)


def make_data(cfg: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The cell's samples (X (m, d), y (m,)), float64, a function of (setup, d, m, data_seed)."""
    d = cfg["d"]
    m = math.ceil(cfg["m_factor"] * d * (d + 1) / 2)
    # one stream per (data_seed, setup, d): every variant and h sees the same data
    seed = (cfg["data_seed"] * 1_000_003 + SETUPS.index(cfg["setup"]) * 1009 + d) % 2**63
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(m, d, generator=gen, dtype=torch.float64)
    if cfg["setup"] == "identity":
        s = torch.where(torch.rand(d, generator=gen) < 0.5, -1.0, 1.0).to(torch.float64)
        y = (X.square() * s).sum(1)
    elif cfg["setup"] == "gaussian":
        G = torch.randn(d, d, generator=gen, dtype=torch.float64)
        y = ((X @ ((G + G.T) / 2)) * X).sum(1)
    else:
        y = math.sqrt(2 * d) * torch.randn(m, generator=gen, dtype=torch.float64)
    return X, y


COLUMNS = {
    **CERTIFICATE_COLUMNS,
    "m": "BIGINT",
    "ls_loss": "DOUBLE",
    "loss_gap": "DOUBLE",
    "reached_global": "BOOLEAN",
    "normalized_error": "DOUBLE",
    "a_pos": "BIGINT",
    "a_neg": "BIGINT",
    "mstar_pos": "BIGINT",
    "mstar_neg": "BIGINT",
    "steps": "BIGINT",
    "opt_status": "VARCHAR",
    "params": "DOUBLE[]",
}


def run_cell(cfg: dict, seeds: Sequence[int], ctx: RunContext) -> list[dict]:
    """Train (or read off M*), polish and certify every seed of one cell in one batch."""
    X, y = make_data(cfg)
    sol = lifted_least_squares(X, y)
    d, h, R = cfg["d"], cfg["h"], len(seeds)
    variant = cfg["variant"]
    # the convex optimum is the network's global minimum once every symmetric matrix is
    # representable: h >= d units, or h >= d - 1 with the added norm (A - l I has rank
    # d - 1 for an eigenvalue l of A, and g = l supplies the rest)
    gm = sol.loss if h >= d - (variant == "added_norm") else None
    kw = {"h": h, "penalty": cfg["penalty"], "global_min": gm, "device": ctx.device}
    if variant == "least_squares":
        prob = QuadraticNet(X, y, variant="regular", **kw)
        W, a = network_from_matrix(sol.M, h)
        res_theta = prob.join(W[None], a[None]).to(prob.device).expand(R, -1).clone()
        steps = np.zeros(R, dtype=int)
        status = ["none"] * R
    else:
        prob = QuadraticNet(X, y, variant=variant, dtype=ctx.dtype, **kw)

        stop = Stop(grad_tol=cfg["tol"], max_steps=cfg["max_steps"])
        res = run(prob, init_from_seeds(prob, seeds), LBFGS(), stop=stop,
                  observers=[Progress(ctx.progress, "L-BFGS step")])  # fmt: skip
        res_theta = res.theta
        if prob.dtype != torch.float64:  # certification is always float64
            prob = QuadraticNet(X, y, variant=variant, **kw)
        steps = res.steps.cpu().numpy()
        status = [STATUS[int(s)] for s in res.status.cpu()]
    ctx.progress(R, R, "polish + certify")
    # the least-squares point is certified as read off M*, not polished
    polish_from = 0.0 if variant == "least_squares" else cfg["polish_from"]
    theta, _, cert = polish_and_certify(prob, res_theta, polish_from)
    M = prob.matrix(theta).cpu().numpy()
    Mstar = sol.M
    err = np.linalg.norm(M - Mstar, axis=(1, 2)) / max(np.linalg.norm(Mstar), 1e-300)
    L0 = 0.5 * float((y * y).mean())
    gap = (cert.loss - sol.loss) / L0
    # Sylvester: W' diag(a) W has at most #(a_j > 0) positive and #(a_j < 0) negative
    # eigenvalues, so a run whose signs fall short of M*'s inertia cannot reach M*; and
    # a_j cannot change sign without its unit passing through a_j = 0.
    lam = np.linalg.eigvalsh(Mstar)
    cut = 1e-9 * max(float(np.abs(lam).max()), 1e-300)
    mstar_pos, mstar_neg = int((lam > cut).sum()), int((lam < -cut).sum())
    _, a_fin, _ = prob.split(theta)
    a_pos = (a_fin > 0).sum(1).cpu().numpy()
    a_neg = (a_fin < 0).sum(1).cpu().numpy()
    params = theta.cpu().numpy()
    out = []
    for r, (seed, crow) in enumerate(zip(seeds, cert.rows(), strict=True)):
        out.append(
            {
                "seed": int(seed),
                **crow,
                "m": int(X.shape[0]),
                "ls_loss": sol.loss,
                "loss_gap": float(gap[r]),
                "reached_global": bool(np.isfinite(gap[r]) and gap[r] <= cfg["gap_tol"]),
                "normalized_error": float(err[r]),
                "a_pos": int(a_pos[r]),
                "a_neg": int(a_neg[r]),
                "mstar_pos": mstar_pos,
                "mstar_neg": mstar_neg,
                "steps": int(steps[r]),
                "opt_status": status[r],
                "params": params[r],
            }
        )
    return out


def summarize(rows: list[dict]) -> list[dict]:
    """One dict per cell: fraction reaching the global minimizer, mean normalized error."""
    out = []
    for rs in by_cell(rows):
        f = rs[0]
        n = len(rs)
        verdicts = [r["verdict"] for r in rs]
        bad = [r for r in rs if not r["reached_global"]]
        short = [r for r in bad if r["a_pos"] < r["mstar_pos"] or r["a_neg"] < r["mstar_neg"]]
        out.append(
            {
                "setup": f["setup"],
                "variant": f["variant"],
                "d": f["d"],
                "h": f["h"],
                "runs": n,
                "reached_global": sum(bool(r["reached_global"]) for r in rs) / n,
                "normalized_error_mean": mean_finite([r["normalized_error"] for r in rs]),
                "bad_error_mean": mean_finite([r["normalized_error"] for r in bad]),
                **{v: verdicts.count(v) / n for v in VERDICTS if v != "local_min"},
                "local_min": verdicts.count("local_min") / n,
                "bad_n_neg_mean": mean_finite([float(r["n_neg"]) for r in bad]),
                # of the runs that missed the optimum, those whose signs a_j cannot
                # produce M*'s inertia (the regular variant's bad critical points)
                "bad_sign_short": len(short) / len(bad) if bad else None,
                "steps_mean": mean_finite([float(r["steps"]) for r in rs]),
                "wall_s": f["cell_wall_s"],
            }
        )
    order = {s: i for i, s in enumerate(SETUPS)}
    vorder = {v: i for i, v in enumerate(VARIANTS)}
    out.sort(key=lambda c: (order[c["setup"]], vorder[c["variant"]], c["d"], c["h"]))
    return out


TABLE = (
    ("setup", "setup", "s"),
    ("variant", "variant", "s"),
    ("d", "d", "d"),
    ("h", "h", "d"),
    ("runs", "runs", "d"),
    ("reached_global", "reached global", ".0%"),
    ("normalized_error_mean", "norm. error", ".2e"),
    ("saddle", "saddle", ".0%"),
    ("degenerate", "degen.", ".0%"),
    ("not_converged", "not conv.", ".0%"),
    ("bad_sign_short", "misses: signs short", ".0%"),
    ("wall_s", "wall s", ".1f"),
)


def figures(summary: list[dict]) -> list[FigureSpec]:
    """Grids of panels, rows = setups, columns = variants, x = hidden units."""
    specs = []
    for d in sorted({c["d"] for c in summary}):
        part = [c for c in summary if c["d"] == d]
        suffix = "" if len({c["d"] for c in summary}) == 1 else f"-d{d}"
        specs.append(grid_chart(
            part, row="setup", col="variant", x="h",
            ys=[("reached_global", "reached the global minimizer")],
            stem=f"quadratic-nets{suffix}", xlabel="hidden units h",
            title=f"Fraction of runs reaching the global minimizer (d = {d})",
        ))  # fmt: skip
        # a log axis: exact recoveries (error ~1e-16 or 0) are drawn at the 1e-16 floor
        errs = [
            {**c, "err": math.nan if c["normalized_error_mean"] is None
             else max(c["normalized_error_mean"], 1e-16)}
            for c in part
        ]  # fmt: skip
        specs.append(grid_chart(
            errs, row="setup", col="variant", x="h", ys=[("err", "mean normalized error")],
            stem=f"quadratic-nets-error{suffix}", xlabel="hidden units h",
            percent=False, logy=True,
            title=f"Mean ||M - M*||_F / ||M*||_F (d = {d})",
        ))  # fmt: skip
    return specs


STUDY = Study(
    name="quadratic-nets",
    summary="Quadratic networks vs the convex lifted optimum (Kazemipour et al. 2019).",
    params=PARAMS,
    default_seeds=12,
    columns=COLUMNS,
    run_cell=run_cell,
    summarize=summarize,
    table=TABLE,
    figures=figures,
)
