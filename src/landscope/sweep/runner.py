"""Run a study cell by cell into the results store, resuming where a previous run stopped.

A cell is one configuration of the study's grid with all its seeds. Cells run one after
another in this process; each cell's rows are written in one transaction, so a run killed
at any moment loses at most the cell in progress, and running the same command again
computes only what is missing (new cells, or new seeds when ``seeds`` grew).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from .. import __version__
from .._validate import resolve_device, resolve_dtype
from ..studies import RunContext, Study, config_hash
from . import cost
from .runlock import RunLock
from .store import STORE_FILE, ResultStore, check_out_dir

__all__ = [
    "BOOKKEEPING_COLUMNS",
    "RunReport",
    "run_study",
    "show_study",
    "study_schema",
]

# Columns the sweep adds to every row, besides the configuration and the study's own.
BOOKKEEPING_COLUMNS: Mapping[str, str] = {
    "config_hash": "VARCHAR",
    "seed": "BIGINT",
    "study": "VARCHAR",
    "version": "VARCHAR",
    "torch": "VARCHAR",
    "device": "VARCHAR",
    "dtype": "VARCHAR",
    "cell_wall_s": "DOUBLE",
}


@dataclass(frozen=True)
class RunReport:
    """What one ``run_study`` call did.

    Attributes:
        cells_total: cells in the requested grid.
        cells_run: cells that had missing seeds and were computed.
        cells_skipped: cells already complete in the store.
        rows_written: rows inserted into the store.
        wall_s: wall-clock seconds of the whole call.
        out_dir: the output folder.
    """

    cells_total: int
    cells_run: int
    cells_skipped: int
    rows_written: int
    wall_s: float
    out_dir: Path

    def describe(self, study: str) -> str:
        """One line for the end of ``landscope run``."""
        return (
            f"{study}: ran {self.cells_run} of {self.cells_total} cells "
            f"({self.cells_skipped} already done), wrote {self.rows_written} rows "
            f"in {self.wall_s:.1f} s to {self.out_dir / STORE_FILE}"
        )


def study_schema(study: Study) -> dict[str, str]:
    """The store columns of a study: configuration, bookkeeping, then the study's results.

    Raises:
        ValueError: if the study declares a column twice or one the sweep reserves.
    """
    schema: dict[str, str] = {}
    parts: list[tuple[str, Mapping[str, str]]] = [
        ("parameter", {p.name: p.duckdb_type for p in study.params}),
        ("bookkeeping", BOOKKEEPING_COLUMNS),
        ("result", study.columns),
    ]
    for what, cols in parts:
        for name, typ in cols.items():
            # run_cell writes "seed" itself; every other clash is a study bug.
            if name in schema and not (what == "result" and name == "seed"):
                raise ValueError(
                    f"study {study.name!r} declares {what} column {name!r}, "
                    "which is already a parameter or a sweep column."
                )
            schema.setdefault(name, typ)
    return schema


def _check_seeds(seeds: Any) -> int:
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds <= 0:
        raise ValueError(f"seeds must be a positive integer; got {seeds!r}.")
    return seeds


def _check_rows(study: Study, rows: Any, missing: Sequence[int], cell: Mapping) -> None:
    """A study's rows must be one dict per missing seed holding exactly its declared columns."""
    where = f"study {study.name!r} cell {dict(cell)}"
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        raise ValueError(f"{where}: run_cell must return a list of dicts.")
    got = [r.get("seed") for r in rows]
    lacking = set(missing) - set(got)
    unasked = set(got) - set(missing)
    if lacking:
        raise ValueError(f"{where}: run_cell returned no row for seed {min(lacking)}.")
    if unasked:
        seed = sorted(unasked, key=str)[0]
        raise ValueError(f"{where}: run_cell returned a row for seed {seed!r}, not asked for.")
    if len(got) != len(missing):
        raise ValueError(f"{where}: run_cell returned more than one row for a seed.")
    allowed = set(study.columns) | {"seed"} | {p.name for p in study.params}
    for r in rows:
        absent = set(study.columns) - set(r)
        if absent:
            raise ValueError(f"{where}: run_cell rows lack column {sorted(absent)[0]!r}.")
        extra = set(r) - allowed
        if extra:
            raise ValueError(
                f"{where}: run_cell rows hold undeclared column {sorted(extra)[0]!r}; "
                "declare it in the study's columns."
            )


