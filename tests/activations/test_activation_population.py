"""The population Hessian of one-hidden-layer regression at the truth, by activation name
(``landscope.activations.population``, on ``landscope.gaussian.population``): the ReLU
closed form against the quadrature path, pair moments against Monte Carlo, the assembled
Hessian against the empirical Hessian of a large sample, symmetry and semi-definiteness,
and Zhong et al.'s local strong convexity (eig_min >= rho) for orthonormal teachers."""

from __future__ import annotations

import importlib
import math
import warnings

import numpy as np
import pytest
import torch

import landscope
import landscope.activations as acts
import landscope.problems
from _tolerances import assert_close
from landscope.activations.population import (
    LocalConvexity,
    local_convexity,
    pair_moment,
    population_hessian,
)
from landscope.problems import OneHiddenRegression, planted

DT = torch.float64
SE_BOUND = 5.0  # two-sided normal tail 5.7e-7 per entry; a few hundred entries in all
# Closed form vs quadrature: the quadrature is exact for this integrand up to rounding
# (the angle is split at the kinks, leaving trigonometric polynomials of degree 2 on each
# piece, integrated exactly by 24-node Gauss-Legendre; the radial Gauss-Legendre on
# [0, 13] is exact to ~1e-16 for the smooth r^3 e^{-r^2/2} and the tail past 13 is
# ~e^{-84}). What is left is the rounding of ~7e5 weighted terms, ~sqrt(N) eps ~ 1e-13
# on entries of size <= 1: 1e-12 absolute.
QUAD = {"rtol": 0.0, "atol": 1e-12}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def quad_copies():
    """relu and leaky_relu:0.2 under other names: no closed form, so quadrature."""
    r, lk = acts.get("relu"), acts.get("leaky_relu:0.2")
    acts.register("relu_quad", r.phi, r.dphi, r.ddphi, kinks=(0.0,), piecewise_linear=True)
    acts.register("leaky_quad", lk.phi, lk.dphi, lk.ddphi, kinks=(0.0,), piecewise_linear=True)
    yield {"relu": "relu_quad", "leaky_relu:0.2": "leaky_quad"}
    acts.unregister("relu_quad")
    acts.unregister("leaky_quad")


def _pairs(d: int, seed: int) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    g = _gen(seed)
    a = torch.randn(d, generator=g, dtype=DT)
    b = 0.3 * torch.randn(d, generator=g, dtype=DT)
    out = [("random", a, b), ("parallel", a, 2.0 * a), ("antiparallel", a, -a), ("same", a, a)]
    if d >= 2:  # nearly parallel, and orthogonal
        e = torch.randn(d, generator=g, dtype=DT)
        out.append(("near-parallel", a, a + 1e-7 * e))
        out.append(("orthogonal", a, e - (e @ a) / (a @ a) * a))
    return out


# -------------------------------------------------------- closed form vs quadrature


@pytest.mark.parametrize("d", [1, 2, 5])
@pytest.mark.parametrize("act", ["relu", "leaky_relu:0.2"])
def test_closed_form_matches_quadrature(act: str, d: int, quad_copies) -> None:
    for what, a, b in _pairs(d, seed=d):
        closed = pair_moment(act, a, b)
        quad = pair_moment(quad_copies[act], a, b)
        assert closed.shape == (d, d)
        assert_close(closed, quad, **QUAD, what=f"{act} {what} d={d}")


def test_relu_closed_form_special_cases() -> None:
    """Parallel pairs: the half-space, E[1{a.x>0} x x'] = I / 2; antiparallel: 0."""
    a = torch.tensor([0.3, -1.2, 2.0], dtype=DT)
    eye = torch.eye(3, dtype=DT)
    assert_close(pair_moment("relu", a, 5 * a), 0.5 * eye, what="parallel")
    assert_close(pair_moment("relu", a, -a), 0 * eye, what="antiparallel")
    # orthogonal unit vectors e1, e2: the quarter plane. E[x1^2 1 1] = 1/4, E[x1 x2 1 1] =
    # E[x1 1{x1>0}]^2 = 1/(2 pi), E[x3^2 1 1] = 1/4 (x3 independent)
    e1, e2 = eye[0], eye[1]
    expected = torch.tensor(
        [[0.25, 1 / (2 * math.pi), 0], [1 / (2 * math.pi), 0.25, 0], [0, 0, 0.25]], dtype=DT
    )
    assert_close(pair_moment("relu", e1, e2), expected, what="quarter plane")


# ------------------------------------------------------------------- vs Monte Carlo


