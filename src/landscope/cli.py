"""The ``landscope`` command: list, run, show and plot studies.

Errors a user can make (unknown study or parameter, bad value, bad folder) end with one
sentence on stderr, prefixed ``landscope: error:``, and exit code 2; never a traceback.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from .studies import Study, parse_values, studies
from .sweep import plot_study, run_study, show_study

__all__ = ["main"]

DEFAULT_OUT = "landscope-out"
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="landscope",
        description="Experiments on the optimization landscape of neural networks.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("studies", help="list the studies, one per line")

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

    show = sub.add_parser("show", help="print a study's table from the store")
    show.add_argument("study", metavar="STUDY")
    show.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    show.add_argument("--format", choices=("table", "csv", "json"), default="table")

    plot = sub.add_parser("plot", help="draw a study's figures (PNG and SVG) from the store")
    plot.add_argument("study", metavar="STUDY")
    plot.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")

    acts = sub.add_parser(
        "activations", help="rho(sigma) and the properties P1-P3 of every registered activation"
    )
    acts.add_argument("--format", choices=("table", "csv", "json"), default="table")
    acts.add_argument(
        "--sigma",
        default="0.1,1,10",
        help="comma-separated sigmas for the rho columns (default: 0.1,1,10)",
    )
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
    from . import activations
    from .problems import local_convexity

    sigmas = _parse_sigmas(sigma_text)
    rows = [activations.report(n, sigmas).as_dict() for n in activations.names()]
    # local strong convexity at a reference teacher: W* = I_3, v* = (1, -1, 1), for
    # which the rho bound v_min^2 rho(sigma_k) / (kappa^2 lambda) is rho(1)
    W_ref = torch.eye(3, dtype=torch.float64)
    v_ref = torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)
    for r in rows:
        lc = local_convexity(W_ref, v_ref, r["name"])
        r["hessian_eig_min"] = lc.eig_min
        r["hessian_bound"] = lc.bound
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


def _lookup(registry: Mapping[str, Study], name: str) -> Study:
    if name not in registry:
        raise ValueError(f"unknown study {name!r}; known studies: {', '.join(sorted(registry))}.")
    return registry[name]


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


def _cell_text(value: Any, spec: str) -> str:
    if value is None:
        return "-"
    try:
        return format(value, spec)
    except (TypeError, ValueError):  # e.g. a float spec on a string column
        return str(value)


def _print_table(study: Study, summary: list[dict]) -> None:
    table = Table(title=study.name)
    for _key, header, _spec in study.table:
        table.add_column(header, justify="right")
    for row in summary:
        table.add_row(*(_cell_text(row.get(key), spec) for key, _header, spec in study.table))
    console = Console()
    if not console.is_terminal:
        # Piped output has no width to respect; keep every column whole instead of wrapping.
        # (measure within a wide limit: the default options clamp it to 80 columns)
        wide = console.options.update(max_width=10_000)
        console = Console(width=max(80, console.measure(table, options=wide).maximum))
    console.print(table)


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


def _dispatch(args: argparse.Namespace, registry: Mapping[str, Study]) -> int:
    if args.command == "studies":
        width = max((len(n) for n in registry), default=0)
        for name in sorted(registry):
            print(f"{name:<{width}}  {registry[name].summary}")
        return 0
    if args.command == "activations":
        return _activations(args.format, args.sigma)

    study = _lookup(registry, args.study)
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
        )
        print(report.describe(study.name))
        _print_summary(study, show_study(study, args.out), "table")
    elif args.command == "show":
        _print_summary(study, show_study(study, args.out), args.format)
    elif args.command == "plot":
        for path in plot_study(study, args.out):
            print(path)
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
        return _dispatch(args, studies() if registry is None else registry)
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
