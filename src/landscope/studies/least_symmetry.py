"""Least symmetry breaking for non-isotropic inputs and a smooth activation (Arjevani & Field).

Arjevani & Field, "On the principle of least symmetry breaking in shallow ReLU models":
the spurious minima gradient methods find have isotropy groups that are *maximal*
subgroups of the target's isotropy group, and the authors report the same for
non-isotropic input distributions and smooth activations. This study tests that on
problems without a closed form:

    f(W) = 1/(2m) sum_s (sum_i phi(w_i . x_s) - sum_j phi(x_sj))^2,   x_s ~ N(0, Sigma),

k = d, teacher W* = I (second layers all ones), an empirical loss on one fixed sample of
m points (``OneHiddenRegression`` with shared data), phi smooth (default
``softplus:4`` = log(1 + e^(4z)) / 4, a smooth ReLU). The loss is invariant under
W -> P W Q' for P any neuron permutation and Q an input permutation with Q Sigma Q' =
Sigma (in distribution; on the sample only approximately). ``sigma``
(``landscope.problems.covariance``):

- ``iso``: Sigma = I, group S_k x S_k, the target W = I has isotropy Delta S_k;
- ``equi:c``: Sigma = (1 - c) I + c 11' (equicorrelated, non-isotropic), the same group;
- ``scales:s``: Sigma = diag(1, ..., 1, s, ..., s) (halves), Q must keep the halves:
  the target's isotropy is Delta(S_{k/2} x S_{k - k/2}).

Run it::

    landscope run least-symmetry                      # 3 covariances, k = 10, 60 runs each
    landscope run least-symmetry --set k=8,12 --seeds 200 --set m=20000
    landscope show least-symmetry --format json; landscope plot least-symmetry

Run times are in benchmarks/README.md.

Protocol (every setting a study parameter stored with each row; sample A is drawn with
seed ``data_seed``, sample B with ``data_seed + 1``):

1. ``Train``: L-BFGS on sample A from a random start (rows w_i ~ N(0, I/d)) to
   ||grad|| <= ``grad_tol`` or ``max_steps`` iterations.
2. ``PolishCertify``: rows with ||grad|| <= ``polish_from`` are Newton-polished to
   ``polish_tol``, then every row is certified (Hessian spectrum, closed form).
3. ``Measure`` (the certified spurious minima): each is re-found on the independent
   sample B of the same size: damped Newton from W_A, at most ``refind_steps`` steps
   (it stays in W_A's basin), and where that finds no minimum, steps 1-2 on sample B
   from there (``verdict_b`` then says where descent on B ends: the global minimum means
   the spurious minimum was an artifact of sample A). For the minima found again,
   ``noise`` = max |W_A - W_B| measures how far sampling moves them. A symmetry of the
   population loss survives in W_A only up to that noise, so the isotropy group is read
   at tolerance ``iso_factor`` x noise (``iso_tol``), and called stable when the groups at
   ``iso_factor / stable_span`` and ``iso_factor x stable_span`` times the noise agree
   (``landscope.symmetry.read_isotropy``). The maximal fraction is over the spurious
   minima found on both samples.

An isotropy group H is *maximal* when it is the diagonal Young subgroup obtained from
the target's by splitting one block of coordinates into two parts of different sizes
(Delta S_{k-1}, Delta(S_2 x S_{k-2}) for Sigma = I): these are the intransitive maximal
subgroups of the target's group. ``full`` means the target's whole group (no symmetry
broken), ``other`` anything else (``landscope.symmetry.isotropy_class``).

Measured (``landscope run least-symmetry``: k = 10, m = 6000, 60 runs per Sigma): Sigma =
I: 20 spurious minima, all found again on sample B, all Delta S_9 (maximal, stable;
noise <= 0.09, loss 0.0073); scales:2: 4 spurious, all Delta(S_4 x S_5) (maximal: the
scale-2 half split 4 + 1); equi:0.5: none (60 of 60 global). At k = 8: Sigma = I 5 of 60
spurious, all Delta S_7; scales:2 and equi:0.5 none; scales:1.5 4 and equi:0.1 1 on
sample A, none of them a minimum on B (descent there reaches the global minimum). So
every spurious minimum that survived a change of sample had a maximal isotropy type.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from .. import activations as acts
from ..critical import certify
from ..optim import LBFGS, Stop, newton_polish
from ..problems import OneHiddenRegression, covariance, gaussian_inputs, parse_covariance
from ..symmetry import read_isotropy
from ._checks import at_least, positive
from ._params import grad_tol, max_steps, polish_from, polish_tol
from ._study import Grid, Param, Results, Study
from .figures import Bars, FigureSpec, Panel, Text, floats
from .protocol import Cell, Measure, PolishCertify, Protocol, Train
from .spurious_spectra import PER_TYPE
from .summary import Agg, Part, SummarySpec, percent_range

__all__ = ["PROTOCOL", "STUDY", "SUMMARY", "make_problem", "sample_problem"]


def _check_sigma(spec: str) -> None:
    parse_covariance(spec, name="sigma")


def _check_activation(name: str) -> None:
    acts.get(name)  # unknown names raise with the list of known ones


PARAMS = (
    Param(
        "sigma",
        str,
        ("iso", "equi:0.5", "scales:2"),
        "input covariance: iso, equi:c, scales:s",
        _check_sigma,
    ),
    Param("k", int, (10,), "neurons = inputs = teacher neurons", at_least("k", 2)),
    Param("activation", str, ("softplus:4",), "a registered smooth activation", _check_activation),
    Param("m", int, (6000,), "samples in the fixed training set", at_least("m", 10)),
    max_steps(3000, "L-BFGS iterations per run"),
    grad_tol(1e-6, "L-BFGS"),
    polish_from(1e-5),
    polish_tol(1e-12),
    Param(
        "refind_steps",
        int,
        (100,),
        "damped Newton steps re-finding a minimum on sample B",
        at_least("refind_steps", 1),
    ),
    Param(
        "iso_factor",
        float,
        (2.0,),
        "isotropy read at iso_factor x the sampling noise",
        positive("iso_factor"),
    ),
    Param(
        "stable_span",
        float,
        (2.0,),
        "stable: the same group at iso_factor / stable_span and x stable_span the noise",
        positive("stable_span"),
    ),
    Param(
        "data_seed",
        int,
        (0,),
        "seed of sample A; sample B uses data_seed + 1",
        at_least("data_seed", 0),
    ),
)


def sample_problem(
    cfg: dict, seed: int, dtype: str = "float64", device: str = "cpu"
) -> OneHiddenRegression:
    """The empirical loss on m inputs x ~ N(0, Sigma) drawn with ``seed``, teacher W* = I."""
    k = cfg["k"]
    X = gaussian_inputs(cfg["sigma"], cfg["m"], k, generator=torch.Generator().manual_seed(seed))
    y = acts.get(cfg["activation"]).phi(X).sum(1)
    v = torch.ones(k, dtype=torch.float64)
    to = {"dtype": getattr(torch, dtype), "device": device}
    return OneHiddenRegression(X.to(**to), y.to(**to), v.to(**to), cfg["activation"])


def make_problem(cfg: dict, dtype: str = "float64", device: str = "cpu") -> OneHiddenRegression:
    """The cell's training objective: the empirical loss on sample A (seed ``data_seed``)."""
    return sample_problem(cfg, cfg["data_seed"], dtype, device)


