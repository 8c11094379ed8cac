"""Dynamic string sampling for many pairs: one ``dynamic_strings`` call vs a loop of pairs.

    python benchmarks/string_pairs.py                      # poly2:4, 12 pairs, L0 = 0.01 E(0)
    python benchmarks/string_pairs.py --net relu:6 --pairs 24 --level 0.01

The level-sets study's setting: the endpoints of every pair are trained to alpha L0 as one
batch (not timed), then the strings. Batched: ``dynamic_strings`` trains each round's
beads of all pairs as one batch of runs. Baseline: ``dynamic_string`` on one pair at a
time, as a per-pair script does (its beads of one depth are still one batch). Same
endpoints and optimizer; the script checks that every pair gets the same beads.
"""

from __future__ import annotations

import argparse
import time

import torch

from landscope.connect import dynamic_string, dynamic_strings, train_to_level
from landscope.problems import init_from_seeds
from landscope.studies.level_sets import (
    STUDY,
    loss_at_zero,
    make_problem,
    string_options,
    training,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--net", default="poly2:4", help="a level-sets net, model:width")
    ap.add_argument("--pairs", type=int, default=12)
    ap.add_argument("--level", type=float, default=0.01, help="L0 / E(0)")
    args = ap.parse_args()
    (cfg,) = STUDY.cells({"net": [args.net], "level": [args.level]})  # the study's defaults
    prob = make_problem(cfg)
    L0 = args.level * loss_at_zero(prob)
    starts = init_from_seeds(prob, range(2 * args.pairs))
    ends = train_to_level(prob, starts, cfg["alpha"] * L0, **training(cfg))
    ok = [
        i for i in range(args.pairs) if bool(ends.reached[2 * i]) and bool(ends.reached[2 * i + 1])
    ]
    A, B = ends.theta[[2 * i for i in ok]], ends.theta[[2 * i + 1 for i in ok]]
    opts = string_options(cfg)
    print(f"{args.net}, L0 = {args.level:g} E(0) = {L0:.3e}, {len(ok)} pairs, P = {prob.n_params}, "
          f"float64, {torch.get_num_threads()} threads")  # fmt: skip
    t0 = time.perf_counter()
    many = dynamic_strings(prob, A, B, L0, **opts)
    t_b = time.perf_counter() - t0
    t0 = time.perf_counter()
    loop = [dynamic_string(prob, A[i], B[i], L0, **opts) for i in range(len(ok))]
    t_l = time.perf_counter() - t0
    same = all(
        m.stop == one.stop
        and m.path.beads.shape == one.path.beads.shape
        and float((m.path.beads - one.path.beads).abs().max()) <= 1e-9
        for m, one in zip(many, loop, strict=True)
    )
    beads = sum(m.path.n_beads for m in many)
    conn = sum(m.path.connected for m in many)
    print(f"  batched {t_b:7.2f} s   loop {t_l:7.2f} s   ratio {t_l / t_b:5.2f}x   "
          f"({beads} beads, {conn}/{len(ok)} connected; same beads: {same})")  # fmt: skip


if __name__ == "__main__":
    main()