def _short_labels(cells: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each cell by the parameters that vary between ``cells`` (the first one if none do)."""
    if not cells:
        return []
    keys = [k for k in cells[0] if len({repr(c.get(k)) for c in cells}) > 1]
    keys = keys or list(cells[0])[:1]
    return [" ".join(f"{k}={c.get(k)}" for k in keys) for c in cells]


def _progress_bars(enabled: bool) -> Progress:
    """Two bars on stderr: cells, and the current cell as its runner reports it.

    On a non-terminal rich draws nothing while running and the final state once, so logs
    and pipes stay readable; stdout is left to tables and reports.
    """
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[note]}"),
        console=Console(stderr=True),
        disable=not enabled,
    )


def _store_cell(
    study: Study, store: _BriefStore, h: str, cell: Mapping[str, Any], missing: list[int],
    rows: list[dict], wall: float, dev: str, dt: str,
) -> int:  # fmt: skip
    """Check a cell's rows and write them with the sweep's bookkeeping; rows written."""
    _check_rows(study, rows, missing, cell)
    extra = {
        **cell,
        "config_hash": h,
        "study": study.name,
        "version": __version__,
        "torch": _torch_version(),
        "device": dev,
        "dtype": dt,
        "cell_wall_s": wall,
    }
    written = store.write_cell(
        study.table_name, study_schema(study), [{**r, **extra} for r in rows]
    )
    if store.on_cell is not None:
        store.on_cell(study.name, h, len(rows), wall)
    return written


def _torch_version() -> str:
    import torch

    return str(torch.__version__)


# How long the run waits for a reader's lock before it gives up on a commit: readers
# hold the store for moments, and a long run must not die of one slow reader.
_WRITER_WAIT_S = 600.0


class _BriefStore:
    """The store as a run uses it: opened for each read and each cell's commit, closed in
    between, so that ``show``, ``report`` and ``status`` can read it while the run goes on
    (DuckDB lets one process at a time hold the file; ``ResultStore`` waits for it).

    ``on_cell(study_name, config_hash, runs, wall_s)`` is called after a cell is stored.
    """

    def __init__(self, out_dir: str | Path, on_cell: Callable[..., None] | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.on_cell = on_cell

    def done_seeds(self, table: str, config_hash: str) -> set[int]:
        return self.done_seeds_many(table, [config_hash])[config_hash]

    def done_seeds_many(self, table: str, hashes: Sequence[str]) -> dict[str, set[int]]:
        with ResultStore(self.out_dir, wait=_WRITER_WAIT_S) as store:
            return {h: store.done_seeds(table, h) for h in hashes}

    def rows(self, table: str, exclude: Sequence[str] = ("params",)) -> list[dict]:
        with ResultStore(self.out_dir, wait=_WRITER_WAIT_S) as store:
            return store.rows(table, exclude=exclude)

    def write_cell(self, table: str, schema: Mapping[str, str], rows: Sequence[Mapping]) -> int:
        with ResultStore(self.out_dir, wait=_WRITER_WAIT_S) as store:
            return store.write_cell(table, schema, rows)


def _missing(study: Study, store: _BriefStore, h: str, seeds: int) -> list[int]:
    done = store.done_seeds(study.table_name, h)
    return [s for s in range(seeds) if s not in done]


def _run_cells(
    study: Study,
    cells: Mapping[str, Mapping[str, Any]],
    seeds: int,
    store: _BriefStore,
    ctx: RunContext,
    dev: str,
    dt: str,
) -> tuple[int, int]:
    """Compute and store the missing seeds of ``cells`` (hash -> config); (cells run, rows)."""
    cells_run = rows_written = 0
    for h, cell in cells.items():
        missing = _missing(study, store, h, seeds)
        if not missing:
            continue
        t_cell = time.perf_counter()
        rows = study.run_cell(dict(cell), missing, ctx)
        wall = time.perf_counter() - t_cell
        rows_written += _store_cell(study, store, h, cell, missing, rows, wall, dev, dt)
        cells_run += 1
    return cells_run, rows_written


def _worker_cell(name: str, cell: dict, missing: list[int], dev: str, dt: str,
                 threads: int) -> tuple[list[dict], float]:  # fmt: skip
    """One cell in a worker process: the registered study ``name``, ``threads`` torch
    threads, no progress; (rows, wall seconds)."""
    import torch

    from ..studies import get_study

    torch.set_num_threads(threads)
    t = time.perf_counter()
    rows = get_study(name).run_cell(cell, missing, RunContext(dev, dt))
    return rows, time.perf_counter() - t


def _parallel_ok(study: Study) -> str | None:
    """Why ``study`` cannot run its cells in worker processes (None: it can)."""
    from ..studies import studies
    from ..studies.protocol import Require

    if studies().get(study.name) is not study:  # the registry's own object, not a variant
        return f"study {study.name!r} is not registered (workers look studies up by name)"
    steps = getattr(getattr(study, "protocol", None), "steps", ())
    if any(isinstance(step, Require) for step in steps):
        return f"study {study.name!r} reads another study's stored runs (Require)"
    return None


def _run_parallel(
    study: Study,
    todo: Mapping[str, tuple[Mapping[str, Any], list[int]]],
    store: _BriefStore,
    jobs: int,
    dev: str,
    dt: str,
    on_done: Callable[[Mapping[str, Any]], None],
) -> tuple[int, int]:
    """The cells of ``todo`` (hash -> (cell, missing seeds)) in ``jobs`` worker processes
    (spawned; each with cores / jobs torch threads, at least 1), stored by this process
    as they finish."""
    import multiprocessing as mp
    import os
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = max(1, (os.cpu_count() or 1) // jobs)
    cells_run = rows_written = 0
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"))
    try:
        # the grid's last cells first: grids grow along their axes (k, width), so the
        # longest cells start early and the short ones fill the workers at the end
        futures = {pool.submit(_worker_cell, study.name, dict(c), m, dev, dt, threads): h
                   for h, (c, m) in reversed(todo.items())}  # fmt: skip
        for fut in as_completed(futures):
            h = futures[fut]
            rows, wall = fut.result()
            cell, missing = todo[h]
            rows_written += _store_cell(study, store, h, cell, missing, rows, wall, dev, dt)
            cells_run += 1
            on_done(cell)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return cells_run, rows_written


def _run_ray(
    study: Study,
    todo: Mapping[str, tuple[Mapping[str, Any], list[int]]],
    store: _BriefStore,
    address: str | None,
    dev: str,
    dt: str,
    on_done: Callable[[Mapping[str, Any]], None],
) -> tuple[int, int]:
    """The cells of ``todo`` as Ray tasks (one batched cell per task, one CPU and one torch
    thread each), stored by this process as they finish: the same worker function as
    ``--jobs``. Connects to the cluster at ``address`` ("auto": the one ``ray start``
    made on this machine; "HOST:PORT" or "ray://HOST:PORT": another), or uses the Ray
    already started in this process, or starts a local one with this machine's CPUs."""
    try:
        import ray
    except ImportError:
        raise ValueError(
            "the ray executor needs Ray, an optional extra: pip install -e '.[ray]' "
            "(or pip install ray)."
        ) from None
    import logging

    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.ERROR)  # fmt: skip
        except (ConnectionError, RuntimeError, ValueError) as err:
            where = f"at {address!r}" if address else "on this machine"
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ValueError(f"could not start or reach a Ray cluster {where}: {first}") from None
    cells_run = rows_written = 0
    try:
        task = ray.remote(num_cpus=1, max_retries=2)(_worker_cell)
        # the grid's last cells first, as with --jobs: the longest start early
        refs = {task.remote(study.name, dict(c), m, dev, dt, 1): h
                for h, (c, m) in reversed(todo.items())}  # fmt: skip
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                h = refs[ready[0]]
                rows, wall = ray.get(ready[0])
                cell, missing = todo[h]
                rows_written += _store_cell(study, store, h, cell, missing, rows, wall, dev, dt)
                cells_run += 1
                on_done(cell)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
    finally:
        if started_here:
            ray.shutdown()
    return cells_run, rows_written