TRAIN = Train(
    method=lambda cfg: LBFGS(),
    stop=lambda cfg: Stop(grad_tol=cfg["grad_tol"], max_steps=cfg["max_steps"]),
    label="L-BFGS",
    names=("lbfgs_steps", "lbfgs_status", "lbfgs_grad_norm"),
)
CERTIFY = PolishCertify()

SAMPLE_B_COLUMNS = {
    "verdict_b": "VARCHAR",
    "loss_b": "DOUBLE",
    "noise": "DOUBLE",
    "iso_tol": "DOUBLE",
    "isotropy": "VARCHAR",
    "iso_order": "BIGINT",
    "iso_stable": "BOOLEAN",
    "iso_class": "VARCHAR",
}


def _on_sample_b(cell: Cell) -> dict:
    """Re-find each spurious minimum on sample B; read its isotropy at the sampling noise."""
    cfg, k = cell.cfg, cell.cfg["k"]
    _, blocks = covariance(cfg["sigma"], k)
    cell.progress(0, "sample B: Newton from each spurious minimum")
    probB = sample_problem(cfg, cfg["data_seed"] + 1, device=str(cell.theta.device))
    # a damped Newton walk from W_A stays in its basin (L-BFGS from W_A sometimes leaves
    # it for the global minimum)
    polish = newton_polish(
        probB, cell.theta, grad_tol=cfg["polish_tol"], max_steps=cfg["refind_steps"]
    )
    thB, certB = polish.theta, certify(probB, polish.theta)
    # where Newton finds no minimum, the study's own training says where descent on B goes
    # (typically the global minimum: the spurious minimum was an artifact of sample A)
    lost = np.flatnonzero(certB.verdict != "spurious_min")
    if lost.size:
        on_b = dataclasses.replace(cell, problem=probB, problem64=probB)
        at = torch.as_tensor(lost, device=thB.device)
        res = TRAIN.train(on_b, thB[at])
        th2, _, cert2 = CERTIFY.certify(on_b, res.theta)
        thB[at] = th2
        certB = certB.replace_rows(lost, cert2)
    out: dict[str, list] = {name: [None] * cell.R for name in SAMPLE_B_COLUMNS}
    for j in range(cell.R):
        out["verdict_b"][j], out["loss_b"][j] = str(certB.verdict[j]), float(certB.loss[j])
        if certB.verdict[j] != "spurious_min":  # no nearby minimum on B: no noise scale
            continue
        WA = cell.theta[j].reshape(k, k).cpu().numpy()
        WB = thB[j].reshape(k, k).cpu().numpy()
        got = read_isotropy(WA, WB, blocks, factor=cfg["iso_factor"], span=cfg["stable_span"])
        values = {
            "noise": got.noise,
            "iso_tol": got.tol,
            "isotropy": got.isotropy.name,
            "iso_order": int(got.isotropy.order),
            "iso_stable": got.stable,
            "iso_class": got.cls,
        }
        for name, value in values.items():
            out[name][j] = value
    return out


