"""Geometry of level sets by dynamic string sampling (Freeman & Bruna, ICLR 2017).

Level sets Omega_u = {theta : E(theta) <= u}. Freeman & Bruna measure them by Dynamic
String Sampling: train two random inits into the level set, then connect them by a
polygon of beads, each re-trained into the set, until the loss along every segment stays
at or below the level (``landscope.connect.dynamic_string``). The normalized geodesic
length |gamma| / ||theta_A - theta_B|| (1 for a straight path) and the number of beads
grow as the level L0 drops: low level sets are more curved. Wider networks have shorter,
more easily connected paths.

Models (``net`` = ``model:width``):

- ``poly2:w``, ``poly3:w``: the 1-w-w-1 sigmoid MLP (``problems.sigmoid_mlp``)
  regressing y = x^2 (``poly2``) or y = x^3 (``poly3``) at ``n_points`` = 20 points of
  [0, 1] (``data.polynomial``, the paper's polynomial regression), mean squared error
  (``ModuleLoss``), trained with Adam;
- ``relu:n``: the ReLU teacher-student with k = ``teacher_k`` = 4 teacher neurons, d = k,
  and n student neurons (n = k, k + 2, 2k), population loss in closed form, gradient
  descent with per-row Armijo steps;
- ``cnn:c``: a small CNN (``problems.small_cnn``: conv 3x3 with c channels, ReLU, a
  linear layer to 10 classes) on the first ``n_digits`` = 200 of scikit-learn's digits
  (``data.digit_images``: pixels / 16), cross-entropy, trained with Adam.

``level`` is relative: L0 = level x E(0), E(0) the loss of the all-zero parameters
(mean(y^2)/2 for the regressions, the teacher's E f*^2 / 2, log 10 for the CNN), so one
grid fits every model.

Protocol (every setting a study parameter stored with each row):

1. Init: pair s gets two inits, the problem's ``init`` drawn from seeds 2s and 2s + 1.
2. ``Measure`` (``landscope.connect``): ``train_to_level`` trains the endpoints of all
   pairs of the cell, as one batch, to loss <= ``alpha`` L0 (alpha = 0.5); each stops
   there, at ||grad|| <= ``grad_tol`` or after its step budget (Adam: ``adam_lr``,
   ``adam_max_steps``; Armijo: ``armijo_lr0``, ``armijo_max_steps``). A pair whose
   endpoints do not both reach alpha L0 is recorded with stop ``endpoint_not_reached``.
   Then ``dynamic_strings`` connects every other pair at L0, the beads of all pairs
   training together with the same settings, each segment sampled at ``points`` = 65
   positions; at most ``max_depth`` = 6 rounds and ``max_beads`` = 32 beads, past which
   the pair is "not connected found", never a proof of disconnection.

Run times at default size are in benchmarks/README.md.

Measured (default grid, 27 cells x 3 pairs). Beads grow as L0 drops for every net (poly2:4
2.3, 3.0, 4.7; poly3:4 2.0, 3.7, 6.0; cnn:2 0.7, 1.3, 2.3; relu:6 0.3, 0.7, 2.7 at
L0 / E(0) = 0.1, 0.03, 0.01). The normalized length grows as L0 drops for the CNN
(c = 2: 1.076, 1.100, 1.121) and the ReLU students (n = 6: 1.031, 1.118, 1.274; n = 8:
1.000, 1.067, 1.132) but stays flat at 1.13-1.20 for the sigmoid MLPs over this range (and
down to 0.001 E(0)). Wider is shorter at every level (poly2 w = 16 vs 4: 1.14-1.16 vs
1.18-1.20; poly3 1.13-1.14 vs 1.18-1.20; cnn c = 8 vs 2; relu n = 8 < 6 < 4) and more
easily connected: the ReLU student with n = k = 4 connects 3, 2 and 0 of 3 pairs, with
n = 6 and 8 all of them.

Run it::

    landscope run level-sets                          # 9 nets x 3 levels x 3 pairs
    landscope run level-sets --set net=poly2:4,poly2:32 --set level=0.1,0.03,0.01,0.003
    landscope run level-sets --set net=relu:4 --set max_depth=10 --set max_beads=128
    landscope show level-sets --format json; landscope plot level-sets
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..connect import STRING_COLUMNS, dynamic_strings, train_to_level
from ..connect.string import STRING_STOP
from ..data import DIGITS_N, digit_images, polynomial
from ..problems import (
    ModuleLoss,
    Problem,
    ReluTeacherStudent,
    init_from_seeds,
    sigmoid_mlp,
    small_cnn,
)
from ._checks import at_least, positive
from ._study import Grid, Param, Results, Study
from .figures import FigureSpec, Line, Panel, floats
from .protocol import Cell, Measure, Protocol
from .summary import Agg, SummarySpec, param_keys

__all__ = [
    "PROTOCOL",
    "STUDY",
    "SUMMARY",
    "loss_at_zero",
    "make_problem",
    "parse_net",
    "string_options",
    "training",
]

MODELS = ("poly2", "poly3", "relu", "cnn")
POLY_DEGREE = {"poly2": 2, "poly3": 3}  # the model names say the degree


def parse_net(spec: str) -> tuple[str, int]:
    """``"poly2:4"`` -> ("poly2", 4); one clear sentence for anything else."""
    model, _, width = spec.partition(":")
    if model not in MODELS or not width.isdigit() or int(width) < 1:
        raise ValueError(
            f"net must be model:width with model one of {', '.join(MODELS)} and width a "
            f"positive integer (e.g. poly2:4, relu:6, cnn:8); got {spec!r}."
        )
    return model, int(width)


def _check_net(spec: str) -> None:
    parse_net(spec)


def _fraction(name: str, what: str) -> Callable[[float], None]:
    def check(v: float) -> None:
        positive(name)(v)
        if v >= 1:
            raise ValueError(f"{name} is {what}, in (0, 1); got {v!r}.")

    return check


def _check_digits(v: int) -> None:
    if not 1 <= v <= DIGITS_N:
        raise ValueError(f"n_digits must be in 1..{DIGITS_N} (the digits data set); got {v!r}.")


_check_level = _fraction("level", "a fraction of the loss at zero")
_check_alpha = _fraction("alpha", "the fraction of L0 endpoints and beads are trained to")
NETS = tuple("poly2:4 poly2:16 poly3:4 poly3:16 relu:4 relu:6 relu:8 cnn:2 cnn:8".split())

PARAMS = (
    Param("net", str, NETS, "model:width", _check_net),
    Param("level", float, (0.1, 0.03, 0.01), "L0 as a fraction of E(0)", _check_level),
    Param("alpha", float, (0.5,), "endpoints, beads train to alpha L0", _check_alpha),
    # the string search
    Param("max_depth", int, (6,), "rounds of bead insertion", at_least("max_depth", 0)),
    Param("max_beads", int, (32,), "interior beads per string", at_least("max_beads", 0)),
    Param("points", int, (65,), "loss samples per segment, ends too", at_least("points", 3)),
    # training of endpoints and beads (each to alpha L0, or as below)
    Param(
        "grad_tol",
        float,
        (1e-10,),
        "training also stops at ||grad|| <= this",
        at_least("grad_tol", 0),
    ),
    Param("adam_lr", float, (0.01,), "Adam's learning rate (poly, cnn)", positive("adam_lr")),
    Param(
        "adam_max_steps", int, (5000,), "Adam's steps (poly, cnn)", at_least("adam_max_steps", 1)
    ),
    Param("armijo_lr0", float, (1.0,), "Armijo's first trial step (relu)", positive("armijo_lr0")),
    Param("armijo_max_steps", int, (20_000,), "Armijo's steps", at_least("armijo_max_steps", 1)),
    # the problems
    Param("teacher_k", int, (4,), "relu: teacher neurons k, d = k", at_least("teacher_k", 1)),
    Param("n_points", int, (20,), "poly: points of [0, 1] regressed", at_least("n_points", 1)),
    Param("n_digits", int, (200,), "cnn: the first n digit images", _check_digits),
)


def make_problem(cfg: dict, dtype: str = "float64", device: str = "cpu") -> Problem:
    """The cell's problem: a ``ModuleLoss`` of a model on a data set, or the ReLU teacher."""
    model, width = parse_net(cfg["net"])
    if model == "relu":
        k = cfg["teacher_k"]
        return ReluTeacherStudent(k=k, n=width, d=k, dtype=dtype, device=device)
    if model == "cnn":
        X, labels = digit_images(cfg["n_digits"])
        net = small_cnn(width)
        return ModuleLoss(net, X, labels, criterion="cross_entropy", dtype=dtype, device=device)
    x, y = polynomial(cfg["n_points"], POLY_DEGREE[model])
    return ModuleLoss(sigmoid_mlp(width), x, y, dtype=dtype, device=device)


