"""Spurious local minima are common in two-layer ReLU networks (Safran & Shamir, ICML 2018).

Teacher y = sum_{j<=k} relu(v_j . x) with V = I (d = k), inputs x ~ N(0, I_d); student
f(x) = sum_{i<=n} relu(w_i . x), n = k + extra, trained on the closed-form population loss
from W ~ N(0, 1/d). Each run is then certified: the point GD reached is polished by
Newton / Levenberg-Marquardt to ||grad|| <= ``polish_tol`` and labelled from its loss and
Hessian spectrum (global_min, spurious_min, saddle, degenerate, not_converged, diverged).

Run it::

    landscope run spurious-relu                          # default: k = 6..20, extra = 0, 2
    landscope run spurious-relu --set extra=0 --seeds 1000   # the published n = k table
    landscope run spurious-relu --set extra=1            # n = k + 1 (slowest: long GD tails)
    landscope show spurious-relu; landscope plot spurious-relu

Run times at default size, per host, are in benchmarks/README.md.

Expected (measured, 1,000 inits): with n = k spurious minima are rare at k = 6 (0.3 %),
a third of the runs at k = 10 (35.5 %), the majority by k = 12 (58.8 %) and 95.6 % at
k = 20; with n = k + 1 they start only around k = 14, and with n = k + 2 none were seen
up to k = 20 (100 inits per cell).

Protocol (every setting a study parameter stored with each row):

1. ``Train``: gradient descent with learning rate ``step / k`` (the Hessian's top
   eigenvalue at the teacher grows about linearly with k, so a fixed rate diverges for
   large k) until ||grad|| <= ``grad_tol`` or ``max_steps``. ``optimizer=adam`` swaps in
   Adam with the same rate.
2. ``PolishCertify``: rows whose gradient norm is at most ``polish_from`` are polished
   by ``newton_polish`` to ||grad|| <= ``polish_tol`` or (``polish_stop`` =
   global) loss <= ``gap_tol`` / 10 (n >= k), then every row is certified (``certify``,
   default tolerances, stored in the row; a row within ``gap_tol`` of the global value
   is ``global_min`` whatever its gradient, so a polish that reaches that loss has
   settled the verdict: the degenerate global minima of n > k students need no gradient
   of 1e-12).
3. ``Retrain``: rows certified ``saddle`` or ``not_converged`` after GD had converged
   continue GD from where it stopped to ``grad_tol * retrain_factor`` (1e-9 by
   default), and are polished and certified again. GD crawls past saddles: at
   n = k + 1 about 1 % of runs stop within 1e-6 of one and most of those go on to a
   global minimum.

Stopping GD at 1e-5 gives the same verdicts and the same critical points (loss equal
to 1e-9) as running every row to 1e-9 on 200 seeds at (k, n) = (10, 10) and (16, 16),
and on 199 of 200 at (14, 15), as 1e-6 does (``benchmarks/spurious_relu_cell.py
--check-tol``), at a fraction of the cost; for n > k, where GD converges only
sublinearly to the degenerate global minima, that is what makes the study feasible.

GD in float64 on the CPU runs in compiled code (numba; ``ReluTeacherStudent.fused_gd``,
the driver's ``FusedGD`` path), rows in parallel, the same steps as the batched torch
step to rounding: the same verdict on 15,000 of 15,000 seeds of the n = k table. So
does the Hessian that Newton polishing and certification use
(``ReluTeacherStudent.hessian``: the closed forms, one pass, 5.5x the torch pass at
k = 20). Together 3.0x faster on the default study, 2.2x on the n = k table
(benchmarks/README.md). ``LANDSCOPE_FUSED=0`` turns both off.

Training may run in float32 (``--dtype float32``); polishing and certification are
always in float64. In float32 GD cannot reach ||grad|| <= 1e-5: pass
``--set grad_tol=1e-4``.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..critical import check_certifiable
from ..optim import GD, Adam, Stop
from ..problems import ReluTeacherStudent
from ._checks import at_least, one_of, positive
from ._params import grad_tol, max_steps, polish_from, polish_tol
from ._study import Grid, Param, Results, Study
from .figures import FigureSpec, line_chart
from .protocol import Measure, PolishCertify, Protocol, Require, Retrain, Train
from .summary import Agg, SummarySpec, param_keys

__all__ = ["PROTOCOL", "SQUARE_RUNS", "STUDY", "make_problem", "make_square_problem"]


PARAMS = (
    # extra first: the grid runs all n = k cells (the headline result) before n > k.
    Param("extra", int, (0, 2), "extra student neurons, n = k + extra (may be negative)"),
    Param("k", int, tuple(range(6, 21)), "teacher neurons", at_least("k", 1)),
    Param("d", int, (0,), "input dimension; 0 means d = k", at_least("d", 0)),
    Param("train_a", int, (0,), "1 trains the second layer too, 0 fixes it to ones"),
    Param("optimizer", str, ("gd",), "gd or adam", one_of("optimizer", ("gd", "adam"))),
    Param("step", float, (4.0,), "learning rate times k", positive("step")),
    grad_tol(1e-5, "GD"),
    max_steps(100_000, "GD step budget per run"),
    polish_from(1e-4),
    polish_tol(1e-12),
    Param("polish_stop", str, ("global",),
          "Newton polish stops at polish_tol, or also ('global') at loss <= gap_tol / 10 "
          "where the global value is known", one_of("polish_stop", ("gradient", "global"))),
    Param("retrain_factor", float, (1e-4,),
          "saddle / not_converged rows continue GD to grad_tol x retrain_factor",
          positive("retrain_factor")),
)  # fmt: skip


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
    # Refuse before training a size certification cannot take: ReluTeacherStudent's hvp
    # forms the dense Hessian, so only the dense route is feasible.
    d = cfg["d"] or cfg["k"]
    check_certifiable(
        make_problem(cfg).n_params,
        lanczos=False,
        what=f"spurious-relu with k = {cfg['k']}, n = {n}, d = {d}",
    )


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


def make_square_problem(
    cfg: dict, dtype: str = "float64", device: str = "cpu"
) -> ReluTeacherStudent:
    """The problem of the n = k cell (the other settings at their defaults) for ``cfg["k"]``.

    For the studies of this study's stored n = k runs (``spurious-spectra``,
    ``minima-barriers``), whose cells name k alone.
    """
    return make_problem({"k": cfg["k"], "extra": 0, "d": 0, "train_a": 0}, dtype, device)


# For the studies of this study's stored n = k runs (``spurious-spectra``,
# ``minima-barriers``): the cell's rows become the runs of n = k at the cell's k
# (computed first where missing), with their verdict as ``source_verdict`` and their loss.
SQUARE_RUNS = Require(
    "spurious-relu",
    overrides=lambda cfg: {"k": [cfg["k"]], "extra": [0]},
    copy=(("verdict", "source_verdict", "VARCHAR"), ("loss", "loss", "DOUBLE")),
)


def _method(cfg: dict) -> GD | Adam:
    lr = cfg["step"] / cfg["k"]
    return GD(lr) if cfg["optimizer"] == "gd" else Adam(lr)


TRAIN = Train(
    method=_method,
    stop=lambda cfg: Stop(grad_tol=cfg["grad_tol"], max_steps=cfg["max_steps"]),
    label="GD",
    names=("steps", "gd_status", "gd_grad_norm"),
)
# a row already at loss <= gap_tol / 10 stops the polish before its first Newton step
CERTIFY = PolishCertify(polish_to_global=lambda cfg: cfg["polish_stop"] == "global")

PROTOCOL = Protocol(
    make_problem=make_problem,
    steps=(
        TRAIN,
        CERTIFY,
        Retrain(
            verdicts=("saddle", "not_converged"),
            train=TRAIN,
            stop=lambda cfg: Stop(
                grad_tol=cfg["grad_tol"] * cfg["retrain_factor"], max_steps=cfg["max_steps"]
            ),
            certify=CERTIFY,
        ),
        Measure(lambda cell: {"n": [cell.problem.n] * cell.R}, {"n": "BIGINT"}),
    ),
)

SPURIOUS = ("spurious_min", "local_min")

SUMMARY = SummarySpec(
    keys=param_keys(PARAMS, "k", "extra", "d", "train_a", "optimizer"),
    aggs=(
        Agg("global", "verdict", "share", ("global_min",)),
        Agg("spurious_min", "verdict", "share", SPURIOUS),
        Agg("spurious_se", "verdict", "se", SPURIOUS),
        Agg("saddle", "verdict", "share", ("saddle",)),
        Agg("degenerate", "verdict", "share", ("degenerate",)),
        Agg("not_converged", "verdict", "share", ("not_converged",)),
        Agg("diverged", "verdict", "share", ("diverged",)),
        Agg("spurious_loss_mean", "loss", where=("verdict", SPURIOUS)),
        Agg("spurious_eig_min_mean", "eig_min", where=("verdict", SPURIOUS)),
        Agg("steps_mean", "steps"),
    ),
    derived=(("n", lambda c: c["k"] + c["extra"]), ("d", lambda c: c["d"] or c["k"])),
    sort=lambda c: (c["train_a"], c["optimizer"], c["d"] - c["k"], c["extra"], c["k"]),
)

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


def figures(summary: list[dict]) -> list[FigureSpec]:
    """% spurious minima against k, one line per n - k; and their mean loss against k."""
    # d is k by default, so it varies with k; what separates lines is d - k.
    summary = [{**c, "d - k": c["d"] - c["k"]} for c in summary]
    keys = ("d - k", "train_a", "optimizer")
    varying = [key for key in keys if len({c[key] for c in summary}) > 1]
    pts = [{**c, "series": _series(c, varying)} for c in summary]
    # both charts: a line per series against k
    axes = {"x": "k", "group": "series", "xlabel": "teacher neurons k", "group_label": ""}
    specs = [
        line_chart(
            pts,
            y="spurious_min",
            stem="spurious-relu",
            ylabel="runs ending in a spurious minimum",
            title="Spurious minima reached by GD (Safran & Shamir 2018)",
            **axes,
        )
    ]
    with_loss = [c for c in pts if c["spurious_loss_mean"] is not None]
    if with_loss:
        specs.append(
            line_chart(
                with_loss,
                y="spurious_loss_mean",
                stem="spurious-relu-loss",
                ylabel="mean loss at the spurious minima",
                percent=False,
                **axes,
            )
        )
    return specs


GRID = Grid(PARAMS, seeds=100, validate=_validate)
RESULTS = Results(SUMMARY, TABLE, figures)
STUDY = Study(name="spurious-relu", doc=__doc__, grid=GRID, protocol=PROTOCOL, results=RESULTS)
