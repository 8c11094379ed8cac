"""Linear convergence of over-parameterized two-layer ReLU nets at the NTK rate.

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
``eta_scale`` / lambda_max(H-infinity). Per width m, the seeds' runs are one batch
(``kernels.dynamics.train_two_layer``, thinned records incl. the Gram drift). Per run:
the measured rate 1 - exp(slope of log ||u - y||^2) against eta lambda_0 / 2, whether the
residual stayed under the bound at every recorded step, the largest ratio residual /
bound, the final fraction of changed patterns, max_r ||w_r - w_r(0)||, ||H(k) - H(0)||_2,
and the recorded residual curve.

The bound's rate eta lambda_0 / 2 is conservative by design: GD on the infinite-width
(kernel) dynamics u(k+1) - y = (I - eta H-inf)(u(k) - y) shrinks ||u - y||^2 per step by
at least 1 - (1 - eta lambda_0)^2 ~ 2 eta lambda_0 in its slowest mode (``rate_kernel``
in the summary), 4x the bound's rate; wide nets approach that.

Measured (``landscope run ntk-convergence``, n = 50, d = 10, 1500 steps, 5 seeds per
width; 54 s on 2 idle cores): lambda_0 = 0.0753, eta lambda_0 / 2 =
0.0142; every run of every width stays under the bound; the measured rate grows with m
from 1.18x the bound (m = 64) to 4.09x (m = 16384; the kernel prediction is 3.95x); the
fraction of changed patterns falls 0.198, 0.118, 0.059, 0.029, 0.014, max ||w_r - w_r(0)||
4.64, 1.93, 1.02, 0.52, 0.27 and ||H(k) - H(0)||_2 0.35, 0.15, 0.058, 0.027, 0.011 for
m = 2^6, 2^8, ..., 2^14 (each about halving per 4x in m: ~ 1 / sqrt(m)).

Run it::

    landscope run ntk-convergence                     # m = 2^6 .. 2^14, 5 seeds each
    landscope run ntk-convergence --set n=100 --set steps=3000
    landscope show ntk-convergence --format json; landscope plot ntk-convergence
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..kernels import ntk_gram, sphere
from ..kernels.dynamics import bound, train_two_layer
from ..kernels.two_layer import two_layer_init
from ._checks import at_least, positive
from ._study import Param, RunContext, Study
from .figures import FigureSpec, Line, Panel, floats

__all__ = ["STUDY", "dataset", "run_cell", "summarize"]

PARAMS = (
    Param("m", int, (64, 256, 1024, 4096, 16384), "hidden width", at_least("m", 1)),
    Param("n", int, (50,), "points on the unit sphere", at_least("n", 2)),
    Param("d", int, (10,), "input dimension", at_least("d", 2)),
    Param("eta_scale", float, (1.0,), "eta = eta_scale / lambda_max(H-inf)", positive("eta_scale")),
    Param("steps", int, (1500,), "GD steps", at_least("steps", 1)),
    Param("data_seed", int, (0,), "seed of the points and labels", at_least("data_seed", 0)),
)  # fmt: skip

COLUMNS = {
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
    "status": "VARCHAR",
    "rec_steps": "DOUBLE[]",
    "rec_residual": "DOUBLE[]",
}


def dataset(n: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n points uniform on the unit sphere in R^d and +-1 labels, from one seed."""
    gen = torch.Generator().manual_seed(int(seed))
    X = sphere(n, d, generator=gen)
    y = torch.randint(0, 2, (n,), generator=gen).to(torch.float64) * 2 - 1
    return X, y


