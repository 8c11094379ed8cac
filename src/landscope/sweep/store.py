"""The results store: one DuckDB file per output folder, one table per study.

Every run of a study is one row keyed by ``(config_hash, seed)``. A cell's rows are
written in one transaction, so a process killed at any moment (``kill -9`` included)
leaves either the whole cell or nothing of it, and a row whose key is already stored is
skipped, so nothing is ever written twice.

This module knows nothing of torch (see DESIGN.md, "Rooms"): values that are numpy or
torch objects are turned into plain Python through their ``tolist`` method.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb

__all__ = ["STORE_FILE", "ResultStore", "check_out_dir"]

STORE_FILE = "results.duckdb"

# Rows per INSERT statement. One multi-row VALUES statement per chunk is ~6x faster than
# executemany (which runs the statement once per row); beyond ~100-200 rows per statement
# the gain flattens while the statement text keeps growing.
_ROWS_PER_STATEMENT = 200

# DuckDB type names as studies declare them: BIGINT, DOUBLE, VARCHAR, DOUBLE[], ...
# Types are spliced into DDL, so anything else is refused rather than quoted.
_TYPE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\(\d+(,\s*\d+)?\))?(\[\d*\])*$")

_KEY = ("config_hash", "seed")


def _ident(name: str) -> str:
    """Quote a table or column name for SQL."""
    return '"' + name.replace('"', '""') + '"'


def _first_line(err: BaseException) -> str:
    """DuckDB errors can span lines (hints, links); a one-sentence message keeps the first."""
    text = str(err).strip().splitlines()
    return text[0].rstrip(".") if text else type(err).__name__


# How long opening the store waits for another process's lock by default, in seconds.
_WAIT_S = 30.0


def _is_lock_conflict(err: BaseException) -> bool:
    """DuckDB's answer when another process holds the file: 'Could not set lock on file'."""
    return "lock" in str(err).lower() and "conflicting" in str(err).lower()


