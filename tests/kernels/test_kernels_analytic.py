"""Infinite-width kernels: closed forms against Monte Carlo over the weights, against finite
wide nets, against quadrature; PSD, lambda_0, batching, one default kind, and errors.

The quadrature rules themselves (against Gauss-Hermite, each other, and in row blocks) are
tested in tests/gaussian/test_bivariate.py."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope import activations as acts
from landscope import kernels
from landscope.gaussian import bivariate
from landscope.kernels import lambda_0, ntk_cross, ntk_gram

DT = torch.float64
PI = math.pi


def points(n: int, d: int, seed: int, *, norms: bool = True) -> torch.Tensor:
    """n points in R^d: uniform directions, norms in [0.5, 1.5] unless ``norms=False``."""
    g = torch.Generator().manual_seed(seed)
    X = kernels.sphere(n, d, generator=g)
    if norms:
        X = X * (0.5 + torch.rand(n, 1, dtype=DT, generator=g))
    return X


def awkward_points(parallel: bool = True) -> torch.Tensor:
    """Varied norms plus a zero row, a parallel pair and an antiparallel pair.

    The pairs are scaled by powers of two, so their cosines are exactly +-1 (near t = 0
    the kinked kernels move like sqrt(1 - cos t): an ulp in a cosine is ~1e-8 there).
    """
    X = points(6, 4, seed=11)
    X = torch.cat([X, torch.zeros(1, 4, dtype=DT)])
    return torch.cat([X, 2.0 * X[:1], -0.5 * X[1:2]]) if parallel else X


def relu_formulas(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Du et al.'s H-infinity and the order-1 arc-cosine kernel, written out in numpy."""
    Xn = X.numpy()
    S = Xn @ Xn.T
    nr = np.linalg.norm(Xn, axis=1)
    # S_ij / sqrt(S_ii S_jj): exactly +-1 for pairs scaled by powers of two
    denom = np.sqrt(np.outer(np.diag(S), np.diag(S)))
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(denom > 0, np.clip(S / denom, -1, 1), 0.0)
    t = np.arccos(c)
    h_inf = S * (PI - t) / (2 * PI)
    nngp = np.outer(nr, nr) * (np.sin(t) + (PI - t) * c) / (2 * PI)
    return torch.from_numpy(h_inf), torch.from_numpy(nngp)


# --- Du et al.'s H(0) at width m against H-infinity --------------------------------------


def test_relu_h_inf_is_the_limit_of_h0_at_rate_one_over_sqrt_m() -> None:
    n, d, draws = 8, 5, 32
    g = torch.Generator().manual_seed(2024)
    X = kernels.sphere(n, d, generator=g)
    S = X @ X.T
    H = ntk_gram(X)
    # each entry of H(0) is S_ij times a mean of m Bernoulli(p_ij) indicators,
    # p_ij = (pi - t_ij) / (2 pi): its standard error is |S_ij| sqrt(p (1 - p) / m)
    p = H / S
    iu = torch.triu_indices(n, n)
    rms = {}
    for m in (1_000, 10_000, 100_000):
        errs, zs = [], []
        for _ in range(draws):
            W = torch.randn(m, d, dtype=DT, generator=g)
            A = (W @ X.T >= 0).to(DT)
            H0 = S * (A.T @ A) / m
            err = (H0 - H)[iu[0], iu[1]]
            errs.append(err)
            zs.append(err / (S.abs() * torch.sqrt(p * (1 - p) / m))[iu[0], iu[1]])
        z = torch.stack(zs)
        # 6 standard errors: Hoeffding bounds each tail by exp(-2 (6 sigma)^2 m) < 1e-7
        # even at m = 1e3 (sigma <= 1/(2 sqrt m)); 1152 entries in all
        assert float(z.abs().max()) <= 6.0, m
        # E z^2 = 1 exactly; the mean of 1152 correlated z^2 varied within 0.9..1.2 over
        # seeds (about 0.08 per seed), so 0.6..1.6 is 5 of those
        assert 0.6 <= float(z.pow(2).mean()) <= 1.6, m
        rms[m] = float(torch.stack(errs).pow(2).mean().sqrt())
    # error ~ 1/sqrt(m): the rms ratio per decade of m is sqrt(10) = 3.16; measured
    # 2.9..3.6 over seeds, allowed within a factor 1.6
    for lo, hi in ((1_000, 10_000), (10_000, 100_000)):
        assert math.sqrt(10) / 1.6 <= rms[lo] / rms[hi] <= math.sqrt(10) * 1.6, (lo, rms)