PROTOCOL = Protocol(
    make_problem=make_problem,
    steps=(
        TRAIN,
        CERTIFY,
        Measure(_on_sample_b, SAMPLE_B_COLUMNS, where=("verdict", ("spurious_min",))),
    ),
)

CELL_KEYS = ("sigma", "k", "activation", "m")
ON_B = ("verdict_b", ("spurious_min",))  # certified spurious on A and found again on B

# A summary cell is a problem (sigma, k, activation, m), as the figure draws it: runs of
# the same problem under other protocol settings are counted together.
SUMMARY = SummarySpec(
    keys=CELL_KEYS,
    group=CELL_KEYS,
    parts=(
        # per cell: the counts and the maximal fraction
        Part(
            keys=(*CELL_KEYS, "runs"),
            columns=(("_maximal", lambda r: r["iso_class"] == "maximal"),),
            aggs=(
                Agg("global", "verdict", "count", ("global_min",)),
                Agg("count", "verdict", "count", ("spurious_min",)),
                Agg("spurious_on_b", "verdict_b", "count", ("spurious_min",)),
                Agg("maximal_fraction", "_maximal", "fraction", where=ON_B),
                Agg("stable_fraction", "iso_stable", "fraction", where=ON_B),
                Agg("noise_max", "noise", "max", where=ON_B),
            ),
            derived=(("isotropy", lambda s: "(all spurious)"),),
        ),
        # one row per isotropy type of the spurious minima found on both samples
        Part(
            keys=CELL_KEYS,
            where=ON_B,
            group=("isotropy",),
            aggs=(
                *PER_TYPE,
                Agg("class", "iso_class", "first"),
                Agg("noise_max", "noise", "max"),
                Agg("stable_fraction", "iso_stable", "fraction"),
            ),
            derived=(("order", lambda s: int(s["order"])),),
            sort=lambda s: -s["count"],
        ),
    ),
)

