"""The one driver: every iterative method runs on a batch of (R, P) rows through ``run``.

``run(problem, theta0, method, stop=Stop(...), observers=...)`` owns everything that is
not the method's own arithmetic:

- **stopping**, one name per quantity (``Stop``): a row is *converged* at the first
  iterate with ||grad|| <= ``grad_tol`` (or loss <= ``loss_target``), *diverged* when its
  loss, gradient or parameters turn non-finite, ||grad|| > ``diverge`` or (if asked) its
  loss exceeds ``loss_growth`` times its starting loss, and stops at
  ``max_steps`` (status ``max_steps``, also given to a row the method reports *stuck*:
  no acceptable step could be found). ||grad|| is the l2 norm of the row, unless the
  problem declares its own measure (``StopNorm``: ``stop_norm(grad) -> (R,)``, e.g. the
  largest force on any image of an elastic band);
- **compaction**: finished rows leave the working batch (gather the active rows, scatter
  their outcome back), so the slow tail costs only its own rows (DESIGN.md: masking alone
  801 s, compaction 53 s on the same job). Problems whose rows own data (``RowData``) are
  restricted along with the batch;
- **the record**: per-row final parameters, gradient norm, loss, step count and status;
- **observers**: callables that see every iteration (progress bars, trackers of the
  dynamics), so no caller needs a loop over steps of its own;
- **a compiled fast path** for plain ``GD(lr)`` on a problem that has one (``FusedGD``,
  e.g. the closed-form ReLU teacher-student in float64 on the CPU): the rows run
  ``FUSED_BUDGET`` steps per call in compiled code (fewer if a ``Progress`` reports more
  often), under the same stopping rule, with the same record. It applies when the
  stopping rule needs no loss, the problem has no ``stop_norm`` and every observer is
  content with a view per call (``Progress``; an observer says so with a class attribute
  ``fused_ok = True``; a view's ``step`` is then the most steps any row has taken), and
  ``run(..., fused=False)`` (or the environment variable ``LANDSCOPE_FUSED=0``, for a
  whole study and its worker processes) turns it off. A batched torch step costs ~40
  small tensor operations whatever the batch, so a census's tail of a few slow rows was
  dispatch latency (benchmarks/README.md).

A method is a batched ``init``/``update`` pair with per-row state (optax's
``GradientTransformation``, given access to the problem for line searches and
second-order steps): ``init(problem, theta) -> state`` and ``update(problem, theta, loss,
grad, state) -> Step``. Every state tensor has the row index first, so the driver can
gather it. ``evaluate`` (loss and gradient at an iterate) may be overridden, as
Levenberg-Marquardt does to reuse its Jacobian. A plain transform with ``init(theta)`` /
``update(grad, state)`` (``GD``, ``Adam``) is accepted as it is.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch

from ..problems import Problem
from ..problems.capabilities import FusedGD, RowData, StopNorm

__all__ = [
    "STATUS",
    "Eval",
    "Method",
    "Observer",
    "Progress",
    "RunResult",
    "Step",
    "Stop",
    "View",
    "restrict",
    "run",
]

STATUS = ("running", "converged", "max_steps", "diverged")
RUNNING, CONVERGED, MAX_STEPS, DIVERGED = 0, 1, 2, 3
FUSED_BUDGET = 1000
"""Steps per row per call of a problem's compiled GD (``FusedGD``): how often observers
(the progress bar) hear of it; the call's overhead is nothing against them."""

State = Any  # a tensor, or a tuple / list / dict of them (None allowed), row index first


