"""Figure specs of every study: pure data built from a summary, drawn by ``landscope.plot``.

``SUMMARIES`` holds a small hand-made summary per study, with the keys its ``summarize``
returns; each study turns it into specs without drawing, and ``render`` draws them.
"""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from landscope.plot import render
from landscope.studies import FigureSpec, studies
from landscope.studies.figures import Band, Bars, Line, Panel, floats, grid_chart, line_chart
from landscope.studies.summary import percent_range, wilson

SRC = Path(__file__).resolve().parents[2] / "src" / "landscope" / "studies"


def _ci(row: dict, key: str, runs: int) -> dict:
    """``row`` with ``key``'s 95 % Wilson interval, as a summary gives every fraction (the
    fraction taken as round(fraction x runs) of ``runs``)."""
    frac = row[key]
    lo, hi = (None, None) if frac is None else wilson(round(frac * runs), runs)
    return row | {f"{key}_lo": lo, f"{key}_hi": hi}


def _spurious_relu() -> list[dict]:
    out = []
    for extra in (0, 1):
        for k in (6, 8, 10):
            frac = min(1.0, (k - 4) / 8 / (1 + extra))
            out.append(_ci({"k": k, "n": k + extra, "extra": extra, "d": k, "train_a": 0,
                            "optimizer": "gd", "runs": 20, "spurious_min": frac,
                            "spurious_loss_mean": None if k == 6 and extra
                            else 0.01 * k / (1 + extra)}, "spurious_min", 20))  # fmt: skip
    return out


def _quadratic_deep() -> list[dict]:
    return [
        _ci({"d": d, "depth": 2, "variant": v, "h": h, "runs": 8,
             "reached_global": min(1.0, h / 8) if v == "regular" else min(1.0, h * d / 40)},
            "reached_global", 8)
        for d in (8, 9) for v in ("regular", "added_norm") for h in (2, 4, 8)
    ]  # fmt: skip


def _quadratic_nets() -> list[dict]:
    return [
        _ci({"setup": s, "variant": v, "d": 10, "h": h, "runs": 8,
             "reached_global": min(1.0, h / 4) if v == "regular" else 1.0,
             "normalized_error_mean": None if h == 1 and s == "gaussian" else
             (0.0 if v == "least_squares" else 10.0 ** -(2 * h))}, "reached_global", 8)
        for s in ("identity", "gaussian") for v in ("regular", "least_squares")
        for h in (1, 2, 3, 4)
    ]  # fmt: skip


def _recovery() -> list[dict]:
    return [
        _ci({"activation": "relu", "d": 10, "kappa": 1.0, "k": k, "n_ratio": n, "init": i,
             "second_layer": s, "runs": 4,
             "success": min(1.0, n / (100.0 * k) * (2 if i == "tensor" else 1)),
             "init_error_median": 3.0 / n**0.5 if i == "tensor" else None}, "success", 4)
        for k in (2, 5) for n in (10.0, 30.0, 100.0) for i in ("tensor", "random")
        for s in ("estimated", "known")
    ]  # fmt: skip


def _beyond_ntk() -> list[dict]:
    return [
        {"d": d, "nn_loss": 0.3 / d**1.5, "ntk_loss": 0.4 / d, "nngp_loss": 0.5 / d,
         "constant_loss": 0.6 / d**0.5}
        for d in (4, 8, 16, 32)
    ]  # fmt: skip


def _least_symmetry() -> list[dict]:
    out = []
    cells = (("identity", 3, [("Delta S_5", "maximal", 7), ("S_4 x S_2", "other", 2)], 7 / 9),
             ("block:2", 2, [("S_3 x S_3", "maximal", 3)], 1.0),
             ("block:3", 0, [], None))  # fmt: skip
    for sigma, runs_extra, types, frac in cells:
        base = {"sigma": sigma, "k": 6, "activation": "relu", "m": 200}
        count = sum(t[2] for t in types)
        out.append(_ci(base | {"isotropy": "(all spurious)", "runs": 30 + runs_extra,
                               "count": count, "maximal_fraction": frac},
                       "maximal_fraction", count))  # fmt: skip
        out += [base | {"isotropy": n, "class": c, "count": m} for n, c, m in types]
    return out