TABLE = (
    ("sigma", "Sigma", "s"),
    ("k", "k", "d"),
    ("activation", "activation", "s"),
    ("m", "m", "d"),
    ("isotropy", "isotropy", "s"),
    ("class", "class", "s"),
    ("order", "order", ".4g"),
    ("runs", "runs", "d"),
    ("global", "global", "d"),
    ("count", "count", "d"),
    ("spurious_on_b", "also on B", "d"),
    ("maximal_fraction", "maximal", ".0%"),
    ("loss_mean", "loss", ".5f"),
    ("eig_min", "eig min", ".2e"),
    ("noise_max", "noise", ".3f"),
    ("stable_fraction", "stable", ".0%"),
)


def figures(summary: list[dict]) -> list[FigureSpec]:
    """Spurious minima per covariance, stacked by isotropy type; maximal types hatched."""
    totals = [c for c in summary if c["isotropy"] == "(all spurious)"]
    names = list(dict.fromkeys(c["isotropy"] for c in summary if "class" in c))
    colors = {n: f"C{i % 10}" for i, n in enumerate(names)}
    marks: list = []
    ticks = []
    seen: set[str] = set()
    for x, tot in enumerate(totals):
        key = (tot["sigma"], tot["k"], tot["activation"], tot["m"])
        bottom = 0
        for c in summary:
            if "class" not in c or (c["sigma"], c["k"], c["activation"], c["m"]) != key:
                continue
            lab = None if c["isotropy"] in seen else f"{c['isotropy']} ({c['class']})"
            seen.add(c["isotropy"])
            hatch = "//" if c["class"] == "maximal" else None
            marks.append(
                Bars(
                    floats([x]),
                    floats([c["count"]]),
                    bottom=float(bottom),
                    color=colors[c["isotropy"]],
                    hatch=hatch,
                    edgecolor="black",
                    linewidth=0.5,
                    label=lab,
                )
            )
            bottom += c["count"]
        frac = tot["maximal_fraction"]
        txt = "none" if frac is None else f"{frac:.0%} maximal"
        if frac is not None and tot.get("maximal_fraction_lo") is not None:
            # its 95 % Wilson interval, as `landscope show` prints it
            txt += f" ({percent_range(tot['maximal_fraction_lo'], tot['maximal_fraction_hi'])})"
        marks.append(Text(float(x), float(bottom), txt, fontsize=8))
        ticks.append((float(x), f"{tot['sigma']}\nk={tot['k']}, {tot['runs']} runs"))
    panel = Panel(
        tuple(marks),
        ylabel="certified spurious minima",
        xticks=tuple(ticks),
        xtick_size=8,
        grid="y",
        legend=True,
        legend_size=7,
    )
    activation = totals[0]["activation"] if totals else ""
    return [
        FigureSpec(
            "least-symmetry",
            (panel,),
            title=f"Isotropy of spurious minima ({activation})",
            title_size=9,
            size=(max(5.0, 1.6 * len(totals) + 2), 4),
        )
    ]


GRID = Grid(PARAMS, seeds=60)
RESULTS = Results(SUMMARY, TABLE, figures)
STUDY = Study(name="least-symmetry", doc=__doc__, grid=GRID, protocol=PROTOCOL, results=RESULTS)