# --- closed forms and quadrature against Monte Carlo over w ------------------------------


def mc_depth1(X: torch.Tensor, act: acts.Activation, kind: str, m: int, g: torch.Generator):
    """Mean and standard error of the per-neuron terms over m draws of w ~ N(0, I)."""
    W = torch.randn(m, X.shape[1], dtype=DT, generator=g)
    Z = W @ X.T  # (m, n)
    S = X @ X.T
    terms = torch.zeros(m, X.shape[0], X.shape[0], dtype=DT)
    if kind in ("nngp", "ntk"):
        P = act.phi(Z)
        terms += P[:, :, None] * P[:, None, :]
    if kind in ("h_inf", "ntk"):
        D = act.dphi(Z)
        terms += S * (D[:, :, None] * D[:, None, :])
    return terms.mean(0), terms.std(0) / math.sqrt(m)


@pytest.mark.parametrize(
    "name", ["relu", "erf", "erf_sqrt2", "erf_zhong", "tanh", "softplus", "leaky_relu:0.2", "gelu"]
)
@pytest.mark.parametrize("kind", ["h_inf", "nngp", "ntk"])
def test_depth1_kernels_match_monte_carlo(name: str, kind: str) -> None:
    X = points(5, 4, seed=3)
    act = acts.get(name)
    g = torch.Generator().manual_seed(7 + len(name) + len(kind))
    mean, se = mc_depth1(X, act, kind, 100_000, g)
    exact = ntk_gram(X, name, kind)
    # 6 standard errors per entry (normal tail 2e-9; 15 distinct entries per case);
    # the atol covers entries whose terms are constant (zero spread)
    assert_close(mean, exact, rtol=0, atol=6 * se.numpy() + 1e-12, what=f"{name} {kind}")


def random_mlp_ntk(X: torch.Tensor, width: int, nets: int, g: torch.Generator):
    """NTK and NNGP of `nets` random two-hidden-layer ReLU nets in NTK parameterization,
    f(x) = v . relu(W2 relu(W1 x) / sqrt m) / sqrt m, from the backprop formula."""
    ntk, nngp = [], []
    S0 = X @ X.T
    for _ in range(nets):
        W1 = torch.randn(width, X.shape[1], dtype=DT, generator=g)
        W2 = torch.randn(width, width, dtype=DT, generator=g)
        v = torch.randn(width, dtype=DT, generator=g).sign()
        h1 = X @ W1.T
        a1, d1 = torch.relu(h1), (h1 > 0).to(DT)
        h2 = a1 @ W2.T / math.sqrt(width)
        a2, d2 = torch.relu(h2), (h2 > 0).to(DT)
        last = a2 @ a2.T / width  # d f / d v
        mid = ((d2 * v * v) @ d2.T / width) * (a1 @ a1.T / width)  # d f / d W2
        back = ((d2 * v) @ W2 / width) * d1  # d f / d h1 (the two 1/sqrt m factors)
        first = (back @ back.T) * S0  # d f / d W1
        ntk.append(last + mid + first)
        nngp.append(last)
    return torch.stack(ntk), torch.stack(nngp)


def test_depth2_relu_matches_wide_random_nets() -> None:
    X = points(5, 4, seed=5)
    width, nets = 512, 64
    ntk, nngp = random_mlp_ntk(X, width, nets, torch.Generator().manual_seed(99))
    for kind, sample in (("ntk", ntk), ("nngp", nngp)):
        mean, se = sample.mean(0), sample.std(0) / math.sqrt(nets)
        # 6 standard errors of the mean over 64 nets (Student t, 63 dof: tail ~1e-7), plus
        # the O(1/width) bias of a finite net's expected kernel: measured 0.2 / width at
        # widths 16..64 with 20000 nets, allowed 1 / width
        assert_close(
            mean,
            ntk_gram(X, "relu", kind, depth=2),
            rtol=0,
            atol=6 * se.numpy() + 1 / width,
            what=kind,
        )


