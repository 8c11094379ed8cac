"""What a study is: a declared parameter grid x seeds, a cell runner, a summary, figure specs.

A study knows nothing of executors, stores or matplotlib: ``run_cell`` gets one
configuration and the seeds still to run, and returns one flat row (a dict) per seed;
``summarize`` turns stored rows back into one dict per cell; ``figures`` describes the
figures of the summary as data (``landscope.studies.figures``), which ``landscope.plot``
draws.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # studies build problems; this module only names the types
    from ..problems import Problem
    from .figures import FigureSpec
    from .protocol import Protocol

__all__ = ["Grid", "Param", "Results", "RunContext", "Study", "config_hash", "parse_values"]


@dataclass(frozen=True)
class Param:
    """One swept (or fixed) configuration parameter.

    Attributes:
        name: key used in ``--set name=...`` and as a store column.
        kind: ``int``, ``float`` or ``str``.
        default: the default list of values swept.
        help: one line for ``landscope studies`` / errors.
        check: raises ValueError (one sentence) for a value that is not allowed.
    """

    name: str
    kind: type
    default: tuple
    help: str
    check: Callable[[Any], None] | None = None

    @property
    def duckdb_type(self) -> str:
        return {int: "BIGINT", float: "DOUBLE", str: "VARCHAR"}[self.kind]


@dataclass
class RunContext:
    """What a cell runner may use: where to compute, and a progress hook.

    ``progress(done, total, text)`` may be called as often as is useful; the sweep maps it
    onto a progress bar.
    """

    device: str = "cpu"
    dtype: str = "float64"
    progress: Callable[[int, int, str], None] = field(default=lambda done, total, text: None)
    # require(study_name, overrides, seeds) -> that study's stored rows (with ``params``)
    # for the given cells and seeds 0..seeds-1, computing and storing the missing ones
    # first: how a study builds on another's results (``spurious-spectra`` on
    # ``spurious-relu``). The sweep supplies it; None outside a sweep.
    require: Callable[[str, Mapping[str, Sequence[Any]], int], list[dict]] | None = None


@dataclass(frozen=True)
class Grid:
    """The cells of a study: its parameters, which combinations are allowed, seeds per cell.

    Attributes:
        params: the configuration grid's parameters, in column order.
        seeds: runs per cell at default size.
        validate: (config) -> None, raises ValueError (one sentence) for a combination of
            values that is not allowed; None allows every combination.
    """

    params: tuple[Param, ...]
    seeds: int
    validate: Callable[[dict], None] | None = None

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        allowed = ", ".join(p.name for p in self.params)
        raise ValueError(f"no parameter {name!r}; the parameters are {allowed}.")

    def cells(self, overrides: Mapping[str, Sequence[Any]] | None = None) -> list[dict]:
        """Every combination of the (overridden) parameter values, validated."""
        overrides = dict(overrides or {})
        for key in overrides:
            self.param(key)  # unknown names raise
        values = []
        for p in self.params:
            vals = tuple(overrides.get(p.name, p.default))
            if not vals:
                raise ValueError(f"parameter {p.name!r} was given no values.")
            for v in vals:
                if p.check is not None:
                    p.check(v)
            values.append(vals)
        out = []
        for combo in itertools.product(*values):
            cfg = {p.name: v for p, v in zip(self.params, combo, strict=True)}
            if self.validate is not None:
                self.validate(cfg)
            out.append(cfg)
        return out


@dataclass(frozen=True)
class Results:
    """How a study's stored rows are read: its summary, its table and its figures.

    Attributes:
        summarize: stored rows (dicts, without array columns) -> one dict per cell (a
            ``SummarySpec`` or any function).
        table: ordered (key, header, format spec) for ``landscope show``.
        figures: (summary) -> the figure specs of the summary: pure data, no drawing and
            no files (``landscope.plot.render`` draws each).
    """

    summarize: Callable[[list[dict]], list[dict]]
    table: tuple[tuple[str, str, str], ...]
    figures: Callable[[list[dict]], list[FigureSpec]]


@dataclass(frozen=True)
class Study:
    """A named, parameterized experiment.

    A study module declares its pieces and ends with one line::

        STUDY = Study(name="spurious-relu", doc=__doc__, grid=GRID, protocol=PROTOCOL,
                      results=RESULTS)

    Attributes:
        name: e.g. ``"spurious-relu"``; the store table is the name with '-' -> '_'.
        doc: what the study asks, how it is run and what to expect (the study module's
            docstring); its first paragraph is the one-line ``summary``.
        grid: its parameters, allowed combinations and default seeds per cell.
        results: its summary, table and figures.
        protocol: how a cell is run, from library steps (``studies.protocol``); gives
            ``run_cell``, ``columns`` and ``make_problem`` unless those are given.
        run_cell: (config, seeds, ctx) -> one row per seed, each holding every key of
            ``columns`` plus ``seed``; for a study whose cell is not a protocol.
        columns: result columns written by ``run_cell`` besides the configuration,
            ``seed`` and the sweep's bookkeeping columns: name -> DuckDB type.
        make_problem: (config) -> the cell's ``Problem`` in float64 on the CPU, whose
            parameter rows are the stored ``params``; lets ``landscope spectrum`` rebuild
            a stored run's objective. None when the study has none.

    ``params``, ``default_seeds``, ``validate``, ``summarize``, ``table`` and ``figures``
    read through to the grid and the results.
    """

    name: str
    doc: str
    grid: Grid
    results: Results
    protocol: Protocol | None = None
    run_cell: Callable[[dict, Sequence[int], RunContext], list[dict]] | None = None
    columns: Mapping[str, str] | None = None
    make_problem: Callable[[dict], Problem] | None = None

    def __post_init__(self) -> None:
        if not self.summary:
            raise ValueError(f"study {self.name!r} needs a doc whose first line says what it is.")
        p = self.protocol
        if p is None and (self.run_cell is None or self.columns is None):
            raise ValueError(f"study {self.name!r} needs a protocol, or run_cell and columns.")
        if p is not None:
            # frozen dataclass: fill the derived fields once, at construction
            if self.run_cell is None:
                object.__setattr__(self, "run_cell", p.run_cell)
            if self.columns is None:
                object.__setattr__(self, "columns", p.columns())
            if self.make_problem is None:
                object.__setattr__(self, "make_problem", p.make_problem)

    @property
    def summary(self) -> str:
        """The doc's first paragraph on one line."""
        first = inspect.cleandoc(self.doc or "").split("\n\n", 1)[0]
        return " ".join(first.split())

    @property
    def params(self) -> tuple[Param, ...]:
        return self.grid.params

    @property
    def default_seeds(self) -> int:
        return self.grid.seeds

    @property
    def validate(self) -> Callable[[dict], None] | None:
        return self.grid.validate

    @property
    def summarize(self) -> Callable[[list[dict]], list[dict]]:
        return self.results.summarize

    @property
    def table(self) -> tuple[tuple[str, str, str], ...]:
        return self.results.table

    @property
    def figures(self) -> Callable[[list[dict]], list[FigureSpec]]:
        return self.results.figures

    @property
    def table_name(self) -> str:
        return self.name.replace("-", "_")

    def param(self, name: str) -> Param:
        try:
            return self.grid.param(name)
        except ValueError:
            allowed = ", ".join(p.name for p in self.params)
            raise ValueError(
                f"study {self.name!r} has no parameter {name!r}; its parameters are {allowed}."
            ) from None

    def cells(self, overrides: Mapping[str, Sequence[Any]] | None = None) -> list[dict]:
        """The grid: every combination of the (overridden) parameter values, validated."""
        for key in overrides or {}:
            self.param(key)  # unknown names raise, naming the study
        return self.grid.cells(overrides)


