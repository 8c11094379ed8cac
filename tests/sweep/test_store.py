"""The results store: atomic cells, no duplicates, clear errors, fast bulk writes, no torch."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from landscope.sweep import STORE_FILE, ResultStore, check_out_dir
from landscope.sweep import store as store_module

SCHEMA = {"config_hash": "VARCHAR", "seed": "BIGINT", "loss": "DOUBLE", "params": "DOUBLE[]"}


def _rows(h: str, seeds, width: int = 3) -> list[dict]:
    return [
        {"config_hash": h, "seed": s, "loss": s / 10, "params": [float(s)] * width} for s in seeds
    ]


def _count(store: ResultStore, table: str = "t") -> int:
    return len(store.rows(table))


def test_roundtrip_with_array_column(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "out") as store:
        assert not store.has_table("t")
        assert store.rows("t") == []
        assert store.done_seeds("t", "h1") == set()
        assert store.write_cell("t", SCHEMA, _rows("h1", range(4))) == 4
        assert store.has_table("t")
        assert store.done_seeds("t", "h1") == {0, 1, 2, 3}
        assert store.done_seeds("t", "other") == set()
        rows = store.rows("t")
        assert [r["seed"] for r in rows] == [0, 1, 2, 3]
        assert "params" not in rows[0]  # array columns are left out by default
        full = store.rows("t", exclude=())
        assert full[2]["params"] == [2.0, 2.0, 2.0]
        assert full[2]["loss"] == pytest.approx(0.2)
    assert (tmp_path / "out" / STORE_FILE).is_file()


def test_numpy_values_are_stored_as_plain_numbers(tmp_path: Path) -> None:
    row = {
        "config_hash": "h",
        "seed": np.int64(3),
        "loss": np.float64(0.25),
        "params": np.arange(4.0),
    }
    with ResultStore(tmp_path) as store:
        store.write_cell("t", SCHEMA, [row])
        (got,) = store.rows("t", exclude=())
    assert got == {"config_hash": "h", "seed": 3, "loss": 0.25, "params": [0.0, 1.0, 2.0, 3.0]}


def test_existing_keys_are_skipped_never_duplicated(tmp_path: Path) -> None:
    with ResultStore(tmp_path) as store:
        assert store.write_cell("t", SCHEMA, _rows("h", [0, 1])) == 2
        # Seeds 0 and 1 again (other values), a new seed 2, and a duplicate within the call.
        again = _rows("h", [0, 1, 2, 2])
        for r in again:
            r["loss"] = -1.0
        assert store.write_cell("t", SCHEMA, again) == 1
        rows = store.rows("t")
    assert sorted(r["seed"] for r in rows) == [0, 1, 2]
    assert [r["loss"] for r in rows[:2]] == [0.0, 0.1]  # the first write wins


def test_a_failing_row_leaves_nothing_of_the_cell(tmp_path: Path) -> None:
    """One bad row in the second INSERT chunk: the first chunk must be rolled back too."""
    rows = _rows("h", range(450))
    rows[400]["loss"] = "not a number"
    with ResultStore(tmp_path) as store:
        with pytest.raises(ValueError, match="could not write to table 't'"):
            store.write_cell("t", SCHEMA, rows)
        assert not store.has_table("t")  # even the CREATE TABLE was undone
        store.write_cell("t", SCHEMA, _rows("other", [0]))
        with pytest.raises(ValueError):
            store.write_cell("t", SCHEMA, rows)
        assert store.done_seeds("t", "h") == set()
        assert _count(store) == 1


def test_interrupt_during_write_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A KeyboardInterrupt between two INSERT chunks leaves nothing of the cell."""
    monkeypatch.setattr(store_module, "_ROWS_PER_STATEMENT", 10)
    inserts = []

    class InterruptSecondInsert:
        """The real connection, except that the second INSERT statement is interrupted."""

        def __init__(self, real):
            self.real = real

        def __getattr__(self, name):
            return getattr(self.real, name)

        def execute(self, sql, *args):
            if sql.startswith("INSERT"):
                inserts.append(sql)
                if len(inserts) == 2:
                    raise KeyboardInterrupt
            return self.real.execute(sql, *args)

    with ResultStore(tmp_path) as store:
        store.write_cell("t", SCHEMA, _rows("other", [0]))
        store._con = InterruptSecondInsert(store.con)
        inserts.clear()
        with pytest.raises(KeyboardInterrupt):
            store.write_cell("t", SCHEMA, _rows("h", range(30)))
        assert len(inserts) == 2
        assert store.done_seeds("t", "h") == set()
        assert _count(store) == 1


def test_new_schema_columns_are_added(tmp_path: Path) -> None:
    with ResultStore(tmp_path) as store:
        store.write_cell("t", SCHEMA, _rows("h", [0]))
        wider = {**SCHEMA, "steps": "BIGINT"}
        store.write_cell("t", wider, [{**_rows("h", [1])[0], "steps": 7}])
        rows = store.rows("t")
    assert [r["steps"] for r in rows] == [None, 7]


