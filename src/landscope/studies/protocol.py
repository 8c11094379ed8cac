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
a protocol has no hidden constants. A setting that also depends on the cell's data (a
tolerance relative to the scale of the targets) is ``FromCell(lambda cell: ...)``.

Problems whose rows own data drawn per seed (one planted teacher and sample per run) are
declared with ``make_data``: ``make_data(cfg, seeds)`` is drawn once per cell, kept as
``cell.data`` and passed to ``make_problem(cfg, data=..., dtype=..., device=...)``. An
initialization that needs more than the problem and the seeds is ``init=FromCell(fn)``;
it may return a ``Start`` when it also fixes part of the model (a second layer it
estimates), which then replaces the cell's problem.

A study that analyses another study's stored runs starts with ``Require(study,
overrides)``: the cell's rows become that study's final points of the same seeds (its
missing runs computed first). ``Measure(fn, types, where=(column, values))`` measures only
the rows whose result is one of ``values`` (e.g. the spurious minima).

A training step may carry observers of its own (``Train(observe=...)``: a tracker of the
dynamics the driver runs); they are kept in ``cell.observers`` under the step's label, for
a later ``Measure`` to read what they recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch

from ..critical import CERTIFICATE_COLUMNS, Certificate, Tolerances, certify
from ..optim import STATUS, Observer, Progress, RunResult, Stop, newton_polish, run
from ..problems import Problem, RowData, init_from_seeds
from ._study import RunContext

__all__ = [
    "seeded_data",
    "UNCERTIFIED",
    "Cell",
    "FromCell",
    "Measure",
    "PolishCertify",
    "Protocol",
    "Require",
    "Retrain",
    "Start",
    "Train",
]

Setting = Callable[[dict], Any]

# The verdict of a row that was not certified (``PolishCertify(max_params=...)``); not one
# of ``landscope.critical.VERDICTS``.
UNCERTIFIED = "uncertified"


def _value(setting: Any, cfg: Mapping[str, Any]) -> Any:
    """A step setting: a parameter name (str), a function of the configuration, or a value."""
    if isinstance(setting, str):
        return cfg[setting]
    if callable(setting):
        return setting(cfg)
    return setting


@dataclass(frozen=True)
class FromCell:
    """A step setting computed from the whole cell, not the configuration alone.

    For settings that depend on the cell's data or problem, e.g. a stopping rule relative
    to the targets' scale, ``FromCell(lambda cell: Stop(grad_tol=... * scale(cell)))``;
    and, as ``Protocol(init=FromCell(fn))``, an initialization that reads the
    configuration or the cell's data (``fn(cell) -> rows`` or a ``Start``).
    """

    fn: Callable[[Cell], Any]


def _resolve(setting: Any, cell: Cell) -> Any:
    """A step setting for one cell: ``FromCell`` gets the cell, the rest as ``_value``."""
    if isinstance(setting, FromCell):
        return setting.fn(cell)
    return _value(setting, cell.cfg)


