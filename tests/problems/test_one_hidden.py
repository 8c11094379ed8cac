"""One-hidden-layer regression with a planted teacher: loss, gradient and Hessian against
autograd of an independently written loss, per-row data (``select``), the planted
teachers, bad input, and the symmetry-aware recovery error."""

from __future__ import annotations

import importlib
import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope.problems import OneHiddenRegression, planted, recovery_error

DT = torch.float64
# Fast path vs autograd of the reference below: the same float64 quantities (sums over
# n <= 40 samples and k <= 3 neurons) in a different order of operations, so they agree
# to rounding, ~n eps |value| ~ 1e-14; the default float64 tolerance (rtol = atol =
# 1e-12) leaves two orders of magnitude of slack and still catches any wrong factor.
AUTOGRAD = {"rtol": 1e-12, "atol": 1e-12}

# The activations written out with plain torch ops, independent of landscope's registry.
PHI = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "squared_relu": lambda z: torch.clamp(z, min=0.0) ** 2,
    "sigmoid": lambda z: 1.0 / (1.0 + torch.exp(-z)),
    "softplus": lambda z: torch.log1p(torch.exp(z)),
    "leaky_relu": lambda z: torch.maximum(z, 0.01 * z),
    "softplus:4": lambda z: torch.log1p(torch.exp(4 * z)) / 4,
}
ACTS = list(PHI)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _reference_loss(
    W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, v: torch.Tensor, act: str
) -> torch.Tensor:
    """One run: 1/(2n) sum_s (sum_i v_i phi(w_i . x_s) - y_s)^2, neuron by neuron."""
    phi = PHI[act]
    out = torch.zeros_like(y)
    for i in range(W.shape[0]):
        out = out + v[i] * phi((X * W[i]).sum(1))
    return 0.5 * ((out - y) ** 2).sum() / y.shape[0]


def _problem(act: str, seeds=(0, 1, 2), d: int = 4, k: int = 3, n: int = 40):
    p = planted(d, k, 2.0, n, list(seeds), act)
    return p, OneHiddenRegression(p.X, p.y, p.v, act)


def _points(prob: OneHiddenRegression, p, seed: int) -> torch.Tensor:
    """Rows between the teacher and a random start: residuals of order one, none zero."""
    start = prob.init(p.W.shape[0], generator=_gen(seed))
    return 0.5 * p.W.flatten(1) + start


# ------------------------------------------------------------- loss, gradient, Hessian


@pytest.mark.parametrize("act", ACTS)
def test_loss_and_grad_match_autograd(act: str) -> None:
    p, prob = _problem(act)
    theta = _points(prob, p, seed=7)
    R, k, d = p.W.shape
    ref_loss, ref_grad = [], []
    for r in range(R):
        th = theta[r].clone().requires_grad_(True)
        f = _reference_loss(th.reshape(k, d), p.X[r], p.y[r], p.v[r], act)
        (g,) = torch.autograd.grad(f, th)
        ref_loss.append(f.detach())
        ref_grad.append(g)
    ref_loss, ref_grad = torch.stack(ref_loss), torch.stack(ref_grad)
    assert float(ref_loss.min()) > 1e-3  # away from the minimum: the check has teeth
    loss, grad = prob.loss_and_grad(theta)
    assert_close(loss, ref_loss, **AUTOGRAD, what=f"{act} loss")
    assert_close(grad, ref_grad, **AUTOGRAD, what=f"{act} grad")
    assert_close(prob.loss(theta), ref_loss, **AUTOGRAD, what=f"{act} loss()")
    assert_close(prob.grad(theta), ref_grad, **AUTOGRAD, what=f"{act} grad()")
    # residuals, scaled by 1/sqrt(n): the loss is |r|^2 / 2
    res = prob.residuals(theta)
    assert res.shape == (R, p.X.shape[1])
    assert_close(0.5 * res.square().sum(1), ref_loss, **AUTOGRAD, what="residuals")


@pytest.mark.parametrize("act", ACTS)
def test_teacher_is_a_global_minimizer(act: str) -> None:
    """Noiseless, realizable data: zero residuals and zero gradient at W = W*."""
    p, prob = _problem(act)
    loss, grad = prob.loss_and_grad(p.W.flatten(1))
    # the teacher's outputs are recomputed in the same float64 operations: exact up to
    # rounding of order eps |y| ~ 1e-16, so the loss is below 1e-28
    assert float(loss.max()) < 1e-28
    assert float(grad.abs().max()) < 1e-13
    assert prob.global_min == 0.0


