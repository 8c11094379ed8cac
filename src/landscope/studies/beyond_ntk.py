"""A trained two-layer ReLU net against NTK and NNGP ridge regression (Li, Ma & Zhang 2020).

Li, Ma & Zhang, "Learning over-parametrized two-layer ReLU networks beyond NTK" (COLT
2020): for x ~ N(0, I_d) and the target

    f*(x) = a' |W* x|,   W* (d x d) orthonormal, a >= 0   (here a = 1/d: |a|_1 = 1),

gradient descent on an over-parameterized two-layer ReLU net reaches population loss
o(1/d) with polynomially many samples, while every kernel method with polynomially many
samples, the NTK included, stays at Omega(1/d). Why, in one line: f* is positively
homogeneous, f*(x) = |x| g(x / |x|), and on the sphere g = sum_j a_j |w*_j . u| has no
degree-2 harmonic beyond a constant (sum_j (w*_j . u)^2 = 1); kernels learn only the low
degrees from poly(d) samples, leaving Var(g) ~ c / d.

Protocol (every setting a study parameter stored with each row), per seed its own W*,
sample and init, all seeds in one batch:

1. Data: n = ``n_factor`` d^2 training samples, labels f*(x) exactly (no noise), and
   ``n_test`` fresh test samples, drawn from the seed; the net's init then continues the
   seed's stream.
2. ``Train``: the net f(x) = sum_r b_r relu(w_r . x) + c, m = ``width_factor`` d neurons
   (``landscope.problems.TwoLayerRegression``), both layers and c trained from a small
   init (w_r ~ N(0, init^2 / d I), b_r ~ N(0, init^2 / m)) by the driver, full batch:
   ``optimizer`` adam (default; ``Adam(lr, schedule=cosine_decay(steps))``) or gd
   (``GD(lr)``), ``steps`` steps (or until ||grad|| <= ``grad_tol``, 0 by default: the
   whole budget). The small init is what leaves the kernel regime.
3. ``Measure``: the population loss 1/2 E[(f - f*)^2] of the net on the test sample
   (Monte Carlo, its standard error stored), and of the best constant, 1/2 Var f*
   = (1 - 2/pi) / (2d) exactly (the no-learning reference).
4. ``Measure`` (``landscope.kernels.kernel_ridge``, kind ntk, then nngp): kernel ridge
   regression on the same samples with the analytic two-layer ReLU kernel plus a
   constant kernel (the ReLU kernels are homogeneous and cannot fit f*'s mean alone),
   the ridge picked on a ``holdout`` fraction of the samples from the grid 10^k x mean
   diag K, k = ``log10_ridge_min`` .. ``log10_ridge_max``, and refit on all n; its
   population loss as the net's, and whether the net's is below the NTK's.

The summary per d: mean losses, d x loss (flat for a 1/d law), and the ratio of the NTK's
loss to the net's (the gap, growing with d when the net's loss falls faster than 1/d).

Run times at default size are in benchmarks/README.md.

Measured (``landscope run beyond-ntk``: d = 4, 8, 12, 16, n = 12 d^2, m = 4 d, 3 seeds,
4000 Adam steps): population loss of the net 1.1e-6, 1.8e-7, 5.1e-8, 3.2e-8; of NTK
ridge 5.5e-4, 1.07e-3, 1.10e-3, 1.02e-3 (NNGP 4.3e-4 .. 9.5e-4); best constant 4.5e-2
.. 1.1e-2. So d x NTK loss grows, 0.0022, 0.0085, 0.0132, 0.0162 (the kernel's loss
does not fall like 1/d), the net's falls with d, and the ratio NTK / net grows 511,
5916, 21431, 31962: the trained net beats the kernel in every run by a margin that grows
with d.

Run it::

    landscope run beyond-ntk                      # d = 4, 8, 12, 16; 3 seeds each
    landscope run beyond-ntk --set d=8,16,24 --set steps=6000
    landscope run beyond-ntk --set holdout=0.1 --set log10_ridge_min=-12
    landscope show beyond-ntk --format json; landscope plot beyond-ntk
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._validate import resolve_dtype
from ..kernels import kernel_ridge
from ..optim import GD, Adam, Optimizer, Stop, cosine_decay
from ..problems import TwoLayerRegression
from ._checks import at_least, one_of, positive
from ._study import Grid, Param, Results, RunContext, Study
from .figures import FigureSpec, Line, Panel, floats
from .protocol import Cell, FromCell, Measure, Protocol, Train, seeded_data
from .summary import Agg, SummarySpec

__all__ = [
    "PROTOCOL",
    "STUDY",
    "SUMMARY",
    "TRAIN",
    "Sample",
    "constant_loss",
    "make_data",
    "make_problem",
    "method",
    "n_samples",
    "ridges",
    "run_cell",
    "summarize",
    "target",
]


def _check_holdout(v: float) -> None:
    if not (math.isfinite(v) and 0 < v < 1):
        raise ValueError(f"holdout is a fraction of the samples, in (0, 1); got {v!r}.")


PARAMS = (
    Param("d", int, (4, 8, 12, 16), "input dimension (W* is d x d)", at_least("d", 2)),
    Param("n_factor", float, (12.0,), "training samples n = n_factor d^2", positive("n_factor")),
    Param(
        "width_factor",
        int,
        (4,),
        "hidden neurons m = width_factor d",
        at_least("width_factor", 1),
    ),
    Param(
        "optimizer",
        str,
        ("adam",),
        "adam (cosine-decayed lr) or gd",
        one_of("optimizer", ("adam", "gd")),
    ),
    Param("lr", float, (0.03,), "learning rate (adam) or step (gd)", positive("lr")),
    Param("steps", int, (4000,), "full-batch training steps", at_least("steps", 1)),
    Param("init", float, (0.1,), "init scale of both layers", positive("init")),
    Param(
        "n_test",
        int,
        (20000,),
        "fresh samples for the population loss",
        at_least("n_test", 100),
    ),
    Param(
        "grad_tol",
        float,
        (0.0,),
        "training also stops at ||grad|| <= grad_tol (0: every step of the budget)",
        at_least("grad_tol", 0),
    ),
    Param(
        "log10_ridge_min",
        int,
        (-9,),
        "smallest ridge of the grid: 10^this x mean diag K",
        at_least("log10_ridge_min", -300),
    ),
    Param(
        "log10_ridge_max",
        int,
        (1,),
        "largest ridge of the grid: 10^this x mean diag K",
        at_least("log10_ridge_max", -300),
    ),
    Param(
        "holdout",
        float,
        (0.2,),
        "fraction of the samples held out to pick the ridge",
        _check_holdout,
    ),
)

DEFAULTS = {p.name: p.default[0] for p in PARAMS}


def _validate(cfg: dict) -> None:
    if cfg["log10_ridge_min"] > cfg["log10_ridge_max"]:
        raise ValueError(
            f"log10_ridge_min ({cfg['log10_ridge_min']}) must not exceed log10_ridge_max "
            f"({cfg['log10_ridge_max']})."
        )


def n_samples(cfg: dict) -> int:
    """n = ceil(n_factor d^2) training samples per run."""
    return int(math.ceil(cfg["n_factor"] * cfg["d"] * cfg["d"]))


def ridges(cfg: dict) -> tuple[float, ...]:
    """The ridge grid, relative to the kernel's mean diagonal: 10^k, k over the range."""
    return tuple(10.0**e for e in range(cfg["log10_ridge_min"], cfg["log10_ridge_max"] + 1))


