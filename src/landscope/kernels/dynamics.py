"""Gradient descent on over-parameterized two-layer networks, tracked against NTK theory.

Du, Zhai, Poczos & Singh, "Gradient descent provably optimizes over-parameterized neural
networks" (ICLR 2019). The network, loss and Gram matrix H(W) are those of
``kernels.two_layer`` (``TwoLayerNTK``): u = (1 / sqrt m) sum_r a_r relu(w_r . x) with
a_r = +-1 fixed, L(W) = 1/2 ||u - y||^2, trained by GD with a fixed step
W(k+1) = W(k) - eta dL/dW, and u(k+1) - y ~ (I - eta H(k)) (u(k) - y). Theorem 4.1: with
H-infinity = E H(0) and lambda_0 its smallest eigenvalue, for m large enough and eta
small enough, ||u(k) - y||^2 <= (1 - eta lambda_0 / 2)^k ||u(0) - y||^2, while every w_r
stays within O(sqrt(n) ||u(0) - y|| / (sqrt(m) lambda_0)) of its start and few activation
patterns 1{w_r . x_i >= 0} ever flip.

``train_two_layer`` runs R such trainings (seeds) as one batch through the optimization
driver (``landscope.optim.run`` with ``GD(eta)``), whose observer ``NTKTracker`` records
those quantities at scheduled steps; ``bound`` and ``empirical_rate`` turn them into the
comparison the paper makes. lambda_0 itself (the closed-form H-infinity) is computed
elsewhere in ``landscope.kernels`` and passed in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..optim import GD, STATUS, Stop, View, run
from .two_layer import TwoLayerNTK, _check_inputs, _exact_counts, _gram

__all__ = [
    "BoundCheck",
    "Dynamics",
    "NTKTracker",
    "bound",
    "check_bound",
    "empirical_rate",
    "kernel_rate",
    "record_schedule",
    "train_two_layer",
]


@dataclass(frozen=True)
class Dynamics:
    """What ``train_two_layer`` recorded, for R runs at T recorded steps.

    A row that stopped early (residual <= ``residual_tol``, or diverged) no longer
    changes, so its records after ``stop_step`` repeat its values at ``stop_step``.

    Attributes:
        steps: (T,) recorded step indices k (long), increasing, first 0, last ``steps``.
        residual: (R, T) ||u(k) - y||.
        pattern_change: (R, T) fraction of the m n pairs (r, i) whose sign pattern
            1{w_r(k) . x_i >= 0} differs from the one at k = 0.
        weight_move: (R, T) max_r ||w_r(k) - w_r(0)||.
        gram_drift: (R, T) spectral norm ||H(k) - H(0)||_2, or None when not recorded.
        W: (R, m, d) the final weights (at ``stop_step``).
        final_residual: (R,) ||u - y|| at the final weights.
        lambda_min_H0: (R,) smallest eigenvalue of the finite-width H(0).
        stop_step: (R,) the step at which each row stopped (``steps[-1]`` if it ran on).
        status: (R,) codes into ``landscope.optim.STATUS``: 1 converged (residual <=
            ``residual_tol``), 2 max_steps, 3 diverged.
        eta: the step size.
        activation: the activation's registry name.
        residual_tol: the early-stopping tolerance, or None.
    """

    steps: torch.Tensor
    residual: torch.Tensor
    pattern_change: torch.Tensor
    weight_move: torch.Tensor
    gram_drift: torch.Tensor | None
    W: torch.Tensor
    final_residual: torch.Tensor
    lambda_min_H0: torch.Tensor
    stop_step: torch.Tensor
    status: torch.Tensor
    eta: float
    activation: str
    residual_tol: float | None

    @property
    def statuses(self) -> list[str]:
        """The status of each row by name (``STATUS``), e.g. ``["converged", "max_steps"]``:
        an attribute like the other fields. ``status_names()`` returns the same list."""
        return [STATUS[int(s)] for s in self.status]

    def status_names(self) -> list[str]:
        """The status of each row by name; the same list as the ``statuses`` attribute."""
        return [STATUS[int(s)] for s in self.status]

    def rate(self, floor: float = 1e-10) -> torch.Tensor:
        """``empirical_rate`` of the recorded residuals, each row up to its stop step."""
        return empirical_rate(self.residual, self.steps, floor=floor, stop_step=self.stop_step)


# -- recording -------------------------------------------------------------------------


def record_schedule(steps: int, max_records: int = 200) -> torch.Tensor:
    """The default thinned set of steps to record: (T,) long.

    T <= min(max_records, 2 + steps // 2): at most 200 records by default, and at most one
    record per two steps. One record (an O(n^2 m) Gram matrix and an n x n eigenvalue
    problem per run) costs about one GD step (O(n m d) flops, memory-bound) when n is
    ~10 d, so recording adds well under 2x to a run of any length; measured +12 % for
    1,000 steps at n = 100, d = 10, m = 4096 (``benchmarks/ntk_tracking.py``). For tiny
    networks (m n ~ 5,000) the fixed cost of a record (~0.3 ms of small tensor ops) is
    ~2 steps, and for n >> 10 d the Gram product dominates: lower ``max_records`` there.

    Within that budget T_max: every step if steps + 1 <= T_max, else the union of
    {0, steps}, about T_max / 2 points log-spaced from 1 to steps (the fast early phase)
    and T_max / 2 evenly spaced from 0 to steps (the linear-convergence phase). Rounding
    merges some points, so T can be below T_max. ``record_every=1`` in
    ``train_two_layer`` records every step.

    Raises:
        ValueError: steps < 0 or max_records < 2.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}.")
    if max_records < 2:
        raise ValueError(f"max_records must be >= 2 (step 0 and the last), got {max_records}.")
    budget = min(max_records, 2 + steps // 2)
    if steps + 1 <= budget:
        return torch.arange(steps + 1)
    n_geo = (budget - 2) // 2
    n_lin = budget - 2 - n_geo
    geo = np.rint(np.geomspace(1, steps, n_geo)) if n_geo > 0 else np.array([])
    lin = np.rint(np.linspace(0, steps, n_lin)) if n_lin > 0 else np.array([])
    ks = np.unique(np.concatenate([[0, steps], geo, lin]).astype(np.int64))
    return torch.from_numpy(ks)


def _resolve_records(
    record_every: int | Sequence[int] | torch.Tensor | None, steps: int, max_records: int
) -> torch.Tensor:
    if record_every is None:
        return record_schedule(steps, max_records)
    if isinstance(record_every, (int, np.integer)) and not isinstance(record_every, bool):
        if record_every < 1:
            raise ValueError(f"record_every must be >= 1 when an integer, got {record_every}.")
        ks = torch.arange(0, steps + 1, int(record_every))
    else:
        ks = torch.as_tensor(record_every, dtype=torch.long).flatten()
        if ks.numel() and (int(ks.min()) < 0 or int(ks.max()) > steps):
            raise ValueError(f"recorded steps must lie in [0, {steps}]; got {ks.tolist()}.")
    return torch.unique(torch.cat([ks, torch.tensor([0, steps])]))


def _sym_norm2(A: torch.Tensor) -> torch.Tensor:
    """Spectral norms of symmetric matrices (R', n, n); NaN for a non-finite one."""
    ok = torch.isfinite(A).flatten(1).all(1)
    if bool(ok.all()):  # the usual case (always for ReLU, whose H is built from 0/1 patterns)
        return torch.linalg.eigvalsh(A).abs().amax(1)
    out = torch.full(A.shape[:1], float("nan"), dtype=A.dtype, device=A.device)
    if bool(ok.any()):
        out[ok] = torch.linalg.eigvalsh(A[ok]).abs().amax(1)
    return out


_RECORDS = ("residual", "pattern_change", "weight_move", "gram_drift")


class NTKTracker:
    """Observer of ``landscope.optim.run`` on a ``TwoLayerNTK``: Du et al.'s quantities.

    At every step of ``record`` it measures, for every row still running, the residual
    ||u(k) - y||, the fraction of the m n sign patterns 1{w_r . x_i >= 0} changed since
    the start, max_r ||w_r(k) - w_r(0)|| and (``record_gram``) ||H(k) - H(0)||_2; a row
    is also measured at the step it stops, and its later columns repeat those values.
    The residual is sqrt(2 L) from the driver's loss (exact: see ``TwoLayerNTK``), or
    recomputed where the run computes no loss; the pattern is the one the driver's last
    evaluation left in the problem (``TwoLayerNTK.pattern``; recomputed for other
    activations or a subset of rows). A record then costs an O(n^2 m) Gram matrix and an
    n x n eigenvalue problem per row.

    Args:
        problem: the problem the run trains (the working rows' data are read from
            ``View.problem``, the driver's restriction of it).
        theta0: (R, m d) the starting rows of the run.
        record: the steps to record, increasing (``record_schedule``).
        record_gram: also record ||H(k) - H(0)||_2.
        callback: ``callback(step, residual)`` at every recorded step, residual (R,).

    Attributes:
        steps: (T,) the recorded steps.
        lambda_min_H0: (R,) smallest eigenvalue of the finite-width H(0).
    """

    def __init__(
        self,
        problem: TwoLayerNTK,
        theta0: torch.Tensor,
        record: Sequence[int] | torch.Tensor,
        *,
        record_gram: bool = True,
        callback: Callable[[int, torch.Tensor], None] | None = None,
    ) -> None:
        if not isinstance(problem, TwoLayerNTK):
            raise TypeError(f"NTKTracker tracks a TwoLayerNTK, got {type(problem).__name__}.")
        ks = torch.as_tensor(record, dtype=torch.long).flatten().cpu()
        if ks.numel() and (int(ks[0]) < 0 or bool((ks[1:] <= ks[:-1]).any())):
            raise ValueError(f"record must be increasing steps >= 0, got {ks.tolist()}.")
        W0 = problem.weights(theta0).clone()
        R, m, _ = W0.shape
        dt, dev = problem.dtype, problem.device
        self.problem, self.steps, self._ks = problem, ks, ks.tolist()
        self._R, self._mn = R, m * problem.n
        self._exact = _exact_counts(problem.relu, problem.a)
        self._record_gram, self._callback = record_gram, callback
        K = problem.X @ problem.Xt  # (n, n) or (R, n, n)
        Z = problem.preactivations(W0)
        P0 = Z >= 0
        D0 = P0 if problem.relu else problem.activation.dphi(Z)
        H0 = _gram(D0, self._a(problem, R), K, self._exact, dt)
        self.lambda_min_H0 = torch.linalg.eigvalsh(H0)[:, 0]
        self._start = {"W0": W0, "P0": P0, "H0": H0, "K": K}
        self._rows: torch.Tensor | None = None  # rows of the working copy below
        self._cur: dict[str, torch.Tensor] = {}
        T = len(self._ks)
        names = _RECORDS if record_gram else _RECORDS[:3]
        self._rec = {k: torch.full((R, T), math.nan, dtype=dt, device=dev) for k in names}
        self._last = {k: torch.full((R,), math.nan, dtype=dt, device=dev) for k in names}
        self._col = 0

    @staticmethod
    def _a(problem: TwoLayerNTK, R: int) -> torch.Tensor:
        return problem.a if problem.a.ndim == 2 else problem.a.expand(R, problem.m)

    def _sync(self, rows: torch.Tensor) -> None:
        """The starting data of the driver's working rows (gathered once per compaction)."""
        if rows is self._rows:
            return
        self._rows = rows
        if rows.numel() == self._R:  # all rows, in order: no copy
            self._cur = dict(self._start)
        else:
            self._cur = {
                k: v if k == "K" and v.ndim == 2 else v[rows] for k, v in self._start.items()
            }

    def __call__(self, view: View) -> None:
        k, col = view.step, self._col
        scheduled = col < len(self._ks) and k == self._ks[col]
        if not (scheduled or view.finished):
            return
        self._sync(view.rows)
        if scheduled:  # rows frozen at an earlier step (check_every > 1) keep their values
            live = ~view.done | (view.status > 0)
            self._measure(view, None if bool(live.all()) else torch.nonzero(live).flatten())
            for name, rec in self._rec.items():
                rec[:, col] = self._last[name]
            self._col += 1
            if self._callback is not None:
                self._callback(k, self._rec["residual"][:, col].clone())
        else:
            self._measure(view, torch.nonzero(view.status > 0).flatten())

    def _measure(self, view: View, sel: torch.Tensor | None) -> None:
        """Store the quantities of the working rows ``sel`` (all if None) in ``_last``."""
        cur, prob, theta = self._cur, view.problem, view.theta
        if prob is None:  # a View from elsewhere: the data of its rows from the problem
            prob = self.problem.select(view.rows)
        loss, rows = view.loss, view.rows
        if sel is not None:
            cur = {k: v if k == "K" and v.ndim == 2 else v[sel] for k, v in cur.items()}
            prob, theta, rows = prob.select(sel), theta[sel], rows[sel]
            loss = None if loss is None else loss[sel]
        if loss is None:
            res = torch.linalg.vector_norm(prob.residuals(theta), dim=1)
        else:
            res = (2 * loss).sqrt()
        P, D = prob.pattern(theta)
        W = prob.weights(theta)
        last = self._last
        last["residual"][rows] = res
        last["pattern_change"][rows] = torch.ne(P, cur["P0"]).sum((1, 2)).to(W.dtype) / self._mn
        last["weight_move"][rows] = torch.linalg.vector_norm(W - cur["W0"], dim=2).amax(1)
        if self._record_gram:
            H = _gram(D, self._a(prob, W.shape[0]), cur["K"], self._exact, W.dtype)
            last["gram_drift"][rows] = _sym_norm2(H - cur["H0"])

    def records(self) -> dict[str, torch.Tensor | None]:
        """(R, T) per quantity (``gram_drift`` None unless recorded); columns after the
        run's last step repeat each row's values where it stopped."""
        for c in range(self._col, len(self._ks)):
            for name, rec in self._rec.items():
                rec[:, c] = self._last[name]
        self._col = len(self._ks)
        return {name: self._rec.get(name) for name in _RECORDS}


def train_two_layer(
    X: torch.Tensor,
    y: torch.Tensor,
    W0: torch.Tensor,
    a: torch.Tensor,
    *,
    eta: float,
    steps: int,
    record_every: int | Sequence[int] | torch.Tensor | None = None,
    max_records: int = 200,
    record_gram: bool = True,
    activation: str = "relu",
    residual_tol: float | None = None,
    diverge: float = 1e8,
    callback: Callable[[int, torch.Tensor], None] | None = None,
) -> Dynamics:
    """GD with a fixed step on R two-layer networks at once, recording NTK quantities.

    ``landscope.optim.run(TwoLayerNTK(X, y, a), W0, GD(eta))`` with an ``NTKTracker`` as
    observer: one tensor computation over runs, and rows that stop (residual <=
    ``residual_tol``, or diverged) leave the working batch (the driver's compaction), so
    the rest of the run costs only the rows still training. The stopping rule is
    ``Stop(grad_tol=None, loss_target=residual_tol^2 / 2, max_steps=steps,
    diverge=inf, loss_growth=diverge^2)``.

    Recording: at the steps of ``record_every`` (default: ``record_schedule(steps,
    max_records)``, log-spaced plus evenly spaced, at most 200 records and at most one per
    two steps) the residual, the pattern change, the weight movement and (if
    ``record_gram``) ||H(k) - H(0)||_2 are computed for every active row. The Gram drift
    costs O(n^2 m) per row and record, about one GD step's worth when n ~ 10 d, which is
    why it is thinned by default (see ``record_schedule`` for the cost measured).

    Args:
        X: inputs (n, d) shared by all runs, or (R, n, d) per run (unit norm in the paper;
            not enforced).
        y: labels (n,) shared, or (R, n).
        W0: initial first layer (R, m, d) (``two_layer_init``); its dtype is used throughout.
        a: fixed output weights (R, m), +-1 in the paper.
        eta: the fixed GD step, > 0 (the paper's eta = O(lambda_0 / n^2); in practice
            about 1 / ||H-infinity||_2 converges).
        steps: number of GD steps, >= 0 (the driver's ``max_steps``).
        record_every: None (default schedule), an integer k (every k-th step), or the
            steps to record; step 0 and the last step are always added.
        max_records: the budget of the default schedule.
        record_gram: also record ||H(k) - H(0)||_2.
        activation: a ``landscope.activations`` name (ReLU is the paper's; others use
            phi and phi' from the registry; the pattern is still 1{w_r . x_i >= 0}).
        residual_tol: a row stops (status converged) once ||u - y|| <= this.
        diverge: a row stops as diverged once ||u - y|| exceeds ``diverge`` times its
            initial residual (its loss ``diverge``^2 times its initial loss: the same test
            up to the rounding of the squares) or turns non-finite.
        callback: ``callback(step, residual)`` at every recorded step, with residual (R,).

    Returns:
        A ``Dynamics``.

    Raises:
        ValueError: one sentence naming the bad argument (eta <= 0, steps < 0, shapes
            that disagree, NaN or infinity in the data, a bad schedule or tolerance).
    """
    if not (isinstance(eta, (int, float)) and math.isfinite(eta) and eta > 0):
        raise ValueError(f"eta must be a finite number > 0, got {eta!r}.")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}.")
    if residual_tol is not None and not (math.isfinite(residual_tol) and residual_tol >= 0):
        raise ValueError(
            f"residual_tol must be None or a finite number >= 0, got {residual_tol!r}."
        )
    if not (diverge > 1):
        raise ValueError(f"diverge must be > 1, got {diverge!r}.")
    X, a, y = _check_inputs(X, W0, a, y)
    problem = TwoLayerNTK(X, y, a, activation)
    steps = int(steps)
    ks = _resolve_records(record_every, steps, max_records)
    R, m, d = W0.shape
    theta0 = W0.reshape(R, m * d)
    tracker = NTKTracker(problem, theta0, ks, record_gram=record_gram, callback=callback)
    tol = None if residual_tol is None else float(residual_tol)
    stop = Stop(
        grad_tol=None,  # a fixed budget: GD at an exact critical point runs on, as it did
        # tol * tol, not tol ** 2: the same rounding as the loss's square (see TwoLayerNTK)
        loss_target=None if tol is None else 0.5 * (tol * tol),
        max_steps=steps,
        diverge=math.inf,  # no test on ||grad||: non-finite values and loss_growth only
        loss_growth=float(diverge) * float(diverge),
    )
    out = run(problem, theta0, GD(eta), stop=stop, observers=(tracker,))
    rec = tracker.records()
    return Dynamics(
        steps=ks.to(W0.device),
        residual=rec["residual"],
        pattern_change=rec["pattern_change"],
        weight_move=rec["weight_move"],
        gram_drift=rec["gram_drift"],
        W=out.theta.view(R, m, d),
        final_residual=(2 * out.loss).sqrt(),
        lambda_min_H0=tracker.lambda_min_H0,
        stop_step=out.steps,
        status=out.status,
        eta=float(eta),
        activation=problem.activation.name,
        residual_tol=residual_tol,
    )


