"""The ``landscope`` command: run / show / plot, and one clear sentence for every bad input."""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from landscope.cli import main
from landscope.sweep import ResultStore

TOY_SCRIPT = Path(__file__).parent / "sweep" / "toy_study.py"


@pytest.fixture(scope="module")
def toy_module():
    """tests/sweep/toy_study.py, which is also the script that subprocess tests run."""
    if "toy_study" in sys.modules:
        return sys.modules["toy_study"]
    spec = importlib.util.spec_from_file_location("toy_study", TOY_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["toy_study"] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def registry(toy_module):
    toy = toy_module.make_toy_study()
    return {toy.name: toy}


def run(registry, *argv) -> int:
    return main([str(a) for a in argv], registry=registry)


def error_sentence(capsys) -> str:
    """The one line on stderr, checked to be a single `landscope: error: ...` sentence."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("landscope: error: ")
    assert lines[0].endswith(".")
    return lines[0]


def test_studies_lists_one_line_each(registry, capsys) -> None:
    assert run(registry, "studies") == 0
    assert capsys.readouterr().out.splitlines() == ["toy  A closed-form study for tests."]


def test_studies_name_prints_doc_and_parameters(registry, capsys) -> None:
    assert run(registry, "studies", "toy") == 0
    out = capsys.readouterr().out
    assert out.startswith("A closed-form study for tests.\n")
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") == 5}
    assert set(rows) == {"a", "b", "c"}  # the header row is drawn with another glyph
    assert "1..3" in rows["a"] and "x,y" in rows["b"] and "0.5" in rows["c"]
    assert "an integer" in rows["a"]
    assert out.rstrip().endswith("default seeds per cell: 3")


def test_studies_unknown_name_is_one_sentence(registry, capsys) -> None:
    assert run(registry, "studies", "nope") == 2
    assert "unknown study 'nope'" in error_sentence(capsys)


def test_every_study_summary_is_one_line_of_its_doc() -> None:
    from landscope.studies import studies

    for name, study in studies().items():
        assert study.doc.strip().startswith(study.summary[:40]), name
        assert 20 < len(study.summary) <= 100, (name, study.summary)


def test_run_show_plot(registry, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert (
        run(
            registry,
            "run",
            "toy",
            "--set",
            "a=1..2",
            "--set",
            "b=x",
            "--seeds",
            4,
            "--out",
            out,
            "--quiet",
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].startswith(
        "toy: ran 2 of 2 cells (0 already done), wrote 8 rows"
    )
    assert "mean value" in printed and "% even" in printed  # the table follows

    # Default seeds come from the study (3 < 4 here, so nothing is missing).
    assert (
        run(registry, "run", "toy", "--set", "a=1..2", "--set", "b=x", "--out", out, "--quiet") == 0
    )
    assert "ran 0 of 2 cells (2 already done), wrote 0 rows" in capsys.readouterr().out

    assert run(registry, "show", "toy", "--out", out) == 0
    table = capsys.readouterr().out
    assert "1002.00" in table and "2002.00" in table and "50%" in table

    assert run(registry, "show", "toy", "--out", out, "--format", "json") == 0
    cells = json.loads(capsys.readouterr().out)
    assert [(c["a"], c["b"], c["runs"]) for c in cells] == [(1, "x", 4), (2, "x", 4)]
    assert cells[0]["missing"] is None and cells[0]["even"] == 0.5

    assert run(registry, "show", "toy", "--out", out, "--format", "csv") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["a"] for r in rows] == ["1", "2"] and rows[1]["value_mean"] == "2002.0"

    assert run(registry, "plot", "toy", "--out", out) == 0
    paths = [Path(p) for p in capsys.readouterr().out.split()]
    assert [p.suffix for p in paths] == [".png", ".svg"]
    assert all(p.parent == out / "figures" and p.is_file() for p in paths)


def test_progress_on_a_non_terminal(registry, tmp_path: Path, capsys) -> None:
    assert run(registry, "run", "toy", "--set", "a=1", "--seeds", 2, "--out", tmp_path) == 0
    assert "ran 2 of 2 cells" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["run", "nope"], "unknown study 'nope'; known studies: toy"),
        (["show", "nope"], "unknown study 'nope'"),
        (["run", "toy", "--set", "z=1"], "has no parameter 'z'; its parameters are a, b, c"),
        (["run", "toy", "--set", "a"], "--set takes key=values"),
        (["run", "toy", "--set", "=3"], "--set takes key=values"),
        (["run", "toy", "--set", "a=x"], "a takes int values; 'x' is not one"),
        (["run", "toy", "--set", "a=1,,2"], "empty value"),
        (["run", "toy", "--set", "a=3..1"], "empty range"),
        (["run", "toy", "--set", "c=1..2"], "ranges a..b are for integer parameters"),
        (["run", "toy", "--set", "a=0"], "a must be at least 1; got 0"),
        (["run", "toy", "--set", "a=1", "--set", "a=2"], "set twice"),
        (["run", "toy", "--set", "a=60", "--set", "b=y"], "not allowed with b='y'"),
        (["run", "toy", "--seeds", "0"], "seeds must be a positive integer; got 0"),
        (["run", "toy", "--seeds", "-5"], "seeds must be a positive integer; got -5"),
        (["run", "toy", "--dtype", "float16"], "unknown dtype 'float16'"),
        (["run", "toy", "--device", "tpu"], "device"),
    ],
)
def test_bad_input_is_one_sentence_exit_2_and_writes_nothing(
    registry, tmp_path: Path, capsys, argv, words
) -> None:
    out = tmp_path / "out"
    quiet = ["--quiet"] if argv[0] == "run" else []
    assert run(registry, *argv, "--out", out, *quiet) == 2
    assert words in error_sentence(capsys)
    assert not out.exists()


def test_bad_input_leaves_an_existing_store_untouched(registry, tmp_path: Path, capsys) -> None:
    assert (
        run(registry, "run", "toy", "--set", "a=1", "--seeds", 2, "--out", tmp_path, "--quiet") == 0
    )
    capsys.readouterr()
    with ResultStore(tmp_path, read_only=True) as store:
        before = store.rows("toy", exclude=())
    for argv in (["--set", "a=1,0"], ["--set", "a=2", "--seeds", "0"], ["--dtype", "half"]):
        assert run(registry, "run", "toy", *argv, "--out", tmp_path, "--quiet") == 2
        error_sentence(capsys)
    with ResultStore(tmp_path, read_only=True) as store:
        assert store.rows("toy", exclude=()) == before


def test_unwritable_out(registry, tmp_path: Path, capsys) -> None:
    """Tests run as root, for whom chmod blocks nothing: use a path whose parent is a file."""
    (tmp_path / "file").write_text("")
    for out in (tmp_path / "file" / "out", tmp_path / "file"):
        assert run(registry, "run", "toy", "--out", out, "--quiet") == 2
        assert "cannot write to output folder" in error_sentence(capsys)


def test_show_and_plot_before_run(registry, tmp_path: Path, capsys) -> None:
    for cmd in ("show", "plot"):
        assert run(registry, cmd, "toy", "--out", tmp_path / "empty") == 2
        assert "run it first with `landscope run toy" in error_sentence(capsys)
    assert not (tmp_path / "empty").exists()


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["run"],
        ["show", "toy", "--format", "xml"],
        ["run", "toy", "--seeds", "many"],
    ],
)
def test_argparse_errors_exit_2(registry, capsys, argv) -> None:
    assert run(registry, *argv) == 2
    assert "usage: landscope" in capsys.readouterr().err


def test_help_exits_0(registry, capsys) -> None:
    assert run(registry, "run", "--help") == 0
    assert "--seeds" in capsys.readouterr().out


def test_ctrl_c_keeps_finished_cells_and_exits_130(registry, tmp_path: Path, capsys) -> None:
    toy = registry["toy"]
    calls = []

    def interrupted_on_second_cell(cfg, seeds, ctx):
        calls.append(cfg)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return toy.run_cell(cfg, seeds, ctx)

    flaky = {"toy": dataclasses.replace(toy, run_cell=interrupted_on_second_cell)}
    assert run(flaky, "run", "toy", "--seeds", 2, "--out", tmp_path, "--quiet") == 130
    err = capsys.readouterr().err
    assert "finished cells are kept" in err and "Traceback" not in err
    with ResultStore(tmp_path, read_only=True) as store:
        assert len(store.rows("toy")) == 2


@pytest.mark.slow
def test_real_process_bad_input_exit_2_without_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(TOY_SCRIPT),
            "run",
            "toy",
            "--set",
            "a=oops",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "landscope: error: a takes int values; 'oops' is not one."
    assert not (tmp_path / "o").exists()


# --- issue 19: the uncertainty of every fraction, and every parameter that differs


def _declared_toy(toy_module, c_from_a: bool = False) -> dict:
    """The toy study with a declared summary: ``even`` is a share (so it carries its 95 %
    interval) and the cell's parameters are its keys; ``c_from_a``: the summary's c is a
    copy of a (a parameter printed under another column's header)."""
    from landscope.studies.summary import Agg, SummarySpec

    toy = toy_module.make_toy_study()
    spec = SummarySpec(
        keys=("a", "b", "c"),
        aggs=(Agg("value_mean", "value"), Agg("even", "parity", "share", ("even",))),
        derived=(("missing", lambda s: None), *((("c", lambda s: s["a"]),) if c_from_a else ())),
        sort=lambda s: (s["a"], s["b"], s["c"]),
    )
    results = dataclasses.replace(toy.results, summarize=spec)
    return {"toy": dataclasses.replace(toy, results=results)}


def _table_rows(text: str) -> list[list[str]]:
    """The header and body rows of a rich table (heavy-head box), cells stripped."""
    return [
        [cell.strip() for cell in line.strip()[1:-1].split(line.strip()[0])]
        for line in text.splitlines()
        if line.strip()[:1] in ("┃", "│")
    ]


def test_cell_text_prints_an_interval_compactly() -> None:
    from landscope.cli import _cell_text
    from landscope.studies.summary import wilson

    assert _cell_text(0.07, ".1%", wilson(7, 100)) == "7.0% (3-14)"
    assert _cell_text(1.0, ".0%", wilson(20, 20)) == "100% (84-100)"
    assert _cell_text(0.07, ".2f", (0.034, 0.138)) == "0.07 (0.03-0.14)"
    assert _cell_text(0.5, ".0%", (None, None)) == "50%"  # no interval to print
    assert _cell_text(None, ".0%", (None, None)) == "-"
    assert _cell_text(0.5, ".0%") == "50%"


def test_show_prints_intervals_and_every_parameter_that_differs(
    toy_module, tmp_path: Path, capsys
) -> None:
    from landscope.studies.summary import percent_range, wilson

    toy = _declared_toy(toy_module)
    out = tmp_path / "out"
    # two cells that differ only in c, which the toy's table does not print
    argv = ["run", "toy", "--set", "a=1", "--set", "b=x", "--set", "c=0.5,1.5", "--seeds", 4]
    assert run(toy, *argv, "--out", out, "--quiet") == 0
    capsys.readouterr()
    assert run(toy, "show", "toy", "--out", out) == 0
    header, *rows = _table_rows(capsys.readouterr().out)
    # c gets a column after the last parameter the table prints (b)
    assert header == ["a", "b", "c", "runs", "mean value", "% even", "missing"]
    # seeds 0..3: two even of four, 50 % within 15 .. 85 %
    even = f"50% ({percent_range(*wilson(2, 4))})"
    assert even == "50% (15-85)"
    assert rows == [
        ["1", "x", "0.5", "4", "1002.00", even, "-"],
        ["1", "x", "1.5", "4", "1003.00", even, "-"],
    ]
    # json and csv carry the interval's ends as numbers
    assert run(toy, "show", "toy", "--out", out, "--format", "json") == 0
    cells = json.loads(capsys.readouterr().out)
    assert [(c["c"], c["even"], c["even_lo"], c["even_hi"]) for c in cells] == [
        (c, 0.5, *wilson(2, 4)) for c in (0.5, 1.5)
    ]
    assert run(toy, "show", "toy", "--out", out, "--format", "csv") == 0
    got = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [float(r["even_lo"]) for r in got] == [wilson(2, 4)[0]] * 2
    assert [float(r["even_hi"]) for r in got] == [wilson(2, 4)[1]] * 2

    # one value of c: no column for it
    single = tmp_path / "single"
    assert run(toy, "run", "toy", "--set", "a=1,2", "--seeds", 2, "--out", single, "--quiet") == 0
    capsys.readouterr()
    assert run(toy, "show", "toy", "--out", single) == 0
    header, *rows = _table_rows(capsys.readouterr().out)
    assert "c" not in header and len(rows) == 4
    # a parameter whose values are a printed column's, row for row, is shown already
    assert run(_declared_toy(toy_module, c_from_a=True), "show", "toy", "--out", out) == 0
    header, *_ = _table_rows(capsys.readouterr().out)
    assert "c" not in header


def test_show_fits_a_narrow_terminal(toy_module, tmp_path: Path, capsys, monkeypatch) -> None:
    toy = _declared_toy(toy_module)
    argv = ["run", "toy", "--set", "a=1,2", "--set", "c=0.5,1.5", "--seeds", 4]
    assert run(toy, *argv, "--out", tmp_path, "--quiet") == 0
    capsys.readouterr()
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich takes stdout for a terminal
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    assert run(toy, "show", "toy", "--out", tmp_path) == 0
    wide = capsys.readouterr().out
    # wide enough: the usual table, an interval in its value's cell
    assert "│ 50% (15-85) │" in wide
    # 50 columns: no rules, one space between columns, the interval under its value
    monkeypatch.setenv("COLUMNS", "50")
    assert run(toy, "show", "toy", "--out", tmp_path) == 0
    narrow = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in capsys.readouterr().out.splitlines()]
    assert max(len(line) for line in narrow) <= 50
    assert "…" not in "".join(narrow) and "│" not in "".join(narrow)
    (head,) = [line for line in narrow if line.split()[:3] == ["a", "b", "c"]]
    assert head.split() == ["a", "b", "c", "runs", "value", "%", "even", "missing"]  # mean above
    values = [line.split() for line in narrow if line.split()[:2] == ["1", "x"]]
    assert [v[:3] + v[-2:] for v in values] == [["1", "x", "0.5", "50%", "-"],
                                                ["1", "x", "1.5", "50%", "-"]]  # fmt: skip
    assert sum(line.strip() == "(15-85)" for line in narrow) == 8  # one per row


# --- issue 20: the command line, without surprises


def test_version(registry, capsys) -> None:
    from landscope import __version__

    assert run(registry, "--version") == 0
    assert capsys.readouterr().out == f"landscope {__version__}\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "toy", "--quiet"],
        ["show", "toy"],
        ["plot", "toy"],
        ["report"],
        ["export", "toy"],
        ["status"],
        ["spectrum", "toy"],
        ["connect", "toy", 0, 1],
    ],
)
def test_empty_out_is_refused(registry, tmp_path: Path, capsys, monkeypatch, argv) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(registry, *argv, "--out", "") == 2
    assert (
        error_sentence(capsys) == "landscope: error: --out needs a folder name; got an empty one."
    )
    assert list(tmp_path.iterdir()) == []


