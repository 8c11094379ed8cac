"""line_figure: PNG and SVG files, one line per group, clear errors."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from landscope.plot import line_figure

SUMMARY = [
    {"k": k, "extra": e, "spurious_min": min(1.0, k / 20 / (1 + e))}
    for k in (6, 10, 20)
    for e in (0, 1, 2)
]


def test_writes_png_and_svg(tmp_path: Path) -> None:
    stem = tmp_path / "figs" / "spurious.k6-20"  # a dot in the stem must survive
    paths = line_figure(
        SUMMARY,
        "k",
        "spurious_min",
        "extra",
        stem,
        xlabel="k",
        ylabel="spurious minima",
        title="Spurious minima",
        group_label="n - k",
    )
    assert paths == [
        tmp_path / "figs" / "spurious.k6-20.png",
        tmp_path / "figs" / "spurious.k6-20.svg",
    ]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = paths[1].read_text()
    ET.fromstring(svg)  # well-formed
    for text in ("n - k = 0", "n - k = 1", "n - k = 2", "Spurious minima", "100%"):
        assert text in svg


def test_redrawing_gives_the_same_svg(tmp_path: Path) -> None:
    a = line_figure(SUMMARY, "k", "spurious_min", "extra", tmp_path / "a")[1].read_text()
    b = line_figure(SUMMARY, "k", "spurious_min", "extra", tmp_path / "b")[1].read_text()
    assert a == b


def test_none_is_a_gap_and_percent_can_be_off(tmp_path: Path) -> None:
    rows = [*SUMMARY, {"k": 12, "extra": 0, "spurious_min": None}]
    paths = line_figure(rows, "k", "spurious_min", "extra", tmp_path / "f", percent=False)
    assert "100%" not in paths[1].read_text()


@pytest.mark.parametrize(
    ("summary", "match"),
    [
        ([], "nothing to plot"),
        ([{"k": 1, "extra": 0}], "no key 'spurious_min'"),
        ([{"k": 1, "extra": 0, "spurious_min": "lots"}], "values must be numbers"),
    ],
)
def test_bad_summary(tmp_path: Path, summary, match) -> None:
    with pytest.raises(ValueError, match=match):
        line_figure(summary, "k", "spurious_min", "extra", tmp_path / "f")
    assert not list(tmp_path.iterdir())