# -- the theory's comparison -----------------------------------------------------------


def bound(
    residual0: torch.Tensor | float,
    eta: float,
    lambda0: torch.Tensor | float,
    steps: torch.Tensor | Sequence[int],
) -> torch.Tensor:
    """Theorem 4.1 of Du et al. as a residual norm: (1 - eta lambda_0 / 2)^(k/2) ||u(0) - y||.

    Args:
        residual0: ||u(0) - y||, a number or (R,).
        eta: the GD step, > 0.
        lambda0: smallest eigenvalue of H-infinity, a number or (R,), with
            0 <= eta lambda0 / 2 <= 1.
        steps: (T,) step indices k.

    Returns:
        (R, T) if residual0 or lambda0 is a tensor with a run axis, else (T,).

    Raises:
        ValueError: eta <= 0, lambda0 < 0 or eta lambda0 / 2 > 1.
    """
    if not (math.isfinite(eta) and eta > 0):
        raise ValueError(f"eta must be a finite number > 0, got {eta!r}.")
    lam = torch.as_tensor(lambda0, dtype=torch.float64)
    r0 = torch.as_tensor(residual0)
    r0 = r0.to(torch.float64) if not r0.dtype.is_floating_point else r0
    if bool((lam < 0).any()) or bool((eta * lam / 2 > 1).any()):
        raise ValueError(
            f"need 0 <= eta lambda0 / 2 <= 1 for the bound; got eta = {eta!r}, "
            f"lambda0 = {lam.tolist()!r}."
        )
    k = torch.as_tensor(steps).to(dtype=r0.dtype, device=r0.device)
    q = (1 - eta * lam / 2).to(dtype=r0.dtype, device=r0.device)
    return q[..., None] ** (k / 2) * r0[..., None]


