"""Spurious local minima are common in two-layer ReLU networks (Safran & Shamir, ICML 2018).

Teacher y = sum_{j<=k} relu(v_j . x) with V = I (d = k), inputs x ~ N(0, I_d); student
f(x) = sum_{i<=n} relu(w_i . x), n = k + extra, trained on the closed-form population loss
from W ~ N(0, 1/d). Each run is then certified: the point GD reached is polished by
Newton / Levenberg-Marquardt to ||grad|| <= 1e-12 and labelled from its loss and Hessian
spectrum (global_min, spurious_min, saddle, degenerate, not_converged, diverged).

Run it::

    landscope run spurious-relu                          # default: k = 6..20, extra = 0, 2
    landscope run spurious-relu --set extra=0 --seeds 1000   # the published n = k table
    landscope run spurious-relu --set extra=1            # n = k + 1 (slowest: long GD tails)
    landscope show spurious-relu; landscope plot spurious-relu

Timings (numbers and commands in benchmarks/README.md) depend on the host: with 100
inits per cell and extra = 0, 1, 2, the study took 204 s on one 2-core machine and 632 s
on another, whose small tensor operations are ~3x slower; the default grid is therefore
extra = 0, 2 (30 cells). The n = k table with 1,000 inits per k took 219 s and 567 s on
the same two machines.

Expected (measured, 1,000 inits): with n = k spurious minima are rare at k = 6 (0.3 %),
a third of the runs at k = 10 (35.5 %), the majority by k = 12 (58.8 %) and 95.6 % at
k = 20; with n = k + 1 they start only around k = 14, and with n = k + 2 none were seen
up to k = 20 (100 inits per cell).

Protocol, every setting a study parameter stored with each row:

1. Gradient descent with learning rate ``step / k`` (the Hessian's top eigenvalue at the
   teacher grows about linearly with k, so a fixed rate diverges for large k) until
   ||grad|| <= ``gd_tol`` or ``max_steps``. ``optimizer=adam`` swaps in Adam with the
   same rate.
2. Rows whose gradient norm is at most ``polish_from`` are polished by
   ``newton_polish`` to ||grad|| <= 1e-12, then certified (``certify``, default
   tolerances, stored in the row).
3. Rows certified ``saddle`` or ``not_converged`` after GD had converged continue GD
   from where it stopped to ``gd_tol * 1e-4`` (1e-9 by default), and are polished and
   certified again. GD crawls past saddles: at n = k + 1 about 1 % of runs stop within
   1e-6 of one and most of those go on to a global minimum.

Stopping GD at 1e-5 gives the same verdicts and the same critical points (loss equal
to 1e-9) as running every row to 1e-9 on 200 seeds at (k, n) = (10, 10) and (16, 16),
and on 199 of 200 at (14, 15), as 1e-6 does (``benchmarks/spurious_relu_cell.py
--check-tol``), at a fraction of the cost; for n > k, where GD converges only
sublinearly to the degenerate global minima, that is what makes the study feasible.

Training may run in float32 (``--dtype float32``); polishing and certification are
always in float64. In float32 GD cannot reach ||grad|| <= 1e-5: pass
``--set gd_tol=1e-4``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..critical import CERTIFICATE_COLUMNS, VERDICTS
from ..optim import GD, STATUS, Adam, minimize
from ..plot import line_figure
from ..problems import ReluTeacherStudent, init_from_seeds
from ._checks import at_least, one_of, positive
from ._common import by_cell, mean_finite, polish_and_certify
from ._study import Param, RunContext, Study

__all__ = ["STUDY", "make_problem", "run_cell", "summarize"]


PARAMS = (
    # extra first: the grid runs all n = k cells (the headline result) before n > k.
    Param("extra", int, (0, 2), "extra student neurons, n = k + extra (may be negative)"),
    Param("k", int, tuple(range(6, 21)), "teacher neurons", at_least("k", 1)),
    Param("d", int, (0,), "input dimension; 0 means d = k", at_least("d", 0)),
    Param("train_a", int, (0,), "1 trains the second layer too, 0 fixes it to ones"),
    Param("optimizer", str, ("gd",), "gd or adam", one_of("optimizer", ("gd", "adam"))),
    Param("step", float, (4.0,), "learning rate times k", positive("step")),
    Param("gd_tol", float, (1e-5,), "GD stops at ||grad|| <= gd_tol", positive("gd_tol")),
    Param("max_steps", int, (100_000,), "GD step budget per run", at_least("max_steps", 1)),
    Param(
        "polish_from",
        float,
        (1e-4,),
        "Newton-polish rows with ||grad|| <= polish_from",
        positive("polish_from"),
    ),
)


def _validate(cfg: dict) -> None:
    n = cfg["k"] + cfg["extra"]
    if n < 1:
        raise ValueError(
            f"extra = {cfg['extra']} with k = {cfg['k']} leaves n = {n} student neurons; "
            "n must be >= 1."
        )
    if cfg["d"] and cfg["d"] < cfg["k"]:
        raise ValueError(f"the identity teacher needs d >= k, got d = {cfg['d']} < k = {cfg['k']}.")
    if cfg["train_a"] not in (0, 1):
        raise ValueError(f"train_a must be 0 or 1, got {cfg['train_a']}.")


def make_problem(cfg: dict, dtype: str = "float64", device: str = "cpu") -> ReluTeacherStudent:
    """The problem of one cell."""
    return ReluTeacherStudent(
        k=cfg["k"],
        n=cfg["k"] + cfg["extra"],
        d=cfg["d"] or None,
        train_second_layer=bool(cfg["train_a"]),
        dtype=dtype,
        device=device,
    )


COLUMNS = {
    **CERTIFICATE_COLUMNS,
    "n": "BIGINT",
    "steps": "BIGINT",
    "gd_status": "VARCHAR",
    "gd_grad_norm": "DOUBLE",
    "polish_iters": "BIGINT",
    "params": "DOUBLE[]",
}


def run_cell(cfg: dict, seeds: Sequence[int], ctx: RunContext) -> list[dict]:
    """Train, polish and certify every seed of one cell in one batch.

    GD is continued to ``gd_tol * 1e-4`` (the classic 1e-9) on the rows whose first
    certificate is ``saddle`` or ``not_converged``: GD crawls past saddles, and a row
    that stopped near one at the looser tolerance has not shown where GD ends. This
    continuation is exactly the trajectory GD to the tighter tolerance would follow.

    Returns:
        One row per seed with the certificate, the optimizer's outcome and the final
        parameters (float64, flattened W then a).
    """
    prob = make_problem(cfg, dtype=ctx.dtype, device=ctx.device)
    R = len(seeds)
    theta0 = init_from_seeds(prob, seeds)
    lr = cfg["step"] / cfg["k"]
    opt = GD(lr) if cfg["optimizer"] == "gd" else Adam(lr)
    # Certification is in float64 whatever the training dtype.
    prob64 = prob if prob.dtype == torch.float64 else make_problem(cfg, device=ctx.device)

    def train(theta: torch.Tensor, tol: float, label: str):
        def hook(step: int, active: int) -> None:
            ctx.progress(R - active, R, f"{label} step {step}")

        return minimize(prob, theta, opt, tol=tol, max_steps=cfg["max_steps"], callback=hook)

    ctx.progress(0, R, "GD")
    res = train(theta0, cfg["gd_tol"], "GD")
    steps, status, gd_gn = res.steps.cpu(), res.status.cpu(), res.grad_norm.cpu()
    ctx.progress(R, R, "polish + certify")
    theta, iters, cert = polish_and_certify(prob64, res.theta, cfg["polish_from"])
    again = np.isin(cert.verdict, ("saddle", "not_converged")) & (status.numpy() == 1)
    if again.any():
        rows = torch.as_tensor(np.flatnonzero(again))
        more = train(res.theta[rows.to(res.theta.device)], cfg["gd_tol"] * 1e-4, "GD again")
        th2, it2, cert2 = polish_and_certify(prob64, more.theta, cfg["polish_from"])
        theta[rows.to(theta.device)] = th2
        iters[rows] = it2
        steps[rows] += more.steps.cpu()
        status[rows], gd_gn[rows] = more.status.cpu(), more.grad_norm.cpu()
        cert = cert.replace_rows(np.flatnonzero(again), cert2)
    params = theta.cpu().numpy()
    out = []
    for r, (seed, crow) in enumerate(zip(seeds, cert.rows(), strict=True)):
        out.append(
            {
                "seed": int(seed),
                **crow,
                "n": prob.n,
                "steps": int(steps[r]),
                "gd_status": STATUS[int(status[r])],
                "gd_grad_norm": float(gd_gn[r]),
                "polish_iters": int(iters[r]),
                "params": params[r],
            }
        )
    return out


def summarize(rows: list[dict]) -> list[dict]:
    """One dict per cell: verdict fractions (0..1) and means at the spurious minima.

    ``spurious_se`` is the binomial standard error of the spurious fraction.
    """
    out = []
    for cell_rows in by_cell(rows):
        first = cell_rows[0]
        runs = len(cell_rows)
        verdicts = [r["verdict"] for r in cell_rows]
        frac = {v: verdicts.count(v) / runs for v in VERDICTS}
        spur = [r for r in cell_rows if r["verdict"] in ("spurious_min", "local_min")]
        p = frac["spurious_min"] + frac["local_min"]
        out.append(
            {
                "k": first["k"],
                "n": first["k"] + first["extra"],
                "extra": first["extra"],
                "d": first["d"] or first["k"],
                "train_a": first["train_a"],
                "optimizer": first["optimizer"],
                "runs": runs,
                "global": frac["global_min"],
                "spurious_min": p,
                "spurious_se": math.sqrt(p * (1 - p) / runs),
                "saddle": frac["saddle"],
                "degenerate": frac["degenerate"],
                "not_converged": frac["not_converged"],
                "diverged": frac["diverged"],
                "spurious_loss_mean": mean_finite([r["loss"] for r in spur]),
                "spurious_eig_min_mean": mean_finite([r["eig_min"] for r in spur]),
                "steps_mean": mean_finite([float(r["steps"]) for r in cell_rows]),
                "wall_s": first["cell_wall_s"],
            }
        )
    out.sort(key=lambda c: (c["train_a"], c["optimizer"], c["d"] - c["k"], c["extra"], c["k"]))
    return out


TABLE = (
    ("k", "k", "d"),
    ("n", "n", "d"),
    ("runs", "runs", "d"),
    ("global", "global", ".1%"),
    ("spurious_min", "spurious", ".1%"),
    ("saddle", "saddle", ".1%"),
    ("degenerate", "degen.", ".1%"),
    ("not_converged", "not conv.", ".1%"),
    ("spurious_loss_mean", "loss @spur.", ".4f"),
    ("spurious_eig_min_mean", "eig_min @spur.", ".2e"),
    ("wall_s", "wall s", ".1f"),
)


def _series(cell: dict, varying: Sequence[str]) -> str:
    label = f"n - k = {cell['extra']}"
    extra = [f"{key} = {cell[key]}" for key in varying]
    return ", ".join([label, *extra])


def plot(summary: list[dict], out_dir: Path) -> list[Path]:
    """% spurious minima against k, one line per n - k; and their mean loss against k."""
    # d is k by default, so it varies with k; what separates lines is d - k.
    summary = [{**c, "d - k": c["d"] - c["k"]} for c in summary]
    keys = ("d - k", "train_a", "optimizer")
    varying = [key for key in keys if len({c[key] for c in summary}) > 1]
    pts = [{**c, "series": _series(c, varying)} for c in summary]
    paths = line_figure(
        pts,
        x="k",
        y="spurious_min",
        group="series",
        path_stem=out_dir / "spurious-relu",
        xlabel="teacher neurons k",
        ylabel="runs ending in a spurious minimum",
        title="Spurious minima reached by GD (Safran & Shamir 2018)",
        group_label="",
    )
    with_loss = [c for c in pts if c["spurious_loss_mean"] is not None]
    if with_loss:
        paths += line_figure(
            with_loss,
            x="k",
            y="spurious_loss_mean",
            group="series",
            path_stem=out_dir / "spurious-relu-loss",
            xlabel="teacher neurons k",
            ylabel="mean loss at the spurious minima",
            group_label="",
            percent=False,
        )
    return paths


STUDY = Study(
    name="spurious-relu",
    summary="Spurious minima of GD on the two-layer ReLU teacher-student (Safran & Shamir 2018).",
    params=PARAMS,
    default_seeds=100,
    columns=COLUMNS,
    run_cell=run_cell,
    summarize=summarize,
    table=TABLE,
    plot=plot,
    validate=_validate,
    make_problem=make_problem,
)
