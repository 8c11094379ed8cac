"""Gaussian moments of activations against independent references.

The fast path (composite Gauss-Legendre, split at kinks) is checked against scipy's
adaptive ``quad`` on numpy/scipy re-implementations of phi and phi' (not the registry's
torch functions), against Monte Carlo, and against closed forms.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, special

from _tolerances import assert_close
from landscope import activations as acts

SQRT_2PI = math.sqrt(2 * math.pi)
RELU_RHO = 0.25 - 1 / (2 * math.pi)  # Zhong et al. (2017): rho of ReLU, every sigma
# The quadrature cuts [-13, 13] into ceil(52 sigma) equal pieces for sigma >= 1 (52 below),
# and then 0 is a piece edge whenever that count is even (0.3, 1, 4): only sigma = 1.25
# (65 pieces) makes the explicit split at the kink z = 0 matter.
SIGMAS = (0.3, 1.0, 1.25, 4.0)
BUILTINS = [n for n in acts.names() if acts.get(n).builtin]


def _sech2(z: float) -> float:
    e = math.exp(-2 * abs(z))  # no overflow for large |z|, unlike 1 / cosh(z)^2
    return 4 * e / (1 + e) ** 2


# (phi, phi') written independently of the registry, in numpy / scipy.special scalars.
REFERENCE = {
    "relu": (lambda z: max(z, 0.0), lambda z: 1.0 if z > 0 else 0.0),
    "leaky_relu": (lambda z: z if z > 0 else 0.01 * z, lambda z: 1.0 if z > 0 else 0.01),
    "squared_relu": (lambda z: max(z, 0.0) ** 2, lambda z: 2 * max(z, 0.0)),
    "tanh": (math.tanh, _sech2),
    "sigmoid": (special.expit, lambda z: special.expit(z) * special.expit(-z)),
    "erf": (special.erf, lambda z: 2 / math.sqrt(math.pi) * math.exp(-z * z)),
    "erf_sqrt2": (
        lambda z: special.erf(z / math.sqrt(2)),
        lambda z: 2 * math.exp(-z * z / 2) / SQRT_2PI,
    ),
    "erf_zhong": (lambda z: math.sqrt(math.pi) / 2 * special.erf(z), lambda z: math.exp(-z * z)),
    "softplus": (lambda z: np.logaddexp(0.0, z), special.expit),
    "gelu": (
        lambda z: z * special.ndtr(z),
        lambda z: special.ndtr(z) + z * math.exp(-z * z / 2) / SQRT_2PI,
    ),
    "linear": (lambda z: z, lambda z: 1.0),
    "quadratic": (lambda z: z * z, lambda z: 2 * z),
}


def quad_gauss(f, sigma: float, kinks: tuple[float, ...]) -> float:
    """E[f(z)], z ~ N(0, 1), by scipy quad on (-inf, k1/s), ..., (kn/s, inf).

    epsabs 1e-12, epsrel 1e-11: tighter requests (epsabs 1e-13) make QUADPACK warn about
    roundoff on integrals that are exactly 0 by cancellation (c_4 of squared_relu and
    quadratic), and warnings are errors here. QUADPACK's estimate is pessimistic for
    these analytic pieces: against the closed forms below quad is exact to ~1e-15.
    """
    cuts = sorted(k / sigma for k in kinks) or [0.0]
    edges = [-math.inf, *cuts, math.inf]
    total = 0.0
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        value, _ = integrate.quad(
            lambda z: f(z) * math.exp(-0.5 * z * z) / SQRT_2PI,
            a,
            b,
            epsabs=1e-12,
            epsrel=1e-11,
            limit=200,
        )
        total += value
    return total


def test_reference_covers_every_builtin() -> None:
    assert sorted(REFERENCE) == sorted(BUILTINS)


def test_quad_reference_itself_on_known_integrals() -> None:
    """The reference recovers E z^4 = 3 and E relu(z) = 1/sqrt(2 pi) to rounding."""
    assert abs(quad_gauss(lambda z: z**4, 1.0, ()) - 3.0) < 1e-13
    assert abs(quad_gauss(lambda z: max(z, 0.0), 1.0, (0.0,)) - 1 / SQRT_2PI) < 1e-14


# Tolerance for the fast path against quad: the quadrature is exact to ~1e-15 relative
# (analytic pieces, 32-node Gauss-Legendre on steps <= 1/2); the measured worst is
# 1.8e-13 (softplus c_4 at sigma 4, where torch's softplus returns z beyond z = 20, an
# error of e^-20 that quad's logaddexp does not make). Values reach 192 (quadratic
# alpha_22 at sigma 4), so a relative part covers rounding in the large ones.
ATOL, RTOL = 1e-11, 1e-12


@pytest.mark.parametrize("sigma", SIGMAS)
@pytest.mark.parametrize("name", BUILTINS)
def test_alphas_match_scipy_quad(name: str, sigma: float) -> None:
    act = acts.get(name)
    _, dphi = REFERENCE[name]
    got = acts.alphas(name, sigma)
    assert sorted(got) == [(1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)]
    keys = sorted(got)
    expected = [
        quad_gauss(lambda z, i=i, j=j: dphi(sigma * z) ** i * z**j, sigma, act.kinks)
        for i, j in keys
    ]
    assert_close([got[k] for k in keys], expected, rtol=RTOL, atol=ATOL, what=f"{name} alphas")
    # alpha(name, i, j, sigma) is the same moment one at a time, and extends to other orders.
    for i, j in keys:
        assert acts.alpha(name, i, j, sigma) == got[(i, j)]
    assert_close(
        acts.alpha(name, 1, 3, sigma),
        quad_gauss(lambda z: dphi(sigma * z) * z**3, sigma, act.kinks),
        rtol=RTOL,
        atol=ATOL,
        what=f"{name} alpha_13",
    )


@pytest.mark.parametrize("sigma", SIGMAS)
@pytest.mark.parametrize("name", BUILTINS)
def test_hermite_matches_scipy_quad(name: str, sigma: float) -> None:
    act = acts.get(name)
    phi, _ = REFERENCE[name]
    got = [acts.hermite(name, j, sigma) for j in range(5)]
    expected = [
        quad_gauss(lambda z, j=j: phi(sigma * z) * special.eval_hermitenorm(j, z), sigma, act.kinks)
        for j in range(5)
    ]
    assert_close(got, expected, rtol=RTOL, atol=ATOL, what=f"{name} c_0..c_4")


@pytest.fixture(scope="module")
def normal_powers() -> dict[int, torch.Tensor]:
    """z^k, k = 0, 1, 2, 4, for 2e6 standard normal samples (fixed seed)."""
    gen = torch.Generator().manual_seed(20170601)
    z = torch.randn(2_000_000, generator=gen, dtype=torch.float64)
    z2 = z * z
    return {0: torch.ones_like(z), 1: z, 2: z2, 4: z2 * z2}


@pytest.mark.parametrize("sigma", SIGMAS)
@pytest.mark.parametrize("name", BUILTINS)
def test_alphas_match_monte_carlo(name: str, sigma: float, normal_powers) -> None:
    """Each alpha within 5 sample standard errors of its Monte Carlo mean (2e6 samples).

    A correct value lands outside 5 standard errors with probability 6e-7 per moment
    (180 here; the seed is fixed, so the outcome is too: the worst is 1.7 standard
    errors). An error of 5% in any moment above 1e-3 is >= 10 standard errors. The 1e-12
    covers moments with zero variance (linear alpha_10 = 1 exactly: the sample mean has
    no error while the quadrature has rounding).
    """
    zp = normal_powers
    n = zp[1].numel()
    g = acts.get(name).dphi(sigma * zp[1])
    g_pow = {1: g, 2: g * g}
    g_pow[4] = g_pow[2] * g_pow[2]
    got = acts.alphas(name, sigma)
    for (i, j), value in got.items():
        # Sample of x = phi'^i z^j: mean E x and E x^2 by dot products (no n-sized copies).
        mean = float(g_pow[i] @ zp[j]) / n
        mean_sq = float(g_pow[2 * i] @ zp[2 * j]) / n
        se = math.sqrt(max(mean_sq - mean * mean, 0.0) / (n - 1))
        assert abs(value - mean) <= 5 * se + 1e-12, (
            f"{name} alpha_{i}{j}({sigma}): {value!r} vs Monte Carlo {mean!r} +- {se:.2e}"
        )


@pytest.mark.parametrize("sigma", [0.01, 0.3, 1.0, 4.0, 100.0])
def test_closed_form_alphas(sigma: float) -> None:
    s = sigma
    # relu' = 1{z > 0} at every sigma: E 1 = 1/2, E z = 1/sqrt(2 pi), E z^2 = 1/2 on z > 0.
    half, m1 = 0.5, 1 / SQRT_2PI
    relu = acts.alphas("relu", s)
    expected = {(1, 0): half, (1, 1): m1, (1, 2): half, (2, 0): half, (2, 1): m1, (2, 2): half}
    # Rounding of sums of ~1e5 weights (sigma 100): measured <= 1e-15.
    keys = sorted(expected)
    assert_close([relu[k] for k in keys], [expected[k] for k in keys], what="relu alphas")
    # quadratic' = 2 s z: E 2sz z^j = 2s E z^(j+1); E (2sz)^2 z^j = 4 s^2 E z^(j+2).
    quad = acts.alphas("quadratic", s)
    expected = {(1, 0): 0, (1, 1): 2 * s, (1, 2): 0, (2, 0): 4 * s**2, (2, 1): 0, (2, 2): 12 * s**2}
    assert_close(
        [quad[k] for k in keys],
        [expected[k] for k in keys],
        rtol=1e-12,
        atol=1e-13 * max(1.0, s**2),  # zeros by symmetry: rounding of terms up to 12 s^2
        what="quadratic alphas",
    )


@pytest.mark.parametrize("sigma", [0.01, 0.3, 1.0, 4.0, 100.0])
def test_closed_form_hermite(sigma: float) -> None:
    s = sigma
    # relu(s z) = s relu(z); with E[z^k 1{z > 0}] = (k - 1)!! / 2 (k even) or
    # (k - 1)!! / sqrt(2 pi) (k odd): c_0 = s / sqrt(2 pi), c_1 = s / 2,
    # c_2 = s (2 - 1) / sqrt(2 pi), c_3 = s (3/2 - 3/2) = 0, c_4 = s (8 - 12 + 3) / sqrt(2 pi).
    relu = [acts.hermite("relu", j, s) for j in range(5)]
    expected = [s / SQRT_2PI, s / 2, s / SQRT_2PI, 0.0, -s / SQRT_2PI]
    # Values are O(s); rounding of ~1e5 terms (sigma 100) stays below 1e-14 s.
    assert_close(relu, expected, rtol=1e-12, atol=1e-13 * s, what="relu c_j")
    # linear: c_1 = s E z^2 = s, and z is orthogonal to He_j for j != 1.
    linear = [acts.hermite("linear", j, s) for j in range(5)]
    assert_close(linear, [0.0, s, 0.0, 0.0, 0.0], rtol=1e-12, atol=1e-13 * s, what="linear c_j")
    # quadratic: s^2 z^2 = s^2 (He_2 + He_0), E He_2^2 = 2: c_0 = s^2, c_2 = 2 s^2.
    quadratic = [acts.hermite("quadratic", j, s) for j in range(5)]
    assert_close(
        quadratic,
        [s**2, 0.0, 2 * s**2, 0.0, 0.0],
        rtol=1e-12,
        atol=1e-13 * s**2,
        what="quadratic c_j",
    )


def test_softplus_hermite_exact_at_large_sigma() -> None:
    """softplus = relu + log(1 + e^-|z|), an even function plus relu: c_3 = 0 exactly."""
    s = 10.0
    phi, _ = REFERENCE["softplus"]
    got = [acts.hermite("softplus", j, s) for j in range(5)]
    expected = [
        quad_gauss(lambda z, j=j: phi(s * z) * special.eval_hermitenorm(j, z), s, (0.0,))
        for j in range(5)
    ]
    assert abs(got[3]) < 1e-13
    # Same tolerance as at sigma <= 4 (quadrature accuracy does not depend on sigma).
    assert_close(got, expected, rtol=RTOL, atol=1e-13, what="softplus c_j at sigma 10")


# rho ------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.01, 0.1, 1.0, 10.0, 100.0])
def test_relu_rho_is_scale_free(sigma: float) -> None:
    # Measured worst: 1.4e-15 (sigma 100, ~1.7e5 nodes of rounding).
    assert abs(acts.rho("relu", sigma) - RELU_RHO) <= 1e-13


@pytest.mark.parametrize("slope", [0.01, 0.2, 0.5])
def test_leaky_relu_rho_is_scale_free(slope: float) -> None:
    """phi' = a + (1 - a) 1{z > 0}: the two residual variances scale by (1 - a)^2 and the
    third term is ((1 + a) / 2)^2 - (1 - a)^2 / (2 pi), larger, so rho = (1 - a)^2 rho_relu."""
    name = "leaky_relu" if slope == 0.01 else f"leaky_relu:{slope}"
    values = [acts.rho(name, s) for s in (0.05, 0.5, 1.0, 7.0, 30.0)]
    assert_close(values, [(1 - slope) ** 2 * RELU_RHO] * 5, rtol=0, atol=1e-13, what=name)


def test_squared_relu_rho_scales_as_sigma_squared() -> None:
    # phi' = 2 relu(z) at sigma 1: alpha_10 = 2/sqrt(2 pi), alpha_11 = 1, alpha_12 =
    # 4/sqrt(2 pi): the third term 8/(2 pi) - 1 = 4/pi - 1 is the smallest (vs 1 - 2/pi
    # and 5 - 8/pi). phi'(s z) = s phi'(z) makes every term scale as s^2.
    rho1 = acts.rho("squared_relu", 1.0)
    assert_close(rho1, 4 / math.pi - 1, rtol=1e-13, atol=0, what="squared_relu rho(1)")
    sigmas = [0.1, 0.5, 3.0, 10.0]
    got = [acts.rho("squared_relu", s) for s in sigmas]
    # Relative 1e-12: each side is a sum of ~1e4 rounded terms (measured 6e-16).
    assert_close(got, [s**2 * rho1 for s in sigmas], rtol=1e-12, atol=0, what="s^2 rho(1)")


# phi(z) = A erf(beta z): name -> (A, beta).
ERFS = {
    "erf": (1.0, 1.0),
    "erf_sqrt2": (1.0, 1 / math.sqrt(2)),
    "erf_zhong": (math.sqrt(math.pi) / 2, 1.0),
}


def erf_alphas(amp: float, beta: float, sigma: float) -> dict[tuple[int, int], float]:
    """Closed forms: phi'(sigma z) = c e^(-b z^2), c = A beta 2 / sqrt(pi), b = (beta sigma)^2,
    and E[z^j e^(-i b z^2)] = (1 + 2 i b)^(-1/2), 0, (1 + 2 i b)^(-3/2) for j = 0, 1, 2."""
    c, b = amp * beta * 2 / math.sqrt(math.pi), (beta * sigma) ** 2
    return {
        (i, j): c**i * (0.0 if j == 1 else (1 + 2 * i * b) ** (-(j + 1) / 2))
        for i in (1, 2)
        for j in (0, 1, 2)
    }


@pytest.mark.parametrize("sigma", [0.01, 0.3, 1.0, 4.0, 100.0])
@pytest.mark.parametrize("name", sorted(ERFS))
def test_erf_alphas_and_rho_closed_forms(name: str, sigma: float) -> None:
    """Zhong et al. (2017) list the moments of the erf with phi'(z) = e^(-z^2) in closed
    form; here they are for all three scalings. With alpha_11 = 0:
    rho = min(alpha_20 - alpha_10^2, alpha_22 - alpha_12^2, alpha_10 alpha_12)."""
    a = erf_alphas(*ERFS[name], sigma)
    got = acts.alphas(name, sigma)
    keys = sorted(a)
    # entire integrands on a converged Gauss-Legendre grid: rounding only (measured 1e-16)
    assert_close([got[k] for k in keys], [a[k] for k in keys], rtol=1e-13, atol=1e-15, what=name)
    terms = [
        a[(2, 0)] - a[(1, 0)] ** 2,
        a[(2, 2)] - a[(1, 2)] ** 2,
        a[(1, 0)] * a[(1, 2)],
    ]
    # the closed-form terms cancel (~1e-16 of alpha_20); the computed ones do not
    assert_close(list(acts.rho_terms(name, sigma)), terms, rtol=1e-12, atol=1e-15, what=name)
    assert_close(acts.rho(name, sigma), min(terms), rtol=1e-12, atol=1e-15, what=f"{name} rho")


def test_erf_rho_at_one_by_name() -> None:
    """rho(1) of the three error functions, from the closed forms above.

    erf_zhong: min(5^(-1/2) - 1/3, 5^(-3/2) - 1/27, 1/9) = 5^(-3/2) - 1/27 = 0.0524057;
    erf = (2 / sqrt pi)^2 = 4 / pi times that at the same sigma: 0.0667250;
    erf_sqrt2: (2 / pi) rho_zhong(1 / sqrt 2) = (2 / pi)(3^(-3/2) - 1/8) = 0.0429401, the
    value the name "erf" gave before it meant erf(z).
    """
    zhong = 5**-1.5 - 1 / 27
    assert_close(acts.rho("erf_zhong", 1.0), zhong, rtol=1e-12, atol=0, what="erf_zhong")
    assert_close(acts.rho("erf", 1.0), 4 / math.pi * zhong, rtol=1e-12, atol=0, what="erf")
    old = 2 / math.pi * (3**-1.5 - 1 / 8)
    assert_close(acts.rho("erf_sqrt2", 1.0), old, rtol=1e-12, atol=0, what="erf_sqrt2")
    assert abs(old - 0.0429401) < 1e-7 and abs(acts.rho("erf", 1.0) - 0.0667250) < 1e-7


@pytest.mark.parametrize("sigma", [0.01, 0.1, 1.0, 10.0, 100.0])
def test_linear_rho_is_exactly_zero(sigma: float) -> None:
    assert acts.rho("linear", sigma) == 0.0
    t1, t2, _ = acts.rho_terms("linear", sigma)
    assert t1 == 0.0 and t2 == 0.0


@pytest.mark.parametrize("sigma", [0.1, 1.0, 3.0, 10.0])
def test_quadratic_rho_is_negative(sigma: float) -> None:
    # phi' = 2 s z: alpha_10 = alpha_12 = 0, alpha_11 = 2 s: third term -4 s^2, the others
    # 0 and 8 s^2.
    got = acts.rho("quadratic", sigma)
    assert got <= 0
    assert_close(got, -4 * sigma**2, rtol=1e-12, atol=0, what="quadratic rho")
    assert_close(
        list(acts.rho_terms("quadratic", sigma)),
        [0.0, 8 * sigma**2, -4 * sigma**2],
        rtol=1e-12,
        atol=1e-13 * sigma**2,
        what="quadratic rho terms",
    )


@pytest.mark.parametrize("sigma", SIGMAS)
@pytest.mark.parametrize("name", BUILTINS)
def test_rho_terms_match_textbook_formulas(name: str, sigma: float) -> None:
    a = acts.alphas(name, sigma)
    textbook = [
        a[(2, 0)] - a[(1, 0)] ** 2 - a[(1, 1)] ** 2,
        a[(2, 2)] - a[(1, 1)] ** 2 - a[(1, 2)] ** 2,
        a[(1, 0)] * a[(1, 2)] - a[(1, 1)] ** 2,
    ]
    terms = acts.rho_terms(name, sigma)
    # The textbook form cancels: its rounding is ~eps times the moments (<= 192, quadratic
    # at sigma 4), i.e. <= 1e-13; the residual-variance form has no cancellation.
    scale = max(1.0, a[(2, 0)] + a[(2, 2)])
    assert_close(list(terms), textbook, rtol=1e-12, atol=1e-12 * scale, what=f"{name} terms")
    assert terms[0] >= 0 and terms[1] >= 0  # variances
    assert acts.rho(name, sigma) == min(terms)


@pytest.mark.parametrize("bad", [0, 0.0, -1.0, math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(
    "call",
    [
        lambda s: acts.rho("relu", s),
        lambda s: acts.rho_terms("tanh", s),
        lambda s: acts.alphas("relu", s),
        lambda s: acts.alpha("relu", 1, 0, s),
        lambda s: acts.hermite("relu", 1, s),
    ],
    ids=["rho", "rho_terms", "alphas", "alpha", "hermite"],
)
def test_bad_sigma_raises(call, bad: float) -> None:
    with pytest.raises(ValueError, match="sigma must be a positive finite number"):
        call(bad)


@pytest.mark.parametrize(
    "call",
    [
        lambda: acts.alpha("relu", -1, 0, 1.0),
        lambda: acts.alpha("relu", 1, 0.5, 1.0),
        lambda: acts.hermite("relu", -1, 1.0),
        lambda: acts.hermite("relu", 1.5, 1.0),
        lambda: acts.rho("nope", 1.0),
    ],
)
def test_bad_orders_and_names_raise(call) -> None:
    with pytest.raises(ValueError):
        call()


def softsign_np(z: float) -> float:
    return z / (1 + abs(z))


def softsign_d_np(z: float) -> float:
    return 1 / (1 + abs(z)) ** 2


def hinge_np(z: float) -> float:
    return max(z - 0.5, 0.0)


def hinge_d_np(z: float) -> float:
    return 1.0 if z > 0.5 else 0.0


USER = {
    # name: (phi, phi', kinks, numpy phi, numpy phi')
    "softsign": (
        lambda z: z / (1 + z.abs()),
        lambda z: 1 / (1 + z.abs()) ** 2,
        (0.0,),
        softsign_np,
        softsign_d_np,
    ),
    # A kink away from 0: 0.5 / sigma is not a piece edge at sigma 0.3 and 1.25.
    "hinge": (
        lambda z: torch.relu(z - 0.5),
        lambda z: (z > 0.5).to(z.dtype),
        (0.5,),
        hinge_np,
        hinge_d_np,
    ),
}


@pytest.mark.parametrize("name", sorted(USER))
def test_user_activation_moments_are_split_at_its_kinks(name: str) -> None:
    """A registered activation goes through the same quadrature, split at its kinks."""
    phi, dphi, kinks, phi_np, dphi_np = USER[name]
    try:
        acts.register(name, phi, dphi, kinks=kinks)
        for sigma in (0.3, 1.25, 4.0):
            got = acts.alphas(name, sigma)
            keys = sorted(got)
            expected = [
                quad_gauss(lambda z, i=i, j=j, s=sigma: dphi_np(s * z) ** i * z**j, sigma, kinks)
                for i, j in keys
            ]
            assert_close([got[k] for k in keys], expected, rtol=RTOL, atol=ATOL, what="alphas")
            c = [acts.hermite(name, j, sigma) for j in range(5)]
            expected = [
                quad_gauss(
                    lambda z, j=j, s=sigma: phi_np(s * z) * special.eval_hermitenorm(j, z),
                    sigma,
                    kinks,
                )
                for j in range(5)
            ]
            assert_close(c, expected, rtol=RTOL, atol=ATOL, what=f"{name} c_j")
        if name == "softsign":  # odd phi: c_0 = c_2 = c_4 = 0 structurally
            assert acts.hermite_orders(name) == (1, 3)
    finally:
        acts.unregister(name)


# properties and reports ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "exponent"),
    [
        ("relu", 0),
        ("leaky_relu", 0),
        ("leaky_relu:0.2", 0),
        ("squared_relu", 1),
        ("tanh", 0),
        ("sigmoid", 0),
        ("erf", 0),
        ("erf_sqrt2", 0),
        ("erf_zhong", 0),
    ],
)
def test_paper_activations_have_p1_p2_p3(name: str, exponent: int) -> None:
    props = acts.properties(name)
    assert props["p1"] is True and props["p1_exponent"] == exponent
    assert props["p2"] is True and props["rho_min"] > 0
    assert props["p3"] is True


def test_cubic_fails_p3_only() -> None:
    """phi = z^3: phi' = 3 z^2 >= 0 grows as |z|^2 (P1 with p = 2); phi'' = 6 z unbounded.

    rho: phi'(s z) = 3 s^2 z^2 gives the terms 9 s^4 Var(z^2) = 18 s^4,
    9 s^4 E(z^3 - 3 z)^2 = 54 s^4 and 3 s^2 * 9 s^2 - 0 = 27 s^4; rho = 18 s^4 > 0.
    """
    try:
        acts.register("cubic", lambda z: z**3, lambda z: 3 * z * z, lambda z: 6 * z)
        props = acts.properties("cubic")
        assert (props["p1"], props["p1_exponent"], props["p2"], props["p3"]) == (
            True,
            2,
            True,
            False,
        )
        for sigma in (0.5, 2.0):
            assert_close(
                list(acts.rho_terms("cubic", sigma)),
                [18 * sigma**4, 54 * sigma**4, 27 * sigma**4],
                rtol=1e-12,
                atol=0,
                what="cubic rho terms",
            )
        assert acts.hermite_orders("cubic") == (1, 3)  # z^3 = He_3 + 3 He_1
    finally:
        acts.unregister("cubic")


def test_linear_fails_p2_only() -> None:
    props = acts.properties("linear")
    assert (props["p1"], props["p1_exponent"], props["p2"], props["p3"]) == (True, 0, False, True)
    assert props["rho_min"] == 0.0


def test_quadratic_fails_p1_and_p2() -> None:
    props = acts.properties("quadratic")
    assert props["p1"] is False and props["p1_exponent"] is None  # phi' = 2z < 0 for z < 0
    assert props["p2"] is False
    # min over the sigma grid (up to 10) of -4 sigma^2
    assert_close(props["rho_min"], -400.0, rtol=1e-12, atol=0, what="rho_min")
    assert props["p3"] is True


def test_gelu_fails_p1_because_its_derivative_dips_below_zero() -> None:
    # Independent check: Phi(-1.5) - 1.5 phi(-1.5) = 0.0668 - 0.1943 < 0.
    z = -1.5
    assert special.ndtr(z) + z * math.exp(-z * z / 2) / SQRT_2PI < -0.1
    assert float(acts.get("gelu").dphi(torch.tensor([z], dtype=torch.float64))) < -0.1
    props = acts.properties("gelu")
    assert props["p1"] is False and props["p1_exponent"] is None
    assert props["p3"] is True


@pytest.mark.parametrize(
    ("name", "orders"),
    [
        ("relu", (1, 2, 4)),
        ("leaky_relu", (1, 2, 4)),
        ("tanh", (1, 3)),
        ("sigmoid", (1, 3)),
        ("erf", (1, 3)),
        ("erf_sqrt2", (1, 3)),
        ("erf_zhong", (1, 3)),
        ("squared_relu", (1, 2, 3)),
        ("linear", (1,)),
        ("quadratic", (2,)),
    ],
)
def test_hermite_orders(name: str, orders: tuple[int, ...]) -> None:
    assert acts.hermite_orders(name) == orders


def test_reports_cover_every_activation_with_finite_rho() -> None:
    reports = acts.reports()
    assert [r.name for r in reports] == acts.names()
    for r in reports:
        assert list(r.rho) == ["0.1", "1", "10"]
        values = [*r.rho.values(), r.rho_min]
        assert all(math.isfinite(v) for v in values), r
        assert r.rho_min <= min(r.rho.values())  # the grid includes 0.1, 1 and 10
        assert r.as_dict()["hermite_orders"] == list(r.hermite_orders)
        assert r.rho == {k: acts.rho(r.name, float(k)) for k in r.rho}