def target(X: torch.Tensor, Wstar: torch.Tensor) -> torch.Tensor:
    """f*(x) = (1/d) sum_j |w*_j . x| for X (..., n, d) and W* (..., d, d)."""
    return (X @ Wstar.transpose(-1, -2)).abs().mean(-1)


def constant_loss(d: int) -> float:
    """1/2 Var f*, the population loss of the best constant: Var|z| = 1 - 2/pi, d terms of
    weight 1/d^2."""
    return (1 - 2 / math.pi) / (2 * d)


@dataclass(frozen=True)
class Sample:
    """Every run's target and samples, drawn from its seed alone.

    Attributes:
        Wstar: (R, d, d) each run's W*, Haar-distributed orthonormal.
        X: (R, n, d) training inputs, x ~ N(0, I_d).
        y: (R, n) f*(X).
        Xt: (R, n_test, d) fresh test inputs.
        yt: (R, n_test) f*(Xt).
        init_states: each seed's generator state after these draws: the net's init
            continues the seed's stream from there.
    """

    Wstar: torch.Tensor
    X: torch.Tensor
    y: torch.Tensor
    Xt: torch.Tensor
    yt: torch.Tensor
    init_states: tuple[torch.Tensor, ...]


def make_data(cfg: dict, seeds: Sequence[int]) -> Sample:
    """Per seed, from one stream: W* (QR of a Gaussian matrix), the sample, the test sample."""
    d, n, dt = cfg["d"], n_samples(cfg), torch.float64
    Wstar, X, Xt, states = [], [], [], []
    for seed in seeds:
        gen = torch.Generator().manual_seed(int(seed))
        Q, R = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=dt))
        Wstar.append(Q * torch.sign(torch.diagonal(R)))  # Haar-distributed orthonormal
        X.append(torch.randn(n, d, generator=gen, dtype=dt))
        Xt.append(torch.randn(cfg["n_test"], d, generator=gen, dtype=dt))
        states.append(gen.get_state())
    W, Xs, Xts = torch.stack(Wstar), torch.stack(X), torch.stack(Xt)
    return Sample(W, Xs, target(Xs, W), Xts, target(Xts, W), tuple(states))


