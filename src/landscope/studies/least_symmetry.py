"""Least symmetry breaking beyond the closed form: non-isotropic inputs, smooth activation.

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
Sigma (in distribution; on the sample only approximately). ``sigma``:

- ``iso``: Sigma = I, group S_k x S_k, the target W = I has isotropy Delta S_k;
- ``equi:c``: Sigma = (1 - c) I + c 11' (equicorrelated, non-isotropic), the same group;
- ``scales:s``: Sigma = diag(1, ..., 1, s, ..., s) (halves), Q must keep the halves:
  the target's isotropy is Delta(S_{k/2} x S_{k - k/2}).

Per run: L-BFGS from a random start (rows w_i ~ N(0, I/d)) to ||grad|| <= 1e-6, Newton
polish to 1e-12, certification (Hessian spectrum, closed form). Each certified spurious
minimum is then re-found on an independent sample B of the same size: damped Newton
from W_A (it stays in W_A's basin), and where that finds no minimum, L-BFGS from W_A
(``verdict_b`` then says where descent on B ends: the global minimum means the spurious
minimum was an artifact of sample A). For the minima found again, ``noise`` =
max |W_A - W_B| measures how far sampling moves them. A symmetry of the population loss
survives in W_A only up to that noise, so the isotropy group is read at tolerance
2 x noise (``iso_tol``), and called stable when the groups at 1x and 4x the noise agree.
The maximal fraction is over the spurious minima found on both samples.

An isotropy group H is *maximal* when it is the diagonal Young subgroup obtained from
the target's by splitting one block of coordinates into two parts of different sizes
(Delta S_{k-1}, Delta(S_2 x S_{k-2}) for Sigma = I): these are the intransitive maximal
subgroups of the target's group. ``full`` means the target's whole group (no symmetry
broken), ``other`` anything else.

Measured (``landscope run least-symmetry``: k = 10, m = 6000, 60 runs per Sigma; 155 s
on 2 idle cores): Sigma = I: 20 spurious minima, all found again on
sample B, all Delta S_9 (maximal, stable; noise <= 0.09, loss 0.0073); scales:2: 4
spurious, all Delta(S_4 x S_5) (maximal: the scale-2 half split 4 + 1); equi:0.5: none
(60 of 60 global). At k = 8: Sigma = I 5 of 60 spurious, all Delta S_7; scales:2 and
equi:0.5 none; scales:1.5 4 and equi:0.1 1 on sample A, none of them a minimum on B
(descent there reaches the global minimum). So every spurious minimum that survived a
change of sample had a maximal isotropy type.

Run it::

    landscope run least-symmetry                      # 3 covariances, k = 10, 60 runs each
    landscope run least-symmetry --set k=8,12 --seeds 200 --set m=20000
    landscope show least-symmetry --format json; landscope plot least-symmetry
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from .. import activations as acts
from ..critical import CERTIFICATE_COLUMNS, certify
from ..optim import LBFGS, Progress, Stop, newton_polish, run
from ..problems import OneHiddenRegression, init_from_seeds
from ..symmetry import isotropy
from ._checks import at_least
from ._common import polish_and_certify
from ._study import Param, RunContext, Study
from .figures import Bars, FigureSpec, Panel, Text, floats

__all__ = [
    "STUDY",
    "covariance",
    "iso_class",
    "make_problem",
    "read_isotropy",
    "run_cell",
    "summarize",
]

POLISH_FROM = 1e-5
LBFGS_TOL = 1e-6
B_ITERS = 100


def _parse_sigma(spec: str) -> tuple[str, float | None]:
    name, _, arg = spec.partition(":")
    if name == "iso" and not arg:
        return name, None
    if name in ("equi", "scales"):
        try:
            value = float(arg) if arg else (0.5 if name == "equi" else 2.0)
        except ValueError:
            value = math.nan
        ok = (0 <= value < 1) if name == "equi" else (0 < value < math.inf)
        if ok:
            return name, value
        allowed = "[0, 1)" if name == "equi" else "(0, inf)"
        raise ValueError(f"sigma {spec!r}: the {name} parameter must be a number in {allowed}.")
    raise ValueError(f"sigma must be iso, equi:c or scales:s; got {spec!r}.")


def _check_sigma(spec: str) -> None:
    _parse_sigma(spec)


def _check_activation(name: str) -> None:
    acts.get(name)  # unknown names raise with the list of known ones


def covariance(spec: str, d: int) -> tuple[torch.Tensor, list[int]]:
    """(Sigma (d, d), a block label per coordinate: Q may permute only within a block)."""
    name, value = _parse_sigma(spec)
    eye = torch.eye(d, dtype=torch.float64)
    if name == "iso":
        return eye, [0] * d
    if name == "equi":
        return (1 - value) * eye + value * torch.ones(d, d, dtype=torch.float64), [0] * d
    half = d // 2
    scales = torch.ones(d, dtype=torch.float64)
    scales[half:] = value
    blocks = [0] * half + [1] * (d - half)
    return torch.diag(scales), blocks if value != 1.0 else [0] * d


def _problem(cfg: dict, sample: int) -> OneHiddenRegression:
    k = cfg["k"]
    Sigma, _ = covariance(cfg["sigma"], k)
    gen = torch.Generator().manual_seed(sample)
    X = (
        torch.randn(cfg["m"], k, generator=gen, dtype=torch.float64)
        @ torch.linalg.cholesky(Sigma).T
    )
    phi = acts.get(cfg["activation"]).phi
    y = phi(X).sum(1)
    return OneHiddenRegression(X, y, torch.ones(k, dtype=torch.float64), cfg["activation"])


def make_problem(cfg: dict) -> OneHiddenRegression:
    """The cell's training objective: the empirical loss on sample A (seed 0)."""
    return _problem(cfg, 0)


