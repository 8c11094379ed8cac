"""Newton polishing: GD endpoints to ||grad|| <= 1e-12 at global and spurious minima,
convergence to saddles, monotone gradient norms, untouched converged rows, chunking."""

from __future__ import annotations

import pytest
import torch

from _tolerances import assert_close
from landscope.optim import GD, RunResult, Stop, newton_polish, run
from landscope.problems import ReluTeacherStudent, init_from_seeds
from reference.critical_points import split_neuron_saddle
from reference.toy_problems import double_well

DT = torch.float64
POLISH_TOL = 1e-12


def _gd(prob: ReluTeacherStudent, seeds: list[int]) -> RunResult:
    stop = Stop(grad_tol=1e-7, max_steps=20_000)
    res = run(prob, init_from_seeds(prob, seeds), GD(0.5), stop=stop)
    assert res.status_names() == ["converged"] * len(seeds)
    return res


@pytest.mark.parametrize("k", [4, 5])
def test_polish_gd_endpoints_at_global_minima(k: int) -> None:
    prob = ReluTeacherStudent(k=k)
    gd = _gd(prob, list(range(5)))
    pol = newton_polish(prob, gd.theta, grad_tol=POLISH_TOL)
    R = gd.theta.shape[0]
    assert pol.theta.shape == gd.theta.shape and pol.grad_norm.shape == (R,)
    assert bool(pol.converged.all()) and bool((pol.grad_norm <= POLISH_TOL).all())
    assert_close(pol.grad_norm, prob.grad(pol.theta).norm(dim=1), what="reported grad norm")
    assert bool((pol.iters >= 1).all())
    # near a nondegenerate minimum the critical point lies within ||g|| / eig_min
    # (1e-7 / 0.09) of the GD endpoint
    assert float((pol.theta - gd.theta).norm(dim=1).max()) <= 1e-5
    dist = prob.distance_to_global(pol.theta)
    assert float(dist.max()) <= 1e-10  # these GD runs all found the teacher


def test_polish_spurious_minimum(relu8_spurious) -> None:
    prob, rows = relu8_spurious
    pol = newton_polish(prob, rows, grad_tol=POLISH_TOL)
    assert bool((pol.grad_norm <= POLISH_TOL).all())
    # still the same spurious minimum: loss changes by O(||g||^2 / eig) ~ 1e-13
    assert_close(prob.loss(pol.theta), prob.loss(rows), rtol=0, atol=1e-11, what="loss")
    assert bool((prob.loss(pol.theta) > 1e-6).all())
    assert float((pol.theta - rows).norm(dim=1).max()) <= 1e-4
    assert bool((prob.distance_to_global(pol.theta) > 0.1).all())


def test_polish_converges_to_a_known_saddle() -> None:
    prob = double_well()
    start = torch.tensor([[1e-2, 2e-2], [-3e-3, 1e-2], [0.1, 0.9], [0.05, -1.1]], dtype=DT)
    pol = newton_polish(prob, start)
    want = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.0, -1.0]], dtype=DT)
    # the exact critical points: the saddle at the origin, the minima at (0, +-1)
    assert_close(pol.theta, want, rtol=0, atol=1e-12, what="critical points")
    assert bool(pol.converged.all())


def test_polish_finds_relu_saddle_from_nearby_point() -> None:
    prob, saddle = split_neuron_saddle(k=2)
    assert float(prob.grad(saddle).norm()) <= 1e-12
    pert = 1e-4 * torch.randn(
        3, prob.n_params, generator=torch.Generator().manual_seed(0), dtype=DT
    )
    pol = newton_polish(prob, saddle + pert)
    assert bool(pol.converged.all())
    ev = torch.linalg.eigvalsh(prob.hessian(pol.theta))
    # still a saddle: the split direction has curvature ~ -0.6 (the endpoint may slide
    # along the flat family of splits (l w*, (1 - l) w*), a zero eigenvalue)
    assert bool((ev[:, 0] < -0.1).all()), ev[:, 0]


def test_gradient_norm_never_increases() -> None:
    # rows far from any critical point too: Newton and LM steps are taken only if they
    # lower ||grad||, so each iteration (max_steps = 1) is monotone
    prob = ReluTeacherStudent(k=4, n=5)
    theta = prob.init(6, generator=torch.Generator().manual_seed(3))
    gn = prob.grad(theta).norm(dim=1)
    for _ in range(6):
        pol = newton_polish(prob, theta, max_steps=1)
        assert bool((pol.grad_norm <= gn).all()), (pol.grad_norm, gn)
        unchanged = pol.iters == 0
        assert torch.equal(pol.theta[unchanged], theta[unchanged])
        theta, gn = pol.theta, pol.grad_norm


def test_rows_already_at_tol_are_untouched_and_chunking() -> None:
    prob = ReluTeacherStudent(k=4)
    gd = _gd(prob, list(range(4)))
    first = newton_polish(prob, gd.theta)
    assert bool(first.converged.all())
    done = first.theta
    theta = torch.cat([prob.teacher_point(), gd.theta[:2], done[2:], gd.theta[2:]])
    pol = newton_polish(prob, theta)
    assert pol.iters.tolist()[0] == 0 and pol.iters.tolist()[3:5] == [0, 0]
    assert torch.equal(pol.theta[[0, 3, 4]], theta[[0, 3, 4]])
    assert bool((pol.iters[[1, 2, 5, 6]] >= 1).all())
    chunked = newton_polish(prob, theta, chunk=2)
    assert_close(chunked.theta, pol.theta, what="chunk=2 theta")
    assert_close(chunked.grad_norm, pol.grad_norm, what="chunk=2 grad norm")
    assert torch.equal(chunked.iters, pol.iters) and torch.equal(chunked.converged, pol.converged)