@dataclass(frozen=True)
class Start:
    """What an initialization returns when it also fixes part of the model.

    E.g. one-hidden-layer regression trained in W with the second layer v fixed at the
    value the initialization estimated: the rows are W, the problem is the one with that v.

    Attributes:
        theta: the initial rows (R, P) of ``problem``.
        problem: replaces the cell's problem.
        problem64: the same in float64 (default: ``problem``, which must then be float64).
    """

    theta: torch.Tensor
    problem: Problem
    problem64: Problem | None = None


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
        theta0: the initial rows (R, P) (not to be modified in place).
        data: the cell's data when the protocol draws them (``Protocol.make_data``).
        init_s: wall time of the initialization of all rows, in seconds.
        required: another study's stored rows by study name (``Require``), for seeds
            0 .. max(seeds): the cell's own seeds and every earlier one.
        observers: the observers a ``Train`` step's ``observe`` added to its run, by the
            step's label (after the step ran), with what they recorded.
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
    theta0: torch.Tensor | None = None
    data: Any = None
    init_s: float = 0.0
    required: dict[str, list[dict]] = field(default_factory=dict)
    observers: dict[str, tuple[Observer, ...]] = field(default_factory=dict)

    @property
    def R(self) -> int:
        return len(self.seeds)

    def subset(self, rows: Sequence[int]) -> Cell:
        """The cell restricted to ``rows`` (indices into its runs), for a measurement of
        some rows only: seeds, rows, columns and certificate taken at ``rows``; the
        problem too where its rows own data (``RowData``); no training result and no
        observers (theirs are records of all rows)."""
        idx = np.asarray(rows, dtype=np.int64)
        at = torch.as_tensor(idx, device=self.theta.device)

        def take(values: Any) -> Any:
            if isinstance(values, np.ndarray):
                return values[idx]
            return [values[i] for i in idx]

        cert = None
        if self.cert is not None:
            names = [f.name for f in fields(self.cert) if f.name != "tolerances"]
            taken = {name: getattr(self.cert, name)[idx] for name in names}
            cert = Certificate(**taken, tolerances=self.cert.tolerances)

        def select(problem: Problem) -> Problem:
            return problem.select(at) if isinstance(problem, RowData) else problem

        return Cell(
            self.cfg,
            [self.seeds[i] for i in idx],
            self.ctx,
            select(self.problem),
            select(self.problem64),
            self.theta[at],
            {k: take(v) for k, v in self.columns.items()},
            cert,
            None,
            None if self.theta0 is None else self.theta0[at],
            self.data,
            self.init_s,
            self.required,
        )

    def value(self, name: str) -> np.ndarray:
        """A per-row result so far: a column a step wrote, else the certificate's field.

        Raises:
            KeyError: if neither has it.
        """
        if name in self.columns:
            return np.asarray(self.columns[name])
        if self.cert is not None and hasattr(self.cert, name):
            return np.asarray(getattr(self.cert, name))
        raise KeyError(f"no step has written {name!r} yet.")

    def progress(self, done: int, text: str) -> None:
        self.ctx.progress(done, self.R, text)


class StepBase:
    """A protocol step: ``__call__(cell)`` updates the cell; ``columns`` are what it writes."""

    def columns(self) -> dict[str, str]:
        return {}

    def __call__(self, cell: Cell) -> None:  # pragma: no cover - interface
        raise NotImplementedError


def _of_budget(
    progress: Callable[[int, int, str], None], budget: int
) -> Callable[[int, int, str], None]:
    """``progress`` with `` of {budget}`` after each text (the driver's ``Progress`` ends
    its text with the step count)."""

    def report(done: int, total: int, text: str) -> None:
        progress(done, total, f"{text} of {budget:,}")

    return report


