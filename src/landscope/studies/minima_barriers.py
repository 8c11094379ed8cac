"""Straight-line barriers between spurious two-layer ReLU minima and to the global one.

Freeman & Bruna (ICLR 2017) ask whether minima lie in one connected level set; Draxler
et al. (2018) and Garipov et al. (2018) find low paths between minima of large networks;
Entezari et al. (2022) argue that most of the straight-line barrier between two minima
is a permutation of hidden units. This study takes the certified spurious minima of the
ReLU teacher-student (``spurious-relu``, n = k, from the store, running the missing
cells first) and per spurious minimum W measures the loss barrier

    max_t f((1 - t) A + t B) - max(f(A), f(B))          (``points`` points on the segment)

- to the global minimum B = I (the teacher), and to the global minimum nearest in the
  neuron-permutation sense (B = P I with P from ``connect.align_rows``: the optimal
  assignment of W's neurons to the teacher's);
- to every spurious minimum of the same k with a smaller seed (A = that minimum, B = W),
  before and after aligning B's neurons to A's, recording whether the two have the same
  type (isotropy group and loss within ``same_loss_tol``). Each pair is stored once, in
  the row of its later seed, so a row depends on its own seed and the earlier ones only:
  a run resumed with more seeds (``--seeds 10``, then ``--seeds 20``) pairs the new
  minima with the stored ones and gives the table of a fresh run.

The isotropy group (``landscope.symmetry``, tolerance ``iso_tol``) names each minimum's
type; the barriers are ``landscope.connect.linear_barriers``.

Run it::

    landscope run minima-barriers                    # k = 8, 9, 10; spurious-relu's runs
    landscope show minima-barriers --format json; landscope plot minima-barriers

Run times are in benchmarks/README.md.

Measured (``landscope run minima-barriers``, k = 8, 9, 10, 100 spurious-relu runs each;
7, 22 and 32 spurious minima): the straight barrier to the teacher is 0.49, 0.59, 0.80
on average and drops to 0.021, 0.031, 0.026 once the teacher's neurons are matched to
the minimum's (lower for every minimum); between spurious minima of the same type 0.54,
0.60, 0.74 -> 0.056, 0.056, 0.059 after alignment (10-12 % of the pairs then coincide:
one minimum up to a permutation), between different types (k = 9, 10) 0.60, 0.73 ->
0.116, 0.067. Alignment never raised a barrier. Neuron permutations alone leave a
barrier between distinct minima: in this problem the input permutations (columns) are
a symmetry too, which row alignment does not use.
"""

from __future__ import annotations

import numpy as np
import torch

from ..connect import linear_barriers
from ..symmetry import isotropy_of
from . import spurious_relu
from ._checks import at_least, positive
from ._params import iso_tol
from ._study import Grid, Param, Results, Study
from .figures import Bars, FigureSpec, Panel, floats
from .protocol import Cell, Measure, Protocol
from .summary import Agg, Part, SummarySpec, param_keys

__all__ = ["PROTOCOL", "STUDY", "SUMMARY", "make_problem"]

SOURCE = spurious_relu.SQUARE_RUNS.study
# A barrier this small is rounding: the aligned segment between two copies of one
# minimum (losses ~1e-2 evaluated in float64).
ZERO_BARRIER = 1e-12

PARAMS = (
    Param("k", int, (8, 9, 10), "teacher neurons (n = d = k)", at_least("k", 3)),
    Param(
        "points", int, (65,), "loss samples on each segment, ends included", at_least("points", 2)
    ),
    iso_tol(),
    Param(
        "same_loss_tol",
        float,
        (1e-7,),
        "same type: the same isotropy group and losses within same_loss_tol",
        positive("same_loss_tol"),
    ),
)


# the problem of spurious-relu's n = k cell (its defaults otherwise) for this k
make_problem = spurious_relu.make_square_problem