def _level_sets() -> list[dict]:
    return [
        {"model": m, "width": w, "level": lv, "connected": 1.0,
         "normalized_length_mean": None if lv == 0.01 and w == 8 else 1 + w / lv / 400,
         "beads_mean": 2 + 1 / lv / 20}
        for m, ws in (("poly2", (4, 8)), ("relu", (6,)))
        for w in ws for lv in (1.0, 0.3, 0.1, 0.01)
    ]  # fmt: skip


def _minima_barriers() -> list[dict]:
    return [
        {"k": k, "pair": p, "pairs": 3, "barrier_mean": b * k, "aligned_mean": a * k}
        for k in (6, 8)
        for p, b, a in (("to global minimum", 0.02, 0.01), ("same type", 0.01, 0.0),
                        ("different types", 0.03, 0.02))
        if not (k == 8 and p == "same type")
    ]  # fmt: skip


def _ntk_convergence() -> list[dict]:
    out = []
    for i, m in enumerate((64, 256, 1024)):
        rate = 0.02 * (1 + 1 / (i + 1))
        row = {"m": m, "rate_bound": 0.02, "rate_kernel": 0.035, "rate": rate,
               "pattern_change": 0.3 / 2**i, "weight_move": 0.5 / 2**i,
               "gram_drift": 0.2 / 2**i}  # fmt: skip
        if i < 2:  # the widest cell has no curve: a mixed summary must still draw
            row["curve_steps"] = [0.0, 50.0, 100.0, 150.0]
            row["curve_residual"] = [(1 - rate) ** (s / 2) for s in row["curve_steps"]]
        out.append(row)
    return out


def _spurious_spectra() -> list[dict]:
    out = []
    for k in (6, 7):
        out.append({"k": k, "isotropy": f"Delta S_{k} (global min W = I)", "count": 5,
                    "k_loss": 0.0})  # fmt: skip
        for name, count, loss in ((f"Delta S_{k - 1}", 4, 0.03), (f"Delta S_{k - 2}", 1, 0.05)):
            eigs = [1e-3] * (k - 1) + [0.2] * k + [0.45] * 2 + [2.0 * k, 3.0 * k]
            out.append({"k": k, "isotropy": name, "count": count, "k_loss": k * loss,
                        "eigs": eigs})  # fmt: skip
    return out


def _convex_relu() -> list[dict]:
    out = []
    for data, gap0 in (("planted", 1e-3), ("random", 1.0)):
        for m in (1, 4, 16):
            reached = 1.0 if data == "planted" and m > 1 else 0.0
            gap = None if reached == 1.0 else gap0 / m  # all reached: no gaps to draw
            out.append(_ci({"data": data, "width": m, "reached_optimum": reached,
                            "gap_median": gap, "gap_min": gap and gap / 3,
                            "gap_max": gap and gap * 3}, "reached_optimum", 20))  # fmt: skip
    return out


def _convex_bn() -> list[dict]:
    out = []
    for data in ("planted", "digits"):
        for shape in ("20x3", "12x16"):
            for m in (1, 4, 16):
                gap = None if m == 16 and data == "planted" else 0.5 / m  # all reached: none
                row = {"data": data, "shape": shape, "width": m,
                       "reached_optimum": 1.0 if gap is None else 0.1 * m / 16,
                       "near_optimum": 1.0 if gap is None else 0.5, "saddle": 0.05,
                       "gap_median": gap, "gap_min": gap and gap / 3,
                       "gap_max": gap and gap * 3, "test_gd": 0.3 / m + 0.1,
                       "test_full": 0.2, "test_rule": 0.25}  # fmt: skip
                for key in ("reached_optimum", "near_optimum", "saddle"):
                    row = _ci(row, key, 20)
                out.append(row)
    return out


def _univariate_regimes() -> list[dict]:
    import numpy as np

    grid = np.linspace(-1, 1, 101)
    out = []
    for m in (50, 500):
        for ratio in (1e-3, 1.0, 10.0):
            out.append({"data": "alternating", "width": m, "ratio": ratio,
                        "dist_cubic": 0.05 if ratio < 1 else 0.3,
                        "dist_linear": 0.3 if ratio < 1 else 0.01,
                        "curve": (0.5 * np.cos(2.5 * np.pi * grid)).tolist(),
                        "knots": [-0.6, 0.2, 0.6] if ratio >= 1 else []})  # fmt: skip
    return out


