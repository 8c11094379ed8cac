"""Recovering a one-hidden-layer network from samples: tensor vs random initialization.

Zhong, Song, Jain, Bartlett & Dhillon, "Recovery guarantees for one-hidden-layer neural
networks" (ICML 2017). Teacher y = sum_i v*_i phi(w*_i . x), x ~ N(0, I_d), v* random
signs, W* = U diag(s) V' with singular values from 1 down to 1 / kappa
(``landscope.problems.planted``); n = ceil(n_ratio d) noiseless samples per run, each run
its own teacher and sample. The student minimizes
f(W) = 1/(2n) sum_s (sum_i v_i phi(w_i . x_s) - y_s)^2 by gradient descent (per-row
Armijo step, ``landscope.optim.Armijo``) from

- ``tensor``: the tensor-method initialization (``landscope.init.tensor_init``);
- ``random``: w_i ~ N(0, I / d).

and the second layer v is (``second_layer``)

- ``estimated``: fixed at the initialization's v, as in the paper's algorithm, where
  the learner does not know v*: the tensor method estimates it; a random
  initialization draws random signs;
- ``known``: v = v* for both (the loss the local-convexity theory is about); the
  tensor-method neurons are assigned to the slots of v* by their estimated signs.

Per run: ``init_error`` and ``final_error`` = ||W - W*||_F / ||W*||_F after matching
neurons (``recovery_error``), ``success`` = final_error <= threshold, steps, and whether v
was right up to permutation (``v_right``). GD stops at ||grad|| <= 1e-7, loss <= 1e-12
mean(y^2)/2 (then the run sits at W* to ~1e-6), or ``max_steps``.

Measured at default size (80 cells x 10 runs, 161 s on 2 CPU cores): with v estimated,
ReLU tensor init + GD recovers W* in 0 / 40 / 100 / 90 / 100 % of runs at n/d = 10, 30,
100, 300, 1000 for k = 2 and 0 / 10 / 30 / 90 / 100 % for k = 5, while random init stays
at 50 % (k = 2) and 10 % (k = 5) at every n: it succeeds exactly when its random signs
of v happen to be right. With v known, random init does as well or better (90-100 %
from n/d = 30 for k = 2, 100 % from n/d = 100 for k = 5): GD on W alone from random
starts rarely stalls at these k, and the tensor init needs more samples (its median
error: 1.2, 1.2, 0.20, 0.10, 0.06 for k = 2). For tanh (odd: the sign of v is free)
both inits reach 90-100 % from n/d = 30. The initialization error falls like
n^(-1/2) once the moments resolve every neuron.

Run it::

    landscope run recovery                  # relu and tanh, d = 10, k = 2, 5, kappa = 1
    landscope run recovery --set d=10,20,50 --set kappa=1,2,5 --set activation=relu
    landscope show recovery --format json; landscope plot recovery
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import torch

from .. import activations as acts
from ..init import align_signs, tensor_init
from ..optim import STATUS, Armijo, Progress, Stop, run
from ..problems import OneHiddenRegression, planted, recovery_error
from ._checks import at_least, one_of, positive
from ._common import by_cell, mean_finite
from ._study import Param, RunContext, Study
from .figures import FigureSpec, grid_chart

__all__ = ["STUDY", "run_cell", "summarize"]

INITS = ("tensor", "random")
SECOND = ("estimated", "known")


def _activation(name: str) -> None:
    acts.get(name)  # unknown names raise one sentence


PARAMS = (
    Param("activation", str, ("relu", "tanh"), "registered activation", _activation),
    Param("d", int, (10,), "input dimension", at_least("d", 2)),
    Param("k", int, (2, 5), "hidden units of teacher and student", at_least("k", 1)),
    Param("kappa", float, (1.0,), "condition number of W*", at_least("kappa", 1)),
    Param("n_ratio", float, (10.0, 30.0, 100.0, 300.0, 1000.0), "samples per input dimension n / d",
          positive("n_ratio")),
    Param("init", str, INITS, "tensor or random", one_of("init", INITS)),
    Param("second_layer", str, SECOND, "v estimated by the init, or known",
          one_of("second_layer", SECOND)),
    Param("threshold", float, (1e-2,), "relative error counted as recovered",
          positive("threshold")),
    Param("max_steps", int, (2000,), "GD step budget per run", at_least("max_steps", 1)),
)  # fmt: skip

COLUMNS = {
    "n": "BIGINT",
    "init_error": "DOUBLE",
    "final_error": "DOUBLE",
    "success": "BOOLEAN",
    "v_right": "BOOLEAN",
    "loss": "DOUBLE",
    "grad_norm": "DOUBLE",
    "steps": "BIGINT",
    "opt_status": "VARCHAR",
    "init_s": "DOUBLE",
    "params": "DOUBLE[]",
}


def _validate(cfg: dict) -> None:
    if cfg["k"] > cfg["d"]:
        raise ValueError(f"need k <= d (got k = {cfg['k']}, d = {cfg['d']}).")
    n = math.ceil(cfg["n_ratio"] * cfg["d"])
    if n < cfg["k"] * cfg["d"]:
        raise ValueError(
            f"n = {n} samples cannot determine k d = {cfg['k'] * cfg['d']} weights; raise n_ratio."
        )
    if cfg["init"] == "tensor":
        orders = acts.hermite_orders(cfg["activation"])
        if not (any(j >= 2 for j in orders) and any(j >= 3 for j in orders)):
            raise ValueError(
                f"the tensor method cannot see the neurons of a {cfg['activation']} network "
                f"(its non-vanishing Hermite orders are {orders})."
            )


def _same_signs(v: torch.Tensor, v_star: torch.Tensor) -> torch.Tensor:
    return (torch.sort(v, dim=1).values == torch.sort(v_star, dim=1).values).all(1)


def run_cell(cfg: dict, seeds: Sequence[int], ctx: RunContext) -> list[dict]:
    """Draw every seed's teacher and sample, initialize, run GD on all seeds in one batch."""
    act = acts.get(cfg["activation"])
    d, k, R = cfg["d"], cfg["k"], len(seeds)
    n = math.ceil(cfg["n_ratio"] * d)
    P = planted(d, k, cfg["kappa"], n, seeds, act)
    odd = acts.is_odd(act)
    t0 = time.perf_counter()
    ctx.progress(0, R, "initialization")
    if cfg["init"] == "tensor":
        gens = [torch.Generator().manual_seed(10_007 * int(s) + 1) for s in seeds]
        ti = tensor_init(P.X, P.y, k, act, generator=gens)  # per-row generators
        W0, v0 = ti.W, ti.v
    else:
        W0, v0 = [], []
        for seed in seeds:
            gen = torch.Generator().manual_seed(10_007 * int(seed) + 2)
            W0.append(torch.randn(k, d, generator=gen, dtype=torch.float64) / math.sqrt(d))
            v0.append(torch.randint(0, 2, (k,), generator=gen).to(torch.float64) * 2 - 1)
        W0, v0 = torch.stack(W0), torch.stack(v0)
    if cfg["second_layer"] == "known":
        if cfg["init"] == "tensor":
            W0 = align_signs(W0, v0, P.v, odd)
        v0 = P.v.clone()
    init_s = (time.perf_counter() - t0) / R
    v_right = torch.ones(R, dtype=torch.bool) if odd else _same_signs(v0, P.v)

    prob = OneHiddenRegression(P.X, P.y, v0, act)
    scale = 0.5 * float(P.y.square().mean())

    stop = Stop(grad_tol=1e-7, loss_target=1e-12 * scale, max_steps=cfg["max_steps"])
    res = run(prob, W0.reshape(R, -1), Armijo(), stop=stop,
              observers=[Progress(ctx.progress, "GD step")])  # fmt: skip
    W = res.theta.reshape(R, k, d)
    e0 = recovery_error(W0, v0, P.W, P.v, act).numpy()
    e1 = recovery_error(W, v0, P.W, P.v, act).numpy()
    loss, g = prob.loss_and_grad(res.theta)
    gn = torch.linalg.vector_norm(g, dim=1)
    status = [STATUS[int(s)] for s in res.status]
    return [
        {
            "seed": int(seed),
            "n": n,
            "init_error": float(e0[r]),
            "final_error": float(e1[r]),
            "success": bool(np.isfinite(e1[r]) and e1[r] <= cfg["threshold"]),
            "v_right": bool(v_right[r]),
            "loss": float(loss[r]),
            "grad_norm": float(gn[r]),
            "steps": int(res.steps[r]),
            "opt_status": status[r],
            "init_s": init_s,
            "params": res.theta[r].numpy(),
        }
        for r, seed in enumerate(seeds)
    ]


