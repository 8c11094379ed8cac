"""Where every stored number of a study came from: per cell, and the protocol's settings.

``cell_provenance`` reads the stored rows (one per run) cell by cell: the value of every
study parameter, the seeds stored, the number of runs, the cell's wall time
(``cell_wall_s``), the landscope and torch versions, device and dtype that computed it,
and the tolerances stored with the rows (result columns named ``*_tol``, such as the
certificate's ``cert_gap_tol``). A cell computed in several runs (seeds added later) shows
each distinct value. ``protocol_settings`` lists the fields of the study's protocol steps
(dataclasses), nested steps flattened with dotted names, each described as text: a
parameter the setting reads, a function's source or name, or the constant itself.
Nothing is recomputed.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..studies import Study

__all__ = [
    "CellProvenance",
    "ParamInfo",
    "ProtocolStep",
    "cell_provenance",
    "default_text",
    "describe_setting",
    "param_info",
    "protocol_settings",
    "seed_ranges",
]

MISSING = "-"
_MAX_SOURCE = 240  # characters of a function's source shown for a setting


@dataclass(frozen=True)
class CellProvenance:
    """What computed one stored cell (every value as text, ``-`` when not stored).

    Attributes:
        config_hash: the cell's key in the store.
        params: (parameter, value) for every parameter of the study, in grid order.
        seeds: the stored seeds, as ranges (``0..11`` or ``0..4, 7``).
        runs: stored rows of the cell.
        wall_s: the cell's wall time in seconds (distinct values joined by ``+``).
        version, torch, device, dtype: distinct values, joined by ``, ``.
        tolerances: (column, value) of the ``*_tol`` result columns stored with the rows.
    """

    config_hash: str
    params: tuple[tuple[str, str], ...]
    seeds: str
    runs: int
    wall_s: str
    version: str
    torch: str
    device: str
    dtype: str
    tolerances: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ParamInfo:
    """One study parameter: its declaration and the values the stored cells hold (text)."""

    name: str
    kind: str
    default: str
    stored: str
    help: str


@dataclass(frozen=True)
class ProtocolStep:
    """One protocol step: its class, the first line of its doc, its settings as text."""

    name: str
    doc: str
    settings: tuple[tuple[str, str], ...]


def seed_ranges(seeds: Sequence[int]) -> str:
    """``[0, 1, 2, 3, 7, 9, 10]`` -> ``"0..3, 7, 9..10"`` (sorted, duplicates dropped)."""
    out: list[str] = []
    ordered = sorted(set(int(s) for s in seeds))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}..{ordered[j]}")
        i = j + 1
    return ", ".join(out) or MISSING


def default_text(values: Sequence[Any]) -> str:
    """A parameter's default values as ``landscope studies`` prints them: a run of three or
    more consecutive integers as ``a..b``, otherwise the values joined by commas."""
    vals = list(values)
    run = (
        len(vals) > 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in vals)
        and vals == list(range(vals[0], vals[-1] + 1))
    )
    return f"{vals[0]}..{vals[-1]}" if run else ", ".join(str(v) for v in vals)


def param_info(study: Study, cells: Sequence[CellProvenance]) -> list[ParamInfo]:
    """Each parameter of the study with its default and its distinct stored values."""
    out = []
    for i, p in enumerate(study.params):
        stored = ", ".join(dict.fromkeys(c.params[i][1] for c in cells)) or MISSING
        out.append(ParamInfo(p.name, p.kind.__name__, default_text(p.default), stored, p.help))
    return out


def _text(value: Any) -> str:
    return MISSING if value is None else str(value)


def _distinct(values: Sequence[Any], sep: str = ", ") -> str:
    seen = list(dict.fromkeys(_text(v) for v in values if v is not None))
    return sep.join(seen) or MISSING


def _wall(values: Sequence[Any]) -> str:
    seen = list(dict.fromkeys(float(v) for v in values if v is not None))
    return " + ".join(f"{v:.2f}" for v in seen) or MISSING


def cell_provenance(study: Study, rows: Sequence[Mapping[str, Any]]) -> list[CellProvenance]:
    """One ``CellProvenance`` per stored cell, in the store's order.

    Args:
        study: the study the rows belong to.
        rows: its stored rows (``ResultStore.rows``); a column an old store lacks reads
            ``-``.

    Returns:
        One entry per distinct ``config_hash``.
    """
    cells: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        cells.setdefault(str(row["config_hash"]), []).append(row)
    tol_cols = [c for c in (study.columns or {}) if c.endswith("_tol")]
    out = []
    for h, cell in cells.items():
        first = cell[0]
        out.append(
            CellProvenance(
                config_hash=h,
                params=tuple((p.name, _text(first.get(p.name))) for p in study.params),
                seeds=seed_ranges([r["seed"] for r in cell]),
                runs=len(cell),
                wall_s=_wall([r.get("cell_wall_s") for r in cell]),
                version=_distinct([r.get("version") for r in cell]),
                torch=_distinct([r.get("torch") for r in cell]),
                device=_distinct([r.get("device") for r in cell]),
                dtype=_distinct([r.get("dtype") for r in cell]),
                tolerances=tuple(
                    (c, _distinct([r.get(c) for r in cell])) for c in tol_cols if c in first
                ),
            )
        )
    return out


def _lambda_source(fn: Callable[..., Any]) -> str | None:
    """The text of a lambda from its source file (``lambda cfg: ...``), or None."""
    try:
        lines, first = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return None
    code = fn.__code__
    row = code.co_firstlineno - first
    if not 0 <= row < len(lines):
        return None
    line = lines[row]
    # several lambdas may share the line: take the last one before the body's first column
    body = [c for ln, _, c, _ in code.co_positions() if ln == code.co_firstlineno and c]
    col = line.rfind("lambda", 0, body[0]) if body else -1
    col = col if col >= 0 else line.find("lambda")
    if col < 0:
        return None
    src = "".join(lines)
    start = sum(len(s) for s in lines[:row]) + col
    # the end of the expression: a closing bracket or a comma at depth 0
    depth = 0
    end = len(src)
    for i in range(start, len(src)):
        ch = src[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}" or (ch == "," and depth == 0):
            if depth == 0:
                end = i
                break
            depth -= 1
    text = " ".join(src[start:end].split())
    # undo the line breaks inside brackets: "Stop( a, b )" -> "Stop(a, b)"
    text = re.sub(r"([(\[{]) ", r"\1", re.sub(r" ([)\]}])", r"\1", text))
    return text if len(text) <= _MAX_SOURCE else text[: _MAX_SOURCE - 3] + "..."


def _function(fn: Callable[..., Any]) -> str:
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    if getattr(fn, "__name__", None) == "<lambda>" and hasattr(fn, "__code__"):
        return _lambda_source(fn) or f"a lambda in {getattr(fn, '__module__', '?')}"
    module = getattr(fn, "__module__", None)
    return f"{module}.{name}" if module else name


def describe_setting(value: Any, params: Sequence[str] = ()) -> str:
    """A protocol setting as text.

    A string naming one of ``params`` is that parameter (``parameter polish_from``); a
    ``FromCell`` or another callable is its lambda's source or its qualified name; any
    other value is its ``repr``.
    """
    from ..studies.protocol import FromCell

    if isinstance(value, str) and value in params:
        return f"parameter {value}"
    if isinstance(value, FromCell):
        return f"from the cell: {_function(value.fn)}"
    if callable(value) and not isinstance(value, type):
        return _function(value)
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    return repr(value)


def _settings(obj: Any, params: Sequence[str], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        name = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out.extend(_settings(value, params, f"{name}."))
        else:
            out.append((name, describe_setting(value, params)))
    return out


def _first_line(obj: Any) -> str:
    doc = inspect.getdoc(type(obj)) or ""
    return doc.split("\n\n", 1)[0].replace("\n", " ").strip()


def protocol_settings(study: Study) -> list[ProtocolStep]:
    """The study's protocol: its own fields (problem, initialization), then step by step
    every field of every step; empty when the study has no protocol."""
    protocol = study.protocol
    if protocol is None:
        return []
    params = [p.name for p in study.params]
    own = tuple(
        (f.name, describe_setting(getattr(protocol, f.name), params))
        for f in dataclasses.fields(protocol)
        if f.name != "steps"
    )
    steps = [ProtocolStep(type(protocol).__name__, _first_line(protocol), own)]
    for step in protocol.steps:
        if dataclasses.is_dataclass(step):
            settings = tuple(_settings(step, params))
        else:  # a step that is not a dataclass: its repr is all there is to show
            settings = (("step", repr(step)),)
        steps.append(ProtocolStep(type(step).__name__, _first_line(step), settings))
    return steps