def _dropout_rate() -> list[dict]:
    out = []
    for kind in ("dropout", "dropconnect"):
        for data in ("whitened", "correlated"):
            for q in (0.5, 0.9):
                for r in (2, 8):
                    rate = 2 * (1 - q) / q / r
                    t = [0.0, 10.0, 20.0, 30.0]
                    out.append({"kind": kind, "data": data, "keep": q, "width": r,
                                "rate_measured": rate * 1.01, "rate_exact": rate,
                                "rate_bound": None if r == 8 else rate * 1.1, "tail_t": t,
                                "tail_grad": [10 ** (-6 - rate * x) for x in t]})  # fmt: skip
    return out


SUMMARIES: dict[str, list[dict]] = {
    "spurious-relu": _spurious_relu(),
    "spurious-spectra": _spurious_spectra(),
    "least-symmetry": _least_symmetry(),
    "quadratic-nets": _quadratic_nets(),
    "quadratic-deep": _quadratic_deep(),
    "recovery": _recovery(),
    "ntk-convergence": _ntk_convergence(),
    "beyond-ntk": _beyond_ntk(),
    "level-sets": _level_sets(),
    "minima-barriers": _minima_barriers(),
    "convex-relu": _convex_relu(),
    "convex-bn": _convex_bn(),
    "univariate-regimes": _univariate_regimes(),
    "dropout-rate": _dropout_rate(),
}

# the files each study draws from its summary above
STEMS = {
    "spurious-relu": ["spurious-relu", "spurious-relu-loss"],
    "spurious-spectra": ["spurious-spectra"],
    "least-symmetry": ["least-symmetry"],
    "quadratic-nets": ["quadratic-nets", "quadratic-nets-error"],
    "quadratic-deep": ["quadratic-deep"],
    "recovery": ["recovery", "recovery-init-error"],
    "ntk-convergence": ["ntk-convergence"],
    "beyond-ntk": ["beyond-ntk"],
    "level-sets": ["level-sets"],
    "minima-barriers": ["minima-barriers"],
    "convex-relu": ["convex-relu", "convex-relu-gaps"],
    "convex-bn": ["convex-bn", "convex-bn-test", "convex-bn-gaps"],
    "univariate-regimes": [
        "univariate-regimes-cubic-alternating",
        "univariate-regimes-linear-alternating",
        "univariate-regimes-functions-alternating",
        "univariate-regimes-knots-alternating",
    ],
    "dropout-rate": ["dropout-rate-vs-keep", "dropout-rate-vs-width", "dropout-rate-tails"],
}


def test_every_study_has_a_summary_here() -> None:
    assert set(SUMMARIES) == set(studies()) == set(STEMS)


@pytest.mark.parametrize("name", sorted(SUMMARIES))
def test_figures_are_specs_and_draw(name: str, tmp_path: Path) -> None:
    study = studies()[name]
    specs = study.figures(SUMMARIES[name])
    assert all(isinstance(s, FigureSpec) for s in specs)
    assert [s.stem for s in specs] == STEMS[name]
    assert specs == study.figures(SUMMARIES[name])  # pure data: the same summary, equal specs
    hash(specs[0])  # frozen all the way down
    for spec in specs:
        paths = render(spec, tmp_path / "figs")
        assert paths == [
            tmp_path / "figs" / f"{spec.stem}.png",
            tmp_path / "figs" / f"{spec.stem}.svg",
        ]
        assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        svg = paths[1].read_text()
        titles = [spec.title] + [p.title for p in spec.panels]
        for text in filter(None, titles):
            # matplotlib writes text as glyph paths, but names each text in a comment
            assert text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in svg
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == sorted(
        f"{stem}.{ext}" for stem in STEMS[name] for ext in ("png", "svg")
    )