def test_writers_check_the_folder_before_computing(
    registry, tmp_path: Path, capsys, monkeypatch
) -> None:
    """A read-only folder (simulated: chmod stops nothing for root) ends every command that
    writes with one sentence, before it computes anything."""
    import errno
    import tempfile

    import landscope.cli as cli

    assert (
        run(registry, "run", "toy", "--set", "a=1", "--seeds", 2, "--out", tmp_path, "--quiet") == 0
    )
    capsys.readouterr()

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    def computed(*args, **kwargs):
        raise AssertionError("computed before checking that it can write")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", read_only)
    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    for name in ("plot_study", "spectrum_of", "connect_runs", "run_study"):
        monkeypatch.setattr(cli, name, computed)
    for argv in (["plot", "toy"], ["spectrum", "toy"], ["connect", "toy", 0, 1], ["report"],
                 ["export", "toy"]):  # fmt: skip
        assert run(registry, *argv, "--out", tmp_path) == 2, argv
        sentence = error_sentence(capsys)
        assert "cannot write" in sentence and "Read-only file system" in sentence, sentence
    monkeypatch.undo()
    assert not (tmp_path / "figures").exists()  # the check leaves no folder behind
    # a file where the figures go: plot stops before drawing
    (tmp_path / "figures").write_text("")
    assert run(registry, "plot", "toy", "--out", tmp_path) == 2
    assert "(it is a file)" in error_sentence(capsys)


