"""Quadratic-activation networks: the population closed form against Monte Carlo, the
sample and population losses, gradients, Hessians and HVPs against autograd of a slow
reference written from f(x) = sum_j a_j (w_j.x)^2 + g |x|^2, the orthogonality penalty,
invariances, a constructed strict saddle, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope.convex import lifted_least_squares
from landscope.critical import certify
from landscope.optim import newton_polish
from landscope.problems import Problem
from landscope.problems.quadratic import (
    TARGETS,
    VARIANTS,
    QuadraticNet,
    QuadraticPopulation,
    matrix_from_network,
    quadratic_data,
)
from reference.quadratic_reference import (
    QuadraticReference,
    network_output,
    orthogonality_penalty,
    slow_sample_loss,
)

DT = torch.float64
SEEDS = [0, 1, 2]
# 200k samples: the integrand is a degree-8 polynomial in x, so its relative standard
# error is ~1 %, and the 5-se band ~5 % of the loss: a wrong constant in the closed form
# (E|x|^4 = d(d+2), the 2 in tr A tr B + 2 tr AB) shifts it by far more.
M_MC = 200_000
SE_BOUND = 5.0  # two-sided normal tail 5.7e-7 per check; 18 checks in all
# (variant, h, d): h < d, h = d and h > d, so both branches of the orthogonal penalty;
# d = 4, 5 so that no layout mix-up hides behind h = d = 3
CASES = [
    ("regular", 2, 3),
    ("regular", 4, 3),
    ("added_norm", 2, 3),
    ("added_norm", 3, 3),
    ("orthogonal", 2, 3),
    ("orthogonal", 3, 3),
    ("orthogonal", 5, 3),
    ("regular", 2, 5),
    ("added_norm", 5, 4),
]
IDS = [f"{v}-h{h}-d{d}" for v, h, d in CASES]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _sym(d: int, seed: int) -> torch.Tensor:
    """A random symmetric (d, d) matrix with entries of order 1, of both signs."""
    B = torch.randn(d, d, generator=_gen(1000 + seed), dtype=DT)
    return (B + B.T) / 2


def _rows(prob, R: int, seed: int) -> torch.Tensor:
    """prob.init rows, with g ~ N(0, 1/4) for added_norm (init sets g = 0)."""
    theta = prob.init(R, generator=_gen(seed))
    if prob.variant == "added_norm":
        W, a, _ = prob.split(theta)
        g = 0.5 * torch.randn(R, generator=_gen(seed + 500), dtype=DT)
        theta = prob.join(W, a, g)
    assert theta.shape == (R, prob.n_params)
    return theta


def _samples(d: int, m: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = _gen(2000 + seed)
    X = torch.randn(m, d, generator=gen, dtype=DT)
    y = torch.randn(m, generator=gen, dtype=DT)
    return X, y


def _net(variant: str, h: int, d: int, seed: int = 0, penalty: float = 0.7) -> QuadraticNet:
    X, y = _samples(d, 12, seed)
    return QuadraticNet(X, y, h=h, variant=variant, penalty=penalty)


def _pop(variant: str, h: int, d: int, seed: int = 0, penalty: float = 0.7):
    return QuadraticPopulation(_sym(d, seed), h=h, variant=variant, penalty=penalty)


def _reference(prob) -> QuadraticReference:
    if isinstance(prob, QuadraticPopulation):
        return QuadraticReference(prob.h, prob.d, prob.variant, prob.penalty, A=prob.A)
    return QuadraticReference(prob.h, prob.d, prob.variant, prob.penalty, X=prob.X, y=prob.y)


def _make(kind: str, variant: str, h: int, d: int, seed: int = 0, penalty: float = 0.7):
    make = _pop if kind == "population" else _net
    return make(variant, h, d, seed, penalty)


# ------------------------------------------------------------------ Monte Carlo
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_population_matches_monte_carlo(variant: str, seed: int) -> None:
    d, h = 3, 2
    prob = _pop(variant, h, d, seed)
    theta = _rows(prob, 2, seed)
    closed = prob.loss(theta)
    assert closed.shape == (2,)
    X = torch.randn(M_MC, d, generator=_gen(3000 + seed), dtype=DT)
    y = torch.einsum("md,de,me->m", X, prob.A, X)
    net = QuadraticNet(X, y, h=h, variant=variant, penalty=prob.penalty)
    for r, (W, a, g) in enumerate(zip(*prob.split(theta), strict=True)):
        per = 0.5 * (network_output(W, a, g, X) - y) ** 2
        pen = prob.penalty * orthogonality_penalty(W) if variant == "orthogonal" else 0.0
        mean, se = float(per.mean() + pen), float(per.std() / math.sqrt(M_MC))
        gap = abs(float(closed[r]) - mean)
        assert gap <= SE_BOUND * se, f"row {r}: |closed - MC| = {gap:.3g} > 5 se = {5 * se:.3g}"
        assert se < 0.05 * mean  # the band is tight enough to mean something
        # the sample loss on the same draws is the same average; summing 2e5 terms in
        # another order costs ~1e-13 relative, hence 1e-10
        assert_close(net.loss(theta[r : r + 1]), torch.tensor([mean], dtype=DT), rtol=1e-10)


# ------------------------------------------------------------------ against the reference
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_sample_loss_matches_slow_loop(case: tuple[str, int, int]) -> None:
    variant, h, d = case
    prob = _net(variant, h, d, seed=h)
    theta = _rows(prob, 3, seed=h + d)
    slow = [
        slow_sample_loss(W, a, g, prob.X, prob.y, variant=variant, penalty=prob.penalty)
        for W, a, g in zip(*prob.split(theta), strict=True)
    ]
    loss = prob.loss(theta)
    assert loss.shape == (3,)
    assert_close(loss, torch.tensor(slow, dtype=DT), what="loss")
    # least squares: the data residuals (then the penalty's, orthogonal variant) with
    # loss = |r|^2 / 2 (the Residuals capability; its Jacobian is checked in
    # test_conformance)
    r = prob.residuals(theta)
    m, c = prob.X.shape[0], min(h, d)
    assert r.shape == (3, m + (c * c if variant == "orthogonal" else 0))
    assert_close(0.5 * r.square().sum(1), loss, what="|r|^2 / 2")


@pytest.mark.parametrize("kind", ["sample", "population"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_derivatives_match_autograd(kind: str, case: tuple[str, int, int]) -> None:
    variant, h, d = case
    prob = _make(kind, variant, h, d, seed=d + h)
    assert isinstance(prob, Problem)
    R, P = 6, prob.n_params  # R differs from h and d, so no broadcast can pass for a match
    assert P == h * d + h + (variant == "added_norm")
    theta = _rows(prob, R, seed=7 * h)
    ref = _reference(prob)
    loss, grad = prob.loss_and_grad(theta)
    assert loss.shape == (R,) and grad.shape == (R, P)
    ref_loss = torch.stack([ref.loss(t) for t in theta])
    ref_grad = torch.stack([ref.grad(t) for t in theta])
    ref_hess = torch.stack([ref.hessian(t) for t in theta])
    assert_close(loss, ref_loss, what="loss")
    assert_close(prob.loss(theta), ref_loss, what="loss()")
    assert_close(grad, ref_grad, what="grad")
    assert_close(prob.grad(theta), grad, what="grad() vs loss_and_grad")
    H = prob.hessian(theta)
    assert H.shape == (R, P, P)
    assert_close(H, H.transpose(1, 2), what="Hessian symmetry")
    assert_close(H, ref_hess, what="Hessian")
    # one row at a time gives the same Hessians as the batch
    single = torch.cat([prob.hessian(theta[r : r + 1]) for r in range(R)])
    assert_close(single, H, what="Hessian one row at a time")
    v = torch.randn(R, P, generator=_gen(h), dtype=DT)
    hv = prob.hvp(theta, v)
    assert hv.shape == (R, P)
    assert_close(hv, torch.einsum("rpq,rq->rp", ref_hess, v), what="hvp")


# ------------------------------------------------------------------ the penalty
def _orthonormal(h: int, d: int, seed: int) -> torch.Tensor:
    """W (h, d) with orthonormal rows (h <= d) or orthonormal columns (h > d)."""
    n = max(h, d)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=_gen(seed), dtype=DT))
    W = Q[:h, :d] if h <= d else Q[:, :d]
    gram = W @ W.T if h <= d else W.T @ W
    assert_close(gram, torch.eye(min(h, d), dtype=DT), what="construction")
    return W


@pytest.mark.parametrize("kind", ["sample", "population"])
@pytest.mark.parametrize("h", [1, 2, 3, 5])
def test_penalty_vanishes_at_orthonormal_weights(kind: str, h: int) -> None:
    d = 3
    orth, reg = _make(kind, "orthogonal", h, d), _make(kind, "regular", h, d)
    W = torch.stack([_orthonormal(h, d, s) for s in range(3)])
    a = torch.randn(3, h, generator=_gen(h), dtype=DT)
    theta = orth.join(W, a)
    lo, go = orth.loss_and_grad(theta)
    lr, gr = reg.loss_and_grad(theta)
    # the penalty and its gradient are zero, so the two variants agree there
    assert_close(lo, lr, what="loss")
    assert_close(go, gr, what="grad")


@pytest.mark.parametrize("kind", ["sample", "population"])
@pytest.mark.parametrize("h", [2, 3, 5])
def test_penalty_value_and_gradient(kind: str, h: int) -> None:
    d = 3
    orth, reg = _make(kind, "orthogonal", h, d), _make(kind, "regular", h, d)
    theta = _rows(orth, 3, seed=h)
    W = orth.split(theta)[0]
    lo, go = orth.loss_and_grad(theta)
    lr, gr = reg.loss_and_grad(theta)
    pen = torch.stack([orth.penalty * orthogonality_penalty(w) for w in W])
    pen_grad = torch.stack(
        [torch.func.grad(lambda w: orth.penalty * orthogonality_penalty(w))(w) for w in W]
    )
    assert bool((pen > 0.1).all())  # random rows are far from orthonormal
    assert_close(lo - lr, pen, what="penalty")
    assert_close((go - gr)[:, : h * d], pen_grad.reshape(3, -1), what="penalty grad")
    assert_close((go - gr)[:, h * d :], torch.zeros(3, h, dtype=DT), what="d penalty / da")
    # penalty = 0 turns the orthogonal variant into the regular one
    zero = _make(kind, "orthogonal", h, d, penalty=0.0)  # same data as orth
    assert_close(zero.loss(theta), lr, what="penalty 0")


# ------------------------------------------------------------------ invariances
@pytest.mark.parametrize("kind", ["sample", "population"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_loss_invariant_under_unit_permutation(kind: str, variant: str) -> None:
    h, d = 4, 3
    prob = _make(kind, variant, h, d)
    theta = _rows(prob, 3, seed=11)
    W, a, g = prob.split(theta)
    perm = torch.tensor([2, 0, 3, 1])
    permuted = prob.join(W[:, perm], a[:, perm], g)
    assert_close(prob.loss(permuted), prob.loss(theta), what="loss")
    # the gradient permutes with the units
    gW, ga, gg = prob.split(prob.grad(theta))
    pW, pa, pg = prob.split(prob.grad(permuted))
    assert_close(pW, gW[:, perm], what="dL/dW")
    assert_close(pa, ga[:, perm], what="dL/da")
    assert_close(pg, gg, what="dL/dg")


@pytest.mark.parametrize("kind", ["sample", "population"])
@pytest.mark.parametrize("variant", ["regular", "added_norm"])
def test_loss_invariant_under_unit_rescaling(kind: str, variant: str) -> None:
    h, d = 3, 3
    prob = _make(kind, variant, h, d)
    theta = _rows(prob, 3, seed=12)
    W, a, g = prob.split(theta)
    c = torch.tensor([0.5, -2.0, 3.0], dtype=DT)  # one c per unit; c < 0 included
    scaled = prob.join(W * c[:, None], a / c**2, g)
    assert_close(prob.loss(scaled), prob.loss(theta), what="loss")
    assert_close(prob.matrix(scaled), prob.matrix(theta), what="matrix")
    if variant == "regular":  # same layout: the penalty is not scale invariant
        orth = _make(kind, "orthogonal", h, d)
        assert bool((orth.loss(scaled) - orth.loss(theta)).abs().min() > 0.1)


@pytest.mark.parametrize("kind", ["sample", "population"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_matrix_is_sum_of_unit_outer_products(kind: str, variant: str) -> None:
    h, d = 4, 3
    prob = _make(kind, variant, h, d)
    theta = _rows(prob, 3, seed=13)
    W, a, g = (t.numpy() for t in prob.split(theta))
    expected = np.stack(
        [
            sum(a[r, j] * np.outer(W[r, j], W[r, j]) for j in range(h)) + g[r] * np.eye(d)
            for r in range(3)
        ]
    )
    Mg = prob.matrix(theta)
    assert Mg.shape == (3, d, d)
    assert_close(Mg, expected, what="matrix")
    M = matrix_from_network(torch.as_tensor(W), torch.as_tensor(a))
    assert M.shape == (3, d, d)
    assert_close(M, expected - g[:, None, None] * np.eye(d), what="matrix_from_network")
    assert_close(matrix_from_network(torch.as_tensor(W[0]), torch.as_tensor(a[0])), M[0])
    # f(x) = x' (M + g I) x on the samples
    if kind == "sample":
        X = prob.X
        f = torch.einsum("md,rde,me->rm", X, Mg, X)
        m = X.shape[0]
        assert_close(prob.residuals(theta)[:, :m] * math.sqrt(m), f - prob.y, what="residuals")


@pytest.mark.parametrize("variant", VARIANTS)
def test_zero_loss_and_gradient_at_a_representation_of_A(variant: str) -> None:
    # A of rank 2 in d = 3, h = 3: W' diag(a) W = A with orthonormal rows of W (the
    # eigenvectors) and a = the eigenvalues, so every variant represents A exactly
    d = 3
    U, _ = torch.linalg.qr(torch.randn(d, d, generator=_gen(5), dtype=DT))
    lam = torch.tensor([1.5, -0.8, 0.0], dtype=DT)
    A = U @ torch.diag(lam) @ U.T
    A = (A + A.T) / 2
    prob = QuadraticPopulation(A, h=3, variant=variant)
    assert prob.global_min == 0.0
    theta = prob.join(U.T[None], lam[None])
    loss, grad = prob.loss_and_grad(theta)
    assert abs(float(loss[0])) <= 1e-14 and float(grad.norm()) <= 1e-13
    assert certify(prob, theta).verdict.tolist() == ["global_min"]


@pytest.mark.parametrize(("h", "rank"), [(4, 3), (2, 2)])
def test_orthogonal_global_min_known_whenever_representable(h: int, rank: int) -> None:
    d = 3
    U, _ = torch.linalg.qr(torch.randn(d, d, generator=_gen(6), dtype=DT))
    lam = torch.tensor([1.5, -0.8, 0.6][:rank] + [0.0] * (d - rank), dtype=DT)
    A = U @ torch.diag(lam) @ U.T
    prob = QuadraticPopulation((A + A.T) / 2, h=h, variant="orthogonal")
    W = torch.zeros(1, h, d, dtype=DT)
    a = torch.zeros(1, h, dtype=DT)
    k = min(h, d)
    W[0, :k], a[0, :k] = U.T[:k], lam[:k]  # orthonormal rows (h <= d) / columns (h > d)
    theta = prob.join(W, a)
    assert abs(float(prob.loss(theta)[0])) <= 1e-14  # a global minimizer, penalty 0
    assert prob.global_min == 0.0


# ------------------------------------------------------------------ a strict saddle
def _zero_matrix_saddle(G: torch.Tensor) -> torch.Tensor:
    """u with u'G u = 0 and G u != 0, from G's extreme eigenpairs (G indefinite)."""
    mu, V = torch.linalg.eigh(G)
    assert mu[0] < -0.1 and mu[-1] > 0.1, "G must be indefinite"
    u = math.sqrt(mu[-1]) * V[:, 0] + math.sqrt(-mu[0]) * V[:, -1]
    assert abs(float(u @ G @ u)) <= 1e-13 and float((G @ u).norm()) > 0.1
    return u


def test_constructed_strict_saddle_population() -> None:
    """A strict saddle at M = 0, built by hand.

    Let G = dL/dM at M = 0: G = tr(D) I + 2 D with D = -A, i.e. -tr(A) I - 2 A, which is
    indefinite for A = diag(1, -1, 1/2) rotated (eigenvalues -2.5, -1.5, 1.5). Put one
    unit at (w_1, a_1) = (u, 0) with u'G u = 0 (mixing G's extreme eigenvectors), the
    others at zero. Then M = 0 and the gradient vanishes: dL/da_1 = u'G u = 0, every
    dL/dw_j = 2 a_j G w_j = 0, and dL/da_j = w_j'G w_j = 0 for the zero units. Along
    (delta w_1, delta a_1) the loss is 2 delta a_1 (u'G delta w_1) + c/2 delta a_1^2 + ...
    with c = d^2L/dM^2 [uu', uu'] = (tr uu')^2 + 2 tr (uu')^2 = 3 |u|^4, so that block of
    the Hessian is [[0, b], [b', c]] with b = 2 G u != 0: eigenvalues
    c/2 +- sqrt(c^2/4 + |b|^2), one of them negative. All other second derivatives vanish
    (M is cubic in the parameters of units with w = 0 or a = 0 elsewhere), so for h = 1
    the spectrum is exactly {c/2 - s, 0 (d - 1 times), c/2 + s}, s = sqrt(c^2/4 + |b|^2).
    """
    d = 3
    U, _ = torch.linalg.qr(torch.randn(d, d, generator=_gen(8), dtype=DT))
    A = U @ torch.diag(torch.tensor([1.0, -1.0, 0.5], dtype=DT)) @ U.T
    A = (A + A.T) / 2
    G = -torch.trace(A) * torch.eye(d, dtype=DT) - 2 * A
    u = _zero_matrix_saddle(G)
    c, b = 3 * float(u @ u) ** 2, 2 * G @ u
    s = math.sqrt(c * c / 4 + float(b @ b))
    for h in (1, 3):
        prob = QuadraticPopulation(A, h=h)
        assert prob.global_min == (0.0 if h == 3 else None)
        W = torch.zeros(1, h, d, dtype=DT)
        W[0, 0] = u
        theta = prob.join(W, torch.zeros(1, h, dtype=DT))
        cert = certify(prob, theta)
        assert cert.verdict.tolist() == ["saddle"]
        assert cert.grad_norm[0] <= 1e-13 and cert.n_neg[0] == 1
        # the loss at M = 0: 1/2 ((tr A)^2 + 2 tr A^2) = 1/2 (1/4 + 2 * 9/4) = 2.375
        assert_close(cert.loss, np.array([2.375]), what="loss")
        assert_close(cert.eig_min, np.array([c / 2 - s]), what="eig_min")
        assert_close(cert.eig_max, np.array([c / 2 + s]), what="eig_max")
        assert cert.n_zero[0] == prob.n_params - 2
    # perturbed by 1e-4 and Newton-polished, the rows land on nearby critical points of
    # the same family (M = 0), still saddles
    pert = 1e-4 * torch.randn(2, prob.n_params, generator=_gen(9), dtype=DT)
    pol = newton_polish(prob, theta + pert)
    assert bool(pol.converged.all())
    cert = certify(prob, pol.theta)
    assert cert.verdict.tolist() == ["saddle"] * 2
    assert bool((cert.grad_norm <= 1e-10).all()) and bool((cert.n_neg >= 1).all())


def test_added_norm_zero_network_is_degenerate_and_a_unit_makes_it_a_saddle() -> None:
    """added_norm at W = 0, a = 0, g = g*, and the same with one unit (u, 0).

    With W = 0 and a = 0, dL/dg = tr G = (d + 2) tr D with D = g I - A, zero at
    g* = tr(A) / d (not tr(A) / (d + 2)): the best multiple of |x|^2. That point is
    critical but degenerate: M is cubic in (W, a), so their Hessian block is zero and only
    d^2L/dg^2 = d (d + 2) = 15 is not. At g*, G = 2 (g* I - A) is traceless, hence
    indefinite for A != cI, and a unit (u, 0) with u'G u = 0 gives a strict saddle as in
    ``test_constructed_strict_saddle_population``.
    """
    d, h = 3, 2
    A = _sym(d, 3)
    prob = QuadraticPopulation(A, h=h, variant="added_norm")
    g_star = float(torch.trace(A)) / d
    W, a = torch.zeros(1, h, d, dtype=DT), torch.zeros(1, h, dtype=DT)
    cert = certify(prob, prob.join(W, a, torch.tensor([g_star], dtype=DT)))
    assert cert.verdict.tolist() == ["degenerate"]
    assert cert.grad_norm[0] <= 1e-14 and cert.n_zero[0] == prob.n_params - 1
    assert_close(cert.eig_max, np.array([d * (d + 2.0)]), what="d2L/dg2")
    off = certify(prob, prob.join(W, a, torch.tensor([float(torch.trace(A)) / (d + 2)])))
    assert off.verdict.tolist() == ["not_converged"]
    G = 2 * (g_star * torch.eye(d, dtype=DT) - A)
    W[0, 0] = _zero_matrix_saddle(G)
    cert = certify(prob, prob.join(W, a, torch.tensor([g_star], dtype=DT)))
    assert cert.verdict.tolist() == ["saddle"]
    assert cert.grad_norm[0] <= 1e-13 and cert.n_neg[0] >= 1 and cert.eig_min[0] < -0.1


def test_constructed_strict_saddle_sample() -> None:
    # the same construction on samples: G = dL/dM at M = 0 is -1/m sum_i y_i x_i x_i',
    # indefinite for y = x'B x + noise with B of both signs; h = d, so QuadraticNet's
    # global value is the lifted least-squares optimum, and the saddle's loss
    # 1/(2m) sum y_i^2 is above it
    from landscope.convex import lifted_least_squares

    d = 3
    # m = 200: G's extreme eigenvalues are then near -2 and 2 (over 200 data seeds both
    # stayed beyond +-0.79), and G is indefinite for any seed
    X, noise = _samples(d, 200, seed=4)
    B = torch.diag(torch.tensor([1.0, -1.0, 0.0], dtype=DT))
    y = torch.einsum("md,de,me->m", X, B, X) + 0.3 * noise
    sol = lifted_least_squares(X, y)
    prob = QuadraticNet(X, y, h=d, global_min=sol.loss)
    G = -torch.einsum("m,md,me->de", y, X, X) / X.shape[0]
    W = torch.zeros(1, d, d, dtype=DT)
    W[0, 0] = _zero_matrix_saddle(G)
    cert = certify(prob, prob.join(W, torch.zeros(1, d, dtype=DT)))
    assert cert.verdict.tolist() == ["saddle"]
    assert cert.grad_norm[0] <= 1e-13 and cert.n_neg[0] == 1
    assert_close(cert.loss, np.array([0.5 * float((y * y).mean())]), what="loss")
    assert cert.loss[0] > sol.loss + 0.1


# ------------------------------------------------------------------ input
def test_init_layout_and_as_batch() -> None:
    prob = _pop("added_norm", 2, 3)
    theta = prob.init(4, generator=_gen(0))
    assert theta.shape == (4, 9) and theta.dtype == DT
    assert bool((prob.split(theta)[2] == 0).all())  # g starts at 0
    assert prob.as_batch(theta[0].numpy()).shape == (1, 9)
    W, a, g = prob.split(theta)
    assert W.shape == (4, 2, 3) and a.shape == (4, 2) and g.shape == (4,)
    assert torch.equal(prob.join(W, a, g), theta)
    with pytest.raises(ValueError, match="theta has shape"):
        prob.as_batch(torch.zeros(4, 8))


X3, Y3 = _samples(3, 10, seed=0)
X_NAN = X3.clone()
X_NAN[2, 1] = float("nan")
NET_BAD = [
    ({"h": 0}, "h must be a positive integer"),
    ({"h": -1}, "h must be a positive integer"),
    ({"h": 2.0}, "h must be a positive integer"),
    ({"variant": "relu"}, "unknown variant"),
    ({"penalty": -0.1}, "penalty must be a finite number >= 0"),
    ({"penalty": float("nan")}, "penalty must be a finite number >= 0"),
    ({"X": X3[0]}, "X has shape"),
    ({"X": X3[None]}, "X has shape"),
    ({"X": X3[:0], "y": Y3[:0]}, "X has shape"),
    ({"y": Y3[:-1]}, "y has shape"),
    ({"y": Y3[:, None]}, "y has shape"),
    ({"X": X_NAN}, "X contains NaN"),
    ({"y": torch.full((10,), float("inf"), dtype=DT)}, "y contains NaN"),
]


@pytest.mark.parametrize(
    ("kw", "msg"), NET_BAD, ids=[m + str(i) for i, (_, m) in enumerate(NET_BAD)]
)
def test_sample_bad_input(kw: dict, msg: str) -> None:
    args = {"X": X3, "y": Y3, "h": 2, **kw}
    with pytest.raises(ValueError, match=msg):
        QuadraticNet(**args)


A_NONSYM = _sym(3, 0)
A_NONSYM[0, 1] += 1e-6
A_NAN = _sym(3, 0)
A_NAN[1, 1] = float("nan")
POP_BAD = [
    ({"h": 0}, "h must be a positive integer"),
    ({"variant": "quadratic"}, "unknown variant"),
    ({"penalty": -1.0}, "penalty must be a finite number >= 0"),
    ({"A": torch.zeros(3, 4, dtype=DT)}, "expected a square"),
    ({"A": torch.zeros(3, dtype=DT)}, "expected a square"),
    ({"A": A_NONSYM}, "A must be symmetric"),
    ({"A": A_NAN}, "A contains NaN"),
]


@pytest.mark.parametrize(
    ("kw", "msg"), POP_BAD, ids=[m + str(i) for i, (_, m) in enumerate(POP_BAD)]
)
def test_population_bad_input(kw: dict, msg: str) -> None:
    args = {"A": _sym(3, 0), "h": 2, **kw}
    with pytest.raises(ValueError, match=msg):
        QuadraticPopulation(**args)


# -- the data sets of the shallow experiments ------------------------------------------


def _gen(seed: int = 3) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("target", TARGETS)
def test_quadratic_data_is_reproducible_float64(target: str) -> None:
    X, y = quadratic_data(target, 30, 4, generator=_gen())
    assert X.shape == (30, 4) and y.shape == (30,)
    assert X.dtype == y.dtype == torch.float64
    X2, y2 = quadratic_data(target, 30, 4, generator=_gen())
    assert torch.equal(X, X2) and torch.equal(y, y2)
    # the inputs are drawn first: the same stream for every target
    assert torch.equal(X, torch.randn(30, 4, generator=_gen(), dtype=torch.float64))


def test_planted_targets_are_the_documented_quadratics() -> None:
    # independent reference: the planted matrix, from the same stream drawn by hand
    m, d = 40, 5
    X, y = quadratic_data("gaussian", m, d, generator=_gen())
    g = _gen()
    torch.randn(m, d, generator=g, dtype=torch.float64)
    G = torch.randn(d, d, generator=g, dtype=torch.float64)
    A = (G + G.T) / 2
    assert_close(y, torch.einsum("md,de,me->m", X, A, X), what="x'Ax")
    # the identity target: the lifted least-squares fit is diag(s), s = +-1
    X, y = quadratic_data("identity", m, d, generator=_gen())
    M = lifted_least_squares(X, y).M
    off = torch.as_tensor(M - np.diag(np.diag(M)))
    assert_close(off, torch.zeros(d, d, dtype=DT), atol=1e-10, what="off-diagonal")
    np.testing.assert_allclose(np.abs(np.diag(M)), 1.0, atol=1e-10)


def test_nonplanted_targets_are_independent_with_the_identity_variance() -> None:
    m, d = 20_000, 5
    X, y = quadratic_data("nonplanted", m, d, generator=_gen(11))
    # y ~ N(0, 2d): sample variance within 5 standard errors sqrt(2/m) (2d)
    assert abs(float(y.var()) - 2 * d) <= 5 * math.sqrt(2 / m) * 2 * d
    # no quadratic of x explains y: the lifted fit leaves almost all of its variance
    assert lifted_least_squares(X, y).loss >= 0.9 * 0.5 * float(y.square().mean())


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (("planted", 5, 2), "unknown target 'planted'"),
        (("identity", 0, 2), "m must be a positive integer"),
        (("gaussian", 5, True), "d must be a positive integer"),
    ],
)
def test_quadratic_data_bad_input(args: tuple, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        quadratic_data(*args, generator=_gen())