def test_figures_have_a_title_or_panel_titles() -> None:
    untitled = [
        spec.stem
        for name, summary in SUMMARIES.items()
        for spec in studies()[name].figures(summary)
        if not (spec.title or all(p.title for p in spec.panels))
    ]
    assert untitled == ["spurious-relu-loss"]  # drawn without a title, as it always was


def test_figures_carry_the_summary_data() -> None:
    (spec,) = studies()["beyond-ntk"].figures(SUMMARIES["beyond-ntk"])
    loss, scaled = spec.panels
    nn = loss.marks[0]
    assert nn.label == "trained net" and nn.x == (4.0, 8.0, 16.0, 32.0)
    assert nn.y == tuple(c["nn_loss"] for c in SUMMARIES["beyond-ntk"])
    assert scaled.marks[0].y == tuple(c["d"] * c["nn_loss"] for c in SUMMARIES["beyond-ntk"])
    assert (loss.xscale, loss.yscale, scaled.xscale) == ("log", "log", "linear")
    (spec,) = studies()["least-symmetry"].figures(SUMMARIES["least-symmetry"])
    (panel,) = spec.panels
    bars = [m for m in panel.marks if type(m).__name__ == "Bars"]
    assert [(b.height, b.bottom, b.hatch) for b in bars] == [
        ((7.0,), 0.0, "//"), ((2.0,), 7.0, None), ((3.0,), 0.0, "//")
    ]  # fmt: skip
    assert [lab for _, lab in panel.xticks] == [
        "identity\nk=6, 33 runs", "block:2\nk=6, 32 runs", "block:3\nk=6, 30 runs"
    ]  # fmt: skip
    # a summary without curves still has the other two panels, and no legendless warning
    summary = [{k: v for k, v in c.items() if not k.startswith("curve")}
               for c in SUMMARIES["ntk-convergence"]]  # fmt: skip
    (spec,) = studies()["ntk-convergence"].figures(summary)
    assert spec.panels[0].marks == () and len(spec.panels[1].marks) == 3


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    out = set()
    package = ["landscope", "studies"]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = ".".join([*base, *(node.module.split(".") if node.module else [])])
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}
    return out


