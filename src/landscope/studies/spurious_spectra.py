"""Symmetry and Hessian spectra of the spurious minima of two-layer ReLU networks.

Arjevani & Field, "Analytic characterization of the Hessian in shallow ReLU models: a
tale of symmetry" (NeurIPS 2020), and "On the principle of least symmetry breaking in
shallow ReLU models". For the teacher V = I (k = d) the population loss is invariant
under W -> P W Q' (P permuting student neurons, Q permuting inputs together with the
teacher's neurons): the group S_k x S_k. The spurious minima gradient descent finds are
highly symmetric: their isotropy groups are large subgroups such as the diagonal
Delta S_{k-1}. At such points most Hessian eigenvalues stay O(1) while about k of them
grow linearly with k.

This study takes the certified spurious minima of ``spurious-relu`` (n = k, its default
settings) from the store, running the missing cells of that study first, and per run:

- the isotropy group of W (``landscope.symmetry.isotropy``, entries equal within 1e-6;
  the points are Newton-polished to ||grad|| <= 1e-12), its name and order;
- the exact Hessian spectrum (dense, float64): smallest and largest eigenvalue, the
  number of distinct eigenvalues (gaps > 1e-6 (1 + |lambda|)), and the split into a
  bulk (eigenvalues <= 1/2) and outliers (> 1/2). At the global minimum W = I every bulk
  eigenvalue is 1/4 - 1/(2 pi) = 0.091, 0.26-0.28 or 1/4 + 1/(2 pi) = 0.409 for every k,
  while the k + 1 outliers grow like k / 4; 1/2 separates the two at every k >= 3.

Each cell (k) also checks the spectrum at the global minimum W = I against the
representation theory of Delta S_k acting on k x k matrices: R^{k x k} splits into two
trivial, three standard (dimension k - 1), one (k-2, 2) (dimension k(k-3)/2) and one
(k-2, 1, 1) (dimension (k-1)(k-2)/2) irreducible parts. The Hessian there commutes with
the group, so (Schur) each of its eigenspaces is a sum of irreducible parts: every
multiplicity must be a sum of those dimensions, the parts used exactly once overall
(eigenvalues of different parts may coincide: at W = I the value 1/4 - 1/(2 pi) is
shared by a standard part and the (k-2, 1, 1) part).

Measured (k = 6..12, 100 runs each, 328 s on 2 cores shared with another job, most of it
the spurious-relu runs): every spurious minimum found at k = 7 and 8 has isotropy
Delta S_{k-1} (7 of 7 each); at k = 9..12 the share is 91, 91, 84 and 79 %, the rest in
Delta(S_2 x S_{k-2}) and, from k = 11, Delta(S_3 x S_{k-3}), whose losses are about 2x and
3x larger. k x loss of the Delta S_{k-1} family is 0.162, 0.172, 0.180, 0.187, 0.193,
0.198 for k = 7..12 (the loss decays slightly slower than 1/k); its spectrum has 12
distinct eigenvalues, k + 1 outliers above 1/2 (mean growing with k, largest 2.30 at
k = 7, 3.62 at k = 12) and a bulk below 0.39. No spurious minimum at k = 6 (100 runs).
At W = I the multiplicities are those Delta S_k predicts for every k (e.g. 1, 1, 7, 7,
20, 28 at k = 8: the 28 is a standard part (7) and the (6, 1, 1) part (21) sharing
1/4 - 1/(2 pi)).

Run it::

    landscope run spurious-spectra               # k = 6..10, the spurious-relu runs of each
    landscope run spurious-spectra --set k=6..16
    landscope show spurious-spectra --format json; landscope plot spurious-spectra
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations

import numpy as np
import torch

from ..spectrum import eigenvalue_clusters
from ..symmetry import isotropy
from ._checks import at_least
from ._study import Param, RunContext, Study
from .figures import FigureSpec, HLine, Panel, Scatter, floats

__all__ = ["STUDY", "family", "predicted_dimensions", "run_cell", "summarize"]

BULK_EDGE = 0.5
DISTINCT_TOL = 1e-6
ISO_TOL = 1e-6

PARAMS = (Param("k", int, tuple(range(6, 11)), "teacher neurons (n = d = k)", at_least("k", 3)),)

COLUMNS = {
    "source_verdict": "VARCHAR",
    "loss": "DOUBLE",
    "isotropy": "VARCHAR",
    "iso_order": "BIGINT",
    "eig_min": "DOUBLE",
    "eig_max": "DOUBLE",
    "distinct_eigs": "BIGINT",
    "n_outliers": "BIGINT",
    "outlier_mean": "DOUBLE",
    "bulk_max": "DOUBLE",
    "eigs": "DOUBLE[]",
    "global_multiplicities": "VARCHAR",
    "global_matches_symmetry": "BOOLEAN",
}


def predicted_dimensions(k: int) -> list[int]:
    """Dimensions of the Delta S_k-irreducible parts of R^{k x k} (with repeats)."""
    return [1, 1, k - 1, k - 1, k - 1, k * (k - 3) // 2, (k - 1) * (k - 2) // 2]


def _clusters(eigs: np.ndarray) -> list[tuple[float, int]]:
    """(value, multiplicity): sorted neighbours split at gaps > 1e-6 (1 + |lambda|)."""
    return list(eigenvalue_clusters(eigs, DISTINCT_TOL, rtol=DISTINCT_TOL))


def _is_sum_partition(mults: list[int], dims: list[int]) -> bool:
    """Can ``dims`` be split into groups whose sums are exactly ``mults``?"""
    if sum(mults) != sum(dims):
        return False
    mults = sorted(mults, reverse=True)

    def place(i: int, left: tuple[int, ...]) -> bool:
        if i == len(mults):
            return not left
        for r in range(1, len(left) + 1):
            for combo in combinations(range(len(left)), r):
                if sum(left[j] for j in combo) == mults[i]:
                    rest = tuple(v for j, v in enumerate(left) if j not in combo)
                    if place(i + 1, rest):
                        return True
        return False

    return place(0, tuple(dims))


def _spectrum_stats(eigs: np.ndarray) -> dict:
    out = eigs[eigs > BULK_EDGE]
    bulk = eigs[eigs <= BULK_EDGE]
    return {
        "eig_min": float(eigs.min()),
        "eig_max": float(eigs.max()),
        "distinct_eigs": len(_clusters(eigs)),
        "n_outliers": int(out.size),
        "outlier_mean": float(out.mean()) if out.size else None,
        "bulk_max": float(bulk.max()) if bulk.size else None,
    }


def _source_overrides(k: int) -> dict:
    return {"k": [k], "extra": [0]}


def run_cell(cfg: dict, seeds: Sequence[int], ctx: RunContext) -> list[dict]:
    """Isotropy and exact spectrum of every spurious-relu run of this k that is a spurious min."""
    from .spurious_relu import make_problem

    if ctx.require is None:
        raise ValueError("spurious-spectra reads spurious-relu results: run it through the sweep.")
    k = cfg["k"]
    n_seeds = max(seeds) + 1
    ctx.progress(0, len(seeds), "spurious-relu runs")
    source = ctx.require("spurious-relu", _source_overrides(k), n_seeds)
    by_seed = {int(r["seed"]): r for r in source}
    src_cfg = {p: source[0][p] for p in ("extra", "k", "d", "train_a")} if source else None
    prob = make_problem(src_cfg if src_cfg else {"k": k, "extra": 0, "d": 0, "train_a": 0})

    # the global minimum W = I against the symmetry's prediction (same for every row)
    H0 = prob.hessian(torch.eye(k, dtype=torch.float64).reshape(1, -1))[0]
    mults = [m for _, m in _clusters(torch.linalg.eigvalsh(H0).numpy())]
    matches = _is_sum_partition(mults, predicted_dimensions(k))
    mult_text = ",".join(str(m) for m in sorted(mults))

    rows = []
    spurious = [s for s in seeds if by_seed[s]["verdict"] == "spurious_min"]
    thetas = (
        torch.as_tensor(np.stack([np.asarray(by_seed[s]["params"]) for s in spurious]))
        if spurious
        else None
    )
    spectra = {}
    if thetas is not None:
        ev = torch.linalg.eigvalsh(prob.hessian(thetas)).numpy()
        spectra = {s: ev[i] for i, s in enumerate(spurious)}
    for i, s in enumerate(seeds):
        ctx.progress(i, len(seeds), "isotropy + spectrum")
        src = by_seed[s]
        row = {
            "seed": int(s),
            "source_verdict": src["verdict"],
            "loss": float(src["loss"]) if src["loss"] is not None else None,
            "isotropy": None,
            "iso_order": None,
            "eig_min": None,
            "eig_max": None,
            "distinct_eigs": None,
            "n_outliers": None,
            "outlier_mean": None,
            "bulk_max": None,
            "eigs": None,
            "global_multiplicities": mult_text,
            "global_matches_symmetry": matches,
        }
        if s in spectra:
            W = np.asarray(src["params"]).reshape(k, k)
            iso = isotropy(W, group="SnxSd", tol=ISO_TOL)
            row.update(
                {"isotropy": iso.name, "iso_order": int(iso.order), "eigs": spectra[s]}
                | _spectrum_stats(spectra[s])
            )
        rows.append(row)
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    """One dict per (k, isotropy type) of the spurious minima, plus the global minimum."""
    out = []
    ks = sorted({int(r["k"]) for r in rows})
    for k in ks:
        rk = [r for r in rows if int(r["k"]) == k]
        runs = len(rk)
        first = rk[0]
        spur = [r for r in rk if r["isotropy"] is not None]
        main = sum(r["isotropy"] == f"Delta S_{k - 1}" for r in spur)
        out.append(
            {
                "k": k,
                "spurious": len(spur),
                "in_delta_s_k_minus_1": main / len(spur) if spur else None,
                "isotropy": f"Delta S_{k} (global min W = I)",
                "order": math.factorial(k),
                "count": sum(r["source_verdict"] == "global_min" for r in rk),
                "runs": runs,
                "loss_mean": 0.0,
                "k_loss": 0.0,
                "eig_min": None,
                "eig_max": None,
                "distinct_eigs": len(first["global_multiplicities"].split(",")),
                "n_outliers": None,
                "multiplicities": first["global_multiplicities"],
                "matches_symmetry": bool(first["global_matches_symmetry"]),
            }
        )
        types: dict[tuple, list[dict]] = {}
        for r in rk:
            if r["isotropy"] is None:
                continue
            types.setdefault((r["isotropy"], round(float(r["loss"]), 7)), []).append(r)
        for (name, _), rs in sorted(types.items(), key=lambda t: (-len(t[1]), t[0][1])):
            loss = float(np.mean([r["loss"] for r in rs]))
            out.append(
                {
                    "k": k,
                    "isotropy": name,
                    "order": int(rs[0]["iso_order"]),
                    "count": len(rs),
                    "runs": runs,
                    "loss_mean": loss,
                    "k_loss": k * loss,
                    "eig_min": float(min(r["eig_min"] for r in rs)),
                    "eig_max": float(max(r["eig_max"] for r in rs)),
                    "distinct_eigs": int(np.median([r["distinct_eigs"] for r in rs])),
                    "n_outliers": int(np.median([r["n_outliers"] for r in rs])),
                    "outlier_mean": float(np.mean([r["outlier_mean"] for r in rs])),
                    "bulk_max": float(np.max([r["bulk_max"] for r in rs])),
                    "eigs": [float(e) for e in rs[0]["eigs"]],
                }
            )
    return out


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


def family(name: str, k: int) -> str:
    """An isotropy name with k written symbolically, so families line up across k."""
    subs = {f"S_{k - j}": f"S_(k-{j})" for j in (1, 2, 3)} | {f"S_{k}": "S_k"}
    out = name
    for a, b in sorted(subs.items(), key=lambda t: -len(t[0])):
        out = out.replace(a + " ", b + " ").replace(a + ")", b + ")")
        if out.endswith(a):
            out = out[: -len(a)] + b
    return out


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
        spectra.append(Scatter(floats([x] * len(vals)), floats(vals),
                               size=floats(6 + 3 * np.sqrt(mults)), color=colors[fam],
                               alpha=0.7, label=label))  # fmt: skip
        losses.append(Scatter(floats([c["k"]]), floats([c["k_loss"]]),
                              size=float(12 + 4 * np.sqrt(c["count"])), color=colors[fam],
                              label=label))  # fmt: skip
    spectra.append(HLine(BULK_EDGE, color="gray", linestyle="--", linewidth=0.8))
    axes = {"integer_x": True, "title_size": 9, "legend": True, "legend_size": 7}
    return [
        FigureSpec(
            "spurious-spectra",
            (
                Panel(tuple(spectra),
                      title="Spectra at spurious minima: bulk below 1/2, outliers grow with k",
                      xlabel="k (= n = d)",
                      ylabel="Hessian eigenvalue (marker area ~ multiplicity)", yscale="log",
                      **axes),
                Panel(tuple(losses), title="Loss of each family (k x loss flat if loss ~ a / k)",
                      xlabel="k", ylabel="k x loss (marker area ~ count)", **axes),
            ),
            size=(10, 4),
            dpi=120,
        )
    ]  # fmt: skip


STUDY = Study(
    name="spurious-spectra",
    summary="Isotropy groups and Hessian spectra of spurious ReLU minima (Arjevani & Field).",
    params=PARAMS,
    default_seeds=100,
    columns=COLUMNS,
    run_cell=run_cell,
    summarize=summarize,
    table=TABLE,
    figures=figures,
)
