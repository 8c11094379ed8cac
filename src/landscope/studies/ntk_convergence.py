"""GD on wide two-layer ReLU nets converges linearly at the NTK rate (Du et al. 2019).

Du, Zhai, Poczos & Singh, "Gradient descent provably optimizes over-parameterized neural
networks" (ICLR 2019): f(W, a, x) = (1/sqrt m) sum_r a_r relu(w_r . x), a_r = +-1 fixed,
w_r(0) ~ N(0, I), n unit-norm inputs, L = 1/2 sum_i (f(x_i) - y_i)^2, GD on W with a fixed
step eta. With lambda_0 the smallest eigenvalue of the infinite-width Gram matrix
H-infinity (``landscope.kernels.ntk_gram``), Theorem 4.1: for m large enough,

    ||u(k) - y||^2 <= (1 - eta lambda_0 / 2)^k ||u(0) - y||^2,

the weights stay near their start and few activation patterns change; the paper's
experiments show pattern changes and weight movement shrinking as m grows.

One data set per cell grid (``data_seed``): n points uniform on the sphere in R^d,
labels +-1 at random; the same for every width, so lambda_0 is shared. eta =
``eta_scale`` / lambda_max(H-infinity).

Protocol (every setting a study parameter stored with each row):

1. Data: the points, labels and H-infinity's spectrum; per run, from its seed, w_r(0)
   and its fixed signs a (``kernels.two_layer_init``). The problem is
   ``kernels.TwoLayerNTK``, W trained, a its data.
2. ``Train``: GD with step eta on all runs of a width as one batch (the driver), for
   ``steps`` steps; a run diverges once ||u - y|| exceeds ``residual_growth`` times its
   start. An ``NTKTracker`` observes the run at ``record_schedule(steps, max_records)``:
   the residual, the fraction of changed patterns, max_r ||w_r - w_r(0)|| and
   ||H(k) - H(0)||_2.
3. ``Measure`` (``kernels.check_bound``): the measured rate 1 - exp(slope of
   log ||u - y||^2) (points above ``rate_floor`` times the start) against eta lambda_0 / 2,
   whether the residual stayed under the bound at every recorded step (up to a relative
   ``bound_rtol``), the largest ratio residual / bound, the final movement and the
   recorded residual curve.

The bound's rate eta lambda_0 / 2 is conservative by design: GD on the infinite-width
(kernel) dynamics u(k+1) - y = (I - eta H-inf)(u(k) - y) shrinks ||u - y||^2 per step by
at least 1 - (1 - eta lambda_0)^2 ~ 2 eta lambda_0 in its slowest mode (``rate_kernel``
in the summary, ``kernels.kernel_rate``), 4x the bound's rate; wide nets approach that.

Run times at default size are in benchmarks/README.md.

Measured (``landscope run ntk-convergence``, n = 50, d = 10, 1500 steps, 5 seeds per
width): lambda_0 = 0.0753, eta lambda_0 / 2 = 0.0142; every run of every width stays
under the bound; the measured rate grows with m from 1.18x the bound (m = 64) to 4.09x
(m = 16384; the kernel prediction is 3.95x); the fraction of changed patterns falls
0.198, 0.118, 0.059, 0.029, 0.014, max ||w_r - w_r(0)|| 4.64, 1.93, 1.02, 0.52, 0.27 and
||H(k) - H(0)||_2 0.35, 0.15, 0.058, 0.027, 0.011 for m = 2^6, 2^8, ..., 2^14 (each about
halving per 4x in m: ~ 1 / sqrt(m)).

Run it::

    landscope run ntk-convergence                     # m = 2^6 .. 2^14, 5 seeds each
    landscope run ntk-convergence --set n=100 --set steps=3000
    landscope run ntk-convergence --set m=4096 --set max_records=1000
    landscope show ntk-convergence --format json; landscope plot ntk-convergence
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._validate import resolve_dtype
from ..kernels import (
    NTKTracker,
    TwoLayerNTK,
    check_bound,
    kernel_rate,
    kernel_spectrum,
    ntk_gram,
    record_schedule,
    sphere,
    two_layer_init,
)
from ..optim import GD, Stop
from ._checks import at_least, positive
from ._study import Grid, Param, Results, RunContext, Study
from .figures import FigureSpec, Line, Panel, floats
from .protocol import Cell, FromCell, Measure, Protocol, Train, seeded_data
from .summary import Agg, SummarySpec

__all__ = [
    "PROTOCOL",
    "STUDY",
    "SUMMARY",
    "NTKData",
    "dataset",
    "make_data",
    "make_problem",
    "run_cell",
    "summarize",
]

PARAMS = (
    Param("m", int, (64, 256, 1024, 4096, 16384), "hidden width", at_least("m", 1)),
    Param("n", int, (50,), "points on the unit sphere", at_least("n", 2)),
    Param("d", int, (10,), "input dimension", at_least("d", 2)),
    Param("eta_scale", float, (1.0,), "eta = eta_scale / lambda_max(H-inf)", positive("eta_scale")),
    Param("steps", int, (1500,), "GD steps", at_least("steps", 1)),
    Param("data_seed", int, (0,), "seed of the points and labels", at_least("data_seed", 0)),
    Param(
        "max_records",
        int,
        (200,),
        "recorded steps at most (log- and evenly spaced; each costs about one GD step)",
        at_least("max_records", 2),
    ),
    Param(
        "residual_growth",
        float,
        (1e8,),
        "a run diverged once ||u - y|| > residual_growth x ||u(0) - y||",
        at_least("residual_growth", 1),
    ),
    Param(
        "rate_floor",
        float,
        (1e-10,),
        "the rate is fit where ||u - y||^2 >= rate_floor x ||u(0) - y||^2",
        positive("rate_floor"),
    ),
    Param(
        "bound_rtol",
        float,
        (1e-12,),
        "bound_holds: ||u(k) - y|| <= (1 + bound_rtol) x the bound at every record",
        at_least("bound_rtol", 0),
    ),
)

DEFAULTS = {p.name: p.default[0] for p in PARAMS}


def dataset(n: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n points uniform on the unit sphere in R^d and +-1 labels, from one seed."""
    gen = torch.Generator().manual_seed(int(seed))
    X = sphere(n, d, generator=gen)
    y = torch.randint(0, 2, (n,), generator=gen).to(torch.float64) * 2 - 1
    return X, y


