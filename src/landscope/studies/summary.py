"""A study's summary, declared: which stored rows form a cell, what is carried, what is
aggregated, and how cells are ordered.

``SummarySpec(keys=..., aggs=(Agg(...), ...), sort=...)`` is called on the stored rows
(dicts) and returns one dict per cell. Every summary row also gets ``runs`` (rows in the
cell) and ``wall_s`` (the cell's wall time).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Agg", "SummarySpec", "by_cell", "mean_finite"]

HOWS = ("mean", "median", "fraction", "share", "sum", "min", "max", "first", "count", "se")


def mean_finite(values: Sequence[float | None]) -> float | None:
    """Mean of the finite values; None when there are none."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def _finite(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def by_cell(rows: list[dict]) -> list[list[dict]]:
    """Stored rows grouped by ``config_hash`` (one list per cell, first-seen order)."""
    cells: dict[str, list[dict]] = {}
    for row in rows:
        cells.setdefault(row["config_hash"], []).append(row)
    return list(cells.values())


@dataclass(frozen=True)
class Agg:
    """One aggregated summary value.

    Attributes:
        key: the summary key.
        column: the stored column it reads (default: ``key``).
        how: ``mean`` / ``median`` / ``min`` / ``max`` / ``sum`` of the finite values
            (None when there are none); ``fraction``: the share of rows whose value is
            true; ``share``: the share of rows whose value is in ``values``; ``se``: the
            binomial standard error sqrt(p (1 - p) / runs) of that share; ``first``: the
            first row's value; ``count``: rows whose value is in ``values``.
        values: the values ``share``, ``se`` and ``count`` look for.
        where: only rows whose column ``where[0]`` is in ``where[1]`` are aggregated.
    """

    key: str
    column: str | None = None
    how: str = "mean"
    values: tuple = ()
    where: tuple[str, tuple] | None = None

    def __post_init__(self) -> None:
        if self.how not in HOWS:
            raise ValueError(f"unknown aggregation {self.how!r}; use one of {', '.join(HOWS)}.")

    def __call__(self, rows: list[dict]) -> Any:
        col = self.column or self.key
        if self.where is not None:
            wcol, wvals = self.where
            rows = [r for r in rows if r[wcol] in wvals]
        vals = [r[col] for r in rows]
        if self.how == "first":
            return vals[0] if vals else None
        if self.how in ("share", "se", "count"):
            hits = sum(v in self.values for v in vals)
            if self.how == "count":
                return hits
            p = hits / len(vals) if vals else math.nan
            return p if self.how == "share" else math.sqrt(p * (1 - p) / len(vals))
        if self.how == "fraction":
            return sum(bool(v) for v in vals) / len(vals) if vals else None
        fin = _finite(vals)
        if not fin:
            return None
        fn: Callable[[list[float]], float] = {
            "mean": np.mean,
            "median": np.median,
            "min": min,
            "max": max,
            "sum": sum,
        }[self.how]
        return float(fn(fin))


@dataclass(frozen=True)
class SummarySpec:
    """Stored rows -> one dict per cell.

    Attributes:
        keys: columns copied from the cell's first row (the configuration, mostly).
        aggs: aggregated values, in order.
        derived: ``(key, fn(summary_row))`` computed after the aggregates, in order.
        sort: the sort key of a summary row (None keeps first-seen order).
        group: columns that define a cell (default: the stored ``config_hash``).
    """

    keys: tuple[str, ...]
    aggs: tuple[Agg, ...] = ()
    derived: tuple[tuple[str, Callable[[dict], Any]], ...] = ()
    sort: Callable[[dict], Any] | None = None
    group: tuple[str, ...] | None = None

    def cells(self, rows: list[dict]) -> list[list[dict]]:
        if self.group is None:
            return by_cell(rows)
        cells: dict[tuple, list[dict]] = {}
        for r in rows:
            cells.setdefault(tuple(r[k] for k in self.group), []).append(r)
        return list(cells.values())

    def __call__(self, rows: list[dict]) -> list[dict]:
        out = []
        for cell in self.cells(rows):
            first = cell[0]
            s: dict[str, Any] = {k: first[k] for k in self.keys}
            s["runs"] = len(cell)
            for agg in self.aggs:
                s[agg.key] = agg(cell)
            s["wall_s"] = first.get("cell_wall_s")
            for key, fn in self.derived:
                s[key] = fn(s)
            out.append(s)
        if self.sort is not None:
            out.sort(key=self.sort)
        return out