def test_no_study_imports_matplotlib_or_plot() -> None:
    files = sorted(SRC.glob("*.py"))
    assert len(files) >= 12
    for path in files:
        bad = {m for m in _imports(path) if m.split(".")[0] == "matplotlib"
               or m == "landscope.plot" or m.startswith("landscope.plot.")}  # fmt: skip
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_importing_every_study_loads_no_matplotlib() -> None:
    code = (
        "import json, sys\n"
        "from landscope.studies import studies\n"
        "specs = {n: s.figures for n, s in studies().items()}\n"
        "print(json.dumps(sorted(m for m in sys.modules\n"
        "    if m.split('.')[0] == 'matplotlib' or m.startswith('landscope.plot'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


# -- the vocabulary: builders by key, and clear errors ---------------------------------------
LINES = [
    {"k": k, "extra": e, "spurious_min": min(1.0, k / 20 / (1 + e))}
    for k in (6, 10, 20)
    for e in (0, 1, 2)
]
GRID = [
    {"setup": s, "variant": v, "h": h, "frac": (h / 4) if v == "a" else 1.0, "err": 10.0**-h}
    for s in ("x", "y")
    for v in ("a", "b", "c")
    for h in (1, 2, 3, 4)
]


def test_line_chart_is_one_sorted_line_per_group() -> None:
    rows = [*LINES, {"k": 12, "extra": 0, "spurious_min": None}]
    spec = line_chart(rows[::-1], "k", "spurious_min", "extra", "s.k6-20", group_label="n - k")
    (panel,) = spec.panels
    assert [m.label for m in panel.marks] == ["n - k = 0", "n - k = 1", "n - k = 2"]
    first = panel.marks[0]
    assert first.x == (6.0, 10.0, 12.0, 20.0) and math.isnan(first.y[2])  # None: a gap
    assert (panel.percent, panel.integer_x, panel.xlabel, spec.title) == (True, True, "k", None)
    assert spec.stem == "s.k6-20" and spec.dpi == 150
    plain = line_chart(LINES, "k", "spurious_min", "extra", "f", group_label="", percent=False)
    assert plain.panels[0].marks[0].label == "0" and not plain.panels[0].percent
    halves = line_chart([{"k": 0.5, "extra": 0, "spurious_min": 1.0}], "k", "spurious_min",
                        "extra", "f")  # fmt: skip
    assert not halves.panels[0].integer_x


@pytest.mark.parametrize(
    ("summary", "match"),
    [
        ([], "nothing to plot"),
        ([{"k": 1, "extra": 0}], "no key 'spurious_min'"),
        ([{"k": 1, "extra": 0, "spurious_min": "lots"}], "values must be numbers"),
    ],
)
def test_line_chart_bad_summary(summary: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        line_chart(summary, "k", "spurious_min", "extra", "f")


def test_grid_chart_panels_by_row_and_column() -> None:
    spec = grid_chart(GRID, row="setup", col="variant", x="h", ys=[("frac", "f"), ("err", "e")],
                      stem="g", title="T", logx=True)  # fmt: skip
    assert spec.shape == (2, 3) and spec.share and spec.title == "T"
    titles = [p.title for p in spec.panels]
    assert titles == ["variant = a", "variant = b", "variant = c", None, None, None]
    assert [p.ylabel for p in spec.panels] == ["setup = x", None, None, "setup = y", None, None]
    assert [p.xlabel for p in spec.panels] == [None] * 3 + ["h"] * 3
    assert [p.legend for p in spec.panels] == [True] + [False] * 5  # two lines: one legend
    assert spec.panels[0].marks[0].y == (0.25, 0.5, 0.75, 1.0)
    assert {(p.xscale, p.integer_x, p.yscale) for p in spec.panels} == {("log", False, "linear")}
    log = grid_chart(GRID, row="setup", col="variant", x="h", ys=[("err", "e")], stem="g",
                     percent=False, logy=True)  # fmt: skip
    assert {(p.yscale, p.integer_x, p.legend) for p in log.panels} == {("log", True, False)}


@pytest.mark.parametrize(
    ("summary", "match"),
    [([], "nothing to plot"), ([{"setup": "x", "variant": "a", "h": 1}], "no key 'frac'")],
)
def test_grid_chart_bad_summary(summary: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        grid_chart(summary, row="setup", col="variant", x="h", ys=[("frac", "f")], stem="g")


def test_specs_refuse_what_cannot_be_drawn() -> None:
    panel = Panel((Line((1.0,), (2.0,)),))
    with pytest.raises(ValueError, match="file name without a folder; got 'a/b'"):
        FigureSpec("a/b", (panel,))
    with pytest.raises(ValueError, match="has no panels"):
        FigureSpec("f", ())
    with pytest.raises(ValueError, match="3 panels do not fill rows of ncols = 2"):
        FigureSpec("f", (panel,) * 3, ncols=2)
    with pytest.raises(ValueError, match="xscale must be 'linear', 'log' or 'log2'; got 'ln'"):
        Panel((), xscale="ln")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="grid must be"):
        Panel((), grid="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="a line needs arrays of one length"):
        Line((1.0, 2.0), (1.0,))
    with pytest.raises(ValueError, match="a bar chart needs arrays of one length"):
        Bars((1.0, 2.0), (1.0, 2.0), bottom=(0.0,))
    with pytest.raises(ValueError, match="cannot plot 'x': values must be numbers"):
        floats([1, None, "x"])
    assert floats([1, None])[0] == 1.0 and math.isnan(floats([None])[0])


def _bands(panel: Panel) -> list[Band]:
    return [m for m in panel.marks if isinstance(m, Band)]


def test_fractions_are_drawn_with_their_interval() -> None:
    # a line per n - k, each over a band of its 95 % interval, in the line's colour
    summary = SUMMARIES["spurious-relu"]
    spec = studies()["spurious-relu"].figures(summary)[0]
    (panel,) = spec.panels
    assert [type(m).__name__ for m in panel.marks] == ["Band", "Line"] * 2
    for band, line, extra in zip(panel.marks[::2], panel.marks[1::2], (0, 1), strict=True):
        cells = sorted((c for c in summary if c["extra"] == extra), key=lambda c: c["k"])
        assert band.color == line.color and band.x == line.x == floats(c["k"] for c in cells)
        assert band.lower == floats(c["spurious_min_lo"] for c in cells)
        assert band.upper == floats(c["spurious_min_hi"] for c in cells)
        assert all(lo <= y <= hi for lo, y, hi in zip(band.lower, line.y, band.upper, strict=True))
    # the loss is no fraction: no band
    assert not _bands(studies()["spurious-relu"].figures(summary)[1].panels[0])
    # grids of panels: a band per line (convex-bn: three fractions per panel), also where
    # the study pivots the summary first (quadratic-deep: a line per d; recovery: per init)
    for name, per_panel in (("quadratic-nets", 1), ("quadratic-deep", 2), ("recovery", 4),
                            ("convex-bn", 3), ("convex-relu", 2)):  # fmt: skip
        spec = studies()[name].figures(SUMMARIES[name])[0]
        for panel in spec.panels:
            lines = [m for m in panel.marks if isinstance(m, Line)]
            bands = _bands(panel)
            assert len(bands) == len(lines) == per_panel, name
            assert [b.color for b in bands] == [m.color for m in lines]
    # quadratic-deep's d = 9 line in its first panel: the d = 9 cells' intervals
    panel = studies()["quadratic-deep"].figures(SUMMARIES["quadratic-deep"])[0].panels[0]
    cells = [c for c in SUMMARIES["quadratic-deep"] if c["d"] == 9 and c["variant"] == "regular"]
    assert _bands(panel)[1].upper == floats(c["reached_global_hi"] for c in cells)
    # a summary without intervals draws the lines alone
    bare = [{k: v for k, v in c.items() if not k.endswith(("_lo", "_hi"))} for c in summary]
    assert not _bands(studies()["spurious-relu"].figures(bare)[0].panels[0])
    bare = [{k: v for k, v in c.items() if not k.endswith(("_lo", "_hi"))}
            for c in SUMMARIES["recovery"]]  # fmt: skip
    assert not any(_bands(p) for p in studies()["recovery"].figures(bare)[0].panels)


def test_least_symmetry_notes_the_interval_of_the_maximal_share() -> None:
    (spec,) = studies()["least-symmetry"].figures(SUMMARIES["least-symmetry"])
    texts = [m.text for m in spec.panels[0].marks if type(m).__name__ == "Text"]
    assert texts == [f"78% maximal ({percent_range(*wilson(7, 9))})", "100% maximal (44-100)",
                     "none"]  # fmt: skip


def test_charts_draw_an_interval_only_where_every_row_has_one() -> None:
    rows = [{"k": k, "g": 0, "f": f, "f_lo": f / 2, "f_hi": (1 + f) / 2}
            for k, f in ((6, 0.2), (8, 0.4))]  # fmt: skip
    (panel,) = line_chart(rows, "k", "f", "g", "s").panels
    assert [b.lower for b in _bands(panel)] == [(0.1, 0.2)]
    (panel,) = grid_chart(rows, row="g", col="g", x="k", ys=[("f", "f")], stem="s").panels
    assert [b.upper for b in _bands(panel)] == [(0.6, 0.7)]
    partial = [rows[0], {k: v for k, v in rows[1].items() if k != "f_hi"}]
    assert not _bands(line_chart(partial, "k", "f", "g", "s").panels[0])
    assert not _bands(grid_chart(partial, row="g", col="g", x="k", ys=[("f", "f")],
                                 stem="s").panels[0])  # fmt: skip


def test_minima_barriers_legend_covers_no_bar() -> None:
    from landscope.plot import draw

    (spec,) = studies()["minima-barriers"].figures(SUMMARIES["minima-barriers"])
    (panel,) = spec.panels
    assert panel.legend and panel.legend_outside  # the bars reach the top of the panel
    fig = draw(spec)
    fig.draw_without_rendering()  # runs the constrained layout
    (ax,) = fig.axes
    legend = ax.get_legend().get_window_extent()
    assert legend.x0 >= ax.get_window_extent().x1  # right of the axes, over no bar
    assert legend.x1 <= fig.bbox.x1  # and inside the figure