def config_hash(study: str, config: Mapping[str, Any]) -> str:
    """A stable 16-hex-digit hash of (study, configuration)."""
    blob = json.dumps({"study": study, "config": dict(config)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def parse_values(param: Param, text: str) -> list[Any]:
    """Parse ``"6,10,20"`` or ``"6..20"`` (inclusive, ints only) into typed values.

    Raises:
        ValueError: one sentence naming the parameter and the bad text.
    """
    out: list[Any] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise ValueError(f"empty value in {param.name}={text!r}.")
        if ".." in part:
            if param.kind is not int:
                kind = param.kind.__name__
                raise ValueError(f"ranges a..b are for integer parameters; {param.name} is {kind}.")
            lo_s, hi_s = part.split("..", 1)
            try:
                lo, hi = int(lo_s), int(hi_s)
            except ValueError:
                raise ValueError(
                    f"bad range {part!r} for {param.name}; write a..b with integers."
                ) from None
            if hi < lo:
                raise ValueError(f"empty range {part!r} for {param.name}.")
            out.extend(range(lo, hi + 1))
            continue
        try:
            out.append(param.kind(part))
        except ValueError:
            raise ValueError(
                f"{param.name} takes {param.kind.__name__} values; {part!r} is not one."
            ) from None
    return out
