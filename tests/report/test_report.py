"""``landscope report``: pages and files, escaping, provenance, bad inputs, atomic writes."""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path

import pytest

import landscope.plot
from landscope import __version__
from landscope.cli import main
from landscope.plot import plot_study
from landscope.report import write_report
from landscope.report.provenance import (
    cell_provenance,
    default_text,
    describe_setting,
    protocol_settings,
    seed_ranges,
)
from landscope.report.table import summary_table
from landscope.report.text import doc_blocks, inline_code
from landscope.studies import Grid, Param, Results, RunContext, Study, get_study
from landscope.studies.figures import line_chart
from landscope.sweep import ResultStore, run_study, show_study

HOSTILE = "<script>alert(1)</script>"
DOC = """A study whose text is <b>bold</b> & "quoted".

More with ``<i>code</i>`` in it::

    landscope run evil <script>

1. first item,
   continued
2. second item
"""


def make_evil_study() -> Study:
    """A study without training whose labels, headers and doc are full of markup."""

    def run_cell(cfg: dict, seeds: Sequence[int], ctx: RunContext) -> list[dict]:
        return [
            {"seed": s, "value": cfg["a"] + s / 10, "hit": s % 2 == 0, "my_tol": 1e-7}
            for s in seeds
        ]

    def summarize(rows: list[dict]) -> list[dict]:
        cells: dict[tuple, list[dict]] = {}
        for r in rows:
            cells.setdefault((r["label"], r["a"]), []).append(r)
        out = []
        for (label, a), rs in cells.items():
            hit = sum(r["hit"] for r in rs) / len(rs)
            out.append(
                {
                    "label": label,
                    "a": a,
                    "runs": len(rs),
                    "value_mean": sum(r["value"] for r in rs) / len(rs),
                    "hit": hit,
                    "hit_lo": max(0.0, hit - 0.25),
                    "hit_hi": min(1.0, hit + 0.25),
                    "missing": None,
                }
            )
        return sorted(out, key=lambda c: (c["a"], c["label"]))

    def figures(summary: list[dict]) -> list:
        return [line_chart(summary, "a", "value_mean", "label", "evil-fig", title="evil <fig>")]

    return Study(
        name="evil",
        doc=DOC,
        grid=Grid(
            (
                Param("label", str, (HOSTILE, "a&b"), "a label <b>"),
                Param("a", int, (1, 2), "an integer"),
            ),
            seeds=4,
        ),
        results=Results(
            summarize,
            table=(
                ("a", "a", "d"),
                ("runs", "runs", "d"),
                ("value_mean", "<mean>", ".2f"),
                ("hit", "hit", ".0%"),
                ("missing", "missing", ".2f"),
            ),
            figures=figures,
        ),
        columns={"value": "DOUBLE", "hit": "BOOLEAN", "my_tol": "DOUBLE"},
        run_cell=run_cell,
    )


EVIL = make_evil_study()
REGISTRY = {EVIL.name: EVIL}
SPURIOUS = get_study("spurious-relu")


