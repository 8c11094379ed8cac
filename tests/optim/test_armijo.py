"""Gradient descent with per-row Armijo backtracking: exact minimizers of ill-conditioned
least-squares quadratics, the sufficient-decrease condition on every accepted step, the
loss and step stopping rules, divergence and failed line searches, batch vs one row for
problems whose rows own their data, and argument checks (``Armijo`` under ``run``)."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope.optim import Armijo, RunResult, Stop, View, run
from landscope.problems import OneHiddenRegression, planted
from reference.one_row import run_alone

DT = torch.float64
CONVERGED, MAX_STEPS, DIVERGED = 1, 2, 3


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _armijo(problem, theta0: torch.Tensor, method: Armijo | None = None, **stop) -> RunResult:
    """``Armijo`` (default constants unless ``method``) under ``run``; ``stop`` holds
    ``Stop``'s fields, max_steps 10,000 unless told (the budget these tests were written
    for)."""
    method = Armijo() if method is None else method
    return run(problem, theta0, method, stop=Stop(**{"max_steps": 10_000, **stop}))


class LeastSquares:
    """Row r: f_r(theta) = 1/2 |M_r theta - c_r|^2, minimum 0 at M_r^{-1} c_r.

    Every row has its own (M_r, c_r), so the problem exposes ``select`` like
    OneHiddenRegression. The loss is evaluated from the residual, not as
    1/2 theta'A theta - b'theta, so that loss differences stay resolvable down to
    |grad| ~ 1e-10 (the expanded form loses them to cancellation near the minimum).
    """

    global_min = 0.0
    dtype = DT
    device = torch.device("cpu")

    def __init__(self, M: torch.Tensor, c: torch.Tensor) -> None:
        self.M, self.c = M, c
        self.n_params = M.shape[-1]

    def select(self, rows: torch.Tensor) -> LeastSquares:
        return LeastSquares(self.M[rows], self.c[rows])

    def _res(self, theta: torch.Tensor) -> torch.Tensor:
        assert theta.shape == self.c.shape, "rows and data out of step"
        return (self.M @ theta[:, :, None])[..., 0] - self.c

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        return 0.5 * self._res(theta).square().sum(1)

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = self._res(theta)
        return 0.5 * r.square().sum(1), (self.M.transpose(1, 2) @ r[:, :, None])[..., 0]


def _least_squares(conds: list[float], P: int, seed: int) -> tuple[LeastSquares, torch.Tensor]:
    """M_r = U diag(s) V' with s from 1 to sqrt(cond_r): Hessian M'M with eigenvalues in
    [1, cond_r], so |theta - theta*| <= |grad| / lambda_min = |grad|."""
    g = _gen(seed)
    Ms = []
    for cond in conds:
        U, _ = torch.linalg.qr(torch.randn(P, P, generator=g, dtype=DT))
        V, _ = torch.linalg.qr(torch.randn(P, P, generator=g, dtype=DT))
        s = torch.logspace(0, 0.5 * math.log10(cond), P, dtype=DT)
        Ms.append((U * s) @ V.T)
    R = len(conds)
    prob = LeastSquares(torch.stack(Ms), torch.randn(R, P, generator=g, dtype=DT))
    return prob, torch.randn(R, P, generator=g, dtype=DT)


def _solve(prob: LeastSquares) -> np.ndarray:
    pairs = zip(prob.M.numpy(), prob.c.numpy(), strict=True)
    return np.stack([np.linalg.solve(M, c) for M, c in pairs])


class Recorder:
    """Wraps a problem with ``select`` and logs every ``loss_and_grad`` call by original row."""

    def __init__(self, inner, ids: torch.Tensor, log: dict | None = None) -> None:
        self.inner, self.ids = inner, ids
        self.n_params = inner.n_params
        self.dtype, self.device = inner.dtype, inner.device
        self.log = {} if log is None else log

    def select(self, rows: torch.Tensor) -> Recorder:
        return Recorder(self.inner.select(rows), self.ids[rows], self.log)

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        return self.inner.loss(theta)

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f, g = self.inner.loss_and_grad(theta)
        for j, r in enumerate(self.ids.tolist()):
            self.log.setdefault(r, []).append((theta[j].clone(), float(f[j]), g[j].clone()))
        return f, g


# ---------------------------------------------------------------------- convergence

CONDS = [30.0, 100.0, 300.0]
SMALL = [10.0, 30.0, 100.0, 10.0]  # for the tests that need rows, not conditioning


def test_converges_to_the_exact_minimizers() -> None:
    prob, theta0 = _least_squares(CONDS, P=5, seed=0)
    tol = 1e-10
    res = _armijo(prob, theta0, grad_tol=tol, max_steps=20_000)
    assert res.status.tolist() == [CONVERGED] * len(CONDS)
    assert float(res.grad_norm.max()) <= tol
    _, g = prob.loss_and_grad(res.theta)
    assert_close(torch.linalg.vector_norm(g, dim=1), res.grad_norm, what="reported |grad|")
    # |theta - theta*| <= |grad| / lambda_min <= tol (lambda_min = 1), plus the solve's
    # rounding ~cond eps ~ 1e-14
    assert_close(res.theta, _solve(prob), rtol=0.0, atol=tol + 1e-12, what="minimizer")
    # plain gradient descent: the worse conditioned rows need more steps
    steps = res.steps.tolist()
    assert steps[0] < steps[1] < steps[2]


def test_shared_problem_without_select() -> None:
    """A problem without ``select`` is the same function on every row: compaction must
    keep each row's own iterate."""

    class One:
        global_min, dtype, device = 0.0, DT, torch.device("cpu")

        def __init__(self, inner: LeastSquares) -> None:
            self.M, self.c, self.n_params = inner.M[0], inner.c[0], inner.n_params

        def loss_and_grad(self, theta):
            r = theta @ self.M.T - self.c
            return 0.5 * r.square().sum(1), r @ self.M

        def loss(self, theta):
            return self.loss_and_grad(theta)[0]

    base, _ = _least_squares([100.0], P=4, seed=1)
    prob = One(base)
    theta0 = torch.randn(6, 4, generator=_gen(2), dtype=DT) * torch.logspace(-3, 2, 6)[:, None]
    res = _armijo(prob, theta0, grad_tol=1e-10, max_steps=20_000)
    assert res.status.tolist() == [CONVERGED] * 6
    assert len(set(res.steps.tolist())) > 1  # rows left the batch at different times
    expected = np.linalg.solve(prob.M.numpy(), prob.c.numpy())
    assert_close(res.theta, np.tile(expected, (6, 1)), rtol=0.0, atol=1e-10 + 1e-12)


