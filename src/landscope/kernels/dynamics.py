"""Gradient descent on over-parameterized two-layer networks, tracked against NTK theory.

Du, Zhai, Poczos & Singh, "Gradient descent provably optimizes over-parameterized neural
networks" (ICLR 2019). The network and loss are

    f(W, a, x) = (1 / sqrt m) sum_{r <= m} a_r relu(w_r . x),
    L(W) = 1/2 sum_{i <= n} (f(W, a, x_i) - y_i)^2          (a sum, as in the paper),

with a_r = +-1 fixed, w_r(0) ~ N(0, I_d) and unit-norm inputs; only W is trained, by GD
with a fixed step: W(k+1) = W(k) - eta dL/dW, where

    dL/dw_r = (1 / sqrt m) a_r sum_i (u_i - y_i) 1{w_r . x_i >= 0} x_i,   u_i = f(W, a, x_i).

The paper's Gram matrix at step k is

    H(k)_ij = (1/m) x_i . x_j sum_r a_r^2 1{w_r(k) . x_i >= 0, w_r(k) . x_j >= 0}

(for another activation phi: phi'(w_r . x_i) phi'(w_r . x_j) in place of the indicators),
and u(k+1) - y ~ (I - eta H(k)) (u(k) - y). Theorem 4.1: with H-infinity = E H(0) and
lambda_0 its smallest eigenvalue, for m large enough and eta small enough,
||u(k) - y||^2 <= (1 - eta lambda_0 / 2)^k ||u(0) - y||^2, while every w_r stays within
O(sqrt(n) ||u(0) - y|| / (sqrt(m) lambda_0)) of its start and few activation patterns
1{w_r . x_i >= 0} ever flip. ``train_two_layer`` runs R such trainings (seeds) as one
tensor computation and records those quantities; ``bound`` and ``empirical_rate`` turn
them into the comparison the paper makes. lambda_0 itself (the closed-form
H-infinity) is computed elsewhere in ``landscope.kernels`` and passed in.

The ReLU derivative at 0 is taken as 1 here (the paper's 1{. >= 0}); torch's relu'(0) is 0.
The two differ only on a set of measure zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .. import activations as acts
from .._validate import check_finite

__all__ = [
    "DYNAMICS_STATUS",
    "Dynamics",
    "bound",
    "empirical_rate",
    "record_schedule",
    "train_two_layer",
    "two_layer_gram",
    "two_layer_init",
    "two_layer_loss_and_grad",
    "two_layer_output",
]

# Same codes as ``landscope.optim.STATUS`` (1 converged, 2 max_steps, 3 diverged).
DYNAMICS_STATUS = ("running", "converged", "max_steps", "diverged")
_CONVERGED, _MAX_STEPS, _DIVERGED = 1, 2, 3

# Entries of sum_r 1{.}1{.} are integers <= m: float32 holds them (and every partial sum)
# exactly up to 2^24, at half the cost of a float64 product.
_EXACT_COUNT_MAX_M = 2**24


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
        status: (R,) codes into ``DYNAMICS_STATUS``: 1 converged (residual <=
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

    def status_names(self) -> list[str]:
        return [DYNAMICS_STATUS[int(s)] for s in self.status]

    def rate(self, floor: float = 1e-10) -> torch.Tensor:
        """``empirical_rate`` of the recorded residuals, each row up to its stop step."""
        return empirical_rate(self.residual, self.steps, floor=floor, stop_step=self.stop_step)


# -- the model -------------------------------------------------------------------------


def two_layer_init(
    R: int,
    m: int,
    d: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's initialization for R runs: w_r(0) ~ N(0, I_d), a_r uniform on {-1, +1}.

    Draws on the generator's device (W0 first, then a), then moves to ``device``.

    Returns:
        W0 (R, m, d) and a (R, m), both of ``dtype``.

    Raises:
        ValueError: R, m or d below 1.
    """
    if min(R, m, d) < 1:
        raise ValueError(f"need R, m, d >= 1; got R = {R}, m = {m}, d = {d}.")
    gdev = generator.device if generator is not None else torch.device("cpu")
    W0 = torch.randn(R, m, d, generator=generator, dtype=dtype, device=gdev)
    a = torch.randint(0, 2, (R, m), generator=generator, device=gdev).to(dtype) * 2 - 1
    if device is not None:
        W0, a = W0.to(device), a.to(device)
    return W0, a