def test_nan_row_does_not_stop_the_others() -> None:
    prob = ReluTeacherStudent(k=3)
    theta = prob.init(2, generator=torch.Generator().manual_seed(0))
    theta[1, 0] = float("nan")
    pol = newton_polish(prob, theta)
    assert not bool(pol.converged[1])


def test_the_solve_falls_back_when_torchs_batched_lu_fails(monkeypatch) -> None:
    # torch's batched LU on MKL has handed lu_solve invalid pivots (see newton._solve):
    # the rows are then solved one by one by numpy, singular rows flagged, and polishing
    # gives the same points as the batched solve
    prob = ReluTeacherStudent(k=4)
    gd = _gd(prob, list(range(4)))
    want = newton_polish(prob, gd.theta, grad_tol=POLISH_TOL)
    real = torch.linalg.solve_ex
    calls = []

    def broken(A, B, **kw):
        calls.append(A.shape[0])
        raise RuntimeError("Pivots given to lu_solve must all be greater or equal to 1.")

    monkeypatch.setattr(torch.linalg, "solve_ex", broken)
    got = newton_polish(prob, gd.theta, grad_tol=POLISH_TOL)
    assert calls and bool(got.converged.all())
    assert_close(got.theta, want.theta, rtol=0, atol=1e-12, what="fallback vs batched")
    from landscope.optim.newton import _solve

    A = torch.stack([torch.eye(3, dtype=DT), torch.zeros(3, 3, dtype=DT)])
    x, info = _solve(A, torch.ones(2, 3, 1, dtype=DT))
    assert info.tolist() == [0, 1] and torch.equal(x[0], torch.ones(3, 1, dtype=DT))
    monkeypatch.setattr(torch.linalg, "solve_ex", real)
    with pytest.raises(RuntimeError, match="other"):  # other errors are not swallowed
        monkeypatch.setattr(torch.linalg, "solve_ex", lambda *a, **k: (_ for _ in ()).throw(
            RuntimeError("some other failure")))  # fmt: skip
        _solve(A, torch.ones(2, 3, 1, dtype=DT))


# ------------------------------------------------------------- budget and progress
def test_stepwise_path_with_progress_gives_the_same_polish() -> None:
    """progress (and max_seconds) run one iteration at a time: same iterates as one run,
    and progress sees the finished rows grow to R."""
    prob = ReluTeacherStudent(k=4, n=5)
    theta = prob.init(5, generator=torch.Generator().manual_seed(7))
    theta = torch.cat([theta, torch.full_like(theta[:1], float("nan"))])
    plain = newton_polish(prob, theta, max_steps=6)
    calls: list[tuple[int, int, str]] = []
    step = newton_polish(prob, theta, max_steps=6, max_seconds=1e9,
                         progress=lambda d, t, s: calls.append((d, t, s)))  # fmt: skip
    assert_close(step.theta[:5], plain.theta[:5], what="theta")
    assert_close(step.grad_norm, plain.grad_norm, what="grad norm")
    assert torch.equal(step.iters, plain.iters)
    assert torch.equal(step.exhausted, plain.exhausted)
    assert [c[1] for c in calls] == [6] * len(calls) and calls[-1][0] == 6
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    assert calls[0][2].startswith("newton 1, ")
    # rows still improving after 6 iterations are the exhausted ones; the NaN row is not
    assert not bool(plain.exhausted[5])
    moving = (plain.iters == 6) & ~plain.converged
    assert torch.equal(plain.exhausted, moving)


def test_time_budget_stops_after_one_iteration_and_says_so() -> None:
    prob = ReluTeacherStudent(k=4, n=5)
    theta = prob.init(4, generator=torch.Generator().manual_seed(8))  # far from critical
    pol = newton_polish(prob, theta, max_steps=50, max_seconds=0)
    one = newton_polish(prob, theta, max_steps=1)
    assert bool((pol.iters <= 1).all())
    assert_close(pol.theta, one.theta, what="one iteration")
    assert torch.equal(pol.exhausted, (pol.iters == 1) & ~pol.converged)
    assert bool(pol.exhausted.any())
    # a converged polish exhausts nothing
    gd = _gd(ReluTeacherStudent(k=4), [0, 1])
    done = newton_polish(ReluTeacherStudent(k=4), gd.theta, max_seconds=60)
    assert bool(done.converged.all()) and not bool(done.exhausted.any())


@pytest.mark.parametrize("bad", [-1.0, float("nan"), "5", True])
def test_bad_max_seconds(bad: object) -> None:
    prob = ReluTeacherStudent(k=2)
    with pytest.raises(ValueError, match="max_seconds must be a number >= 0"):
        newton_polish(prob, prob.init(1), max_seconds=bad)


def test_run_result_statuses_attribute_matches_status_names() -> None:
    # converged, max_steps and diverged rows in one run
    prob = ReluTeacherStudent(k=2)
    theta = torch.cat([prob.teacher_point(), prob.init(1), torch.full((1, 4), float("nan"))])
    res = run(prob, theta.to(DT), GD(0.1), stop=Stop(grad_tol=1e-8, max_steps=3))
    assert res.statuses == ["converged", "max_steps", "diverged"]
    assert res.statuses == res.status_names()
