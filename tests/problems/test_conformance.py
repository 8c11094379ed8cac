"""Conformance of every problem class exported by ``landscope.problems``.

One suite for all problems, as scikit-learn's ``check_estimator`` is for estimators: it
collects every class in ``landscope.problems.__all__`` that has the core methods, builds
a tiny float64 instance of each through a factory below (a new exported problem class
without a factory fails ``test_every_exported_problem_class_has_a_factory``), and holds
it to the ``Problem`` protocol and to the contract of every capability it has:

- shapes and dtype: loss (R,), grad and hvp (R, P), hessian (R, P, P), all float64;
- loss_and_grad is (loss, grad); rows are independent (a row alone gives the same values
  as in the batch, a non-finite row stays in its row);
- grad and hessian against autograd of ``loss`` (``torch.func.jacrev``; the full
  (R, P, R, P) Hessian of the summed loss, whose off-diagonal blocks must vanish), or
  central finite differences where ``loss`` runs without autograd; hvp = hessian @ v,
  hessian symmetric;
- ``init`` reproducible with the same generator and different with another, on the
  device asked for; ``as_batch`` takes (P,) and (R, P) and rejects other shapes with
  ValueError;
- ``symmetry`` declared: None or a group ``landscope.symmetry`` knows, and then the loss
  is invariant under a random element of that group acting on ``split``'s (W, a);
- capabilities: exactly those the factory expects, each meeting its contract
  (``landscope.problems.capabilities``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from torch.func import jacrev

import landscope.problems as problems
import landscope.problems.capabilities as capabilities
import landscope.symmetry as symmetry
from _tolerances import assert_close, tol
from landscope.problems import (
    CAPABILITIES,
    DeepQuadraticNet,
    DoubleWell,
    DropoutLinear,
    EmpiricalTeacherStudent,
    Factored,
    FactoredJacobian,
    FusedGD,
    KnownOptimum,
    ManyHvp,
    ModuleLoss,
    MuellerBrown,
    OneHiddenRegression,
    Problem,
    Quadratic,
    QuadraticNet,
    QuadraticPopulation,
    ReluBatchNorm,
    ReluTeacherStudent,
    ReluWeightDecay,
    Residuals,
    RowData,
    StopNorm,
    TwoLayerRegression,
    UnivariateReLU,
    planted,
)

F64 = torch.float64
R = 3  # rows of every test batch: differs from the tiny P, n, d, so no broadcast passes
_CORE_METHODS = ("loss", "grad", "loss_and_grad", "hvp", "hessian", "init", "as_batch")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------ factories
@dataclass(frozen=True)
class Case:
    """A tiny instance of one problem class and what the suite should expect of it.

    Attributes:
        id: the test id.
        make: builds the problem (float64, CPU).
        caps: the capabilities it must have, exactly.
        minimizer: a known global minimizer (1, P) of the instance, if any.
        autograd: whether autograd of ``loss`` is a valid reference; else central finite
            differences are. It is not for ``DeepQuadraticNet``, whose loss runs under
            no_grad (one batched forward pass), nor for the closed-form ReLU loss, which
            pairs every neuron with itself (angle 0, where autograd through arccos gives
            NaN although the function is smooth).
    """

    id: str
    make: Callable[[], object]
    caps: frozenset[type]
    minimizer: Callable[[object], torch.Tensor] | None = None
    autograd: bool = True


def _samples(m: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = _gen(seed)
    X = torch.randn(m, d, generator=g, dtype=F64)
    return X, torch.randn(m, generator=g, dtype=F64)


def _mlp() -> torch.nn.Module:
    # the module's own parameter values are never used: rows come from init()
    return torch.nn.Sequential(
        torch.nn.Linear(3, 4, dtype=F64), torch.nn.Tanh(), torch.nn.Linear(4, 1, dtype=F64)
    )


def _module_mse() -> ModuleLoss:
    X, y = _samples(8, 3, 1)
    return ModuleLoss(_mlp(), X, y)


def _module_xent() -> ModuleLoss:
    X, _ = _samples(9, 3, 2)
    labels = torch.arange(9) % 3
    return ModuleLoss(torch.nn.Linear(3, 3, dtype=F64), X, labels, criterion="cross_entropy")


def _module_xent_decay() -> ModuleLoss:
    # an MLP with weight decay, the documented keyword names
    X, _ = _samples(9, 3, 5)
    labels = torch.arange(9) % 2
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 4, dtype=F64), torch.nn.Tanh(), torch.nn.Linear(4, 2, dtype=F64)
    )
    return ModuleLoss(net, X, labels, loss="cross_entropy", weight_decay=0.3)


def _one_hidden(shared: bool, activation: str) -> OneHiddenRegression:
    p = planted(3, 2, 2.0, 10, seeds=[0, 1, 2], activation=activation)
    if shared:
        return OneHiddenRegression(p.X[0], p.y[0], p.v[0], activation)
    return OneHiddenRegression(p.X, p.y, p.v, activation)


def _two_layer(activation: str, shared: bool) -> TwoLayerRegression:
    # one sample per row (R of them), or one sample shared by every row
    X = torch.randn(R, 6, 2, generator=_gen(11), dtype=F64)
    y = torch.randn(R, 6, generator=_gen(12), dtype=F64)
    if shared:
        return TwoLayerRegression(X[0], y[0], width=3, activation=activation)
    return TwoLayerRegression(X, y, width=3, activation=activation)


def _relu_decay(shared: bool) -> ReluWeightDecay:
    # one sample per row (R of them), or one sample shared by every row with a global_min
    # (arbitrary here: the suite checks its type; the value alone is not KnownOptimum)
    X = torch.randn(R, 5, 2, generator=_gen(13), dtype=F64)
    y = torch.randn(R, 5, generator=_gen(14), dtype=F64)
    if shared:
        return ReluWeightDecay(X[0], y[0], width=4, beta=0.3, global_min=0.5)
    return ReluWeightDecay(X, y, width=4, beta=0.3)


def _relu_bn(shared: bool) -> ReluBatchNorm:
    # one sample per row (R of them), or one sample shared by every row; bias_scale not 1
    X = torch.randn(R, 5, 2, generator=_gen(15), dtype=F64)
    y = torch.randn(R, 5, generator=_gen(16), dtype=F64)
    if shared:
        return ReluBatchNorm(X[0], y[0], width=4, beta=0.3, bias_scale=0.5)
    return ReluBatchNorm(X, y, width=4, beta=0.3)


def _univariate(shared: bool) -> UnivariateReLU:
    # shared: x (n,) for every row, no linear term, knots drawn uniformly, f = 0 at init;
    # rows: x (R, n) one per row, the linear term (v, w), gaussian first layer, odd width
    x = torch.randn(R, 6, generator=_gen(17), dtype=F64)
    y = torch.randn(R, 6, generator=_gen(18), dtype=F64)
    if shared:
        return UnivariateReLU(x[0], y[0], width=4, init_kind="uniform", symmetric=True)
    return UnivariateReLU(
        x, y, width=3, linear=True, init_kind="gaussian", ratio=2.0, symmetric=False
    )


def _dropout_linear(kind: str) -> DropoutLinear:
    # samples as rows, two outputs; keep < 1 so that the regularizer is on
    X = torch.randn(7, 3, generator=_gen(19), dtype=F64)
    Y = torch.randn(7, 2, generator=_gen(20), dtype=F64)
    return DropoutLinear(X, Y, width=4, keep=0.6, kind=kind)


def _psd_quadratic() -> Quadratic:
    B = torch.randn(4, 2, generator=_gen(3), dtype=F64)
    return Quadratic(B @ B.T, center=torch.ones(4, dtype=F64))  # rank 2: a plane of minima


def _indefinite_quadratic() -> Quadratic:
    M = torch.randn(3, 3, generator=_gen(4), dtype=F64)
    return Quadratic(M + M.T)


def _psd_minimizer(prob: Quadratic) -> torch.Tensor:
    lam, U = torch.linalg.eigh(prob.A)
    return (prob.center + 0.7 * U[:, 0])[None]  # center plus a null-space direction


RTS = frozenset({KnownOptimum, Factored, FusedGD})
RES_FAC = frozenset({Residuals, Factored})

FACTORIES: dict[type, list[Case]] = {
    ReluTeacherStudent: [
        Case(
            "relu-identity",
            lambda: ReluTeacherStudent(k=3),
            RTS,
            lambda p: p.teacher_point(),
            autograd=False,
        ),
        Case(
            "relu-general-trained",
            lambda: ReluTeacherStudent(
                k=2,
                n=3,
                teacher=torch.randn(2, 3, generator=_gen(5), dtype=F64),
                train_second_layer=True,
            ),
            RTS,
            lambda p: p.teacher_point(),
            autograd=False,
        ),
    ],
    EmpiricalTeacherStudent: [
        Case(
            "empirical-relu",
            lambda: EmpiricalTeacherStudent(k=2, n=3, d=3, m=16, train_second_layer=True),
            frozenset({ManyHvp, KnownOptimum, Factored}),
            lambda p: p.teacher_point(),
        )
    ],
    ModuleLoss: [
        Case("module-mse", _module_mse, frozenset({ManyHvp, Factored})),
        Case("module-xent", _module_xent, frozenset({ManyHvp, Factored})),
        Case("module-xent-decay", _module_xent_decay, frozenset({ManyHvp, Factored})),
    ],
    OneHiddenRegression: [
        Case(
            "one-hidden-rows",
            lambda: _one_hidden(False, "tanh"),
            frozenset({RowData, Residuals}),
        ),
        Case(
            "one-hidden-shared",
            lambda: _one_hidden(True, "relu"),
            frozenset({RowData, Residuals}),
        ),
    ],
    QuadraticNet: [
        Case(
            f"quadratic-net-{v}-h{h}",
            (lambda v=v, h=h: QuadraticNet(*_samples(7, 3, 6), h=h, variant=v)),
            RES_FAC,
        )
        for v, h in (("regular", 2), ("added_norm", 2), ("orthogonal", 2), ("orthogonal", 4))
    ],
    QuadraticPopulation: [
        Case(
            f"quadratic-pop-{v}-h{h}",
            (
                lambda v=v, h=h: QuadraticPopulation(
                    torch.diag(torch.tensor([2.0, -1.0, 0.5], dtype=F64)), h=h, variant=v
                )
            ),
            RES_FAC,
        )
        for v, h in (("added_norm", 2), ("orthogonal", 4))
    ],
    DeepQuadraticNet: [
        Case(
            "deep-quadratic-1",
            lambda: DeepQuadraticNet(*_samples(6, 3, 7), widths=(2,)),
            RES_FAC | {FactoredJacobian},
            autograd=False,
        ),
        Case(
            "deep-quadratic-2-norm",
            lambda: DeepQuadraticNet(*_samples(6, 2, 8), widths=(2, 2), added_norm=True),
            RES_FAC | {FactoredJacobian},
            autograd=False,
        ),
    ],
    MuellerBrown: [Case("mueller-brown", MuellerBrown, frozenset())],
    DoubleWell: [
        Case(
            "double-well",
            lambda: DoubleWell(dim=3),
            frozenset({KnownOptimum}),
            lambda p: torch.tensor([[1.0, -1.0, 1.0]], dtype=F64),
        )
    ],
    Quadratic: [
        Case("quadratic-psd", _psd_quadratic, frozenset({KnownOptimum}), _psd_minimizer),
        Case("quadratic-indefinite", _indefinite_quadratic, frozenset({KnownOptimum})),
    ],
    TwoLayerRegression: [
        Case(
            f"two-layer-{act}-{'shared' if shared else 'rows'}",
            (lambda act=act, shared=shared: _two_layer(act, shared)),
            frozenset({RowData, Residuals, Factored}),
        )
        for act, shared in (("relu", False), ("tanh", False), ("softplus", True))
    ],
    ReluWeightDecay: [
        Case(
            f"relu-decay-{'shared' if shared else 'rows'}",
            (lambda shared=shared: _relu_decay(shared)),
            frozenset({RowData, Residuals, Factored}),
        )
        for shared in (False, True)
    ],
    ReluBatchNorm: [
        Case(
            f"relu-bn-{'shared' if shared else 'rows'}",
            (lambda shared=shared: _relu_bn(shared)),
            frozenset({RowData, Residuals, Factored}),
        )
        for shared in (False, True)
    ],
    UnivariateReLU: [
        Case(
            f"univariate-{'shared' if shared else 'rows-linear'}",
            (lambda shared=shared: _univariate(shared)),
            frozenset({RowData, Residuals, Factored}),
        )
        for shared in (True, False)
    ],
    DropoutLinear: [
        Case(
            f"dropout-linear-{kind}",
            (lambda kind=kind: _dropout_linear(kind)),
            frozenset({Factored}),
        )
        for kind in ("dropout", "dropconnect")
    ],
}
CASES = [c for cases in FACTORIES.values() for c in cases]


def _exported_problem_classes() -> dict[str, type]:
    """Classes in ``landscope.problems.__all__`` with every core method (protocols aside)."""
    out = {}
    for name in problems.__all__:
        obj = getattr(problems, name)
        if (
            isinstance(obj, type)
            and not getattr(obj, "_is_protocol", False)  # Problem and the capabilities
            and all(callable(getattr(obj, m, None)) for m in _CORE_METHODS)
        ):
            out[name] = obj
    return out


def _build(case: Case) -> object:
    return case.make()


def _point(prob: object, seed: int = 0) -> torch.Tensor:
    """R rows of ``init``, moved off any special point (a trained a = 1, zero biases)."""
    theta = prob.init(R, generator=_gen(seed))
    return theta + 0.2 * torch.randn(theta.shape, generator=_gen(seed + 100), dtype=F64)


def _on_rows(prob: object, rows: torch.Tensor) -> object:
    """The problem for a batch made of ``theta[rows]`` (itself unless its rows own data)."""
    return prob.select(rows) if isinstance(prob, RowData) else prob


def _scale(*refs: torch.Tensor) -> float:
    return max([1.0] + [float(r.abs().max()) for r in refs if r.numel()])


def _atol(*refs: torch.Tensor) -> float:
    # Two float64 computations of the same quantity round differently by a few ulps of the
    # largest terms they sum, not of the result: scale the default absolute tolerance by
    # the reference's magnitude (Mueller-Brown's terms reach ~1e3, its curvature ~4e3).
    return tol(F64).atol * _scale(*refs)


def _check(actual, expected, what: str, **kw) -> None:
    kw.setdefault("atol", _atol(expected))
    assert_close(actual, expected, what=what, **kw)


# Central differences of 4th order, f'(x) = (f(x-2h) - 8 f(x-h) + 8 f(x+h) - f(x+2h)) /
# (12 h) + O(h^4). The truncation error h^4 |f^(5)| / 30 is what limits them here: the
# closed-form ReLU loss has large higher derivatives in the angles (its Hessian's error
# measured 6e-6 at h = 3e-3, 8e-8 at 1e-3, 8e-12 at 1e-4: the h^4 law), while rounding,
# ~eps |f| / h, is ~1e-12 at h = 1e-4. Measured worst errors at h = 1e-4 are 7e-11
# relative; the tolerance (loosened from 1e-12 for that reason) leaves 100x room.
FD_H = 1e-4
FD_RTOL = 1e-8


def _central_difference(prob: object, fn: Callable, theta: torch.Tensor) -> torch.Tensor:
    """d fn / d theta per row by the 5-point stencil: fn maps (N, P) -> (N, ...)."""
    Rn, P = theta.shape
    steps = torch.tensor([-2.0, -1.0, 1.0, 2.0], dtype=F64) * FD_H
    weights = torch.tensor([1.0, -8.0, 8.0, -1.0], dtype=F64) / (12 * FD_H)
    eye = torch.eye(P, dtype=F64)
    shifted = theta[None, None] + steps[:, None, None, None] * eye[None, :, None, :]  # (4,P,R,P)
    rows = torch.arange(Rn).repeat(4 * P)
    out = fn(_on_rows(prob, rows), shifted.reshape(-1, P))
    out = out.reshape(4, P, Rn, *out.shape[1:])
    deriv = torch.tensordot(weights, out, dims=1)  # (P, R, ...)
    return deriv.movedim(0, -1)  # (R, ..., P)


def _reference_grad_and_hessian(case: Case, prob, theta) -> tuple[torch.Tensor, torch.Tensor]:
    """The gradient and Hessian of ``loss``, independently of the problem's own."""
    if case.autograd:

        def total(t: torch.Tensor) -> torch.Tensor:
            return prob.loss(t).sum()

        g = jacrev(total)(theta)
        H4 = jacrev(jacrev(total))(theta)  # (R, P, R, P): reverse over reverse, no jvp
        idx = torch.arange(theta.shape[0])
        H = H4[idx, :, idx, :]
        off = H4.clone()
        off[idx, :, idx, :] = 0.0
        assert float(off.abs().max()) == 0.0, "rows interact: off-diagonal Hessian blocks"
        return g, H
    g = _central_difference(prob, lambda p, t: p.loss(t), theta)
    H = _central_difference(prob, lambda p, t: p.grad(t), theta)  # d grad_i / d theta_j
    return g, H


