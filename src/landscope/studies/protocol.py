"""A study's protocol: library steps run in order on one cell's batch of runs.

A cell is one configuration with its seeds; every step works on all of the cell's runs
at once (rows of one ``(R, P)`` tensor). The steps are the library's: initialize, train
with the driver (``landscope.optim.run``), polish and certify (``landscope.critical``),
continue training the rows a verdict singles out, and measure (a function from a room,
returning per-row columns). A study declares ::

    PROTOCOL = Protocol(
        make_problem=make_problem,
        steps=(
            Train(method=lambda cfg: GD(cfg["step"] / cfg["k"]),
                  stop=lambda cfg: Stop(grad_tol=cfg["grad_tol"], max_steps=cfg["max_steps"])),
            PolishCertify(polish_from="polish_from"),
        ),
    )

and the protocol's ``run_cell`` and ``columns`` are what the sweep calls and stores.
Every step's settings come from the configuration (parameters stored with each row), so
a protocol has no hidden constants.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..critical import CERTIFICATE_COLUMNS, Certificate, Tolerances, certify
from ..optim import STATUS, Progress, RunResult, Stop, newton_polish, run
from ..problems import Problem, init_from_seeds
from ._study import RunContext

__all__ = [
    "Cell",
    "Measure",
    "PolishCertify",
    "Protocol",
    "Retrain",
    "Train",
]

Setting = Callable[[dict], Any]


def _value(setting: Any, cfg: Mapping[str, Any]) -> Any:
    """A step setting: a parameter name (str), a function of the configuration, or a value."""
    if isinstance(setting, str):
        return cfg[setting]
    if callable(setting):
        return setting(cfg)
    return setting


@dataclass
class Cell:
    """One cell's runs as they move through the protocol.

    Attributes:
        cfg: the configuration.
        seeds: one seed per run (row).
        ctx: device, dtype and progress of the sweep.
        problem: the problem in the training dtype and device.
        problem64: the same problem in float64 (certification is always float64).
        theta: the current rows (R, P).
        columns: per-row result columns written so far (name -> sequence of length R).
        cert: the latest certificate, if any.
        result: the latest training result, if any.
    """

    cfg: dict
    seeds: list[int]
    ctx: RunContext
    problem: Problem
    problem64: Problem
    theta: torch.Tensor
    columns: dict[str, Any] = field(default_factory=dict)
    cert: Certificate | None = None
    result: RunResult | None = None

    @property
    def R(self) -> int:
        return len(self.seeds)

    def progress(self, done: int, text: str) -> None:
        self.ctx.progress(done, self.R, text)


class StepBase:
    """A protocol step: ``__call__(cell)`` updates the cell; ``columns`` are what it writes."""

    def columns(self) -> dict[str, str]:
        return {}

    def __call__(self, cell: Cell) -> None:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class Train(StepBase):
    """Train every row with the driver.

    Attributes:
        method: the method for a configuration (``cfg -> Method``).
        stop: the stopping rule for a configuration (``cfg -> Stop``).
        label: shown in the progress bar.
        names: the columns it writes: the steps, the driver's status and the final
            gradient norm of each row.
    """

    method: Setting
    stop: Callable[[dict], Stop]
    label: str = "train"
    names: tuple[str, str, str] = ("steps", "opt_status", "opt_grad_norm")

    def columns(self) -> dict[str, str]:
        return dict(zip(self.names, ("BIGINT", "VARCHAR", "DOUBLE"), strict=True))

    def train(self, cell: Cell, theta: torch.Tensor) -> RunResult:
        cell.progress(0, self.label)
        return run(
            cell.problem,
            theta,
            _value(self.method, cell.cfg),
            stop=self.stop(cell.cfg),
            observers=[Progress(cell.ctx.progress, f"{self.label} step")],
        )

    def record(self, cell: Cell, res: RunResult, rows: np.ndarray | None = None) -> None:
        n_steps, n_status, n_gn = self.names
        steps = res.steps.cpu().numpy()
        status = np.array([STATUS[int(s)] for s in res.status.cpu()], dtype=object)
        gn = res.grad_norm.cpu().numpy()
        if rows is None:
            cell.columns[n_steps], cell.columns[n_status], cell.columns[n_gn] = steps, status, gn
        else:  # a continuation: steps add up, the rest is replaced
            cell.columns[n_steps][rows] += steps
            cell.columns[n_status][rows] = status
            cell.columns[n_gn][rows] = gn

    def __call__(self, cell: Cell) -> None:
        res = self.train(cell, cell.theta)
        cell.theta, cell.result = res.theta, res
        self.record(cell, res)


def polish_and_certify(
    problem: Problem,
    theta: torch.Tensor,
    polish_from: float,
    *,
    polish_tol: float = 1e-12,
    skip: torch.Tensor | None = None,
    global_spectrum: bool = True,
    tolerances: Tolerances | None = None,
) -> tuple[torch.Tensor, torch.Tensor, Certificate]:
    """Newton-polish the rows with ||grad|| <= polish_from to ``polish_tol``, then certify.

    ``skip`` (R,) bool marks rows not to polish (e.g. already at the global value);
    ``global_spectrum`` is passed to ``certify``.

    Returns:
        (float64 rows after polishing, Newton iterations per row, the certificate).
    """
    theta = theta.to(torch.float64).clone()
    gn = torch.linalg.vector_norm(problem.grad(theta), dim=1)
    polish = torch.isfinite(gn) & (gn <= polish_from)
    if skip is not None:
        polish = polish & ~skip.to(polish.device)
    iters = torch.zeros(theta.shape[0], dtype=torch.long)
    if bool(polish.any()):
        pol = newton_polish(problem, theta[polish], grad_tol=polish_tol)
        theta[polish] = pol.theta
        iters[polish.cpu()] = pol.iters.cpu()
    kw = {} if tolerances is None else {"tolerances": tolerances}
    return theta, iters, certify(problem, theta, global_spectrum=global_spectrum, **kw)


@dataclass(frozen=True)
class PolishCertify(StepBase):
    """Newton-polish rows near a critical point, then certify every row (float64).

    Attributes:
        polish_from: rows with ||grad|| <= this are polished (parameter name or value).
        polish_tol: the gradient norm Newton polishes to (parameter name or value).
        skip: ``cell -> (R,) bool`` rows not to polish (None: polish all eligible rows).
        global_spectrum: passed to ``certify``.
    """

    polish_from: Any = "polish_from"
    polish_tol: Any = "polish_tol"
    skip: Callable[[Cell], torch.Tensor] | None = None
    global_spectrum: bool = True

    def columns(self) -> dict[str, str]:
        return {**CERTIFICATE_COLUMNS, "polish_iters": "BIGINT"}

    def certify(self, cell: Cell, theta: torch.Tensor) -> tuple:
        return polish_and_certify(
            cell.problem64,
            theta,
            _value(self.polish_from, cell.cfg),
            polish_tol=_value(self.polish_tol, cell.cfg),
            skip=None if self.skip is None else self.skip(cell),
            global_spectrum=self.global_spectrum,
        )

    def __call__(self, cell: Cell) -> None:
        cell.progress(cell.R, "polish + certify")
        cell.theta, iters, cell.cert = self.certify(cell, cell.theta)
        cell.columns["polish_iters"] = iters.numpy()


@dataclass(frozen=True)
class Retrain(StepBase):
    """Continue training the rows whose verdict is in ``verdicts``, then certify them again.

    The continuation starts from where ``train`` stopped (not from the polished point),
    so it is exactly the trajectory the tighter stopping rule would have followed.

    Attributes:
        verdicts: the verdicts that send a row back (e.g. saddle, not_converged).
        train: the ``Train`` step whose rows continue (its method and columns).
        stop: the tighter stopping rule (``cfg -> Stop``).
        certify: the ``PolishCertify`` step to repeat.
        only_converged: continue only rows whose training converged.
    """

    verdicts: tuple[str, ...]
    train: Train
    stop: Callable[[dict], Stop]
    certify: PolishCertify
    only_converged: bool = True

    def __call__(self, cell: Cell) -> None:
        assert cell.cert is not None and cell.result is not None, "certify before Retrain"
        again = np.isin(cell.cert.verdict, self.verdicts)
        if self.only_converged:
            again &= cell.result.status.cpu().numpy() == 1
        if not again.any():
            return
        rows = np.flatnonzero(again)
        start = cell.result.theta[torch.as_tensor(rows).to(cell.result.theta.device)]
        step = Train(self.train.method, self.stop, f"{self.train.label} again", self.train.names)
        res = step.train(cell, start)
        self.train.record(cell, res, rows)
        th, iters, cert = self.certify.certify(cell, res.theta)
        cell.theta[torch.as_tensor(rows).to(cell.theta.device)] = th
        cell.columns["polish_iters"][rows] = iters.numpy()
        cell.cert = cell.cert.replace_rows(rows, cert)


@dataclass(frozen=True)
class Measure(StepBase):
    """Per-row measurements: ``fn(cell) -> {column: values (R,)}`` with declared types.

    The research logic lives in the rooms; ``fn`` calls it on the cell's rows.
    """

    fn: Callable[[Cell], Mapping[str, Any]]
    types: Mapping[str, str]

    def columns(self) -> dict[str, str]:
        return dict(self.types)

    def __call__(self, cell: Cell) -> None:
        out = dict(self.fn(cell))
        if set(out) != set(self.types):
            raise ValueError(f"measurement wrote {sorted(out)}, but declares {sorted(self.types)}.")
        cell.columns.update(out)


def _cell_value(v: Any, r: int) -> Any:
    x = v[r]
    if isinstance(x, np.generic):
        return x.item()
    return x


@dataclass(frozen=True)
class Protocol:
    """How one cell is run: the problem, the initial rows, the steps.

    Attributes:
        make_problem: ``(cfg, dtype=..., device=...) -> Problem``.
        steps: run in order on the cell.
        init: ``(problem, seeds) -> (R, P)`` initial rows (default: one generator per seed).
        keep_params: store the final rows as the ``params`` column.
    """

    make_problem: Callable[..., Problem]
    steps: tuple[StepBase, ...]
    init: Callable[[Problem, Sequence[int]], torch.Tensor] = init_from_seeds
    keep_params: bool = True

    def columns(self) -> dict[str, str]:
        cols: dict[str, str] = {}
        for step in self.steps:
            cols.update(step.columns())
        if self.keep_params:
            cols["params"] = "DOUBLE[]"
        return cols

    def start(self, cfg: dict, seeds: Sequence[int], ctx: RunContext) -> Cell:
        prob = self.make_problem(cfg, dtype=ctx.dtype, device=ctx.device)
        prob64 = prob if prob.dtype == torch.float64 else self.make_problem(cfg, device=ctx.device)
        return Cell(cfg, list(seeds), ctx, prob, prob64, self.init(prob, seeds))

    def run_cell(self, cfg: dict, seeds: Sequence[int], ctx: RunContext) -> list[dict]:
        """Run the steps on one cell; one row (dict) per seed with every declared column."""
        cell = self.start(cfg, seeds, ctx)
        for step in self.steps:
            step(cell)
        cols = dict(cell.columns)
        if self.keep_params:
            cols["params"] = cell.theta.to(torch.float64).cpu().numpy()
        crows = cell.cert.rows() if cell.cert is not None else None
        out = []
        for r, seed in enumerate(cell.seeds):
            row: dict[str, Any] = {"seed": int(seed)}
            if crows is not None:
                row.update(crows[r])
            row.update({k: _cell_value(v, r) for k, v in cols.items()})
            out.append(row)
        return out