@dataclass(frozen=True)
class NTKData:
    """One cell's data: the shared sample and H-infinity's extreme eigenvalues, and each
    run's start.

    Attributes:
        X: (n, d) points on the unit sphere, shared by every run (``dataset``).
        y: (n,) +-1 labels.
        W0: (R, m, d) each run's w_r(0) ~ N(0, I_d), from its seed.
        a: (R, m) each run's fixed output signs, drawn after its W0 (``two_layer_init``).
        lambda_0: the smallest eigenvalue of H-infinity of X.
        lambda_max: its largest.
    """

    X: torch.Tensor
    y: torch.Tensor
    W0: torch.Tensor
    a: torch.Tensor
    lambda_0: float
    lambda_max: float


def make_data(cfg: dict, seeds: Sequence[int]) -> NTKData:
    """The cell's sample (from ``data_seed``), its H-infinity spectrum, each seed's start."""
    m, d = cfg["m"], cfg["d"]
    X, y = dataset(cfg["n"], d, cfg["data_seed"])
    ev = kernel_spectrum(ntk_gram(X, "relu", "h_inf"))
    starts = [
        two_layer_init(1, m, d, generator=torch.Generator().manual_seed(int(s))) for s in seeds
    ]
    W0 = torch.cat([w for w, _ in starts])
    a = torch.cat([a for _, a in starts])
    return NTKData(X, y, W0, a, float(ev[0]), float(ev[-1]))


def make_problem(
    cfg: dict, data: NTKData | None = None, dtype: str = "float64", device: str = "cpu"
) -> TwoLayerNTK:
    """The runs' losses in W, each with its own fixed signs a.

    Raises:
        ValueError: without ``data``: a run's output signs are drawn from its seed, so its
            problem cannot be rebuilt from the configuration alone.
    """
    data = seeded_data(data, "an ntk-convergence run's output signs a are drawn from its seed")
    dt = resolve_dtype(dtype)
    X, y, a = (t.to(dtype=dt, device=device) for t in (data.X, data.y, data.a))
    return TwoLayerNTK(X, y, a)


def _init(cell: Cell) -> torch.Tensor:
    """Each run's w_r(0), drawn with its signs (``make_data``), as rows (R, m d)."""
    return cell.data.W0.reshape(cell.R, -1).to(cell.problem.X)


