"""Time a whole spurious-relu study, cell by cell, into a fresh store; compare variants.

    python benchmarks/full_study.py                         # the default size (README)
    python benchmarks/full_study.py --extra 0 --seeds 1000  # the published n = k table
    python benchmarks/full_study.py --variant polish_stop=gradient --variant polish_stop=global
    python benchmarks/full_study.py --variant jobs=1 --variant jobs=2    # cells in 2 processes
    python benchmarks/full_study.py --variant fused=0 --variant fused=1  # compiled GD off / on
    python benchmarks/full_study.py --variant fused=0+jobs=2 --variant fused=1+jobs=2

Prints each cell's wall time (read back from the store) and the total, the same way
``landscope run`` would spend it: every cell is one batched computation. With several
``--variant NAME=VALUE`` (parameter settings), each variant runs the same grid and seeds
(or ``jobs=N``: cells computed N at a time in worker processes; ``fused=0``: the driver's
compiled GD path turned off, ``LANDSCOPE_FUSED=0``; settings joined by ``+``) into its
own store, in
turn, ``--repeat`` times (variants alternating, so a slower or
busier stretch of the machine does not favour one), and the table puts them side by side:
per cell the wall time of each (the minimum over repeats) and, against the first
variant, the time ratio, the spurious fractions and the share of seeds with the same
verdict; then the totals (min and median over repeats) and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from landscope.studies import get_study
from landscope.sweep import ResultStore, run_study, show_study


def _parse_variant(text: str, study) -> tuple[str, dict, int, str]:
    """``NAME=VALUE[+NAME=VALUE...]`` -> (label, parameter overrides, jobs, fused), NAME a
    parameter, ``jobs`` or ``fused``."""
    params = {p.name: p for p in study.params}
    overrides, jobs, fused = {}, 1, "1"
    for part in text.split("+"):
        name, _, value = part.partition("=")
        if name == "jobs" and value.isdigit():
            jobs = int(value)
        elif name == "fused" and value in ("0", "1"):
            fused = value
        elif name in params and value:
            overrides[name] = [params[name].kind(value)]
        else:
            raise SystemExit(
                "--variant takes NAME=VALUE (joined by +) with NAME a parameter, jobs or "
                f"fused; got {text!r}."
            )
    return text, overrides, jobs, fused


def _run(study, overrides: dict, seeds: int, jobs: int, fused: str = "1"):
    before = os.environ.get("LANDSCOPE_FUSED")
    os.environ["LANDSCOPE_FUSED"] = fused  # read by the driver, inherited by the workers
    try:
        with tempfile.TemporaryDirectory() as out:
            t = time.perf_counter()
            run_study(study, overrides, seeds, out, progress=False, jobs=jobs)
            total = time.perf_counter() - t
            summary = show_study(study, out)
            with ResultStore(out, read_only=True) as store:
                rows = store.rows(study.table_name)
    finally:
        if before is None:
            del os.environ["LANDSCOPE_FUSED"]
        else:
            os.environ["LANDSCOPE_FUSED"] = before
    verdicts = {(r["k"], r["extra"], r["seed"]): r["verdict"] for r in rows}
    return total, summary, verdicts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=None, help="runs per cell (study default)")
    ap.add_argument("--extra", type=int, nargs="*", default=None, help="n - k values")
    ap.add_argument("--k", type=int, nargs="*", default=None, help="k values")
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME=VALUE: one parameter setting to time (repeatable)")  # fmt: skip
    ap.add_argument("--repeat", type=int, default=1, help="runs of each variant")
    args = ap.parse_args()
    study = get_study("spurious-relu")
    seeds = study.default_seeds if args.seeds is None else args.seeds
    base = {}
    if args.extra is not None:
        base["extra"] = args.extra
    if args.k is not None:
        base["k"] = args.k
    variants = [_parse_variant(v, study) for v in args.variant] or [("default", {}, 1, "1")]
    totals: dict[str, list[float]] = {name: [] for name, *_ in variants}
    cells: dict[str, dict] = {}
    verdicts: dict[str, dict] = {}
    for _ in range(args.repeat):
        for name, setting, jobs, fused in variants:
            total, summary, verd = _run(study, {**base, **setting}, seeds, jobs, fused)
            totals[name].append(total)
            verdicts[name] = verd
            for c in summary:
                key = (c["k"], c["n"])
                best = cells.setdefault(name, {}).get(key)
                if best is None or c["wall_s"] < best["wall_s"]:
                    cells[name][key] = c
            print(f"  {name}: {total:.1f} s", flush=True)
    ref = variants[0][0]
    head = f"{'k':>3} {'n':>3} {'runs':>5}"
    for name, *_ in variants:
        head += f" | {name[:18]:>18} {'spur':>6}"
        if name != ref:
            head += f" {'ratio':>6} {'same':>6}"
    print(head)
    for key in sorted(cells[ref]):
        line = f"{key[0]:>3} {key[1]:>3} {cells[ref][key]['runs']:>5}"
        t0 = cells[ref][key]["wall_s"]
        for name, *_ in variants:
            c = cells[name][key]
            line += f" | {c['wall_s']:>16.1f} s {c['spurious_min']:>6.1%}"
            if name != ref:
                same = [verdicts[name][s] == v for s, v in verdicts[ref].items()
                        if (s[0], s[0] + s[1]) == key]  # fmt: skip
                ratio = t0 / c["wall_s"] if c["wall_s"] > 0 else float("inf")
                line += f" {ratio:>5.1f}x {sum(same) / len(same):>6.1%}"
        print(line)
    for name, *_ in variants:
        t = totals[name]
        print(f"{name}: {len(cells[name])} cells x {seeds} runs: min {min(t):.1f} s, "
              f"median {statistics.median(t):.1f} s over {len(t)}")  # fmt: skip
    for name, *_ in variants[1:]:
        same = sum(verdicts[name][s] == v for s, v in verdicts[ref].items())
        print(f"{name} vs {ref}: {min(totals[ref]) / min(totals[name]):.2f}x faster (min), "
              f"same verdict on {same}/{len(verdicts[ref])} seeds")  # fmt: skip


if __name__ == "__main__":
    main()
