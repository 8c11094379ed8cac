"""The ``landscope`` command: list, run, show and plot studies; spectra of stored runs.

Errors a user can make (unknown study or parameter, bad value, bad folder) end with one
sentence on stderr, prefixed ``landscope: error:``, and exit code 2; never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import inspect
import json
import math
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from . import __version__, kernels
from .activations import activation_table
from .connect import connect_runs
from .data import DATA_SOURCES, DATA_SUFFIXES, points
from .plot import density_figure, path_figure, plot_study, stem_figure
from .spectrum import MAX_DENSE, spectrum_of
from .studies import Study, get_study, parse_values, studies
from .sweep import STORE_FILE, StoredPoint, check_out_dir, run_study, show_study, stored_point

__all__ = ["main"]

DEFAULT_OUT = "landscope-out"
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


OUT_HELP = f"output folder (default: {DEFAULT_OUT})"

# Wall time of `landscope run STUDY` at default size, float64, and the host it was measured
# on: the latest measurement of each study in benchmarks/README.md ("Study run times at
# default size"); studies declare no run time of their own.
EXPECTED_TIME = {
    "spurious-relu": "31 s with numba, 95 s without (a 2-core VM, alone)",
    "spurious-spectra": "328 s (2 cores shared with another job)",
    "least-symmetry": "155 s (2 idle cores)",
    "quadratic-nets": "236 s (2 cores)",
    "quadratic-deep": "152 s (a 2-core VM, alone)",
    "recovery": "161 s (2 cores)",
    "ntk-convergence": "54 s (2 idle cores)",
    "beyond-ntk": "152 s (2 idle cores)",
    "level-sets": "46 s (2 idle cores)",
    "minima-barriers": "13 s (2 idle cores)",
    "convex-relu": "124 s (2 cores, alone)",
    "convex-bn": "142 s (2 cores, alone)",
    "univariate-regimes": "261 s (2 cores, alone)",
    "dropout-rate": "140 s (2 cores, alone)",
}


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="landscope",
        description="Experiments on the optimization landscape of neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"landscope {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    studies_p = sub.add_parser(
        "studies", help="list the studies, one per line; with a name, its documentation"
    )
    studies_p.add_argument(
        "study", metavar="STUDY", nargs="?", help="print this study's documentation and parameters"
    )

    run = sub.add_parser("run", help="run a study (resumes: finished cells are kept)")
    run.add_argument("study", metavar="STUDY")
    run.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUES",
        help="override a parameter's values: k=6,10,20 or k=6..20 (repeatable)",
    )
    run.add_argument("--seeds", type=int, default=None, help="runs per cell (default: the study's)")
    run.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    run.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    run.add_argument("--dtype", default="float64", help="float64 or float32 (default: float64)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument("--jobs", type=int, default=1,
                     help="cells computed at once in worker processes (default: 1)")  # fmt: skip
    run.add_argument("--executor", choices=("local", "ray"), default="local",
                     help="local (this machine, --jobs) or ray (cells as Ray tasks)")  # fmt: skip
    run.add_argument("--address", default=None, metavar="auto|HOST:PORT",
                     help="the Ray cluster for --executor ray (default: a local Ray)")  # fmt: skip

    show = sub.add_parser("show", help="print a study's table from the store")
    show.add_argument("study", metavar="STUDY")
    show.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    show.add_argument("--format", choices=("table", "csv", "json"), default="table")

    plot = sub.add_parser("plot", help="draw a study's figures (PNG and SVG) from the store")
    plot.add_argument("study", metavar="STUDY")
    plot.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")

    report = sub.add_parser(
        "report", help="write a static HTML report of stored studies into OUT/report/"
    )
    report.add_argument("studies", metavar="STUDY", nargs="*",
                        help="studies to include (default: all with stored runs)")  # fmt: skip
    report.add_argument("--out", default=DEFAULT_OUT, help=OUT_HELP)

    export = sub.add_parser("export", help="write a study's stored runs as Parquet or CSV")
    export.add_argument("study", metavar="STUDY")
    export.add_argument("--out", default=DEFAULT_OUT, help=OUT_HELP)
    export.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    export.add_argument("--to", default=None, metavar="FILE",
                        help="file to write (default: OUT/export/<table>.<format>)")  # fmt: skip

    status = sub.add_parser(
        "status", help="cells done and pending, runs stored and time left, of a (running) study"
    )
    status.add_argument("study", metavar="STUDY", nargs="?",
                        help="the study (default: every study in the store)")  # fmt: skip
    status.add_argument("--out", default=DEFAULT_OUT, help=OUT_HELP)
    status.add_argument("--format", choices=("table", "json"), default="table")

    spec = sub.add_parser(
        "spectrum",
        help="Hessian spectrum of one stored run: dense when small, else Lanczos, trace and SLQ",
    )
    spec.add_argument("study", metavar="STUDY")
    spec.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    spec.add_argument("--seed", type=int, default=0, help="the run's seed (default: 0)")
    spec.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="pin the run's cell: one value per parameter, as many as the store needs",
    )
    spec.add_argument("--format", choices=("table", "json"), default="table")
    spec.add_argument(
        "--max-dense",
        type=int,
        default=MAX_DENSE,
        help=f"largest P for the exact dense spectrum (default: {MAX_DENSE})",
    )
    spec.add_argument(
        "--tol",
        type=float,
        default=1e-6,
        help="|eigenvalue| <= tol is near zero; closer neighbours are one (default: 1e-6)",
    )
    spec.add_argument("--k", type=int, default=5, help="Lanczos: eigenvalues per end (default: 5)")
    spec.add_argument(
        "--probes", type=int, default=100, help="Hutch++: products for the trace (default: 100)"
    )
    spec.add_argument("--slq-probes", type=int, default=10, help="SLQ: start vectors (default: 10)")
    spec.add_argument("--steps", type=int, default=30, help="SLQ: Lanczos steps (default: 30)")

    con = sub.add_parser(
        "connect",
        help="a path between two stored runs of one cell: loss along it, barrier, length",
    )
    con.add_argument("study", metavar="STUDY")
    con.add_argument("seed_a", metavar="A", type=int, help="seed of the first stored run")
    con.add_argument("seed_b", metavar="B", type=int, help="seed of the second stored run")
    con.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    con.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="pin the runs' cell: one value per parameter, as many as the store needs",
    )
    con.add_argument(
        "--method",
        choices=("linear", "string", "neb", "bezier", "chain"),
        default="linear",
        help="straight segment, dynamic string sampling (needs --level), nudged elastic "
        "band with climbing image, or a fitted Bezier curve / one-bend chain (default: linear)",
    )
    con.add_argument("--level", type=float, default=None, help="loss level L0 (string: needed)")
    con.add_argument(
        "--align", action="store_true", help="permute B's hidden units to match A's first"
    )
    con.add_argument("--format", choices=("table", "json"), default="table")

    acts = sub.add_parser(
        "activations", help="rho(sigma) and the properties P1-P3 of every registered activation"
    )
    acts.add_argument("--format", choices=("table", "csv", "json"), default="table")
    acts.add_argument(
        "--sigma",
        default="0.1,1,10",
        help="comma-separated sigmas for the rho columns (default: 0.1,1,10)",
    )

    ntk = sub.add_parser(
        "ntk",
        help="lambda_0 and the spectrum of a data set's infinite-width kernel (H-infinity)",
    )
    ntk.add_argument(
        "--data",
        default="sphere",
        help="sphere (uniform on the unit sphere), digits (scikit-learn's, rows of unit "
        "norm), or a .npy / .csv file holding an (n, d) array (default: sphere)",
    )
    ntk.add_argument(
        "--n", type=int, default=None, help="points (default: 100; a file: all its rows)"
    )
    ntk.add_argument("--d", type=int, default=10, help="sphere: dimension (default: 10)")
    ntk.add_argument("--seed", type=int, default=0, help="sphere: random seed (default: 0)")
    ntk.add_argument("--activation", default="relu", help="a registered activation (default: relu)")
    ntk.add_argument("--kind", choices=("h_inf", "ntk", "nngp"), default="h_inf")
    ntk.add_argument("--depth", type=int, default=1, help="hidden layers (default: 1)")
    ntk.add_argument("--k", type=int, default=5, help="eigenvalues shown per end (default: 5)")
    ntk.add_argument("--format", choices=("table", "json"), default="table")
    return parser


def _parse_sigmas(text: str) -> tuple[float, ...]:
    out = []
    for part in text.split(","):
        try:
            s = float(part)
        except ValueError:
            s = math.nan
        if not (math.isfinite(s) and s > 0):
            raise ValueError(f"--sigma takes positive numbers separated by commas; got {text!r}.")
        out.append(s)
    return tuple(out)


def _activations(fmt: str, sigma_text: str) -> int:
    """``landscope activations``: the activation table as JSON, CSV or a rich table."""
    rows = activation_table(sigmas=_parse_sigmas(sigma_text)).as_dicts()
    if fmt == "json":
        print(json.dumps(_jsonable(rows), indent=2))
        return 0
    flat = []
    for r in rows:
        row = {"name": r["name"], "phi": r["description"]}
        row.update({f"rho({k})": v for k, v in r["rho"].items()})
        row.update(
            {
                "rho_min": r["rho_min"],
                "P1": r["p1"],
                "p": r["p1_exponent"],
                "P2": r["p2"],
                "P3": r["p3"],
                "hermite": " ".join(str(j) for j in r["hermite_orders"]),
                "eig_min H*": r["hessian_eig_min"],
                "rho bound": r["hessian_bound"],
            }
        )
        flat.append(row)
    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(flat[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(flat)
        return 0
    table = Table(
        title="rho(sigma) of Zhong et al. (2017); P2: rho > 0 for sigma in 0.1..10; "
        "hermite: orders j <= 4 with c_j = E phi(z) He_j(z) != 0; "
        "eig_min H*: population Hessian at W* = I_3, v* = (1,-1,1) vs the rho bound"
    )
    for key in flat[0]:
        table.add_column(key, justify="left" if key in ("name", "phi") else "right")
    for row in flat:
        cells = []
        for v in row.values():
            if isinstance(v, bool):
                cells.append("yes" if v else "no")
            elif isinstance(v, float):
                cells.append(f"{v:.4g}")
            else:
                cells.append("-" if v is None else str(v))
        table.add_row(*cells)
    Console(width=200).print(table)
    return 0


def _ntk(args: argparse.Namespace) -> int:
    """``landscope ntk``: lambda_0 and both ends of the spectrum of a data set's kernel."""
    for flag, value in (("--n", args.n), ("--d", args.d), ("--k", args.k)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be a positive integer; got {value}.")
    data = args.data
    if data not in DATA_SOURCES and not data.lower().endswith(DATA_SUFFIXES):
        raise ValueError(f"--data takes sphere, digits, or a .npy or .csv file; got {data!r}.")
    X = points(data, args.n, d=args.d, seed=args.seed)
    result = kernels.ntk_report(X, args.activation, args.kind, args.depth, k=args.k)
    report = {"data": data, **result.as_dict()}
    if args.format == "json":
        print(json.dumps(_jsonable(report), indent=2))
        return 0
    summary = result.spectrum
    name = {"h_inf": "H-infinity", "ntk": "NTK", "nngp": "NNGP kernel"}[args.kind]
    table = Table(title=f"{name} of {data} ({args.activation}, depth {args.depth})")
    table.add_column("quantity", justify="left")
    table.add_column("value", justify="right")
    table.add_row("n", str(report["n"]))
    table.add_row("d", str(report["d"]))
    table.add_row("lambda_0", f"{summary.lambda_0:.6g}")
    table.add_row("lambda_max", f"{summary.lambda_max:.6g}")
    table.add_row("condition", f"{summary.condition:.6g}")
    table.add_row("smallest", ", ".join(f"{v:.6g}" for v in summary.smallest))
    table.add_row("largest", ", ".join(f"{v:.6g}" for v in summary.largest))
    Console(width=200).print(table)
    return 0


def parse_sets(study: Study, sets: Sequence[str]) -> dict[str, list]:
    """Turn ``["k=6,10", "extra=0..2"]`` into typed overrides.

    Raises:
        ValueError: for text without ``=``, an unknown parameter, a parameter set twice,
            or a value its parameter does not take.
    """
    overrides: dict[str, list] = {}
    for text in sets:
        key, sep, values = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--set takes key=values (for example --set k=6,10,20); got {text!r}.")
        param = study.param(key)
        if key in overrides:
            raise ValueError(f"parameter {key!r} was set twice; give all its values in one --set.")
        overrides[key] = parse_values(param, values)
    return overrides


def _cell_text(value: Any, spec: str, interval: tuple[Any, Any] | None = None) -> str:
    """``value`` in format ``spec`` ("-" for None); with ``interval`` (a fraction's 95 %
    interval, ``(lo, hi)``) also the interval, compactly: ``7.0% (3-14)`` in whole percents
    for a percent spec, ``0.070 (0.034-0.138)`` otherwise."""
    if value is None:
        return "-"
    try:
        text = format(value, spec)
    except (TypeError, ValueError):  # e.g. a float spec on a string column
        return str(value)
    if interval is None or None in interval:
        return text
    lo, hi = interval
    if spec.endswith("%"):
        from .studies.summary import percent_range  # as the figures write it

        return f"{text} ({percent_range(lo, hi)})"
    return f"{text} ({format(lo, spec)}-{format(hi, spec)})"


def _param_columns(study: Study, summary: list[dict]) -> list[tuple[str, str, str]]:
    """Table columns (key, header, spec) of the study's parameters that differ between
    summary rows (rows without the parameter left out) but are not printed: no column of
    the table, nor equal row for row to one (spurious-relu's d = k). Without them two rows
    could look alike."""
    shown = [[row.get(key) for row in summary] for key, _header, _spec in study.table]
    names = {key for key, _header, _spec in study.table}
    out = []
    for p in study.params:
        values = {repr(row[p.name]) for row in summary if p.name in row}
        column = [row.get(p.name) for row in summary]
        if p.name not in names and len(values) > 1 and column not in shown:
            out.append((p.name, p.name, "g" if p.kind is float else ""))
    return out


def _words(headers: list[str], rows: list[list[str]]) -> list[int]:
    """Each column's longest word, over its header and its cells: the narrowest it can be
    without cutting a number."""
    return [
        max((len(w) for text in (header, *(row[i] for row in rows)) for w in text.split()),
            default=1)
        for i, header in enumerate(headers)
    ]  # fmt: skip


def _column_groups(words: list[int], lead: int, width: int) -> list[list[int]] | None:
    """Split columns of widths ``words`` (one space between) into tables of at most
    ``width`` characters, printed one under another: the first ``lead`` columns (the
    cell's parameters, which say what a row is) start every table, the others follow in
    order, as many to a table as fit. If the lead with any one other column is too wide,
    the tables go without the lead; None if a column alone is too wide.
    """
    span = lambda cols: sum(words[i] for i in cols) + len(cols) - 1  # noqa: E731
    rest = list(range(lead, len(words)))
    head = list(range(lead))
    if any(span([*head, i]) > width for i in rest):
        head, rest = [], list(range(len(words)))
    if any(words[i] > width for i in rest):
        return None
    groups: list[list[int]] = []
    for i in rest:
        if groups and span([*groups[-1], i]) <= width:
            groups[-1].append(i)
        else:
            groups.append([*head, i])
    return groups


def _table(
    title: str, headers: list[str], rows: list[list[str]], narrow: int | None = None
) -> Table:
    """A rich table of texts. ``narrow``: the width of a terminal too narrow for it: no
    rules, one space between columns, each column as wide as its longest word where they
    fit in ``narrow`` (headers, and fractions' intervals, wrap under), else as rich
    squeezes them."""
    if narrow is None:
        table = Table(title=title)
    else:
        from rich.box import SIMPLE_HEAD

        table = Table(title=title, box=SIMPLE_HEAD, show_edge=False, padding=0)
    words = _words(headers, rows)
    fit = narrow is not None and sum(words) + len(words) - 1 <= narrow
    for header, width in zip(headers, words, strict=True):
        table.add_column(header, justify="right", width=width if fit else None)
    for row in rows:
        table.add_row(*row)
    return table


def _print_table(study: Study, summary: list[dict]) -> None:
    """The study's table; a fraction with a 95 % interval (``key_lo``, ``key_hi`` in the
    summary) prints it in its cell, and every parameter that differs between rows but is
    not printed gets a column, after the table's last parameter column. A cell with
    diverged runs (a summary key ``diverged`` > 0) adds a ``diverged`` column. A terminal
    too narrow for the table even with each column as wide as its longest word gets it as
    several tables, each led by the parameter columns, so that no number is cut."""
    columns = list(study.table)
    names = {p.name for p in study.params}
    at = max((i + 1 for i, (key, _h, _s) in enumerate(columns) if key in names), default=0)
    extra = _param_columns(study, summary)
    columns[at:at] = extra
    lead = at + len(extra)
    keys = {key for key, _h, _s in columns}
    if "diverged" not in keys and any(
        isinstance(row.get("diverged"), (int, float)) and row["diverged"] > 0 for row in summary
    ):
        # hidden, every fraction of a diverged cell reads 0 %; after the last fraction
        last = max((i + 1 for i, (_k, _h, spec) in enumerate(columns) if spec.endswith("%")),
                   default=len(columns))  # fmt: skip
        columns.insert(last, ("diverged", "diverged", ".0%"))
    rows = []
    for row in summary:
        cells = []
        for key, _header, spec in columns:
            lo, hi = f"{key}_lo", f"{key}_hi"
            interval = (row[lo], row[hi]) if lo in row and hi in row else None
            cells.append(_cell_text(row.get(key), spec, interval))
        rows.append(cells)
    headers = [header for _key, header, _spec in columns]
    table = _table(study.name, headers, rows)
    console = Console()
    # measure within a wide limit: the default options clamp it to the console's width
    wide = console.options.update(max_width=10_000)
    width = console.measure(table, options=wide).maximum
    if not console.is_terminal:
        # Piped output has no width to respect; keep every column whole instead of wrapping.
        console = Console(width=max(80, width))
    elif width > console.width:
        groups = _column_groups(_words(headers, rows), lead, console.width)
        if groups is None or len(groups) == 1:
            table = _table(study.name, headers, rows, narrow=console.width)
        else:
            # too wide for its columns' longest words: several tables rather than cut numbers
            for n, cols in enumerate(groups):
                if n:
                    console.print()  # a title would wrap over a narrow part's width
                part = [[row[i] for i in cols] for row in rows]
                title = "" if n else study.name
                console.print(_table(title, [headers[i] for i in cols], part, narrow=console.width))
            return
    console.print(table)


def _describe(study: Study) -> None:
    """A study's docstring (its question and paper first), its parameters with their
    defaults and meaning, its default size and how long that took where it was measured."""
    print(inspect.cleandoc(study.doc))
    print()
    table = Table(title=f"parameters of {study.name} (--set NAME=VALUES)")
    for header in ("name", "type", "default", "meaning"):
        table.add_column(header)
    for p in study.params:
        vals = list(p.default)
        run = p.kind is int and len(vals) > 2 and vals == list(range(vals[0], vals[-1] + 1))
        default = f"{vals[0]}..{vals[-1]}" if run else ",".join(str(v) for v in vals)
        table.add_row(p.name, p.kind.__name__, default, p.help)
    Console().print(table)
    cells = len(study.cells())
    runs = cells * study.default_seeds
    size = f"default size: {cells} cells x {study.default_seeds} seeds = {runs:,} runs"
    measured = EXPECTED_TIME.get(study.name)
    print(size + (f"; expected time {measured}" if measured else ""))
    print(f"default seeds per cell: {study.default_seeds}")


def _jsonable(value: Any) -> Any:
    """JSON has no NaN or infinity (they become null) and no numpy types."""
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _print_summary(study: Study, summary: list[dict], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(_jsonable(summary), indent=2))
    elif fmt == "csv":
        fields = list(dict.fromkeys(k for row in summary for k in row))
        writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(summary)
    else:
        _print_table(study, summary)


def _point(study: Study, args: argparse.Namespace, seed: int) -> StoredPoint:
    """The stored run ``seed`` of the cell that ``--set`` pins, one value per parameter."""
    pins = {}
    for key, values in parse_sets(study, args.sets).items():
        if len(values) != 1:
            raise ValueError(
                f"--set {key} gives {len(values)} values; "
                f"{args.command} takes one value per parameter."
            )
        pins[key] = values[0]
    return stored_point(study, args.out, pins, seed, what=args.command)


@contextlib.contextmanager
def _working(text: str) -> Iterator[None]:
    """Say on stderr what is being computed: a spinner with the elapsed time while it runs
    (on a terminal), then a line with the time it took; stdout stays the result's. A bad
    setting found by the computation leaves its one sentence alone on stderr."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    t0 = time.perf_counter()
    if console.is_terminal:
        bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                       console=console, transient=True)  # fmt: skip
        with bar:
            bar.add_task(text, total=None)
            yield
    else:
        yield
    print(f"landscope: {text}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)


def _spectrum(study: Study, args: argparse.Namespace) -> int:
    """``landscope spectrum``: print a stored run's Hessian spectrum and draw it."""
    point = _point(study, args, args.seed)
    P = point.theta.shape[-1]
    how = "dense" if P <= args.max_dense else "Lanczos, Hutch++ and SLQ"
    with _working(f"Hessian spectrum of seed {args.seed}, {P} parameters ({how})"):
        result = spectrum_of(
            point.problem,
            point.theta,
            max_dense=args.max_dense,
            tol=args.tol,
            k=args.k,
            probes=args.probes,
            slq_probes=args.slq_probes,
            steps=args.steps,
        )
    cfg = point.config
    report: dict[str, Any] = {
        "study": study.name,
        "seed": int(args.seed),
        "config": cfg,
        "n_params": result.n_params,
        "loss": result.loss,
        "grad_norm": result.grad_norm,
        "verdict": point.row.get("verdict"),
        **result.as_dict(),
    }
    # the cell's hash in the name: runs of different cells may share a seed
    cell = point.config_hash[:8]
    stem = Path(args.out) / "figures" / f"spectrum-{study.name}-{cell}-seed{args.seed}"
    title = f"{study.name}, seed {args.seed}: " + ", ".join(f"{k}={v}" for k, v in cfg.items())
    if result.method == "dense":
        paths = stem_figure(result.eigenvalues, stem, title=title)
    else:
        paths = density_figure(result.density, stem, title=title)
    report["figures"] = [str(p) for p in paths]
    if args.format == "json":
        print(json.dumps(_jsonable(report), indent=2))
    else:
        _print_spectrum(report)
    return 0


def _print_spectrum(r: Mapping[str, Any]) -> None:
    cfg = " ".join(f"{k}={v}" for k, v in r["config"].items())
    print(f"{r['study']} seed {r['seed']}: {cfg}")
    verdict = f", verdict {r['verdict']}" if r.get("verdict") else ""
    print(f"P = {r['n_params']}, loss {r['loss']:.6g}, ||grad|| {r['grad_norm']:.3g}{verdict}")
    if r["method"] == "dense":
        tol = r["tol"]
        print(f"exact spectrum (dense eigvalsh): min {r['eig_min']:.6g}, max {r['eig_max']:.6g}")
        print(
            f"  negative (< -{tol:g}): {r['negative']}, near zero (|λ| <= {tol:g}): "
            f"{r['near_zero']}, positive: {r['positive']}"
        )
        shown = ", ".join(
            f"{d['value']:.6g} (x{d['multiplicity']})"
            if d["multiplicity"] > 1
            else f"{d['value']:.6g}"
            for d in r["distinct"][:12]
        )
        more = ", ..." if len(r["distinct"]) > 12 else ""
        print(f"  distinct to {tol:g}: {r['n_distinct']}: {shown}{more}")
    else:
        fmt = lambda xs: ", ".join(f"{x:.6g}" for x in xs)  # noqa: E731
        print(f"largest (Lanczos): {fmt(r['largest'])}")
        print(f"smallest (Lanczos): {fmt(r['smallest'])}")
        print(f"  residual bounds: max {max(r['bounds']):.2g}")
        print(f"trace (Hutch++): {r['trace']:.6g} ± {r['trace_stderr']:.2g}")
        print(
            f"SLQ ({r['slq_probes']} probes, {r['slq_steps']} steps): mean eigenvalue "
            f"{r['slq_mean']:.6g} ± {r['slq_mean_stderr']:.2g}, tr(H^2)/P "
            f"{r['slq_second_moment']:.6g} ± {r['slq_second_moment_stderr']:.2g}"
        )
    print("figures: " + ", ".join(r["figures"]))


def _connect(study: Study, args: argparse.Namespace) -> int:
    """``landscope connect``: a path between two stored runs, printed and drawn."""
    a = _point(study, args, args.seed_a)
    b = _point(study, args, args.seed_b)
    if a.config_hash != b.config_hash:
        raise ValueError("runs A and B belong to different cells; pin one cell with --set.")
    if args.level is not None and not math.isfinite(args.level):
        raise ValueError(f"--level must be a finite number, got {args.level!r}.")
    if args.method == "string" and args.level is None:
        raise ValueError("--method string needs --level (the loss level L0 to stay under).")
    with _working(f"{args.method} path from seed {args.seed_a} to seed {args.seed_b}"):
        result = connect_runs(
            a.problem, a.theta, b.theta, method=args.method, level=args.level, align=args.align
        )
    report: dict[str, Any] = {
        "study": study.name,
        "seed_a": args.seed_a,
        "seed_b": args.seed_b,
        "config": a.config,
        **result.as_dict(),
    }
    name = f"connect-{study.name}-{a.config_hash[:8]}-{args.seed_a}-{args.seed_b}-{args.method}"
    stem = Path(args.out) / "figures" / name
    title = f"{study.name} seeds {args.seed_a} -> {args.seed_b}, {args.method}"
    report["figures"] = [str(p) for p in path_figure(result.path, stem, title=title)]
    if args.format == "json":
        print(json.dumps(_jsonable(report), indent=2))
    else:
        table = Table(title=title)
        table.add_column("quantity")
        table.add_column("value", justify="right")
        for key, value in report.items():
            if key not in ("config", "figures"):
                table.add_row(key, _cell_text(value, ".6g"))
        Console().print(table)
        print("figures: " + ", ".join(report["figures"]))
    return 0


def _check_out(args: argparse.Namespace) -> None:
    """Refuse an empty ``--out``, and prove that the commands which draw figures from a
    stored run (plot, spectrum, connect) can write them before they compute anything.

    ``run``, ``report`` and ``export`` prove it themselves, before they compute; without a
    store there is nothing to draw, and the command's own "run it first" sentence follows.

    Raises:
        ValueError: for an empty ``--out`` or a folder that cannot be written.
    """
    out = getattr(args, "out", None)
    if out is None:
        return
    if not out.strip():
        raise ValueError("--out needs a folder name; got an empty one.")
    if args.command in ("plot", "spectrum", "connect") and (Path(out) / STORE_FILE).is_file():
        figures = Path(out) / "figures"
        made = not figures.exists()
        try:
            check_out_dir(figures)
        except ValueError:
            if made:
                with contextlib.suppress(OSError):
                    figures.rmdir()  # the check's own folder, while empty
            raise


def _dispatch(args: argparse.Namespace, registry: Mapping[str, Study] | None) -> int:
    _check_out(args)
    if args.command == "studies":
        known = studies() if registry is None else registry
        if args.study is not None:
            _describe(get_study(args.study, known))
            return 0
        width = max((len(n) for n in known), default=0)
        for name in sorted(known):
            print(f"{name:<{width}}  {known[name].summary}")
        return 0
    if args.command == "activations":
        return _activations(args.format, args.sigma)
    if args.command == "ntk":
        return _ntk(args)

    if args.command == "report":
        from .report import write_report

        known = studies() if registry is None else registry
        chosen = [get_study(name, known) for name in args.studies] or None
        print(write_report(args.out, chosen, registry=known))
        return 0
    if args.command == "status":
        from .sweep.status import print_status

        known = studies() if registry is None else registry
        chosen = None if args.study is None else get_study(args.study, known)
        return print_status(args.out, chosen, registry=known, fmt=args.format)

    study = get_study(args.study, registry)
    if args.command == "export":
        from .sweep.export import export_study

        print(export_study(study, args.out, args.format, args.to))
        return 0
    if args.command == "run":
        overrides = parse_sets(study, args.sets)
        seeds = study.default_seeds if args.seeds is None else args.seeds
        report = run_study(
            study,
            overrides,
            seeds,
            args.out,
            device=args.device,
            dtype=args.dtype,
            progress=not args.quiet,
            jobs=args.jobs,
            executor=args.executor,
            address=args.address,
        )
        print(report.describe(study.name))
        _print_summary(study, show_study(study, args.out), "table")
    elif args.command == "show":
        _print_summary(study, show_study(study, args.out), args.format)
    elif args.command == "plot":
        for path in plot_study(study, args.out):
            print(path)
    elif args.command == "spectrum":
        return _spectrum(study, args)
    elif args.command == "connect":
        return _connect(study, args)
    return 0


def main(argv: Sequence[str] | None = None, registry: Mapping[str, Study] | None = None) -> int:
    """Run the ``landscope`` command.

    Args:
        argv: arguments without the program name (default ``sys.argv[1:]``).
        registry: studies by name (default: the registered ones); tests and plug-ins pass
            their own.

    Returns:
        The exit code: 0 on success, 2 for bad input, 130 when interrupted.
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse exits on --help (0) and on usage errors (2)
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    try:
        return _dispatch(args, registry)
    except ValueError as err:
        print(f"landscope: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(
            "\nlandscope: interrupted; finished cells are kept in the store, "
            "and running the same command again resumes from there.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `landscope show ... | head`: the reader left; close quietly instead of a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
