"""Closed-form ReLU teacher-student loss: against Monte Carlo, against autograd of a
plain pair-by-pair reference, invariants, numerical safety near (anti)parallel and zero
neurons, float32, bad input, and the distance to the global minimizers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope.problems import Problem, ReluTeacherStudent
from reference.relu_autograd import ReluReference, monte_carlo_loss

DT = torch.float64
SEEDS = [0, 1, 2]
# Closed form vs autograd of the reference: both float64 but through different formulas
# (the reference differentiates arccos, whose derivative -1/sqrt(1 - c^2) amplifies
# rounding in c), so the brief's 1e-10 relative instead of the default 1e-12.
AUTOGRAD = {"rtol": 1e-10, "atol": 1e-12}
# 200k samples: the estimate has a relative standard error ~0.3 %, so the 5-se band is
# ~2 % of the loss: wrong constants or a missing kernel term would fall outside it.
M_MC = 200_000
SE_BOUND = 5.0  # two-sided normal tail 5.7e-7 per check; 24 checks in all


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _random_teacher(k: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(k, d, generator=_gen(1000 + seed), dtype=DT)


def _random_rows(prob: ReluTeacherStudent, R: int, seed: int) -> torch.Tensor:
    """Generic points: Gaussian W (no two neurons parallel a.s.); a = 1 + 0.5 N(0, 1)."""
    theta = prob.init(R, generator=_gen(seed))
    if prob.train_second_layer:
        a = 1.0 + 0.5 * torch.randn(R, prob.n, generator=_gen(seed + 500), dtype=DT)
        theta = prob.join(prob.split(theta)[0], a)
    assert theta.shape == (R, prob.n_params)
    return theta


# ------------------------------------------------------------------ Monte Carlo
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("train_second_layer", [False, True])
@pytest.mark.parametrize("teacher", ["identity", "random"])
def test_closed_form_loss_matches_monte_carlo(
    seed: int, train_second_layer: bool, teacher: str
) -> None:
    k, n = 3, 4
    if teacher == "identity":
        prob = ReluTeacherStudent(k=k, n=n, train_second_layer=train_second_layer)
    else:  # a general teacher with d > k: unequal norms, non-orthogonal rows
        V = _random_teacher(k, 5, seed)
        prob = ReluTeacherStudent(k=k, n=n, teacher=V, train_second_layer=train_second_layer)
    theta = _random_rows(prob, 2, seed)
    closed = prob.loss(theta)
    assert closed.shape == (2,)
    W, a = prob.split(theta)
    gen = _gen(2000 + seed)
    for r in range(2):
        mean, se = monte_carlo_loss(W[r], a[r], prob.V, M_MC, generator=gen)
        gap = abs(float(closed[r]) - mean)
        assert gap <= SE_BOUND * se, f"row {r}: |closed - MC| = {gap:.3g} > 5 se = {5 * se:.3g}"


# ------------------------------------------------------------------ autograd reference
CASES = [  # (k, n, d, train_second_layer, teacher)
    (3, 3, 3, False, "identity"),
    (3, 4, 3, True, "identity"),  # n = k + 1
    (3, 5, 5, False, "random"),  # n = k + 2, d > k
    (4, 3, 6, True, "random"),  # n < k, d > k
    (2, 4, 4, False, "identity"),  # n = k + 2, d > k
    (4, 2, 4, False, "identity"),  # n < k
]


def _problem(k: int, n: int, d: int, tsl: bool, teacher: str, seed: int = 0):
    V = "identity" if teacher == "identity" else _random_teacher(k, d, seed)
    prob = ReluTeacherStudent(k=k, n=n, d=d, teacher=V, train_second_layer=tsl)
    return prob, ReluReference(prob.V, n, tsl)


@pytest.mark.parametrize("case", CASES, ids=[str(c) for c in CASES])
def test_loss_grad_hessian_match_autograd(case: tuple) -> None:
    prob, ref = _problem(*case)
    R, P = 3, prob.n_params
    theta = _random_rows(prob, R, seed=sum(case[:3]))
    loss, g = prob.loss_and_grad(theta)
    H = prob.hessian(theta)
    assert loss.shape == (R,) and g.shape == (R, P) and H.shape == (R, P, P)
    for r in range(R):  # the slow reference, one row at a time
        assert_close(loss[r], ref.loss(theta[r]), **AUTOGRAD, what=f"loss row {r}")
        assert_close(g[r], ref.grad(theta[r]), **AUTOGRAD, what=f"grad row {r}")
        assert_close(H[r], ref.hessian(theta[r]), **AUTOGRAD, what=f"hessian row {r}")
    assert_close(prob.loss(theta), loss, what="loss() vs loss_and_grad()")
    # the same formulas reorganized: float64 rounding only, so the default tolerance
    assert_close(prob.grad(theta), g, what="grad() vs loss_and_grad()")


def _lean_vs_full(seed: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    prob = ReluTeacherStudent(k=k, n=k + 1, d=k + 2)
    theta = 3.0 * _random_rows(prob, 6, seed)  # includes neurons larger than the teacher's
    g_lean = prob.grad(theta)
    assert g_lean.shape == (6, prob.n_params) and g_lean.dtype == DT
    return g_lean, prob.loss_and_grad(theta)[1]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [2, 5, 8])
def test_lean_grad_equals_loss_and_grad(seed: int, k: int) -> None:
    # same formulas reorganized: float64 rounding only, so the default 1e-12
    g_lean, g = _lean_vs_full(seed, k)
    assert_close(g_lean, g, what="grad() vs loss_and_grad()")


@pytest.mark.parametrize("tsl", [False, True])
def test_hvp_and_symmetry_and_chunking(tsl: bool) -> None:
    prob = ReluTeacherStudent(k=3, n=4, d=5, train_second_layer=tsl)
    R, P = 5, prob.n_params
    theta = _random_rows(prob, R, seed=7)
    v = torch.randn(R, P, generator=_gen(8), dtype=DT)
    H = prob.hessian(theta)
    assert H.shape == (R, P, P)
    assert_close(H, H.transpose(1, 2), what="H - H'")
    hv = prob.hvp(theta, v)
    assert hv.shape == (R, P)
    assert_close(hv, (H @ v[..., None])[..., 0], what="hvp vs H @ v")
    assert_close(prob.hessian(theta, chunk=2), H, what="hessian chunk=2")


# ------------------------------------------------------------------ invariants
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("tsl", [False, True])
def test_neuron_permutation_invariance(seed: int, tsl: bool) -> None:
    prob = ReluTeacherStudent(k=3, n=5, d=4, train_second_layer=tsl)
    theta = _random_rows(prob, 4, seed)
    perm = torch.randperm(prob.n, generator=_gen(seed + 10))
    assert not torch.equal(perm, torch.arange(prob.n))  # n = 5: identity w.p. 1/120
    W, a = prob.split(theta)
    theta_p = prob.join(W[:, perm], a[:, perm])
    loss, g = prob.loss_and_grad(theta)
    loss_p, g_p = prob.loss_and_grad(theta_p)
    assert_close(loss_p, loss, what="permuted loss")
    gW, ga = prob.split(g)
    assert_close(g_p, prob.join(gW[:, perm], ga[:, perm]), what="permuted gradient")
    glW, gla = prob.split(prob.grad(theta))
    assert_close(
        prob.grad(theta_p), prob.join(glW[:, perm], gla[:, perm]), what="permuted lean gradient"
    )


@pytest.mark.parametrize("tsl", [False, True])
@pytest.mark.parametrize(("k", "n", "d"), [(3, 3, 3), (4, 4, 6), (3, 5, 3), (2, 4, 5)])
def test_teacher_is_a_global_minimum(k: int, n: int, d: int, tsl: bool) -> None:
    prob = ReluTeacherStudent(k=k, n=n, d=d, train_second_layer=tsl)
    tp = prob.teacher_point()
    assert tp.shape == (1, prob.n_params)
    assert prob.global_min == 0.0
    loss, g = prob.loss_and_grad(tp)
    # closed-form floor: 1/2 b'K(V,V)b cancels O(k^2) kernel terms of size <= 1/2
    assert abs(float(loss[0])) <= 1e-14 * k * k
    assert float(g.abs().max()) <= 1e-14
    assert float(prob.grad(tp).abs().max()) <= 1e-14
    H = prob.hessian(tp)[0]
    ev = torch.linalg.eigvalsh(0.5 * (H + H.T))
    # PSD up to rounding of the O(1) Hessian entries; zero eigenvalues are exact there
    # when n > k (flat directions of the padded and split teachers)
    assert float(ev[0]) >= -1e-12, f"eig_min {float(ev[0]):.3g}"
    if n == k and not tsl:  # isolated minimizer: positive definite
        assert float(ev[0]) > 0.05


# ------------------------------------------------------------------ numerical safety
def _rotate_towards(u: torch.Tensor, w: torch.Tensor, angle: float) -> torch.Tensor:
    """u turned by ``angle`` in the plane of u and w, norm kept."""
    ubar = u / u.norm()
    perp = w - (w @ ubar) * ubar
    perp = perp / perp.norm()
    return u.norm() * (math.cos(angle) * ubar + math.sin(angle) * perp)


def _degenerate_rows(prob: ReluTeacherStudent) -> torch.Tensor:
    """Rows with exactly parallel, antiparallel and zero-norm neurons (k = 3, n = 5, d = 4).

    Norm ratios of parallel pairs stay below 5 (the tests below take larger ones).
    """
    V = prob.V
    g = torch.randn(prob.n, prob.d, generator=_gen(3), dtype=DT)
    rows = []
    W = g.clone()
    W[1] = 2.0 * W[0]  # student-student parallel
    W[2] = -0.5 * W[0]  # student-student antiparallel
    rows.append(W)
    W = g.clone()
    W[0] = 0.7 * V[0]  # student parallel to a teacher neuron
    W[1] = -1.3 * V[1]  # student antiparallel to a teacher neuron
    rows.append(W)
    W = g.clone()
    W[3] = 0.0  # a dead (zero) neuron
    W[4] = W[0]  # two equal neurons
    rows.append(W)
    W = torch.zeros_like(g)
    W[:3] = V  # the teacher, padded: parallel pairs and zero neurons together
    rows.append(W)
    return torch.stack(rows)


@pytest.mark.parametrize("tsl", [False, True])
def test_parallel_antiparallel_zero_neurons_are_finite(tsl: bool) -> None:
    prob = ReluTeacherStudent(k=3, n=5, d=4, train_second_layer=tsl)
    theta = prob.join(_degenerate_rows(prob))
    R, P = theta.shape
    loss, g = prob.loss_and_grad(theta)
    H = prob.hessian(theta)
    assert loss.shape == (R,) and g.shape == (R, P) and H.shape == (R, P, P)
    for name, x in (("loss", loss), ("grad", g), ("grad()", prob.grad(theta)), ("H", H)):
        assert bool(torch.isfinite(x).all()), f"{name} has non-finite entries"
    assert_close(prob.grad(theta), g, atol=1e-15, what="lean grad, degenerate rows")
    assert_close(H, H.transpose(1, 2), what="H - H' at degenerate rows")


def test_zero_neuron_contributes_nothing() -> None:
    # relu(0 . x) = 0, and the relu'(0) = 0 convention gives its W-rows zero gradient and
    # zero Hessian; the other neurons then see the smaller student exactly.
    big = ReluTeacherStudent(k=3, n=4, d=4)
    small = ReluTeacherStudent(k=3, n=3, d=4)
    W = torch.randn(2, 3, 4, generator=_gen(4), dtype=DT)
    Wz = torch.cat([W[:, :1], torch.zeros(2, 1, 4, dtype=DT), W[:, 1:]], dim=1)
    th, thz = small.join(W), big.join(Wz)
    keep = torch.tensor([0, 2, 3])
    loss, g = small.loss_and_grad(th)
    loss_z, g_z = big.loss_and_grad(thz)
    assert_close(loss_z, loss, what="loss with a zero neuron")
    gz = g_z.reshape(2, 4, 4)
    assert_close(gz[:, keep], g.reshape(2, 3, 4), what="live-neuron grad")
    assert float(gz[:, 1].abs().max()) == 0.0
    Hz = big.hessian(thz).reshape(2, 4, 4, 4, 4)
    H = small.hessian(th).reshape(2, 3, 4, 3, 4)
    assert_close(Hz[:, keep][:, :, :, keep], H, what="live-neuron Hessian")
    assert float(Hz[:, 1].abs().max()) == 0.0 and float(Hz[:, :, :, 1].abs().max()) == 0.0


@pytest.mark.parametrize("pair", ["student-student", "student-teacher"])
def test_hessian_is_continuous_near_parallel(pair: str) -> None:
    # The closed form is C^2 at t = 0 and its Hessian changes by O(t) (K = u.v/2 + O(t^3)),
    # so the Hessians at angles 0, 1e-7 and 1e-5 agree to ~1e-5; a formula with
    # 1 - cos^2 cancellation would be off by O(1) at 1e-7.
    prob = ReluTeacherStudent(k=3, n=3, d=4)
    W0 = torch.randn(3, 4, generator=_gen(5), dtype=DT)
    partner = W0[0] if pair == "student-student" else prob.V[0]
    dirn = torch.randn(4, generator=_gen(6), dtype=DT)
    rows = [_rotate_towards(1.5 * partner, dirn, t) for t in (0.0, 1e-7, 1e-5)]
    Ws = W0.repeat(3, 1, 1)
    for r, w in enumerate(rows):
        Ws[r, 1] = w
    H = prob.hessian(prob.join(Ws))
    assert bool(torch.isfinite(H).all())
    scale = float(H.abs().max())
    assert_close(H[1], H[0], rtol=0, atol=1e-6 * scale, what="H(1e-7) vs H(0)")
    assert_close(H[2], H[0], rtol=0, atol=1e-4 * scale, what="H(1e-5) vs H(0)")
    assert_close(H[1], H[2], rtol=0, atol=1e-4 * scale, what="H(1e-7) vs H(1e-5)")
    g = prob.grad(prob.join(Ws))
    # the gradient is C^1: it moves by O(t) too
    assert_close(g[1], g[0], rtol=0, atol=1e-6, what="grad(1e-7) vs grad(0)")


# src bug: dividing by the clamped norm tiny = 2.2e-308 overflows once the numerator
# exceeds ~4 (float64 max * tiny), and the resulting inf then meets a 0 (the zero neuron's
# mask or W row, or q = 0 for an exactly parallel pair): 0 * inf = NaN.
ZERO_NEURON_BIG_TEACHER = ((1, 2, [[30.0, 0.0]]), [[0.0, 0.0]])


@pytest.mark.parametrize(
    ("problem", "theta"),
    [
        ((5, 5, "identity"), [[0.0] * 25]),  # W = 0: sum_z c_z |z| sin t = -5 at each neuron
        ZERO_NEURON_BIG_TEACHER,  # one zero neuron against a teacher of norm 30
    ],
    ids=["zero-student-k5", "zero-neuron-teacher-norm-30"],
)
def test_lean_grad_at_zero_neuron_is_finite(problem: tuple, theta: list) -> None:
    k, d, V = problem
    prob = ReluTeacherStudent(k=k, d=d, teacher=V)
    g = prob.grad(torch.tensor(theta, dtype=DT))
    assert bool(torch.isfinite(g).all()), g


@pytest.mark.parametrize(
    ("problem", "theta"),
    [
        ((1, 2, "identity"), [[0.03, 0.0]]),  # w = 0.03 v: parallel, |v| / |w| > 8 pi
        ZERO_NEURON_BIG_TEACHER,
    ],
    ids=["small-parallel-neuron", "zero-neuron-teacher-norm-30"],
)
def test_hessian_at_small_or_zero_neuron_is_finite(problem: tuple, theta: list) -> None:
    k, d, V = problem
    prob = ReluTeacherStudent(k=k, d=d, teacher=V)
    H = prob.hessian(torch.tensor(theta, dtype=DT))
    assert bool(torch.isfinite(H).all()), H


# ------------------------------------------------------------------ float32
@pytest.mark.parametrize("tsl", [False, True])
def test_float32_agrees_with_float64(tsl: bool) -> None:
    p64 = ReluTeacherStudent(k=3, n=4, d=5, train_second_layer=tsl)
    p32 = ReluTeacherStudent(k=3, n=4, d=5, train_second_layer=tsl, dtype="float32")
    theta = _random_rows(p64, 4, seed=9)
    t32 = p32.as_batch(theta)
    assert t32.dtype == torch.float32 and t32.shape == theta.shape
    loss32, g32 = p32.loss_and_grad(t32)
    H32 = p32.hessian(t32)
    assert loss32.dtype == g32.dtype == H32.dtype == torch.float32
    f32 = torch.float32
    assert_close(loss32, p64.loss(theta), dtype=f32, what="float32 loss")
    assert_close(g32, p64.grad(theta), dtype=f32, what="float32 grad")
    assert_close(p32.grad(t32), p64.grad(theta), dtype=f32, what="float32 lean grad")
    assert_close(H32, p64.hessian(theta), dtype=f32, what="float32 Hessian")


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 0}, "k must be a positive integer"),
        ({"k": 2, "n": 0}, "n must be a positive integer"),
        ({"k": 2, "d": 0}, "d must be a positive integer"),
        ({"k": 2.0}, "k must be a positive integer"),
        ({"k": 3, "d": 2}, "needs d >= k"),
        ({"k": 2, "teacher": "orthogonal"}, "unknown teacher 'orthogonal'"),
        ({"k": 3, "teacher": np.ones((2, 4))}, r"teacher has shape \(2, 4\)"),
        ({"k": 2, "teacher": np.ones(4)}, r"teacher has shape \(4,\)"),
        ({"k": 2, "d": 5, "teacher": np.ones((2, 4))}, r"teacher has shape \(2, 4\)"),
        ({"k": 2, "teacher": np.full((2, 3), np.nan)}, "teacher contains NaN"),
        ({"k": 2, "teacher": np.full((2, 3), np.inf)}, "teacher contains NaN or infinite"),
        ({"k": 2, "init_scale": 0.0}, "init_scale must be a positive number"),
        ({"k": 2, "init_scale": float("nan")}, "init_scale must be a positive number"),
        ({"k": 2, "dtype": "float16"}, "unknown dtype"),
        ({"k": 2, "device": "tpu"}, "device"),
    ],
)
def test_bad_construction(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ReluTeacherStudent(**kwargs)


@pytest.mark.parametrize(
    ("tsl", "shape"),
    [
        (False, (3, 5)),
        (False, (2, 4, 3)),
        (False, (13,)),
        (False, (2, 13)),
        (False, ()),
        (False, (2, 2, 3, 4)),
        (True, (3, 4)),
        (True, (2, 3, 4)),
        (True, (12,)),
    ],
)
def test_as_batch_rejects_wrong_shapes(tsl: bool, shape: tuple[int, ...]) -> None:
    prob = ReluTeacherStudent(k=2, n=3, d=4, train_second_layer=tsl)  # P = 12 or 15
    with pytest.raises(ValueError, match="theta has shape"):
        prob.as_batch(torch.zeros(shape))


def test_as_batch_layouts() -> None:
    prob = ReluTeacherStudent(k=2, n=3, d=4)
    P = prob.n_params
    assert P == 12
    W = torch.randn(5, 3, 4, generator=_gen(11), dtype=DT)
    flat = W.reshape(5, P)
    assert_close(prob.as_batch(W), flat, rtol=0, atol=0, what="(R, n, d)")
    assert_close(prob.as_batch(flat), flat, rtol=0, atol=0, what="(R, P)")
    assert_close(prob.as_batch(W[2]), flat[2:3], rtol=0, atol=0, what="(n, d)")
    assert_close(prob.as_batch(flat[2]), flat[2:3], rtol=0, atol=0, what="(P,)")
    out = prob.as_batch(W.float().numpy())  # numpy float32 in, problem dtype out
    assert out.dtype == DT and out.shape == (5, P)
    # W is row-major: entry (i, j) of neuron i sits at i * d + j
    assert float(prob.as_batch(W)[1, 2 * 4 + 3]) == float(W[1, 2, 3])
    tsl = ReluTeacherStudent(k=2, n=3, d=4, train_second_layer=True)
    assert tsl.n_params == 15 and tsl.as_batch(torch.zeros(2, 15)).shape == (2, 15)
    Wt, a = tsl.split(tsl.join(W[:2], torch.full((2, 3), 2.0, dtype=DT)))
    assert Wt.shape == (2, 3, 4) and a.shape == (2, 3)
    assert_close(Wt, W[:2], rtol=0, atol=0)
    assert_close(a, torch.full((2, 3), 2.0, dtype=DT), rtol=0, atol=0)


def test_init_and_protocol() -> None:
    prob = ReluTeacherStudent(k=3, n=4, d=5, train_second_layer=True, init_scale=2.0)
    assert isinstance(prob, Problem)
    theta = prob.init(4000, generator=_gen(12))
    assert theta.shape == (4000, prob.n_params) and theta.dtype == DT
    W, a = prob.split(theta)
    assert float((a - 1).abs().max()) == 0.0  # the second layer starts at 1
    # W ~ N(0, 4/5): the sample variance of m draws has relative se sqrt(2/m); 5 se
    rel = float(W.var()) / (4.0 / 5) - 1.0
    assert abs(rel) <= 5 * math.sqrt(2 / W.numel()), rel
    again = prob.init(4000, generator=_gen(12))
    assert torch.equal(again, theta)


# ------------------------------------------------------------------ distance
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("k", "n"), [(3, 3), (4, 4), (3, 5)])
def test_distance_to_global(seed: int, k: int, n: int) -> None:
    prob = ReluTeacherStudent(k=k, n=n, d=k + 1)
    tp = prob.teacher_point()
    W = prob.split(tp)[0][0]
    perm = torch.randperm(n, generator=_gen(seed))
    delta = 1e-3 * torch.randn(n, prob.d, generator=_gen(seed + 1), dtype=DT)
    # the teacher's neurons are >= sqrt(2) apart (and 1 from the zero padding), so a
    # 1e-3 perturbation keeps the identity assignment optimal: the distance is Frobenius
    rows = torch.stack([W, W[perm], W + delta, (W + delta)[perm]])
    dist = prob.distance_to_global(prob.join(rows))
    assert dist is not None and dist.shape == (4,)
    assert float(dist[0]) == 0.0 and float(dist[1]) == 0.0
    want = float(delta.norm())
    assert_close(dist[2:], torch.tensor([want, want], dtype=DT), what="distance of a perturbation")
    # far from the teacher the distance is at most the one to the unpermuted teacher
    far = prob.init(3, generator=_gen(seed + 2))
    d_far = prob.distance_to_global(far)
    assert bool((d_far <= (far - tp).norm(dim=1) + 1e-12).all())


def test_distance_to_global_second_layer() -> None:
    prob = ReluTeacherStudent(k=3, train_second_layer=True)
    W = prob.split(prob.teacher_point())[0]
    # relu(c u) = c relu(u), c > 0: (W/2, a = 2) is the teacher as a function
    theta = prob.join(W / 2, torch.full((1, 3), 2.0, dtype=DT))
    assert float(prob.loss(theta)[0]) <= 1e-14
    dist = prob.distance_to_global(theta)
    assert dist is not None and dist.shape == (1,)
    assert float(dist[0]) <= 1e-15


def test_distance_to_global_is_none_below_k() -> None:
    small = ReluTeacherStudent(k=3, n=2)
    assert small.global_min is None
    assert small.distance_to_global(small.init(2, generator=_gen(0))) is None


def test_lean_loss_and_grad_equal_the_general_pass() -> None:
    # the fixed-second-layer pass (grad's, plus the loss) against the general one over
    # every pair's kernel, including a zero neuron and a neuron parallel to a teacher's
    prob = ReluTeacherStudent(k=4, n=6, d=5)
    theta = prob.init(3, generator=torch.Generator().manual_seed(0))
    W = theta.reshape(3, 6, 5)
    W[0, 2] = 0.0
    W[1, 3] = 2.0 * prob.V[1]
    loss, g = prob.loss_and_grad(theta)
    ref_loss, ref_g = prob._loss_and_grad_general(theta)
    # the same sums in another order: float64 round-off of O(k n) terms
    torch.testing.assert_close(loss, ref_loss, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(g, ref_g, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(prob.grad(theta), ref_g, rtol=1e-12, atol=1e-13)


# ------------------------------------------------------------------ compiled Hessian
def test_compiled_hessian_equals_the_torch_pass(monkeypatch) -> None:
    # The compiled kernel (numba) and the torch pass evaluate the same closed forms in a
    # different order: float64 rounding only. Rows: random (some neurons 3x the teacher's
    # norm), and the degenerate ones (zero, equal, parallel, antiparallel neurons).
    prob = ReluTeacherStudent(k=3, n=5, d=4)
    theta = torch.cat([3.0 * _random_rows(prob, 6, seed=11), prob.join(_degenerate_rows(prob))])
    assert prob._compiled(theta)
    H = prob.hessian(theta)
    ref = prob._hessian_rows(theta)
    assert_close(H, ref, what="compiled vs torch Hessian")
    assert torch.equal(H, H.transpose(1, 2)), "the compiled Hessian is exactly symmetric"
    # one thread runs the serial kernel: the same numbers
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert torch.equal(prob.hessian(theta), H)
    # LANDSCOPE_FUSED=0, float32, a trained second layer, requires_grad: the torch pass
    monkeypatch.setenv("LANDSCOPE_FUSED", "0")
    assert not prob._compiled(theta)
    assert torch.equal(prob.hessian(theta), ref)
    monkeypatch.delenv("LANDSCOPE_FUSED")
    assert not prob._compiled(theta.clone().requires_grad_())
    assert not ReluTeacherStudent(k=3, n=5, d=4, train_second_layer=True)._compiled(theta)
    assert not ReluTeacherStudent(k=3, n=5, d=4, dtype="float32")._compiled(theta.float())


@pytest.mark.parametrize(("k", "n", "d"), [(6, 6, 6), (4, 7, 9), (10, 10, 10)])
def test_compiled_hessian_at_census_sizes(k: int, n: int, d: int) -> None:
    # the sizes the census polishes and certifies, against the torch pass
    prob = ReluTeacherStudent(k=k, n=n, d=d)
    theta = prob.init(8, generator=_gen(k + n))
    assert_close(prob.hessian(theta), prob._hessian_rows(theta), what=f"k={k} n={n} d={d}")
