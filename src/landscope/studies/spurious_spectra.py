"""Isotropy groups and Hessian spectra of spurious ReLU minima (Arjevani & Field 2020-21).

Arjevani & Field, "Analytic characterization of the Hessian in shallow ReLU models: a
tale of symmetry" (NeurIPS 2020), and "On the principle of least symmetry breaking in
shallow ReLU models". For the teacher V = I (k = d) the population loss is invariant
under W -> P W Q' (P permuting student neurons, Q permuting inputs together with the
teacher's neurons): the group S_k x S_k. The spurious minima gradient descent finds are
highly symmetric: their isotropy groups are large subgroups such as the diagonal
Delta S_{k-1}. At such points most Hessian eigenvalues stay O(1) while about k of them
grow linearly with k.

Run it::

    landscope run spurious-spectra               # k = 6..10, the spurious-relu runs of each
    landscope run spurious-spectra --set k=6..16
    landscope show spurious-spectra --format json; landscope plot spurious-spectra

Run times are in benchmarks/README.md.

Protocol (every setting a study parameter stored with each row):

1. ``Require``: the runs of ``spurious-relu`` (n = k, its default settings) with the same
   seeds, from the store; that study's missing runs are computed and stored first. Its
   certified, Newton-polished points (||grad|| <= its ``polish_tol``) are this study's
   rows, its verdict is ``source_verdict``.
2. ``Measure`` (every row): the exact Hessian at the global minimum W = I against the
   representation theory of Delta S_k acting on k x k matrices
   (``landscope.symmetry.delta_sk_dimensions``): R^{k x k} splits into two trivial,
   three standard (dimension k - 1), one (k-2, 2) (dimension k(k-3)/2) and one
   (k-2, 1, 1) (dimension (k-1)(k-2)/2) irreducible parts. The Hessian there commutes
   with the group, so (Schur) each of its eigenspaces is a sum of irreducible parts:
   every multiplicity must be a sum of those dimensions, the parts used exactly once
   overall (``multiplicities_fit``; eigenvalues of different parts may coincide: at
   W = I the value 1/4 - 1/(2 pi) is shared by a standard part and the (k-2, 1, 1) part).
3. ``Measure`` (the spurious minima): the isotropy group of W
   (``landscope.symmetry.isotropy``, entries equal within ``iso_tol``), its name and
   order; the exact Hessian spectrum (dense, float64): smallest and largest eigenvalue,
   the number of distinct eigenvalues (gaps > ``distinct_tol`` (1 + |lambda|)), and the
   split into a bulk (eigenvalues <= ``bulk_edge``) and outliers
   (``landscope.spectrum.bulk_outliers``). At the global minimum W = I every bulk
   eigenvalue is 1/4 - 1/(2 pi) = 0.091, 0.26-0.28 or 1/4 + 1/(2 pi) = 0.409 for every k,
   while the k + 1 outliers grow like k / 4; 1/2 separates the two at every k >= 3.

Measured (k = 6..12, 100 runs each): every spurious minimum found at k = 7 and 8 has
isotropy Delta S_{k-1} (7 of 7 each); at k = 9..12 the share is 91, 91, 84 and 79 %, the
rest in Delta(S_2 x S_{k-2}) and, from k = 11, Delta(S_3 x S_{k-3}), whose losses are
about 2x and 3x larger. k x loss of the Delta S_{k-1} family is 0.162, 0.172, 0.180,
0.187, 0.193, 0.198 for k = 7..12 (the loss decays slightly slower than 1/k); its
spectrum has 12 distinct eigenvalues, k + 1 outliers above 1/2 (mean growing with k,
largest 2.30 at k = 7, 3.62 at k = 12) and a bulk below 0.39. No spurious minimum at
k = 6 (100 runs). At W = I the multiplicities are those Delta S_k predicts for every k
(e.g. 1, 1, 7, 7, 20, 28 at k = 8: the 28 is a standard part (7) and the (6, 1, 1) part
(21) sharing 1/4 - 1/(2 pi)).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..spectrum import bulk_outliers, eigenvalue_clusters
from ..symmetry import delta_sk_dimensions, isotropy, multiplicities_fit
from ..symmetry import isotropy_family as family
from . import spurious_relu
from ._checks import at_least, positive
from ._params import iso_tol
from ._study import Grid, Param, Results, Study
from .figures import FigureSpec, HLine, Panel, Scatter, floats
from .protocol import Cell, Measure, Protocol
from .summary import Agg, Part, SummarySpec, param_keys

__all__ = ["PROTOCOL", "STUDY", "SUMMARY", "make_problem"]

SOURCE = spurious_relu.SQUARE_RUNS.study
BULK_EDGE = 0.5
DISTINCT_TOL = 1e-6

PARAMS = (
    Param("k", int, tuple(range(6, 11)), "teacher neurons (n = d = k)", at_least("k", 3)),
    iso_tol(),
    Param(
        "distinct_tol",
        float,
        (DISTINCT_TOL,),
        "distinct eigenvalues: sorted neighbours split at gaps > distinct_tol (1 + |lambda|)",
        positive("distinct_tol"),
    ),
    Param(
        "bulk_edge",
        float,
        (BULK_EDGE,),
        "eigenvalues above bulk_edge are outliers",
        positive("bulk_edge"),
    ),
)


# the problem of spurious-relu's n = k cell (its defaults otherwise) for this k
make_problem = spurious_relu.make_square_problem


def _clusters(eigs: np.ndarray, tol: float = DISTINCT_TOL) -> list[tuple[float, int]]:
    """(value, multiplicity): sorted neighbours split at gaps > tol (1 + |lambda|)."""
    return list(eigenvalue_clusters(eigs, tol, rtol=tol))


def _global_minimum(cell: Cell) -> dict:
    """The multiplicities of the Hessian at W = I, and whether Delta S_k allows them."""
    k = cell.cfg["k"]
    eye = torch.eye(k, dtype=torch.float64, device=cell.theta.device).reshape(1, -1)
    H0 = cell.problem64.hessian(eye)[0]
    mults = [m for _, m in _clusters(torch.linalg.eigvalsh(H0).cpu(), cell.cfg["distinct_tol"])]
    matches = multiplicities_fit(mults, delta_sk_dimensions(k))
    text = ",".join(str(m) for m in sorted(mults))
    return {"global_multiplicities": [text] * cell.R, "global_matches_symmetry": [matches] * cell.R}


def _spurious_minima(cell: Cell) -> dict:
    """Isotropy group and exact spectrum of each spurious minimum."""
    cfg, k = cell.cfg, cell.cfg["k"]
    cell.progress(0, "isotropy + spectrum")
    ev = torch.linalg.eigvalsh(cell.problem64.hessian(cell.theta)).cpu().numpy()
    out: dict[str, list] = {name: [] for name in SPURIOUS_COLUMNS}
    for i in range(cell.R):
        iso = isotropy(cell.theta[i].reshape(k, k), group="SnxSd", tol=cfg["iso_tol"])
        split = bulk_outliers(ev[i], cfg["bulk_edge"])
        values = {
            "isotropy": iso.name,
            "iso_order": int(iso.order),
            "eig_min": float(ev[i].min()),
            "eig_max": float(ev[i].max()),
            "distinct_eigs": len(_clusters(ev[i], cfg["distinct_tol"])),
            "n_outliers": split.n_outliers,
            "outlier_mean": split.outlier_mean,
            "bulk_max": split.bulk_max,
            "eigs": ev[i],
        }
        for name, value in values.items():
            out[name].append(value)
    return out


SPURIOUS = ("source_verdict", ("spurious_min",))
GLOBAL_COLUMNS = {"global_multiplicities": "VARCHAR", "global_matches_symmetry": "BOOLEAN"}
SPURIOUS_COLUMNS = {
    "isotropy": "VARCHAR",
    "iso_order": "BIGINT",
    "eig_min": "DOUBLE",
    "eig_max": "DOUBLE",
    "distinct_eigs": "BIGINT",
    "n_outliers": "BIGINT",
    "outlier_mean": "DOUBLE",
    "bulk_max": "DOUBLE",
    "eigs": "DOUBLE[]",
}

PROTOCOL = Protocol(
    make_problem=make_problem,
    steps=(
        spurious_relu.SQUARE_RUNS,
        Measure(_global_minimum, GLOBAL_COLUMNS),
        Measure(_spurious_minima, SPURIOUS_COLUMNS, where=SPURIOUS),
    ),
)

# per isotropy type of spurious minima (also least-symmetry's): the order of its group,
# how many runs, their mean loss and smallest Hessian eigenvalue
PER_TYPE = (
    Agg("order", "iso_order", "first"),
    Agg("count", how="rows"),
    Agg("loss_mean", "loss"),
    Agg("eig_min", "eig_min", "min"),
)

KEYS = param_keys(PARAMS, "k")  # a cell is its configuration

SUMMARY = SummarySpec(
    keys=KEYS,
    group=KEYS,
    sort=lambda c: c["k"],
    parts=(
        # the global minimum W = I, and the share of the spurious minima in Delta S_{k-1}
        Part(
            keys=(*KEYS, "runs"),
            columns=(("_main", lambda r: r["isotropy"] == f"Delta S_{r['k'] - 1}"),),
            aggs=(
                Agg("spurious", "source_verdict", "count", ("spurious_min",)),
                Agg("in_delta_s_k_minus_1", "_main", "fraction", where=SPURIOUS),
                Agg("count", "source_verdict", "count", ("global_min",)),
                Agg("multiplicities", "global_multiplicities", "first"),
                Agg("matches_symmetry", "global_matches_symmetry", "first"),
            ),
            derived=(
                ("isotropy", lambda s: f"Delta S_{s['k']} (global min W = I)"),
                ("order", lambda s: math.factorial(s["k"])),
                ("loss_mean", lambda s: 0.0),
                ("k_loss", lambda s: 0.0),
                ("eig_min", lambda s: None),
                ("eig_max", lambda s: None),
                ("distinct_eigs", lambda s: len(s["multiplicities"].split(","))),
                ("n_outliers", lambda s: None),
                ("matches_symmetry", lambda s: bool(s["matches_symmetry"])),
            ),
        ),
        # one row per type of spurious minimum: isotropy group and loss (to 7 decimals)
        Part(
            keys=(*KEYS, "runs"),
            where=SPURIOUS,
            columns=(("_loss", lambda r: round(float(r["loss"]), 7)),),
            group=("isotropy", "_loss"),
            aggs=(
                *PER_TYPE,
                Agg("eig_max", "eig_max", "max"),
                Agg("distinct_eigs", "distinct_eigs", "median"),
                Agg("n_outliers", "n_outliers", "median"),
                Agg("outlier_mean", "outlier_mean"),
                Agg("bulk_max", "bulk_max", "max"),
                Agg("eigs", "eigs", "first"),
            ),
            derived=(
                ("order", lambda s: int(s["order"])),
                ("k_loss", lambda s: s["k"] * s["loss_mean"]),
                ("distinct_eigs", lambda s: int(s["distinct_eigs"])),
                ("n_outliers", lambda s: int(s["n_outliers"])),
                ("eigs", lambda s: [float(e) for e in s["eigs"]]),
            ),
            sort=lambda s: (-s["count"], s["_loss"]),
        ),
    ),
)

TABLE = (
    ("k", "k", "d"),
    ("in_delta_s_k_minus_1", "spurious in Delta S_(k-1)", ".0%"),
    ("isotropy", "isotropy", "s"),
    ("order", "order", ".4g"),
    ("count", "count", "d"),
    ("runs", "runs", "d"),
    ("loss_mean", "loss", ".6f"),
    ("k_loss", "k loss", ".4f"),
    ("eig_min", "eig min", ".4f"),
    ("eig_max", "eig max", ".3f"),
    ("distinct_eigs", "distinct", "d"),
    ("n_outliers", "outliers", "d"),
    ("bulk_max", "bulk max", ".3f"),
    ("multiplicities", "multiplicities (W = I)", "s"),
    ("matches_symmetry", "as predicted", "s"),
)


def figures(summary: list[dict]) -> list[FigureSpec]:
    """Spectra against k (bulk near zero, outliers growing) and loss (k loss) against k."""
    minima = [c for c in summary if "eigs" in c]
    fams = list(dict.fromkeys(family(c["isotropy"], c["k"]) for c in minima))
    colors = {f: f"C{i % 10}" for i, f in enumerate(fams)}
    seen: set[str] = set()
    spectra: list = []
    losses = []
    for c in minima:
        fam = family(c["isotropy"], c["k"])
        vals, mults = zip(*_clusters(np.asarray(c["eigs"])), strict=True)
        label = None if fam in seen else fam
        seen.add(fam)
        x = c["k"] + 0.12 * fams.index(fam)  # families side by side at each k
        spectra.append(
            Scatter(
                floats([x] * len(vals)),
                floats(vals),
                size=floats(6 + 3 * np.sqrt(mults)),
                color=colors[fam],
                alpha=0.7,
                label=label,
            )
        )
        losses.append(
            Scatter(
                floats([c["k"]]),
                floats([c["k_loss"]]),
                size=float(12 + 4 * np.sqrt(c["count"])),
                color=colors[fam],
                label=label,
            )
        )
    spectra.append(HLine(BULK_EDGE, color="gray", linestyle="--", linewidth=0.8))
    axes = {"integer_x": True, "title_size": 9, "legend": True, "legend_size": 7}
    return [
        FigureSpec(
            "spurious-spectra",
            (
                Panel(
                    tuple(spectra),
                    title="Spectra at spurious minima: bulk below 1/2, outliers grow with k",
                    xlabel="k (= n = d)",
                    ylabel="Hessian eigenvalue (marker area ~ multiplicity)",
                    yscale="log",
                    **axes,
                ),
                Panel(
                    tuple(losses),
                    title="Loss of each family (k x loss flat if loss ~ a / k)",
                    xlabel="k",
                    ylabel="k x loss (marker area ~ count)",
                    **axes,
                ),
            ),
            size=(10, 4),
        )
    ]


GRID = Grid(PARAMS, seeds=100)
RESULTS = Results(SUMMARY, TABLE, figures)
STUDY = Study(name="spurious-spectra", doc=__doc__, grid=GRID, protocol=PROTOCOL, results=RESULTS)
