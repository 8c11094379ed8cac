"""A study's summary as the rows and columns of an HTML table, with sort keys.

The columns are the ones ``landscope show`` prints (``study.table``: key, header, format
spec), preceded by every parameter that varies between the stored cells and that the
summary rows carry but the declared table leaves out. A value with a ``<key>_lo`` and a
``<key>_hi`` in its summary row (the 95 % Wilson interval of a fraction) is shown with
that interval beside it, in the column's format.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..studies import Study

__all__ = ["Column", "Entry", "SummaryTable", "cell_text", "summary_table", "varying_params"]

MISSING = "-"


@dataclass(frozen=True)
class Column:
    """One column: the summary key it shows, its header, its format spec, and whether
    every value it holds is a number (right-aligned)."""

    key: str
    header: str
    spec: str
    numeric: bool = False


@dataclass(frozen=True)
class Entry:
    """One table cell.

    Attributes:
        text: the value in the column's format (``-`` when there is none).
        interval: ``[lo, hi]`` in the same format, or ``""`` when the row has none.
        sort: what the page's script sorts by: the number as text, the string itself, or
            ``""`` (no value, NaN included: sorted last).
        numeric: whether ``sort`` is a number.
    """

    text: str
    interval: str
    sort: str
    numeric: bool


@dataclass(frozen=True)
class SummaryTable:
    """The summary of one study as a table: columns and one row of entries per summary row."""

    columns: tuple[Column, ...]
    rows: tuple[tuple[Entry, ...], ...]

    @property
    def has_intervals(self) -> bool:
        return any(e.interval for row in self.rows for e in row)


def cell_text(value: Any, spec: str = "") -> str:
    """``value`` in the format ``spec``, as ``landscope show`` prints it (None: ``-``)."""
    if value is None:
        return MISSING
    try:
        return format(value, spec)
    except (TypeError, ValueError):  # e.g. a float spec on a string column
        return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _sort_key(value: Any) -> tuple[str, bool]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "", False
    if _is_number(value) or isinstance(value, bool):
        return repr(float(value)), True
    return str(value), False


def _entry(row: Mapping[str, Any], col: Column) -> Entry:
    value = row.get(col.key)
    lo, hi = row.get(f"{col.key}_lo"), row.get(f"{col.key}_hi")
    interval = ""
    if value is not None and lo is not None and hi is not None:
        interval = f"[{cell_text(lo, col.spec)}, {cell_text(hi, col.spec)}]"
    sort, numeric = _sort_key(value)
    return Entry(cell_text(value, col.spec), interval, sort, numeric)


def varying_params(study: Study, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The study's parameters whose stored value differs between rows, in grid order."""
    return [p.name for p in study.params if len({repr(r.get(p.name)) for r in rows}) > 1]


def summary_table(
    study: Study, summary: Sequence[Mapping[str, Any]], varying: Sequence[str] = ()
) -> SummaryTable:
    """The table of ``summary`` (one entry row per summary row, in order).

    Args:
        study: the study, whose ``table`` declares the columns.
        summary: its summary rows (``show_study``).
        varying: parameters that vary between the stored cells; those the summary rows
            carry and ``study.table`` does not show become leading columns.

    Returns:
        The ``SummaryTable``.
    """
    declared = [Column(key, header, spec) for key, header, spec in study.table]
    shown = {c.key for c in declared}
    carried = {k for row in summary for k in row}
    extra = [Column(p, p, "") for p in varying if p not in shown and p in carried]
    columns = [*extra, *declared]
    rows = tuple(tuple(_entry(row, c) for c in columns) for row in summary)
    for i, col in enumerate(columns):
        entries = [row[i] for row in rows if row[i].sort != ""]
        numeric = bool(entries) and all(e.numeric for e in entries)
        columns[i] = dataclasses.replace(col, numeric=numeric)
    return SummaryTable(tuple(columns), rows)