def loss_at_zero(problem: Problem) -> float:
    """E(0), the loss of the all-zero parameters: the unit of the relative ``level``."""
    zero = torch.zeros(1, problem.n_params, dtype=problem.dtype, device=problem.device)
    return float(problem.loss(zero)[0])


def training(cfg: dict) -> dict[str, Any]:
    """How endpoints and beads train (``train_to_level`` / ``dynamic_strings`` keywords)."""
    if parse_net(cfg["net"])[0] == "relu":
        opt = {"optimizer": "armijo", "lr": cfg["armijo_lr0"], "max_steps": cfg["armijo_max_steps"]}
    else:
        opt = {"optimizer": "adam", "lr": cfg["adam_lr"], "max_steps": cfg["adam_max_steps"]}
    return opt | {"tol": cfg["grad_tol"]}


def string_options(cfg: dict) -> dict[str, Any]:
    """Every ``dynamic_strings`` keyword of a cell: its caps, sampling and training."""
    caps = {k: cfg[k] for k in ("alpha", "max_depth", "max_beads", "points")}
    return caps | training(cfg)


def _pair_starts(problem: Problem, seeds: Sequence[int]) -> torch.Tensor:
    """(2R, P): rows 2i and 2i + 1 are pair i's endpoints, drawn from seeds 2s and 2s + 1."""
    return init_from_seeds(problem, [2 * int(s) + j for s in seeds for j in (0, 1)])