@dataclass(frozen=True)
class Train(StepBase):
    """Train every row with the driver.

    Attributes:
        method: the method for a configuration (``cfg -> Method``).
        stop: the stopping rule for a configuration (``cfg -> Stop``).
        label: shown in the progress bar.
        names: the columns it writes: the steps, the driver's status and the final
            gradient norm of each row.
        when: train only configurations where this is true (parameter name, function of
            the configuration, or value); elsewhere every row keeps its initial point,
            with 0 steps, status ``"none"`` and gradient norm NaN (not measured).
        observe: ``observe(cell, theta0) -> observers`` added to the run (``theta0``: the
            rows it starts from), e.g. a tracker of the dynamics; they are kept in
            ``cell.observers[label]`` for a later ``Measure`` (None: progress only).

    ``method`` and ``stop`` may also be ``FromCell`` settings.
    """

    method: Setting
    stop: Callable[[dict], Stop] | FromCell
    label: str = "train"
    names: tuple[str, str, str] = ("steps", "opt_status", "opt_grad_norm")
    when: Any = True
    observe: Callable[[Cell, torch.Tensor], Sequence[Observer]] | None = None

    def columns(self) -> dict[str, str]:
        return dict(zip(self.names, ("BIGINT", "VARCHAR", "DOUBLE"), strict=True))

    def train(self, cell: Cell, theta: torch.Tensor) -> RunResult:
        cell.progress(0, self.label)
        extra = () if self.observe is None else tuple(self.observe(cell, theta))
        cell.observers[self.label] = extra
        stop = _resolve(self.stop, cell)
        # the bar counts finished rows, which under a fixed step budget all finish at its
        # end: the text says how far the batch is, "train step 300 of 1,500"
        label = f"{self.label} step"
        watch = Progress(_of_budget(cell.ctx.progress, stop.max_steps), label, every=100)
        return run(cell.problem, theta, _resolve(self.method, cell), stop=stop,
                   observers=[watch, *extra])  # fmt: skip

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
        if not _value(self.when, cell.cfg):
            n_steps, n_status, n_gn = self.names
            cell.columns[n_steps] = np.zeros(cell.R, dtype=np.int64)
            cell.columns[n_status] = np.array(["none"] * cell.R, dtype=object)
            cell.columns[n_gn] = np.full(cell.R, np.nan)
            return
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
    loss_target: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor, Certificate]:
    """Newton-polish the rows with ||grad|| <= polish_from to ``polish_tol``, then certify.

    ``skip`` (R,) bool marks rows not to polish (e.g. already at the global value);
    ``global_spectrum`` is passed to ``certify``; ``loss_target`` also stops a row's
    polish at that loss (``newton_polish``).

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
        pol = newton_polish(problem, theta[polish], grad_tol=polish_tol, loss_target=loss_target)
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
        polish_to_global: where the problem's global value is known, a row's polish also
            stops at a loss within a tenth of the certificate's ``gap_tol`` of it, where
            its verdict (``global_min``) is settled whatever its gradient (a bool, or a
            setting: parameter name or function of the configuration).
        max_params: certify only problems with at most this many parameters (parameter
            name or value; None: always). Above it no row is polished and no spectrum
            taken: a row within ``gap_tol`` of a known global value is ``global_min``
            (what ``certify`` would say whatever its gradient), every other row
            ``UNCERTIFIED``, with its loss and gradient norm and the other certificate
            columns empty: a cost cap for dense spectra of wide students.
    """

    polish_from: Any = "polish_from"
    polish_tol: Any = "polish_tol"
    skip: Callable[[Cell], torch.Tensor] | None = None
    global_spectrum: bool = True
    max_params: Any = None
    polish_to_global: Any = False

    def columns(self) -> dict[str, str]:
        return {**CERTIFICATE_COLUMNS, "polish_iters": "BIGINT"}

    def certify(self, cell: Cell, theta: torch.Tensor) -> tuple:
        return polish_and_certify(
            cell.problem64,
            theta,
            _resolve(self.polish_from, cell),
            polish_tol=_resolve(self.polish_tol, cell),
            skip=None if self.skip is None else self.skip(cell),
            global_spectrum=self.global_spectrum,
            loss_target=self._loss_target(cell),
        )

    def _loss_target(self, cell: Cell) -> float | None:
        gm = cell.problem64.global_min
        if gm is None or not _resolve(self.polish_to_global, cell):
            return None
        return gm + 0.1 * Tolerances().gap_tol

    def uncertified(self, cell: Cell) -> bool:
        """Whether the cell's problem is above ``max_params``."""
        cap = None if self.max_params is None else _value(self.max_params, cell.cfg)
        return cap is not None and cell.problem64.n_params > cap

    def __call__(self, cell: Cell) -> None:
        cell.progress(cell.R, "polish + certify")
        if self.uncertified(cell):
            theta = cell.theta.to(torch.float64)
            loss, g = cell.problem64.loss_and_grad(theta)
            cols: dict[str, Any] = {k: [None] * cell.R for k in CERTIFICATE_COLUMNS}
            gm = cell.problem64.global_min
            at_global = (
                np.zeros(cell.R, dtype=bool)
                if gm is None
                else (loss - gm <= Tolerances().gap_tol).cpu().numpy()
            )
            cols["verdict"] = np.where(at_global, "global_min", UNCERTIFIED).tolist()
            cols["loss"] = loss.detach().cpu().numpy().astype(float)
            cols["grad_norm"] = torch.linalg.vector_norm(g, dim=1).cpu().numpy().astype(float)
            cell.theta, cell.cert = theta, None
            cell.columns.update(cols)
            cell.columns["polish_iters"] = np.zeros(cell.R, dtype=np.int64)
            return
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
        sub = cell.subset(rows)  # the certify step sees the retrained rows as its cell
        sub.theta = res.theta
        th, iters, cert = self.certify.certify(sub, res.theta)
        cell.theta[torch.as_tensor(rows).to(cell.theta.device)] = th
        cell.columns["polish_iters"][rows] = iters.numpy()
        cell.cert = cell.cert.replace_rows(rows, cert)


