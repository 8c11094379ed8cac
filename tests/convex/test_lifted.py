"""Lifted least squares of quadratic networks: recovery of a planted matrix, a lower bound
on (and for h >= d the value of) the network loss reached by Adam, the map back to
weights and its round trip, best rank-h truncation, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope.convex import LiftedSolution, lifted_least_squares, network_from_matrix
from landscope.critical import certify
from landscope.optim import Adam, Stop, newton_polish, run
from landscope.problems.quadratic import QuadraticNet, matrix_from_network

DT = torch.float64
SEEDS = [0, 1, 2]
# the loss values compared are differences of sums of m ~ 40 squared residuals computed
# from different parameterizations (M's entries vs W, a): 1e-10 relative
LOSS = {"rtol": 1e-10, "atol": 1e-14}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _planted(d: int, eigs: list[float], seed: int) -> np.ndarray:
    """U diag(eigs) U' for a random orthogonal U (d, d)."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((d, d)))
    A = U @ np.diag(eigs) @ U.T
    return (A + A.T) / 2


def _quad(X: np.ndarray, M: np.ndarray) -> np.ndarray:
    """x_i' M x_i for each row of X."""
    return np.einsum("md,de,me->m", X, M, X)


def _data(d: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(100 + seed)
    return rng.standard_normal((m, d)), rng.standard_normal(m)


# ------------------------------------------------------------------ planted
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("eigs", [[2.0, -1.0, 0.0, 0.0], [1.5, -1.0, 0.7, 0.3]])
def test_planted_matrix_is_recovered(eigs: list[float], seed: int) -> None:
    d = 4
    m = 30  # >= d (d + 1) / 2 = 10 generic samples: the lifted design has full rank
    A = _planted(d, eigs, seed)
    X = _data(d, m, seed)[0]
    sol = lifted_least_squares(X, _quad(X, A))
    assert isinstance(sol, LiftedSolution)
    assert sol.M.shape == (d, d) and sol.M.dtype == np.float64
    assert_close(sol.M, sol.M.T, rtol=0, atol=0, what="symmetry")
    # a least-squares solve with condition number ~10: 1e-10 absolute on entries O(1)
    assert_close(sol.M, A, rtol=0, atol=1e-10, what="M")
    assert 0 <= sol.loss <= 1e-20
    assert sol.unique is True
    assert sol.rank == int(np.sum(np.abs(eigs) > 0))


@pytest.mark.parametrize("seed", SEEDS)
def test_underdetermined_interpolates(seed: int) -> None:
    d, m = 4, 7  # fewer samples than the 10 lifted unknowns
    X, y = _data(d, m, seed)
    sol = lifted_least_squares(torch.as_tensor(X), torch.as_tensor(y))  # torch input too
    assert sol.unique is False
    assert_close(_quad(X, sol.M), y, rtol=0, atol=1e-12, what="fit")
    assert 0 <= sol.loss <= 1e-24


@pytest.mark.parametrize("seed", SEEDS)
def test_solution_satisfies_the_normal_equations(seed: int) -> None:
    d, m = 4, 40
    X, y = _data(d, m, seed)
    sol = lifted_least_squares(X, y)
    r = _quad(X, sol.M) - y
    assert_close(sol.loss, 0.5 * np.mean(r * r), what="loss")
    # the gradient of the convex objective in symmetric M: 1/m sum_i r_i x_i x_i' = 0
    G = np.einsum("m,md,me->de", r, X, X) / m
    assert_close(G, np.zeros((d, d)), rtol=0, atol=1e-13, what="dL/dM")
    assert sol.unique and sol.rank == d  # random y: full rank M
    ev = np.linalg.eigvalsh(sol.M)
    # and a perturbation of M in any symmetric direction does not lower the loss
    rng = np.random.default_rng(seed)
    for _ in range(5):
        E = rng.standard_normal((d, d))
        r2 = _quad(X, sol.M + 1e-3 * (E + E.T)) - y
        assert 0.5 * np.mean(r2 * r2) >= sol.loss
    assert np.all(np.abs(ev) > 1e-9 * np.abs(ev).max())


# ------------------------------------------------------------------ against the network
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("h", [2, 4, 5])
def test_lower_bound_on_network_loss(h: int, seed: int) -> None:
    d, m = 4, 40
    X, y = _data(d, m, seed)
    sol = lifted_least_squares(X, y)
    prob = QuadraticNet(torch.as_tensor(X), torch.as_tensor(y), h=h)
    start = prob.init(24, generator=_gen(seed))
    res = run(prob, start, Adam(0.02), stop=Stop(grad_tol=1e-10, max_steps=1000))
    assert res.status_names().count("diverged") == 0
    floor = sol.loss * (1 - 1e-12)  # rounding of two loss evaluations
    for theta in (start, res.theta, 3.0 * start):
        assert bool((prob.loss(theta) >= floor).all())
    if h < d:
        return
    # h >= d: every symmetric M is W' diag(a) W, so the lifted optimum is attained,
    # by the network read off its eigen-decomposition
    W, a = network_from_matrix(sol.M, h)
    assert W.shape == (h, d) and a.shape == (h,)
    theta = prob.join(W[None], a[None])
    assert_close(prob.loss(theta), torch.tensor([sol.loss], dtype=DT), **LOSS, what="loss")
    known = QuadraticNet(prob.X, prob.y, h=h, global_min=sol.loss)
    cert = certify(known, theta)
    assert cert.verdict.tolist() == ["global_min"] and cert.grad_norm[0] <= 1e-12
    # and Adam gets there too: the best of 24 runs ends within 1e-8 of the optimum
    assert float(prob.loss(res.theta).min()) <= sol.loss + 1e-8


@pytest.mark.parametrize(("d", "seed"), [(3, 7), (4, 1)])
def test_added_norm_runs_end_at_global_minima(d: int, seed: int) -> None:
    # Kazemipour et al. (2019): with the |x|^2 regressor and h >= d, stationary points
    # reached from random starts are global minima. Adam (400 steps) then Newton: every
    # row that reaches ||grad|| <= 1e-10 is certified global_min against the lifted
    # optimum, none saddle, spurious or degenerate. Some rows are still far after 400
    # steps (scanning data seeds 0..19 for d = 3, 4: at most 3 of 16), so not all.
    m = 40
    X, y = (torch.as_tensor(t) for t in _data(d, m, seed))
    sol = lifted_least_squares(X, y)
    prob = QuadraticNet(X, y, h=d, variant="added_norm", global_min=sol.loss)
    res = run(prob, prob.init(16, generator=_gen(seed)), Adam(0.02), stop=Stop(max_steps=400))
    pol = newton_polish(prob, res.theta)
    cert = certify(prob, pol.theta)
    counts = cert.counts()
    assert counts["global_min"] + counts["not_converged"] == 16
    assert counts["global_min"] >= 12
    # M + g I of every run certified at a critical point (||grad|| <= 1e-10) is the
    # lifted optimum, which is unique here (a global_min certified by its loss alone,
    # within gap_tol 1e-9 of the optimum, is only ~sqrt(gap / eig) from it)
    ok = torch.as_tensor((cert.verdict == "global_min") & (cert.grad_norm <= 1e-10))
    Mg = prob.matrix(pol.theta[ok])
    expected = torch.as_tensor(sol.M).expand(int(ok.sum()), d, d)
    assert_close(Mg, expected, rtol=0, atol=1e-9, what="M + g I")  # ||grad|| 1e-10 / eig


# ------------------------------------------------------------------ the map back
def _truncate(M: np.ndarray, h: int) -> np.ndarray:
    """Keep the h eigenvalues of M largest in magnitude."""
    lam, U = np.linalg.eigh(M)
    keep = np.argsort(-np.abs(lam))[:h]
    return (U[:, keep] * lam[keep]) @ U[:, keep].T


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    ("eigs", "h"),
    [
        ([1.5, -1.0, 0.7, 0.3], 4),
        ([1.5, -1.0, 0.7, 0.3], 6),
        ([2.0, -1.0, 0.0, 0.0], 2),
        ([2.0, -1.0, 0.0, 0.0], 3),
        ([2.0, -1.0, 0.0, 0.0], 4),
        ([2.0, -1.0, 0.0, 0.0], 7),
        ([0.0, 0.0, 0.0, 0.0], 2),
    ],
)
def test_round_trip_when_h_covers_the_rank(eigs: list[float], h: int, seed: int) -> None:
    d = 4
    M = _planted(d, eigs, seed)
    W, a = network_from_matrix(M, h)
    assert W.shape == (h, d) and a.shape == (h,) and W.dtype == a.dtype == DT
    assert bool((a.abs() == 1).all())
    assert_close(matrix_from_network(W, a), M, what="W' diag(a) W")
    # rows beyond d are zero with a = +1; the rows are orthogonal with |w_k|^2 = |l_k|
    assert bool((W[d:] == 0).all()) and bool((a[d:] == 1).all())
    gram = W @ W.T
    k = min(h, d)
    lam = np.sort(np.abs(eigs))[::-1][:k]
    assert_close(torch.diagonal(gram)[:k], lam.copy(), rtol=0, atol=1e-13, what="|w_k|^2")
    assert_close(gram - torch.diag(torch.diagonal(gram)), torch.zeros(h, h, dtype=DT))
    # zero eigenvalues of M are ~1e-16 after rounding: those rows have |w|^2 of that size
    # (|w| ~ 1e-8), not exactly 0


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("h", [1, 2, 3])
def test_best_rank_h_part_when_h_is_below_the_rank(h: int, seed: int) -> None:
    d = 4
    eigs = [1.5, -2.5, 0.7, -0.3]  # distinct magnitudes: the truncation is unique
    M = _planted(d, eigs, seed)
    W, a = network_from_matrix(torch.as_tensor(M), h)
    assert W.shape == (h, d) and a.shape == (h,)
    assert_close(matrix_from_network(W, a), _truncate(M, h), what="truncation")
    signs = np.sign(sorted(eigs, key=abs, reverse=True)[:h])
    assert_close(a, signs, what="a")
    # the Eckart-Young error: the dropped eigenvalues
    dropped = sorted(np.abs(eigs))[: d - h]
    err = np.linalg.norm(matrix_from_network(W, a).numpy() - M)
    assert_close(err, np.sqrt(np.sum(np.square(dropped))), what="Frobenius error")