def test_random_mlp_formula_is_the_autograd_ntk() -> None:
    """The backprop formula above is J J' of the same net (so the wide-net test is one)."""
    X = points(4, 3, seed=1)
    width = 16
    g = torch.Generator().manual_seed(0)
    ntk, _ = random_mlp_ntk(X, width, 1, g)
    g = torch.Generator().manual_seed(0)
    W1 = torch.randn(width, 3, dtype=DT, generator=g)
    W2 = torch.randn(width, width, dtype=DT, generator=g)
    v = torch.randn(width, dtype=DT, generator=g).sign()

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.W1, self.W2, self.v = (torch.nn.Parameter(t.clone()) for t in (W1, W2, v))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.relu(torch.relu(x @ self.W1.T) @ self.W2.T / math.sqrt(width))
            return h @ self.v / math.sqrt(width)

    assert_close(kernels.empirical_ntk(Net(), X), ntk[0], what="formula vs autograd")


# --- depth 1 is the written-out two-layer kernel; Arora et al.'s normalization -----------


def test_depth1_relu_equals_du_et_al_formulas() -> None:
    X = awkward_points()
    h_inf, nngp = relu_formulas(X)
    assert_close(ntk_gram(X), h_inf, what="h_inf")
    assert_close(ntk_gram(X, kind="nngp"), nngp, what="nngp")
    assert_close(ntk_gram(X, kind="ntk"), h_inf + nngp, what="ntk = h_inf + nngp")
    assert_close(ntk_gram(X, kind="ntk", depth=1), ntk_gram(X, kind="ntk"), what="depth=1")
    # x_i = 0: its row and column vanish
    assert float(ntk_gram(X)[6].abs().max()) == 0.0


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_arora_c_sigma_2_convention_is_2_to_the_depth(depth: int) -> None:
    """Arora et al. (2019): Sigma^h = 2 E[relu relu], Sigmadot^h = 2 E[relu' relu']."""
    X = points(6, 3, seed=8)
    S = X @ X.T
    theta = S.clone()
    for _ in range(depth):
        nr = torch.sqrt(torch.diagonal(S))
        c = (S / torch.outer(nr, nr)).clamp(-1, 1)
        c.fill_diagonal_(1.0)
        t = torch.arccos(c)
        sig = torch.outer(nr, nr) * (torch.sin(t) + (PI - t) * c) / PI  # c_sigma = 2
        dot = (PI - t) / PI
        theta = sig + theta * dot
        S = sig
    # c_sigma = 2 keeps the diagonal at |x|^2 on every layer
    assert_close(torch.diagonal(S), (X * X).sum(1), what="diag Sigma^L")
    assert_close(ntk_gram(X, kind="ntk", depth=depth) * 2**depth, theta, what="ntk")
    assert_close(ntk_gram(X, kind="nngp", depth=depth) * 2**depth, S, what="nngp")


# --- quadrature against closed forms -------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["relu", "leaky_relu", "leaky_relu:0.2", "squared_relu", "erf", "erf_sqrt2", "erf_zhong"],
)
@pytest.mark.parametrize(("kind", "depth"), [("h_inf", 1), ("nngp", 1), ("ntk", 1), ("ntk", 2)])
def test_quadrature_matches_closed_forms(name: str, kind: str, depth: int) -> None:
    # parallel pairs only at depth 1: deeper, the two methods' layer-1 outputs differ by
    # an ulp, which moves the next layer's angle of a parallel pair by ~1e-8
    X = awkward_points(parallel=depth == 1)
    closed = ntk_gram(X, name, kind, depth, method="closed_form")
    quad = ntk_gram(X, name, kind, depth, method="quadrature")
    # relu-type kinks are split exactly and the radial integrand is a polynomial, so the
    # rule is exact (measured <= 3e-14 relative); erf goes through the Fourier rule,
    # measured ~1e-15. 1e-11 of the largest entry leaves room for rounding
    scale = float(closed.abs().max())
    assert_close(quad, closed, rtol=0, atol=1e-11 * scale, what=f"{name} {kind} {depth}")


@pytest.mark.parametrize("name", ["relu", "erf", "tanh", "squared_relu"])
def test_blocks_and_batches_give_the_same_kernel(monkeypatch, name: str) -> None:
    Xs = torch.stack([awkward_points(), 0.5 * awkward_points()])
    full = ntk_gram(Xs, name, "ntk", depth=2)
    # 49 pairs per block: 7 x 7 blocks for one data set, 4 x 4 for the batch of two
    monkeypatch.setattr(bivariate, "_BLOCK_ELEMS", 49)
    assert_close(ntk_gram(Xs, name, "ntk", depth=2), full, what="batch in blocks")
    assert_close(ntk_gram(Xs[1], name, "ntk", depth=2), full[1], what="one set in blocks")