@dataclass(frozen=True)
class Stop:
    """When a row stops: one name per quantity, stored with the results.

    Attributes:
        grad_tol: converged at the first iterate with ||grad|| <= grad_tol; None: no
            gradient test (a fixed budget: rows stop only by ``loss_target``,
            divergence or ``max_steps``, even at an exact critical point).
        loss_target: if given, converged also at the first iterate with loss <= this
            (an absolute value of the loss, not a gap to the optimum).
        max_steps: step budget per row (steps the method counts: accepted steps for line
            searches, iterations otherwise).
        diverge: a gradient norm above this (or any non-finite loss, gradient or
            parameter) ends the row as diverged: an overflow is only a matter of time.
        check_every: iterations between compactions of the working batch (1 on CPU costs
            nothing; raise it on a GPU to synchronize less). Finished rows are frozen in
            between.
        loss_growth: if given (a number >= 1), a row whose loss exceeds loss_growth times
            the absolute value of its loss at the starting point is diverged: a blow-up
            test relative to each row's own scale, for losses that are >= 0 (least
            squares: growth c of the residual norm is loss_growth = c^2). The loss is then
            computed at every iterate. inf, like None, never fires.
    """

    grad_tol: float | None = 1e-9
    loss_target: float | None = None
    max_steps: int = 100_000
    diverge: float = 1e12
    check_every: int = 1
    loss_growth: float | None = None

    def __post_init__(self) -> None:
        if self.grad_tol is not None and not (
            _is_number(self.grad_tol) and math.isfinite(self.grad_tol) and self.grad_tol >= 0
        ):
            raise ValueError(
                f"grad_tol must be None or a finite number >= 0, got {self.grad_tol!r}."
            )
        if self.loss_target is not None and not (
            _is_number(self.loss_target) and not math.isnan(self.loss_target)
        ):
            raise ValueError(f"loss_target must be None or a number, got {self.loss_target!r}.")
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int):
            raise ValueError(f"max_steps must be an integer >= 0, got {self.max_steps!r}.")
        if self.max_steps < 0:
            raise ValueError(f"max_steps must be an integer >= 0, got {self.max_steps!r}.")
        if not (_is_number(self.diverge) and self.diverge > 0):
            raise ValueError(f"diverge must be a positive number, got {self.diverge!r}.")
        if isinstance(self.check_every, bool) or not isinstance(self.check_every, int):
            raise ValueError(f"check_every must be an integer >= 1, got {self.check_every!r}.")
        if self.check_every < 1:
            raise ValueError(f"check_every must be an integer >= 1, got {self.check_every!r}.")
        if self.loss_growth is not None and not (
            _is_number(self.loss_growth) and self.loss_growth >= 1
        ):
            raise ValueError(
                f"loss_growth must be None or a number >= 1, got {self.loss_growth!r}."
            )

    def columns(self, prefix: str = "stop_") -> dict[str, float | int | None]:
        """The stopping rule as flat store columns, e.g. ``stop_grad_tol``."""
        return {prefix + k: v for k, v in asdict(self).items() if k != "check_every"}


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


@dataclass(frozen=True)
class Eval:
    """Loss (None when not computed), gradient and state at an iterate.

    ``stuck`` (R,) bool, optional: rows the method already knows cannot move on.
    """

    loss: torch.Tensor | None
    grad: torch.Tensor
    state: State
    stuck: torch.Tensor | None = None


@dataclass(frozen=True)
class Step:
    """What one ``update`` returns.

    Attributes:
        theta: the next iterate of every active row (rows that did not move keep theirs).
        state: the updated per-row state.
        accepted: (R,) rows whose step counts towards ``max_steps`` (None: all).
        stuck: (R,) rows for which no acceptable step exists (they stop as ``max_steps``).
        loss: the loss at ``theta`` if the method computed it (saves a call).
        grad: the gradient at ``theta`` if the method computed it; then the driver does
            not evaluate the new iterate at all (``loss`` is used as given).
    """

    theta: torch.Tensor
    state: State
    accepted: torch.Tensor | None = None
    stuck: torch.Tensor | None = None
    loss: torch.Tensor | None = None
    grad: torch.Tensor | None = None


