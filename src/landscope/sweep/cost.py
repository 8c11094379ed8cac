"""What a run will cost before it starts: peak memory, and time where the store can tell.

A cell holds all its runs at once (DESIGN.md, "every run is a row"), so the memory of a
study's run is set by its largest cell: R runs of P parameters each. The model, per run:

* the batch: ``_BATCH_COPIES`` float64 vectors of P values alive together (the rows,
  the start rows, the gradient, two optimizer states, the gathered active rows and their
  gradient, the eigenvalues of certification, the float64 copy handed to the store);
* the rows as Python objects before they are stored: a Python float in a list costs
  ``_PY_FLOAT`` bytes (an 8-byte slot and a 24-byte object), and the stored ``params``
  column holds P of them per run (twice for a study that also reads another study's
  stored runs, ``Require``); every other column ``_PY_VALUE`` bytes (the row dicts the
  study, the sweep and the store build, and the values in them);
* the data a run owns (protocols with ``make_data``: a teacher and sample per seed),
  measured by drawing the data of one and of two seeds, twice over (the data and the
  problem's copies in the training dtype).

Plus, once per cell, the data the problem shares between its rows and a fixed
``_WORKING_BYTES`` for chunked work: dense Hessians, Newton solves and vmapped per-row
functions are computed in chunks of about 256 MB each, and the closed forms and
``eigvalsh`` behind them take a few times that while they run. The one machine's
memory is what is checked (``check_fits``); on a GPU the batch lives in device memory,
which this model does not check.

P comes from building each cell's problem (``Protocol.make_problem``), so estimating
costs what building the problems costs (a convex solve per cell for ``convex-relu``).
Where a problem cannot be built, P is taken as ``_ASSUMED_PARAMS`` and the estimate
says so.

Time is extrapolated from what the store already holds: the wall time of each stored
cell (``cell_wall_s``, one value per ``run_cell`` call) divided by the runs it computed.
A cell with stored runs of its own is extrapolated at its own rate, any other cell at the
mean rate of the stored ones. With nothing stored, the time is not estimated.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from .store import STORE_FILE, ResultStore

if TYPE_CHECKING:
    from ..studies import Study
    from ..studies.protocol import Protocol

__all__ = ["Estimate", "available_bytes", "check_fits", "estimate"]

# The constants of the memory model (module docstring); generous rather than tight, since
# running out of memory an hour into a cell loses the hour.
_BATCH_COPIES = 10  # float64 (R, P) arrays alive together during a cell
_FLOAT64 = 8
_PY_FLOAT = 32  # a float in a Python list: 8-byte slot + 24-byte object
_PY_VALUE = 256  # one other column of one row: entries in three dicts, and the value
_WORKING_BYTES = 2**30  # chunked Hessians / solves / vmaps: 256 MB chunks, a few at once
_ASSUMED_PARAMS = 1000  # P where the problem cannot be built
_GIB = 2**30


@dataclass(frozen=True)
class Estimate:
    """The estimated cost of running a study's missing runs.

    Attributes:
        peak_bytes: memory the largest cell (``jobs`` largest cells) holds at once.
        seconds: wall-clock seconds of the whole run, or None where the store holds no
            runs of the study to extrapolate from.
        basis: how both numbers were obtained, in words.
        runs: runs of the largest cell still to compute (0: nothing to run).
        params: P of that cell, or None where it could not be known.
        cells: cells with runs still to compute.
        jobs: cells computed at once.
    """

    peak_bytes: int
    seconds: float | None
    basis: str
    runs: int = 0
    params: int | None = None
    cells: int = 0
    jobs: int = 1

    def largest(self) -> str:
        """The largest cell in words: ``"3,000,000 runs x 400 parameters"``."""
        size = "parameters unknown" if self.params is None else f"{self.params:,} parameters"
        sep = " x " if self.params is not None else ", "
        return f"{self.runs:,} runs{sep}{size}"

    def describe(self) -> str:
        """One line for the start of ``landscope run``."""
        if self.cells == 0:
            return "estimate: nothing to run (every cell is stored)"
        time = "time unknown" if self.seconds is None else f"about {_duration(self.seconds)}"
        return (
            f"estimate: {self.cells:,} cells, about {_size(self.peak_bytes, up=True)} of memory "
            f"at most (largest cell: {self.largest()}), {time}; {self.basis}"
        )


def _size(n: float, up: bool) -> str:
    """Bytes in GiB (MiB below 1 GiB), rounded up (``up``) or down at the shown precision."""
    rnd = math.ceil if up else math.floor
    if n >= 10 * _GIB:
        return f"{rnd(n / _GIB):,} GiB"
    if n >= _GIB:
        return f"{rnd(n / _GIB * 10) / 10:.1f} GiB"
    return f"{rnd(n / 2**20):,} MiB"


def _duration(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    if s < 48 * 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def _nbytes(obj: Any, seen: set[int]) -> int:
    """Bytes of the arrays in ``obj`` (tensors, numpy arrays; through dataclasses,
    sequences and dicts), each array counted once."""
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if hasattr(obj, "element_size") and hasattr(obj, "nelement"):  # a torch tensor
        return int(obj.element_size() * obj.nelement())
    if hasattr(obj, "nbytes") and hasattr(obj, "dtype"):  # a numpy array
        return int(obj.nbytes)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return sum(_nbytes(getattr(obj, f.name), seen) for f in dataclasses.fields(obj))
    if isinstance(obj, (list, tuple)):
        return sum(_nbytes(x, seen) for x in obj)
    if isinstance(obj, dict):
        return sum(_nbytes(x, seen) for x in obj.values())
    return 0


@dataclass(frozen=True)
class _Shape:
    """What one cell's memory depends on besides its number of runs."""

    params: int | None  # P; None: unknown
    per_seed: int  # bytes of data each run owns
    shared: int  # bytes of data the problem shares between runs