ids = [c.id for c in CASES]


# ---------------------------------------------------------------------------- collection
def test_every_exported_problem_class_has_a_factory() -> None:
    classes = _exported_problem_classes()
    missing = sorted(n for n, c in classes.items() if c not in FACTORIES)
    assert not missing, f"exported problem classes without a factory in this suite: {missing}"
    stale = sorted(c.__name__ for c in FACTORIES if c not in classes.values())
    assert not stale, f"factories for classes landscope.problems does not export: {stale}"
    assert all(FACTORIES[c] for c in FACTORIES)


def test_every_capability_has_a_contract_here() -> None:
    # Every protocol defined in capabilities is listed in CAPABILITIES, and each has its
    # contract test below: a new capability needs one (and its place in Case.caps).
    defined = {
        obj
        for obj in vars(capabilities).values()
        if isinstance(obj, type)
        and getattr(obj, "_is_protocol", False)
        and obj.__module__ == capabilities.__name__
    }
    assert defined == set(CAPABILITIES)
    assert set(CAPABILITIES) == {
        RowData, Residuals, ManyHvp, KnownOptimum, Factored, StopNorm, FusedGD,
        FactoredJacobian,
    }  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_core_protocol(case: Case) -> None:
    prob = _build(case)
    cls = next(c for c, cases in FACTORIES.items() if case in cases)
    assert type(prob) is cls
    assert isinstance(prob, Problem)
    assert isinstance(prob.n_params, int) and prob.n_params >= 1
    assert prob.dtype == F64
    assert prob.device == torch.device("cpu")
    assert prob.global_min is None or isinstance(prob.global_min, float)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_capabilities_are_the_expected_ones(case: Case) -> None:
    have = {c for c in CAPABILITIES if isinstance(_build(case), c)}
    assert have == set(case.caps), f"has {sorted(c.__name__ for c in have)}"


