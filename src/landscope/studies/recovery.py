"""Recovering a one-hidden-layer net from samples: tensor vs random init (Zhong et al. 2017).

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
  tensor-method neurons are assigned to the slots of v* by their estimated signs
  (``landscope.init.align_signs``).

Protocol (every setting a study parameter stored with each row):

1. the initialization above, per run from its own seed;
2. ``Train``: GD with a per-row Armijo step until ||grad|| <= ``grad_tol``, loss <=
   ``rel_loss_target`` * mean(y^2)/2 (y of every run of the cell; the run then sits at
   W* to ~1e-6), or ``max_steps``;
3. ``Measure``: ``init_error`` and ``final_error`` = ||W - W*||_F / ||W*||_F after
   matching neurons (``landscope.problems.recovery_error``), ``success`` = final_error <=
   ``threshold``, and whether v was right up to permutation (``v_right``). No
   certificate: the question is the distance to W*, not the kind of point reached.

Run times at default size, per host, are in benchmarks/README.md.

Expected (measured at default size, 10 runs per cell): with v estimated, ReLU tensor
init + GD recovers W* in 0 / 40 / 100 / 90 / 100 % of runs at n/d = 10, 30, 100, 300,
1000 for k = 2 and 0 / 10 / 30 / 90 / 100 % for k = 5, while random init stays at 50 %
(k = 2) and 10 % (k = 5) at every n: it succeeds exactly when its random signs of v
happen to be right. With v known, random init does as well or better (90-100 % from
n/d = 30 for k = 2, 100 % from n/d = 100 for k = 5): GD on W alone from random starts
rarely stalls at these k, and the tensor init needs more samples (its median error:
1.2, 1.2, 0.20, 0.10, 0.06 for k = 2). For tanh (odd: the sign of v is free) both inits
reach 90-100 % from n/d = 30. The initialization error falls like n^(-1/2) once the
moments resolve every neuron.

Run it::

    landscope run recovery                  # relu and tanh, d = 10, k = 2, 5, kappa = 1
    landscope run recovery --set d=10,20,50 --set kappa=1,2,5 --set activation=relu
    landscope run recovery --set grad_tol=1e-9 --set rel_loss_target=1e-16
    landscope show recovery --format json; landscope plot recovery
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .. import activations as acts
from .._validate import resolve_dtype
from ..init import align_signs, tensor_init
from ..optim import Armijo, Stop
from ..problems import OneHiddenRegression, Planted, planted, recovery_error
from ._checks import at_least, one_of, positive
from ._params import grad_tol, max_steps
from ._study import Grid, Param, Results, RunContext, Study
from .figures import FigureSpec, grid_chart
from .protocol import Cell, FromCell, Measure, Protocol, Start, Train
from .summary import Agg, SummarySpec, param_keys

__all__ = ["PROTOCOL", "STUDY", "make_data", "make_problem", "run_cell"]

INITS = ("tensor", "random")
SECOND = ("estimated", "known")
# a run's initialization draws from its own stream, seeded 10_007 * seed + stream (its
# teacher and sample are drawn from the seed itself)
TENSOR_STREAM, RANDOM_STREAM = 1, 2


def _activation(name: str) -> None:
    acts.get(name)  # unknown names raise one sentence


PARAMS = (
    Param("activation", str, ("relu", "tanh"), "registered activation", _activation),
    Param("d", int, (10,), "input dimension", at_least("d", 2)),
    Param("k", int, (2, 5), "hidden units of teacher and student", at_least("k", 1)),
    Param("kappa", float, (1.0,), "condition number of W*", at_least("kappa", 1)),
    Param(
        "n_ratio",
        float,
        (10.0, 30.0, 100.0, 300.0, 1000.0),
        "samples per input dimension n / d",
        positive("n_ratio"),
    ),
    Param("init", str, INITS, "tensor or random", one_of("init", INITS)),
    Param(
        "second_layer",
        str,
        SECOND,
        "v estimated by the init, or known",
        one_of("second_layer", SECOND),
    ),
    Param(
        "threshold",
        float,
        (1e-2,),
        "relative error counted as recovered",
        positive("threshold"),
    ),
    max_steps(2000, "GD step budget per run"),
    grad_tol(1e-7, "GD"),
    Param(
        "rel_loss_target",
        float,
        (1e-12,),
        "GD stops at loss <= rel_loss_target x mean(y^2)/2",
        positive("rel_loss_target"),
    ),
)

DEFAULTS = {p.name: p.default[0] for p in PARAMS}


def _validate(cfg: dict) -> None:
    if cfg["k"] > cfg["d"]:
        raise ValueError(f"need k <= d (got k = {cfg['k']}, d = {cfg['d']}).")
    n = n_samples(cfg)
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


def n_samples(cfg: dict) -> int:
    """n = ceil(n_ratio d) samples per run."""
    return math.ceil(cfg["n_ratio"] * cfg["d"])


def make_data(cfg: dict, seeds: Sequence[int]) -> Planted:
    """Every run's own teacher and sample, drawn from its seed alone."""
    return planted(cfg["d"], cfg["k"], cfg["kappa"], n_samples(cfg), seeds, cfg["activation"])