def _drawn(proto: Protocol, cell: Mapping[str, Any], seeds: list[int]) -> tuple[Any, Any]:
    """(data, problem) of ``cell`` for ``seeds``, for a protocol with ``make_data``."""
    data = proto.make_data(dict(cell), seeds)
    return data, proto.make_problem(dict(cell), data=data)


def _shape(study: Study, cell: Mapping[str, Any]) -> tuple[_Shape, str | None]:
    """The cell's P and data, from its problem; (shape, why unknown or None)."""
    proto = study.protocol
    try:
        if proto is not None and proto.make_data is not None:
            # the data of one seed and of two: what each run owns, what they share
            one, two = _drawn(proto, cell, [0]), _drawn(proto, cell, [0, 1])
            b1, b2 = _nbytes(one, set()), _nbytes(two, set())
            return _Shape(int(one[1].n_params), max(b2 - b1, 0), max(2 * b1 - b2, 0)), None
        if study.make_problem is None:
            return _Shape(None, 0, 0), f"study {study.name!r} builds no problem"
        problem = study.make_problem(dict(cell))
        return _Shape(int(problem.n_params), 0, _nbytes(problem, set())), None
    except Exception as err:  # an estimate must not stop a run that may well work
        lines = str(err).strip().splitlines()
        return _Shape(None, 0, 0), lines[0].rstrip(".") if lines else type(err).__name__


def _cell_bytes(shape: _Shape, runs: int, columns: int, params_copies: int) -> int:
    """The memory model of the module docstring for one cell of ``runs`` runs."""
    P = _ASSUMED_PARAMS if shape.params is None else shape.params
    per_run = (
        P * _FLOAT64 * _BATCH_COPIES
        + P * _PY_FLOAT * params_copies
        + columns * _PY_VALUE
        + 2 * shape.per_seed
    )
    return runs * per_run + 2 * shape.shared + _WORKING_BYTES


@dataclass(frozen=True)
class _Stored:
    """What the store says about a study: seeds done and seconds per run, by cell."""

    done: dict[str, int]  # config hash -> stored seeds below the requested count
    wall: dict[str, float]  # config hash -> seconds of the run_cell calls that wrote it
    runs: dict[str, int]  # config hash -> runs those calls computed
    note: str | None = None  # why the store could not be read


def _read_store(study: Study, out_dir: str | Path, seeds: int) -> _Stored:
    if not (Path(out_dir) / STORE_FILE).is_file():
        return _Stored({}, {}, {})
    table = '"' + study.table_name.replace('"', '""') + '"'
    try:
        with ResultStore(out_dir, read_only=True) as store:
            if not store.has_table(study.table_name):
                return _Stored({}, {}, {})
            done = store.con.execute(
                f"SELECT config_hash, count(*) FROM {table} "
                "WHERE seed >= 0 AND seed < ? GROUP BY config_hash",
                [seeds],
            ).fetchall()
            timed: list[tuple[str, float, int]] = []
            if "cell_wall_s" in store.columns(study.table_name):
                # one cell_wall_s value per run_cell call: its rows are the runs it computed
                timed = store.con.execute(
                    f"SELECT config_hash, cell_wall_s, count(*) FROM {table} "
                    "WHERE cell_wall_s IS NOT NULL GROUP BY config_hash, cell_wall_s"
                ).fetchall()
    except (ValueError, duckdb.Error) as err:  # held by a running sweep, or not a store
        reason = str(err).strip().splitlines()[0].rstrip(".") if str(err).strip() else "error"
        return _Stored({}, {}, {}, f"the store could not be read ({reason})")
    wall: dict[str, float] = {}
    runs: dict[str, int] = {}
    for h, w, n in timed:
        wall[h] = wall.get(h, 0.0) + float(w)
        runs[h] = runs.get(h, 0) + int(n)
    return _Stored({h: int(n) for h, n in done}, wall, runs)


