"""Shallow quadratic networks: when spurious critical points vanish (Kazemipour et al. 2019).

Kazemipour, Larsen & Druckmann, "No spurious local minima in training deep quadratic
networks" (2019). A network f(x) = sum_j a_j (w_j . x)^2 (+ g |x|^2) is trained on m
Gaussian samples of a target and compared with the convex lifted least-squares optimum
M* (``landscope.convex.lifted_least_squares``), which is the global minimum of the
network loss once h >= d.

Run it::

    landscope run quadratic-nets                 # 3 setups x 4 variants x h = 1..20, d = 10
    landscope run quadratic-nets --set rel_gap_tol=1e-6 --set grad_tol=1e-10
    landscope show quadratic-nets --format json; landscope plot quadratic-nets

Run times at default size, per host, are in benchmarks/README.md.

Setups (``setup``, ``landscope.problems.quadratic.quadratic_data``): ``identity``
(y = sum_i s_i x_i^2, random signs s_i), ``gaussian`` (y = x'A*x, A* = (G + G')/2 with G
standard Gaussian), ``nonplanted`` (y ~ N(0, 2d), independent of x, the variance of the
identity target). One data set per (setup, d, data_seed), shared by every variant and
h, with m = ceil(m_factor * d(d+1)/2) samples.

Variants (``variant``): ``regular`` (W, a), ``added_norm`` (W, a, g: the input norm as an
extra regressor), ``orthogonal`` (W, a with penalty * ||W W' - I||^2); and
``least_squares``: the network read off M*'s eigen-decomposition
(``landscope.convex.network_from_matrix``), not trained (the same point for every seed).

Protocol (every setting a study parameter stored with each row):

1. ``Train`` (not for ``least_squares``): batched L-BFGS from W ~ N(0, 1/d),
   a ~ N(0, 1/h) until ||grad|| <= ``grad_tol`` or ``max_steps``.
2. ``PolishCertify``: rows with ||grad|| <= ``polish_from`` are Newton-polished to
   ``polish_tol`` (the least-squares point is certified as read off, not polished), then
   certified; the verdict uses the convex optimum as the global value when h >= d
   (h >= d - 1 with the added norm).
3. ``Measure``: ``reached_global`` = (loss - loss(M*)) / L0 <= ``rel_gap_tol`` with L0 =
   mean(y^2)/2 the loss of the zero network; ``normalized_error`` = ||M - M*||_F /
   ||M*||_F for the network's matrix M = W' diag(a) W + g I; the signs of a against
   M*'s inertia (eigenvalues beyond ``rank_tol`` times the largest in magnitude).

Expected (measured at default size): with h >= d the least-squares and orthogonal
variants reach the global minimizer in every run, and the added-norm variant already
from h = 9 (= d - 1: g I supplies one more direction; 92 % at h = 8 on the identity
setup); the regular variant stops at bad critical points in 83 % (identity), 58 %
(gaussian) and 42 % (nonplanted) of runs at h = d, and in none from h = 15 on.
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
from typing import Any

import numpy as np
import torch

from ..convex import lifted_least_squares, network_from_matrix
from ..critical import VERDICTS
from ..optim import LBFGS, Stop
from ..problems import QuadraticNet, init_from_seeds
from ..problems.quadratic import TARGETS, quadratic_data
from ._checks import at_least, one_of, positive
from ._params import grad_tol, max_steps, polish_from, polish_tol, rel_gap_tol
from ._study import Grid, Param, Results, Study
from .figures import FigureSpec, grid_chart
from .protocol import Cell, FromCell, Measure, PolishCertify, Protocol, Train
from .summary import Agg, SummarySpec, param_keys

__all__ = [
    "GAP_COLUMNS",
    "PROTOCOL",
    "STUDY",
    "gap_columns",
    "make_data",
    "make_problem",
    "zero_loss",
]

SETUPS = TARGETS
VARIANTS = ("regular", "added_norm", "orthogonal", "least_squares")

PARAMS = (
    Param("setup", str, SETUPS, "identity, gaussian or nonplanted", one_of("setup", SETUPS)),
    Param("variant", str, VARIANTS, "how the network is trained", one_of("variant", VARIANTS)),
    Param("d", int, (10,), "input dimension", at_least("d", 1)),
    Param("h", int, tuple(range(1, 21)), "hidden units", at_least("h", 1)),
    Param("m_factor", float, (2.0,), "samples per unknown of M", positive("m_factor")),
    Param("data_seed", int, (0,), "seed of the data set", at_least("data_seed", 0)),
    Param("penalty", float, (1.0,), "orthogonality penalty weight", at_least("penalty", 0)),
    grad_tol(1e-8, "L-BFGS"),
    max_steps(3000, "L-BFGS iterations per run"),
    polish_from(1e-4),
    polish_tol(1e-12),
    rel_gap_tol("(loss - loss(M*)) / L0"),
    Param(
        "rank_tol",
        float,
        (1e-9,),
        "M*'s eigenvalues beyond rank_tol x its largest |eigenvalue| count in its inertia",
        positive("rank_tol"),
    ),
)


def make_data(cfg: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The cell's samples (X (m, d), y (m,)), float64, a function of (setup, d, m, data_seed)."""
    d = cfg["d"]
    m = math.ceil(cfg["m_factor"] * d * (d + 1) / 2)
    # one stream per (data_seed, setup, d): every variant and h sees the same data
    seed = (cfg["data_seed"] * 1_000_003 + SETUPS.index(cfg["setup"]) * 1009 + d) % 2**63
    return quadratic_data(cfg["setup"], m, d, generator=torch.Generator().manual_seed(seed))