def _plain(value: Any) -> Any:
    """numpy / torch scalars and arrays -> Python numbers and lists (duck-typed, no torch)."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return value.tolist()
    return value


def check_out_dir(out_dir: str | Path) -> Path:
    """Create ``out_dir`` if needed and prove it is writable by creating a file in it.

    Args:
        out_dir: the output folder.

    Returns:
        The folder as a ``Path``.

    Raises:
        ValueError: if the folder cannot be created or a file cannot be written in it.
    """
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise ValueError(
            f"cannot write to output folder {str(path)!r} (it is a file); choose another --out."
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        # Permission bits do not tell the truth for root or on read-only mounts; writing does.
        with tempfile.NamedTemporaryFile(dir=path, prefix=".landscope-probe-"):
            pass
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise ValueError(
            f"cannot write to output folder {str(path)!r} ({reason}); choose another --out."
        ) from None
    return path


class ResultStore:
    """The DuckDB file ``out_dir/results.duckdb``.

    Args:
        out_dir: output folder; created if missing unless ``read_only``.
        read_only: open an existing store for reading only; nothing is created.
        wait: seconds to keep retrying while another process holds the file (default 30).
            ``landscope run`` opens the store only to read what is done and to commit a
            cell, and readers (``show``, ``report``, ``status``) only to read, so each
            holds it for moments: a run can be watched while it writes.

    Raises:
        ValueError: if the folder is not writable, the store does not exist (read-only),
            the file is not a DuckDB database (damaged), or another process holds it
            longer than ``wait``.
    """

    def __init__(
        self, out_dir: str | Path, *, read_only: bool = False, wait: float | None = None
    ) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / STORE_FILE
        if read_only:
            if not self.path.is_file():
                raise ValueError(f"there is no results store at {str(self.path)!r}.")
        else:
            check_out_dir(self.out_dir)
        self._con = None
        deadline = time.monotonic() + (wait if wait is not None else _WAIT_S)
        while True:
            try:
                self._con = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.Error as err:
                # A run opens the store only to commit a cell, and readers only to read
                # it: a lock held by another process is released within moments.
                if _is_lock_conflict(err) and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                if _is_lock_conflict(err):
                    raise ValueError(
                        f"the results store {str(self.path)!r} stayed locked by another "
                        "process; try again, or use another --out."
                    ) from None
                raise ValueError(
                    f"cannot open results store {str(self.path)!r} (it may be damaged or "
                    f"not a landscope store): {_first_line(err)}."
                ) from None

    # -- context manager -------------------------------------------------------------------

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._con is not None:
            self._con.close()
            self._con = None

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise ValueError(f"the results store {str(self.path)!r} is closed.")
        return self._con

    # -- reading ---------------------------------------------------------------------------

    def has_table(self, table: str) -> bool:
        """Whether ``table`` exists in the store."""
        n = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ?",
            [table],
        ).fetchone()[0]
        return n > 0

    def columns(self, table: str) -> list[str]:
        """Column names of ``table`` in order (empty if it does not exist)."""
        if not self.has_table(table):
            return []
        return [
            d[0] for d in self.con.execute(f"SELECT * FROM {_ident(table)} LIMIT 0").description
        ]

    def done_seeds(self, table: str, config_hash: str) -> set[int]:
        """Seeds already stored for one cell (empty if the table does not exist)."""
        if not self.has_table(table):
            return set()
        got = self.con.execute(
            f"SELECT seed FROM {_ident(table)} WHERE config_hash = ?", [config_hash]
        ).fetchall()
        return {int(s) for (s,) in got}

    def rows(self, table: str, exclude: Iterable[str] = ("params",)) -> list[dict]:
        """All rows of ``table`` as dicts, without the ``exclude`` columns.

        Rows come cell by cell, in the order the cells were first written, and by seed
        within a cell.

        Args:
            table: table name.
            exclude: columns left out (array columns are large and summaries skip them).

        Returns:
            One dict per row; an empty list if the table does not exist.
        """
        skip = set(exclude)
        cols = [c for c in self.columns(table) if c not in skip]
        if not cols:
            return []
        # INSERT ... ON CONFLICT does not keep the order of its VALUES, so order explicitly:
        # cells in the order they were first written, seeds ascending within a cell.
        sql = (
            f"SELECT {', '.join(map(_ident, cols))} FROM {_ident(table)} "
            "ORDER BY min(rowid) OVER (PARTITION BY config_hash), config_hash, seed"
        )
        return [dict(zip(cols, r, strict=True)) for r in self.con.execute(sql).fetchall()]

    # -- writing ---------------------------------------------------------------------------

    def write_cell(self, table: str, schema: Mapping[str, str], rows: Sequence[Mapping]) -> int:
        """Insert one cell's rows in one transaction.

        The table is created on first use with the columns of ``schema`` and
        ``PRIMARY KEY (config_hash, seed)``; columns the schema adds later are added to an
        existing table. A row whose key is already stored is skipped.

        Args:
            table: table name.
            schema: column name -> DuckDB type (``'DOUBLE[]'`` columns take lists); must
                hold ``config_hash`` and ``seed``.
            rows: dicts whose keys are schema columns; a missing key is stored as NULL.

        Returns:
            The number of rows inserted (rows already stored are not counted).

        Raises:
            ValueError: for a bad schema or row, or if DuckDB refuses the write; in every
                case nothing of the cell is written.
        """
        self._check_schema(schema)
        cols = list(schema)
        known = set(cols)
        values: list[list[Any]] = []
        seen: set[tuple[Any, Any]] = set()
        for row in rows:
            extra = set(row) - known
            if extra:
                raise ValueError(
                    f"row has column {sorted(extra)[0]!r}, "
                    f"which is not in the schema of table {table!r}."
                )
            key = (row.get("config_hash"), row.get("seed"))
            if key[0] is None or key[1] is None:
                raise ValueError(f"every row written to {table!r} needs a config_hash and a seed.")
            if key in seen:  # a duplicate inside the cell: keep the first, as for stored keys
                continue
            seen.add(key)
            values.append([_plain(row.get(c)) for c in cols])
        if not values:
            return 0

        con = self.con
        inserted = 0
        con.execute("BEGIN TRANSACTION")
        try:
            self._ensure_table(table, schema)
            col_sql = ", ".join(map(_ident, cols))
            one = "(" + ", ".join("?" * len(cols)) + ")"
            for start in range(0, len(values), _ROWS_PER_STATEMENT):
                chunk = values[start : start + _ROWS_PER_STATEMENT]
                # DuckDB answers an INSERT with the number of rows it actually inserted.
                inserted += con.execute(
                    f"INSERT INTO {_ident(table)} ({col_sql}) VALUES "
                    + ", ".join([one] * len(chunk))
                    + " ON CONFLICT DO NOTHING",
                    [v for row in chunk for v in row],
                ).fetchone()[0]
            con.execute("COMMIT")
        except duckdb.InterruptException:
            # Ctrl-C inside a DuckDB call arrives as a DuckDB error; it is still an interrupt.
            self._rollback()
            raise KeyboardInterrupt from None
        except duckdb.Error as err:
            self._rollback()
            raise ValueError(
                f"could not write to table {table!r} of {str(self.path)!r}: {_first_line(err)}."
            ) from None
        except BaseException:
            # KeyboardInterrupt and friends: leave nothing of the cell behind, then go on dying.
            self._rollback()
            raise
        return int(inserted)

    def _rollback(self) -> None:
        try:
            self.con.execute("ROLLBACK")
        except duckdb.Error:
            pass  # a COMMIT that failed has already ended the transaction: nothing to undo

    @staticmethod
    def _check_schema(schema: Mapping[str, str]) -> None:
        for key in _KEY:
            if key not in schema:
                raise ValueError(f"a results schema needs a {key!r} column.")
        for name, typ in schema.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"column names must be non-empty strings; got {name!r}.")
            if not isinstance(typ, str) or not _TYPE_RE.match(typ):
                raise ValueError(
                    f"column {name!r} has type {typ!r}, which is not a DuckDB type name."
                )

    def _ensure_table(self, table: str, schema: Mapping[str, str]) -> None:
        """Create ``table`` or add the schema's new columns (in the caller's transaction)."""
        have = self.columns(table)
        if not have:
            cols = ", ".join(f"{_ident(c)} {t}" for c, t in schema.items())
            key = ", ".join(map(_ident, _KEY))
            self.con.execute(f"CREATE TABLE {_ident(table)} ({cols}, PRIMARY KEY ({key}))")
            return
        for col, typ in schema.items():
            # A study that gained a column keeps its old rows (NULL there) rather than losing them.
            if col not in have:
                self.con.execute(f"ALTER TABLE {_ident(table)} ADD COLUMN {_ident(col)} {typ}")