# ------------------------------------------------------------------------ shapes, values
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_shapes_dtype_and_loss_and_grad(case: Case) -> None:
    prob = _build(case)
    theta = _point(prob)
    P = prob.n_params
    v = torch.randn(R, P, generator=_gen(1), dtype=F64)
    loss, grad = prob.loss(theta), prob.grad(theta)
    hvp, H = prob.hvp(theta, v), prob.hessian(theta)
    for name, x, shape in (
        ("loss", loss, (R,)),
        ("grad", grad, (R, P)),
        ("hvp", hvp, (R, P)),
        ("hessian", H, (R, P, P)),
    ):
        assert x.shape == shape, f"{name}: {tuple(x.shape)} != {shape}"
        assert x.dtype == F64, f"{name}: {x.dtype}"
        assert bool(torch.isfinite(x).all()), f"{name} is not finite"
    l2, g2 = prob.loss_and_grad(theta)
    _check(l2, loss, "loss_and_grad's loss")
    _check(g2, grad, "loss_and_grad's grad")


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_rows_are_independent(case: Case) -> None:
    prob = _build(case)
    theta = _point(prob, seed=1)
    v = torch.randn(theta.shape, generator=_gen(2), dtype=F64)
    loss, grad, H = prob.loss(theta), prob.grad(theta), prob.hessian(theta)
    hvp = prob.hvp(theta, v)
    for r in range(R):
        one = _on_rows(prob, torch.tensor([r]))
        t = theta[r : r + 1]
        _check(one.loss(t), loss[r : r + 1], f"loss of row {r} alone")
        _check(one.grad(t), grad[r : r + 1], f"grad of row {r} alone")
        _check(one.hvp(t, v[r : r + 1]), hvp[r : r + 1], f"hvp of row {r} alone")
        _check(one.hessian(t), H[r : r + 1], f"hessian of row {r} alone")
    # a diverged row is reported, never fatal: NaN stays in its row
    bad = theta.clone()
    bad[1] = math.nan
    lb, gb = prob.loss_and_grad(bad)
    assert not bool(torch.isfinite(lb[1])) or not bool(torch.isfinite(gb[1]).all())
    keep = torch.tensor([0, 2])
    _check(lb[keep], loss[keep], "loss of the finite rows beside a NaN row")
    _check(gb[keep], grad[keep], "grad of the finite rows beside a NaN row")