def test_every_accepted_step_satisfies_armijo() -> None:
    prob, theta0 = _least_squares([10.0, 100.0, 30.0], P=4, seed=3)
    rec = Recorder(prob, torch.arange(theta0.shape[0]))
    c1 = 0.3  # a demanding constant: more rejected trials, and a sharper check
    res = _armijo(rec, theta0, grad_tol=1e-9, max_steps=20_000, method=Armijo(c1=c1))
    assert res.status.tolist() == [CONVERGED] * 3
    for r, calls in rec.log.items():
        assert len(calls) == int(res.steps[r]) + 1  # the start, then one call per step
        assert torch.equal(calls[0][0], theta0[r])
        assert torch.equal(calls[-1][0], res.theta[r])
        for (th0, f0, g0), (th1, f1, _) in pairwise(calls):
            step = th0 - th1
            gg = float(g0 @ g0)
            t = float(step @ g0) / gg
            # the direction is -grad: step = t g up to rounding of theta (~eps |theta|)
            assert float(torch.linalg.vector_norm(step - t * g0)) <= 1e-12 * (
                1 + float(torch.linalg.vector_norm(th0))
            )
            assert t > 0
            # sufficient decrease with the reconstructed t; slack for the rounding of the
            # two losses (~eps f0) and of t itself
            assert f1 <= f0 - c1 * t * gg * (1 - 1e-9) + 1e-15 * f0, (r, f0, f1, t, gg)
            assert f1 < f0


