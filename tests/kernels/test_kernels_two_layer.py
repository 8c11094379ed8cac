"""The two-layer network of Du et al. (ICLR 2019) and its batched problem ``TwoLayerNTK``.

Hand-written gradient, Hessian-vector products, dense Hessian and Jacobian against
autograd of a plain formula; rows owning data (``select``) against rows alone; the
loss's exact agreement with ||u - y|| (the stopping tests rely on it); the paper's
initialization; the finite-width H(0) against the closed-form H-infinity (Monte Carlo,
in standard errors); argument checks.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import jacrev

from _tolerances import assert_close
from landscope.kernels.two_layer import (
    TwoLayerNTK,
    two_layer_gram,
    two_layer_init,
    two_layer_loss_and_grad,
    two_layer_output,
)
from landscope.problems.capabilities import CAPABILITIES, Residuals, RowData

DT = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _unit_inputs(n: int, d: int, gen: torch.Generator, R: int | None = None) -> torch.Tensor:
    X = torch.randn(*((R,) if R else ()), n, d, generator=gen, dtype=DT)
    return X / torch.linalg.vector_norm(X, dim=-1, keepdim=True)


def _h_inf_relu(X: torch.Tensor) -> torch.Tensor:
    """Closed form (Du et al., eq. 3.1): H_ij = x_i.x_j (pi - arccos(x_i.x_j)) / (2 pi)."""
    K = X @ X.T
    return K * (math.pi - torch.arccos(K.clamp(-1.0, 1.0))) / (2 * math.pi)


def _phi(name: str):
    return torch.relu if name == "relu" else torch.tanh


def _reference_loss(X, y, a, activation):
    """L(W) of one row from its definition, for autograd: W (m, d), X (n, d), a (m,)."""
    m = a.shape[0]

    def loss(w: torch.Tensor) -> torch.Tensor:
        W = w.reshape(m, -1)
        u = (a * _phi(activation)(X @ W.T)).sum(1) / math.sqrt(m)
        return 0.5 * (u - y).square().sum()

    return loss


# -- the functions on W (R, m, d) ------------------------------------------------------


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("shared", [True, False])
def test_hand_gradient_matches_autograd(activation: str, shared: bool) -> None:
    R, m, n, d = 3, 50, 7, 4
    gen = _gen(1)
    X = _unit_inputs(n, d, gen, None if shared else R)
    y = torch.randn(R, n, generator=gen, dtype=DT)
    W, a = two_layer_init(R, m, d, generator=gen)
    loss, G = two_layer_loss_and_grad(X, y, W, a, activation)
    Wg = W.clone().requires_grad_()
    Xb = X.expand(R, n, d)
    u = (a[:, :, None] * _phi(activation)(Wg @ Xb.transpose(1, 2))).sum(1) / math.sqrt(m)
    ref = 0.5 * (u - y).square().sum(1)
    (g,) = torch.autograd.grad(ref.sum(), Wg)
    assert G.shape == (R, m, d) and loss.shape == (R,)
    assert_close(loss, ref.detach(), what="loss")
    # default 1e-12: the same sums in another order (relu'(0) differs only on a null set)
    assert_close(G, g, rtol=1e-12, atol=1e-12 * float(g.abs().max()), what="dL/dW")
    assert_close(two_layer_output(X, W, a, activation), u.detach(), what="u")


def test_init_shapes_and_signs() -> None:
    W0, a = two_layer_init(4, 1000, 3, generator=_gen(0))
    assert W0.shape == (4, 1000, 3) and a.shape == (4, 1000) and W0.dtype == DT
    assert set(a.unique().tolist()) == {-1.0, 1.0}
    # a_r uniform on +-1: the mean of 4000 signs is within 5 standard errors (1/sqrt 4000)
    assert abs(float(a.mean())) < 5 / math.sqrt(4000)
    W1, a1 = two_layer_init(4, 1000, 3, generator=_gen(0))
    assert torch.equal(W0, W1) and torch.equal(a, a1)


def test_gram_h0_approaches_h_infinity() -> None:
    """E H(0) = H-infinity; each entry is (x_i.x_j / m) times a Binomial(m, p_ij) count."""
    n, d, R = 10, 5, 2
    gen = _gen(3)
    X = _unit_inputs(n, d, gen)
    Hinf = _h_inf_relu(X)
    K = X @ X.T
    p = (math.pi - torch.arccos(K.clamp(-1, 1))) / (2 * math.pi)  # P(both patterns on)
    errs = []
    for m in (2**8, 2**12, 2**16):
        W0, a = two_layer_init(R, m, d, generator=gen)
        H0 = two_layer_gram(X, W0, a)
        assert H0.shape == (R, n, n)
        se = K.abs() * torch.sqrt(p * (1 - p) / m)
        z = ((H0 - Hinf).abs() / se.clamp_min(1e-300))[:, se > 0]
        # 6 standard errors: 2 x 3 x 55 entries, and the count is a skewed binomial when
        # p_ij is small (normal tails underestimate it at m = 256)
        assert float(z.max()) < 6, f"m = {m}: |H(0) - H-inf| reaches {float(z.max()):.1f} se"
        errs.append(float((H0 - Hinf).abs().amax()))
    # the error falls like 1/sqrt(m): 16x from m = 2^8 to 2^16; ask for 4x
    assert errs[2] < errs[0] / 4, errs


# -- the problem -----------------------------------------------------------------------


def _problem(shared: str, activation: str = "relu", R: int = 3, m: int = 6, n: int = 5, d: int = 3):
    """A tiny instance; ``shared`` names the data given once for all rows ("Xya": all)."""
    gen = _gen(7)
    X = _unit_inputs(n, d, gen, None if "X" in shared else R)
    y = torch.randn(*(() if "y" in shared else (R,)), n, generator=gen, dtype=DT)
    a = (torch.randint(0, 2, (*(() if "a" in shared else (R,)), m), generator=gen) * 2 - 1).to(DT)
    prob = TwoLayerNTK(X, y, a, activation)
    theta = prob.init(R, generator=gen)
    return prob, theta, (X, y, a)


def _row(data, r: int, R: int):
    X, y, a = data
    return tuple(t if t.ndim == k else t[r] for t, k in zip(data, (2, 1, 1), strict=True))


SHARING = ["Xya", "Xy", "a", ""]


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("shared", SHARING)
def test_problem_against_autograd(shared: str, activation: str) -> None:
    prob, theta, data = _problem(shared, activation)
    R, P = theta.shape
    loss, g = prob.loss_and_grad(theta)
    v = torch.randn(R, P, generator=_gen(8), dtype=DT)
    hv, H = prob.hvp(theta, v), prob.hessian(theta)
    r, J = prob.residuals_and_jacobian(theta)
    assert loss.shape == (R,) and g.shape == hv.shape == (R, P) and H.shape == (R, P, P)
    assert r.shape == (R, prob.n) and J.shape == (R, prob.n, P)
    for i in range(R):
        X, y, a = _row(data, i, R)
        f = _reference_loss(X, y, a, activation)
        what = f"row {i}"
        assert_close(loss[i], f(theta[i]), what=f"loss, {what}")
        assert_close(g[i], torch.func.grad(f)(theta[i]), what=f"grad, {what}")
        Href = jacrev(jacrev(f))(theta[i])  # jacfwd would warn (torch.jit.script)
        assert_close(H[i], Href, what=f"hessian, {what}")
        assert_close(hv[i], Href @ v[i], what=f"hvp, {what}")

        def res(w, X=X, y=y, a=a):
            W = w.reshape(a.shape[0], -1)
            return (a * _phi(activation)(X @ W.T)).sum(1) / math.sqrt(a.shape[0]) - y

        assert_close(J[i], jacrev(res)(theta[i]), what=f"jacobian, {what}")
    assert_close(r, prob.residuals(theta), rtol=0, atol=0, what="residuals")
    assert torch.equal(prob.loss(theta), loss)  # the same operations: bit for bit
    assert torch.equal(prob.grad(theta), g)
    assert_close(0.5 * r.square().sum(1), loss, what="loss = |r|^2 / 2")


@pytest.mark.parametrize("shared", SHARING)
def test_select_restricts_rows_owning_data(shared: str) -> None:
    prob, theta, _ = _problem(shared, R=4)
    assert isinstance(prob, RowData) and isinstance(prob, Residuals)
    caps = {c for c in CAPABILITIES if isinstance(prob, c)}
    assert caps == {RowData, Residuals}
    rows = torch.tensor([3, 1])
    part = prob.select(rows)
    if shared == "Xya":
        assert part is prob  # nothing to restrict: any number of rows
    for fn in ("loss", "grad", "residuals"):
        # a batched product over fewer rows may sum in another order: default 1e-12
        assert_close(getattr(part, fn)(theta[rows]), getattr(prob, fn)(theta)[rows], what=fn)
    # scratch buffers are reused across calls and batch sizes; results never alias them
    loss, g = prob.loss_and_grad(theta)
    keep = loss.clone(), g.clone()
    part.loss_and_grad(theta[rows])
    prob.loss_and_grad(theta.flip(0))
    assert torch.equal(loss, keep[0]) and torch.equal(g, keep[1])
    assert torch.equal(prob.loss_and_grad(theta)[1], g)


def test_loss_gives_the_residual_norm_back_exactly() -> None:
    """loss = fl(||e||^2) / 2: sqrt(2 loss) == ||e|| and loss <= tol * tol / 2 exactly
    when ||e|| <= tol, on every row and at the boundary itself."""
    gen = _gen(11)
    X, a = _unit_inputs(8, 3, gen), (torch.randint(0, 2, (40,), generator=gen) * 2 - 1).to(DT)
    y = torch.randn(500, 8, generator=gen, dtype=DT) * torch.logspace(-6, 3, 500, dtype=DT)[:, None]
    prob = TwoLayerNTK(X, y, a)
    theta = prob.init(500, generator=gen)
    loss = prob.loss(theta)
    norm = torch.linalg.vector_norm(prob.residuals(theta), dim=1)
    assert torch.equal((2 * loss).sqrt(), norm)
    for tol in norm.tolist()[::25]:
        below = torch.nextafter(torch.tensor(tol, dtype=DT), torch.tensor(0.0, dtype=DT))
        for t in (tol, float(below)):
            assert torch.equal(loss <= 0.5 * (t * t), norm <= t)


def test_init_as_batch_and_shapes() -> None:
    prob, theta, _ = _problem("Xya", R=2)
    assert torch.equal(prob.init(2, generator=_gen(5)), prob.init(2, generator=_gen(5)))
    W0, _ = two_layer_init(2, prob.m, prob.d, generator=_gen(5))
    assert torch.equal(prob.init(2, generator=_gen(5)), W0.reshape(2, -1))  # the same W0
    W = theta.reshape(2, prob.m, prob.d)
    for x in (theta, W, theta[0], W[0]):
        assert torch.equal(prob.as_batch(x), theta if x.shape[0] == 2 else theta[:1])
    assert prob.weights(theta).shape == (2, prob.m, prob.d)
    assert prob.n_params == prob.m * prob.d and prob.global_min is None and prob.symmetry is None
    per_row, th, _ = _problem("", R=3)
    with pytest.raises(ValueError, match=r"takes \(3, 18\)"):
        per_row.loss(th[:2])
    with pytest.raises(ValueError, match="theta has shape"):
        prob.as_batch(torch.zeros(5, dtype=DT))


def _bad(**over):
    gen = _gen(0)
    kw = {
        "X": _unit_inputs(5, 3, gen),
        "y": torch.randn(5, generator=gen, dtype=DT),
        "a": torch.ones(4, dtype=DT),
    }
    kw.update(over)
    return lambda: TwoLayerNTK(**kw)


BAD_PROBLEM = [
    ("X has shape", _bad(X=torch.zeros(5, dtype=DT))),
    ("y has shape", _bad(y=torch.zeros(4, dtype=DT))),
    ("a has shape", _bad(a=torch.zeros(2, 2, 2, dtype=DT))),
    ("different numbers of rows", _bad(y=torch.zeros(2, 5, dtype=DT), a=torch.ones(3, 4))),
    ("X contains NaN", _bad(X=torch.full((5, 3), math.nan, dtype=DT))),
    ("activation", _bad(activation="nope")),
]


@pytest.mark.parametrize("match, make", BAD_PROBLEM, ids=[b[0] for b in BAD_PROBLEM])
def test_bad_problem_inputs_raise_one_sentence(match: str, make) -> None:
    with pytest.raises(ValueError, match=match) as err:
        make()
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_pattern_is_the_last_evaluations_or_recomputed(activation: str) -> None:
    """``pattern`` reuses the last evaluation's ReLU pattern only at that very iterate."""
    prob, theta, _ = _problem("Xy", activation, R=3, m=40, n=9)
    W = prob.weights(theta)

    def fresh(t: torch.Tensor):
        Z = prob.weights(t) @ prob.Xt
        return Z >= 0, ((Z >= 0) if activation == "relu" else 1 - torch.tanh(Z) ** 2)

    prob.loss_and_grad(theta)
    P, D = prob.pattern(theta)
    want = fresh(theta)
    assert P.shape == (3, 40, 9) and P.dtype == torch.bool
    assert torch.equal(P, want[0])
    assert_close(D.to(DT), want[1].to(DT), what="phi'")
    other = theta + 0.5 * torch.randn(theta.shape, generator=_gen(3), dtype=DT)
    assert torch.equal(prob.pattern(other)[0], fresh(other)[0])  # another iterate
    prob.loss_and_grad(theta)
    theta.mul_(-1.0)  # modified in place after the evaluation: recomputed, not reused
    assert torch.equal(prob.pattern(theta)[0], fresh(theta)[0])
    assert torch.equal(W, prob.weights(theta))  # views of the same rows
    sub = torch.tensor([2, 0])
    part = prob.select(sub)
    assert torch.equal(part.pattern(theta[sub])[0], fresh(theta)[0][sub])