# -------------------------------------------------------------------------- derivatives
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_derivatives_match_an_independent_reference(case: Case) -> None:
    prob = _build(case)
    theta = _point(prob, seed=2)
    g_ref, H_ref = _reference_grad_and_hessian(case, prob, theta)
    H = prob.hessian(theta)
    if case.autograd:
        _check(prob.grad(theta), g_ref, "grad vs autograd")
        _check(H, H_ref, "hessian vs autograd")
    else:
        fd = {"rtol": FD_RTOL}
        _check(prob.grad(theta), g_ref, "grad vs FD", atol=FD_RTOL * _scale(g_ref), **fd)
        _check(H, H_ref, "hessian vs FD of grad", atol=FD_RTOL * _scale(H_ref), **fd)
    _check(H, H.transpose(1, 2), "hessian symmetry")
    V = torch.randn(theta.shape, generator=_gen(3), dtype=F64)
    _check(prob.hvp(theta, V), (H @ V[..., None])[..., 0], "hvp vs hessian @ v")


# ----------------------------------------------------------------------- init, as_batch
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_init_is_reproducible(case: Case) -> None:
    prob = _build(case)
    a = prob.init(R, generator=_gen(7))
    assert a.shape == (R, prob.n_params) and a.dtype == F64
    assert bool(torch.isfinite(a).all())
    assert torch.equal(prob.init(R, generator=_gen(7)), a)
    assert not torch.equal(prob.init(R, generator=_gen(8)), a)
    on = prob.init(R, generator=_gen(7), device="cpu")
    assert on.device == torch.device("cpu") and torch.equal(on, a)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_as_batch(case: Case) -> None:
    prob = _build(case)
    P = prob.n_params
    theta = _point(prob)
    assert torch.equal(prob.as_batch(theta), theta)
    one = prob.as_batch(theta[0])
    assert one.shape == (1, P) and torch.equal(one[0], theta[0])
    low = prob.as_batch(theta.to(torch.float32))
    assert low.dtype == F64 and low.shape == (R, P)
    for shape in ((P + 1,), (R, P + 1), (1, 1, P + 1), ()):
        with pytest.raises(ValueError):
            prob.as_batch(torch.zeros(shape, dtype=F64))