def empirical_rate(
    residual: torch.Tensor,
    steps: torch.Tensor,
    *,
    floor: float = 1e-10,
    stop_step: torch.Tensor | None = None,
) -> torch.Tensor:
    """Measured per-step linear rate of ||u(k) - y||^2, comparable with eta lambda_0 / 2.

    Least-squares slope s of log ||u(k) - y||^2 against k over the recorded points whose
    squared residual is above ``floor`` times the first one (so that the float64
    round-off floor, ~1e-30 relative, never enters) and whose step is at most the row's
    ``stop_step``; the rate is 1 - exp(s), i.e. ||u(k) - y||^2 ~ (1 - rate)^k.

    Args:
        residual: (R, T) or (T,) residual norms at ``steps``.
        steps: (T,) step indices.
        floor: relative floor on the squared residual.
        stop_step: (R,) last meaningful step of each row (``Dynamics.stop_step``).

    Returns:
        (R,) (or a scalar tensor for (T,) input); NaN for a row with fewer than two
        points above the floor.
    """
    one = residual.ndim == 1
    r = residual[None] if one else residual
    if r.ndim != 2 or steps.ndim != 1 or r.shape[1] != steps.shape[0]:
        raise ValueError(
            f"residual {tuple(residual.shape)} and steps {tuple(steps.shape)} disagree; "
            "expected (R, T) or (T,) and (T,)."
        )
    r2 = r.to(torch.float64).square()
    k = steps.to(dtype=torch.float64, device=r.device)[None, :].expand_as(r2)
    ok = torch.isfinite(r2) & (r2 > 0) & (r2 >= floor * r2[:, :1])
    if stop_step is not None:
        ok = ok & (k <= stop_step.to(r.device)[:, None])
    w = ok.to(torch.float64)
    cnt = w.sum(1)
    logr = torch.where(ok, torch.log(torch.where(ok, r2, 1.0)), 0.0)
    kbar = (w * k).sum(1) / cnt.clamp_min(1)
    lbar = (w * logr).sum(1) / cnt.clamp_min(1)
    dk = (k - kbar[:, None]) * w
    sxx = (dk * dk).sum(1)
    slope = (dk * (logr - lbar[:, None])).sum(1) / sxx
    rate = torch.where((cnt >= 2) & (sxx > 0), 1 - torch.exp(slope), float("nan"))
    return rate[0] if one else rate


