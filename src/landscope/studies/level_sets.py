"""Geometry of level sets by dynamic string sampling (Freeman & Bruna, ICLR 2017).

Level sets Omega_u = {theta : E(theta) <= u}. Freeman & Bruna measure them by Dynamic
String Sampling: train two random inits into the level set, then connect them by a
polygon of beads, each re-trained into the set, until the loss along every segment stays
at or below the level (``landscope.connect.dynamic_string``). The normalized geodesic
length |gamma| / ||theta_A - theta_B|| (1 for a straight path) and the number of beads
grow as the level L0 drops: low level sets are more curved. Wider networks have shorter,
more easily connected paths.

Models (``net`` = ``model:width``):

- ``poly2:w``, ``poly3:w``: 1-w-w-1 sigmoid MLP regressing y = x^2 (``poly2``) or y = x^3
  (``poly3``) at 20 points of [0, 1] (the paper's polynomial regression), mean squared
  error (``ModuleLoss``), trained with Adam (lr 0.01);
- ``relu:n``: the ReLU teacher-student with k = 4 teacher neurons and n student neurons
  (n = k, k + 2, 2k), population loss in closed form, GD with per-row Armijo steps;
- ``cnn:c``: a small CNN on scikit-learn's digits (the first 200 images, pixels / 16):
  conv 3x3 with c channels, ReLU, a linear layer to 10 classes, cross-entropy; Adam
  (lr 0.01).

``level`` is relative: L0 = level x E(0), E(0) the loss of the all-zero parameters
(mean(y^2)/2 for the regressions, the teacher's E f*^2 / 2, log 10 for the CNN), so one
grid fits every model. Per seed (one pair): two inits from the seed's generator
(``problem.init``), both trained to alpha L0 (alpha = 0.5) as one batch with the cell's
other pairs, then the string at L0 (``dynamic_strings``: the beads of all pairs train
together; depth cap 6, at most 32 beads; "not connected found" past them, never a proof
of disconnection). A pair whose endpoints do not reach
alpha L0 is recorded with status ``endpoint_not_reached``.

Measured (``landscope run level-sets``: 27 cells x 3 pairs, 46 s on 2 idle cores). Beads
grow as L0 drops for every net (poly2:4 2.3, 3.0, 4.7; poly3:4 2.0, 3.7, 6.0; cnn:2 0.7,
1.3, 2.3; relu:6 0.3, 0.7, 2.7 at L0 / E(0) = 0.1, 0.03, 0.01). The normalized length
grows as L0 drops for the CNN (c = 2: 1.076, 1.100, 1.121) and the ReLU students
(n = 6: 1.031, 1.118, 1.274; n = 8: 1.000, 1.067, 1.132) but stays flat at 1.13-1.20 for
the sigmoid MLPs over this range (and down to 0.001 E(0)). Wider is shorter at every
level (poly2 w = 16 vs 4: 1.14-1.16 vs 1.18-1.20; poly3 1.13-1.14 vs 1.18-1.20; cnn
c = 8 vs 2; relu n = 8 < 6 < 4) and more easily connected: the ReLU student with
n = k = 4 connects 3, 2 and 0 of 3 pairs, with n = 6 and 8 all of them.

Run it::

    landscope run level-sets                          # 9 nets x 3 levels x 3 pairs
    landscope run level-sets --set net=poly2:4,poly2:32 --set level=0.1,0.03,0.01,0.003
    landscope show level-sets --format json; landscope plot level-sets
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ..connect.path import PATH_COLUMNS
from ..connect.string import dynamic_strings, train_to_level
from ..problems import ModuleLoss, ReluTeacherStudent, init_from_seeds
from ._checks import positive
from ._study import Param, RunContext, Study
from .figures import FigureSpec, Line, Panel, floats

__all__ = ["STUDY", "make_problem", "parse_net", "run_cell", "summarize"]

ALPHA = 0.5
MAX_DEPTH = 6
MAX_BEADS = 32
MODELS = ("poly2", "poly3", "relu", "cnn")
TEACHER_K = 4


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


def _check_level(v: float) -> None:
    positive("level")(v)
    if v >= 1:
        raise ValueError(f"level is a fraction of the loss at zero, in (0, 1); got {v!r}.")


def make_problem(cfg: dict):
    """The cell's problem (float64, CPU)."""
    model, width = parse_net(cfg["net"])
    if model == "relu":
        return ReluTeacherStudent(k=TEACHER_K, n=width, d=TEACHER_K)
    if model in ("poly2", "poly3"):
        x = torch.linspace(0, 1, 20, dtype=torch.float64)[:, None]
        y = x**2 if model == "poly2" else x**3
        net = torch.nn.Sequential(torch.nn.Linear(1, width), torch.nn.Sigmoid(),
                                  torch.nn.Linear(width, width), torch.nn.Sigmoid(),
                                  torch.nn.Linear(width, 1))  # fmt: skip
        return ModuleLoss(net, x, y)
    from ..kernels import digits

    X = digits(200, normalize=False) / 16.0
    from sklearn.datasets import load_digits

    labels = torch.as_tensor(load_digits().target[:200], dtype=torch.int64)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, width, 3), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(width * 36, 10))  # fmt: skip
    return ModuleLoss(net, X.reshape(-1, 1, 8, 8), labels, criterion="cross_entropy")


