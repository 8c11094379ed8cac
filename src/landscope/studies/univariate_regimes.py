"""Univariate ReLU nets: the kernel regime's cubic and the adaptive regime's linear spline.

Williams, Trager, Panozzo, Silva, Zorin & Bruna, "Gradient dynamics of shallow univariate
ReLU networks" (NeurIPS 2019): a one-hidden-layer ReLU net f(x) = sum_i c_i relu(a_i x +
b_i), trained by gradient descent to interpolate a few points, ends at an interpolant set
by the relative initialization scale of its two layers: in the kernel regime (second
layer small against the first) the knots -b_i / a_i hardly move and, from uniformly
spread knots, the interpolant is the natural cubic spline (least curvature); in the
adaptive regime (second layer large) the knots move to the data and the interpolant is a
linear spline. This study sweeps that ratio over both regimes and the crossover, at
three widths, and measures which interpolant each run ends at.

Run it::

    landscope run univariate-regimes                    # 2 data x 3 widths x 5 ratios x 2 seeds
    landscope run univariate-regimes --set ratio=1e-4,1e-3,3e-3,1e-2 --set width=500
    landscope show univariate-regimes --format json; landscope plot univariate-regimes

Setup (``landscope.problems.UnivariateReLU``, ``landscope.data.univariate_set``):
``alternating`` (n = 6 equally spaced points on [-1, 1], y = +-1/2) and ``smooth``
(y = sin(3 x) at 7 uneven points). Per neuron c_i ~ N(0, sigma_c^2), knots uniform on
the data range widened by half its length on each side with |a_i| = sigma_w (``init``
uniform; ``gaussian``: a_i, b_i ~ N(0, sigma_w^2)), ``ratio`` = sigma_c / sigma_w and
m sigma_c sigma_w = ``scale``; neurons in pairs (a, b, +-c) so that f = 0 at init. The
tangent kernel's first-layer part over its second-layer part is ratio^2 at every width,
so the cell's ``regime`` label is the paper's reading of its scale parameter: "kernel"
for ratio < 1 (first layer dominant), "adaptive" for ratio >= 1. The measured distances
check the label.

Protocol:

1. ``Train``: gradient descent to interpolation (0.5 ||f(x) - y||^2 <= ``loss_tol`` x
   0.5 ||y||^2, or ``max_steps``) by ``landscope.optim.SharpnessGD``: each run's step is
   ``step_frac`` / lambda_max of its Gauss-Newton matrix J'J (the tangent kernel's largest
   eigenvalue, the sharpness at an interpolant), set afresh every ``sharp_every`` steps,
   so eta lambda_max stays at ``step_frac`` while the sharpness grows (the adaptive
   regime's grows ~14x along the flow, 5 -> 70 at ratio 1, m = 50: a step set once, or
   every 8,000 steps as this study did before, lets GD settle at the edge of stability,
   eta lambda_max ~ 2, far from the flow). ``flow_time`` is the sum of the step sizes:
   the gradient-flow time covered.
2. ``Measure`` on the data interval (1001 points): the sup-norm distance from the trained
   f to the natural cubic spline through the data (scipy), to the linear spline, and to
   the weight-decay optimum of the same network (``landscope.convex.fit_relu`` with
   ``beta_wd``, a linear spline with few knots), each over the range of y; where the
   active knots (neurons whose slope change |c_i a_i| is at least 1 % of the largest, knot
   inside the data interval) ended: median distance to the nearest data point over the
   mean spacing (``knot_to_data``: about 1/4 for knots spread uniformly, 0 at the data);
   ||(a, b) - (a, b)_0|| / ||(a, b)_0|| (``move``); the largest drift of the conserved
   c_i^2 - a_i^2 - b_i^2 over the largest a_i^2 + b_i^2 + c_i^2 at init (``drift``).

Expected (measured at default size, 2 runs per cell: 261 s on a 2-core VM, alone):

- **Alternating data.** Ratio 1e-3 ends nearest the cubic spline at every width
  (distance 0.21 / 0.088 / 0.086 at m = 50 / 500 / 2000, against 0.31 / 0.25 / 0.21 to the
  linear one; the first layer moved 0.6-0.7 %, knots stay spread: 0.21-0.26 of a spacing
  from the data), and the distance to the cubic spline falls with width as the random
  features approach the kernel limit. Every ratio from 1e-2 up ends at the linear spline
  (distance <= 0.035 at m >= 500, 0.097 at m = 50; knots at the data, knot/data 0.00).
  So the crossover sits between 1e-3 and 1e-2 at every width, not at ratio = 1: the
  cells labelled "kernel" at 1e-2 and 1e-1 are adaptive by what they measure (the first
  layer moves 7 % and 57 %). The ratio-1e-3 runs stop at the 40,000-step budget (flow
  time ~10) with loss 8e-9 to 2e-6 (the kernel's condition number is ~1e4), at or short
  of the 1e-8 target.
- **Smooth data** (sin 3x at 7 uneven points), where the two splines differ by less:
  every cell, adaptive ones included, ends nearer the cubic spline than the linear one
  (ratio 1, 10: 0.076-0.13 against 0.13-0.20), with knots 0.18-0.33 of a spacing from
  the data against 0.15-0.39 for the kernel-labelled cells. The linear-spline claim of the
  adaptive regime does not show here. No run at ratio 1 or 10 interpolates within the
  budget: they sit at loss 3.9e-4 (1e-5 at ratio 1, m = 2000) after flow time 600-1,200,
  the same value for every width and seed (a plateau of the flow, not of GD).
- **Gradient flow.** eta lambda_max = 1, the step re-set every 10 steps. Against the
  event-driven Filippov integration of the flow (``landscope.problems.univariate_flow``,
  ``benchmarks/univariate_flow.py``; alternating data, m = 50) the trained function is
  within 7e-6 (ratio 1e-3, flow time 10) and 7e-7 (ratio 1, flow time 120) of the flow's
  in sup norm over range(y), the parameters within 6e-7 and 1 %, and every gap halves
  with eta lambda_max (1, 0.5, 0.25, 0.1). The conserved quantity drifts by 2e-7 of the
  neurons' initial scale at ratio 1e-3, 1e-5 at 1e-2, 0.001-0.012 at 0.1, 0.01-0.09 at
  10 and 0.07-0.65 at ratio 1 (the first layer grows 3x from a small init; the drift
  halves with the step too).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.interpolate import CubicSpline

from ..convex import fit_relu
from ..data import UNIVARIATE_SETS, univariate_set
from ..optim import SharpnessGD, Stop, View, flow_time, run
from ..optim.driver import RunResult
from ..problems import INITS, UnivariateReLU
from ._checks import at_least, between, one_of, positive
from ._params import max_steps
from ._study import Grid, Param, Results, Study
from .figures import FigureSpec, Line, Panel, Rug, Scatter, floats, line_chart
from .protocol import Cell, Measure, Progress, Protocol, Train
from .summary import Agg, SummarySpec, param_keys

__all__ = ["PROTOCOL", "STUDY", "make_problem", "references", "regime"]

GRID_POINTS = 1001


PARAMS = (
    Param("data", str, UNIVARIATE_SETS, "alternating (6 points) or smooth (7 uneven points)",
          one_of("data", UNIVARIATE_SETS)),
    Param("width", int, (50, 500, 2000), "hidden neurons m (even: neurons come in pairs)",
          at_least("width", 2)),
    Param("ratio", float, (1e-3, 1e-2, 1e-1, 1.0, 10.0),
          "sigma_c / sigma_w: second-layer over first-layer init scale", positive("ratio")),
    Param("scale", float, (1.0,), "m sigma_c sigma_w", positive("scale")),
    Param("init", str, ("uniform",), "uniform knots (equal slopes) or gaussian (a, b)",
          one_of("init", INITS)),
    Param("step_frac", float, (1.0,), "GD step x the sharpness lambda_max(J'J) of each run",
          between("step_frac", 0, 2)),
    Param("sharp_every", int, (10,), "steps between re-settings of each run's step",
          at_least("sharp_every", 1)),
    max_steps(40_000, "GD steps per run"),
    Param("loss_tol", float, (1e-8,), "interpolated: loss <= loss_tol x 0.5 ||y||^2",
          positive("loss_tol")),
    Param("beta_wd", float, (1e-3,), "weight decay of the reference optimum (fit_relu)",
          positive("beta_wd")),
)  # fmt: skip

_SIZES = {"alternating": 6, "smooth": 7}


def regime(ratio: float) -> str:
    """The paper's reading of the scale parameter: "kernel" below 1, else "adaptive"."""
    return "kernel" if ratio < 1 else "adaptive"