def kernel_rate(eta: float, lambda0: float) -> float:
    """The per-step rate of ||u - y||^2 of the infinite-width dynamics' slowest mode.

    GD on the kernel dynamics u(k+1) - y = (I - eta H-infinity)(u(k) - y) shrinks the
    component along H-infinity's eigenvector of lambda_0 by 1 - eta lambda_0 per step, so
    its square by (1 - eta lambda_0)^2: the rate 1 - (1 - eta lambda_0)^2 ~ 2 eta lambda_0,
    four times the bound's eta lambda_0 / 2 (Theorem 4.1 of Du et al. is conservative).
    Wide nets approach it; compare ``empirical_rate``.

    Args:
        eta: the GD step, > 0.
        lambda0: smallest eigenvalue of H-infinity, with 0 <= eta lambda0 <= 2 (the mode
            contracts).

    Raises:
        ValueError: eta <= 0 or eta lambda0 outside [0, 2].
    """
    if not (math.isfinite(eta) and eta > 0):
        raise ValueError(f"eta must be a finite number > 0, got {eta!r}.")
    if not (0 <= eta * lambda0 <= 2):
        raise ValueError(
            f"need 0 <= eta lambda0 <= 2 for a contracting mode; got eta = {eta!r}, "
            f"lambda0 = {lambda0!r}."
        )
    return 1 - (1 - eta * lambda0) ** 2


