"""``landscope export``: a study's stored runs as one Parquet or CSV file.

Every stored run of the study is one row of the file, with every column of the store:
the configuration, the sweep's bookkeeping, the study's results and the final parameters.
DuckDB writes the file itself (``COPY (SELECT ...) TO ...``), so nothing passes through
Python objects and no pandas or pyarrow is needed.

Parquet keeps every column's type, array columns (``params``) included as lists of
doubles. CSV has a header line; an array column is written as JSON text in one field
(``[0.5,-1.25]``, with ``NaN`` and ``Infinity`` as Python's ``json`` reads them), a NULL
as an empty field and an empty string as ``""``; numbers are written to round trip
exactly. Rows come in the store's order: cells in the order they were first written,
seeds ascending within a cell.

The file is written under a temporary name in its destination folder and renamed into
place when complete, so an interrupted or failed export leaves no half-written file.
This module knows nothing of torch.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from .store import STORE_FILE, ResultStore

if TYPE_CHECKING:  # the studies import torch; this module only names the type
    from ..studies import Study

__all__ = ["FORMATS", "export_path", "export_study"]

FORMATS = ("parquet", "csv")


def _ident(name: str) -> str:
    """Quote a table or column name for SQL."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    """Quote a string (a file name) as an SQL literal: COPY takes no bound parameters."""
    return "'" + text.replace("'", "''") + "'"


def _nested(duckdb_type: str) -> bool:
    """Whether a column of this DuckDB type holds a list, array, struct or map."""
    return "[" in duckdb_type or duckdb_type.startswith(("STRUCT", "MAP", "UNION"))


def export_path(study: Study, out_dir: str | Path, fmt: str) -> Path:
    """The default destination: ``out_dir/export/<table>.<fmt>``."""
    return Path(out_dir) / "export" / f"{study.table_name}.{fmt}"


def _select(store: ResultStore, table: str, fmt: str) -> str:
    """The query of every row and column, in the store's order (JSON text for CSV arrays)."""
    described = store.con.execute(f"DESCRIBE {_ident(table)}").fetchall()
    cols = []
    for name, typ, *_ in described:
        col = _ident(name)
        cols.append(f"to_json({col}) AS {col}" if fmt == "csv" and _nested(typ) else col)
    # the order of ResultStore.rows: cells as first written, seeds ascending
    return (
        f"SELECT {', '.join(cols)} FROM {_ident(table)} "
        "ORDER BY min(rowid) OVER (PARTITION BY config_hash), config_hash, seed"
    )


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    lines = str(err).strip().splitlines()
    return lines[0].rstrip(".") if lines else type(err).__name__


def export_study(
    study: Study, out_dir: str | Path, fmt: str = "parquet", dest: str | Path | None = None
) -> Path:
    """Write every stored run of ``study`` in ``out_dir`` to one Parquet or CSV file.

    Args:
        study: the study.
        out_dir: the output folder holding the results store.
        fmt: ``"parquet"`` or ``"csv"`` (see the module docstring for how CSV writes
            array columns).
        dest: the file to write (default ``out_dir/export/<table>.<fmt>``); its folder is
            created if missing, and an existing file is replaced.

    Returns:
        The path of the written file.

    Raises:
        ValueError: for an unknown format, when the store holds no runs of the study, when
            ``dest`` is a folder, or when the destination folder cannot be created or
            written; in every case no file is left behind.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.")
    hint = (
        f"no results for study {study.name!r} in {str(out_dir)!r}; "
        f"run it first with `landscope run {study.name} --out {out_dir}`."
    )
    if not (Path(out_dir) / STORE_FILE).is_file():
        raise ValueError(hint)
    target = export_path(study, out_dir, fmt) if dest is None else Path(dest)
    if target.is_dir():
        raise ValueError(
            f"the export destination {str(target)!r} is a folder; give a file name with --to."
        )
    with ResultStore(out_dir, read_only=True) as store:
        table = study.table_name
        if not store.has_table(table):
            raise ValueError(hint)
        if store.con.execute(f"SELECT count(*) FROM {_ident(table)}").fetchone()[0] == 0:
            raise ValueError(hint)
        query = _select(store, table, fmt)
        _write(store.con, query, fmt, target)
    return target


def _write(con: duckdb.DuckDBPyConnection, query: str, fmt: str, target: Path) -> None:
    """COPY ``query`` to a temporary file beside ``target``, then rename it into place."""
    folder = target.parent
    if folder.exists() and not folder.is_dir():
        raise ValueError(
            f"cannot write the export to folder {str(folder)!r} (it is a file); "
            "choose another --to."
        )
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # creating the temporary file proves the folder writable (permission bits do not
        # tell the truth for root or on read-only mounts)
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as err:
        raise ValueError(
            f"cannot write the export to folder {str(folder)!r} ({_reason(err)}); "
            "choose another --to."
        ) from None
    tmp = Path(tmp_name)
    options = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER"
    try:
        con.execute(f"COPY ({query}) TO {_literal(str(tmp))} ({options})")
        os.replace(tmp, target)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if created:
            try:
                folder.rmdir()  # only the folder this call made, and only while empty
            except OSError:
                pass
        if isinstance(err, duckdb.InterruptException):
            raise KeyboardInterrupt from None
        if isinstance(err, (duckdb.Error, OSError)):
            raise ValueError(
                f"could not write the export {str(target)!r}: {_reason(err)}."
            ) from None
        raise