def _mc_mean_se(samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard error over the first axis."""
    n = samples.shape[0]
    return samples.mean(0), samples.std(0) / math.sqrt(n)


@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("act", ["tanh", "squared_relu", "softplus", "leaky_relu:0.2"])
def test_pair_moment_matches_monte_carlo(act: str, d: int) -> None:
    # 2e6 samples: relative standard errors ~1e-3, so a 5-se band is ~0.5 % of an entry,
    # far below any wrong constant, missing block or misplaced plane basis
    n = 2_000_000
    g = _gen(100 + d)
    a = torch.randn(d, generator=g, dtype=DT)
    b = 0.5 * torch.randn(d, generator=g, dtype=DT) + 0.5 * a
    x = torch.randn(n, d, generator=g, dtype=DT)
    dphi = acts.get(act).dphi
    w = dphi(x @ a) * dphi(x @ b)
    got = pair_moment(act, a, b)
    assert_close(got, got.T, what="symmetry")  # Q e Q': symmetric up to rounding
    for p in range(d):
        for q in range(p, d):
            mean, se = _mc_mean_se(w * x[:, p] * x[:, q])
            err = abs(float(got[p, q]) - float(mean))
            assert err <= SE_BOUND * float(se), (act, d, p, q, float(got[p, q]), float(mean))


# ----------------------------------------------- assembled Hessian vs empirical Hessian


@pytest.fixture
def jvp_ready() -> None:
    """OneHiddenRegression.hessian uses forward-mode AD; torch loads its decompositions
    through the deprecated torch.jit.script on first use, which pytest's warnings-as-errors
    turns into a failure (see test_one_hidden.py). Load them quietly first."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        importlib.import_module("torch._decomp.decompositions_for_jvp")


DPHI_REF = {  # written out independently of the registry
    "relu": lambda z: (z > 0).to(z.dtype),
    "tanh": lambda z: 1.0 / torch.cosh(z) ** 2,
}


@pytest.mark.parametrize(("act", "k"), [("relu", 2), ("relu", 3), ("tanh", 2), ("tanh", 3)])
def test_population_hessian_matches_large_sample(act: str, k: int, jvp_ready: None) -> None:
    d, n = 4, 100_000
    p = planted(d, k, 2.0, n, [11], act)
    assert {-1.0, 1.0} <= set(p.v[0].tolist())  # both signs: v_i v_j < 0 blocks are tested
    prob = OneHiddenRegression(p.X, p.y, p.v, act)
    H_emp = prob.hessian(p.W.flatten(1))[0]
    # at W = W* the residuals vanish, so the Hessian is the Gauss-Newton matrix J'J / n,
    # J's row s the gradient of the network output: v_i phi'(w_i . x_s) x_s per block
    X, W, v = p.X[0], p.W[0], p.v[0]
    J = (v * DPHI_REF[act](X @ W.T))[:, :, None] * X[:, None, :]  # (n, k, d)
    J = J.reshape(n, k * d)
    gn = J.T @ J / n
    # sums of 1e5 O(1) products in another order (and a residual term of rounding size):
    # worst case n eps ~ 2e-11 per entry
    assert_close(H_emp, gn, rtol=1e-10, atol=1e-10, what="empirical Hessian vs J'J/n")
    # per-entry standard error of the mean of the outer products J_s J_s'
    second = (J * J).T @ (J * J) / n
    se = torch.sqrt((second - gn * gn).clamp(min=0) / (n - 1))
    H = population_hessian(W, v, act)
    assert H.shape == (k * d, k * d)
    z = (H - H_emp).abs() / se
    assert float(z.max()) <= SE_BOUND, f"max {float(z.max()):.2f} standard errors"
    # and the comparison has teeth: the off-diagonal blocks are not negligible
    assert float(H[:d, d:].abs().max()) > 20 * float(se.max())


@pytest.mark.parametrize(
    "act",
    [
        "relu",
        "leaky_relu",
        "squared_relu",
        "tanh",
        "sigmoid",
        "erf",
        "erf_sqrt2",
        "erf_zhong",
        "softplus",
        "gelu",
    ],
)
def test_population_hessian_symmetric_psd(act: str) -> None:
    g = _gen(3)
    W = torch.randn(3, 4, generator=g, dtype=DT)
    v = torch.tensor([1.0, -0.5, 2.0], dtype=DT)
    H = population_hessian(W, v, act)
    # block (j, i) is stored as the transpose of block (i, j); the diagonal blocks come from
    # Q e Q' products, symmetric up to rounding
    assert_close(H, H.T, what="symmetry")
    # E[J J'] is a Gram matrix: eigenvalues >= 0 up to rounding of entries of size ~1
    assert float(torch.linalg.eigvalsh(H)[0]) >= -1e-12
    # block structure: v_i v_j E[phi'(w_i.x) phi'(w_j.x) x x']
    assert_close(H[4:8, 8:12], -1.0 * pair_moment(act, W[1], W[2]), what="block (1, 2)")


def test_population_hessian_rejects_bad_input() -> None:
    W = torch.randn(2, 3, generator=_gen(0), dtype=DT)
    with pytest.raises(ValueError, match="need W"):
        population_hessian(W, torch.ones(3, dtype=DT))
    with pytest.raises(ValueError, match="need W"):
        population_hessian(W[0], torch.ones(1, dtype=DT))
    W[1] = 0.0
    with pytest.raises(ValueError, match="nonzero"):
        population_hessian(W, torch.ones(2, dtype=DT))


# ------------------------------------------------------------ local strong convexity


def _orthonormal_teacher(d: int, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = _gen(seed)
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=DT))
    v = torch.randint(0, 2, (k,), generator=g).to(DT) * 2 - 1
    v[0], v[-1] = 1.0, -1.0  # both signs present
    return Q[:k], v