def iso_class(col_orbits: list[list[int]], order: int, name: str, blocks: list[int]) -> str:
    """``maximal``, ``full`` or ``other``; see the module docstring.

    Args:
        col_orbits: the isotropy group's orbits on the input coordinates.
        order: its order.
        name: its name (``Delta ...`` when the group acts the same way on rows and columns).
        blocks: block label of each coordinate (the target's orbits).
    """
    target = {}
    for j, b in enumerate(blocks):
        target.setdefault(b, []).append(j)
    target_sizes = sorted(len(v) for v in target.values())
    young = math.prod(math.factorial(len(o)) for o in col_orbits)
    diagonal = name.startswith("Delta") and " x S_" not in name.split(")")[-1]
    if sorted(len(o) for o in col_orbits) == target_sizes and order == young and diagonal:
        return "full"
    if not (diagonal and order == young):
        return "other"
    # which target block each orbit lies in; exactly one block split into 2 unequal parts
    parts: dict[int, list[int]] = {}
    for o in col_orbits:
        labels = {blocks[j] for j in o}
        if len(labels) != 1:
            return "other"
        parts.setdefault(labels.pop(), []).append(len(o))
    split = [sizes for sizes in parts.values() if len(sizes) > 1]
    if len(split) == 1 and len(split[0]) == 2 and split[0][0] != split[0][1]:
        return "maximal"
    return "other"


PARAMS = (
    Param("sigma", str, ("iso", "equi:0.5", "scales:2"), "input covariance: iso, equi:c, scales:s",
          _check_sigma),
    Param("k", int, (10,), "neurons = inputs = teacher neurons", at_least("k", 2)),
    Param("activation", str, ("softplus:4",), "a registered smooth activation", _check_activation),
    Param("m", int, (6000,), "samples in the fixed training set", at_least("m", 10)),
    Param("max_steps", int, (3000,), "L-BFGS iterations per run", at_least("max_steps", 1)),
)  # fmt: skip