def _to_global(cell: Cell) -> dict:
    """Each spurious minimum's isotropy, and its barriers to the teacher W = I."""
    prob, cfg = cell.problem64, cell.cfg
    names = [isotropy_of(prob, th, cfg["iso_tol"]).name for th in cell.theta]
    teacher = prob.teacher_point().expand(cell.R, -1)
    cell.progress(0, f"{cell.R} straight paths to the teacher")
    bars = linear_barriers(prob, cell.theta, teacher, points=cfg["points"])
    return {
        "isotropy": names,
        "barrier_global": bars.plain,
        "barrier_global_aligned": bars.aligned,
    }


def _to_earlier(cell: Cell) -> dict:
    """Barriers from each spurious minimum to every spurious minimum of a smaller seed.

    The earlier minima are spurious-relu's stored runs (``cell.required``), whether or not
    this study's rows of their seeds were computed in the same call.
    """
    prob, cfg = cell.problem64, cell.cfg
    point: dict[int, torch.Tensor] = {}
    kind: dict[int, tuple[str, float]] = {}  # the type: isotropy group and loss
    for r in cell.required[SOURCE]:
        if r["verdict"] == "spurious_min":
            s = int(r["seed"])
            point[s] = torch.as_tensor(np.asarray(r["params"], dtype=np.float64))
            kind[s] = (isotropy_of(prob, point[s], cfg["iso_tol"]).name, float(r["loss"]))

    def same(a: tuple[str, float], b: tuple[str, float]) -> bool:
        return a[0] == b[0] and abs(a[1] - b[1]) <= cfg["same_loss_tol"]

    partners = [[t for t in sorted(point) if t < s] for s in cell.seeds]
    pairs = [(t, s) for s, ts in zip(cell.seeds, partners, strict=True) for t in ts]
    cell.progress(0, f"{len(pairs)} pairs: alignment and straight paths")
    empty = torch.zeros(0, prob.n_params, dtype=torch.float64)
    A = torch.stack([point[t] for t, _ in pairs]) if pairs else empty
    B = torch.stack([point[s] for _, s in pairs]) if pairs else empty
    dev = cell.theta.device
    bars = linear_barriers(prob, A.to(dev), B.to(dev), points=cfg["points"])
    out: dict[str, list] = {name: [] for name in PAIR_COLUMNS}
    at = 0
    for s, ts in zip(cell.seeds, partners, strict=True):
        n = len(ts)
        out["partners"].append(np.asarray(ts, dtype=np.int64))
        out["same_type"].append(np.asarray([same(kind[s], kind[t]) for t in ts], dtype=bool))
        out["barrier_pair"].append(bars.plain[at : at + n])
        out["barrier_pair_aligned"].append(bars.aligned[at : at + n])
        at += n
    return out


GLOBAL_COLUMNS = {
    "isotropy": "VARCHAR",
    "barrier_global": "DOUBLE",
    "barrier_global_aligned": "DOUBLE",
}
PAIR_COLUMNS = {
    "partners": "BIGINT[]",
    "same_type": "BOOLEAN[]",
    "barrier_pair": "DOUBLE[]",
    "barrier_pair_aligned": "DOUBLE[]",
}
SPURIOUS = ("source_verdict", ("spurious_min",))

PROTOCOL = Protocol(
    make_problem=make_problem,
    steps=(
        spurious_relu.SQUARE_RUNS,
        Measure(_to_global, GLOBAL_COLUMNS, where=SPURIOUS),
        Measure(_to_earlier, PAIR_COLUMNS, where=SPURIOUS),
    ),
)


def _barrier_stats(before: str, after: str) -> tuple[Agg, ...]:
    """The aggregates of one kind of pair: barriers before and after alignment."""
    return (
        Agg("pairs", how="rows"),
        Agg("barrier_mean", before),
        Agg("barrier_max", before, "max"),
        Agg("aligned_mean", after),
        Agg("aligned_max", after, "max"),
        Agg("aligned_lower", "_lower", "fraction"),
        Agg("aligned_zero", "_zero", "fraction"),
    )