class _Tables(HTMLParser):
    """The text of every table cell, by table id: {id: [[header...], [cell...], ...]}."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.scripts = 0
        self.imgs: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        elif tag == "img":
            self.imgs.append(a["src"])
        elif tag == "table":
            self._table = a.get("id")
            if self._table:
                self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._table and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(path: Path) -> _Tables:
    parser = _Tables()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def evil_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("evil-store")
    run_study(EVIL, None, 4, out, progress=False)
    return out


@pytest.fixture(scope="module")
def spurious_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """spurious-relu, n = k at k = 5 and 6, 12 seeds each (a few seconds)."""
    out = tmp_path_factory.mktemp("spurious-store")
    run_study(SPURIOUS, {"k": [5, 6], "extra": [0]}, 12, out, progress=False)
    return out


@pytest.fixture
def evil_out(evil_store: Path, tmp_path: Path) -> Path:
    """A copy of the store, for a test to write its report into."""
    out = tmp_path / "results"
    shutil.copytree(evil_store, out)
    return out


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith((".report", ".figures")))


def test_pages_and_files_exist(evil_out: Path) -> None:
    index = write_report(evil_out, registry=REGISTRY)
    assert index == evil_out / "report" / "index.html"
    files = sorted(p.name for p in index.parent.iterdir())
    assert files == ["evil-fig.svg", "evil.html", "index.html"]
    assert leftovers(evil_out) == []
    page = parse(index.parent / "evil.html")
    assert page.imgs == ["evil-fig.svg"]
    assert (index.parent / "evil-fig.svg").read_text().lstrip().startswith("<?xml")
    studies = parse(index).tables["studies"]
    assert studies[0] == ["study", "question", "cells", "runs", "page"]
    assert studies[1][0] == "evil" and studies[1][2:4] == ["4", "16"]


def test_table_has_every_summary_row_and_the_varying_parameters(evil_out: Path) -> None:
    write_report(evil_out, [EVIL], registry=REGISTRY)
    summary = show_study(EVIL, evil_out)
    rows = parse(evil_out / "report" / "evil.html").tables["summary"]
    # label varies between cells and is not in the declared table: a leading column
    assert rows[0] == ["label", "a", "runs", "<mean>", "hit", "missing"]
    assert len(rows) - 1 == len(summary) == 4
    for row, cell in zip(rows[1:], summary, strict=True):
        assert row[0] == cell["label"]
        assert row[1] == str(cell["a"])
        assert row[3] == f"{cell['value_mean']:.2f}"
        assert row[4] == f"{cell['hit']:.0%} [{cell['hit_lo']:.0%}, {cell['hit_hi']:.0%}]"
        assert row[5] == "-"  # None


def test_sort_keys_put_missing_values_last_and_numbers_as_numbers() -> None:
    summary = [{"a": 2, "x": None}, {"a": 10, "x": math.nan}]
    table = summary_table(EVIL, [{**s, "runs": 1} for s in summary])
    a = [row[0] for row in table.rows]
    assert [(e.sort, e.numeric) for e in a] == [("2.0", True), ("10.0", True)]
    assert not table.has_intervals
    # right-aligned: columns whose values are all numbers; a column with none is not
    assert {c.key: c.numeric for c in table.columns} == {
        "a": True, "runs": True, "value_mean": False, "hit": False, "missing": False,
    }  # fmt: skip


def test_markup_is_escaped_everywhere(evil_out: Path) -> None:
    write_report(evil_out, registry=REGISTRY)
    for name in ("evil.html", "index.html"):
        html = (evil_out / "report" / name).read_text(encoding="utf-8")
        assert HOSTILE not in html
        assert "<b>" not in html and "<i>" not in html
    html = (evil_out / "report" / "evil.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;mean&gt;" in html and "a label &lt;b&gt;" in html
    assert "<code>&lt;i&gt;code&lt;/i&gt;</code>" in html
    assert "<pre>landscope run evil &lt;script&gt;</pre>" in html
    assert "<li>first item, continued</li>" in html
    assert parse(evil_out / "report" / "evil.html").scripts == 1  # the table sorter alone


def test_doc_blocks_and_inline_code() -> None:
    blocks = doc_blocks(DOC)
    assert [b.kind for b in blocks] == ["p", "p", "pre", "ol"]
    assert blocks[1].text == "More with ``<i>code</i>`` in it:"
    assert blocks[3].items == ("first item, continued", "second item")
    assert str(inline_code("a < ``b&c`` > d")) == "a &lt; <code>b&amp;c</code> &gt; d"


def test_cells_show_their_provenance(evil_out: Path) -> None:
    write_report(evil_out, registry=REGISTRY)
    cells = parse(evil_out / "report" / "evil.html").tables["cells"]
    header = ["cell", "label", "a", "seeds", "runs", "wall s", "landscope", "torch", "device",
              "dtype", "my_tol"]  # fmt: skip
    assert cells[0] == header
    with ResultStore(evil_out, read_only=True) as store:
        stored = store.rows(EVIL.table_name)
    hashes = list(dict.fromkeys(r["config_hash"] for r in stored))
    assert [row[0] for row in cells[1:]] == hashes
    for row, h in zip(cells[1:], hashes, strict=True):
        mine = [r for r in stored if r["config_hash"] == h]
        assert row[1:3] == [mine[0]["label"], str(mine[0]["a"])]
        assert row[3:5] == ["0..3", "4"]
        assert row[5] == f"{mine[0]['cell_wall_s']:.2f}"
        assert row[6:] == [__version__, mine[0]["torch"], "cpu", "float64", "1e-07"]


def test_cell_provenance_of_rows_from_an_older_store() -> None:
    """Bookkeeping a store lacks (no torch column, a None) reads '-'; several writes of a
    cell show each distinct wall time."""
    base = {"config_hash": "h", "label": "x", "a": 1, "version": "0.1.0", "device": "cpu"}
    rows = [
        {**base, "seed": 0, "cell_wall_s": 1.0, "dtype": None},
        {**base, "seed": 1, "cell_wall_s": 1.0, "dtype": None},
        {**base, "seed": 5, "cell_wall_s": 0.5, "dtype": "float32"},
    ]
    (cell,) = cell_provenance(EVIL, rows)
    assert cell.torch == "-"
    assert cell.dtype == "float32"
    assert cell.wall_s == "1.00 + 0.50"
    assert cell.seeds == "0..1, 5"
    assert cell.runs == 3
    assert cell.tolerances == ()  # my_tol is not stored in these rows


def test_seed_ranges_and_default_text() -> None:
    assert seed_ranges([3, 0, 1, 2, 7, 9, 10, 9]) == "0..3, 7, 9..10"
    assert seed_ranges([]) == "-"
    assert default_text(tuple(range(6, 21))) == "6..20"
    assert default_text((0, 2)) == "0, 2"
    assert default_text((1e-5,)) == "1e-05"


def test_protocol_settings_of_spurious_relu() -> None:
    steps = {s.name: dict(s.settings) for s in protocol_settings(SPURIOUS)}
    assert list(steps) == ["Protocol", "Train", "PolishCertify", "Retrain", "Measure"]
    assert steps["Protocol"]["make_problem"] == "landscope.studies.spurious_relu.make_problem"
    assert steps["PolishCertify"]["polish_tol"] == "parameter polish_tol"
    assert steps["Train"]["stop"] == (
        'lambda cfg: Stop(grad_tol=cfg["grad_tol"], max_steps=cfg["max_steps"])'
    )
    # a multi-line lambda, and a nested step's fields under a dotted name
    assert steps["Retrain"]["stop"] == (
        'lambda cfg: Stop(grad_tol=cfg["grad_tol"] * cfg["retrain_factor"], '
        'max_steps=cfg["max_steps"])'
    )
    assert steps["Retrain"]["certify.polish_from"] == "parameter polish_from"
    assert steps["Retrain"]["verdicts"] == "('saddle', 'not_converged')"
    assert protocol_settings(EVIL) == []


def test_describe_setting_of_lambdas_sharing_a_line() -> None:
    pair = (lambda cfg: cfg["a"], lambda cfg: (cfg["b"], 2))  # noqa: E731
    assert describe_setting(pair[0]) == 'lambda cfg: cfg["a"]'
    assert describe_setting(pair[1]) == 'lambda cfg: (cfg["b"], 2)'
    assert describe_setting("a", ["a"]) == "parameter a"
    assert describe_setting("a", ["b"]) == "'a'"


def test_spurious_relu_page_has_plot_figures_protocol_and_all_cells(
    spurious_store: Path, tmp_path: Path
) -> None:
    out = tmp_path / "results"
    shutil.copytree(spurious_store, out)
    index = write_report(out, [SPURIOUS])
    page = parse(index.parent / f"{SPURIOUS.name}.html")
    drawn = [p.name for p in plot_study(SPURIOUS, out) if p.suffix == ".svg"]
    assert page.imgs == drawn and drawn
    for name in drawn:  # the very same drawing as landscope plot
        assert (index.parent / name).read_bytes() == (out / "figures" / name).read_bytes()
    assert len(page.tables["summary"]) - 1 == len(show_study(SPURIOUS, out))
    assert len(page.tables["cells"]) - 1 == 2
    assert [row[0] for row in page.tables["params"][1:]] == [p.name for p in SPURIOUS.params]
    html = (index.parent / f"{SPURIOUS.name}.html").read_text(encoding="utf-8")
    for step in ("Train", "PolishCertify", "Retrain", "Measure"):
        assert f"<code>{step}</code>" in html
    tolerances = page.tables["cells"][0][-3:]
    assert tolerances == ["cert_grad_tol", "cert_gap_tol", "cert_eig_tol"]


def test_figures_of_an_incomplete_study_say_so(spurious_store: Path, tmp_path: Path) -> None:
    # the last run's plan has a cell not done and nobody holds the writer lock: the run
    # was interrupted, and the report's figures carry plot's red note
    import json

    from landscope.sweep.runlock import PLAN_FILE

    out = tmp_path / "results"
    shutil.copytree(spurious_store, out)
    plan = json.loads((out / PLAN_FILE).read_text())
    plan["cells"].append({"label": "k=7", "runs": 12, "done": False, "wall_s": None})
    (out / PLAN_FILE).write_text(json.dumps(plan))
    index = write_report(out, [SPURIOUS])
    svgs = [p for p in index.parent.iterdir() if p.suffix == ".svg"]
    assert svgs and all("incomplete: 2 of 3 cells stored" in p.read_text() for p in svgs)
    plan["cells"].pop()
    (out / PLAN_FILE).write_text(json.dumps(plan))
    index = write_report(out, [SPURIOUS])
    assert not any("incomplete" in p.read_text() for p in index.parent.glob("*.svg"))


def test_default_is_every_registered_study_with_runs(evil_out: Path) -> None:
    other = make_evil_study()
    other = Study(
        name="other", doc="Another study.", grid=other.grid, results=other.results,
        run_cell=other.run_cell, columns=other.columns,
    )  # fmt: skip
    index = write_report(evil_out, registry={"other": other, **REGISTRY})
    assert [row[0] for row in parse(index).tables["studies"][1:]] == ["evil"]


def test_a_second_report_is_identical_and_replaces_the_first(evil_out: Path) -> None:
    index = write_report(evil_out, registry=REGISTRY)
    first = {p.name: p.read_bytes() for p in index.parent.iterdir()}
    (index.parent / "stale.html").write_text("old")
    write_report(evil_out, registry=REGISTRY)
    assert {p.name: p.read_bytes() for p in index.parent.iterdir()} == first
    assert leftovers(evil_out) == []


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_a_failure_leaves_no_half_written_report(
    evil_out: Path, monkeypatch: pytest.MonkeyPatch, error: type[BaseException]
) -> None:
    def broken(spec, out_dir, note=None):
        raise error("drawing failed")

    monkeypatch.setattr(landscope.plot, "render", broken)
    with pytest.raises(error):
        write_report(evil_out, registry=REGISTRY)
    assert not (evil_out / "report").exists()
    assert leftovers(evil_out) == []


def test_a_failure_keeps_the_previous_report(evil_out: Path, monkeypatch) -> None:
    index = write_report(evil_out, registry=REGISTRY)
    before = {p.name: p.read_bytes() for p in index.parent.iterdir()}

    def broken(*args, **kwargs):
        raise RuntimeError("templates failed")

    monkeypatch.setattr("landscope.report.write.inline_code", broken)
    with pytest.raises(RuntimeError):
        write_report(evil_out, registry=REGISTRY)
    assert {p.name: p.read_bytes() for p in index.parent.iterdir()} == before
    assert leftovers(evil_out) == []


def test_no_store_is_one_sentence_and_writes_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"^there is no results store in .*empty.*\.$"):
        write_report(empty, registry=REGISTRY)
    assert list(empty.iterdir()) == []
    missing = tmp_path / "missing"
    with pytest.raises(ValueError, match="there is no results store"):
        write_report(missing, registry=REGISTRY)
    assert not missing.exists()


def test_no_study_with_runs(evil_out: Path) -> None:
    with pytest.raises(ValueError, match=r"^no study has stored runs in .*\.$"):
        write_report(evil_out, registry={SPURIOUS.name: SPURIOUS})
    with pytest.raises(ValueError, match=r"^no results for study 'spurious-relu' in .*\.$"):
        write_report(evil_out, [EVIL, SPURIOUS], registry=REGISTRY)
    assert not (evil_out / "report").exists()
    assert leftovers(evil_out) == []


def test_cli_prints_the_index_and_exits_2_on_bad_input(evil_out: Path, tmp_path, capsys) -> None:
    assert main(["report", "--out", str(evil_out)], registry=REGISTRY) == 0
    assert capsys.readouterr().out.strip() == str(evil_out / "report" / "index.html")
    assert main(["report", "--out", str(tmp_path / "nothing")], registry=REGISTRY) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("landscope: error: there is no results store") and "\n" not in err