# ------------------------------------------------------------------ input
X4, Y4 = _data(4, 12, 0)
X_NAN = X4.copy()
X_NAN[3, 2] = np.nan
Y_NAN = Y4.copy()
Y_NAN[0] = np.inf
LLS_BAD = [
    ((X4[0], Y4[:1]), "X has shape"),
    ((X4[None], Y4), "X has shape"),
    ((X4[:0], Y4[:0]), "X has shape"),
    ((X4, Y4[:-1]), "y has shape"),
    ((X4, Y4[:, None]), "y has shape"),
    ((X_NAN, Y4), "NaN or infinite"),
    ((X4, Y_NAN), "NaN or infinite"),
]


@pytest.mark.parametrize(("args", "msg"), LLS_BAD, ids=[str(i) for i in range(len(LLS_BAD))])
def test_lifted_bad_input(args: tuple, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        lifted_least_squares(*args)


M4 = _planted(4, [1.0, -1.0, 0.5, 0.0], 0)
M_NONSYM = M4.copy()
M_NONSYM[0, 1] += 1e-6
M_NAN = M4.copy()
M_NAN[1, 1] = np.nan
NFM_BAD = [
    ((M4, 0), "h must be an integer >= 1"),
    ((M4, -2), "h must be an integer >= 1"),
    ((M_NONSYM, 2), "finite symmetric"),
    ((M_NAN, 2), "finite symmetric"),
    ((M4[:3], 2), "expected a square"),
    ((M4[0], 2), "expected a square"),
    ((M4, 2.5), "h must be an integer"),
    ((M4, True), "h must be an integer"),
]


@pytest.mark.parametrize(("args", "msg"), NFM_BAD, ids=[str(i) for i in range(len(NFM_BAD))])
def test_network_from_matrix_bad_input(args: tuple, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        network_from_matrix(*args)
