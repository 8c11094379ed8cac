"""A tiny study for testing the sweep, the store and the CLI without training anything.

Run as a script it is the ``landscope`` command with the toy study as its only study, so
tests can start (and ``kill -9``) a real ``landscope run`` process:

    python tests/sweep/toy_study.py run toy --seeds 4 --out DIR

Environment (script only): ``TOY_SLEEP`` seconds slept per cell, ``TOY_WIDTH`` length of
the ``params`` array, ``TOY_MARKER`` a file to which ``start LABEL`` / ``end LABEL`` lines
are appended when a cell starts computing and just before it returns its rows.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

from landscope.studies import FigureSpec, Grid, Param, Results, RunContext, Study
from landscope.studies.figures import line_chart


def _positive(value: int) -> None:
    if value < 1:
        raise ValueError(f"a must be at least 1; got {value}.")


def _validate(cfg: dict) -> None:
    if cfg["a"] > 50 and cfg["b"] == "y":
        raise ValueError(f"a={cfg['a']} is not allowed with b='y'; use a <= 50.")


def expected_value(cfg: dict, seed: int) -> float:
    """What the toy study stores as ``value`` for one run: checkable from outside."""
    return cfg["a"] * 1000.0 + cfg["c"] + seed


def make_toy_study(sleep: float = 0.0, width: int = 3, marker: str | None = None) -> Study:
    """The toy study: ``value`` and ``params`` are closed-form functions of (config, seed).

    Args:
        sleep: seconds slept per cell (to be killed mid-run).
        width: length of the ``params`` array column.
        marker: file to which cell start / end lines are appended.
    """

    def note(text: str) -> None:
        if marker:
            with open(marker, "a") as f:
                f.write(text + "\n")

    def run_cell(cfg: dict, seeds: Sequence[int], ctx: RunContext) -> list[dict]:
        label = f"a={cfg['a']} b={cfg['b']} c={cfg['c']}"
        note(f"start {label}")
        time.sleep(sleep)
        rows = []
        for i, s in enumerate(seeds):
            v = expected_value(cfg, s)
            rows.append(
                {
                    "seed": s,
                    "value": v,
                    "parity": "even" if s % 2 == 0 else "odd",
                    "params": [v] * width,
                }
            )
            ctx.progress(i + 1, len(seeds), f"seed {s}")
        note(f"end {label}")
        return rows

    def summarize(rows: list[dict]) -> list[dict]:
        cells: dict[tuple, list[dict]] = {}
        for r in rows:
            cells.setdefault((r["a"], r["b"], r["c"]), []).append(r)
        out = []
        for (a, b, c), rs in sorted(cells.items()):
            out.append(
                {
                    "a": a,
                    "b": b,
                    "c": c,
                    "runs": len(rs),
                    "value_mean": sum(r["value"] for r in rs) / len(rs),
                    "even": sum(r["parity"] == "even" for r in rs) / len(rs),
                    "missing": None,
                }
            )
        return out

    def figures(summary: list[dict]) -> list[FigureSpec]:
        return [
            line_chart(
                summary,
                "a",
                "even",
                "b",
                "toy-even",
                xlabel="a",
                ylabel="even seeds",
                title="toy",
                group_label="b",
            )
        ]

    return Study(
        name="toy",
        doc="A closed-form study for tests.",
        grid=Grid(
            (
                Param("a", int, (1, 2, 3), "an integer", check=_positive),
                Param("b", str, ("x", "y"), "a label"),
                Param("c", float, (0.5,), "a float"),
            ),
            seeds=3,
            validate=_validate,
        ),
        results=Results(
            summarize,
            table=(
                ("a", "a", "d"),
                ("b", "b", "s"),
                ("runs", "runs", "d"),
                ("value_mean", "mean value", ".2f"),
                ("even", "% even", ".0%"),
                ("missing", "missing", ".2f"),
            ),
            figures=figures,
        ),
        columns={"value": "DOUBLE", "parity": "VARCHAR", "params": "DOUBLE[]"},
        run_cell=run_cell,
    )


if __name__ == "__main__":
    from landscope.cli import main

    toy = make_toy_study(
        sleep=float(os.environ.get("TOY_SLEEP", "0")),
        width=int(os.environ.get("TOY_WIDTH", "3")),
        marker=os.environ.get("TOY_MARKER"),
    )
    sys.exit(main(sys.argv[1:], registry={toy.name: toy}))