def summarize(rows: list[dict]) -> list[dict]:
    """One dict per cell: success rate, median errors, how often v was right."""
    out = []
    for rs in by_cell(rows):
        f, m = rs[0], len(rs)
        out.append(
            {
                "activation": f["activation"],
                "d": f["d"],
                "k": f["k"],
                "kappa": f["kappa"],
                "n_ratio": f["n_ratio"],
                "n": f["n"],
                "init": f["init"],
                "second_layer": f["second_layer"],
                "runs": m,
                "success": sum(bool(r["success"]) for r in rs) / m,
                "init_error_median": float(np.median([r["init_error"] for r in rs])),
                "final_error_median": float(np.median([r["final_error"] for r in rs])),
                "v_right": sum(bool(r["v_right"]) for r in rs) / m,
                "steps_mean": mean_finite([float(r["steps"]) for r in rs]),
                "wall_s": f["cell_wall_s"],
            }
        )
    order = {(a, b): i for i, (a, b) in enumerate((s, i) for s in SECOND for i in INITS)}
    out.sort(
        key=lambda c: (
            c["activation"], c["d"], c["k"], c["kappa"],
            order[(c["second_layer"], c["init"])], c["n_ratio"],
        )
    )  # fmt: skip
    return out


TABLE = (
    ("activation", "phi", "s"),
    ("d", "d", "d"),
    ("k", "k", "d"),
    ("kappa", "kappa", "g"),
    ("second_layer", "v", "s"),
    ("init", "init", "s"),
    ("n_ratio", "n/d", "g"),
    ("runs", "runs", "d"),
    ("success", "recovered", ".0%"),
    ("init_error_median", "init err (median)", ".3f"),
    ("final_error_median", "final err (median)", ".1e"),
    ("v_right", "v right", ".0%"),
    ("steps_mean", "GD steps", ".0f"),
    ("wall_s", "wall s", ".1f"),
)


