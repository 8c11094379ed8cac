"""Barriers between the spurious minima of two-layer ReLU networks and the global one.

Freeman & Bruna (ICLR 2017) ask whether minima lie in one connected level set; Draxler
et al. (2018) and Garipov et al. (2018) find low paths between minima of large networks;
Entezari et al. (2022) argue that most of the straight-line barrier between two minima
is a permutation of hidden units. This study takes the certified spurious minima of the
ReLU teacher-student (``spurious-relu``, n = k, from the store, running the missing
cells first) and per spurious minimum W measures the loss barrier

    max_t f((1 - t) A + t B) - max(f(A), f(B))          (65 points on the segment)

- to the global minimum B = I (the teacher), and to the global minimum nearest in the
  neuron-permutation sense (B = P I with P from ``connect.align_rows``: the optimal
  assignment of W's neurons to the teacher's);
- to every other spurious minimum of the same k, before and after aligning B's neurons
  to A's, recording whether the two have the same type (isotropy group and loss).

The isotropy group (``landscope.symmetry``, tolerance 1e-6) names each minimum's type.

Measured (``landscope run minima-barriers``, k = 8, 9, 10, 100 spurious-relu runs each;
7, 22 and 32 spurious minima; 13 s on 2 idle cores, spurious-relu's runs included): the
straight barrier to the teacher is 0.49, 0.59, 0.80 on average and drops to 0.021, 0.031, 0.026
once the teacher's neurons are matched to the minimum's (lower for every minimum);
between spurious minima of the same type 0.54, 0.60, 0.74 -> 0.056, 0.056, 0.059 after
alignment (10-12 % of the pairs then coincide: one minimum up to a permutation), between
different types (k = 9, 10) 0.60, 0.73 -> 0.116, 0.067. Alignment never raised a barrier.
Neuron permutations alone leave a barrier between distinct minima: in this problem the
input permutations (columns) are a symmetry too, which row alignment does not use.

Run it::

    landscope run minima-barriers                    # k = 8, 9, 10; spurious-relu's runs
    landscope show minima-barriers --format json; landscope plot minima-barriers
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import torch

from ..connect.align import align_rows
from ..connect.interpolate import linear_paths
from ..symmetry import isotropy
from ._checks import at_least
from ._study import Param, RunContext, Study
from .figures import Bars, FigureSpec, Panel, floats

__all__ = ["STUDY", "run_cell", "summarize"]

POINTS = 65
ISO_TOL = 1e-6
SAME_LOSS = 1e-7

PARAMS = (Param("k", int, (8, 9, 10), "teacher neurons (n = d = k)", at_least("k", 3)),)

COLUMNS = {
    "source_verdict": "VARCHAR",
    "loss": "DOUBLE",
    "isotropy": "VARCHAR",
    "barrier_global": "DOUBLE",
    "barrier_global_aligned": "DOUBLE",
    "partners": "BIGINT[]",
    "same_type": "BOOLEAN[]",
    "barrier_pair": "DOUBLE[]",
    "barrier_pair_aligned": "DOUBLE[]",
}


def run_cell(cfg: dict, seeds: Sequence[int], ctx: RunContext) -> list[dict]:
    """Barriers from every spurious minimum of this k to the global one and to each other."""
    from .spurious_relu import make_problem

    if ctx.require is None:
        raise ValueError("minima-barriers reads spurious-relu results: run it through the sweep.")
    k = cfg["k"]
    ctx.progress(0, len(seeds), "spurious-relu runs")
    source = ctx.require("spurious-relu", {"k": [k], "extra": [0]}, max(seeds) + 1)
    by_seed = {int(r["seed"]): r for r in source}
    src_cfg = {p: source[0][p] for p in ("extra", "k", "d", "train_a")}
    prob = make_problem(src_cfg)
    spurious = [s for s in seeds if by_seed[s]["verdict"] == "spurious_min"]
    theta = {s: torch.as_tensor(np.asarray(by_seed[s]["params"]), dtype=torch.float64)
             for s in spurious}  # fmt: skip
    kinds = {}
    for s in spurious:
        W = prob.split(theta[s][None])[0][0]
        kinds[s] = (isotropy(W.numpy(), "SnxSd", ISO_TOL).name, float(by_seed[s]["loss"]))
    glob = prob.teacher_point()[0]  # W = I (n = k)

    # every segment of the cell in one batched profile: to the teacher (plain and with the
    # teacher's neurons matched to the minimum's) and between each pair (plain, aligned)
    pairs = list(combinations(spurious, 2))
    ctx.progress(0, 1, f"{len(pairs)} pairs: alignment")
    A = [theta[s] for s in spurious] * 2 + [theta[a] for a, _ in pairs] * 2
    B = [glob] * len(spurious) + [align_rows(prob, theta[s], glob) for s in spurious]
    B += [theta[b] for _, b in pairs] + [align_rows(prob, theta[a], theta[b]) for a, b in pairs]
    ctx.progress(0, 1, f"{len(A)} straight paths")
    bars = []
    if A:
        paths = linear_paths(prob, torch.stack(A), torch.stack(B), points=POINTS)
        bars = [p.barrier for p in paths]
    S, Q = len(spurious), len(pairs)
    to_glob = {s: (bars[i], bars[S + i]) for i, s in enumerate(spurious)}
    pair = {pq: (bars[2 * S + j], bars[2 * S + Q + j]) for j, pq in enumerate(pairs)}
    rows = []
    for s in seeds:
        src = by_seed[s]
        row = dict.fromkeys(COLUMNS) | {
            "seed": int(s),
            "source_verdict": src["verdict"],
            "loss": float(src["loss"]) if src["loss"] is not None else None,
        }
        if s in theta:
            others = [t for t in spurious if t != s]
            pb = [pair[(min(s, t), max(s, t))] for t in others]
            # the pair table holds (A, B) with A the smaller seed; barriers are symmetric
            # in A and B, alignment permutes B onto A
            row |= {
                "isotropy": kinds[s][0],
                "barrier_global": to_glob[s][0],
                "barrier_global_aligned": to_glob[s][1],
                "partners": np.asarray(others, dtype=np.int64),
                "same_type": np.asarray([_same(kinds[s], kinds[t]) for t in others], dtype=bool),
                "barrier_pair": np.asarray([p[0] for p in pb], dtype=np.float64),
                "barrier_pair_aligned": np.asarray([p[1] for p in pb], dtype=np.float64),
            }
        rows.append(row)
    return rows


def _same(a: tuple[str, float], b: tuple[str, float]) -> bool:
    return a[0] == b[0] and abs(a[1] - b[1]) <= SAME_LOSS


def summarize(rows: list[dict]) -> list[dict]:
    """Per k: to the global minimum, and between pairs of the same / of different types."""
    out = []
    for k in sorted({int(r["k"]) for r in rows}):
        rk = [r for r in rows if int(r["k"]) == k and r["isotropy"] is not None]
        base = {"k": k, "runs": sum(int(r["k"]) == k for r in rows), "minima": len(rk)}
        if rk:
            bg = np.array([r["barrier_global"] for r in rk])
            ba = np.array([r["barrier_global_aligned"] for r in rk])
            out.append(base | _stats("to global minimum", bg, ba))
        pairs: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        for r in rk:
            for t, same, b0, b1 in zip(r["partners"], r["same_type"], r["barrier_pair"],
                                       r["barrier_pair_aligned"], strict=True):  # fmt: skip
                if int(t) > int(r["seed"]):  # each unordered pair once
                    pairs[bool(same)].append((b0, b1))
        for same, label in ((True, "same type"), (False, "different types")):
            if pairs[same]:
                b0, b1 = (np.array(v) for v in zip(*pairs[same], strict=True))
                out.append(base | _stats(label, b0, b1))
    return out


def _stats(label: str, before: np.ndarray, after: np.ndarray) -> dict:
    return {
        "pair": label,
        "pairs": int(before.size),
        "barrier_mean": float(before.mean()),
        "barrier_max": float(before.max()),
        "aligned_mean": float(after.mean()),
        "aligned_max": float(after.max()),
        "aligned_lower": float(np.mean(after <= before + 1e-12)),
        "aligned_zero": float(np.mean(after <= 1e-12)),
    }


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
            marks.append(Bars(floats(xs), floats(ys), width=width, color=f"C{j}", hatch=hatch,
                              edgecolor="black", linewidth=0.5,
                              label=f"{lab}{', aligned' if a else ''}"))  # fmt: skip
    ticks = tuple((i + (len(labels) - 0.5) * width, f"k = {k}") for i, k in enumerate(ks))
    panel = Panel(tuple(marks), ylabel="loss barrier on the straight segment (mean)",
                  yscale="log", xticks=ticks, grid="y", legend=True, legend_size=7)  # fmt: skip
    return [
        FigureSpec(
            "minima-barriers",
            (panel,),
            title="Barriers from spurious minima, before and after neuron alignment",
            title_size=9,
            size=(8, 4),
            dpi=120,
        )
    ]


STUDY = Study(
    name="minima-barriers",
    summary="Straight-line barriers between spurious ReLU minima and to the global one.",
    params=PARAMS,
    default_seeds=100,
    columns=COLUMNS,
    run_cell=run_cell,
    summarize=summarize,
    table=TABLE,
    figures=figures,
)