EXECUTORS = ("local", "ray")
# From this many seeds per cell on, run_study estimates the run's memory (and time, from
# the store) before it starts and refuses a run that cannot fit. Estimating builds every
# cell's problem (a few seconds for the convex studies), which small runs need not pay:
# below this, a cell's runs fit in memory at every study's sizes (1,000 runs x 21,281
# parameters, quadratic-deep's largest, need about 3.3 GiB by the estimate).
ESTIMATE_FROM_SEEDS = 1000


def run_study(
    study: Study,
    overrides: Mapping[str, Sequence[Any]] | None,
    seeds: int,
    out_dir: str | Path,
    device: str = "cpu",
    dtype: str = "float64",
    progress: bool = True,
    jobs: int = 1,
    executor: str = "local",
    address: str | None = None,
) -> RunReport:
    """Compute every missing (cell, seed) of a study and store one row per run.

    Everything is validated before anything is computed or created: the grid (unknown
    parameters, bad values, forbidden combinations), ``seeds``, device, dtype, then the
    output folder (by writing a file in it).

    Args:
        study: the study.
        overrides: parameter name -> values, replacing the study's defaults.
        seeds: runs per cell; seeds ``0 .. seeds-1`` are run.
        out_dir: output folder; the store is ``out_dir/results.duckdb``.
        device: ``'cpu'`` or ``'cuda'``.
        dtype: ``'float64'`` or ``'float32'``.
        progress: draw progress bars on stderr.
        jobs: cells computed at once, each in its own worker process with cores / jobs
            torch threads (1: in this process). This process stays the only writer of
            the store and writes each cell as it finishes. Small cells cannot use two
            cores inside torch, so two jobs on two cores finish a table sooner. Studies
            that read another study's runs (``Require``) run in this process.
        executor: ``"local"`` (this machine: ``jobs``) or ``"ray"``: every cell a Ray
            task (one CPU, one torch thread), as many at once as the cluster has CPUs;
            this process stays the only writer, and resuming works the same way.
        address: the Ray cluster (``"auto"``, ``"HOST:PORT"``, ``"ray://HOST:PORT"``);
            None: the Ray already initialized in this process, else a local one.

    Returns:
        A ``RunReport``.

    Raises:
        ValueError: for any bad input above, or if the study's ``run_cell`` breaks its
            contract (wrong seeds or columns); cells finished before stay stored.
    """
    t0 = time.perf_counter()
    seeds = _check_seeds(seeds)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}.")
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}.")
    if executor == "ray" and jobs != 1:
        raise ValueError(
            "--jobs is for the local executor; with --executor ray the cluster runs as many "
            "cells at once as it has CPUs."
        )
    if executor != "ray" and address is not None:
        raise ValueError("--address is for --executor ray.")
    cells = study.cells(overrides)
    dev = str(resolve_device(device))
    dt = str(resolve_dtype(dtype)).removeprefix("torch.")
    study_schema(study)  # a bad column declaration fails before anything is computed
    # The same configuration given twice (--set k=6,6) is one cell.
    unique: dict[str, dict] = {}
    for cell in cells:
        unique.setdefault(config_hash(study.name, cell), cell)

    check_out_dir(out_dir)
    if seeds >= ESTIMATE_FROM_SEEDS:  # a large run: say what it will cost, refuse if it can't fit
        est = cost.estimate(study, unique, seeds, out_dir, jobs=jobs)
        if progress:
            print(est.describe(), file=sys.stderr, flush=True)
        cost.check_fits(est)
    hashes = list(unique)
    index = {h: i for i, h in enumerate(hashes)}
    terminal = Console(stderr=True).is_terminal
    cells_run = rows_written = 0
    labels = dict(zip(hashes, _short_labels(list(unique.values())), strict=True))
    # the writer lock first: a second run on this folder is refused before it reads or
    # creates anything
    with RunLock(out_dir, study.name, []) as lock, _progress_bars(progress and terminal) as bars:
        done: dict[str, set[int]] = {h: set() for h in hashes}
        if (Path(out_dir) / STORE_FILE).is_file():
            done = _BriefStore(out_dir).done_seeds_many(study.table_name, hashes)
        missing = {h: [s for s in range(seeds) if s not in done[h]] for h in hashes}
        lock.set_cells([(labels[h], len(missing[h])) for h in hashes])
        for i, h in enumerate(hashes):
            if not missing[h]:
                lock.cell_done(i, 0.0)
        finished = [sum(not m for m in missing.values())]

        def on_cell(name: str, h: str, runs: int, wall: float) -> None:
            if name != study.name or h not in index:  # a required study's cell
                return
            lock.cell_done(index[h], wall)
            finished[0] += 1
            if progress and not terminal:  # a log, a pipe, a batch job: one line per cell
                elapsed = time.perf_counter() - t0
                print(f"{study.name}: cell {finished[0]}/{len(hashes)} "
                      f"({labels[h]}): {runs} runs in {wall:.1f} s, "
                      f"{elapsed:.1f} s elapsed", file=sys.stderr, flush=True)  # fmt: skip

        store = _BriefStore(out_dir, on_cell)
        all_cells = bars.add_task(study.name, total=len(unique), note="")
        one_cell = bars.add_task("cell", total=None, note="")

        def hook(done: int, total: int, text: str) -> None:
            bars.update(one_cell, completed=done, total=total, note=text)

        def require(name: str, req_overrides: Mapping[str, Sequence[Any]], n: int) -> list[dict]:
            from ..studies import get_study

            other = get_study(name)
            req_cells: dict[str, dict] = {}
            for c in other.cells(req_overrides):
                req_cells.setdefault(config_hash(other.name, c), c)
            ctx = RunContext(dev, dt, progress=hook, require=require)
            _run_cells(other, req_cells, _check_seeds(n), store, ctx, dev, dt)
            wanted = set(req_cells)
            return [
                r
                for r in store.rows(other.table_name, exclude=())
                if r["config_hash"] in wanted and r["seed"] < n
            ]

        ctx = RunContext(dev, dt, progress=hook, require=require)
        if (executor == "ray" or jobs > 1) and _parallel_ok(study) is None:
            where = "ray" if executor == "ray" else f"{jobs} jobs"
            bars.update(one_cell, description=where, note="")

            def on_done(cell: Mapping[str, Any]) -> None:
                bars.advance(all_cells)

            todo = {h: (unique[h], missing[h]) for h in hashes if missing[h]}
            if executor == "ray":
                ran, written = _run_ray(study, todo, store, address, dev, dt, on_done)
            else:
                ran, written = _run_parallel(study, todo, store, jobs, dev, dt, on_done)
            cells_run, rows_written = ran, written
            bars.update(all_cells, completed=len(unique))
            unique_serial: dict[str, dict] = {}
        else:
            unique_serial = unique
        for h, cell in unique_serial.items():
            bars.reset(one_cell, total=None, description=labels[h], note="")
            ran, written = _run_cells(study, {h: cell}, seeds, store, ctx, dev, dt)
            cells_run += ran
            rows_written += written
            bars.advance(all_cells)
    return RunReport(
        cells_total=len(unique),
        cells_run=cells_run,
        cells_skipped=len(unique) - cells_run,
        rows_written=rows_written,
        wall_s=time.perf_counter() - t0,
        out_dir=Path(out_dir),
    )


def _stored_rows(study: Study, out_dir: str | Path) -> list[dict]:
    """The study's stored rows; ValueError telling the user to run it first if there are none."""
    hint = (
        f"no results for study {study.name!r} in {str(out_dir)!r}; "
        f"run it first with `landscope run {study.name} --out {out_dir}`."
    )
    if not (Path(out_dir) / STORE_FILE).is_file():
        raise ValueError(hint)
    with ResultStore(out_dir, read_only=True) as store:
        rows = store.rows(study.table_name)
    if not rows:
        raise ValueError(hint)
    # rows stored before the study gained a column read None there, as the store's own
    # ALTER TABLE gives them once the study writes again
    missing = [c for c in study_schema(study) if c not in rows[0]]
    if missing:
        rows = [{**dict.fromkeys(missing), **r} for r in rows]
    return rows


def show_study(study: Study, out_dir: str | Path) -> list[dict]:
    """The study's summary, one dict per cell, read from the store.

    Raises:
        ValueError: if the store holds no results of this study.
    """
    return study.summarize(_stored_rows(study, out_dir))
