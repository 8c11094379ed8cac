"""Find one stored run of a study: the cell pinned by parameter values, and a seed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..studies import Study
from .store import STORE_FILE, ResultStore, _ident

__all__ = ["stored_run"]


def _describe(pins: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in pins.items()) or "no --set values"


def stored_run(study: Study, out_dir: str | Path, pins: Mapping[str, Any], seed: int) -> dict:
    """The stored row (with its ``params`` column) of one run of ``study``.

    Args:
        study: the study.
        out_dir: output folder holding ``results.duckdb``.
        pins: parameter name -> one value; together they must single out one cell among
            the stored ones (parameters that all matching cells share need no pin).
        seed: the run's seed.

    Returns:
        The row as a dict, every stored column included.

    Raises:
        ValueError: if there is no store or no such run, or if the pins match several
            stored cells (the sentence names the parameters still to pin and their values).
    """
    for key in pins:
        study.param(key)  # unknown names raise
    run_first = (
        f"no results for study {study.name!r} in {str(out_dir)!r}; "
        f"run it first with `landscope run {study.name} --out {out_dir}`."
    )
    if not (Path(out_dir) / STORE_FILE).is_file():
        raise ValueError(run_first)
    table = study.table_name
    with ResultStore(out_dir, read_only=True) as store:
        have = store.columns(table)
        if not have:
            raise ValueError(run_first)
        names = [p.name for p in study.params if p.name in have]
        for key in pins:
            if key not in have:
                raise ValueError(
                    f"the stored runs of {study.name!r} have no column {key!r} to match "
                    "(they were written by an older version of the study)."
                )
        where = " AND ".join(f"{_ident(k)} = ?" for k in pins)
        sql = (
            f"SELECT DISTINCT config_hash, {', '.join(map(_ident, names))} "
            f"FROM {_ident(table)}" + (f" WHERE {where}" if pins else "")
        )
        cells = store.con.execute(sql, list(pins.values())).fetchall()
        if not cells:
            raise ValueError(
                f"no stored run of {study.name!r} matches {_describe(pins)} in "
                f"{str(out_dir)!r}; `landscope show {study.name} --out {out_dir}` lists the "
                "stored cells."
            )
        if len(cells) > 1:
            differ = []
            for i, name in enumerate(names, start=1):
                values = sorted({c[i] for c in cells}, key=lambda v: (v is None, str(v)))
                if len(values) > 1:
                    differ.append(f"{name} (one of {', '.join(map(str, values))})")
            which = f"match {_describe(pins)}" if pins else "are stored"
            raise ValueError(
                f"{len(cells)} cells of {study.name!r} {which}; "
                f"pin one with --set for {'; '.join(differ)}."
            )
        cfg_hash = cells[0][0]
        cur = store.con.execute(
            f"SELECT * FROM {_ident(table)} WHERE config_hash = ? AND seed = ?",
            [cfg_hash, int(seed)],
        )
        got = cur.fetchone()
        if got is None:
            seeds = [
                s
                for (s,) in store.con.execute(
                    f"SELECT seed FROM {_ident(table)} WHERE config_hash = ? ORDER BY seed",
                    [cfg_hash],
                ).fetchall()
            ]
            shown = ", ".join(map(str, seeds[:10])) + (", ..." if len(seeds) > 10 else "")
            raise ValueError(
                f"the cell of {study.name!r} with {_describe(pins)} has no seed {seed}; "
                f"its stored seeds are {shown}."
            )
        cols = [d[0] for d in cur.description]
    return dict(zip(cols, got, strict=True))
