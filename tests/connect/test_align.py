"""Neuron alignment: the function is unchanged, permuted copies map back, barriers drop."""

from __future__ import annotations

import pytest
import torch

from _tolerances import assert_close
from landscope.connect.align import align_mlp, align_rows, align_two_layer, match_units
from landscope.connect.interpolate import linear_path
from landscope.optim import LBFGS, Stop, run
from landscope.problems import DoubleWell, ModuleLoss, ReluTeacherStudent

F64 = torch.float64


def _data(d: int, m: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(m, d, generator=g, dtype=F64)
    return X, torch.sin(X.sum(1, keepdim=True))


def _mlp(widths: tuple[int, ...], act=torch.nn.Tanh) -> torch.nn.Sequential:
    torch.manual_seed(0)  # the module's own init is never used: rows come from init()
    mods: list[torch.nn.Module] = []
    for i in range(len(widths) - 1):
        mods.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            mods.append(act())
    return torch.nn.Sequential(*mods)


def _permute_mlp(prob: ModuleLoss, theta: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A random relabelling of every hidden layer's units (the same function)."""
    parts = {k: v.clone() for k, v in prob.split(theta[None]).items()}
    linear = [k[: -len(".weight")] for k in prob.names if k.endswith(".weight")]
    prev = None
    for i, name in enumerate(linear):
        W = parts[f"{name}.weight"]
        if prev is not None:
            W = W[:, :, prev]
        if i < len(linear) - 1:
            perm = torch.randperm(W.shape[1], generator=gen)
            W = W[:, perm]
            parts[f"{name}.bias"] = parts[f"{name}.bias"][:, perm]
            prev = perm
        parts[f"{name}.weight"] = W
    return prob.join(parts)[0]


def test_match_units_solves_the_assignment():
    sim = torch.tensor([[0.0, 5.0, 1.0], [4.0, 0.0, 0.0], [1.0, 1.0, 3.0]], dtype=F64)
    assert match_units(sim).tolist() == [1, 0, 2]


def test_two_layer_permuted_copy_maps_back_exactly():
    g = torch.Generator().manual_seed(0)
    W, a = torch.randn(6, 3, generator=g, dtype=F64), torch.randn(6, generator=g, dtype=F64)
    perm = torch.randperm(6, generator=g)
    Wb, ab = align_two_layer(W, a, W[perm], a[perm])
    assert torch.equal(Wb, W) and torch.equal(ab, a)
    Wb, none = align_two_layer(W, None, W[perm], None)  # a fixed second layer
    assert torch.equal(Wb, W) and none is None


def test_two_layer_module_loss_unchanged():
    X, y = _data(3, 20, 1)
    prob = ModuleLoss(_mlp((3, 7, 1), torch.nn.ReLU), X, y)
    g = torch.Generator().manual_seed(2)
    A, B = prob.init(2, generator=g)
    B = B + 0.3 * torch.randn(B.shape, generator=g, dtype=F64)  # nonzero biases too
    pa, pb = prob.split(A[None]), prob.split(B[None])
    W, a = align_two_layer(
        pa["0.weight"][0],
        pa["2.weight"][0].T,
        pb["0.weight"][0],
        pb["2.weight"][0].T,
        bias_a=pa["0.bias"][0],
        bias_b=pb["0.bias"][0],
    )
    # the permutation align_two_layer chose, read off its output, applied to the bias
    perm = torch.cdist(W, pb["0.weight"][0]).argmin(1)
    pb2 = dict(pb)
    pb2.update({"0.weight": W[None], "0.bias": pb["0.bias"][:, perm], "2.weight": a.T[None]})
    B2 = prob.join(pb2)[0]
    assert_close(prob.loss(B2[None]), prob.loss(B[None]), what="loss after alignment")
    assert_close(align_mlp(prob.model, A, B), B2, what="align_mlp = align_two_layer")


@pytest.mark.parametrize("act", [torch.nn.Tanh, torch.nn.ReLU])
def test_mlp_permuted_copy_maps_back_and_loss_is_unchanged(act):
    X, y = _data(3, 20, 3)
    prob = ModuleLoss(_mlp((3, 6, 5, 4, 2), act), X, y.expand(-1, 2).clone())
    g = torch.Generator().manual_seed(4)
    A, B = prob.init(2, generator=g)
    A = A + 0.1 * torch.randn(A.shape, generator=g, dtype=F64)
    Ap = _permute_mlp(prob, A, g)
    assert not torch.equal(Ap, A)
    assert_close(prob.loss(Ap[None]), prob.loss(A[None]), what="loss of the permuted copy")
    assert torch.equal(align_mlp(prob.model, A, Ap), A)
    Bal = align_mlp(prob.model, A, B)
    assert_close(prob.loss(Bal[None]), prob.loss(B[None]), what="loss after alignment")
    assert torch.linalg.vector_norm(A - Bal) <= torch.linalg.vector_norm(A - B) + 1e-12
    # same multiset of entries: a relabelling only
    assert torch.equal(Bal.sort().values, B.sort().values)


@pytest.mark.parametrize("trained", [False, True])
def test_relu_teacher_rows(trained):
    prob = ReluTeacherStudent(k=4, n=5, d=6, train_second_layer=trained)
    g = torch.Generator().manual_seed(5)
    A, B = prob.init(2, generator=g)
    if trained:
        A[prob.n * prob.d :] = torch.randn(prob.n, generator=g, dtype=F64)
    W, a = prob.split(A[None])
    perm = torch.randperm(prob.n, generator=g)
    Ap = prob.join(W[:, perm], a[:, perm])[0]
    assert torch.equal(align_rows(prob, A, Ap), A)
    Bal = align_rows(prob, A, B)
    assert_close(prob.loss(Bal[None]), prob.loss(B[None]), what="loss after alignment")
    assert torch.linalg.vector_norm(A - Bal) <= torch.linalg.vector_norm(A - B) + 1e-12


def test_module_loss_rows_dispatch_to_align_mlp():
    X, y = _data(2, 10, 6)
    prob = ModuleLoss(_mlp((2, 4, 3, 1)), X, y)
    A, B = prob.init(2, generator=torch.Generator().manual_seed(7))
    assert torch.equal(align_rows(prob, A, B), align_mlp(prob.model, A, B))


@pytest.mark.parametrize("trained", [False, True])
def test_alignment_lowers_the_barrier_to_a_permuted_nearby_minimum(trained):
    # A: the teacher (a global minimum); A2: the minimum L-BFGS reaches from A + noise
    # (A itself for a fixed second layer, a point of the scaling manifold w -> c w,
    # a -> a / c when a is trained); B: A2 with its neurons shuffled. The raw segment
    # A -> B crosses a real barrier; after alignment it is the short segment A -> A2.
    prob = ReluTeacherStudent(k=4, train_second_layer=trained)
    A = prob.teacher_point()[0]
    g = torch.Generator().manual_seed(8)
    x = A + 0.05 * torch.randn(3, A.shape[0], generator=g, dtype=F64)
    minima = run(prob, x, LBFGS(), stop=Stop(grad_tol=1e-8, max_steps=200)).theta
    for A2 in minima:
        W, a = prob.split(A2[None])
        perm = torch.randperm(4, generator=g)
        while torch.equal(perm, torch.arange(4)):
            perm = torch.randperm(4, generator=g)
        B = prob.join(W[:, perm], a[:, perm])[0]
        Bal = align_rows(prob, A, B)
        raw, aligned = linear_path(prob, A, B).barrier, linear_path(prob, A, Bal).barrier
        assert raw > 0.05  # measured 0.12 - 0.24
        assert aligned <= raw + 1e-12
        assert aligned < 1e-5  # measured <= 4e-7
        assert torch.equal(Bal, A2)


def test_alignment_lowers_the_barrier_between_mlp_minima():
    # Same, for a 2-8-8-1 tanh MLP (its minima are not isolated: A2 != A), and between
    # the independently trained minima A and C the alignment brings C closer to A (its
    # barrier is not guaranteed to drop; measured here 0.556 raw, 0.068 aligned).
    X, y = _data(2, 24, 9)
    prob = ModuleLoss(_mlp((2, 8, 8, 1)), X, y)
    g = torch.Generator().manual_seed(10)
    AC = run(
        prob, prob.init(2, generator=g), LBFGS(), stop=Stop(grad_tol=1e-6, max_steps=150)
    ).theta
    A, C = AC
    x = A + 0.02 * torch.randn(A.shape, generator=g, dtype=F64)
    A2 = run(prob, x[None], LBFGS(), stop=Stop(grad_tol=1e-6, max_steps=60)).theta[0]
    B = _permute_mlp(prob, A2, g)
    Bal = align_mlp(prob.model, A, B)
    raw, aligned = linear_path(prob, A, B).barrier, linear_path(prob, A, Bal).barrier
    assert raw > 0.05  # measured 0.437
    assert aligned <= raw + 1e-12
    assert aligned < 0.01 * raw  # measured 0 (the segment A -> A2 is monotone)
    assert_close(Bal, A2, what="aligned B = the unshuffled nearby minimum")
    Cal = align_mlp(prob.model, A, C)
    assert torch.linalg.vector_norm(A - Cal) <= torch.linalg.vector_norm(A - C) + 1e-12


def test_bad_input_raises():
    W = torch.zeros(3, 2, dtype=F64)
    with pytest.raises(ValueError, match="W of A has shape"):
        align_two_layer(W, None, torch.zeros(4, 2, dtype=F64), None)
    with pytest.raises(ValueError, match="for one network only"):
        align_two_layer(W, torch.zeros(3, dtype=F64), W, None)
    with pytest.raises(ValueError, match="NaN"):
        align_two_layer(W, None, torch.full((3, 2), float("nan"), dtype=F64), None)
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3))
    with pytest.raises(ValueError, match="BatchNorm1d"):
        align_mlp(model, torch.zeros(15, dtype=F64), torch.zeros(15, dtype=F64))
    with pytest.raises(ValueError, match="Sequential"):
        align_mlp(torch.nn.Linear(2, 3), torch.zeros(9, dtype=F64), torch.zeros(9, dtype=F64))
    mlp = _mlp((2, 3, 1))
    with pytest.raises(ValueError, match="has 10 entries but the model has 13"):
        align_mlp(mlp, torch.zeros(10, dtype=F64), torch.zeros(10, dtype=F64))
    with pytest.raises(ValueError, match="does not split into two-layer"):
        align_rows(DoubleWell(2), torch.zeros(2, dtype=F64), torch.ones(2, dtype=F64))
    prob = ReluTeacherStudent(k=2)
    with pytest.raises(ValueError, match="theta_b"):
        align_rows(prob, torch.zeros(4, dtype=F64), torch.zeros(5, dtype=F64))
