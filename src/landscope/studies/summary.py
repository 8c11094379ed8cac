"""A study's summary, declared: which stored rows form a cell, what is carried, what is
aggregated, and how cells are ordered.

``SummarySpec(keys=..., aggs=(Agg(...), ...), sort=...)`` is called on the stored rows
(dicts) and returns one dict per cell. Every summary row also gets ``runs`` (rows in the
cell) and ``wall_s`` (the cell's wall time). Every fraction (``how="fraction"`` or
``"share"``) also gets its 95 % Wilson score interval as ``<key>_lo`` and ``<key>_hi``
(``wilson``).

A summary that is not one row per cell (a header row per cell, then one row per type of
minimum found in it; one row per kind of pair) declares ``parts``: each ``Part`` selects,
explodes and groups the cell's rows and gives zero or more summary rows of its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Agg",
    "Part",
    "SummarySpec",
    "Z95",
    "by_cell",
    "mean_finite",
    "param_keys",
    "percent_range",
    "wilson",
]

# the two-sided 95 % quantile of the standard normal, Phi^-1(0.975)
Z95 = 1.959963984540054

HOWS = (
    "mean",
    "median",
    "fraction",
    "share",
    "sum",
    "min",
    "max",
    "first",
    "count",
    "se",
    "rows",
    "curve_gmean",
)


def mean_finite(values: Sequence[float | None]) -> float | None:
    """Mean of the finite values; None when there are none."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float | None, float | None]:
    """The Wilson score interval of a binomial proportion (95 % at the default ``z``).

    With p = successes / n, the interval is the set of proportions q that the score test
    does not reject, |p - q| <= z sqrt(q (1 - q) / n) (Wilson 1927):

        (p + z^2 / (2n) -+ z sqrt(p (1 - p) / n + z^2 / (4 n^2))) / (1 + z^2 / n),

    whose lower end is exactly 0 at 0 successes and upper end exactly 1 at n. Unlike the
    normal interval p -+ z sqrt(p (1 - p) / n) it does not collapse to a point at 0 or n
    successes: 0 of 20 gives 0 .. 16.1 %, and 7 of 100 gives 3.4 .. 13.8 %.

    Args:
        successes: the number of successes, 0 <= successes <= n.
        n: the number of trials.
        z: the normal quantile of the two-sided level (1.96 for 95 %).

    Returns:
        (lower, upper); (None, None) when n = 0 (no trials: no estimate).

    Raises:
        ValueError: if the counts are not integers with 0 <= successes <= n, or z <= 0.
    """
    for name, v in (("successes", successes), ("n", n)):
        if isinstance(v, bool) or not float(v).is_integer():
            raise ValueError(f"wilson takes whole counts; got {name} = {v!r}.")
    if not 0 <= successes <= n:
        raise ValueError(f"wilson needs 0 <= successes <= n; got successes = {successes}, n = {n}.")
    if not z > 0:
        raise ValueError(f"wilson needs a positive z; got {z!r}.")
    if n == 0:
        return None, None
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    # at 0 or n successes one end is 0 or 1 in exact arithmetic: make it so in floats
    lo = 0.0 if successes == 0 else max(0.0, center - half)
    hi = 1.0 if successes == n else min(1.0, center + half)
    return lo, hi


def percent_range(lo: float, hi: float) -> str:
    """An interval of fractions in whole percents, each end rounded to the nearest (half
    up): (0.0343, 0.1375) -> ``"3-14"``."""
    return f"{math.floor(100 * lo + 0.5)}-{math.floor(100 * hi + 0.5)}"


def param_keys(params: Sequence[Any], *first: str) -> tuple[str, ...]:
    """``first``, then the name of every parameter (``Param``) not among them.

    The keys of a summary that carries every parameter of a cell, so that ``landscope
    show`` can tell apart cells that differ only in a parameter the table does not print.
    """
    return (*first, *(p.name for p in params if p.name not in first))


