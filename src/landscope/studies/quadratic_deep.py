"""Deep quadratic networks: the width a student needs to reach its teacher (Kazemipour 2019).

The deep panel of Kazemipour, Larsen & Druckmann, "No spurious local minima in training
deep quadratic networks" (2019), as far as it could be reproduced here (see below). A
teacher ``DeepQuadraticNet`` of depth L (default 2 quadratic layers, then a linear
read-out with +-1 signs) and width ``teacher`` in every layer labels m Gaussian inputs
x ~ N(0, I_d) (``landscope.problems.deep_quadratic.planted_data``); a student of the same
depth and width h in every layer, with or without the norm units (``added_norm``: every
layer also passes on its input's squared norm), is trained from W_l ~ N(0, 1/fan_in).
Any student with h >= teacher represents the teacher exactly (``DeepQuadraticNet.embed``),
so its global minimum is 0.

Run it::

    landscope run quadratic-deep                  # d = 8, 9, 10; h = 2..16 and 140; 2 variants
    landscope run quadratic-deep --set rel_gap_tol=1e-6 --set max_certify=0
    landscope show quadratic-deep --format json; landscope plot quadratic-deep

Run times at default size, per host, are in benchmarks/README.md.

Protocol (every setting a study parameter stored with each row), on m =
ceil(m_factor * C(d + 2^L - 1, 2^L)) samples (m_factor times the number of monomials of
degree 2^L, so that the teacher's polynomial is identifiable):

1. ``Train``: batched Levenberg-Marquardt from every init until ||grad|| <=
   ``rel_grad_tol`` * sqrt(L0) or ``max_steps`` iterations, L0 = mean(y^2)/2 the loss of
   the zero network (gradient descent and L-BFGS crawl sublinearly into the degenerate
   zero-loss minima of wide students and would blur "not yet" with "never"); with
   ``train_stop`` = global (default) also once loss <= min(rel_gap_tol L0, gap_tol) / 10
   where the global value 0 is known, which settles both the row's ``reached_global``
   and its ``global_min`` verdict. Students with more parameters than samples take the
   step in its m x m form from the network's Kronecker-factored Jacobian
   (``LevenbergMarquardt``, ``FactoredJacobian``): J (m x P) is never built.
2. ``PolishCertify``: rows with ||grad|| <= ``polish_from`` are Newton-polished to
   ``polish_tol``, then every run with at most ``max_certify`` parameters is certified
   (Hessian spectrum; global value 0 when h >= teacher); in larger students a row at the
   global value (loss <= gap_tol) is ``global_min`` by its loss alone and the others are
   ``uncertified`` (loss and gradient only).
3. ``Measure``: ``reached_global`` is loss / L0 <= ``rel_gap_tol``.

Runs that must silence surplus units converge only sublinearly (a unit's output is
quartic in its weights): they are counted as reaching the teacher by their loss (the
global value is 0) and are neither polished nor given a spectrum; before ``train_stop``
they walked up to ``max_steps`` to sit at loss / L0 ~ 1e-10..1e-25 without having met
the gradient tolerance. The
bad points found sit at loss / L0 >= 3e-3, so ``rel_gap_tol`` = 1e-8 separates the two
with room on both sides.

Expected (measured at default size, 8 inits per cell): the regular variant reaches the
teacher in 62-88 % of runs at h = teacher = 2 (d = 8, 9, 10) and in every run from h = 4
on; with the norm units, in only 12-38 % at h = 2, 38-75 % at h = 3..4, and every run
from h = 8 on; at h = 140 (P = 20,860 to 21,281) every run of both variants reaches
the teacher, in 8 to 49 Levenberg-Marquardt iterations, and is ``global_min`` by its
loss. Every bad point that reached a critical point is ``degenerate``: no negative
Hessian eigenvalue (min -4e-10), zero eigenvalues from the rescaling symmetry
W_l row j -> c row j, W_{l+1} column j -> column j / c^2 that every critical point of
these networks has, so the second-order test cannot tell a flat local minimum from a
higher-order saddle. In this setting the layer-wise norm units make the landscape worse
for narrow students, not better.

Deviations from the paper, stated: its deep panel sweeps hidden units up to 140; the
default grid takes h <= 16 and h = 140 (P = 21,140 at d = 10, certified by the loss
alone: a dense Hessian of that size is not), and other widths can be set (``--set
h=32,64``; the per-cell times are in benchmarks/README.md: the widths where P is near
m, 32 to 64 at d = 10, are the slowest, as both the P x P and the m x m systems are
large and some runs creep for a hundred iterations). The teacher and the exact
deep architecture of the paper's figure could not be checked against its text (no access
to it here); this study fixes its own.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..critical import VERDICTS, Tolerances
from ..optim import LevenbergMarquardt, Stop
from ..problems.deep_quadratic import DeepQuadraticNet, planted_data
from ._checks import at_least, one_of, positive
from ._params import max_steps, polish_from, polish_tol, rel_gap_tol
from ._study import Grid, Param, Results, Study
from .figures import FigureSpec, grid_chart
from .protocol import Cell, FromCell, Measure, PolishCertify, Protocol, Train
from .quadratic_nets import GAP_COLUMNS, gap_columns, zero_loss
from .summary import Agg, SummarySpec, param_keys

__all__ = ["PROTOCOL", "STUDY", "make_data", "make_problem", "n_samples"]

VARIANTS = ("regular", "added_norm")


def _check_depth(depth: int) -> None:
    at_least("depth", 1)(depth)
    if depth > 3:
        raise ValueError(f"depth must be 1, 2 or 3, got {depth}.")


PARAMS = (
    Param("d", int, (8, 9, 10), "input dimension", at_least("d", 1)),
    Param("depth", int, (2,), "quadratic layers (1..3)", _check_depth),
    Param("variant", str, VARIANTS, "regular or added_norm", one_of("variant", VARIANTS)),
    Param("h", int, (2, 3, 4, 6, 8, 12, 16, 140), "student units per layer", at_least("h", 1)),
    Param("teacher", int, (2,), "teacher units per layer", at_least("teacher", 1)),
    Param("m_factor", float, (2.0,), "samples per monomial", positive("m_factor")),
    Param("data_seed", int, (0,), "seed of the data and teacher", at_least("data_seed", 0)),
    max_steps(300, "Levenberg-Marquardt iterations"),
    Param(
        "rel_grad_tol",
        float,
        (1e-12,),
        "Levenberg-Marquardt stops at ||grad|| <= rel_grad_tol x sqrt(L0)",
        positive("rel_grad_tol"),
    ),
    Param(
        "train_stop",
        str,
        ("global",),
        "Levenberg-Marquardt stops at the gradient tolerance, or also ('global') at loss "
        "<= min(rel_gap_tol x L0, gap_tol) / 10 where the global value 0 is known",
        one_of("train_stop", ("gradient", "global")),
    ),
    polish_from(1e-4),
    polish_tol(1e-12),
    rel_gap_tol("loss / L0"),
    Param(
        "max_certify",
        int,
        (2000,),
        "certify students with at most this many parameters",
        at_least("max_certify", 0),
    ),
)


def n_samples(cfg: dict) -> int:
    """m: m_factor times the number of monomials of degree 2^depth in d variables."""
    deg = 2 ** cfg["depth"]
    return math.ceil(cfg["m_factor"] * math.comb(cfg["d"] + deg - 1, deg))


def make_data(cfg: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(X (m, d), y (m,)), float64, from (d, depth, teacher, m, data_seed) alone."""
    d, depth, t = cfg["d"], cfg["depth"], cfg["teacher"]
    # one stream per (data_seed, d, depth, teacher): every variant and h sees the same data
    seed = (cfg["data_seed"] * 1_000_003 + d * 1009 + depth * 101 + t) % 2**63
    gen = torch.Generator().manual_seed(seed)
    return planted_data(n_samples(cfg), d, (t,) * depth, generator=gen)