def _eta(cell: Cell) -> float:
    return cell.cfg["eta_scale"] / cell.data.lambda_max


def _stop(cfg: dict) -> Stop:
    """A fixed budget of steps; divergence by the residual's growth (its loss's, squared)."""
    growth = cfg["residual_growth"]
    return Stop(
        grad_tol=None,
        max_steps=cfg["steps"],
        diverge=math.inf,  # no test on ||grad||: non-finite values and loss_growth only
        loss_growth=growth * growth,
    )


def _tracker(cell: Cell, theta0: torch.Tensor) -> tuple[NTKTracker]:
    """Du et al.'s quantities at the thinned steps of ``record_schedule``."""
    record = record_schedule(cell.cfg["steps"], cell.cfg["max_records"])
    return (NTKTracker(cell.problem, theta0, record),)


TRAIN = Train(
    method=FromCell(lambda cell: GD(_eta(cell))),
    stop=_stop,
    label="GD",
    names=("train_steps", "status", "opt_grad_norm"),  # "steps" is the budget parameter
    observe=_tracker,
)

BOUND_COLUMNS = {
    "lambda_0": "DOUBLE",
    "lambda_max": "DOUBLE",
    "eta": "DOUBLE",
    "lambda_min_h0": "DOUBLE",
    "rate": "DOUBLE",
    "rate_bound": "DOUBLE",
    "bound_holds": "BOOLEAN",
    "bound_ratio_max": "DOUBLE",
    "residual0": "DOUBLE",
    "final_residual": "DOUBLE",
    "pattern_change": "DOUBLE",
    "weight_move": "DOUBLE",
    "gram_drift": "DOUBLE",
    "rec_steps": "DOUBLE[]",
    "rec_residual": "DOUBLE[]",
    "rec_rel_residual": "DOUBLE[]",
}


def _against_bound(cell: Cell) -> dict[str, Any]:
    """Each run's records against Theorem 4.1, its final movement, its residual curve."""
    (tracker,) = cell.observers[TRAIN.label]
    rec = {k: v.cpu() for k, v in tracker.records().items() if v is not None}
    res, cfg, data, R = cell.result, cell.cfg, cell.data, cell.R
    eta = _eta(cell)
    check = check_bound(
        rec["residual"],
        tracker.steps,
        eta,
        data.lambda_0,
        stop_step=res.steps.cpu(),
        floor=cfg["rate_floor"],
        rtol=cfg["bound_rtol"],
    )
    residual = rec["residual"].numpy()
    return {
        "lambda_0": [data.lambda_0] * R,
        "lambda_max": [data.lambda_max] * R,
        "eta": [eta] * R,
        "lambda_min_h0": tracker.lambda_min_H0.cpu().numpy(),
        "rate": check.rate.numpy(),
        "rate_bound": [check.rate_bound] * R,
        "bound_holds": check.holds.numpy(),
        "bound_ratio_max": check.ratio_max.numpy(),
        "residual0": residual[:, 0],
        "final_residual": (2 * res.loss).sqrt().cpu().numpy(),
        "pattern_change": rec["pattern_change"][:, -1].numpy(),
        "weight_move": rec["weight_move"][:, -1].numpy(),
        "gram_drift": rec["gram_drift"][:, -1].numpy(),
        "rec_steps": [[float(k) for k in tracker.steps]] * R,
        "rec_residual": residual,
        # ||u(k) - y|| / ||u(0) - y||: the curve the summary averages over runs
        "rec_rel_residual": residual / residual[:, :1],
    }


PROTOCOL = Protocol(
    make_data=make_data,
    make_problem=make_problem,
    init=FromCell(_init),
    steps=(TRAIN, Measure(_against_bound, BOUND_COLUMNS)),
    keep_params=False,  # W is m d numbers per run (163,840 at m = 2^14, d = 10)
)


def run_cell(cfg: dict, seeds: Sequence[int], ctx: RunContext) -> list[dict]:
    """The protocol on one cell; parameters missing from ``cfg`` take their defaults."""
    return PROTOCOL.run_cell({**DEFAULTS, **cfg}, seeds, ctx)


KEYS = tuple(p.name for p in PARAMS)
MEANS = (
    "rate",
    "bound_ratio_max",
    "final_residual",
    "pattern_change",
    "weight_move",
    "gram_drift",
    "lambda_min_h0",
)