@runtime_checkable
class Method(Protocol):
    """A batched method with per-row state.

    ``needs_loss``: whether ``update`` needs the loss at the current iterate.
    """

    name: str
    needs_loss: bool

    def init(self, problem: Problem, theta: torch.Tensor) -> State: ...

    def update(
        self,
        problem: Problem,
        theta: torch.Tensor,
        loss: torch.Tensor | None,
        grad: torch.Tensor,
        state: State,
    ) -> Step: ...


class MethodBase:
    """Shared default of ``Method.evaluate``: the loss only when asked for."""

    name = "method"
    needs_loss = True

    def evaluate(
        self, problem: Problem, theta: torch.Tensor, state: State, need_loss: bool
    ) -> Eval:
        if need_loss:
            loss, g = problem.loss_and_grad(theta)
            return Eval(loss, g, state)
        return Eval(None, problem.grad(theta), state)


class _Transform(MethodBase):
    """A plain gradient transformation (``init(theta)``, ``update(grad, state)``) as a method."""

    needs_loss = False

    def __init__(self, transform: Any) -> None:
        self.transform = transform
        self.name = type(transform).__name__.lower()

    def init(self, problem: Problem, theta: torch.Tensor) -> State:
        return self.transform.init(theta)

    def update(self, problem, theta, loss, grad, state) -> Step:
        upd, state = self.transform.update(grad, state)
        return Step(theta + upd, state)


def as_method(method: Any) -> Any:
    """``method`` itself, or a plain gradient transformation wrapped as a method."""
    if hasattr(method, "evaluate") and isinstance(method, Method):
        return method
    if callable(getattr(method, "init", None)) and callable(getattr(method, "update", None)):
        return _Transform(method)
    raise TypeError(
        f"{type(method).__name__} is not an optimization method: it needs init and update."
    )


def restrict(problem: Any, rows: torch.Tensor) -> Any:
    """The problem for a subset of the working rows (itself unless its rows own data)."""
    return problem.select(rows) if isinstance(problem, RowData) else problem


@dataclass(frozen=True)
class View:
    """What observers see at each iteration, before finished rows leave the batch.

    Attributes:
        step: iterations of the driver so far (0 at the starting point).
        rows: original row index of each active row (R',).
        theta, loss, grad, grad_norm: the active rows' iterate (loss None if not computed).
        steps: each active row's step count.
        status: (R',) 0 for rows still running (or finished at an earlier iteration
            and not yet compacted), else the code they finish with now.
        finished: whether some rows finished at this iteration.
        done: (R',) rows of the working batch that have finished.
        total: rows in the run.
        state: the method's state at ``theta``, row index first (read it, do not modify
            it): lets an observer keep internals such as a step size where a row stops.
        problem: the problem the driver evaluates the working rows on (restricted to them
            when its rows own data), the last one to evaluate ``theta``: an observer reads
            the active rows' data from it, or what the evaluation left behind.
    """

    step: int
    rows: torch.Tensor
    theta: torch.Tensor
    loss: torch.Tensor | None
    grad: torch.Tensor
    grad_norm: torch.Tensor
    steps: torch.Tensor
    status: torch.Tensor
    finished: bool
    done: torch.Tensor
    total: int
    state: State = None
    problem: Any = None

    @property
    def remaining(self) -> int:
        """Rows still running after this iteration."""
        return int((~self.done).sum())


class Observer(Protocol):
    """Called with a ``View`` once per iteration."""

    def __call__(self, view: View) -> None: ...


@dataclass(frozen=True)
class Progress:
    """An observer that reports ``fn(done, total, text)`` whenever rows finish, and every
    ``every`` iterations besides (0: only when rows finish), so that a bar over runs with
    a fixed step budget still moves.

    ``text`` is ``label`` followed by the iteration count.
    """

    fn: Callable[[int, int, str], None]
    label: str = "step"
    every: int = 0
    fused_ok: ClassVar[bool] = True  # a view every FUSED_BUDGET steps is enough

    def __call__(self, view: View) -> None:
        tick = self.every > 0 and view.step % self.every == 0
        if view.finished or view.step == 0 or tick:
            self.fn(view.total - view.remaining, view.total, f"{self.label} {view.step}")