# ------------------------------------------------------------------------------ symmetry
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_symmetry_is_declared_and_holds(case: Case) -> None:
    prob = _build(case)
    group = prob.symmetry
    assert group is None or group in symmetry.GROUPS, group
    if group is None:
        return
    # the layout a declared group needs (see Problem): split gives (W (R, n, d), a (R, n), ...)
    assert isinstance(prob, Factored)
    theta = _point(prob, seed=3)
    parts = prob.split(theta)
    W, a, *rest = parts
    n, d = W.shape[1:]
    assert W.dim() == 3 and a.shape == (R, n)
    p = torch.arange(n).roll(1)  # a cycle: never the identity
    q = torch.arange(d).roll(1) if group == "SnxSd" else torch.arange(d)
    moved = prob.join(type(parts)([W[:, p][:, :, q], a[:, p], *rest]))
    assert not torch.equal(moved, theta)
    _check(prob.loss(moved), prob.loss(theta), f"loss at g.theta, g in {group}")
    iso = symmetry.isotropy_of(prob, theta[:1])
    assert iso.order >= 1


# -------------------------------------------------------------------------- capabilities
def _with(cap: type) -> list[Case]:
    return [c for c in CASES if cap in c.caps]


@pytest.mark.parametrize("case", _with(RowData), ids=[c.id for c in _with(RowData)])
def test_row_data_select(case: Case) -> None:
    prob = _build(case)
    theta = _point(prob, seed=4)
    rows = torch.tensor([2, 0])
    sub = prob.select(rows)
    _check(sub.loss(theta[rows]), prob.loss(theta)[rows], "loss of selected rows")
    _check(sub.grad(theta[rows]), prob.grad(theta)[rows], "grad of selected rows")
    _check(sub.hessian(theta[rows]), prob.hessian(theta)[rows], "hessian of selected rows")


