"""Beyond the kernel regime: a trained two-layer ReLU net against NTK and NNGP regression.

Li, Ma & Zhang, "Learning over-parametrized two-layer ReLU networks beyond NTK" (COLT
2020): for x ~ N(0, I_d) and the target

    f*(x) = a' |W* x|,   W* (d x d) orthonormal, a >= 0   (here a = 1/d: |a|_1 = 1),

gradient descent on an over-parameterized two-layer ReLU net reaches population loss
o(1/d) with polynomially many samples, while every kernel method with polynomially many
samples, the NTK included, stays at Omega(1/d). Why, in one line: f* is positively
homogeneous, f*(x) = |x| g(x / |x|), and on the sphere g = sum_j a_j |w*_j . u| has no
degree-2 harmonic beyond a constant (sum_j (w*_j . u)^2 = 1); kernels learn only the low
degrees from poly(d) samples, leaving Var(g) ~ c / d.

Per seed (its own W*, sample and init), in one batch over seeds:

- n = ``n_factor`` d^2 training samples, labels f*(x) exactly (no noise);
- the net f(x) = sum_r b_r relu(w_r . x) + c, m = ``width_factor`` d neurons, both layers
  and c trained from a small init (w_r ~ N(0, init^2 / d I), b_r ~ N(0, init^2 / m)), full
  batch, ``optimizer`` adam (default; learning rate ``lr`` with cosine decay) or gd (fixed
  step ``lr``), ``steps`` steps; the small init is what leaves the kernel regime. The
  problem is ``landscope.problems.TwoLayerRegression`` (each seed its own sample), trained
  by the driver, ``landscope.optim.run``, with ``Adam(lr, schedule=cosine_decay(steps))``
  or ``GD(lr)``;
- kernel ridge regression on the same samples with the analytic two-layer ReLU NTK and
  NNGP kernels (``landscope.kernels.kernel_ridge``, kind ntk / nngp) plus a constant
  kernel (the ReLU kernels are homogeneous and cannot fit f*'s mean alone), the ridge
  picked on a 20 % hold-out from a log grid and refit on all n;
- the population loss 1/2 E[(f - f*)^2] of each on a fresh sample of ``n_test`` points
  (Monte Carlo, its standard error stored), and of the best constant, 1/2 Var f*
  = (1 - 2/pi) / (2d) exactly (the no-learning reference).

The summary per d: mean losses, d x loss (flat for a 1/d law), and the ratio of the NTK's
loss to the net's (the gap, growing with d when the net's loss falls faster than 1/d).

Measured (``landscope run beyond-ntk``: d = 4, 8, 12, 16, n = 12 d^2, m = 4 d, 3 seeds,
4000 Adam steps; 152 s on 2 idle cores): population loss of the net
1.1e-6, 1.8e-7, 5.1e-8, 3.2e-8; of NTK ridge 5.5e-4, 1.07e-3, 1.10e-3, 1.02e-3 (NNGP
4.3e-4 .. 9.5e-4); best constant 4.5e-2 .. 1.1e-2. So d x NTK loss grows, 0.0022, 0.0085,
0.0132, 0.0162 (the kernel's loss does not fall like 1/d), the net's falls with d, and
the ratio NTK / net grows 511, 5916, 21431, 31962: the trained net beats the kernel in
every run by a margin that grows with d.

Run it::

    landscope run beyond-ntk                      # d = 4, 8, 12, 16; 3 seeds each
    landscope run beyond-ntk --set d=8,16,24 --set steps=6000
    landscope show beyond-ntk --format json; landscope plot beyond-ntk
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..kernels import kernel_ridge
from ..optim import GD, Adam, Optimizer, Stop, View, cosine_decay, restrict, run
from ..problems import TwoLayerRegression
from ._checks import at_least, one_of, positive
from ._study import Param, RunContext, Study
from .figures import FigureSpec, Line, Panel, floats

__all__ = ["STUDY", "make_problem", "method", "run_cell", "summarize", "target"]

RIDGES = tuple(10.0**e for e in range(-9, 2))  # times mean(diag K)
HOLDOUT = 0.2

PARAMS = (
    Param("d", int, (4, 8, 12, 16), "input dimension (W* is d x d)", at_least("d", 2)),
    Param("n_factor", float, (12.0,), "training samples n = n_factor d^2",
          positive("n_factor")),
    Param("width_factor", int, (4,), "hidden neurons m = width_factor d",
          at_least("width_factor", 1)),
    Param("optimizer", str, ("adam",), "adam (cosine-decayed lr) or gd",
          one_of("optimizer", ("adam", "gd"))),
    Param("lr", float, (0.03,), "learning rate (adam) or step (gd)", positive("lr")),
    Param("steps", int, (4000,), "full-batch training steps", at_least("steps", 1)),
    Param("init", float, (0.1,), "init scale of both layers", positive("init")),
    Param("n_test", int, (20000,), "fresh samples for the population loss",
          at_least("n_test", 100)),
)  # fmt: skip

COLUMNS = {
    "n": "BIGINT",
    "m": "BIGINT",
    "nn_train_loss": "DOUBLE",
    "nn_loss": "DOUBLE",
    "nn_loss_se": "DOUBLE",
    "ntk_loss": "DOUBLE",
    "ntk_loss_se": "DOUBLE",
    "ntk_ridge": "DOUBLE",
    "nngp_loss": "DOUBLE",
    "nngp_loss_se": "DOUBLE",
    "nngp_ridge": "DOUBLE",
    "constant_loss": "DOUBLE",
}


def target(X: torch.Tensor, Wstar: torch.Tensor) -> torch.Tensor:
    """f*(x) = (1/d) sum_j |w*_j . x| for X (..., n, d) and W* (..., d, d)."""
    return (X @ Wstar.transpose(-1, -2)).abs().mean(-1)


def _draw(seed: int, d: int, n: int, n_test: int):
    gen = torch.Generator().manual_seed(int(seed))
    Q, R = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))
    Wstar = Q * torch.sign(torch.diagonal(R))  # Haar-distributed orthonormal
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    Xt = torch.randn(n_test, d, generator=gen, dtype=torch.float64)
    return Wstar, X, Xt, gen


def make_problem(cfg: dict, X: torch.Tensor, y: torch.Tensor) -> TwoLayerRegression:
    """The nets of R runs, each fit to its own sample X (R, n, d), y (R, n)."""
    m = cfg["width_factor"] * X.shape[-1]
    return TwoLayerRegression(X, y, width=m, init_scale=cfg["init"])


def method(cfg: dict) -> Optimizer:
    """Adam with the learning rate cosine-annealed to 0 over the steps, or plain GD."""
    if cfg["optimizer"] == "adam":
        return Adam(cfg["lr"], schedule=cosine_decay(cfg["steps"]))
    return GD(cfg["lr"])


@dataclass(frozen=True)
class _Report:
    """Progress every ``every`` steps, with the largest training loss of the batch."""

    problem: TwoLayerRegression
    steps: int
    every: int
    progress: Callable[[int, int, str], None]

    def __call__(self, view: View) -> None:
        if view.step % self.every == 0 and view.step < self.steps:
            loss = restrict(self.problem, view.rows).loss(view.theta)
            self.progress(view.step, self.steps, f"training, loss {float(loss.max()):.2e}")


def _train(cfg: dict, problem: TwoLayerRegression, gens, progress) -> torch.Tensor:
    """Every run's net, one batch through the driver; row r starts from generator r."""
    theta0 = torch.cat([problem.init(1, generator=g) for g in gens])
    report = _Report(problem, cfg["steps"], max(1, cfg["steps"] // 50), progress)
    stop = Stop(grad_tol=0.0, max_steps=cfg["steps"])  # a fixed budget of steps
    return run(problem, theta0, method(cfg), stop=stop, observers=[report]).theta


def _loss_and_se(pred: torch.Tensor, yt: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    sq = 0.5 * (pred - yt).square()
    n = sq.shape[1]
    return sq.mean(1).numpy(), (sq.std(1) / math.sqrt(n)).numpy()


def run_cell(cfg: dict, seeds: Sequence[int], ctx: RunContext) -> list[dict]:
    """Train the nets of all seeds as one batch; kernel ridge on the same samples."""
    d = cfg["d"]
    n = int(math.ceil(cfg["n_factor"] * d * d))
    draws = [_draw(s, d, n, cfg["n_test"]) for s in seeds]
    Wstar = torch.stack([w for w, *_ in draws])
    X = torch.stack([x for _, x, _, _ in draws])
    Xt = torch.stack([xt for _, _, xt, _ in draws])
    gens = [g for *_, g in draws]
    y, yt = target(X, Wstar), target(Xt, Wstar)
    ctx.progress(0, cfg["steps"], "training")
    problem = make_problem(cfg, X, y)
    theta = _train(cfg, problem, gens, ctx.progress)
    nn_train = problem.loss(theta).numpy()
    nn_loss, nn_se = _loss_and_se(problem.predict(theta, Xt), yt)
    ctx.progress(cfg["steps"], cfg["steps"], "kernel ridge (NTK, NNGP)")
    out = {}
    for kind in ("ntk", "nngp"):
        fit = kernel_ridge(X, y, Xt, kind=kind, ridges=RIDGES, holdout=HOLDOUT)
        out[kind] = (*_loss_and_se(fit.pred, yt), fit.ridge.numpy())
    constant = (1 - 2 / math.pi) / (2 * d)  # 1/2 Var f*: Var|z| = 1 - 2/pi, d terms of 1/d^2
    rows = []
    for r, seed in enumerate(seeds):
        rows.append(
            {
                "seed": int(seed),
                "n": n,
                "m": cfg["width_factor"] * d,
                "nn_train_loss": float(nn_train[r]),
                "nn_loss": float(nn_loss[r]),
                "nn_loss_se": float(nn_se[r]),
                "ntk_loss": float(out["ntk"][0][r]),
                "ntk_loss_se": float(out["ntk"][1][r]),
                "ntk_ridge": float(out["ntk"][2][r]),
                "nngp_loss": float(out["nngp"][0][r]),
                "nngp_loss_se": float(out["nngp"][1][r]),
                "nngp_ridge": float(out["nngp"][2][r]),
                "constant_loss": constant,
            }
        )
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    """One dict per cell (d and the training settings): mean losses, d x loss, the gap."""
    cells: dict[tuple, list[dict]] = {}
    keys = [p.name for p in PARAMS]
    for r in rows:
        cells.setdefault(tuple(r[k] for k in keys), []).append(r)
    out = []
    for key, rs in sorted(cells.items(), key=lambda t: t[0]):
        d = int(key[0])
        mean = {c: float(np.mean([r[c] for r in rs])) for c in
                ("nn_loss", "ntk_loss", "nngp_loss", "nn_train_loss", "constant_loss")}  # fmt: skip
        out.append(
            dict(zip(keys, key, strict=True))
            | {
                "n": int(rs[0]["n"]),
                "m": int(rs[0]["m"]),
                "seeds": len(rs),
                **mean,
                "d_nn_loss": d * mean["nn_loss"],
                "d_ntk_loss": d * mean["ntk_loss"],
                "d_nngp_loss": d * mean["nngp_loss"],
                "ntk_over_nn": mean["ntk_loss"] / mean["nn_loss"],
                "nn_beats_ntk": float(np.mean([r["nn_loss"] < r["ntk_loss"] for r in rs])),
            }
        )
    return out


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


STUDY = Study(
    name="beyond-ntk",
    summary="Trained two-layer ReLU net vs NTK/NNGP ridge on f* = a'|W* x| (Li, Ma & Zhang).",
    params=PARAMS,
    default_seeds=3,
    columns=COLUMNS,
    run_cell=run_cell,
    summarize=summarize,
    table=TABLE,
    figures=figures,
)