COLUMNS = {
    **CERTIFICATE_COLUMNS,
    "lbfgs_steps": "BIGINT",
    "verdict_b": "VARCHAR",
    "loss_b": "DOUBLE",
    "noise": "DOUBLE",
    "iso_tol": "DOUBLE",
    "isotropy": "VARCHAR",
    "iso_order": "BIGINT",
    "iso_stable": "BOOLEAN",
    "iso_class": "VARCHAR",
    "params": "DOUBLE[]",
}


def _train(prob, theta, max_steps: int, progress, label: str):
    stop = Stop(grad_tol=LBFGS_TOL, max_steps=max_steps)
    res = run(prob, theta, LBFGS(), stop=stop, observers=[Progress(progress, f"{label} step")])
    R = theta.shape[0]
    progress(R, R, f"{label}: polish + certify")
    theta, _, cert = polish_and_certify(prob, res.theta, POLISH_FROM)
    return res, theta, cert


def read_isotropy(WA: np.ndarray, WB: np.ndarray, blocks: list[int]) -> dict:
    """The isotropy of W_A read at twice the sampling noise max |W_A - W_B|.

    Returns the store columns ``noise``, ``iso_tol``, ``isotropy``, ``iso_order``,
    ``iso_stable`` (same group at 1x and 4x the noise) and ``iso_class``.
    """
    noise = float(np.abs(WA - WB).max())
    # isotropy compares entries within tol * max(1, max|W|): give it the absolute noise
    scale = max(1.0, float(np.abs(WA).max()))
    groups = [isotropy(WA, "SnxSd", c * noise / scale, col_blocks=blocks) for c in (1, 2, 4)]
    iso = groups[1]
    return {
        "noise": noise,
        "iso_tol": 2 * noise,
        "isotropy": iso.name,
        "iso_order": int(iso.order),
        "iso_stable": groups[0].name == groups[2].name,
        "iso_class": iso_class(iso.col_orbits, iso.order, iso.name, blocks),
    }


def run_cell(cfg: dict, seeds: Sequence[int], ctx: RunContext) -> list[dict]:
    """Train, certify, re-find the spurious minima on sample B, read their isotropy."""
    k = cfg["k"]
    _, blocks = covariance(cfg["sigma"], k)
    prob = make_problem(cfg)
    res, theta, cert = _train(prob, init_from_seeds(prob, seeds), cfg["max_steps"],
                              ctx.progress, "L-BFGS on sample A")  # fmt: skip
    spurious = np.flatnonzero(cert.verdict == "spurious_min")
    extra: dict[int, dict] = {}
    if spurious.size:
        # the same minimum on sample B: a damped Newton walk from W_A stays in its basin
        # (L-BFGS from W_A sometimes leaves it for the global minimum)
        ctx.progress(0, int(spurious.size), "sample B: Newton from each spurious minimum")
        probB = _problem(cfg, 1)
        thB = newton_polish(probB, theta[torch.as_tensor(spurious)], max_steps=B_ITERS).theta
        certB = certify(probB, thB)
        # where Newton finds no minimum, let L-BFGS say where descent on B goes instead
        # (typically the global minimum: the spurious minimum was an artifact of sample A)
        lost = np.flatnonzero(certB.verdict != "spurious_min")
        if lost.size:
            _, th2, cert2 = _train(probB, thB[torch.as_tensor(lost)], cfg["max_steps"],
                                   ctx.progress, "sample B: L-BFGS")  # fmt: skip
            thB[torch.as_tensor(lost)] = th2
            certB = certB.replace_rows(lost, cert2)
        for j, r in enumerate(spurious.tolist()):
            if certB.verdict[j] != "spurious_min":  # no nearby minimum on B: no noise scale
                extra[r] = {"verdict_b": str(certB.verdict[j]), "loss_b": float(certB.loss[j])}
                continue
            extra[r] = {"verdict_b": "spurious_min", "loss_b": float(certB.loss[j])} | (
                read_isotropy(theta[r].reshape(k, k).numpy(), thB[j].reshape(k, k).numpy(), blocks)
            )
    params = theta.numpy()
    empty = dict.fromkeys(
        ("verdict_b", "loss_b", "noise", "iso_tol", "isotropy", "iso_order", "iso_stable",
         "iso_class"),
    )  # fmt: skip
    out = []
    for r, (seed, crow) in enumerate(zip(seeds, cert.rows(), strict=True)):
        out.append(
            {
                "seed": int(seed),
                **crow,
                "lbfgs_steps": int(res.steps[r]),
                **(empty | extra.get(r, {})),
                "params": params[r],
            }
        )
    return out