def _training(model: str) -> dict:
    if model == "relu":
        return {"optimizer": "armijo", "lr": None, "max_steps": 20_000}
    return {"optimizer": "adam", "lr": 0.01, "max_steps": 5000}


PARAMS = (
    Param("net", str, ("poly2:4", "poly2:16", "poly3:4", "poly3:16", "relu:4", "relu:6",
                       "relu:8", "cnn:2", "cnn:8"), "model:width", _check_net),
    Param("level", float, (0.1, 0.03, 0.01), "L0 as a fraction of the loss at zero",
          _check_level),
)  # fmt: skip

# the Path's own "level" is level_abs here ("level" is the relative grid parameter)
COLUMNS = {
    **{k: v for k, v in PATH_COLUMNS.items() if k != "level"},
    "model": "VARCHAR",
    "width": "BIGINT",
    "level_abs": "DOUBLE",
    "endpoint_loss_a": "DOUBLE",
    "endpoint_loss_b": "DOUBLE",
    "depth": "BIGINT",
    "train_steps": "BIGINT",
    "stop": "VARCHAR",
}


def run_cell(cfg: dict, seeds: Sequence[int], ctx: RunContext) -> list[dict]:
    """Train every pair's two endpoints as one batch, then the strings of all pairs
    together (each round's beads, of every pair, as one batch)."""
    model, width = parse_net(cfg["net"])
    prob = make_problem(cfg)
    E0 = float(prob.loss(torch.zeros(1, prob.n_params, dtype=torch.float64))[0])
    L0 = cfg["level"] * E0
    train = _training(model)
    # endpoints: pair s uses seeds 2s and 2s + 1 of the problem's init
    starts = init_from_seeds(prob, [2 * int(s) + j for s in seeds for j in (0, 1)])
    ctx.progress(0, len(seeds), "training endpoints")
    ends = train_to_level(prob, starts, ALPHA * L0, **train)
    ok = [bool(ends.reached[2 * i]) and bool(ends.reached[2 * i + 1]) for i in range(len(seeds))]
    good = [i for i in range(len(seeds)) if ok[i]]
    ctx.progress(0, 1, f"strings of {len(good)} pairs, beads of all pairs in one batch")
    results = {}
    if good:
        A = ends.theta[[2 * i for i in good]]
        B = ends.theta[[2 * i + 1 for i in good]]
        res = dynamic_strings(prob, A, B, L0, alpha=ALPHA, max_depth=MAX_DEPTH,
                              max_beads=MAX_BEADS, **train)  # fmt: skip
        results = dict(zip(good, res, strict=True))
    rows = []
    for i, s in enumerate(seeds):
        base = {"seed": int(s), "model": model, "width": width, "level_abs": L0,
                "endpoint_loss_a": float(ends.loss[2 * i]),
                "endpoint_loss_b": float(ends.loss[2 * i + 1])}  # fmt: skip
        if i not in results:
            rows.append(dict.fromkeys(COLUMNS) | base | {"stop": "endpoint_not_reached",
                                                         "connected": False})  # fmt: skip
            continue
        r = results[i]
        rows.append(
            base
            | {k: v for k, v in r.path.as_row().items() if k != "level"}
            | {"depth": int(r.depth), "train_steps": int(r.train_steps), "stop": r.stop}
        )
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    """One dict per (model, width, level): connected fraction, length and beads."""
    cells: dict[tuple, list[dict]] = {}
    for r in rows:
        cells.setdefault((r["net"], float(r["level"])), []).append(r)
    out = []
    for (net, level), rs in sorted(cells.items(), key=lambda t: (parse_net(t[0][0]), -t[0][1])):
        model, width = parse_net(net)
        tried = [r for r in rs if r["stop"] != "endpoint_not_reached"]
        conn = [r for r in tried if r["connected"]]
        out.append(
            {
                "model": model,
                "width": width,
                "level": level,
                "level_abs": float(rs[0]["level_abs"]),
                "pairs": len(tried),
                "endpoints_missed": len(rs) - len(tried),
                "connected": len(conn) / len(tried) if tried else None,
                "normalized_length_mean": _mean([r["normalized_length"] for r in conn]),
                "normalized_length_max": max(
                    (r["normalized_length"] for r in conn), default=None
                ),  # fmt: skip
                "beads_mean": _mean([r["n_beads"] for r in conn]),
                "train_steps_mean": _mean([r["train_steps"] for r in tried]),
            }
        )
    return out


def _mean(values: list) -> float | None:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.mean(vals)) if vals else None


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
            dpi=120,
        )
    ]  # fmt: skip


STUDY = Study(
    name="level-sets",
    summary="Normalized geodesic length of level sets by string sampling (Freeman & Bruna).",
    params=PARAMS,
    default_seeds=3,
    columns=COLUMNS,
    run_cell=run_cell,
    summarize=summarize,
    table=TABLE,
    figures=figures,
    make_problem=make_problem,
)