def _check_inputs(
    X: torch.Tensor, W: torch.Tensor, a: torch.Tensor, y: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Shapes and finiteness; returns X and y in W's dtype and device (X (n, d) or (R, n, d))."""
    if W.ndim != 3:
        raise ValueError(f"W has shape {tuple(W.shape)}; expected (R, m, d).")
    R, m, d = W.shape
    if a.shape != (R, m):
        raise ValueError(f"a has shape {tuple(a.shape)}; expected (R, m) = ({R}, {m}).")
    if X.ndim not in (2, 3) or X.shape[-1] != d or (X.ndim == 3 and X.shape[0] != R):
        raise ValueError(
            f"X has shape {tuple(X.shape)}; expected (n, {d}) shared by all runs or "
            f"(R, n, {d}) = ({R}, n, {d}) per run."
        )
    n = X.shape[-2]
    if y is not None and (
        y.ndim not in (1, 2) or y.shape[-1] != n or y.shape[:-1] not in ((), (R,))
    ):
        raise ValueError(f"y has shape {tuple(y.shape)}; expected ({n},) or ({R}, {n}).")
    if not W.dtype.is_floating_point:
        raise ValueError(f"W has dtype {W.dtype}; use float64 or float32.")
    for name, t in (("X", X), ("W", W), ("a", a)) + ((("y", y),) if y is not None else ()):
        check_finite(name, t)
    X = X.to(dtype=W.dtype, device=W.device)
    if y is not None:
        y = y.to(dtype=W.dtype, device=W.device)
    return X, a.to(dtype=W.dtype, device=W.device), y


def _xt(X: torch.Tensor) -> torch.Tensor:
    return X.transpose(-1, -2).contiguous()


def two_layer_output(
    X: torch.Tensor, W: torch.Tensor, a: torch.Tensor, activation: str = "relu"
) -> torch.Tensor:
    """u_i = (1 / sqrt m) sum_r a_r phi(w_r . x_i) for every run: (R, n).

    Args:
        X: inputs (n, d) shared by all runs, or (R, n, d).
        W: first-layer weights (R, m, d).
        a: output weights (R, m).
    """
    X, a, _ = _check_inputs(X, W, a)
    act = acts.get(activation)
    a_s = a / math.sqrt(W.shape[1])
    return torch.bmm(a_s[:, None, :], act.phi(W @ _xt(X))).squeeze(1)


def two_layer_loss_and_grad(
    X: torch.Tensor,
    y: torch.Tensor,
    W: torch.Tensor,
    a: torch.Tensor,
    activation: str = "relu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """L = 1/2 sum_i (u_i - y_i)^2 (R,) and the hand-written dL/dW (R, m, d).

    dL/dw_r = (1 / sqrt m) a_r sum_i (u_i - y_i) phi'(w_r . x_i) x_i, with ReLU's
    derivative 1{w_r . x_i >= 0} as in the paper. The same kernels as the training loop.
    """
    X, a, y = _check_inputs(X, W, a, y)
    step = _Step(X, y, a, acts.get(activation))
    Z = torch.empty(W.shape[0], W.shape[1], X.shape[-2], dtype=W.dtype, device=W.device)
    P = torch.empty(Z.shape, dtype=torch.bool, device=W.device)
    e, D = step.forward(W, Z, P)
    G = torch.empty_like(W)
    step.grad(e, D, Z, G)
    return 0.5 * e.square().sum(1), G * step.a_s[:, :, None]


def _gram(
    D: torch.Tensor, a: torch.Tensor, K: torch.Tensor, exact_counts: bool, dtype: torch.dtype
) -> torch.Tensor:
    """H_ij = (1/m) K_ij sum_r a_r^2 D_ri D_rj from D (R, m, n) (bool for ReLU), K (., n, n)."""
    m = D.shape[1]
    if exact_counts:  # ReLU with |a_r| = 1: integer counts, exact in float32
        Pf = D.to(torch.float32)
        C = (Pf.transpose(1, 2) @ Pf).to(dtype)
    else:
        Dw = D.to(dtype) * a.abs()[:, :, None]
        C = Dw.transpose(1, 2) @ Dw
    return K * C / m


def _exact_counts(relu: bool, a: torch.Tensor) -> bool:
    return relu and a.shape[1] <= _EXACT_COUNT_MAX_M and bool((a.abs() == 1).all())


def two_layer_gram(
    X: torch.Tensor, W: torch.Tensor, a: torch.Tensor, activation: str = "relu"
) -> torch.Tensor:
    """The finite-width Gram matrix H(W) of every run, (R, n, n).

    H_ij = (1/m) x_i . x_j sum_r a_r^2 phi'(w_r . x_i) phi'(w_r . x_j); for ReLU the
    indicators 1{w_r . x >= 0}. At W(0) its expectation is H-infinity (Du et al., eq. 3.1).
    """
    X, a, _ = _check_inputs(X, W, a)
    act = acts.get(activation)
    relu = act.name == "relu"
    Z = W @ _xt(X)
    D = Z >= 0 if relu else act.dphi(Z)
    return _gram(D, a, X @ _xt(X), _exact_counts(relu, a), W.dtype)


class _Step:
    """The hot loop's kernels on preallocated buffers (large allocations cost page faults).

    ReLU: Z = W X' (R', m, n) in place, P = 1{Z >= 0}, Z <- relu(Z), u = a_s' Z, then
    Z <- P * e and G = Z X: two thin matmuls and three elementwise passes per step.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, a: torch.Tensor, act) -> None:
        self.act = act
        self.relu = act.name == "relu"
        self.set(X, y, a)

    def set(self, X: torch.Tensor, y: torch.Tensor, a: torch.Tensor) -> None:
        self.X, self.Xt, self.y = X, _xt(X), y
        self.a_s = a / math.sqrt(a.shape[1])

    def forward(
        self, W: torch.Tensor, Z: torch.Tensor, P: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Residuals e = u - y (R', n) and phi'(Z) (for ReLU: P itself, bool)."""
        torch.matmul(W, self.Xt, out=Z)
        if self.relu:
            torch.ge(Z, 0, out=P)
            Z.clamp_min_(0)
            F, D = Z, P
        else:  # Z stays the pre-activation: the sign pattern is read from it
            F, D = self.act.phi(Z), self.act.dphi(Z)
        e = torch.bmm(self.a_s[:, None, :], F).squeeze(1) - self.y
        return e, D

    def grad(self, e: torch.Tensor, D: torch.Tensor, Z: torch.Tensor, G: torch.Tensor) -> None:
        """G <- sum_i e_i phi'(Z_ri) x_i (R', m, d), not yet scaled by a_s; overwrites Z."""
        torch.mul(D, e[:, None, :], out=Z)
        torch.matmul(Z, self.X, out=G)


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


class _Batch:
    """The rows still training (original indices ``idx``) with everything they own."""

    def __init__(self, **tensors: torch.Tensor) -> None:
        self.__dict__.update(tensors)

    def keep(self, rows: torch.Tensor, per_row: Sequence[str]) -> None:
        for name in per_row:
            setattr(self, name, getattr(self, name)[rows])


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

    One tensor computation over runs; the only Python loop is over steps. Rows that stop
    (residual <= ``residual_tol``, or diverged) leave the working batch (compaction), so
    the rest of the run costs only the rows still training.

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
        steps: number of GD steps, >= 0.
        record_every: None (default schedule), an integer k (every k-th step), or the
            steps to record; step 0 and the last step are always added.
        max_records: the budget of the default schedule.
        record_gram: also record ||H(k) - H(0)||_2.
        activation: a ``landscope.activations`` name (ReLU is the paper's; others use
            phi and phi' from the registry; the pattern is still 1{w_r . x_i >= 0}).
        residual_tol: a row stops (status converged) once ||u - y|| <= this.
        diverge: a row stops as diverged once ||u - y|| exceeds ``diverge`` times its
            initial residual or turns non-finite.
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
    act = acts.get(activation)
    steps = int(steps)
    ks = _resolve_records(record_every, steps, max_records)
    ks_list = ks.tolist()
    R, m, d = W0.shape
    n = X.shape[-2]
    dt, dev = W0.dtype, W0.device
    relu = act.name == "relu"
    exact = _exact_counts(relu, a)
    shared_X = X.ndim == 2
    y = y.expand(R, n).contiguous()

    # per-row state of the working batch
    per_row = ["idx", "W", "W0", "a", "y", "P0", "H0", "res0"]
    if not shared_X:
        per_row.append("X")
    step = _Step(X, y, a, act)
    Z = torch.empty(R, m, n, dtype=dt, device=dev)
    P = torch.empty(Z.shape if relu else 0, dtype=torch.bool, device=dev)  # ReLU only
    G = torch.empty(R, m, d, dtype=dt, device=dev)
    K = X @ _xt(X)  # (n, n) or (R, n, n)
    b = _Batch(idx=torch.arange(R, device=dev), W=W0.clone(), W0=W0, a=a, y=y, X=X)
    e, D = step.forward(b.W, Z, P)
    b.P0 = P.clone() if relu else Z >= 0
    b.H0 = _gram(D, a, K, exact, dt)
    b.res0 = torch.linalg.vector_norm(e, dim=1)
    lambda_min = torch.linalg.eigvalsh(b.H0)[:, 0]
    if not shared_X:
        b.K = K
        per_row.append("K")

    T = len(ks_list)
    nan = float("nan")
    res_rec, pc_rec, wm_rec = (torch.full((R, T), nan, dtype=dt, device=dev) for _ in range(3))
    gd_rec = torch.full((R, T), nan, dtype=dt, device=dev) if record_gram else None
    last = {k: torch.full((R,), nan, dtype=dt, device=dev) for k in ("res", "pc", "wm", "gd")}
    W_out = W0.clone()
    final_res = torch.full((R,), nan, dtype=dt, device=dev)
    stop_step = torch.full((R,), steps, dtype=torch.long, device=dev)
    status = torch.full((R,), _MAX_STEPS, dtype=torch.long, device=dev)

    def measure(rows: torch.Tensor | None, res: torch.Tensor, D: torch.Tensor) -> None:
        """Store the recorded quantities of active rows ``rows`` (all if None) in ``last``."""
        sel = slice(None) if rows is None else rows
        idx = b.idx[sel]
        Pk = P[sel] if relu else Z[sel] >= 0
        last["res"][idx] = res[sel]
        last["pc"][idx] = torch.ne(Pk, b.P0[sel]).sum((1, 2)).to(dt) / (m * n)
        last["wm"][idx] = torch.linalg.vector_norm(b.W[sel] - b.W0[sel], dim=2).amax(1)
        if record_gram:
            Kk = K if shared_X else b.K[sel]
            H = _gram(D[sel], b.a[sel], Kk, exact, dt)
            last["gd"][idx] = _sym_norm2(H - b.H0[sel])

    col = 0
    for k in range(steps + 1):
        if k > 0:
            e, D = step.forward(b.W, Z, P)
        res = torch.linalg.vector_norm(e, dim=1)
        div = ~torch.isfinite(res) | (res > diverge * b.res0)
        done = div if residual_tol is None else div | (res <= residual_tol)
        if k == steps:
            done = torch.ones_like(done)
        any_done = bool(done.any())
        if k == ks_list[col]:
            measure(None, res, D)
            res_rec[:, col], pc_rec[:, col], wm_rec[:, col] = last["res"], last["pc"], last["wm"]
            if gd_rec is not None:
                gd_rec[:, col] = last["gd"]
            col += 1
            if callback is not None:
                callback(k, res_rec[:, col - 1].clone())
        elif any_done:
            measure(torch.nonzero(done).flatten(), res, D)
        if any_done:
            fin = torch.nonzero(done).flatten()
            rows = b.idx[fin]
            W_out[rows] = b.W[fin]
            final_res[rows] = res[fin]
            stop_step[rows] = k
            conv = torch.zeros_like(div) if residual_tol is None else res <= residual_tol
            code = torch.full_like(fin, _MAX_STEPS)
            code[conv[fin]] = _CONVERGED
            code[div[fin]] = _DIVERGED
            status[rows] = code
            if k == steps or bool(done.all()):
                break
            keep = torch.nonzero(~done).flatten()
            b.keep(keep, per_row)
            e, D = e[keep], D[keep]  # for ReLU, D is P: the kept rows' pattern
            step.set(b.X, b.y, b.a)
            Z = torch.empty(keep.numel(), m, n, dtype=dt, device=dev)
            G = torch.empty(keep.numel(), m, d, dtype=dt, device=dev)
            if relu:
                P = D
        step.grad(e, D, Z, G)
        b.W.addcmul_(G, step.a_s[:, :, None], value=-eta)

    # the remaining columns (rows that all stopped before the last record) repeat `last`
    for c in range(col, T):
        res_rec[:, c], pc_rec[:, c], wm_rec[:, c] = last["res"], last["pc"], last["wm"]
        if gd_rec is not None:
            gd_rec[:, c] = last["gd"]
    return Dynamics(
        steps=ks.to(dev),
        residual=res_rec,
        pattern_change=pc_rec,
        weight_move=wm_rec,
        gram_drift=gd_rec,
        W=W_out,
        final_residual=final_res,
        lambda_min_H0=lambda_min,
        stop_step=stop_step,
        status=status,
        eta=float(eta),
        activation=act.name,
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