def _finite(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def _curve_gmean(curves: list[Any]) -> list[float] | None:
    """Elementwise geometric mean of equal-length curves; None when there are none."""
    if not curves:
        return None
    lengths = {len(c) for c in curves}
    if len(lengths) > 1:
        raise ValueError(f"curve_gmean needs curves of one length, got lengths {sorted(lengths)}.")
    stacked = np.stack([np.asarray(c, dtype=np.float64) for c in curves])
    return [float(v) for v in np.exp(np.log(stacked).mean(0))]


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
            first row's value; ``count``: rows whose value is in ``values``; ``rows``:
            the number of rows aggregated (``column`` is not read); ``curve_gmean``: the
            elementwise geometric mean exp(mean_rows log v) of array values of one length
            (the rows' curves; rows whose value is None are left out), a list of floats
            (None when no row has one). In a summary, ``fraction`` and ``share`` also give
            ``<key>_lo`` and ``<key>_hi``, their 95 % Wilson interval (``items``).
        values: the values ``share``, ``se`` and ``count`` look for.
        where: only rows whose column ``where[0]`` is in ``where[1]`` are aggregated.
        of_all: ``share``, ``se`` and ``fraction`` count the rows ``where`` keeps out of
            all rows of the cell, not out of the kept rows only (the share of all runs that
            missed the optimum and did not converge).
    """

    key: str
    column: str | None = None
    how: str = "mean"
    values: tuple = ()
    where: tuple[str, tuple] | None = None
    of_all: bool = False

    def __post_init__(self) -> None:
        if self.how not in HOWS:
            raise ValueError(f"unknown aggregation {self.how!r}; use one of {', '.join(HOWS)}.")

    def _kept(self, rows: list[dict]) -> tuple[list[dict], int]:
        """The rows ``where`` keeps, and the number of all rows."""
        total = len(rows)
        if self.where is not None:
            wcol, wvals = self.where
            rows = [r for r in rows if r[wcol] in wvals]
        return rows, total

    def binomial(self, rows: list[dict]) -> tuple[int, int] | None:
        """(successes, trials) of a ``fraction`` or ``share``; None for other aggregations."""
        if self.how not in ("fraction", "share"):
            return None
        kept, total = self._kept(rows)
        vals = [r[self.column or self.key] for r in kept]
        if self.how == "fraction":
            hits = sum(bool(v) for v in vals)
        else:
            hits = sum(v in self.values for v in vals)
        return hits, total if self.of_all else len(vals)

    def items(self, rows: list[dict]) -> dict[str, Any]:
        """``{key: value}``; for a ``fraction`` or ``share`` also ``key_lo`` and ``key_hi``,
        its 95 % Wilson score interval (``wilson``; None when there are no trials)."""
        out = {self.key: self(rows)}
        counts = self.binomial(rows)
        if counts is not None:
            out[f"{self.key}_lo"], out[f"{self.key}_hi"] = wilson(*counts)
        return out

    def __call__(self, rows: list[dict]) -> Any:
        col = self.column or self.key
        rows, total = self._kept(rows)
        if self.how == "rows":
            return len(rows)
        vals = [r[col] for r in rows]
        if self.how == "first":
            return vals[0] if vals else None
        if self.how == "curve_gmean":
            return _curve_gmean([v for v in vals if v is not None])
        if self.how in ("share", "se", "count"):
            hits = sum(v in self.values for v in vals)
            if self.how == "count":
                return hits
            n = total if self.of_all else len(vals)
            p = hits / n if n else math.nan
            return p if self.how == "share" else math.sqrt(p * (1 - p) / n)
        if self.how == "fraction":
            n = total if self.of_all else len(vals)
            return sum(bool(v) for v in vals) / n if n else None
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


Derived = tuple[tuple[str, Callable[[dict], Any]], ...]


def _explode(rows: list[dict], columns: Sequence[str]) -> list[dict]:
    """One record per element of the array ``columns`` (read in step) of each row."""
    out = []
    for row in rows:
        arrays = [row[c] for c in columns]
        if any(a is None for a in arrays):
            continue
        n = len(arrays[0])
        if any(len(a) != n for a in arrays):
            lengths = ", ".join(f"{c}: {len(a)}" for c, a in zip(columns, arrays, strict=True))
            raise ValueError(f"exploded columns need equal lengths per row, got {lengths}.")
        for i in range(n):
            out.append({**row, **{c: a[i] for c, a in zip(columns, arrays, strict=True)}})
    return out


@dataclass(frozen=True)
class Part:
    """One kind of summary row a cell gives, in a summary that is not one row per cell.

    ``SummarySpec(parts=(header, per_type))`` gives, cell by cell, the rows of each part in
    order: e.g. one header row per cell, then one row per type of minimum found in it. A
    part with no records gives no row.

    Attributes:
        keys: copied from the cell's row (the spec's ``keys``, ``runs``, ``aggs``,
            ``wall_s`` and ``derived``).
        where: only the cell's rows whose column ``where[0]`` is in ``where[1]``.
        explode: array columns read in step: a row gives one record per element, the
            other columns repeated (a row whose arrays are missing gives none).
        columns: ``(name, fn(record))`` added to every record, in order, before grouping.
        group: one summary row per distinct value of these record columns, in first-seen
            order, each value copied into its row; ``()``: one row for all records.
        aggs: aggregated over the records of a row.
        derived: ``(key, fn(row))`` computed after the aggregates, in order.
        sort: the sort key of the part's rows within a cell (None: first-seen order).

    Keys starting with ``_`` are working values (a rounded loss to group by, say): derived
    values and ``sort`` see them; the summary rows leave them out.
    """

    keys: tuple[str, ...] = ()
    where: tuple[str, tuple] | None = None
    explode: tuple[str, ...] = ()
    columns: Derived = ()
    group: tuple[str, ...] = ()
    aggs: tuple[Agg, ...] = ()
    derived: Derived = ()
    sort: Callable[[dict], Any] | None = None

    def __call__(self, cell: dict, rows: list[dict]) -> list[dict]:
        """The part's summary rows of one cell (``cell``: the cell's summary row)."""
        if self.where is not None:
            wcol, wvals = self.where
            rows = [r for r in rows if r[wcol] in wvals]
        if self.explode:
            rows = _explode(rows, self.explode)
        for name, fn in self.columns:
            rows = [{**r, name: fn(r)} for r in rows]
        groups: dict[tuple, list[dict]] = {}
        for r in rows:
            groups.setdefault(tuple(r[g] for g in self.group), []).append(r)
        out = []
        for values, records in groups.items():
            s: dict[str, Any] = {k: cell[k] for k in self.keys}
            s.update(zip(self.group, values, strict=True))
            for agg in self.aggs:
                s.update(agg.items(records))
            for key, fn in self.derived:
                s[key] = fn(s)
            out.append(s)
        if self.sort is not None:
            out.sort(key=self.sort)
        return [{k: v for k, v in s.items() if not k.startswith("_")} for s in out]


@dataclass(frozen=True)
class SummarySpec:
    """Stored rows -> one dict per cell.

    Attributes:
        keys: columns copied from the cell's first row (the configuration, mostly).
        aggs: aggregated values, in order.
        derived: ``(key, fn(summary_row))`` computed after the aggregates, in order.
        sort: the sort key of a summary row (None keeps first-seen order); with
            ``parts``, of the cells' rows, each cell's part rows kept together in order.
        group: columns that define a cell (default: the stored ``config_hash``).
        parts: when given, the summary rows are the parts' rows of each cell (``Part``),
            and the cell's own row only supplies the values they copy.
    """

    keys: tuple[str, ...]
    aggs: tuple[Agg, ...] = ()
    derived: Derived = ()
    sort: Callable[[dict], Any] | None = None
    group: tuple[str, ...] | None = None
    parts: tuple[Part, ...] = ()

    def cells(self, rows: list[dict]) -> list[list[dict]]:
        if self.group is None:
            return by_cell(rows)
        cells: dict[tuple, list[dict]] = {}
        for r in rows:
            cells.setdefault(tuple(r[k] for k in self.group), []).append(r)
        return list(cells.values())

    def __call__(self, rows: list[dict]) -> list[dict]:
        out = []
        cells = self.cells(rows)
        for cell in cells:
            first = cell[0]
            s: dict[str, Any] = {k: first[k] for k in self.keys}
            s["runs"] = len(cell)
            for agg in self.aggs:
                s.update(agg.items(cell))
            s["wall_s"] = first.get("cell_wall_s")
            for key, fn in self.derived:
                s[key] = fn(s)
            out.append(s)
        if not self.parts:
            if self.sort is not None:
                out.sort(key=self.sort)
            return out
        order = list(range(len(cells)))
        if self.sort is not None:
            order.sort(key=lambda i: self.sort(out[i]))
        return [row for i in order for part in self.parts for row in part(out[i], cells[i])]