def _cell_key(r: dict) -> tuple:
    return (r["sigma"], int(r["k"]), r["activation"], int(r["m"]))


def summarize(rows: list[dict]) -> list[dict]:
    """Per cell: one row with the counts and the maximal fraction, then one per type."""
    cells: dict[tuple, list[dict]] = {}
    for r in rows:
        cells.setdefault(_cell_key(r), []).append(r)
    out = []
    for (sigma, k, act, m), rs in cells.items():
        certified = [r for r in rs if r["verdict"] == "spurious_min"]
        spur = [r for r in certified if r["isotropy"] is not None]  # also a minimum on B
        n_max = sum(r["iso_class"] == "maximal" for r in spur)
        base = {"sigma": sigma, "k": k, "activation": act, "m": m}
        out.append(
            base
            | {
                "isotropy": "(all spurious)",
                "runs": len(rs),
                "global": sum(r["verdict"] == "global_min" for r in rs),
                "count": len(certified),
                "spurious_on_b": len(spur),
                "maximal_fraction": n_max / len(spur) if spur else None,
                "stable_fraction": (
                    sum(bool(r["iso_stable"]) for r in spur) / len(spur) if spur else None
                ),  # fmt: skip
                "noise_max": max((r["noise"] for r in spur), default=None),
            }
        )
        types: dict[str, list[dict]] = {}
        for r in spur:
            types.setdefault(r["isotropy"], []).append(r)
        for name, ts in sorted(types.items(), key=lambda t: -len(t[1])):
            out.append(
                base
                | {
                    "isotropy": name,
                    "order": int(ts[0]["iso_order"]),
                    "class": ts[0]["iso_class"],
                    "count": len(ts),
                    "loss_mean": float(np.mean([t["loss"] for t in ts])),
                    "eig_min": float(min(t["eig_min"] for t in ts)),
                    "noise_max": float(max(t["noise"] for t in ts)),
                    "stable_fraction": float(np.mean([bool(t["iso_stable"]) for t in ts])),
                }
            )
    return out


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
            marks.append(Bars(floats([x]), floats([c["count"]]), bottom=float(bottom),
                              color=colors[c["isotropy"]], hatch=hatch, edgecolor="black",
                              linewidth=0.5, label=lab))  # fmt: skip
            bottom += c["count"]
        frac = tot["maximal_fraction"]
        txt = "none" if frac is None else f"{frac:.0%} maximal"
        marks.append(Text(float(x), float(bottom), txt, fontsize=8))
        ticks.append((float(x), f"{tot['sigma']}\nk={tot['k']}, {tot['runs']} runs"))
    panel = Panel(tuple(marks), ylabel="certified spurious minima", xticks=tuple(ticks),
                  xtick_size=8, grid="y", legend=True, legend_size=7)  # fmt: skip
    activation = totals[0]["activation"] if totals else ""
    return [
        FigureSpec(
            "least-symmetry",
            (panel,),
            title=f"Isotropy of spurious minima ({activation})",
            title_size=9,
            size=(max(5.0, 1.6 * len(totals) + 2), 4),
            dpi=120,
        )
    ]


STUDY = Study(
    name="least-symmetry",
    summary="Isotropy of spurious minima for non-isotropic inputs and a smooth activation.",
    params=PARAMS,
    default_seeds=60,
    columns=COLUMNS,
    run_cell=run_cell,
    summarize=summarize,
    table=TABLE,
    figures=figures,
    make_problem=make_problem,
)