def figures(summary: list[dict]) -> list[FigureSpec]:
    """Success vs n/d (one line per init x second layer) and init error vs n/d."""
    panels: dict[tuple, dict] = {}
    errs: dict[tuple, dict] = {}
    for c in summary:
        row = f"{c['activation']}, d={c['d']}, kappa={c['kappa']:g}"
        key = (row, c["k"], c["n_ratio"])
        cell = panels.setdefault(key, {"setup": row, "k": c["k"], "n_ratio": c["n_ratio"]})
        cell[f"{c['init']}/{c['second_layer']}"] = c["success"]
        if c["init"] == "tensor":
            e = errs.setdefault(key, {"setup": row, "k": c["k"], "n_ratio": c["n_ratio"]})
            e[c["second_layer"]] = c["init_error_median"]
    lines = [(f"{i}/{s}", f"{i} init, v {s}") for s in SECOND for i in INITS]
    present = [(key, lab) for key, lab in lines if any(key in c for c in panels.values())]
    for c in panels.values():
        for key, _ in present:
            c.setdefault(key, None)
    specs = [grid_chart(
        list(panels.values()), row="setup", col="k", x="n_ratio", ys=present,
        stem="recovery", xlabel="samples per dimension n / d", logx=True,
        title="GD recovers W* (relative error <= threshold): tensor vs random initialization",
    )]  # fmt: skip
    if errs:
        seconds = [(s, f"v {s}") for s in SECOND if any(s in c for c in errs.values())]
        for c in errs.values():
            for key, _ in seconds:
                c.setdefault(key, None)
        specs.append(grid_chart(
            list(errs.values()), row="setup", col="k", x="n_ratio", ys=seconds,
            stem="recovery-init-error", xlabel="samples per dimension n / d",
            percent=False, logy=True, logx=True,
            title="Error of the tensor initialization alone, ||W0 - W*||_F / ||W*||_F (median)",
        ))  # fmt: skip
    return specs


STUDY = Study(
    name="recovery",
    summary="One-hidden-layer recovery: tensor vs random init, success vs n/d (Zhong 2017).",
    params=PARAMS,
    default_seeds=10,
    columns=COLUMNS,
    run_cell=run_cell,
    summarize=summarize,
    table=TABLE,
    figures=figures,
    validate=_validate,
)