def test_armijo_on_one_hidden_regression() -> None:
    """The same check on a non-convex problem whose rows own their data."""
    p = planted(4, 2, 2.0, 60, [0, 1, 2], "tanh")
    prob = OneHiddenRegression(p.X, p.y, p.v, "tanh")
    rec = Recorder(prob, ids=torch.arange(3))
    theta0 = prob.init(3, generator=_gen(9))
    _armijo(rec, theta0, grad_tol=1e-8, max_steps=300, method=Armijo(c1=1e-4))
    for r, calls in rec.log.items():
        assert len(calls) > 10
        for (th0, f0, g0), (th1, f1, _) in pairwise(calls):
            t = float((th0 - th1) @ g0) / float(g0 @ g0)
            assert f1 <= f0 - 1e-4 * t * float(g0 @ g0) * (1 - 1e-9) + 1e-15 * f0, r


# -------------------------------------------------------------------- stopping rules


def test_loss_target_stops_rows_at_the_first_small_loss() -> None:
    prob, theta0 = _least_squares(SMALL, P=5, seed=4)
    rec = Recorder(prob, torch.arange(theta0.shape[0]))
    loss_tol = 1e-8
    res = _armijo(rec, theta0, grad_tol=0.0, loss_target=loss_tol, max_steps=20_000)
    assert res.status.tolist() == [CONVERGED] * len(SMALL)
    assert float(prob.loss(res.theta).max()) <= loss_tol
    assert float(res.grad_norm.min()) > 0  # grad_tol = 0 was not what stopped them
    # the loss the driver recorded is the loss at the final iterate
    assert_close(res.loss, prob.loss(res.theta), what="recorded loss")
    for calls in rec.log.values():
        losses = [f for _, f, _ in calls]
        assert losses[-1] <= loss_tol and min(losses[:-1]) > loss_tol
    full = _armijo(prob, theta0, grad_tol=1e-10, max_steps=20_000)
    assert bool((res.steps < full.steps).all())


def test_max_steps_caps_every_row() -> None:
    prob, theta0 = _least_squares(CONDS, P=5, seed=5)
    res = _armijo(prob, theta0, grad_tol=1e-10, max_steps=7)
    assert res.status.tolist() == [MAX_STEPS] * len(CONDS)
    assert res.steps.tolist() == [7] * len(CONDS)
    _, g = prob.loss_and_grad(res.theta)
    assert_close(res.grad_norm, torch.linalg.vector_norm(g, dim=1), what="|grad| at the cap")
    assert bool((prob.loss(res.theta) < prob.loss(theta0)).all())
    zero = _armijo(prob, theta0, max_steps=0)
    assert zero.status.tolist() == [MAX_STEPS] * len(CONDS)
    assert torch.equal(zero.theta, theta0) and zero.steps.tolist() == [0] * len(CONDS)


def test_starting_at_the_minimizer_takes_no_step() -> None:
    prob, _ = _least_squares([100.0, 10.0], P=3, seed=6)
    theta0 = torch.from_numpy(_solve(prob))
    res = _armijo(prob, theta0, grad_tol=1e-8)
    assert res.status.tolist() == [CONVERGED] * 2 and res.steps.tolist() == [0, 0]
    assert torch.equal(res.theta, theta0)


def test_unbounded_problem_diverges() -> None:
    class Concave:
        global_min, n_params, dtype, device = None, 3, DT, torch.device("cpu")

        def loss(self, theta):
            return -0.5 * theta.square().sum(1)

        def loss_and_grad(self, theta):
            return self.loss(theta), -theta

    theta0 = torch.randn(4, 3, generator=_gen(7), dtype=DT)
    res = _armijo(Concave(), theta0, max_steps=10_000)
    assert res.status.tolist() == [DIVERGED] * 4
    assert bool(torch.isinf(res.grad_norm).all())
    assert bool((res.steps < 10_000).all())