def run_cell(cfg: dict, seeds: Sequence[int], ctx: RunContext) -> list[dict]:
    """All seeds of one width as one batch of GD runs, tracked against the bound."""
    X, y = dataset(cfg["n"], cfg["d"], cfg["data_seed"])
    ev = torch.linalg.eigvalsh(ntk_gram(X, "relu", "h_inf"))
    lam0, lam_max = float(ev[0]), float(ev[-1])
    eta = cfg["eta_scale"] / lam_max
    m, d = cfg["m"], cfg["d"]
    inits = [two_layer_init(1, m, d, generator=torch.Generator().manual_seed(int(s)))
             for s in seeds]  # fmt: skip
    W0 = torch.cat([w for w, _ in inits])
    a = torch.cat([a for _, a in inits])

    def hook(step: int, residual: torch.Tensor) -> None:
        ctx.progress(step, cfg["steps"], f"GD, residual {float(residual.max()):.2e}")

    dyn = train_two_layer(X, y, W0, a, eta=eta, steps=cfg["steps"], callback=hook)
    rates = dyn.rate().numpy()
    b = bound(dyn.residual[:, 0], eta, lam0, dyn.steps)  # (R, T)
    ratio = (dyn.residual / b).max(1).values.numpy()
    status = dyn.status_names()
    rows = []
    for r, seed in enumerate(seeds):
        rows.append(
            {
                "seed": int(seed),
                "lambda_0": lam0,
                "lambda_max": lam_max,
                "eta": eta,
                "lambda_min_h0": float(dyn.lambda_min_H0[r]),
                "rate": float(rates[r]),
                "rate_bound": eta * lam0 / 2,
                # the bound at k = 0 is the residual itself: allow its rounding
                "bound_holds": bool(ratio[r] <= 1 + 1e-12),
                "bound_ratio_max": float(ratio[r]),
                "residual0": float(dyn.residual[r, 0]),
                "final_residual": float(dyn.final_residual[r]),
                "pattern_change": float(dyn.pattern_change[r, -1]),
                "weight_move": float(dyn.weight_move[r, -1]),
                "gram_drift": float(dyn.gram_drift[r, -1]),
                "status": status[r],
                "rec_steps": dyn.steps.to(torch.float64).numpy(),
                "rec_residual": dyn.residual[r].numpy(),
            }
        )
    return rows


_MEANS = ("rate", "bound_ratio_max", "final_residual", "pattern_change", "weight_move",
          "gram_drift", "lambda_min_h0")  # fmt: skip


def summarize(rows: list[dict]) -> list[dict]:
    """One dict per width (and data settings): means over seeds, the rate against its bound."""
    keys = [p.name for p in PARAMS]
    cells: dict[tuple, list[dict]] = {}
    for r in rows:
        cells.setdefault(tuple(r[k] for k in keys), []).append(r)
    out = []
    for key, rs in sorted(cells.items(), key=lambda t: (t[0][1:], t[0][0])):
        mean = {c: float(np.mean([r[c] for r in rs])) for c in _MEANS}
        rate_bound = float(rs[0]["rate_bound"])
        eta_lam = float(rs[0]["eta"]) * float(rs[0]["lambda_0"])
        row = dict(zip(keys, key, strict=True)) | {
            "seeds": len(rs),
            "lambda_0": float(rs[0]["lambda_0"]),
            "eta": float(rs[0]["eta"]),
            "rate_bound": rate_bound,
            "rate_kernel": 1 - (1 - eta_lam) ** 2,
            **mean,
            "rate_min": float(min(r["rate"] for r in rs)),
            "rate_over_bound": mean["rate"] / rate_bound,
            "bound_holds": float(np.mean([bool(r["bound_holds"]) for r in rs])),
        }
        if rs[0].get("rec_residual") is not None:  # curves, for the figure
            res = np.stack([np.asarray(r["rec_residual"]) / r["residual0"] for r in rs])
            row["curve_steps"] = [float(s) for s in rs[0]["rec_steps"]]
            row["curve_residual"] = [float(v) for v in np.exp(np.log(res).mean(0))]
        out.append(row)
    return out


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


STUDY = Study(
    name="ntk-convergence",
    summary="GD on wide two-layer ReLU nets converges at the NTK rate (Du et al. 2019).",
    params=PARAMS,
    default_seeds=5,
    columns=COLUMNS,
    run_cell=run_cell,
    summarize=summarize,
    table=TABLE,
    figures=figures,
)