def make_problem(cfg: dict, dtype: str = "float64", device: str = "cpu") -> QuadraticNet:
    """The network loss of one cell; its global value is the convex optimum's when known.

    The convex optimum is the network's global minimum once every symmetric matrix is
    representable: h >= d units, or h >= d - 1 with the added norm (A - l I has rank
    d - 1 for an eigenvalue l of A, and g = l supplies the rest). The ``least_squares``
    variant's point is a ``regular`` network, never trained: float64 always.
    """
    X, y = make_data(cfg)
    variant, h = cfg["variant"], cfg["h"]
    gm = lifted_least_squares(X, y).loss if h >= cfg["d"] - (variant == "added_norm") else None
    kw = {"h": h, "penalty": cfg["penalty"], "global_min": gm, "device": device}
    if variant == "least_squares":
        return QuadraticNet(X, y, variant="regular", **kw)
    return QuadraticNet(X, y, variant=variant, dtype=dtype, **kw)


def _read_off(cell: Cell) -> bool:
    return cell.cfg["variant"] == "least_squares"


def _init(cell: Cell) -> torch.Tensor:
    """Random rows; for ``least_squares`` the network read off M* in every row."""
    prob = cell.problem
    if not _read_off(cell):
        return init_from_seeds(prob, cell.seeds)
    W, a = network_from_matrix(lifted_least_squares(prob.X, prob.y).M, prob.h)
    return prob.join(W[None], a[None]).to(prob.device).expand(cell.R, -1).clone()


# the columns of ``gap_columns``
GAP_COLUMNS = {"loss_gap": "DOUBLE", "reached_global": "BOOLEAN"}


def zero_loss(y: torch.Tensor) -> float:
    """L0 = mean(y^2)/2, the loss of the zero network: the scale of ``loss_gap``."""
    return 0.5 * float((y * y).mean())


def gap_columns(gap: np.ndarray, rel_gap_tol: float) -> dict[str, Any]:
    """``loss_gap``: each row's loss above the global value, over L0; ``reached_global``:
    a finite gap of at most ``rel_gap_tol``."""
    return {"loss_gap": gap, "reached_global": np.isfinite(gap) & (gap <= rel_gap_tol)}


