"""The report in a real browser: headless Chromium (Debian's ``chromium``) via Playwright.

Every page loads from ``file://`` without a console error or a failed request, every
figure is drawn, the summary table holds the stored cells and sorts when a header is
clicked. Playwright drives the system browser (``executable_path``); it never downloads
one. CI installs ``chromium`` (.ci/run); without it these tests are skipped.

With ``LANDSCOPE_DOCS_SCREENSHOT=PATH`` set, ``test_docs_screenshot`` writes the
README's picture of a study page (docs/report.png) to PATH, from a larger run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from landscope.report import write_report
from landscope.studies import get_study
from landscope.sweep import run_study, show_study

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOCS_ENV = "LANDSCOPE_DOCS_SCREENSHOT"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(),
    reason=f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; CI installs it)",
)

STUDY = get_study("spurious-relu")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of a small real run: spurious-relu, n = k at k = 5 and 6, 12 seeds."""
    out = tmp_path_factory.mktemp("browser-store")
    run_study(STUDY, {"k": [5, 6], "extra": [0]}, 12, out, progress=False)
    return write_report(out, [STUDY])


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


class Visit:
    """A page opened from disk, with the console errors and failed requests it caused."""

    def __init__(self, browser, path: Path, width: int = 1200, height: int = 900) -> None:
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda err: self.errors.append(f"page error: {err}"))
        self.page.on("requestfailed", lambda req: self.errors.append(f"failed: {req.url}"))
        self.page.goto(path.resolve().as_uri(), wait_until="load")

    def _console(self, msg) -> None:
        if msg.type in ("error", "warning"):
            self.errors.append(f"console {msg.type}: {msg.text}")

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def visit(browser) -> Iterator:
    opened: list[Visit] = []

    def open_(path: Path, **kw) -> Visit:
        opened.append(Visit(browser, path, **kw))
        return opened[-1]

    yield open_
    for v in opened:
        v.close()


def column(page, index: int) -> list[str]:
    """The sort keys of one column of the summary table, top to bottom."""
    return page.eval_on_selector_all(
        "#summary tbody tr", f"rows => rows.map(r => r.cells[{index}].dataset.sort)"
    )


def test_every_page_loads_without_errors_and_draws_its_figures(report: Path, visit) -> None:
    pages = sorted(report.parent.glob("*.html"))
    assert [p.name for p in pages] == ["index.html", f"{STUDY.name}.html"]
    for path in pages:
        v = visit(path)
        assert v.errors == [], f"{path.name}: {v.errors}"
        images = v.page.eval_on_selector_all(
            "img", "imgs => imgs.map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])"
        )
        for src, complete, width in images:
            assert complete and width > 0, f"{path.name}: image {src} is broken"
        if path.name != "index.html":
            assert len(images) >= 1
    # every link of the index leads to a page that exists
    v = visit(report)
    hrefs = v.page.eval_on_selector_all("a", "links => links.map(a => a.getAttribute('href'))")
    assert f"{STUDY.name}.html" in hrefs
    assert all((report.parent / h).is_file() for h in hrefs)


def test_table_holds_the_stored_cells_and_sorts_on_click(
    report: Path, visit, tmp_path: Path
) -> None:
    summary = show_study(STUDY, report.parent.parent)
    v = visit(report.parent / f"{STUDY.name}.html")
    assert v.page.locator("#summary tbody tr").count() == len(summary) == 2
    headers = v.page.locator("#summary thead th")
    keys = [headers.nth(i).get_attribute("data-key") for i in range(headers.count())]
    k = keys.index("k")
    assert column(v.page, k) == [repr(float(c["k"])) for c in summary]

    header = v.page.locator('#summary thead th[data-key="k"]')
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert column(v.page, k) == ["5.0", "6.0"]
    header.click()
    assert header.get_attribute("aria-sort") == "descending"
    assert column(v.page, k) == ["6.0", "5.0"]
    # the rows move whole: each row's n still equals its k (n = k in this store)
    n = keys.index("n")
    assert column(v.page, n) == ["6.0", "5.0"]
    assert v.errors == []

    shot = tmp_path / "report.png"
    v.page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def docs_screenshot(browser, path: Path, work: Path) -> Path:
    """The README's picture: the top of the spurious-relu page of a run with some spurious
    minima (n = k at k = 6..10, 40 seeds each), its table sorted by the spurious share."""
    out = work / "docs-store"
    run_study(STUDY, {"k": [6, 7, 8, 9, 10], "extra": [0]}, 40, out, progress=False)
    index = write_report(out, [STUDY])
    v = Visit(browser, index.parent / f"{STUDY.name}.html", width=1100, height=1250)
    try:
        assert v.errors == []
        v.page.locator('#summary thead th[data-key="spurious_min"]').click()  # sorted, shown
        path.parent.mkdir(parents=True, exist_ok=True)
        v.page.screenshot(path=str(path))
    finally:
        v.close()
    return path


@pytest.mark.skipif(DOCS_ENV not in os.environ, reason=f"set {DOCS_ENV}=PATH to write it")
def test_docs_screenshot(browser, tmp_path: Path) -> None:
    target = Path(os.environ[DOCS_ENV])
    shot = docs_screenshot(browser, tmp_path / "report.png", tmp_path)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, target)