@dataclass(frozen=True)
class RunResult:
    """Per-row outcome of ``run``.

    Attributes:
        theta: final rows (R, P); a diverged row holds the iterate where it was stopped.
        grad_norm: ||grad|| at ``theta`` (R,) (the problem's ``stop_norm`` if it has one;
            inf for diverged rows).
        loss: the loss at ``theta`` (R,), NaN where the method never computed it.
        steps: steps each row took (R,), as the method counts them.
        status: (R,) codes into ``STATUS``: 1 converged, 2 max_steps, 3 diverged.
        stop: the stopping rule used.
        method: the method's name.
    """

    theta: torch.Tensor
    grad_norm: torch.Tensor
    loss: torch.Tensor
    steps: torch.Tensor
    status: torch.Tensor
    stop: Stop
    method: str

    @property
    def statuses(self) -> list[str]:
        """The status of each row by name (``STATUS``), e.g. ``["converged", "max_steps"]``:
        an attribute like the other fields. ``status_names()`` returns the same list."""
        return [STATUS[int(s)] for s in self.status]

    def status_names(self) -> list[str]:
        """The status of each row by name; the same list as the ``statuses`` attribute."""
        return [STATUS[int(s)] for s in self.status]

    def select(self, rows: torch.Tensor) -> RunResult:
        """The outcome of a subset of rows."""
        return RunResult(
            self.theta[rows],
            self.grad_norm[rows],
            self.loss[rows],
            self.steps[rows],
            self.status[rows],
            self.stop,
            self.method,
        )


def _fusable(problem: Any, m: Any, stop: Stop, observers: Sequence[Observer]) -> bool:
    """Whether ``run`` may hand the rows to the problem's compiled GD."""
    from .transforms import GD

    return (
        isinstance(problem, FusedGD)
        and not isinstance(problem, (StopNorm, RowData))
        and isinstance(m, _Transform)
        and type(m.transform) is GD
        and m.transform.schedule is None
        and stop.loss_target is None
        and stop.loss_growth is None
        and all(getattr(o, "fused_ok", False) for o in observers)
    )


def _run_fused(
    problem: Any,
    theta0: torch.Tensor,
    lr: float,
    stop: Stop,
    observers: Sequence[Observer],
    record: tuple[torch.Tensor, ...],
) -> bool:
    """``run`` through ``problem.fused_gd``, ``FUSED_BUDGET`` steps per call, into
    ``run``'s record (theta, grad_norm, loss, steps, status); False, with nothing
    written, if the problem declines these rows (it decides at the first call, which
    only evaluates the start)."""
    R, dev, dt = theta0.shape[0], theta0.device, theta0.dtype
    out_theta, out_gn, _, out_steps, out_status = record  # GD leaves the loss NaN
    grad_tol = -math.inf if stop.grad_tol is None else stop.grad_tol
    idx = torch.arange(R, device=dev)
    theta, steps = theta0, torch.zeros(R, dtype=torch.long, device=dev)
    # a progress bar that reports every N iterations gets a view every N steps
    ticks = [o.every for o in observers if getattr(o, "every", 0) > 0]
    chunk = min([FUSED_BUDGET, *ticks])
    it, budget = 0, 0  # the first call only evaluates the start
    while idx.numel():
        res = problem.fused_gd(
            theta, lr, grad_tol=grad_tol, max_steps=stop.max_steps, diverge=stop.diverge,
            budget=budget, steps=steps,
        )  # fmt: skip
        if res is None:
            return False
        before = steps
        theta, g, gn, steps, code = (t.to(dev) for t in res)
        steps = steps.long()
        fin = code != RUNNING
        if steps.numel():  # the view's step: the most steps any row took so far
            it += int((steps - before).max())
        if observers:
            view = View(
                step=it, rows=idx, theta=theta, loss=None, grad=g, grad_norm=gn,
                steps=steps, status=code, finished=bool(fin.any()), done=fin, total=R,
                state=(), problem=problem,
            )  # fmt: skip
            for obs in observers:
                obs(view)
        rows = idx[fin]
        out_theta[rows] = theta[fin].to(dt)
        out_gn[rows] = gn[fin].to(dt)
        out_steps[rows] = steps[fin]
        out_status[rows] = code[fin]
        keep = ~fin
        idx, theta, steps = idx[keep], theta[keep], steps[keep]
        budget = chunk
    return True