def test_default_radial_rule_follows_the_input_scale() -> None:
    # at norm 10 the default takes 96 radial nodes; 160 is converged (RADIAL_NODES)
    X = points(5, 3, seed=14, norms=False) * 10
    got = ntk_gram(X, "tanh", "ntk")
    ref = ntk_gram(X, "tanh", "ntk", radial_nodes=160)
    assert_close(got, ref, rtol=1e-10, atol=1e-10 * float(ref.abs().max()), what="norm 10")
    with pytest.raises(ValueError, match="rescale the inputs toward unit norm"):
        ntk_gram(X * 200, "tanh")


def test_softplus_sharpness_is_a_rescaling() -> None:
    # softplus_b(z) = softplus(b z) / b, so E_S[phi_b phi_b] = E_{b^2 S}[phi phi] / b^2
    # and E_S[phi_b' phi_b'] = E_{b^2 S}[phi' phi']
    X = points(6, 3, seed=2)
    b = 4.0
    got = ntk_gram(X, "softplus:4", "nngp")
    ref = ntk_gram(b * X, "softplus", "nngp") / b**2
    # both sides are quadratures (the right one at 16x the variance): rounding-level apart
    assert_close(got, ref, rtol=1e-11, atol=1e-12, what="nngp")
    assert_close(ntk_gram(X, "softplus:4"), ntk_gram(b * X, "softplus") / b**2, what="h_inf")


def test_user_registered_activations() -> None:
    X = points(5, 3, seed=6)
    try:
        acts.register("mytanh", torch.tanh, lambda z: 1 - torch.tanh(z) ** 2)
        acts.register(
            "softsign", lambda z: z / (1 + z.abs()), lambda z: 1 / (1 + z.abs()) ** 2, kinks=(0.0,)
        )
        assert_close(ntk_gram(X, "mytanh", "ntk"), ntk_gram(X, "tanh", "ntk"), what="mytanh")
        act = acts.get("softsign")
        g = torch.Generator().manual_seed(1)
        mean, se = mc_depth1(X, act, "ntk", 100_000, g)
        # the kinked path (sectors split at u = 0 and v = 0) against Monte Carlo, 6 SE
        assert_close(
            mean, ntk_gram(X, "softsign", "ntk"), rtol=0, atol=6 * se.numpy(), what="softsign"
        )
    finally:
        acts.unregister("mytanh")
        acts.unregister("softsign")


def test_zero_input_with_nonzero_phi_at_zero() -> None:
    # sigmoid(0) = 1/2 and E[sigmoid(v)] = 1/2 for symmetric v: K(0, x) = 1/4 exactly
    X = torch.cat([torch.zeros(1, 3, dtype=DT), points(3, 3, seed=0)])
    K = ntk_gram(X, "sigmoid", "nngp")
    assert_close(K[0], torch.full((4,), 0.25, dtype=DT), what="K(0, x)")


# --- structure: PSD, lambda_0, batches -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "depth"),
    [
        ("relu", "h_inf", 1),
        ("relu", "ntk", 3),
        ("erf", "nngp", 2),
        ("tanh", "ntk", 2),
        ("softplus", "h_inf", 1),
        ("squared_relu", "ntk", 1),
    ],
)
def test_kernels_are_positive_semidefinite(name: str, kind: str, depth: int) -> None:
    X = torch.cat([points(30, 5, seed=12), torch.zeros(1, 5, dtype=DT)])
    X = torch.cat([X, X[:2] * 1.7])  # parallel copies: exactly singular directions
    ev = kernels.kernel_spectrum(ntk_gram(X, name, kind, depth))
    assert ev.shape == (33,)
    assert float(ev[0]) >= -1e-12 * float(ev[-1]), (float(ev[0]), float(ev[-1]))


def test_lambda_0_positive_on_the_sphere_and_vanishing_for_near_parallel_points() -> None:
    X = kernels.sphere(20, 5, seed=0)
    lam = lambda_0(X)
    assert isinstance(lam, float) and lam > 1e-3
    assert lam == pytest.approx(float(torch.linalg.eigvalsh(ntk_gram(X))[0]), rel=1e-12)
    assert lambda_0(X, "tanh", "ntk") > 1e-3
    g = torch.Generator().manual_seed(3)
    x = X[0] + 1e-8 * torch.randn(5, dtype=DT, generator=g)
    Y = torch.cat([X, (x / torch.linalg.vector_norm(x))[None]])
    ev = kernels.kernel_spectrum(ntk_gram(Y))
    # two points 1e-8 apart: the kernel rows differ by O(1e-8), and lambda_0 with them
    assert float(ev[0]) < 1e-6 * float(ev[-1])