def _net(cell: Cell) -> dict[str, list]:
    model, width = parse_net(cell.cfg["net"])
    return {"model": [model] * cell.R, "width": [width] * cell.R}


# the Path's own "level" is level_abs here ("level" is the relative grid parameter)
CONNECT_COLUMNS = {
    **{k: v for k, v in STRING_COLUMNS.items() if k != "level"},
    "level_abs": "DOUBLE",
    "endpoint_loss_a": "DOUBLE",
    "endpoint_loss_b": "DOUBLE",
}


def _connect(cell: Cell) -> dict[str, list]:
    """Train every pair's endpoints to alpha L0 as one batch, then the strings of all pairs
    at L0 together (each round's beads, of every pair, as one batch)."""
    cfg, prob = cell.cfg, cell.problem
    L0 = cfg["level"] * loss_at_zero(prob)
    cell.progress(0, "training endpoints")
    ends = train_to_level(prob, cell.theta, cfg["alpha"] * L0, **training(cfg))
    good = torch.nonzero(ends.reached.reshape(cell.R, 2).all(dim=1)).flatten().tolist()
    cell.progress(0, f"strings of {len(good)} pairs, beads of all pairs in one batch")
    strings = {}
    if good:
        pairs = ends.theta.reshape(cell.R, 2, -1)[torch.tensor(good, device=ends.theta.device)]
        found = dynamic_strings(prob, pairs[:, 0], pairs[:, 1], L0, **string_options(cfg))
        strings = dict(zip(good, found, strict=True))
    end_loss = ends.loss.reshape(cell.R, 2).tolist()
    rows = []
    for i, (loss_a, loss_b) in enumerate(end_loss):
        row = {"level_abs": L0, "endpoint_loss_a": loss_a, "endpoint_loss_b": loss_b}
        if i in strings:
            row |= {k: v for k, v in strings[i].as_row().items() if k != "level"}
        else:
            row |= {"stop": "endpoint_not_reached", "connected": False}
        rows.append(row)
    return {k: [r.get(k) for r in rows] for k in CONNECT_COLUMNS}