def _against_the_optimum(cell: Cell) -> dict[str, Any]:
    """Each row's gap to the convex optimum, its matrix's error and its signs vs M*'s."""
    prob, R = cell.problem64, cell.R
    sol = lifted_least_squares(prob.X, prob.y)
    Mstar = sol.M
    M = prob.matrix(cell.theta).cpu().numpy()
    err = np.linalg.norm(M - Mstar, axis=(1, 2)) / max(np.linalg.norm(Mstar), 1e-300)
    gap = (cell.value("loss") - sol.loss) / zero_loss(prob.y)
    # Sylvester: W' diag(a) W has at most #(a_j > 0) positive and #(a_j < 0) negative
    # eigenvalues, so a run whose signs fall short of M*'s inertia cannot reach M*; and
    # a_j cannot change sign without its unit passing through a_j = 0.
    lam = np.linalg.eigvalsh(Mstar)
    cut = cell.cfg["rank_tol"] * max(float(np.abs(lam).max()), 1e-300)
    mstar_pos, mstar_neg = int((lam > cut).sum()), int((lam < -cut).sum())
    a = prob.split(cell.theta)[1]
    a_pos = (a > 0).sum(1).cpu().numpy()
    a_neg = (a < 0).sum(1).cpu().numpy()
    return {
        "m": [int(prob.X.shape[0])] * R,
        "ls_loss": [sol.loss] * R,
        **gap_columns(gap, cell.cfg["rel_gap_tol"]),
        "normalized_error": err,
        "a_pos": a_pos,
        "a_neg": a_neg,
        "mstar_pos": [mstar_pos] * R,
        "mstar_neg": [mstar_neg] * R,
        "signs_short": (a_pos < mstar_pos) | (a_neg < mstar_neg),
    }


PROTOCOL = Protocol(
    make_problem=make_problem,
    init=FromCell(_init),
    steps=(
        Train(
            method=lambda cfg: LBFGS(),
            stop=lambda cfg: Stop(grad_tol=cfg["grad_tol"], max_steps=cfg["max_steps"]),
            label="L-BFGS",
            when=lambda cfg: cfg["variant"] != "least_squares",
        ),
        # the least-squares point is certified as read off M*, not polished
        PolishCertify(skip=lambda cell: torch.full((cell.R,), _read_off(cell))),
        Measure(
            _against_the_optimum,
            {
                "m": "BIGINT",
                "ls_loss": "DOUBLE",
                **GAP_COLUMNS,
                "normalized_error": "DOUBLE",
                "a_pos": "BIGINT",
                "a_neg": "BIGINT",
                "mstar_pos": "BIGINT",
                "mstar_neg": "BIGINT",
                "signs_short": "BOOLEAN",
            },
        ),
    ),
)

MISSED = ("reached_global", (False,))

SUMMARY = SummarySpec(
    keys=param_keys(PARAMS, "setup", "variant", "d", "h"),
    aggs=(
        Agg("reached_global", how="fraction"),
        Agg("normalized_error_mean", "normalized_error"),
        Agg("bad_error_mean", "normalized_error", where=MISSED),
        *(Agg(v, "verdict", "share", (v,)) for v in VERDICTS if v != "local_min"),
        Agg("local_min", "verdict", "share", ("local_min",)),
        Agg("bad_n_neg_mean", "n_neg", where=MISSED),
        # of the runs that missed the optimum, those whose signs a_j cannot produce M*'s
        # inertia (the regular variant's bad critical points)
        Agg("bad_sign_short", "signs_short", "fraction", where=MISSED),
        Agg("steps_mean", "steps"),
    ),
    sort=lambda c: (SETUPS.index(c["setup"]), VARIANTS.index(c["variant"]), c["d"], c["h"]),
)

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


GRID = Grid(PARAMS, seeds=12)
RESULTS = Results(SUMMARY, TABLE, figures)
STUDY = Study(name="quadratic-nets", doc=__doc__, grid=GRID, protocol=PROTOCOL, results=RESULTS)