def test_batch_of_data_sets_and_input_types() -> None:
    Xs = torch.stack([points(7, 3, seed=s) for s in range(3)])
    for name, kind, depth in (("relu", "ntk", 2), ("tanh", "h_inf", 1)):
        K = ntk_gram(Xs, name, kind, depth)
        assert K.shape == (3, 7, 7) and K.dtype == DT
        for b in range(3):
            assert_close(K[b], ntk_gram(Xs[b], name, kind, depth), what=f"{name} row {b}")
    lam = lambda_0(Xs)
    assert isinstance(lam, torch.Tensor) and lam.shape == (3,)
    assert_close(lam, torch.tensor([lambda_0(X) for X in Xs], dtype=DT), what="lambda_0")
    X = Xs[0]
    assert_close(ntk_gram(X.numpy()), ntk_gram(X), what="numpy")
    assert_close(ntk_gram(X.float()), ntk_gram(X.float().double()), what="float32 input")
    ints = torch.tensor([[1, 0], [0, 2], [1, 1]])
    assert_close(ntk_gram(ints), ntk_gram(ints.double()), what="int input")


def test_spectrum_summary() -> None:
    ev = torch.tensor([0.5, 1.0, 2.0, 4.0], dtype=DT)
    s = kernels.spectrum_summary(ev, k=2)
    assert (s.n, s.lambda_0, s.lambda_max, s.condition) == (4, 0.5, 4.0, 8.0)
    assert s.smallest == (0.5, 1.0) and s.largest == (4.0, 2.0)
    assert kernels.spectrum_summary(torch.tensor([0.0, 1.0]), k=1).condition == math.inf


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "ntk2"}, "unknown kernel kind 'ntk2'"),
        ({"activation": "swish"}, "unknown activation 'swish'"),
        ({"depth": 0}, "depth is the number of hidden layers"),
        ({"depth": True}, "depth is the number of hidden layers"),
        ({"depth": 2.0}, "depth is the number of hidden layers"),
        ({"kind": "h_inf", "depth": 2}, "takes depth=1 only"),
        ({"method": "exact"}, "unknown method 'exact'"),
        ({"activation": "tanh", "method": "closed_form"}, "has no closed-form kernel"),
        ({"radial_nodes": 0}, "radial_nodes must be an integer in 1..160"),
        ({"radial_nodes": 161}, "radial_nodes must be an integer in 1..160"),
        ({"angular_nodes": 2.5}, "angular_nodes must be an integer >= 1"),
    ],
)
def test_bad_arguments_are_one_sentence(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match) as err:
        ntk_gram(points(3, 2, seed=0), **kwargs)
    assert str(err.value).endswith(".")


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (torch.ones(3), r"shape \(3,\); expected \(n, d\)"),
        (torch.ones(1, 2, 3, 4), "expected"),
        (torch.ones(0, 3), "n >= 1 points"),
        (torch.tensor([[1.0, math.nan]]), "NaN or infinite"),
        (torch.tensor([[1.0, math.inf]]), "NaN or infinite"),
        ([["a", "b"]], "could not be turned into"),
    ],
)
def test_bad_points(X, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ntk_gram(X)


def test_one_default_kind_everywhere() -> None:
    """ntk_gram, ntk_cross and lambda_0 share DEFAULT_KIND (H-infinity), so that calls with
    defaults agree: ntk_cross(X, X) is ntk_gram(X), and lambda_0(X) its smallest eigenvalue."""
    for fn in (ntk_gram, ntk_cross, lambda_0):
        assert inspect.signature(fn).parameters["kind"].default == kernels.DEFAULT_KIND, fn
    assert kernels.DEFAULT_KIND == "h_inf"
    X = awkward_points()
    assert torch.equal(ntk_cross(X, X), ntk_gram(X))
    assert torch.equal(ntk_cross(X, X.clone()), ntk_gram(X, kind="h_inf"))
    assert lambda_0(X) == float(torch.linalg.eigvalsh(ntk_gram(X))[0])
