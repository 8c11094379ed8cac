"""Trained batch-normalized ReLU nets against their convex optimum (Ergen et al., ICLR 2022).

Ergen, Sahiner, Ozturkler, Pauly, Mardani & Pilanci, "Demystifying batch normalization in
ReLU networks: equivalent convex optimization models and implicit regularization" (ICLR
2022): a two-layer ReLU network with batch normalization after the first layer and weight
decay,

    min 1/2 ||sum_j relu(BN(X u_j)) alpha_j - y||^2 + beta/2 sum_j (gamma_j^2 + b_j^2 + alpha_j^2),

BN(z) = gamma (z - mean z) / ||z - mean z|| + b, has the optimal value p* of a convex
program on the whitened centred data, for any width m >= m*; in the high-dimensional
regime (n <= d + 1) its optimum has a closed form; and gradient descent has an implicit
bias toward the data's top singular directions, which a convex program restricted to them
encodes. This study solves the programs once per data set (``landscope.convex.fit_relu_bn``,
certified to 1e-6), trains many BN networks of each width from random inits at once with
annealed gradient descent, and asks of every run: did it reach p*, how far above it is it
provably (the duality gap), what does the Hessian test call its end point, how well does
it predict held-out data, and which convex program does its function resemble.

Run it::

    landscope run convex-bn                             # default: 2 data x 2 shapes x 6 widths
    landscope run convex-bn --set shape=24x4 --set width=1..40 --seeds 50
    landscope show convex-bn --format json; landscope plot convex-bn

Data (``landscope.data.regression_set`` without its ones column, which BN centres away;
n training and ``n_test`` held-out samples of the same draw): a planted 3-neuron ReLU
teacher on Gaussian inputs, and scikit-learn's digits (3 vs 8, labels +-1, the first d
principal components). Feature i is scaled by ``decay``**i so the singular values fall off
as in real data (BN whitens them away; GD does not). ``shape`` is "n x d": the default
24x4 (n > d, the patterns of the arrangement decide) and 12x16 (n <= d + 1, the closed
form's regime).

Protocol (every setting a study parameter stored with each row):

1. Convex programs (all patterns, exact): p* and ``m_star`` (the width of the optimal
   network read off, reduced to at most n + 1 neurons: an upper bound on the critical
   width); for every k = 1..r the optimum over first layers in the top-k singular span
   (``rank=k``), its test error and its predictions; ``k_rule``, the smallest k whose
   singular values carry ``energy`` of ||Xc||_F^2 (the program that encodes GD's bias,
   chosen before any training); and, where rank(Xc) = n - 1, the closed form's relative
   excess over p*.
2. ``Train``: gradient descent (``ReluBatchNorm``, the objective above) from
   u_j ~ N(0, s^2/d I), gamma_j, b_j ~ N(0, s^2), alpha_j ~ N(0, s^2/m), step ``step``
   annealed to 0 over ``max_steps`` (cosine), until ||grad|| <= ``grad_tol``.
3. ``PolishCertify``: Newton polish and Hessian certification with p* as the known global
   value. BN makes every minimum degenerate (the scale of each u_j, and the directions of
   u_j outside the span of the centred X, are flat: m (d - r + 1) zero eigenvalues), so a
   run above p* is ``saddle`` (proved) or ``degenerate``, never a strict minimum.
4. ``Measure``: the relative excess (loss - p*) / p*, ``reached`` when at most
   ``reach_tol``, the certified relative gap (duality gap / p*), the held-out error
   ||f(X_test) - y_test||^2 / ||y_test - mean||^2 with BN's training statistics, and the
   distance of the run's held-out predictions to each rank-k optimum's (over
   ||y_test - mean||): to the full p* network, to the ``k_rule`` program, and the nearest
   k (``k_best``).

Expected (measured at default size, 20 inits per cell: 142 s on a 2-core VM):

- **Reaching p*.** No run of any cell gets within 1e-4 of p*. GD ends on kinks of the
  ReLU (||grad|| 0.05-0.3 at the end of the annealed schedule). On digits 20x3 at
  m = 32, L-BFGS and Adam (10,000 steps) from the same inits end 1-2 % above p* as well
  (Adam reached it in 1 run of 20), while GD restarted from p*'s weights (padded to
  m = 8) perturbed by 1e-2 returns to 3e-5 of p*: the runs end in other basins, not
  short of this one. Width helps: the share within 1 % of p*
  grows from 0 at m = 1, 2 to 75-85 % at m = 16, 32 on the planted 20x3 set, while the
  digits sets stay at 0-15 % (median excess 2 % above p* at every m >= 8; certified
  gap / p* 0.27 on 20x3, 0.11-0.14 on 12x16). Below the critical width (m* <= 2 for
  12x16, <= 8 and <= 6 for the 20x3 sets) 20-55 % of the m = 1, 2 runs end at the
  all-dead network (f = 0, a degenerate critical point). The Hessian test finds no
  saddle: every end point above p* is ``not_converged`` (a kink) or ``degenerate``.
- **Closed form** (12x16, rank n - 1): exact for the digits' +-1 labels even with the
  unscaled bias (relative excess -5e-10: y_+- are constant on their supports, so the
  optimum's shift keeps their direction), 5.8 % above p* for the planted teacher's
  real-valued labels.
- **GD's implicit bias.** In the low-dimensional 20x3 sets the energy rule keeps all
  r = 3 directions, wide GD nets sit 0.02-0.05 from p*'s function, and held-out errors
  match (planted 0.034 vs 0.035; digits 0.187 vs 0.195). In the high-dimensional 12x16
  sets whitening matters: on digits the convex optimum overfits (held-out 0.57) and
  GD's nets do better (0.33-0.38 at m >= 4), and the top-3-direction program better
  still (0.19): the paper's "mimics and improves on" holds for the test error. GD's
  function is not that program's, though: its nearest rank-k program is k = 10 of 11
  (distance 0.25-0.31), and the rank-3 program is 0.44-0.50 away. On the planted 12x16
  set p* generalizes best (0.079), GD is close (0.09, nearest k = 9) and the rank-3
  program is worse (0.49). So GD's bias toward the top singular directions is real but
  mild; truncating to the directions carrying 90 % of ||Xc||^2 overstates it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..convex import bn_geometry, bn_optimality_gap, closed_form_bn, fit_relu_bn, relu_patterns
from ..data import regression_set
from ..optim import GD, Adam, Stop, cosine_decay
from ..problems import ReluBatchNorm
from ._checks import at_least, between, one_of, positive
from ._params import grad_tol, max_steps, polish_from, polish_tol
from ._study import Grid, Param, Results, Study
from .convex_relu import GAP_BANDS, HEAD
from .figures import FigureSpec, band_chart, grid_chart
from .protocol import Cell, Measure, PolishCertify, Protocol, Train
from .summary import Agg, SummarySpec, param_keys

__all__ = ["PROTOCOL", "STUDY", "make_problem", "references"]

DATA = ("planted", "digits")


def parse_shape(value: str) -> tuple[int, int]:
    """ "24x4" -> (24, 4).

    Raises:
        ValueError: anything but two integers n >= 3, d >= 1 joined by "x".
    """
    parts = str(value).lower().split("x")
    try:
        n, d = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f"shape must be 'n x d' such as 24x4, got {value!r}.") from None
    if n < 3 or d < 1:
        raise ValueError(f"shape needs n >= 3 samples and d >= 1 inputs, got {value!r}.")
    return n, d


PARAMS = (
    Param("data", str, DATA, "planted (Gaussian inputs, ReLU teacher) or digits (3 vs 8)",
          one_of("data", DATA)),
    Param("shape", str, ("20x3", "12x16"), "n x d: training samples x inputs", parse_shape),
    Param("n_test", int, (200,), "held-out samples", at_least("n_test", 1)),
    Param("decay", float, (0.7,), "feature i is scaled by decay**i (singular values fall off)",
          between("decay", 0, 1, include_hi=True)),
    Param("beta", float, (0.1,), "weight decay (beta/2 on gamma^2, b^2, alpha^2)",
          positive("beta")),
    Param("bias_scale", float, (1.0,), "BN(z) = gamma (z - mean) / ||z - mean|| + bias_scale b",
          positive("bias_scale")),
    Param("width", int, (1, 2, 4, 8, 16, 32), "hidden neurons m", at_least("width", 1)),
    Param("data_seed", int, (0,), "seed of the data set", at_least("data_seed", 0)),
    Param("init_scale", float, (1.0,), "scale s of the random init", positive("init_scale")),
    Param("optimizer", str, ("gd",), "gd (the paper's implicit bias) or adam",
          one_of("optimizer", ("gd", "adam"))),
    Param("step", float, (0.02,), "step of gd / adam (cosine-annealed to 0)", positive("step")),
    grad_tol(1e-7, "training"),
    max_steps(10_000, "training steps per run"),
    polish_from(1e-5),
    polish_tol(1e-12),
    Param("reach_tol", float, (1e-4,), "reached: (loss - p*) / p* <= reach_tol",
          positive("reach_tol")),
    Param("near_tol", float, (1e-2,), "near: (loss - p*) / p* <= near_tol",
          positive("near_tol")),
    Param("energy", float, (0.9,),
          "GD-bias program: the top k singular directions carrying this share of ||Xc||^2",
          between("energy", 0, 1, include_hi=True)),
    Param("max_patterns", int, (50_000,),
          "refuse data whose activation patterns are more (the convex solve's size)",
          at_least("max_patterns", 1)),
)  # fmt: skip


# ------------------------------------------------------------------------------- data
@functools.lru_cache(maxsize=8)
def _dataset(kind: str, shape: str, n_test: int, decay: float, seed: int):
    n, d = parse_shape(shape)
    X, y = regression_set(kind, n + n_test, d, seed=seed, decay=decay)
    X = X[:, :-1]  # the ones column: BN centres it away
    return X[:n], y[:n], X[n:], y[n:]


def make_data(cfg: dict):
    """(X, y, X_test, y_test) of the cell: one draw of n + n_test samples, split."""
    return _dataset(cfg["data"], cfg["shape"], cfg["n_test"], cfg["decay"], cfg["data_seed"])


@dataclass(frozen=True)
class References:
    """The convex side of one data set (shared by every width).

    Attributes:
        p_star, m_star: the optimum and the width of the network read off it.
        patterns: the activation patterns of the features (for the runs' certificates).
        rank: r, the rank of the centred X.
        k_rule: the rank of the program that encodes GD's bias (``energy``).
        values: (r,) the optimal values of the rank-k programs, k = 1..r (values[-1] = p*).
        test_err: (r,) their held-out errors.
        test_pred: (r, n_test) their held-out predictions.
        closed_excess: (closed form - p*) / p* when rank = n - 1, else None.
    """

    p_star: float
    m_star: int
    patterns: torch.Tensor
    rank: int
    k_rule: int
    values: np.ndarray
    test_err: np.ndarray
    test_pred: torch.Tensor
    closed_excess: float | None


def _test_error(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """||pred - y||^2 / ||y - mean y||^2 along the last axis."""
    return (pred - y).square().sum(-1) / (y - y.mean()).square().sum()


@functools.lru_cache(maxsize=8)
def _references(key: tuple) -> References:
    kind, shape, n_test, decay, seed, beta, s, energy, max_patterns = key
    X, y, Xt, yt = _dataset(kind, shape, n_test, decay, seed)
    full = fit_relu_bn(X, y, beta, bias_scale=s, max_patterns=max_patterns)
    r = full.geometry.rank
    share = np.cumsum(full.geometry.all_sigma.numpy() ** 2)
    k_rule = int(np.searchsorted(share / share[-1], energy - 1e-12) + 1)
    fits = [fit_relu_bn(X, y, beta, bias_scale=s, rank=k, max_patterns=max_patterns)
            for k in range(1, r)] + [full]  # fmt: skip
    pred = torch.stack([f.predict(Xt) for f in fits])
    closed = None
    if r == X.shape[0] - 1 and s * math.sqrt(X.shape[0]) >= 1:
        closed = closed_form_bn(X, y, beta, bias_scale=s).objective - full.objective
        closed /= full.objective
    return References(
        p_star=full.objective,
        m_star=full.width,
        patterns=full.plain.patterns,
        rank=r,
        k_rule=min(k_rule, r),
        values=np.array([f.objective for f in fits]),
        test_err=_test_error(pred, yt).numpy(),
        test_pred=pred,
        closed_excess=closed,
    )


def references(cfg: dict) -> References:
    """The convex programs of the cell's data set (cached: every width shares them)."""
    names = ("data", "shape", "n_test", "decay", "data_seed", "beta", "bias_scale", "energy",
             "max_patterns")  # fmt: skip
    return _references(tuple(cfg[k] for k in names))


def _validate(cfg: dict) -> None:
    X, _, _, _ = make_data(cfg)
    # refuse before training what the convex solves cannot enumerate (one sentence)
    relu_patterns(bn_geometry(X, bias_scale=cfg["bias_scale"]).features(),
                  max_patterns=cfg["max_patterns"])  # fmt: skip


def make_problem(cfg: dict, dtype: str = "float64", device: str = "cpu") -> ReluBatchNorm:
    """The non-convex BN objective of one cell, with p* as its known global value."""
    X, y, _, _ = make_data(cfg)
    dt = torch.float64 if dtype == "float64" else torch.float32
    return ReluBatchNorm(
        X.to(device=device, dtype=dt),
        y.to(device=device, dtype=dt),
        width=cfg["width"],
        beta=cfg["beta"],
        bias_scale=cfg["bias_scale"],
        init_scale=cfg["init_scale"],
        global_min=references(cfg).p_star,
    )


# ------------------------------------------------------------------------ measuring
def _active(prob: ReluBatchNorm, th: torch.Tensor) -> np.ndarray:
    """Per row, the neurons with a nonzero output on the training sample (R,)."""
    U, gamma, b, alpha = prob.parts(th)
    Z = prob.X @ U.transpose(1, 2)  # (R, n, m)
    Zc = Z - Z.mean(1, keepdim=True)
    H = gamma[:, None] * Zc / Zc.norm(dim=1, keepdim=True) + prob.bias_scale * b[:, None]
    out = (torch.relu(H) * alpha[:, None]).norm(dim=1)  # (R, m)
    big = out > 1e-6 * out.amax(1, keepdim=True).clamp_min(1e-300)
    return big.sum(1).numpy()


def _measure(cell: Cell) -> dict[str, Any]:
    """Excess over p*, its certificate, held-out error and the nearest convex program."""
    prob, cfg = cell.problem64, cell.cfg
    ref = references(cfg)
    X, y, Xt, yt = make_data(cfg)
    th = cell.theta.to(torch.float64).cpu()
    loss = prob.loss(th).numpy()
    excess = (loss - ref.p_star) / ref.p_star
    U, gamma, b, alpha = prob.parts(th)
    gaps = np.full(cell.R, np.nan)
    for r in np.flatnonzero(np.isfinite(loss)):
        try:
            w = (U[r], gamma[r], b[r], alpha[r])
            gap = bn_optimality_gap(X, y, w, cfg["beta"], bias_scale=cfg["bias_scale"],
                                    patterns=ref.patterns)  # fmt: skip
        except ValueError:  # a neuron whose X u is constant: BN is undefined there
            continue
        gaps[r] = gap / ref.p_star
    pred = prob.predict(th, Xt)  # (R, n_test), BN with the training statistics
    scale = (yt - yt.mean()).norm()
    dist = torch.cdist(pred, ref.test_pred).numpy() / float(scale)  # (R, r)
    finite = np.isfinite(dist).all(1)
    k_best = np.where(finite, np.argmin(np.where(np.isfinite(dist), dist, np.inf), 1) + 1, 0)
    return {
        "p_star": [ref.p_star] * cell.R,
        "m_star": [ref.m_star] * cell.R,
        "excess": excess,
        "reached": np.isfinite(excess) & (excess <= cfg["reach_tol"]),
        "near": np.isfinite(excess) & (excess <= cfg["near_tol"]),
        "cert_gap": gaps,
        # neurons whose output relu(BN(X u_j)) alpha_j is not 0 on the training sample
        "active": _active(prob, th),
        "test_err": _test_error(pred, yt).numpy(),
        "dist_full": dist[:, -1],
        "dist_rule": dist[:, ref.k_rule - 1],
        "k_best": k_best,
        "dist_best": dist.min(1),
        # the convex side, constant over the cell
        "rank": [ref.rank] * cell.R,
        "k_rule": [ref.k_rule] * cell.R,
        "p_rule": [float(ref.values[ref.k_rule - 1])] * cell.R,
        "test_full": [float(ref.test_err[-1])] * cell.R,
        "test_rule": [float(ref.test_err[ref.k_rule - 1])] * cell.R,
        "closed_excess": [ref.closed_excess] * cell.R,
    }


DOUBLES = ("p_star", "excess", "cert_gap", "test_err", "dist_full", "dist_rule", "dist_best",
           "p_rule", "test_full", "test_rule", "closed_excess")  # fmt: skip

PROTOCOL = Protocol(
    make_problem=make_problem,
    steps=(
        Train(
            method=lambda cfg: (GD if cfg["optimizer"] == "gd" else Adam)(
                cfg["step"], schedule=cosine_decay(cfg["max_steps"])
            ),
            stop=lambda cfg: Stop(grad_tol=cfg["grad_tol"], max_steps=cfg["max_steps"]),
            label="training",
        ),
        PolishCertify(),
        Measure(
            _measure,
            {
                **dict.fromkeys(DOUBLES, "DOUBLE"),
                **dict.fromkeys(("m_star", "k_best", "rank", "k_rule", "active"), "BIGINT"),
                **dict.fromkeys(("reached", "near"), "BOOLEAN"),
            },
        ),
    ),
)

MISSED = ("reached", (False,))

SUMMARY = SummarySpec(
    keys=param_keys(PARAMS, "data", "shape", "beta", "width"),
    aggs=(
        Agg("p_star", how="first"),
        Agg("m_star", how="first"),
        Agg("reached_optimum", "reached", "fraction"),
        Agg("near_optimum", "near", "fraction"),
        Agg("gap_median", "cert_gap", "median", where=MISSED),
        Agg("gap_min", "cert_gap", "min", where=MISSED),
        Agg("gap_max", "cert_gap", "max", where=MISSED),
        Agg("excess_median", "excess", "median", where=MISSED),
        Agg("closed_excess", how="first"),
        # implicit regularization: GD's nets against the full and the rank-k programs
        Agg("rank", how="first"),
        Agg("k_rule", how="first"),
        Agg("p_rule", how="first"),
        Agg("test_gd", "test_err", "median"),
        Agg("test_full", how="first"),
        Agg("test_rule", how="first"),
        Agg("dist_full", "dist_full", "median"),
        Agg("dist_rule", "dist_rule", "median"),
        Agg("k_best", "k_best", "median"),
        # what the Hessian certification calls the end points (shares of all runs)
        Agg("saddle", "verdict", "share", ("saddle",)),
        Agg("degenerate", "verdict", "share", ("degenerate",)),
        Agg("not_converged", "verdict", "share", ("not_converged",)),
        Agg("diverged", "verdict", "share", ("diverged",)),
        Agg("active_mean", "active"),
    ),
    sort=lambda c: (
        DATA.index(c["data"]) if c["data"] in DATA else 9,
        c["shape"],
        c["beta"],
        c["width"],
    ),  # fmt: skip
)


# --------------------------------------------------------------------------- figures
CHARTS = (  # (stem, lines, percent, title) of the grids of panels, data x shape
    ("convex-bn",
     (("reached_optimum", "reached p* (1e-4)"), ("near_optimum", "within 1 % of p*"),
      ("saddle", "saddle (Hessian)")),
     True, "GD-trained BN-ReLU nets reaching p* (Ergen et al. 2022)"),
    ("convex-bn-test",
     (("test_gd", "GD-trained BN nets (median)"), ("test_full", "convex optimum p*"),
      ("test_rule", "convex, top-k directions")),
     False, "Held-out error: GD's implicit bias against the convex programs"),
)  # fmt: skip


def figures(summary: list[dict]) -> list[FigureSpec]:
    """Reaching p*, held-out errors against the convex programs, gaps of the misses."""
    specs = [
        grid_chart(summary, row="data", col="shape", x="width", ys=ys, stem=stem,
                   xlabel="hidden neurons m", percent=percent, logx=True, title=title)
        for stem, ys, percent, title in CHARTS
    ]  # fmt: skip
    sets = dict.fromkeys((c["data"], c["shape"]) for c in summary)
    series = [(f"{data} {shape}", [c for c in summary if (c["data"], c["shape"]) == (data, shape)])
              for data, shape in sets]  # fmt: skip
    title = "BN nets that missed p*: certified duality gaps"
    gaps = band_chart(series, stem="convex-bn-gaps", title=title, **GAP_BANDS)
    return specs + ([gaps] if gaps else [])


TABLE = (
    ("data", "data", "s"),
    ("shape", "n x d", "s"),
    *HEAD,
    ("near_optimum", "1 % of p*", ".0%"),
    ("gap_median", "gap med.", ".1e"),
    ("test_gd", "test GD", ".3f"),
    ("test_full", "test p*", ".3f"),
    ("test_rule", "test k", ".3f"),
    ("k_rule", "k", "d"),
    ("dist_full", "GD-p*", ".2f"),
    ("dist_rule", "GD-k", ".2f"),
    ("wall_s", "wall s", ".1f"),
)


GRID = Grid(PARAMS, seeds=20, validate=_validate)
RESULTS = Results(SUMMARY, TABLE, figures)
STUDY = Study(name="convex-bn", doc=__doc__, grid=GRID, protocol=PROTOCOL, results=RESULTS)