def make_problem(
    cfg: dict, data: Planted | None = None, dtype: str = "float64", device: str = "cpu"
) -> OneHiddenRegression:
    """The runs' losses in W with v = v* (an ``estimated`` v replaces it at initialization).

    Raises:
        ValueError: without ``data``: a run's problem depends on its seed (its own teacher
            and sample) and, with v estimated, on its initialization, not on the
            configuration alone.
    """
    if data is None:
        raise ValueError(
            "a recovery run's problem is drawn from its seed (its own teacher and sample), "
            "so it cannot be rebuilt from the configuration alone."
        )
    dt = resolve_dtype(dtype)
    X, y, v = (t.to(dtype=dt, device=device) for t in (data.X, data.y, data.v))
    return OneHiddenRegression(X, y, v, cfg["activation"])


def _random_start(seeds: Sequence[int], k: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """W0 with rows w_i ~ N(0, I / d) and random signs v0, per run from its own stream."""
    W0, v0 = [], []
    for seed in seeds:
        gen = torch.Generator().manual_seed(10_007 * int(seed) + RANDOM_STREAM)
        W0.append(torch.randn(k, d, generator=gen, dtype=torch.float64) / math.sqrt(d))
        v0.append(torch.randint(0, 2, (k,), generator=gen).to(torch.float64) * 2 - 1)
    return torch.stack(W0), torch.stack(v0)


def _with_v(prob: OneHiddenRegression, v: torch.Tensor) -> OneHiddenRegression:
    return OneHiddenRegression(prob.X, prob.y, v.to(prob.X), prob.activation)


def _init(cell: Cell) -> torch.Tensor | Start:
    """W0 by the tensor method or at random; with v estimated, the problem with that v."""
    cfg, P = cell.cfg, cell.data
    act = acts.get(cfg["activation"])
    cell.progress(0, "initialization")
    if cfg["init"] == "tensor":
        gens = [torch.Generator().manual_seed(10_007 * int(s) + TENSOR_STREAM) for s in cell.seeds]
        ti = tensor_init(P.X, P.y, cfg["k"], act, generator=gens)  # per-row generators
        W0, v0 = ti.W, ti.v
    else:
        W0, v0 = _random_start(cell.seeds, cfg["k"], cfg["d"])
    if cfg["second_layer"] == "known":  # the problem's v is v* already
        if cfg["init"] == "tensor":
            W0 = align_signs(W0, v0, P.v, acts.is_odd(act))
        return W0.reshape(cell.R, -1).to(cell.problem.X)
    theta = W0.reshape(cell.R, -1).to(cell.problem.X)
    return Start(theta, _with_v(cell.problem, v0), _with_v(cell.problem64, v0))


def _stop(cell: Cell) -> Stop:
    scale = 0.5 * float(cell.data.y.square().mean())
    return Stop(
        grad_tol=cell.cfg["grad_tol"],
        loss_target=cell.cfg["rel_loss_target"] * scale,
        max_steps=cell.cfg["max_steps"],
    )


def _same_signs(v: torch.Tensor, v_star: torch.Tensor) -> torch.Tensor:
    """Whether each row of v is a permutation of the row of v* (signs +-1)."""
    return (torch.sort(v, dim=1).values == torch.sort(v_star, dim=1).values).all(1)


def _errors(cell: Cell) -> dict[str, Any]:
    """Distances to W* before and after GD, success, and whether v was right."""
    P, prob = cell.data, cell.problem64
    R, k, d = cell.R, cell.cfg["k"], cell.cfg["d"]
    act, v = prob.activation, prob.v.cpu()
    theta = cell.theta.to(torch.float64)
    e0 = recovery_error(cell.theta0.reshape(R, k, d), v, P.W, P.v, act).numpy()
    e1 = recovery_error(theta.reshape(R, k, d), v, P.W, P.v, act).numpy()
    loss, g = prob.loss_and_grad(theta)
    odd = acts.is_odd(act)
    v_right = torch.ones(R, dtype=torch.bool) if odd else _same_signs(v, P.v)
    return {
        "n": [n_samples(cell.cfg)] * R,
        "init_error": e0,
        "final_error": e1,
        "success": np.isfinite(e1) & (e1 <= cell.cfg["threshold"]),
        "v_right": v_right.numpy(),
        "loss": loss.cpu().numpy(),
        "grad_norm": torch.linalg.vector_norm(g, dim=1).cpu().numpy(),
        "init_s": [cell.init_s / R] * R,
    }


PROTOCOL = Protocol(
    make_data=make_data,
    make_problem=make_problem,
    init=FromCell(_init),
    steps=(
        Train(method=lambda cfg: Armijo(), stop=FromCell(_stop), label="GD"),
        Measure(
            _errors,
            {
                "n": "BIGINT",
                "init_error": "DOUBLE",
                "final_error": "DOUBLE",
                "success": "BOOLEAN",
                "v_right": "BOOLEAN",
                "loss": "DOUBLE",
                "grad_norm": "DOUBLE",
                "init_s": "DOUBLE",
            },
        ),
    ),
)


def run_cell(cfg: dict, seeds: Sequence[int], ctx: RunContext) -> list[dict]:
    """The protocol on one cell; parameters missing from ``cfg`` take their defaults."""
    return PROTOCOL.run_cell({**DEFAULTS, **cfg}, seeds, ctx)


ORDER = [(s, i) for s in SECOND for i in INITS]

SUMMARY = SummarySpec(
    keys=param_keys(
        PARAMS, "activation", "d", "k", "kappa", "n_ratio", "n", "init", "second_layer"
    ),
    aggs=(
        Agg("success", how="fraction"),
        Agg("init_error_median", "init_error", "median"),
        Agg("final_error_median", "final_error", "median"),
        Agg("v_right", how="fraction"),
        Agg("steps_mean", "steps"),
    ),
    sort=lambda c: (
        c["activation"],
        c["d"],
        c["k"],
        c["kappa"],
        ORDER.index((c["second_layer"], c["init"])),
        c["n_ratio"],
    ),
)

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
    # the share and, where the summary has it, its 95 % interval (drawn as a band)
    ends = ("", "_lo", "_hi") if all("success_lo" in c for c in summary) else ("",)
    for c in summary:
        row = f"{c['activation']}, d={c['d']}, kappa={c['kappa']:g}"
        key = (row, c["k"], c["n_ratio"])
        cell = panels.setdefault(key, {"setup": row, "k": c["k"], "n_ratio": c["n_ratio"]})
        for end in ends:
            cell[f"{c['init']}/{c['second_layer']}{end}"] = c[f"success{end}"]
        if c["init"] == "tensor":
            e = errs.setdefault(key, {"setup": row, "k": c["k"], "n_ratio": c["n_ratio"]})
            e[c["second_layer"]] = c["init_error_median"]
    lines = [(f"{i}/{s}", f"{i} init, v {s}") for s in SECOND for i in INITS]
    present = [(key, lab) for key, lab in lines if any(key in c for c in panels.values())]
    for c in panels.values():
        for key, _ in present:
            for end in ends:
                c.setdefault(f"{key}{end}", None)
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


GRID = Grid(PARAMS, seeds=10, validate=_validate)
RESULTS = Results(SUMMARY, TABLE, figures)
STUDY = Study(name="recovery", doc=__doc__, grid=GRID, protocol=PROTOCOL, results=RESULTS)