def make_problem(cfg: dict, dtype: str = "float64", device: str = "cpu") -> DeepQuadraticNet:
    """The student's loss on the cell's data; global value 0 when it is as wide as the teacher."""
    X, y = make_data(cfg)
    return DeepQuadraticNet(
        X,
        y,
        widths=(cfg["h"],) * cfg["depth"],
        added_norm=cfg["variant"] == "added_norm",
        global_min=0.0 if cfg["h"] >= cfg["teacher"] else None,
        dtype=dtype,
        device=device,
    )


def _zero_loss(cell: Cell) -> float:
    """L0 = mean(y^2)/2, the loss of the zero network."""
    return zero_loss(cell.problem64.y)


def _loss_target(cell: Cell) -> float | None:
    """Where the global value 0 is known (``train_stop`` global), the loss at which a
    row's outcome is settled: reached the teacher (loss / L0 <= rel_gap_tol) and
    certified ``global_min`` (loss <= gap_tol), with a factor 10 to spare. Rows that
    reach the teacher converge only sublinearly into its degenerate minima and used to
    walk the rest of ``max_steps`` there."""
    if cell.cfg["train_stop"] != "global" or cell.problem64.global_min is None:
        return None
    return 0.1 * min(cell.cfg["rel_gap_tol"] * _zero_loss(cell), Tolerances().gap_tol)