def _diverging_toy(toy_module, diverged) -> dict:
    """The declared toy study whose summary counts ``diverged(cell summary)`` runs."""
    from landscope.studies.summary import SummarySpec

    toy = _declared_toy(toy_module)["toy"]
    spec = toy.results.summarize
    spec = SummarySpec(
        keys=spec.keys,
        aggs=spec.aggs,
        derived=(*spec.derived, ("diverged", diverged)),
        sort=spec.sort,
    )
    return {
        "toy": dataclasses.replace(toy, results=dataclasses.replace(toy.results, summarize=spec))
    }


def test_show_adds_a_diverged_column_when_runs_diverged(toy_module, tmp_path: Path, capsys) -> None:
    some = _diverging_toy(toy_module, lambda s: 0.25 if s["a"] == 2 else 0.0)
    assert run(some, "run", "toy", "--set", "a=1,2", "--set", "b=x", "--seeds", 4,
               "--out", tmp_path, "--quiet") == 0  # fmt: skip
    capsys.readouterr()
    assert run(some, "show", "toy", "--out", tmp_path) == 0
    header, *rows = _table_rows(capsys.readouterr().out)
    # after the last fraction column
    assert header == ["a", "b", "runs", "mean value", "% even", "diverged", "missing"]
    assert [r[5] for r in rows] == ["0%", "25%"]
    assert run(some, "show", "toy", "--out", tmp_path, "--format", "json") == 0
    assert [c["diverged"] for c in json.loads(capsys.readouterr().out)] == [0.0, 0.25]
    none = _diverging_toy(toy_module, lambda s: 0.0)
    assert run(none, "show", "toy", "--out", tmp_path) == 0
    header, *_ = _table_rows(capsys.readouterr().out)
    assert "diverged" not in header