def make_problem(
    cfg: dict, data: Sample | None = None, dtype: str = "float64", device: str = "cpu"
) -> TwoLayerRegression:
    """The nets of the R runs, each fit to its own sample.

    Raises:
        ValueError: without ``data``: a run's sample is drawn from its seed, so its
            problem cannot be rebuilt from the configuration alone.
    """
    data = seeded_data(data, "a beyond-ntk run's sample is drawn from its seed")
    dt = resolve_dtype(dtype)
    X, y = (t.to(dtype=dt, device=device) for t in (data.X, data.y))
    return TwoLayerRegression(X, y, width=cfg["width_factor"] * cfg["d"], init_scale=cfg["init"])


def _init(cell: Cell) -> torch.Tensor:
    """Each run's net from its own seed's stream, where the data draws left it."""
    gens = [torch.Generator().set_state(s) for s in cell.data.init_states]
    return torch.cat([cell.problem.init(1, generator=g) for g in gens])


def method(cfg: dict) -> Optimizer:
    """Adam with the learning rate cosine-annealed to 0 over the steps, or plain GD."""
    if cfg["optimizer"] == "adam":
        return Adam(cfg["lr"], schedule=cosine_decay(cfg["steps"]))
    return GD(cfg["lr"])


TRAIN = Train(
    method=method,
    stop=lambda cfg: Stop(grad_tol=cfg["grad_tol"], max_steps=cfg["steps"]),
    label="training",
    names=("train_steps", "opt_status", "opt_grad_norm"),  # "steps" is the budget parameter
)


