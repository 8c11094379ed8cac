"""``write_report``: the HTML report of the stored studies of a results folder.

The report is built in a temporary folder next to its destination and renamed into place
when complete, so a failure at any point leaves the previous report (or none) untouched
and no half-written one.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from .. import __version__
from ..sweep import STORE_FILE, ResultStore, check_out_dir, show_study
from .provenance import (
    CellProvenance,
    ParamInfo,
    ProtocolStep,
    cell_provenance,
    describe_setting,
    param_info,
    protocol_settings,
)
from .table import SummaryTable, summary_table, varying_params
from .text import Block, doc_blocks, inline_code

if TYPE_CHECKING:
    from ..studies import Study

__all__ = ["REPORT_DIR", "write_report"]

REPORT_DIR = "report"  # the report's folder inside the results folder


@dataclass(frozen=True)
class Figure:
    """One figure of a study page: its SVG file (beside the page) and its title."""

    file: str
    title: str


@dataclass(frozen=True)
class StudyPage:
    """Everything one study page shows."""

    study: Study
    file: str
    cells: int
    runs: int
    blocks: list[Block]
    table: SummaryTable
    figures: list[Figure]
    steps: list[ProtocolStep]
    runner: str
    provenance: list[CellProvenance]
    params: list[ParamInfo]
    tolerance_columns: list[str]


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("landscope.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["code"] = inline_code
    return env


def _no_store(out: Path) -> str:
    return (
        f"there is no results store in {str(out)!r}; "
        f"run a study first with `landscope run STUDY --out {out}`."
    )


def _stored_rows(out: Path, candidates: Sequence[Study]) -> dict[str, list[dict]]:
    """Each candidate study's stored rows (without ``params``), by study name."""
    if not (out / STORE_FILE).is_file():
        raise ValueError(_no_store(out))
    with ResultStore(out, read_only=True) as store:
        return {s.name: store.rows(s.table_name, exclude=("params",)) for s in candidates}


def _draw_figures(
    study: Study, summary: list[dict], dest: Path, taken: set[str], out: Path
) -> list[Figure]:
    """Draw the study's figures (as ``landscope plot`` does, with its mark on an incomplete
    study) and keep their SVGs in ``dest``.

    A file name another study's figure already took gets the study's name in front.
    """
    from ..plot import incomplete_note, render  # matplotlib: only when a report is written

    note = incomplete_note(study.name, out)

    scratch = Path(tempfile.mkdtemp(prefix=".figures-", dir=dest))
    try:
        figures = []
        for spec in study.figures(summary):
            svg = next(p for p in render(spec, scratch, note=note) if p.suffix == ".svg")
            name = svg.name if svg.name not in taken else f"{study.name}-{svg.name}"
            taken.add(name)
            os.replace(svg, dest / name)
            figures.append(Figure(name, spec.title or spec.stem))
        return figures
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _page(study: Study, rows: list[dict], out: Path, dest: Path, taken: set[str]) -> StudyPage:
    summary = show_study(study, out)
    provenance = cell_provenance(study, rows)
    return StudyPage(
        study=study,
        file=f"{study.name}.html",
        cells=len(provenance),
        runs=len(rows),
        blocks=doc_blocks(study.doc)[1:],  # the first paragraph is the summary: the lead
        table=summary_table(study, summary, varying_params(study, rows)),
        figures=_draw_figures(study, summary, dest, taken, out),
        steps=protocol_settings(study),
        runner=describe_setting(study.run_cell),
        provenance=provenance,
        params=param_info(study, provenance),
        tolerance_columns=[name for name, _ in provenance[0].tolerances] if provenance else [],
    )


def _fresh_dir(parent: Path, prefix: str) -> Path:
    """A new, empty folder in ``parent`` (permissions as the umask allows, unlike mkdtemp)."""
    while True:
        path = parent / f"{prefix}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def _replace(new: Path, final: Path) -> None:
    """Move the finished folder ``new`` to ``final``, replacing what was there."""
    if not final.exists() and not final.is_symlink():
        os.replace(new, final)
        return
    old = _fresh_dir(final.parent, ".report-old-")
    os.replace(final, old / "report")
    try:
        os.replace(new, final)
    except BaseException:
        os.replace(old / "report", final)  # put the previous report back
        shutil.rmtree(old, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_report(
    out_dir: str | Path,
    studies: Sequence[Study] | None = None,
    *,
    registry: Mapping[str, Study] | None = None,
) -> Path:
    """Write the static HTML report of stored studies into ``out_dir/report/``.

    ``index.html`` lists the studies; each study gets ``<name>.html`` with its question,
    summary table (sortable by a click on a header), figures (SVG files beside the page),
    protocol settings and the provenance of every cell. Everything is read from the store
    and the study objects; nothing is recomputed. A previous report is replaced whole.

    Args:
        out_dir: the results folder (holding ``results.duckdb``).
        studies: the studies to report; None: every study of ``registry`` with stored runs.
        registry: the known studies (default: ``landscope.studies.studies()``).

    Returns:
        The path of ``index.html``.

    Raises:
        ValueError: if there is no store, a study asked for has no stored runs, no study
            has any, or the folder cannot be written; nothing is written then.
    """
    out = Path(out_dir)
    if studies is None:
        if registry is None:
            from ..studies import studies as all_studies

            registry = all_studies()
        candidates = list(registry.values())
    else:
        candidates = list({s.name: s for s in studies}.values())
    stored = _stored_rows(out, candidates)
    if studies is not None:
        for s in candidates:
            if not stored[s.name]:
                raise ValueError(
                    f"no results for study {s.name!r} in {str(out)!r}; "
                    f"run it first with `landscope run {s.name} --out {out}`."
                )
    chosen = [s for s in candidates if stored[s.name]]
    if not chosen:
        raise ValueError(
            f"no study has stored runs in {str(out)!r}; "
            f"run one first with `landscope run STUDY --out {out}`."
        )
    check_out_dir(out)
    final = out / REPORT_DIR
    tmp = _fresh_dir(out, ".report-new-")
    try:
        env = _environment()
        taken: set[str] = set()
        pages = [_page(s, stored[s.name], out, tmp, taken) for s in chosen]
        context: dict[str, Any] = {"version": __version__, "out_dir": str(out), "pages": pages}
        for page in pages:
            html = env.get_template("study.html").render(page=page, **context)
            (tmp / page.file).write_text(html, encoding="utf-8")
        html = env.get_template("index.html").render(**context)
        (tmp / "index.html").write_text(html, encoding="utf-8")
        _replace(tmp, final)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        reason = err.strerror or str(err)
        raise ValueError(f"could not write the report into {str(final)!r} ({reason}).") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final / "index.html"