def test_diverged_runs_of_spurious_relu_are_shown_without_warnings(tmp_path: Path, capsys) -> None:
    """step=1e308 diverges at the first step: every verdict fraction is 0 %, the runs are
    counted as diverged, and no numpy overflow warning escapes (warnings are errors here)."""
    argv = ["run", "spurious-relu", "--set", "k=3", "--set", "extra=0", "--set", "step=1e308"]
    assert main([*argv, "--seeds", "3", "--out", str(tmp_path), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["show", "spurious-relu", "--out", str(tmp_path), "--format", "json"]) == 0
    (cell,) = json.loads(capsys.readouterr().out)
    assert cell["diverged"] == 1.0 and cell["global"] == 0.0
    assert main(["show", "spurious-relu", "--out", str(tmp_path)]) == 0
    header, row = _table_rows(capsys.readouterr().out)
    assert row[header.index("diverged")].startswith("100%")


def _worst_summary(study) -> list[dict]:
    """Two summary rows that make the study's table as wide as it gets: every parameter
    with two values where its default has them, every number long in its format."""
    rows = []
    for n, value in enumerate((-0.000123456789, 12345.6789)):
        row: dict = {p.name: p.default[-n] for p in study.params}
        for key, _header, spec in study.table:
            if key in row:
                continue
            if spec.endswith("%"):
                row[key], row[f"{key}_lo"], row[f"{key}_hi"] = 0.123456, 0.0512, 0.999
            elif spec in ("", "d"):
                row[key] = 123456
            else:
                row[key] = value
        rows.append(row)
    return rows


def test_every_study_table_fits_80_columns_without_cut_numbers(capsys, monkeypatch) -> None:
    from landscope.cli import _cell_text, _print_table
    from landscope.studies import studies

    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich takes stdout for a terminal
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "80")
    for name, study in studies().items():
        summary = _worst_summary(study)
        _print_table(study, summary)
        lines = [
            re.sub(r"\x1b\[[0-9;]*m", "", line) for line in capsys.readouterr().out.splitlines()
        ]
        text = "\n".join(lines)
        assert "…" not in text, (name, text)
        assert max(len(line) for line in lines) <= 80, name
        words = set(text.split())
        for row in summary:
            for key, _header, spec in study.table:
                interval = (row[f"{key}_lo"], row[f"{key}_hi"]) if f"{key}_lo" in row else None
                cell = _cell_text(row.get(key), spec, interval)
                assert set(cell.split()) <= words, (name, key, cell)


def test_json_of_every_certifying_study_counts_diverged_runs() -> None:
    # show --format json carries `diverged` for every cell of the studies whose runs are
    # certified (their verdict column can say "diverged")
    from landscope.studies import studies as registered
    from landscope.studies.summary import Agg

    for name in ("spurious-relu", "quadratic-nets", "quadratic-deep", "convex-relu", "convex-bn"):
        spec = registered()[name].results.summarize
        aggs = getattr(spec, "aggs", ())
        keys = {a.key for a in aggs if isinstance(a, Agg)}
        assert "diverged" in keys, name