@dataclass(frozen=True)
class Measure(StepBase):
    """Per-row measurements: ``fn(cell) -> {column: values (R,)}`` with declared types.

    The research logic lives in the rooms; ``fn`` calls it on the cell's rows.

    Attributes:
        fn: the measurement.
        types: the columns it writes (name -> DuckDB type).
        where: measure only the rows whose result ``where[0]`` (a column or a certificate
            field, ``Cell.value``) is in ``where[1]``: ``fn`` gets ``cell.subset`` of
            those rows (it is not called when there are none), the other rows get None.
    """

    fn: Callable[[Cell], Mapping[str, Any]]
    types: Mapping[str, str]
    where: tuple[str, tuple] | None = None

    def columns(self) -> dict[str, str]:
        return dict(self.types)

    def _check(self, out: Mapping[str, Any]) -> None:
        if set(out) != set(self.types):
            raise ValueError(f"measurement wrote {sorted(out)}, but declares {sorted(self.types)}.")

    def __call__(self, cell: Cell) -> None:
        if self.where is None:
            out = dict(self.fn(cell))
            self._check(out)
            cell.columns.update(out)
            return
        name, values = self.where
        rows = [i for i, v in enumerate(cell.value(name)) if v in values]
        out = dict(self.fn(cell.subset(rows))) if rows else dict.fromkeys(self.types, ())
        self._check(out)
        for key, got in out.items():
            if len(got) != len(rows):
                raise ValueError(
                    f"measurement wrote {len(got)} values of {key!r} for {len(rows)} rows."
                )
            col = np.full(cell.R, None, dtype=object)
            for j, r in enumerate(rows):  # one by one: an array value stays one entry
                col[r] = got[j]
            cell.columns[key] = col


@dataclass(frozen=True)
class Require(StepBase):
    """Start from another study's stored runs of the same seeds, computing missing ones first.

    A study that analyses another's results (the spectra of ``spurious-relu``'s minima)
    runs on that study's final points: ``ctx.require`` (the sweep's) computes and stores
    the other study's missing runs of the cell ``overrides`` names, then returns its
    stored rows of seeds 0 .. max(seeds). The cell's rows (and ``theta0``: this protocol
    starts there) become the stored ``params`` of its own seeds (float64), ``copy``
    carries stored columns over, and every returned row, earlier seeds included, is kept
    in ``cell.required[study]`` for measurements that compare runs with each other.

    Attributes:
        study: the other study's name.
        overrides: its parameter values for this cell (``cfg -> {name: [value]}``); they
            must name one cell of it (its other parameters at their defaults).
        copy: ``(column there, column here, DuckDB type)`` per carried column.
        params: take the cell's rows from the stored ``params`` (False: keep them).
    """

    study: str
    overrides: Callable[[dict], Mapping[str, Sequence[Any]]]
    copy: tuple[tuple[str, str, str], ...] = ()
    params: bool = True

    def columns(self) -> dict[str, str]:
        return {here: kind for _, here, kind in self.copy}

    def __call__(self, cell: Cell) -> None:
        if cell.ctx.require is None:
            raise ValueError(
                f"this study reads {self.study} results: run it through the sweep "
                "(landscope run), which supplies them."
            )
        cell.progress(0, f"{self.study} runs")
        stored = cell.ctx.require(self.study, self.overrides(cell.cfg), max(cell.seeds) + 1)
        if len({r["config_hash"] for r in stored}) > 1:
            raise ValueError(
                f"{self.study} overrides {dict(self.overrides(cell.cfg))} name more than one "
                "cell; give one value per swept parameter."
            )
        by_seed = {int(r["seed"]): r for r in stored}
        missing = [s for s in cell.seeds if s not in by_seed]
        if missing:
            raise ValueError(f"{self.study} has no stored run of seeds {missing}.")
        cell.required[self.study] = [by_seed[s] for s in sorted(by_seed)]
        mine = [by_seed[s] for s in cell.seeds]
        for there, here, _ in self.copy:
            cell.columns[here] = [r[there] for r in mine]
        if self.params:
            P = cell.problem64.n_params
            rows = [np.full(P, np.nan) if r["params"] is None else r["params"] for r in mine]
            theta = torch.as_tensor(np.stack([np.asarray(r, dtype=np.float64) for r in rows]))
            cell.theta = cell.theta0 = theta.to(cell.problem64.device)


