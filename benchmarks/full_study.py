"""Time a whole spurious-relu study, cell by cell, into a fresh store.

    python benchmarks/full_study.py                         # the default size (README)
    python benchmarks/full_study.py --extra 0 --seeds 1000  # the published n = k table

Prints each cell's wall time (read back from the store) and the total, the same way
``landscope run`` would spend it: every cell is one batched computation.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from landscope.studies import get_study
from landscope.sweep import run_study, show_study


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=None, help="runs per cell (study default)")
    ap.add_argument("--extra", type=int, nargs="*", default=None, help="n - k values")
    ap.add_argument("--k", type=int, nargs="*", default=None, help="k values")
    args = ap.parse_args()
    study = get_study("spurious-relu")
    seeds = study.default_seeds if args.seeds is None else args.seeds
    overrides = {}
    if args.extra is not None:
        overrides["extra"] = args.extra
    if args.k is not None:
        overrides["k"] = args.k
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        report = run_study(study, overrides, seeds, out, progress=False)
        total = time.perf_counter() - t
        summary = show_study(study, out)
    print(f"{'k':>3} {'n':>3} {'runs':>5} {'spurious':>9} {'wall s':>7}")
    for c in summary:
        print(
            f"{c['k']:>3} {c['n']:>3} {c['runs']:>5} {c['spurious_min']:>9.1%} {c['wall_s']:>7.1f}"
        )
    print(
        f"{report.cells_run} cells x {seeds} runs: {total:.1f} s in all "
        f"({report.rows_written / total:.1f} runs/s)"
    )


if __name__ == "__main__":
    main()