def _compared(before: str, after: str) -> tuple:
    return (
        ("_lower", lambda r: r[after] <= r[before] + ZERO_BARRIER),
        ("_zero", lambda r: r[after] <= ZERO_BARRIER),
    )


KEYS = param_keys(PARAMS, "k")  # a cell is its configuration

SUMMARY = SummarySpec(
    keys=KEYS,
    aggs=(Agg("minima", "source_verdict", "count", ("spurious_min",)),),
    group=KEYS,
    sort=lambda c: c["k"],
    parts=(
        Part(
            keys=(*KEYS, "runs", "minima"),
            where=SPURIOUS,
            columns=_compared("barrier_global", "barrier_global_aligned"),
            aggs=_barrier_stats("barrier_global", "barrier_global_aligned"),
            derived=(("pair", lambda s: "to global minimum"),),
        ),
        # each pair once: in the row of its later seed
        Part(
            keys=(*KEYS, "runs", "minima"),
            where=SPURIOUS,
            explode=tuple(PAIR_COLUMNS),
            columns=(
                ("pair", lambda r: "same type" if r["same_type"] else "different types"),
                *_compared("barrier_pair", "barrier_pair_aligned"),
            ),
            group=("pair",),
            aggs=_barrier_stats("barrier_pair", "barrier_pair_aligned"),
            sort=lambda s: s["pair"] != "same type",
        ),
    ),
)

TABLE = (
    ("k", "k", "d"),
    ("runs", "runs", "d"),
    ("minima", "spurious minima", "d"),
    ("pair", "pair", "s"),
    ("pairs", "pairs", "d"),
    ("barrier_mean", "barrier mean", ".2e"),
    ("barrier_max", "barrier max", ".2e"),
    ("aligned_mean", "aligned mean", ".2e"),
    ("aligned_max", "aligned max", ".2e"),
    ("aligned_lower", "aligned <= before", ".0%"),
    ("aligned_zero", "aligned = 0", ".0%"),
)


def figures(summary: list[dict]) -> list[FigureSpec]:
    """Mean barrier per pair kind and k, before and after neuron alignment."""
    labels = list(dict.fromkeys(c["pair"] for c in summary))
    ks = sorted({c["k"] for c in summary})
    width = 0.8 / max(1, 2 * len(labels))
    marks = []
    for j, lab in enumerate(labels):
        for a, (key, hatch) in enumerate((("barrier_mean", None), ("aligned_mean", "//"))):
            xs, ys = [], []
            for i, k in enumerate(ks):
                c = next((c for c in summary if c["k"] == k and c["pair"] == lab), None)
                if c is not None:
                    xs.append(i + (2 * j + a) * width)
                    ys.append(max(c[key], 1e-16))  # a log axis: a zero barrier at the floor
            marks.append(
                Bars(
                    floats(xs),
                    floats(ys),
                    width=width,
                    color=f"C{j}",
                    hatch=hatch,
                    edgecolor="black",
                    linewidth=0.5,
                    label=f"{lab}{', aligned' if a else ''}",
                )
            )
    ticks = tuple((i + (len(labels) - 0.5) * width, f"k = {k}") for i, k in enumerate(ks))
    panel = Panel(
        tuple(marks),
        ylabel="loss barrier on the straight segment (mean)",
        yscale="log",
        xticks=ticks,
        grid="y",
        legend=True,
        legend_size=7,
        legend_outside=True,  # the bars reach the top of the panel: inside, it covers some
    )
    return [
        FigureSpec(
            "minima-barriers",
            (panel,),
            title="Barriers from spurious minima, before and after neuron alignment",
            title_size=9,
            size=(8, 4),
        )
    ]


GRID = Grid(PARAMS, seeds=100)
RESULTS = Results(SUMMARY, TABLE, figures)
STUDY = Study(name="minima-barriers", doc=__doc__, grid=GRID, protocol=PROTOCOL, results=RESULTS)