def estimate(
    study: Study,
    cells: Mapping[str, Mapping[str, Any]],
    seeds: int,
    out_dir: str | Path,
    jobs: int = 1,
) -> Estimate:
    """Estimate the peak memory and the time of running ``cells`` x ``seeds`` into ``out_dir``.

    Only the runs the store does not hold yet are counted (a resumed run computes only
    those). Builds each such cell's problem to learn P (see the module docstring), so it
    costs what building the problems costs.

    Args:
        study: the study.
        cells: config hash -> configuration, as ``run_study`` runs them.
        seeds: runs per cell (seeds ``0 .. seeds-1``).
        out_dir: the output folder; its store, if any, says what is done and how fast.
        jobs: cells computed at once; the peak is that of the ``jobs`` largest cells.

    Returns:
        An ``Estimate``.

    Raises:
        ValueError: if ``seeds`` or ``jobs`` is not a positive integer.
    """
    for name, value in (("seeds", seeds), ("jobs", jobs)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    from ..studies.protocol import Require
    from .runner import BOOKKEEPING_COLUMNS  # here: the runner imports this module

    stored = _read_store(study, out_dir, seeds)
    proto = study.protocol
    steps = () if proto is None else proto.steps
    keeps = "params" in (study.columns or {})
    params_copies = (2 if any(isinstance(s, Require) for s in steps) else 1) if keeps else 0
    columns = len(study.params) + len(study.columns or {}) + len(BOOKKEEPING_COLUMNS)

    todo = {h: seeds - stored.done.get(h, 0) for h in cells}
    todo = {h: n for h, n in todo.items() if n > 0}
    sized: list[tuple[int, int, int | None]] = []  # (bytes, runs, P) per cell to run
    unknown: list[str] = []
    for h, n in todo.items():
        shape, why = _shape(study, cells[h])
        if why is not None:
            unknown.append(why)
        sized.append((_cell_bytes(shape, n, columns, params_copies), n, shape.params))
    sized.sort(key=lambda t: t[0], reverse=True)
    peak = sum(b for b, _, _ in sized[:jobs])
    runs, params = (sized[0][1], sized[0][2]) if sized else (0, None)

    if unknown:
        memory = (
            f"memory: P unknown for {len(unknown)} of {len(todo)} cells ({unknown[0]}), "
            f"{_ASSUMED_PARAMS:,} parameters per run assumed there"
        )
    else:
        memory = "memory: P from each cell's problem"
    seconds, timing = _seconds(stored, todo, min(jobs, max(len(todo), 1)))
    return Estimate(
        peak_bytes=int(peak),
        seconds=seconds,
        basis=f"{memory}; {timing}",
        runs=runs,
        params=params,
        cells=len(todo),
        jobs=jobs,
    )


def _seconds(stored: _Stored, todo: Mapping[str, int], jobs: int) -> tuple[float | None, str]:
    """Seconds for the runs ``todo`` (hash -> runs) at the stored rates, and the basis."""
    if not todo:
        return 0.0, "time: nothing to run"
    total_runs = sum(stored.runs.values())
    total_wall = sum(stored.wall.values())
    if total_runs == 0:
        why = stored.note or "no stored runs of this study to extrapolate from"
        return None, f"time: unknown, {why}"
    mean = total_wall / total_runs
    seconds = 0.0
    for h, n in todo.items():
        rate = stored.wall[h] / stored.runs[h] if stored.runs.get(h) else mean
        seconds += rate * n
    return seconds / jobs, (
        f"time: extrapolated from {total_runs:,} stored runs in {len(stored.runs):,} cells "
        f"({mean:.3g} s per run on average)"
    )


def available_bytes() -> int | None:
    """Memory this machine can give a new computation: ``MemAvailable`` of /proc/meminfo,
    else free physical pages x page size (``os.sysconf``); None where neither is known."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the kernel counts in kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        pages, size = os.sysconf("SC_AVPHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def check_fits(estimate: Estimate, available_bytes: int | None = None) -> None:
    """Refuse a run whose estimated peak memory exceeds what the machine has available.

    Args:
        estimate: from ``estimate``.
        available_bytes: memory available (default: read from the machine by
            ``available_bytes()``); where it cannot be known, nothing is refused.

    Raises:
        ValueError: one sentence saying what the run needs and what is available.
    """
    have = _available() if available_bytes is None else available_bytes
    if have is None or estimate.peak_bytes <= have:
        return
    where = (
        f"its largest cell ({estimate.largest()})"
        if estimate.jobs == 1
        else f"its {estimate.jobs} largest cells at once (the largest: {estimate.largest()})"
    )
    raise ValueError(
        f"this run needs about {_size(estimate.peak_bytes, up=True)} for {where}, "
        f"more than the {_size(have, up=False)} available; "
        "use fewer --seeds or split the grid."
    )


_available = available_bytes  # check_fits' argument shadows the function's name
