"""``landscope export``: Parquet and CSV files equal to the store, written whole or not at all."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import duckdb
import pytest

from landscope.cli import main
from landscope.studies import get_study
from landscope.sweep import STORE_FILE, ResultStore
from landscope.sweep.export import export_study
from landscope.sweep.runner import run_study

STUDY = get_study("spurious-relu")


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real store: spurious-relu, cells k = 4 and 5 with n = k, 6 seeds each (seconds)."""
    out = tmp_path_factory.mktemp("export-store")
    run_study(STUDY, {"k": [4, 5], "extra": [0]}, 6, out, progress=False)
    return out


@pytest.fixture
def own_store(store_dir: Path, tmp_path: Path) -> Path:
    """A copy of the store that a test may write its default export folder into."""
    out = tmp_path / "results"
    shutil.copytree(store_dir, out)
    return out


def stored(out: Path) -> tuple[list[str], list[dict]]:
    with ResultStore(out, read_only=True) as store:
        return store.columns(STUDY.table_name), store.rows(STUDY.table_name, exclude=())


def same(a: object, b: object) -> bool:
    """Equality with NaN equal to NaN, element by element in lists."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def from_csv(text: str, like: object) -> object:
    """A CSV field read back as the type of the stored value ``like``."""
    if like is None:
        return None if text == "" else text
    if isinstance(like, list):
        return json.loads(text)
    return type(like)(text)


def assert_rows_equal(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want) == 12
    for g, w in zip(got, want, strict=True):
        assert list(g) == list(w)
        bad = [k for k in w if not same(g[k], w[k])]
        assert not bad, f"seed {w['seed']}: {bad[0]} {g[bad[0]]!r} != {w[bad[0]]!r}"


def test_parquet_holds_every_row_and_column_of_the_store(store_dir: Path, tmp_path: Path) -> None:
    path = export_study(STUDY, store_dir, "parquet", tmp_path / "runs.parquet")
    assert path == tmp_path / "runs.parquet"
    rel = duckdb.sql(f"SELECT * FROM read_parquet('{path}')")
    got = [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]
    cols, want = stored(store_dir)
    assert rel.columns == cols and "params" in cols and "k" in cols
    assert_rows_equal(got, want)
    # the parameters as lists of doubles: P = k n = k^2 per run
    assert all(len(r["params"]) == r["k"] ** 2 for r in got)
    assert {r["k"] for r in got} == {4, 5}


def test_csv_holds_every_row_with_arrays_as_json(store_dir: Path, tmp_path: Path) -> None:
    path = export_study(STUDY, store_dir, "csv", tmp_path / "runs.csv")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames
        raw = list(reader)
    cols, want = stored(store_dir)
    assert header == cols
    got = [{k: from_csv(r[k], w[k]) for k in cols} for r, w in zip(raw, want, strict=True)]
    assert_rows_equal(got, want)
    assert raw[0]["params"].startswith("[") and json.loads(raw[0]["params"]) == want[0]["params"]


def test_default_destination_and_no_leftovers(own_store: Path) -> None:
    for fmt in ("parquet", "csv"):
        path = export_study(STUDY, own_store, fmt)
        assert path == own_store / "export" / f"spurious_relu.{fmt}"
        assert path.stat().st_size > 0
    # the temporary files were renamed into place: nothing else in the folder
    assert sorted(p.name for p in (own_store / "export").iterdir()) == [
        "spurious_relu.csv",
        "spurious_relu.parquet",
    ]


def test_an_existing_file_is_replaced(store_dir: Path, tmp_path: Path) -> None:
    dest = tmp_path / "runs.csv"
    dest.write_text("old\n")
    export_study(STUDY, store_dir, "csv", dest)
    assert dest.read_text().startswith("extra,k,")


def test_cli_prints_the_path(own_store: Path, tmp_path: Path, capsys) -> None:
    assert main(["export", "spurious-relu", "--out", str(own_store)]) == 0
    assert capsys.readouterr().out.strip() == str(own_store / "export" / "spurious_relu.parquet")
    dest = tmp_path / "new" / "folder" / "runs.csv"
    argv = ["export", "spurious-relu", "--out", str(own_store), "--format", "csv"]
    assert main([*argv, "--to", str(dest)]) == 0
    assert capsys.readouterr().out.strip() == str(dest) and dest.is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "{empty}"], "no results for study 'spurious-relu'"),
        (["--out", "{store}", "--to", "{tmp}"], "is a folder"),
        (["--out", "{store}", "--to", "{file}/runs.csv"], "(it is a file)"),
        (["--out", "{store}", "--format", "xml"], "invalid choice"),
    ],
)
def test_cli_bad_input_exits_2(
    args: list[str], message: str, store_dir: Path, tmp_path: Path, capsys
) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "empty").mkdir()
    where = {
        "empty": tmp_path / "empty",
        "store": store_dir,
        "tmp": tmp_path,
        "file": tmp_path / "file",
    }
    argv = ["export", "spurious-relu", *[a.format(**where) for a in args]]
    before = sorted(tmp_path.rglob("*"))
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert sorted(tmp_path.rglob("*")) == before


def test_bad_inputs_are_one_sentence(store_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match=r"^unknown export format 'json'; use one of parquet, csv\.$"
    ):
        export_study(STUDY, store_dir, "json")
    with pytest.raises(ValueError, match=r"^no results for study 'spurious-relu' in .*`\.$"):
        export_study(STUDY, tmp_path, "csv")
    # a store that holds other studies only
    with pytest.raises(ValueError, match=r"^no results for study 'recovery'"):
        export_study(get_study("recovery"), store_dir, "csv", tmp_path / "r.csv")
    with pytest.raises(ValueError, match=r"is a folder; give a file name with --to\.$"):
        export_study(STUDY, store_dir, "csv", tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert not (store_dir / "export").exists() and (store_dir / STORE_FILE).is_file()


def test_a_failed_copy_leaves_nothing(store_dir: Path, tmp_path: Path, monkeypatch) -> None:
    import landscope.sweep.export as export

    monkeypatch.setattr(export, "_select", lambda store, table, fmt: "SELECT * FROM no_such")
    dest = tmp_path / "new" / "runs.parquet"
    with pytest.raises(ValueError, match=r"^could not write the export .*runs\.parquet'"):
        export_study(STUDY, store_dir, "parquet", dest)
    assert list(tmp_path.iterdir()) == []