def seeded_data(data: Any, drawn: str) -> Any:
    """``data``, or ValueError when a problem built from per-seed data is asked for without it.

    ``drawn`` says what the seed draws, e.g. "a beyond-ntk run's sample is drawn from its
    seed"; the sentence ends "so its problem cannot be rebuilt from the configuration alone."
    """
    if data is None:
        raise ValueError(f"{drawn}, so its problem cannot be rebuilt from the configuration alone.")
    return data


def _cell_value(v: Any, r: int) -> Any:
    x = v[r]
    if isinstance(x, np.generic):
        return x.item()
    return x


@dataclass(frozen=True)
class Protocol:
    """How one cell is run: the problem, the initial rows, the steps.

    Attributes:
        make_problem: ``(cfg, dtype=..., device=...) -> Problem``; with ``make_data``,
            ``(cfg, data=..., dtype=..., device=...)``.
        steps: run in order on the cell.
        init: ``(problem, seeds) -> (R, P)`` initial rows (default: one generator per
            seed), or ``FromCell(fn)`` with ``fn(cell) -> (R, P) rows or a Start``.
        keep_params: store the final rows as the ``params`` column.
        make_data: ``(cfg, seeds) -> data`` for problems whose rows own data drawn per
            seed (kept as ``cell.data``); None when ``make_problem`` needs only ``cfg``.
    """

    make_problem: Callable[..., Problem]
    steps: tuple[StepBase, ...]
    init: Callable[[Problem, Sequence[int]], torch.Tensor] | FromCell = init_from_seeds
    keep_params: bool = True
    make_data: Callable[[dict, Sequence[int]], Any] | None = None

    def columns(self) -> dict[str, str]:
        cols: dict[str, str] = {}
        for step in self.steps:
            cols.update(step.columns())
        if self.keep_params:
            cols["params"] = "DOUBLE[]"
        return cols

    def start(self, cfg: dict, seeds: Sequence[int], ctx: RunContext) -> Cell:
        """The cell before the first step: its data, problem and initial rows."""
        data = None if self.make_data is None else self.make_data(cfg, seeds)
        kw = {} if self.make_data is None else {"data": data}
        prob = self.make_problem(cfg, dtype=ctx.dtype, device=ctx.device, **kw)
        prob64 = (
            prob if prob.dtype == torch.float64 else self.make_problem(cfg, device=ctx.device, **kw)
        )
        cell = Cell(cfg, list(seeds), ctx, prob, prob64, torch.empty(0), data=data)
        t0 = time.perf_counter()
        if isinstance(self.init, FromCell):
            out = self.init.fn(cell)
        else:
            out = self.init(prob, seeds)
        if isinstance(out, Start):
            p64 = out.problem if out.problem64 is None else out.problem64
            if p64.dtype != torch.float64:
                raise ValueError("a Start with a problem in another dtype needs its problem64.")
            cell.problem, cell.problem64, out = out.problem, p64, out.theta
        cell.init_s = time.perf_counter() - t0
        cell.theta = cell.theta0 = out
        return cell

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