def _half_mse(pred: torch.Tensor, yt: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """1/2 mean (pred - yt)^2 per run and its standard error (Monte Carlo over points)."""
    sq = 0.5 * (pred - yt).square()
    n = sq.shape[1]
    return sq.mean(1).cpu().numpy(), (sq.std(1) / math.sqrt(n)).cpu().numpy()


NET_COLUMNS = {
    "n": "BIGINT",
    "m": "BIGINT",
    "nn_train_loss": "DOUBLE",
    "nn_loss": "DOUBLE",
    "nn_loss_se": "DOUBLE",
    "constant_loss": "DOUBLE",
}


def _net_losses(cell: Cell) -> dict[str, Any]:
    """The trained nets' training loss and population loss, and the best constant's."""
    prob, data, R = cell.problem64, cell.data, cell.R
    theta = cell.theta.to(torch.float64)
    loss, se = _half_mse(prob.predict(theta, data.Xt.to(theta.device)), data.yt.to(theta.device))
    return {
        "n": [n_samples(cell.cfg)] * R,
        "m": [cell.cfg["width_factor"] * cell.cfg["d"]] * R,
        "nn_train_loss": prob.loss(theta).cpu().numpy(),
        "nn_loss": loss,
        "nn_loss_se": se,
        "constant_loss": [constant_loss(cell.cfg["d"])] * R,
    }


def _ridge_columns(kind: str) -> dict[str, str]:
    return {f"{kind}_loss": "DOUBLE", f"{kind}_loss_se": "DOUBLE", f"{kind}_ridge": "DOUBLE"}


def _kernel_fit(kind: str) -> Callable[[Cell], dict[str, Any]]:
    """The population loss of kernel ridge with the two-layer ReLU ``kind`` kernel."""

    def measure(cell: Cell) -> dict[str, Any]:
        cell.progress(cell.R, f"kernel ridge ({kind})")
        data, cfg = cell.data, cell.cfg
        fit = kernel_ridge(
            data.X, data.y, data.Xt, kind=kind, ridges=ridges(cfg), holdout=cfg["holdout"]
        )
        loss, se = _half_mse(fit.pred, data.yt)
        return {f"{kind}_loss": loss, f"{kind}_loss_se": se, f"{kind}_ridge": fit.ridge.numpy()}

    return measure


def _net_beats_ntk(cell: Cell) -> dict[str, Any]:
    return {"nn_beats_ntk": cell.value("nn_loss") < cell.value("ntk_loss")}


PROTOCOL = Protocol(
    make_data=make_data,
    make_problem=make_problem,
    init=FromCell(_init),
    steps=(
        TRAIN,
        Measure(_net_losses, NET_COLUMNS),
        *(Measure(_kernel_fit(kind), _ridge_columns(kind)) for kind in ("ntk", "nngp")),
        Measure(_net_beats_ntk, {"nn_beats_ntk": "BOOLEAN"}),
    ),
)


def run_cell(cfg: dict, seeds: Sequence[int], ctx: RunContext) -> list[dict]:
    """The protocol on one cell; parameters missing from ``cfg`` take their defaults."""
    return PROTOCOL.run_cell({**DEFAULTS, **cfg}, seeds, ctx)


KEYS = tuple(p.name for p in PARAMS)
MEANS = ("nn_loss", "ntk_loss", "nngp_loss", "nn_train_loss", "constant_loss")


def _scaled(key: str) -> Callable[[dict], float | None]:
    """d x the mean of ``key`` (flat in d for a 1/d law)."""
    return lambda s: None if s[key] is None else s["d"] * s[key]


SUMMARY = SummarySpec(
    keys=(*KEYS, "n", "m"),
    aggs=(
        Agg("seeds", how="rows"),
        *(Agg(key) for key in MEANS),
        Agg("nn_beats_ntk", how="fraction"),
    ),
    derived=(
        ("d_nn_loss", _scaled("nn_loss")),
        ("d_ntk_loss", _scaled("ntk_loss")),
        ("d_nngp_loss", _scaled("nngp_loss")),
        ("ntk_over_nn", lambda s: s["ntk_loss"] / s["nn_loss"] if s["nn_loss"] else None),
    ),
    group=KEYS,  # a cell is its configuration (also for rows not from the store)
    sort=lambda s: tuple(s[k] for k in KEYS),
)
summarize = SUMMARY


TABLE = (
    ("d", "d", "d"),
    ("n", "n", "d"),
    ("m", "m", "d"),
    ("seeds", "seeds", "d"),
    ("nn_train_loss", "net train", ".1e"),
    ("nn_loss", "net test", ".2e"),
    ("ntk_loss", "NTK test", ".2e"),
    ("nngp_loss", "NNGP test", ".2e"),
    ("constant_loss", "constant", ".2e"),
    ("d_nn_loss", "d x net", ".1e"),
    ("d_ntk_loss", "d x NTK", ".4f"),
    ("ntk_over_nn", "NTK / net", ".1f"),
    ("nn_beats_ntk", "net < NTK", ".0%"),
)


def figures(summary: list[dict]) -> list[FigureSpec]:
    """Population loss against d (log-log) and d x loss against d."""
    ds = floats(c["d"] for c in summary)
    series = (
        ("nn_loss", "trained net", "C0", "o"),
        ("ntk_loss", "NTK ridge", "C1", "s"),
        ("nngp_loss", "NNGP ridge", "C2", "^"),
        ("constant_loss", "best constant", "gray", ""),
    )
    losses, scaled = [], []
    for key, label, color, marker in series:
        vals = floats(c[key] for c in summary)
        ls = "--" if key == "constant_loss" else "-"
        style = {"label": label, "color": color, "marker": marker or None, "linestyle": ls}
        losses.append(Line(ds, vals, **style))
        scaled.append(Line(ds, tuple(d * v for d, v in zip(ds, vals, strict=True)), **style))
    axes = {"xlabel": "d", "yscale": "log", "title_size": 9, "grid": "both", "legend": True,
            "legend_size": 8}  # fmt: skip
    left = Panel(
        tuple(losses),
        title="f* = a'|W* x|: kernels stay at ~c/d, the trained net goes below",
        ylabel="population loss 1/2 E(f - f*)^2",
        xscale="log",
        **axes,
    )
    right = Panel(
        tuple(scaled), title="d x loss: flat for a 1/d law", ylabel="d x population loss", **axes
    )
    return [FigureSpec("beyond-ntk", (left, right), size=(10, 4), dpi=120)]


GRID = Grid(PARAMS, seeds=3, validate=_validate)
RESULTS = Results(SUMMARY, TABLE, figures)
STUDY = Study(name="beyond-ntk", doc=__doc__, grid=GRID, protocol=PROTOCOL, results=RESULTS)