@pytest.mark.parametrize(
    ("schema", "rows", "match"),
    [
        ({"seed": "BIGINT", "loss": "DOUBLE"}, [{"seed": 0}], "needs a 'config_hash' column"),
        ({**SCHEMA, "x": "DOUBLE; DROP TABLE t"}, [], "not a DuckDB type name"),
        (
            SCHEMA,
            [{"config_hash": "h", "seed": 0, "bogus": 1}],
            "column 'bogus', which is not in the schema",
        ),
        (SCHEMA, [{"config_hash": "h", "loss": 1.0}], "needs a config_hash and a seed"),
    ],
)
def test_bad_schema_or_rows(tmp_path: Path, schema, rows, match) -> None:
    with ResultStore(tmp_path) as store, pytest.raises(ValueError, match=match):
        store.write_cell("t", schema, rows)


def test_unwritable_or_impossible_out_dir(tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("not a folder")
    for bad in (a_file, a_file / "sub", tmp_path / "nul\0byte"):
        with pytest.raises(ValueError, match="cannot write to output folder") as err:
            ResultStore(bad)
        assert str(err.value).count(".") >= 1 and "\n" not in str(err.value)
    assert check_out_dir(tmp_path / "new" / "deep") == tmp_path / "new" / "deep"
    assert [p.name for p in (tmp_path / "new" / "deep").iterdir()] == []  # the probe is gone


def test_read_only_needs_an_existing_store(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="there is no results store"):
        ResultStore(tmp_path / "absent", read_only=True)
    assert not (tmp_path / "absent").exists()
    (tmp_path / STORE_FILE).write_text("garbage")
    with pytest.raises(ValueError, match="cannot open results store"):
        ResultStore(tmp_path)


@contextlib.contextmanager
def _held(out: Path, release_after: float | None = None) -> Iterator[None]:
    """Another process holding ``out``'s store open (DuckDB's file lock) for the block,
    or for ``release_after`` seconds of it."""
    ResultStore(out).close()
    release = "" if release_after is None else f"time.sleep({release_after}); c.close(); "
    code = ("import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            f"print('ready', flush=True); {release}time.sleep(30)")  # fmt: skip
    holder = subprocess.Popen([sys.executable, "-c", code, str(out / STORE_FILE)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ready"
        yield
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def test_a_store_held_by_another_process_is_a_clear_error(tmp_path: Path) -> None:
    with _held(tmp_path):
        t = time.monotonic()
        with pytest.raises(ValueError, match="stayed locked by another process") as err:
            ResultStore(tmp_path, read_only=True, wait=0.5)
        assert time.monotonic() - t >= 0.5  # it waited for the lock before giving up
        assert "\n" not in str(err.value)


def test_bulk_write_is_fast(tmp_path: Path) -> None:
    """1,000 rows with a 400-double array column in well under two seconds (~0.35 s measured)."""
    rng = np.random.default_rng(0)
    schema = {**SCHEMA, "verdict": "VARCHAR", "k": "BIGINT"}
    rows = [
        {
            "config_hash": "h",
            "seed": s,
            "loss": float(rng.random()),
            "verdict": "global_min",
            "k": 20,
            "params": rng.random(400).tolist(),
        }
        for s in range(1000)
    ]
    with ResultStore(tmp_path) as store:
        t0 = time.perf_counter()
        assert store.write_cell("t", schema, rows) == 1000
        elapsed = time.perf_counter() - t0
        back = store.rows("t", exclude=())
    assert back[999]["params"] == rows[999]["params"]  # doubles survive exactly
    assert elapsed < 2.0, f"writing 1000 rows took {elapsed:.2f} s"


def test_store_module_does_not_import_torch() -> None:
    """Load store.py on its own with torch made unimportable (DESIGN: the store knows no torch)."""
    code = (
        "import importlib.util, sys\n"
        "sys.modules['torch'] = None\n"
        f"path = {str(Path(store_module.__file__))!r}\n"
        "spec = importlib.util.spec_from_file_location('store', path)\n"
        "m = importlib.util.module_from_spec(spec); sys.modules['store'] = m\n"
        "spec.loader.exec_module(m)\n"
        "print(m.ResultStore.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ResultStore"


@pytest.mark.parametrize("module", ["landscope", "landscope.sweep", "landscope.sweep.store"])
def test_importing_the_store_through_the_package_loads_no_torch(module: str) -> None:
    """``import landscope.sweep.store`` runs both package ``__init__``s: they must stay lazy."""
    code = f"import sys, {module}; assert 'torch' not in sys.modules, 'torch was imported'"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_opening_waits_for_a_lock_that_is_released(tmp_path: Path) -> None:
    # `landscope run` holds the file only while it commits a cell: a reader (or the run,
    # when a reader holds it) waits for the lock instead of failing
    with _held(tmp_path, release_after=1.0):
        t = time.monotonic()
        with ResultStore(tmp_path, read_only=True, wait=20) as store:
            assert not store.has_table("anything")
        assert 0.5 < time.monotonic() - t < 20


def test_a_damaged_store_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / STORE_FILE).write_bytes(b"\x00not a database" * 100)
    for read_only in (True, False):
        with pytest.raises(ValueError, match="it may be damaged or not a landscope store") as e:
            ResultStore(tmp_path, read_only=read_only)
        assert "\n" not in str(e.value)