@pytest.fixture
def jvp_ready() -> None:
    """Load torch's forward-AD decompositions with the DeprecationWarning silenced, so that
    the comparison below does not depend on test order (see the test after it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        importlib.import_module("torch._decomp.decompositions_for_jvp")


@pytest.mark.parametrize("act", ["relu", "tanh", "squared_relu", "sigmoid", "softplus:4"])
def test_hessian_and_hvp_match_autograd(act: str, jvp_ready: None) -> None:
    p, prob = _problem(act, d=3, k=2, n=30)
    theta = _points(prob, p, seed=11)
    R, k, d = p.W.shape
    H = prob.hessian(theta)
    assert H.shape == (R, k * d, k * d)
    vec = torch.randn(R, k * d, generator=_gen(3), dtype=DT)
    for r in range(R):

        def f(th, r=r):
            return _reference_loss(th.reshape(k, d), p.X[r], p.y[r], p.v[r], act)

        ref = torch.autograd.functional.hessian(f, theta[r])
        # second derivatives: one more product of the same O(1) factors, same rounding
        assert_close(H[r], ref, **AUTOGRAD, what=f"{act} Hessian row {r}")
        _, hv = torch.autograd.functional.hvp(f, theta[r], vec[r])
        assert_close(prob.hvp(theta, vec)[r], hv, **AUTOGRAD, what=f"{act} hvp row {r}")
    if act in ("tanh", "sigmoid"):  # smooth: the phi'' term is present and nonzero
        assert float(H.abs().max()) > 1e-3


def test_shared_data_hessian_and_hvp_match_autograd(jvp_ready: None) -> None:
    """One data set for many rows (the least-symmetry study's setting)."""
    p, _ = _problem("softplus:4", seeds=(0,), d=4, k=3, n=50)
    prob = OneHiddenRegression(p.X[0], p.y[0], p.v[0], "softplus:4")
    theta = torch.randn(5, 12, generator=_gen(7), dtype=DT)
    vec = torch.randn(5, 12, generator=_gen(8), dtype=DT)
    H = prob.hessian(theta)
    assert H.shape == (5, 12, 12)
    hv = prob.hvp(theta, vec)
    for r in range(5):

        def f(th):
            return _reference_loss(th.reshape(3, 4), p.X[0], p.y[0], p.v[0], "softplus:4")

        # same O(1) factors as above: agreement to rounding
        assert_close(H[r], torch.autograd.functional.hessian(f, theta[r]), **AUTOGRAD,
                     what=f"shared Hessian row {r}")  # fmt: skip
        assert_close(hv[r], H[r] @ vec[r], **AUTOGRAD, what=f"shared hvp row {r}")


def test_select_gives_the_rows_of_the_full_problem() -> None:
    p, prob = _problem("tanh", seeds=(0, 1, 2, 3))
    theta = _points(prob, p, seed=5)
    rows = torch.tensor([3, 0, 2])
    sub = prob.select(rows)
    assert sub.X.shape[0] == 3 and sub.n_params == prob.n_params
    # the same rows' arithmetic in a smaller batch: equal to rounding
    assert_close(sub.loss(theta[rows]), prob.loss(theta)[rows], what="select loss")
    assert_close(sub.grad(theta[rows]), prob.grad(theta)[rows], what="select grad")
    # and the same as a problem built from those runs' seeds only
    q = planted(4, 3, 2.0, 40, [3], "tanh")
    alone = OneHiddenRegression(q.X, q.y, q.v, "tanh")
    assert_close(alone.loss(theta[3:4]), prob.loss(theta)[3:4], what="rebuilt row")
    # the full problem is untouched
    assert prob.X.shape[0] == 4


def test_init_shapes_and_scale() -> None:
    p, prob = _problem("relu", seeds=(0,), d=50, k=3, n=5)
    th = prob.init(200, generator=_gen(0))
    assert th.shape == (200, 150) and th.dtype == DT
    assert torch.equal(th, prob.init(200, generator=_gen(0)))
    # every w_i ~ N(0, I / d): E|w_i|^2 = 1; the mean over 600 neurons of |w|^2 (variance
    # 2 / d = 0.04 each) has standard error 0.008, so 1 +- 0.05 is a > 6-se band
    sq = th.reshape(200, 3, 50).square().sum(-1)
    assert abs(float(sq.mean()) - 1.0) < 0.05


def test_hessian_first_call_under_warnings_as_errors() -> None:
    """Any forward-AD use in ``hessian`` would trip torch 2.13's lazy, deprecated load of its
    forward-AD decompositions (through ``torch.jit.script``) on the first jvp in a
    process; under ``-W error`` (this project's pytest setting) that DeprecationWarning
    aborts the import. ``hessian`` is now in closed form; this guards against a return to
    torch.func without the quiet preload (``_load_jvp_decompositions``). A fresh
    interpreter shows it independently of which test loaded the module first here."""
    code = (
        "from landscope.problems import planted, OneHiddenRegression\n"
        "p = planted(3, 2, 2.0, 10, [0], 'tanh')\n"
        "OneHiddenRegression(p.X, p.y, p.v, 'tanh').hessian(p.W.flatten(1))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]


# --------------------------------------------------------------------------- planted


@pytest.mark.parametrize(("d", "k", "kappa"), [(5, 3, 4.0), (4, 4, 1.0), (6, 1, 3.0)])
def test_planted_shapes_spectrum_and_labels(d: int, k: int, kappa: float) -> None:
    n, seeds = 25, [4, 9]
    p = planted(d, k, kappa, n, seeds, "tanh")
    assert p.W.shape == (2, k, d) and p.v.shape == (2, k)
    assert p.X.shape == (2, n, d) and p.y.shape == (2, n)
    assert all(t.dtype == DT for t in (p.W, p.v, p.X, p.y))
    # singular values: products of orthonormal factors, accurate to a few eps
    expected = np.linspace(1.0, 1.0 / kappa, k)
    for r in range(2):
        s = np.linalg.svd(p.W[r].numpy(), compute_uv=False)
        assert_close(s, expected, what="singular values of W*")
    assert set(p.v.flatten().tolist()) <= {-1.0, 1.0}
    # labels: the teacher network, evaluated sample by sample in numpy
    Xn, Wn, vn = p.X.numpy(), p.W.numpy(), p.v.numpy()
    y = np.array([[vn[r] @ np.tanh(Wn[r] @ Xn[r, s]) for s in range(n)] for r in range(2)])
    assert_close(p.y, y, what="teacher labels")


def test_planted_signs_are_mixed_by_default_and_ones_without() -> None:
    p = planted(8, 8, 2.0, 3, list(range(6)), "relu")
    assert (p.v == 1).any() and (p.v == -1).any()
    q = planted(8, 8, 2.0, 3, list(range(6)), "relu", signs=False)
    assert torch.equal(q.v, torch.ones(6, 8, dtype=DT))
    # the sign draw comes after W and before X: W* is the same either way
    assert torch.equal(q.W, p.W)


def test_planted_row_depends_only_on_its_seed() -> None:
    two = planted(5, 3, 2.0, 30, [3, 5], "sigmoid")
    one = planted(5, 3, 2.0, 30, [5], "sigmoid")
    for f in ("W", "v", "X"):
        assert torch.equal(getattr(two, f)[1], getattr(one, f)[0]), f
    # labels go through one batched matmul: the same row's products, equal to rounding
    assert_close(two.y[1], one.y[0], what="labels")
    other = planted(5, 3, 2.0, 30, [4], "sigmoid")
    assert not torch.equal(other.W[0], one.W[0])


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((3, 4, 2.0, 10), "k <= d"),
        ((3, 0, 2.0, 10), "k <= d"),
        ((3, 2, 0.5, 10), "kappa"),
        ((3, 2, math.nan, 10), "kappa"),
        ((3, 2, math.inf, 10), "kappa"),
        ((3, 2, 2.0, 0), "sample"),
    ],
)
def test_planted_rejects_bad_sizes(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        planted(*args, [0])


def test_bad_input_raises() -> None:
    with pytest.raises(ValueError, match="unknown activation"):
        planted(3, 2, 2.0, 10, [0], "nope")
    p, prob = _problem("relu", seeds=(0, 1))
    with pytest.raises(ValueError, match="unknown activation"):
        OneHiddenRegression(p.X, p.y, p.v, "nope")
    X = p.X.clone()
    X[1, 3, 2] = math.nan
    with pytest.raises(ValueError):
        OneHiddenRegression(X, p.y, p.v)
    y = p.y.clone()
    y[0, 0] = math.inf
    with pytest.raises(ValueError):
        OneHiddenRegression(p.X, y, p.v)
    with pytest.raises(ValueError):
        OneHiddenRegression(p.X[0], p.y, p.v)  # X not (R, n, d)
    with pytest.raises(ValueError, match="disagree"):
        OneHiddenRegression(p.X, p.y[:, :-1], p.v)
    with pytest.raises(ValueError, match="disagree"):
        OneHiddenRegression(p.X, p.y, p.v[:1])
    good = p.W.flatten(1)
    for bad in (good[:1], good[:, :-1], good.reshape(2, 3, -1)):
        for method in (prob.loss, prob.grad, prob.loss_and_grad, prob.residuals, prob.hessian):
            with pytest.raises(ValueError, match="shape"):
                method(bad)


# -------------------------------------------------------------------- recovery error


def _perm_and_flip(W, v, perm, flip):
    """Student = teacher with neurons permuted and (w_i, v_i) -> (-w_i, -v_i) where flip."""
    s = torch.where(torch.as_tensor(flip), -1.0, 1.0).to(DT)
    return W[:, perm] * s[None, :, None], v[:, perm] * s[None, :]


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_recovery_error_is_zero_under_permutations(act: str) -> None:
    p = planted(6, 4, 3.0, 2, [0, 1, 2], act)
    W, v = _perm_and_flip(p.W, p.v, [2, 0, 3, 1], [False] * 4)
    err = recovery_error(W, v, p.W, p.v, act)
    assert err.shape == (3,) and err.dtype == DT
    # identical vectors: every matched distance is exactly 0
    assert float(err.abs().max()) == 0.0


def test_recovery_error_sign_symmetry_only_for_odd_activations() -> None:
    p = planted(6, 4, 3.0, 2, [0, 1, 2], "tanh")
    # tanh is odd: (w, v) and (-w, -v) are the same neuron; check the function agrees
    for flip in ([True] * 4, [True, False, True, False]):
        W, v = _perm_and_flip(p.W, p.v, [1, 3, 0, 2], flip)
        assert float(recovery_error(W, v, p.W, p.v, "tanh").abs().max()) == 0.0
        same = OneHiddenRegression(p.X, p.y, v, "tanh")
        assert float(same.loss(W.flatten(1)).max()) < 1e-28
    # relu is not: (-W*, -v*) computes another function, and the error is at least 1
    # (every matched pair has a wrong sign, each paying the teacher neuron's squared norm)
    W, v = -p.W, -p.v
    err = recovery_error(W, v, p.W, p.v, "relu")
    assert float(err.min()) >= 1.0
    assert float(recovery_error(W, v, p.W, p.v, "tanh").abs().max()) == 0.0
    q = planted(6, 4, 3.0, 200, [0, 1, 2], "relu")
    assert float(OneHiddenRegression(q.X, q.y, -q.v, "relu").loss(-q.W.flatten(1)).min()) > 1e-2
    # flipping W alone is never a symmetry, odd or not
    assert float(recovery_error(-p.W, p.v, p.W, p.v, "tanh").min()) > 0.5


def test_recovery_error_scales_linearly_with_a_perturbation() -> None:
    p = planted(5, 3, 2.0, 2, [0, 1], "relu")
    delta = torch.randn(p.W.shape, generator=_gen(0), dtype=DT)
    expected = torch.linalg.vector_norm(delta.flatten(1), dim=1) / torch.linalg.vector_norm(
        p.W.flatten(1), dim=1
    )
    for eps in (1e-6, 1e-3, 1e-2):
        # small enough that the identity stays the optimal matching; error ~1e-16 / eps
        # relative from rounding in W* + eps delta, so 1e-9 relative holds for eps >= 1e-6
        err = recovery_error(p.W + eps * delta, p.v, p.W, p.v, "relu")
        assert_close(err, eps * expected, rtol=1e-9, atol=0.0, what=f"eps {eps}")
    # the matching is not the identity when the student's neurons are permuted
    W = (p.W + 1e-3 * delta)[:, [2, 1, 0]]
    err = recovery_error(W, p.v[:, [2, 1, 0]], p.W, p.v, "relu")
    assert_close(err, 1e-3 * expected, rtol=1e-9, atol=0.0, what="permuted")


def test_shared_data_equals_per_row_copies() -> None:
    """One data set X (n, d) for any number of rows gives what R explicit copies give
    (same arithmetic up to broadcasting: rtol 1e-13 for a sum of n = 50 terms), and
    select() leaves the shared data alone."""
    P = planted(4, 3, 2.0, 50, [7], "tanh")
    X, y, v = P.X[0], P.y[0], P.v[0]
    R = 5
    shared = OneHiddenRegression(X, y, v, "tanh")
    copies = OneHiddenRegression(
        X.expand(R, -1, -1).clone(), y.expand(R, -1).clone(), v.expand(R, -1).clone(), "tanh"
    )
    theta = torch.randn(R, 12, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    ls_, gs = shared.loss_and_grad(theta)
    lc, gc = copies.loss_and_grad(theta)
    assert_close(ls_, lc, rtol=1e-13, atol=1e-15, what="shared loss")
    assert_close(gs, gc, rtol=1e-13, atol=1e-15, what="shared grad")
    assert_close(shared.hessian(theta), copies.hessian(theta), rtol=1e-12, atol=1e-14)
    assert shared.select(torch.tensor([0, 2])) is shared
    assert shared.loss(theta[:2]).shape == (2,)
    with pytest.raises(ValueError):
        OneHiddenRegression(X, y[None], v, "tanh")