def make_data(cfg: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) of the cell."""
    return univariate_set(cfg["data"], _SIZES[cfg["data"]])


def make_problem(cfg: dict, dtype: str = "float64", device: str = "cpu") -> UnivariateReLU:
    """The interpolation problem of one cell (the init draws the two layers' scales)."""
    x, y = make_data(cfg)
    dt = torch.float64 if dtype == "float64" else torch.float32
    return UnivariateReLU(
        x.to(device=device, dtype=dt),
        y.to(device=device, dtype=dt),
        width=cfg["width"],
        init_kind=cfg["init"],
        ratio=cfg["ratio"],
        scale=cfg["scale"],
    )


def _validate(cfg: dict) -> None:
    if cfg["width"] % 2:
        raise ValueError(f"width must be even (neurons come in pairs), got {cfg['width']}.")


# ------------------------------------------------------------------------- references
@dataclass(frozen=True)
class References:
    """The interpolants a run is compared with, on the data interval's grid."""

    grid: np.ndarray
    cubic: np.ndarray
    linear: np.ndarray
    wd: np.ndarray
    y_range: float


@functools.lru_cache(maxsize=8)
def _references(data: str, beta_wd: float) -> References:
    x, y = univariate_set(data, _SIZES[data])
    xn, yn = x.numpy(), y.numpy()
    grid = np.linspace(xn[0], xn[-1], GRID_POINTS)
    X1 = torch.stack([x, torch.ones_like(x)], 1)
    U, alpha = fit_relu(X1, y, beta_wd).weights()
    G = torch.stack([torch.as_tensor(grid), torch.ones(GRID_POINTS, dtype=torch.float64)], 1)
    return References(
        grid=grid,
        cubic=CubicSpline(xn, yn, bc_type="natural")(grid),
        linear=np.interp(grid, xn, yn),
        wd=(torch.relu(G @ U.T) @ alpha).numpy(),
        y_range=float(yn.max() - yn.min()),
    )


def references(cfg: dict) -> References:
    """The natural cubic spline, the linear spline and the weight-decay optimum."""
    return _references(cfg["data"], cfg["beta_wd"])


# --------------------------------------------------------------------------- training
@dataclass(frozen=True)
class FlowGD(Train):
    """``Train`` by ``SharpnessGD``: each row's step ``step_frac`` / lambda_max(J J') set
    afresh every ``sharp_every`` steps, to the loss target; stores ``flow_time``."""

    def train(self, cell: Cell, theta: torch.Tensor) -> RunResult:
        cfg, prob = cell.cfg, cell.problem
        target = cfg["loss_tol"] * 0.5 * float((prob.y[0] ** 2).sum())
        stop = Stop(grad_tol=None, loss_target=target, max_steps=cfg["max_steps"])
        times = torch.zeros(theta.shape[0], dtype=torch.float64)

        def keep_time(view: View) -> None:  # the flow time of rows as they finish
            if view.finished:
                times[view.rows[view.done].cpu()] = flow_time(view.state)[view.done].cpu().double()

        cell.progress(0, self.label)
        watch = [Progress(cell.ctx.progress, f"{self.label} step", every=500), keep_time]
        method = SharpnessGD(cfg["step_frac"], cfg["sharp_every"])
        res = run(prob, theta, method, stop=stop, observers=watch)
        cell.columns["flow_time"] = times.numpy()
        return res

    def columns(self) -> dict[str, str]:
        return {**super().columns(), "flow_time": "DOUBLE"}


# ------------------------------------------------------------------------ measuring
def _measure(cell: Cell) -> dict[str, Any]:
    prob, cfg = cell.problem64, cell.cfg
    ref = references(cfg)
    th = cell.theta.to(torch.float64).cpu()
    f = prob.predict(th, torch.as_tensor(ref.grid)).numpy()  # (R, grid)

    def dist(g: np.ndarray) -> np.ndarray:
        return np.abs(f - g).max(1) / ref.y_range

    x = prob.X[0, :, 0].numpy()
    spacing = (x[-1] - x[0]) / (len(x) - 1)
    a, b, c, _ = prob.parts(th)
    knots = (-b / a).numpy()
    slope = (c * a).abs().numpy()
    near, active = [], []
    for r in range(cell.R):
        keep = (slope[r] >= 0.01 * slope[r].max()) & (knots[r] >= x[0]) & (knots[r] <= x[-1])
        k = np.sort(knots[r][keep])
        active.append(k.tolist())
        gap = np.abs(k[:, None] - x[None]).min(1) / spacing if len(k) else np.array([np.nan])
        near.append(float(np.median(gap)))
    th0 = cell.theta0.to(torch.float64).cpu()
    W0 = torch.stack(prob.parts(th0)[:2], -1)
    W = torch.stack((a, b), -1)
    q0, q = prob.conserved(th0), prob.conserved(th)
    a0, b0, c0, _ = prob.parts(th0)
    size0 = (a0 * a0 + b0 * b0 + c0 * c0).amax(1)  # the largest neuron's squared size
    d_cubic, d_linear = dist(ref.cubic), dist(ref.linear)
    return {
        "dist_cubic": d_cubic,
        "dist_linear": d_linear,
        "dist_wd": dist(ref.wd),
        "nearer": np.where(d_cubic < d_linear, "cubic", "linear"),
        "knot_to_data": near,
        "move": ((W - W0).norm(dim=(1, 2)) / W0.norm(dim=(1, 2))).numpy(),
        "drift": ((q - q0).abs().amax(1) / size0).numpy(),
        "final_loss": prob.loss(th).numpy(),
        # the first 101 grid points' f (every 10th) and the active knots, for the figures
        "curve": [row[::10].tolist() for row in f],
        "knots": active,
    }


PROTOCOL = Protocol(
    make_problem=make_problem,
    steps=(
        FlowGD(method=None, stop=None, label="GD"),
        Measure(
            _measure,
            {
                **dict.fromkeys(
                    (
                        "dist_cubic",
                        "dist_linear",
                        "dist_wd",
                        "knot_to_data",
                        "move",
                        "drift",
                        "final_loss",
                    ),
                    "DOUBLE",
                ),  # fmt: skip
                "nearer": "VARCHAR",
                "curve": "DOUBLE[]",
                "knots": "DOUBLE[]",
            },
        ),
    ),
)

SUMMARY = SummarySpec(
    keys=param_keys(PARAMS, "data", "init", "width", "ratio"),
    aggs=(
        Agg("dist_cubic", "dist_cubic", "median"),
        Agg("dist_linear", "dist_linear", "median"),
        Agg("dist_wd", "dist_wd", "median"),
        Agg("cubic_share", "nearer", "share", ("cubic",)),
        Agg("knot_to_data", "knot_to_data", "median"),
        Agg("move", "move", "median"),
        Agg("drift", "drift", "max"),
        Agg("steps", "steps", "median"),
        Agg("flow_time", "flow_time", "median"),
        Agg("interpolated", "opt_status", "share", ("converged",)),
        Agg("curve", how="first"),
        Agg("knots", how="first"),
    ),
    sort=lambda c: (c["data"], c["init"], c["width"], c["ratio"]),
)


def _summarize_with_regime(rows: list[dict]) -> list[dict]:
    return [{**c, "regime": regime(c["ratio"])} for c in SUMMARY(rows)]


# --------------------------------------------------------------------------- figures
def figures(summary: list[dict]) -> list[FigureSpec]:
    """Distances against the ratio; learned functions of both regimes; knots vs data."""
    specs = []
    for key, name in (("dist_cubic", "cubic"), ("dist_linear", "linear")):
        for data in dict.fromkeys(c["data"] for c in summary):
            cells = [c for c in summary if c["data"] == data]
            title = f"Distance to the {name} spline ({data} data)"
            spec = line_chart(cells, x="ratio", y=key, group="width", percent=False,
                              stem=f"univariate-regimes-{name}-{data}", title=title,
                              xlabel="ratio sigma_c / sigma_w (kernel < 1 <= adaptive)",
                              ylabel=f"sup |f - {name} spline| / range(y)")  # fmt: skip
            p = spec.panels[0]
            panel = Panel(p.marks, xlabel=p.xlabel, ylabel=p.ylabel, xscale="log", legend=True)
            specs.append(FigureSpec(spec.stem, (panel,), title=title, size=spec.size,
                                    dpi=spec.dpi))  # fmt: skip
    specs.extend(_function_figures(summary))
    return specs


def _function_figures(summary: list[dict]) -> list[FigureSpec]:
    """Per data set and width: the learned f of the smallest and largest ratio, the two
    splines and the data; and the active knots of every ratio against the data."""
    out = []
    for data in dict.fromkeys(c["data"] for c in summary):
        ref = _references(data, 1e-3)
        x, y = univariate_set(data, _SIZES[data])
        grid = floats(ref.grid[::10])
        panels, knot_marks = [], []
        widths = sorted({c["width"] for c in summary if c["data"] == data})
        for w in widths:
            cells = sorted((c for c in summary if c["data"] == data and c["width"] == w
                            and c["curve"] is not None), key=lambda c: c["ratio"])  # fmt: skip
            if not cells:
                continue
            marks = [Line(grid, floats(ref.cubic[::10]), "cubic spline", color="0.5",
                          linestyle="--"),
                     Line(grid, floats(ref.linear[::10]), "linear spline", color="0.5",
                          linestyle=":")]  # fmt: skip
            for c, color in ((cells[0], "C0"), (cells[-1], "C3")):
                label = f"ratio {c['ratio']:g} ({regime(c['ratio'])})"
                marks.append(Line(grid, floats(c["curve"]), label, color=color))
            marks.append(Scatter(floats(x), floats(y), size=25, color="k", label="data"))
            panels.append(Panel(tuple(marks), title=f"m = {w}", xlabel="x", legend=w == widths[0]))
            labelled = False
            for c in cells:
                if c["knots"]:
                    label = None if labelled else f"m = {w}"
                    labelled = True
                    knot_marks.append(Scatter(floats(c["knots"]),
                                              floats([math.log10(c["ratio"])] * len(c["knots"])),
                                              size=4, color=f"C{widths.index(w)}",
                                              label=label))  # fmt: skip
        if panels:
            out.append(FigureSpec(f"univariate-regimes-functions-{data}", tuple(panels),
                                  title=f"Learned functions, smallest and largest ratio ({data})",
                                  size=(4.0 * len(panels), 3.6), dpi=130))  # fmt: skip
        if knot_marks:
            panel = Panel((*knot_marks, Rug(floats(x), label="data")), xlabel="knot position x",
                          ylabel="log10 ratio (first run's active knots)", legend=True)  # fmt: skip
            out.append(FigureSpec(f"univariate-regimes-knots-{data}", (panel,),
                                  title=f"Where the active knots end ({data})", size=(6.0, 4.0),
                                  dpi=130))  # fmt: skip
    return out


TABLE = (
    ("data", "data", "s"),
    ("width", "m", "d"),
    ("ratio", "ratio", "g"),
    ("regime", "regime", "s"),
    ("runs", "runs", "d"),
    ("dist_cubic", "to cubic", ".3f"),
    ("dist_linear", "to linear", ".3f"),
    ("dist_wd", "to wd opt", ".3f"),
    ("knot_to_data", "knot/data", ".2f"),
    ("move", "move", ".2g"),
    ("interpolated", "interp.", ".0%"),
    ("wall_s", "wall s", ".1f"),
)

GRID = Grid(PARAMS, seeds=2, validate=_validate)
RESULTS = Results(_summarize_with_regime, TABLE, figures)
STUDY = Study(name="univariate-regimes", doc=__doc__, grid=GRID, protocol=PROTOCOL,
              results=RESULTS)  # fmt: skip