CONFIGS = [(3, 2, 0), (4, 3, 1), (3, 3, 2)]


@pytest.mark.parametrize(
    "act",
    ["relu", "leaky_relu", "squared_relu", "tanh", "sigmoid", "erf", "erf_zhong", "softplus"],
)
def test_orthonormal_teacher_is_locally_strongly_convex(act: str) -> None:
    rho1 = acts.rho(act, 1.0)
    assert rho1 > 0
    for d, k, seed in CONFIGS:
        W, v = _orthonormal_teacher(d, k, seed)
        lc = local_convexity(W, v, act)
        # sigma_1 = sigma_k = 1: kappa = lambda = 1 up to the QR's rounding
        assert abs(lc.kappa - 1) < 1e-12 and abs(lc.lam - 1) < 1e-12
        # rho at sigma_k = 1 up to the QR's rounding (~1e-15): equal to ~1e-14 relative
        assert abs(lc.rho - rho1) <= 1e-12 * rho1
        assert abs(lc.bound - rho1) <= 1e-12 * rho1
        # Zhong et al. (2017), local strong convexity at the truth: for orthonormal W* the
        # smallest eigenvalue is >= rho(1) (the bound with constant 1 at kappa = lambda = 1)
        # (equality for relu, sigmoid, softplus, up to ~1e-12 relative rounding of the
        # quadrature: the margin 1e-9 is relative to that)
        assert lc.eig_min >= rho1 * (1 - 1e-9), (d, k, lc.eig_min, rho1)
        ev = torch.linalg.eigvalsh(population_hessian(W, v, act))
        assert lc.eig_min == float(ev[0]) and lc.eig_max == float(ev[-1])
        assert math.isfinite(lc.ratio) and lc.ratio >= 1 - 1e-9
        if act == "relu":  # known to be tight: rho(1) = 1/4 - 1/(2 pi) is attained
            assert abs(lc.eig_min - rho1) < 1e-10
            assert abs(rho1 - (0.25 - 1 / (2 * math.pi))) < 1e-14


@pytest.mark.parametrize("act", ["linear", "quadratic"])
def test_linear_and_quadratic_have_a_singular_hessian(act: str) -> None:
    """Property P2 fails: for k >= 2 the truth sits in a flat valley (linear: only
    sum_i v_i w_i matters; quadratic: rotations/boosts of neuron pairs keep the output)."""
    for d, k, seed in CONFIGS:
        W, v = _orthonormal_teacher(d, k, seed)
        lc = local_convexity(W, v, act)
        # eigenvalues of an O(1) matrix, the smallest zero up to rounding
        assert abs(lc.eig_min) < 1e-10, (d, k, lc.eig_min)
        assert lc.eig_max > 0.5


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid"])
def test_ill_conditioned_teacher(act: str) -> None:
    p = planted(5, 3, 2.0, 1, [4], act)
    W, v = p.W[0], p.v[0]
    lc = local_convexity(W, v, act)
    # singular values 1, 0.75, 0.5 (planted's construction, rounding ~1e-15)
    assert abs(lc.kappa - 2.0) < 1e-12
    assert abs(lc.lam - 2.0 * 1.5 * 1.0) < 1e-12
    expected_bound = acts.rho(act, 0.5) / (4.0 * 3.0)  # v_min^2 = 1 for signs +-1
    assert abs(lc.bound - expected_bound) <= 1e-10 * expected_bound
    assert lc.eig_min > 0 and lc.eig_max >= lc.eig_min
    assert math.isfinite(lc.ratio) and lc.ratio > 0
    assert lc.ratio == lc.eig_min / lc.bound
    assert np.isclose(lc.eig_min, float(torch.linalg.eigvalsh(population_hessian(W, v, act))[0]))


def test_public_names_are_reexported_where_they_were() -> None:
    """Moved out of problems/: the old public paths still give the same objects."""
    for mod in (landscope, landscope.problems, acts):
        assert mod.local_convexity is local_convexity
        assert mod.population_hessian is population_hessian
        assert mod.LocalConvexity is LocalConvexity
        assert "local_convexity" in mod.__all__ and "population_hessian" in mod.__all__
    assert landscope.gaussian.LocalConvexity is LocalConvexity