@pytest.mark.parametrize("case", _with(Residuals), ids=[c.id for c in _with(Residuals)])
def test_residuals_least_squares(case: Case) -> None:
    prob = _build(case)
    theta = _point(prob, seed=5)
    r = prob.residuals(theta)
    r2, J = prob.residuals_and_jacobian(theta)
    assert r.dim() == 2 and r.shape[0] == R and r.dtype == F64
    assert J.shape == (*r.shape, prob.n_params) and J.dtype == F64
    _check(r2, r, "residuals_and_jacobian's residuals")
    _check(0.5 * (r * r).sum(1), prob.loss(theta), "|r|^2 / 2 vs loss")
    J4 = jacrev(prob.residuals)(theta)  # (R, m, R, P)
    idx = torch.arange(R)
    _check(J, J4[idx, :, idx, :], "Jacobian vs autograd of the residuals")


@pytest.mark.parametrize("case", _with(ManyHvp), ids=[c.id for c in _with(ManyHvp)])
def test_many_hvp(case: Case) -> None:
    prob = _build(case)
    theta = _point(prob, seed=6)
    V = torch.randn(R, 4, prob.n_params, generator=_gen(10), dtype=F64)
    HV = prob.hvp_many(theta, V)
    ref = torch.stack([prob.hvp(theta, V[:, j]) for j in range(V.shape[1])], dim=1)
    assert HV.shape == V.shape and HV.dtype == F64
    _check(HV, ref, "hvp_many vs stacked hvp")