SUMMARY = SummarySpec(
    keys=(*KEYS, "lambda_0", "eta", "rate_bound"),  # the same for every run of a cell
    aggs=(
        Agg("seeds", how="rows"),
        *(Agg(key) for key in MEANS),
        Agg("rate_min", "rate", "min"),
        Agg("bound_holds", how="fraction"),
        # the curves, for the figure: steps and the geometric mean over runs
        Agg("curve_steps", "rec_steps", how="first"),
        Agg("curve_residual", "rec_rel_residual", how="curve_gmean"),
    ),
    derived=(
        ("rate_kernel", lambda s: kernel_rate(s["eta"], s["lambda_0"])),
        ("rate_over_bound", lambda s: None if s["rate"] is None else s["rate"] / s["rate_bound"]),
    ),
    group=KEYS,  # a cell is its configuration (also for rows not from the store)
    # by the data settings, then the width
    sort=lambda s: (tuple(s[k] for k in KEYS if k != "m"), s["m"]),
)
summarize = SUMMARY


TABLE = (
    ("m", "m", "d"),
    ("n", "n", "d"),
    ("seeds", "seeds", "d"),
    ("lambda_0", "lambda_0", ".4f"),
    ("lambda_min_h0", "lambda_min H(0)", ".4f"),
    ("rate_bound", "eta lambda_0 / 2", ".2e"),
    ("rate_kernel", "1 - (1 - eta lambda_0)^2", ".2e"),
    ("rate", "rate", ".2e"),
    ("rate_over_bound", "rate / bound", ".2f"),
    ("bound_holds", "under bound", ".0%"),
    ("final_residual", "final ||u - y||", ".1e"),
    ("pattern_change", "patterns changed", ".2e"),
    ("weight_move", "max ||w_r - w_r(0)||", ".3f"),
    ("gram_drift", "||H(k) - H(0)||", ".3f"),
)


def figures(summary: list[dict]) -> list[FigureSpec]:
    """Residual vs step against the bound; movement vs m; measured rate vs the bound."""
    curves = [
        Line(floats(c["curve_steps"]), floats(c["curve_residual"]), f"m = {c['m']}",
             color=f"C{i % 10}")
        for i, c in enumerate(summary)
        if "curve_steps" in c
    ]  # fmt: skip
    if summary and "curve_steps" in summary[0]:
        k = np.asarray(summary[0]["curve_steps"])
        curves.append(Line(floats(k), floats((1 - 2 * summary[0]["rate_bound"]) ** (k / 2)),
                           "(1 - eta lambda_0 / 2)^(k/2)", color="k", linestyle="--"))  # fmt: skip
    ms = floats(c["m"] for c in summary)

    def line(key: str, label: str, **style) -> Line:
        return Line(ms, floats(c[key] for c in summary), label, **style)

    axes = {"yscale": "log", "title_size": 9, "grid": "both", "legend": True, "legend_size": 7}
    residual = Panel(
        tuple(curves),
        title="Residual against the NTK bound",
        xlabel="GD step k",
        ylabel="||u(k) - y|| / ||u(0) - y|| (geometric mean over seeds)",
        **axes,
    )
    movement = Panel(
        (
            line("pattern_change", "patterns changed", marker="o"),
            line("weight_move", "max ||w_r - w_r(0)||", marker="s"),
            line("gram_drift", "||H(k) - H(0)||_2", marker="^"),
        ),
        title="Movement at the end of training shrinks with m",
        xlabel="width m",
        xscale="log2",
        **axes,
    )
    rate = Panel(
        (
            line("rate", "measured rate", marker="o"),
            line("rate_bound", "eta lambda_0 / 2 (bound)", color="k", linestyle="--"),
            line("rate_kernel", "1 - (1 - eta lambda_0)^2 (slowest kernel mode)", color="k",
                 linestyle=":"),
        ),
        title="Empirical linear rate vs the bound",
        xlabel="width m",
        ylabel="per-step rate of ||u - y||^2",
        xscale="log2",
        **axes,
    )  # fmt: skip
    return [FigureSpec("ntk-convergence", (residual, movement, rate), size=(14, 4), dpi=120)]


GRID = Grid(PARAMS, seeds=5)
RESULTS = Results(SUMMARY, TABLE, figures)
STUDY = Study(name="ntk-convergence", doc=__doc__, grid=GRID, protocol=PROTOCOL, results=RESULTS)
