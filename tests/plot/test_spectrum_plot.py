"""Spectrum figures: an SLQ density with its band and exact rug, and a stem plot."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from landscope.plot import density_figure, density_spec, draw, stem_figure, stem_spec
from landscope.spectrum import Density
from landscope.studies.figures import Band, Line, Rug, Stems

DT = torch.float64


def _density(R: int = 2, probes: int = 3) -> Density:
    gen = torch.Generator().manual_seed(0)
    nodes, _ = torch.sort(torch.randn(R, probes, 5, generator=gen, dtype=DT), dim=-1)
    w = torch.rand(R, probes, 5, generator=gen, dtype=DT)
    return Density(nodes=nodes, weights=w / w.sum(-1, keepdim=True), n_params=5)


@pytest.mark.parametrize("logy", [True, False])
def test_density_figure_writes_png_and_svg(tmp_path: Path, logy: bool) -> None:
    d = _density()
    exact = torch.linspace(-1.0, 1.0, 5, dtype=DT)
    paths = density_figure(d, tmp_path / "sub" / "dens", exact=exact, row=1, logy=logy, title="t")
    assert paths == [tmp_path / "sub" / "dens.png", tmp_path / "sub" / "dens.svg"]
    assert all(p.stat().st_size > 0 for p in paths)
    # an explicit grid and sigma, and a single probe (no band)
    one = Density(d.nodes[:, :1], d.weights[:, :1], 5)
    density_figure(one, tmp_path / "one", grid=torch.linspace(-3, 3, 50), sigma=0.3)
    assert (tmp_path / "one.svg").stat().st_size > 0


def test_svg_is_reproducible(tmp_path: Path) -> None:
    d = _density()
    a = density_figure(d, tmp_path / "a")[1].read_bytes()
    b = density_figure(d, tmp_path / "b")[1].read_bytes()
    assert a == b


def test_density_figure_bad_row(tmp_path: Path) -> None:
    d = _density()
    with pytest.raises(ValueError, match=r"row must be an integer in 0\.\.1, got 2"):
        density_figure(d, tmp_path / "x", row=2)
    nan = Density(torch.full_like(d.nodes, math.nan), d.weights, 5)
    with pytest.raises(ValueError, match="row 0 of the density is not finite"):
        density_figure(nan, tmp_path / "x")
    assert not (tmp_path / "x.png").exists()


def test_stem_figure(tmp_path: Path) -> None:
    eigs = torch.tensor([[2.0, -1.0, 0.0, 0.5, -0.25]], dtype=DT)
    paths = stem_figure(eigs, tmp_path / "stem", title="saddle")
    assert all(p.stat().st_size > 0 for p in paths)
    stem_figure(torch.tensor([1.0, 2.0]), tmp_path / "pos")  # no negative stems
    with pytest.raises(ValueError, match=r"eigs has shape \(2, 2\)"):
        stem_figure(torch.zeros(2, 2), tmp_path / "bad")
    with pytest.raises(ValueError, match="NaN or infinite"):
        stem_figure(torch.tensor([1.0, math.inf]), tmp_path / "bad")


def test_specs_hold_the_spectrum() -> None:
    d = _density()
    exact = torch.linspace(-1.0, 1.0, 5, dtype=DT)
    spec = density_spec(d, "dens", exact=exact, row=1, title="t")
    (panel,) = spec.panels
    band, curve, rug = panel.marks
    assert isinstance(band, Band) and isinstance(curve, Line) and isinstance(rug, Rug)
    assert rug.x == (-1.0, -0.5, 0.0, 0.5, 1.0) and len(curve.x) == 512
    assert panel.yscale == "log" and panel.ylim[1] == 5 * max(curve.y) and spec.title == "t"
    one = Density(d.nodes[:, :1], d.weights[:, :1], 5)  # one probe: no band
    assert [type(m) for m in density_spec(one, "one", logy=False).panels[0].marks] == [Line]
    stems = stem_spec(torch.tensor([[2.0, -1.0, 0.0, 0.5, -0.25]], dtype=DT), "stem")
    pos, neg, zero = stems.panels[0].marks
    assert isinstance(pos, Stems) and pos.x == (3.0, 4.0, 5.0) and pos.y == (0.0, 0.5, 2.0)
    assert neg.y == (-1.0, -0.25) and neg.color == "C3" and neg.label == "λ < 0 (2)"
    assert zero.y == 0.0


def test_a_long_title_fits_the_figure() -> None:
    # the CLI's title: the study, the seed and the run's whole configuration
    title = "spurious-relu, seed 0: " + ", ".join(f"param_{i}=1e-05" for i in range(16))
    eigs = torch.tensor([1.0, 2.0], dtype=DT)
    for spec in (stem_spec(eigs, "s", title=title), density_spec(_density(), "d", title=title)):
        assert spec.title.replace("\n", " ") == title and spec.title.count("\n") >= 2
        assert "1e-\n" not in spec.title  # broken at spaces only
        fig = draw(spec)
        fig.draw_without_rendering()  # runs the constrained layout
        box, page = fig.axes[0].title.get_window_extent(), fig.bbox
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and box.y1 <= page.y1, (box, page)
    assert stem_spec(eigs, "s", title="").title is None
    assert stem_spec(eigs, "s", title="short").title == "short"