PROTOCOL = Protocol(
    make_problem=make_problem,
    init=_pair_starts,
    steps=(
        Measure(_net, {"model": "VARCHAR", "width": "BIGINT"}),
        Measure(_connect, CONNECT_COLUMNS),
    ),
    keep_params=False,  # a run is a pair of endpoints and a polygon, not one point
)

CONNECTED = ("connected", (True,))
SUMMARY = SummarySpec(
    keys=param_keys(PARAMS, "net", "level"),
    aggs=(
        Agg("level_abs", how="first"),
        Agg("endpoints_missed", "stop", "count", ("endpoint_not_reached",)),
        # the pairs that got a string: their connected share, bead steps
        Agg("connected", "connected", "fraction", where=("stop", STRING_STOP)),
        Agg("normalized_length_mean", "normalized_length", where=CONNECTED),
        Agg("normalized_length_max", "normalized_length", "max", where=CONNECTED),
        Agg("beads_mean", "n_beads", where=CONNECTED),
        Agg("train_steps_mean", "train_steps", where=("stop", STRING_STOP)),
    ),
    derived=(
        ("model", lambda c: parse_net(c["net"])[0]),
        ("width", lambda c: parse_net(c["net"])[1]),
        ("pairs", lambda c: c["runs"] - c["endpoints_missed"]),
    ),
    sort=lambda c: (c["model"], c["width"], -c["level"]),
)

TABLE = (
    ("model", "model", "s"),
    ("width", "width", "d"),
    ("level", "level / E(0)", ".3g"),
    ("level_abs", "L0", ".2e"),
    ("pairs", "pairs", "d"),
    ("endpoints_missed", "not trained", "d"),
    ("connected", "connected", ".0%"),
    ("normalized_length_mean", "length / chord", ".3f"),
    ("normalized_length_max", "max", ".3f"),
    ("beads_mean", "beads", ".2f"),
    ("train_steps_mean", "bead steps", ".0f"),
)


def figures(summary: list[dict]) -> list[FigureSpec]:
    """Normalized length and beads against the level, one line per (model, width)."""
    nets = list(dict.fromkeys((c["model"], c["width"]) for c in summary))
    lengths, beads = [], []
    for i, (model, width) in enumerate(nets):
        cs = [c for c in summary if (c["model"], c["width"]) == (model, width)
              and c["normalized_length_mean"] is not None]  # fmt: skip
        if not cs:
            continue
        lv = floats(c["level"] for c in cs)
        thinnest = width == min(w for m, w in nets if m == model)
        style = {"label": f"{model} w={width}", "color": f"C{MODELS.index(model)}",
                 "marker": "os^v"[i % 4], "linestyle": "-" if thinnest else "--"}  # fmt: skip
        lengths.append(Line(lv, floats(c["normalized_length_mean"] for c in cs), **style))
        beads.append(Line(lv, floats(c["beads_mean"] for c in cs), **style))
    # the level falls to the right: lower levels are harder to connect
    axes = {"xscale": "log", "invert_x": True, "xlabel": "level L0 / E(0)  (lower to the right)",
            "title_size": 9, "grid": "both", "legend": True, "legend_size": 7}  # fmt: skip
    return [
        FigureSpec(
            "level-sets",
            (
                Panel(tuple(lengths), title="Level sets grow more curved as the loss drops",
                      ylabel="normalized geodesic length", **axes),
                Panel(tuple(beads), title="Beads needed by the string", ylabel="beads (mean)",
                      **axes),
            ),
            size=(11, 4),
        )
    ]  # fmt: skip


GRID = Grid(PARAMS, seeds=3)
RESULTS = Results(SUMMARY, TABLE, figures)
STUDY = Study(name="level-sets", doc=__doc__, grid=GRID, protocol=PROTOCOL, results=RESULTS)