def _take(state: State, keep: torch.Tensor) -> State:
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state[keep]
    if isinstance(state, Mapping):
        return {k: _take(v, keep) for k, v in state.items()}
    if isinstance(state, tuple) and hasattr(state, "_fields"):  # a NamedTuple (optax's)
        return type(state)(*(_take(s, keep) for s in state))
    if isinstance(state, Sequence):
        return type(state)(_take(s, keep) for s in state)
    raise TypeError(f"method state holds a {type(state).__name__}; use tensors with rows first.")


def run(
    problem: Problem,
    theta0: torch.Tensor,
    method: Any,
    *,
    stop: Stop | None = None,
    observers: Sequence[Observer] = (),
    fused: bool = True,
) -> RunResult:
    """Run ``method`` on every row of ``theta0`` until each row stops (see ``Stop``).

    Args:
        problem: the objective; ``loss``/``grad``/``loss_and_grad`` on (R', P) batches
            (and what the method needs besides: ``residuals_and_jacobian``, ``hessian``).
            A problem whose rows own data (``RowData``) is restricted with the batch; one
            with a ``stop_norm`` (``StopNorm``) has it used in place of ||grad||.
        theta0: (R, P) starting rows.
        method: a ``Method`` or a plain transformation such as ``GD(lr)``.
        stop: the stopping rule (default ``Stop()``).
        observers: called with a ``View`` at every iteration.
        fused: use the problem's compiled GD where it applies (module docstring); the
            iterates are the same to rounding.

    Returns:
        RunResult with one entry per row of ``theta0``.
    """
    stop = Stop() if stop is None else stop
    m = as_method(method)
    if theta0.ndim != 2:
        raise ValueError(f"theta0 must be a (R, P) batch of rows, got shape {tuple(theta0.shape)}.")
    R, dev = theta0.shape[0], theta0.device
    # decided once, so that a rule left out costs no tensor operation per step
    grow = stop.loss_growth is not None
    need_loss = bool(m.needs_loss) or stop.loss_target is not None or grow
    grad_tol = -math.inf if stop.grad_tol is None else stop.grad_tol  # -inf: never met
    out_theta = theta0.clone()
    out_gn = torch.full((R,), math.inf, dtype=theta0.dtype, device=dev)
    out_loss = torch.full((R,), math.nan, dtype=theta0.dtype, device=dev)
    out_steps = torch.zeros(R, dtype=torch.long, device=dev)
    out_status = torch.zeros(R, dtype=torch.long, device=dev)
    if R == 0:  # no row can ever finish: the loop below would not end
        return RunResult(out_theta, out_gn, out_loss, out_steps, out_status, stop, m.name)

    if (
        fused
        and os.environ.get("LANDSCOPE_FUSED", "1") != "0"
        and _fusable(problem, m, stop, observers)
    ):
        record = (out_theta, out_gn, out_loss, out_steps, out_status)
        if _run_fused(problem, theta0, m.transform.lr, stop, observers, record):
            return RunResult(*record, stop=stop, method=m.name)

    idx = torch.arange(R, device=dev)  # original row of each active row
    prob = problem
    theta = theta0.clone()
    custom_norm = isinstance(problem, StopNorm)  # decided once: no cost per step otherwise
    state = m.init(prob, theta)
    ev = m.evaluate(prob, theta, state, need_loss)
    loss, g, state, stuck = ev.loss, ev.grad, ev.state, ev.stuck
    if grow:  # each row's ceiling; inf * 0 (a zero start with loss_growth inf) never fires
        limit = torch.nan_to_num(stop.loss_growth * loss.abs(), nan=math.inf)
    steps = torch.zeros(R, dtype=torch.long, device=dev)
    done = torch.zeros(R, dtype=torch.bool, device=dev)
    frozen = False  # whether some rows of the working batch finished and await compaction
    it = 0
    while True:
        gn = prob.stop_norm(g) if custom_norm else torch.linalg.vector_norm(g, dim=1)
        finite = gn <= stop.diverge  # False for NaN; a non-finite theta gives a NaN grad
        if loss is not None:
            finite = finite & torch.isfinite(loss)
        if grow:
            finite = finite & (loss <= limit)
        conv = finite & (gn <= grad_tol)
        if stop.loss_target is not None:
            conv = conv | (finite & (loss <= stop.loss_target))
        cap = steps >= stop.max_steps
        if stuck is not None:
            cap = cap | stuck
        fin = conv | cap | ~finite
        if frozen:
            fin = fin & ~done  # rows that finished earlier keep their record
        any_fin = bool(fin.any())
        if any_fin:  # status codes only when some row finishes: the common step skips them
            code = torch.where(conv, CONVERGED, torch.where(cap, MAX_STEPS, RUNNING))
            code = torch.where(finite, code, DIVERGED)
            code = torch.where(fin, code, RUNNING)
            rows = idx[fin]
            out_theta[rows] = theta[fin]
            out_gn[rows] = torch.where(code[fin] == DIVERGED, math.inf, gn[fin])
            if loss is not None:
                out_loss[rows] = loss[fin]
            out_steps[rows] = steps[fin]
            out_status[rows] = code[fin]
            done = done | fin
            frozen = True
        elif observers:
            code = torch.zeros_like(steps)
        if observers:
            view = View(
                step=it,
                rows=idx,
                theta=theta,
                loss=loss,
                grad=g,
                grad_norm=gn,
                steps=steps,
                status=code,
                finished=any_fin,
                done=done,
                total=R,
                state=state,
                problem=prob,
            )
            for obs in observers:
                obs(view)
        it += 1
        if frozen:
            all_done = bool(done.all())
            if all_done:
                break
            if it % stop.check_every == 0:
                keep = torch.nonzero(~done).flatten()
                idx, theta, g, steps = idx[keep], theta[keep], g[keep], steps[keep]
                loss = None if loss is None else loss[keep]
                stuck = None if stuck is None else stuck[keep]
                if grow:
                    limit = limit[keep]
                done = torch.zeros(keep.numel(), dtype=torch.bool, device=dev)
                state = _take(state, keep)
                prob = restrict(prob, keep)
                frozen = False
        st = m.update(prob, theta, loss, g, state)
        if frozen:
            held = (theta, loss, g)  # finished rows keep their iterate until compaction
            theta = torch.where(done[:, None], theta, st.theta)
            acc = ~done if st.accepted is None else st.accepted & ~done
            steps = steps + acc.long()
        else:
            theta = st.theta
            steps = steps + 1 if st.accepted is None else steps + st.accepted.long()
        state = st.state
        if st.grad is not None and (st.loss is not None or not need_loss):
            loss, g, stuck = st.loss, st.grad, st.stuck
        else:
            ev = m.evaluate(prob, theta, state, need_loss)
            loss = ev.loss if st.loss is None else st.loss
            g, state, stuck = ev.grad, ev.state, ev.stuck
            if st.stuck is not None:
                stuck = st.stuck if stuck is None else stuck | st.stuck
        if frozen:  # what observers see of a finished row is its recorded iterate
            if loss is not None and held[1] is not None:
                loss = torch.where(done, held[1], loss)
            g = torch.where(done[:, None], held[2], g)
    return RunResult(
        theta=out_theta,
        grad_norm=out_gn,
        loss=out_loss,
        steps=out_steps,
        status=out_status,
        stop=stop,
        method=m.name,
    )