def _at_zero(cell: Cell) -> torch.Tensor:
    # rows already at the global value need neither polishing nor a spectrum (their
    # verdict is global_min either way): the Hessians of wide students are most of a
    # cell's cost
    loss = cell.problem64.loss(cell.theta.to(torch.float64))
    return loss <= cell.cfg["rel_gap_tol"] * _zero_loss(cell)


def _gap(cell: Cell) -> dict[str, Any]:
    """Each row's loss relative to L0, and whether it reached the teacher's value."""
    gap = cell.value("loss").astype(float) / _zero_loss(cell)
    return {
        "m": [int(cell.problem64.X.shape[0])] * cell.R,
        "n_params": [cell.problem64.n_params] * cell.R,
        **gap_columns(gap, cell.cfg["rel_gap_tol"]),
    }


PROTOCOL = Protocol(
    make_problem=make_problem,
    steps=(
        Train(
            method=lambda cfg: LevenbergMarquardt(),
            stop=FromCell(
                lambda cell: Stop(
                    grad_tol=cell.cfg["rel_grad_tol"] * math.sqrt(_zero_loss(cell)),
                    max_steps=cell.cfg["max_steps"],
                    loss_target=_loss_target(cell),
                )
            ),
            label="Levenberg-Marquardt",
        ),
        PolishCertify(skip=_at_zero, global_spectrum=False, max_params="max_certify"),
        Measure(_gap, {"m": "BIGINT", "n_params": "BIGINT", **GAP_COLUMNS}),
    ),
)

MISSED = ("reached_global", (False,))

SUMMARY = SummarySpec(
    keys=param_keys(PARAMS, "d", "depth", "variant", "h", "teacher", "n_params"),
    aggs=(
        Agg("reached_global", how="fraction"),
        Agg("bad_gap_median", "loss_gap", "median", where=MISSED),
        *(Agg(v, "verdict", "share", (v,)) for v in VERDICTS),
        # runs that neither reached the teacher nor ended at a critical point (the
        # not_converged verdict also counts runs at zero loss still creeping into a
        # degenerate minimum: they are not polished, see the protocol)
        Agg("miss_not_converged", "verdict", "share", ("not_converged",), MISSED, of_all=True),
        Agg("bad_n_neg_mean", "n_neg", where=MISSED),
        Agg("steps_mean", "steps"),
    ),
    sort=lambda c: (c["depth"], VARIANTS.index(c["variant"]), c["d"], c["h"]),
)

TABLE = (
    ("d", "d", "d"),
    ("depth", "L", "d"),
    ("variant", "variant", "s"),
    ("h", "h", "d"),
    ("teacher", "teacher", "d"),
    ("runs", "runs", "d"),
    ("reached_global", "reached global", ".0%"),
    ("bad_gap_median", "misses: loss/L0", ".1e"),
    ("saddle", "saddle", ".0%"),
    ("degenerate", "degen.", ".0%"),
    ("spurious_min", "spurious", ".0%"),
    ("miss_not_converged", "misses: not conv.", ".0%"),
    ("wall_s", "wall s", ".1f"),
)


def figures(summary: list[dict]) -> list[FigureSpec]:
    """Panels: rows = depth, columns = variant; x = units per layer, one line per d."""
    ds = sorted({c["d"] for c in summary})
    # the share and, where the summary has it, its 95 % interval (drawn as a band)
    ends = ("", "_lo", "_hi") if all("reached_global_lo" in c for c in summary) else ("",)
    pivot: dict[tuple, dict] = {}
    for c in summary:
        key = (c["depth"], c["variant"], c["h"])
        cell = pivot.setdefault(
            key, {"depth": c["depth"], "variant": c["variant"], "h": c["h"]}
            | {f"d{d}{end}": None for d in ds for end in ends}
        )  # fmt: skip
        for end in ends:
            cell[f"d{c['d']}{end}"] = c[f"reached_global{end}"]
    return [
        grid_chart(
            list(pivot.values()), row="depth", col="variant", x="h",
            ys=[(f"d{d}", f"d = {d}") for d in ds],
            stem="quadratic-deep", xlabel="units per quadratic layer h",
            title="Deep quadratic students reaching the planted teacher (loss / L0 <= rel_gap_tol)",
        )
    ]  # fmt: skip


GRID = Grid(PARAMS, seeds=8)
RESULTS = Results(SUMMARY, TABLE, figures)
STUDY = Study(name="quadratic-deep", doc=__doc__, grid=GRID, protocol=PROTOCOL, results=RESULTS)