@dataclass(frozen=True)
class BoundCheck:
    """R recorded runs against Theorem 4.1 of Du et al. (``check_bound``).

    Attributes:
        rate: (R,) the measured per-step rate of ||u - y||^2 (``empirical_rate``).
        rate_bound: eta lambda_0 / 2, the bound's rate.
        ratio_max: (R,) max over the recorded steps of ||u(k) - y|| / bound(k), the bound
            ``bound(||u(0) - y||, eta, lambda_0, k)``; NaN if a record is NaN.
        holds: (R,) ratio_max <= 1 + rtol: the run stayed under the bound at every
            recorded step.
    """

    rate: torch.Tensor
    rate_bound: float
    ratio_max: torch.Tensor
    holds: torch.Tensor


def check_bound(
    residual: torch.Tensor,
    steps: torch.Tensor,
    eta: float,
    lambda0: float,
    *,
    stop_step: torch.Tensor | None = None,
    floor: float = 1e-10,
    rtol: float = 1e-12,
) -> BoundCheck:
    """Recorded residuals against (1 - eta lambda_0 / 2)^(k/2) ||u(0) - y|| and its rate.

    Args:
        residual: (R, T) ||u(k) - y|| at ``steps``, the first at k = 0
            (``Dynamics.residual``, ``NTKTracker.records()["residual"]``).
        steps: (T,) the recorded steps, increasing, the first 0.
        eta: the GD step, > 0.
        lambda0: smallest eigenvalue of H-infinity (0 <= eta lambda0 / 2 <= 1).
        stop_step: (R,) the step each row stopped at (the rate is fit up to it).
        floor: the relative floor of ``empirical_rate``.
        rtol: relative room over the bound: at k = 0 the bound is the residual itself,
            so a run exactly on it must not fail by rounding.

    Returns:
        A ``BoundCheck``.

    Raises:
        ValueError: residual not (R, T) with T matching ``steps``, a first step other
            than 0, rtol < 0, or as ``bound``.
    """
    if residual.ndim != 2 or steps.ndim != 1 or residual.shape[1] != steps.shape[0]:
        raise ValueError(
            f"residual {tuple(residual.shape)} and steps {tuple(steps.shape)} disagree; "
            "expected (R, T) and (T,)."
        )
    if steps.numel() == 0 or int(steps[0]) != 0:
        raise ValueError(f"the recorded steps must start at 0, got {steps.tolist()}.")
    if not (rtol >= 0):
        raise ValueError(f"rtol must be >= 0, got {rtol!r}.")
    rate = empirical_rate(residual, steps, floor=floor, stop_step=stop_step)
    ratio = (residual / bound(residual[:, 0], eta, lambda0, steps)).max(1).values
    return BoundCheck(
        rate=rate, rate_bound=eta * lambda0 / 2, ratio_max=ratio, holds=ratio <= 1 + rtol
    )