@pytest.mark.parametrize("case", _with(KnownOptimum), ids=[c.id for c in _with(KnownOptimum)])
def test_known_optimum(case: Case) -> None:
    prob = _build(case)
    theta = _point(prob, seed=7)
    dist = prob.distance_to_global(theta)
    if dist is None:  # allowed where the minimizers are not known for this instance
        assert case.minimizer is None
        return
    assert dist.shape == (R,) and dist.dtype == F64
    assert bool((dist >= 0).all()) and bool(torch.isfinite(dist).all())
    assert bool((dist > 0).all())  # random rows are not minimizers
    if case.minimizer is not None:
        star = case.minimizer(prob)
        assert prob.global_min is not None
        _check(prob.loss(star), torch.tensor([prob.global_min], dtype=F64), "loss at minimizer")
        _check(prob.distance_to_global(star), torch.zeros(1, dtype=F64), "distance at minimizer")


@pytest.mark.parametrize("case", _with(Factored), ids=[c.id for c in _with(Factored)])
def test_factored_split_join(case: Case) -> None:
    prob = _build(case)
    theta = _point(prob, seed=8)
    assert torch.equal(prob.join(prob.split(theta)), theta)


@pytest.mark.parametrize("case", _with(StopNorm), ids=[c.id for c in _with(StopNorm)])
def test_stop_norm(case: Case) -> None:
    prob = _build(case)
    theta = _point(prob, seed=9)
    g = prob.grad(theta)
    norm = prob.stop_norm(g)
    assert norm.shape == (R,) and norm.dtype == F64 and bool((norm >= 0).all())
    for r in range(R):  # row by row
        _check(prob.stop_norm(g[r : r + 1]), norm[r : r + 1], f"stop_norm of row {r} alone")
    g[1] = math.nan
    assert not bool(torch.isfinite(prob.stop_norm(g)[1]))


