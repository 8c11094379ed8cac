"""Deep quadratic networks: the batched forward, gradient and Jacobian against independent
references (a per-sample numpy loop, ``ModuleLoss`` through ``torch.func``, the shallow
closed form of ``QuadraticNet``, forward-mode autograd), embedding, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope.critical import certify
from landscope.problems import QuadraticNet
from landscope.problems.deep_quadratic import DeepQuadraticNet, planted_data, planted_targets

DT = torch.float64
CASES = [((3,), False), ((3,), True), ((3, 2), False), ((3, 2), True), ((2, 3, 2), True)]


def _data(m: int = 25, d: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(m, d, generator=g, dtype=DT), torch.randn(m, generator=g, dtype=DT)


def _slow_output(prob: DeepQuadraticNet, row: np.ndarray, x: np.ndarray) -> float:
    """f(x) for one sample, written out unit by unit from the module docstring."""
    lo, z = 0, list(x)
    for h in prob.widths:
        n_in = len(z)
        W = row[lo : lo + h * n_in].reshape(h, n_in)
        lo += h * n_in
        nxt = [float(np.dot(W[j], z)) ** 2 for j in range(h)]
        if prob.added_norm:
            nxt.append(float(sum(v * v for v in z)))
        z = nxt
    a = row[lo:]
    assert len(a) == len(z)
    return float(np.dot(a, z))


@pytest.mark.parametrize(("widths", "added_norm"), CASES)
def test_loss_and_prediction_match_a_per_sample_loop(widths, added_norm) -> None:
    X, y = _data()
    prob = DeepQuadraticNet(X, y, widths=widths, added_norm=added_norm)
    theta = prob.init(3, generator=torch.Generator().manual_seed(1))
    slow = np.array([[_slow_output(prob, row, x) for x in X.numpy()] for row in theta.numpy()])
    assert_close(prob.predict(theta), slow, what="f(x)")
    expected = 0.5 * ((slow - y.numpy()) ** 2).mean(1)
    assert_close(prob.loss(theta), expected, what="loss")


@pytest.mark.parametrize(("widths", "added_norm"), CASES)
def test_gradient_and_jacobian_against_torch_func(widths, added_norm) -> None:
    X, y = _data()
    prob = DeepQuadraticNet(X, y, widths=widths, added_norm=added_norm)
    theta = prob.init(4, generator=torch.Generator().manual_seed(2))
    loss, g = prob.loss_and_grad(theta)
    # ModuleLoss: the nn.Module forward under vmap(grad_and_value), another code path
    loss_ref, g_ref = prob.objective.loss_and_grad(theta)
    assert_close(loss, loss_ref, what="loss vs ModuleLoss")
    assert_close(g, g_ref, what="grad vs ModuleLoss")
    r, J = prob.residuals_and_jacobian(theta)
    assert_close(J, prob.jacobian_autograd(theta), what="Jacobian vs jacfwd")
    assert_close(0.5 * (r * r).sum(1), loss, what="|r|^2/2 = loss")
    assert_close(prob.residuals(theta), r, what="residuals")
    assert_close((J.transpose(1, 2) @ r[..., None])[..., 0], g, what="J'r = grad")


@pytest.mark.parametrize("added_norm", [False, True])
def test_depth_one_is_the_shallow_closed_form(added_norm: bool) -> None:
    # same function and the same parameter layout (W, a[, g]) as QuadraticNet, whose
    # gradient and Hessian are hand-derived closed forms
    X, y = _data(d=5)
    deep = DeepQuadraticNet(X, y, widths=(4,), added_norm=added_norm)
    shallow = QuadraticNet(X, y, h=4, variant="added_norm" if added_norm else "regular")
    assert deep.n_params == shallow.n_params
    theta = deep.init(3, generator=torch.Generator().manual_seed(3))
    assert_close(deep.loss(theta), shallow.loss(theta), what="loss")
    assert_close(deep.grad(theta), shallow.grad(theta), what="grad")
    # the Hessians: two float64 computations of sums of m products of degree-4 terms
    assert_close(deep.hessian(theta), shallow.hessian(theta), rtol=1e-10, atol=1e-10,
                 what="hessian")  # fmt: skip


@pytest.mark.parametrize("added_norm", [False, True])
def test_embedding_keeps_the_function(added_norm: bool) -> None:
    X, y = _data()
    small = DeepQuadraticNet(X, y, widths=(2, 3), added_norm=added_norm)
    big = DeepQuadraticNet(X, y, widths=(4, 5), added_norm=True)
    theta = small.init(3, generator=torch.Generator().manual_seed(4))
    emb = small.embed(theta, (4, 5), added_norm=True)
    assert emb.shape == (3, big.n_params)
    assert_close(big.predict(emb), small.predict(theta), what="embedded f(x)")
    with pytest.raises(ValueError, match="cannot embed"):
        small.embed(theta, (1, 5))
    with pytest.raises(ValueError, match="cannot embed"):
        big.embed(big.init(1), (4, 5), added_norm=False)


def test_planted_teacher_is_a_global_minimum_of_wider_students() -> None:
    X, _ = _data(m=60, d=3)
    y, teacher_row = planted_targets(X, (2, 2), torch.Generator().manual_seed(5))
    teacher = DeepQuadraticNet(X, y, widths=(2, 2))
    assert float(teacher.loss(teacher_row[None])) < 1e-25
    for added_norm in (False, True):
        student = DeepQuadraticNet(X, y, widths=(3, 4), added_norm=added_norm, global_min=0.0)
        theta = teacher.embed(teacher_row[None], (3, 4), added_norm=added_norm)
        loss, g = student.loss_and_grad(theta)
        assert float(loss) < 1e-25 and float(g.abs().max()) < 1e-12
        assert certify(student, theta).verdict.tolist() == ["global_min"]


def test_planted_data_draws_inputs_then_the_teacher() -> None:
    X, y = planted_data(50, 3, (2, 2), generator=torch.Generator().manual_seed(4))
    assert X.shape == (50, 3) and y.shape == (50,) and X.dtype == y.dtype == torch.float64
    gen = torch.Generator().manual_seed(4)
    X_ref = torch.randn(50, 3, generator=gen, dtype=torch.float64)
    y_ref, row = planted_targets(X_ref, (2, 2), gen)
    assert torch.equal(X, X_ref) and torch.equal(y, y_ref)
    # the targets are the teacher's: zero loss at its row
    assert float(DeepQuadraticNet(X, y, widths=(2, 2)).loss(row[None])) < 1e-25
    with pytest.raises(ValueError, match="m must be a positive integer"):
        planted_data(0, 3, (2,), generator=gen)
    with pytest.raises(ValueError, match="widths"):
        planted_data(5, 3, (0,), generator=gen)


def test_float32_matches_float64() -> None:
    X, y = _data()
    p64 = DeepQuadraticNet(X, y, widths=(3, 2))
    p32 = DeepQuadraticNet(X, y, widths=(3, 2), dtype="float32")
    theta = p64.init(2, generator=torch.Generator().manual_seed(6))
    # float32 rounding (1.2e-7) amplified by sums of degree-4 terms over 25 samples
    assert_close(p32.loss(theta.float()), p64.loss(theta), rtol=1e-5, atol=1e-5,
                 dtype=torch.float32, what="float32 loss")  # fmt: skip


@pytest.mark.parametrize("widths", [(), (0, 2), (2, True), "ab", 3])
def test_bad_widths_are_refused(widths) -> None:
    X, y = _data()
    with pytest.raises(ValueError, match="widths"):
        DeepQuadraticNet(X, y, widths=widths)


def test_bad_data_is_refused() -> None:
    X, y = _data()
    X[3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN|finite"):
        DeepQuadraticNet(X, y, widths=(2,))
    with pytest.raises(ValueError, match="shape"):
        DeepQuadraticNet(X[0], y, widths=(2,))