def test_failed_line_search_counts_as_max_steps() -> None:
    """A gradient pointing uphill: no halving finds a decrease; the row stops unchanged."""

    class Wrong:
        global_min, n_params, dtype, device = 0.0, 3, DT, torch.device("cpu")

        def loss(self, theta):
            return 0.5 * theta.square().sum(1)

        def loss_and_grad(self, theta):
            return self.loss(theta), -theta

    theta0 = torch.randn(2, 3, generator=_gen(8), dtype=DT)
    res = _armijo(Wrong(), theta0, method=Armijo(max_backtracks=5))
    assert res.status.tolist() == [MAX_STEPS] * 2 and res.steps.tolist() == [0, 0]
    assert torch.equal(res.theta, theta0)


def test_observer_sees_rows_leave() -> None:
    prob, theta0 = _least_squares(SMALL, P=5, seed=0)
    seen = []

    def leaving(view: View) -> None:
        if view.finished:
            seen.append((view.step, view.remaining))

    res = run(prob, theta0, Armijo(), stop=Stop(grad_tol=1e-8), observers=[leaving])
    steps, active = zip(*seen, strict=True)
    assert active[-1] == 0 and list(active) == sorted(active, reverse=True)
    assert len(set(active)) == len(active) and list(steps) == sorted(steps)
    # every row converged without a failed line search: one accepted step per iteration
    assert res.status.tolist() == [CONVERGED] * len(SMALL)
    assert list(steps) == sorted(set(res.steps.tolist()))


# -------------------------------------------------------- rows that own their data


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_batch_equals_rows_run_alone(act: str) -> None:
    seeds = [0, 1, 2, 3]
    stop = Stop(grad_tol=1e-8, loss_target=1e-14, max_steps=400)
    p = planted(4, 2, 2.0, 60, seeds, act)
    prob = OneHiddenRegression(p.X, p.y, p.v, act)
    theta0 = torch.cat([prob.init(1, generator=_gen(100 + s)) for s in seeds])
    res = run(prob, theta0, Armijo(), stop=stop)
    # rows leave the batch at different times (else compaction is not exercised), one
    # of them at the cap
    assert len(set(res.steps.tolist())) == 4 and MAX_STEPS in res.status.tolist()

    def own(r: int) -> OneHiddenRegression:
        q = planted(4, 2, 2.0, 60, [seeds[r]], act)
        return OneHiddenRegression(q.X, q.y, q.v, act)

    alone = run_alone(prob, theta0, Armijo(), stop, row_problem=own)
    # accept/reject decisions are discrete, so step counts and statuses must agree
    # exactly; the iterates are the same float64 operations per row except for the
    # batched matmul's kernel choice, rounding ~1e-16 per step that a few hundred
    # (locally contracting) steps cannot grow to 1e-10
    assert alone.steps.tolist() == res.steps.tolist()
    assert alone.status.tolist() == res.status.tolist()
    assert_close(alone.theta, res.theta, rtol=1e-10, atol=1e-10, what="batch vs rows alone")
    assert_close(alone.grad_norm, res.grad_norm, rtol=1e-8, atol=1e-12)


# ------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"max_backtracks": 0}, "max_backtracks must be >= 1"),
        ({"lr0": 0.0}, "need lr0 > 0 and grow >= 1"),
        ({"lr0": -1.0}, "need lr0 > 0 and grow >= 1"),
        ({"lr0": math.nan}, "need lr0 > 0 and grow >= 1"),
        ({"lr0": math.inf}, "need lr0 > 0 and grow >= 1"),
        ({"grow": 0.5}, "need lr0 > 0 and grow >= 1"),
        ({"grow": math.nan}, "need lr0 > 0 and grow >= 1"),
        ({"c1": 0.0}, "c1 must be in"),
        ({"c1": 1.0}, "c1 must be in"),
        ({"c1": math.nan}, "c1 must be in"),
    ],
)
def test_bad_arguments_raise(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=f"^{match}") as err:
        Armijo(**kw)
    assert str(err.value).endswith(".") and repr(next(iter(kw.values()))) in str(err.value)


@pytest.mark.parametrize(
    "kw",
    [{"grad_tol": -1.0}, {"grad_tol": math.nan}, {"grad_tol": math.inf}, {"max_steps": -1}],
)
def test_bad_stopping_rule_raises(kw: dict) -> None:
    with pytest.raises(ValueError, match=f"^{next(iter(kw))} must be"):
        Stop(**kw)