@pytest.mark.parametrize("case", _with(FusedGD), ids=[c.id for c in _with(FusedGD)])
def test_fused_gd(case: Case) -> None:
    """``fused_gd`` takes the driver's GD steps (to rounding) or declines with None."""
    prob = _build(case)
    theta = _point(prob, seed=10)
    norms = prob.grad(theta).norm(dim=1)
    theta = theta[norms.argsort(descending=True)]  # row 0 the steepest, row 2 the flattest
    norms = prob.grad(theta).norm(dim=1)
    lr, budget = 0.05, 7
    kw = {"grad_tol": -math.inf, "max_steps": 1000, "diverge": 1e12}
    steps0 = torch.tensor([0, 3, 995])  # the last row meets max_steps after 5 steps
    out = prob.fused_gd(theta, lr, budget=budget, steps=steps0, **kw)
    if out is None:  # declined (a variant the kernel lacks): nothing to hold it to
        return
    th, g, gn, steps, status = out
    ref = theta.clone()
    for r, n in enumerate((7, 7, 5)):  # plain GD, row by row
        for _ in range(n):
            ref[r] -= lr * prob.grad(ref[r : r + 1])[0]
    # a few steps of the same arithmetic in another order (compiled loops vs torch)
    _check(th, ref, "fused GD iterates")
    _check(g, prob.grad(ref), "gradient at the returned iterate")
    _check(gn, prob.grad(ref).norm(dim=1), "returned gradient norm")
    assert steps.tolist() == [7, 10, 1000] and status.tolist() == [0, 0, 2]
    assert theta.shape == th.shape and th.dtype == F64
    # budget 0 only evaluates; a met gradient tolerance converges; a NaN row diverges
    bad = theta.clone()
    bad[1] = math.nan
    kw["grad_tol"] = float(norms[0] + norms[2]) / 2  # met by row 2 only
    zero = torch.zeros(3, dtype=torch.long)
    th, g, gn, steps, status = prob.fused_gd(bad, lr, budget=0, steps=zero, **kw)
    assert status.tolist() == [0, 3, 1] and steps.tolist() == [0, 0, 0]
    assert gn[1] == math.inf and torch.equal(th[0], theta[0])


@pytest.mark.parametrize(
    "case", _with(FactoredJacobian), ids=[c.id for c in _with(FactoredJacobian)]
)
def test_factored_jacobian(case: Case) -> None:
    prob = _build(case)
    theta = _point(prob, seed=11)
    r, factors = prob.residuals_and_factors(theta)
    r_ref, J_ref = prob.residuals_and_jacobian(theta)
    R, m = r_ref.shape
    blocks = [(A[..., :, None] * B[..., None, :]).reshape(R, m, -1) for A, B in factors]
    assert all(A.shape[:2] == B.shape[:2] == (R, m) for A, B in factors)
    _check(r, r_ref, "residuals")
    _check(torch.cat(blocks, dim=2), J_ref, "Jacobian from its factors")
