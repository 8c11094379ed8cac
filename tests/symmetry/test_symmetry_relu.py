"""The symmetry of the ReLU teacher-student: the ``symmetry`` property against the loss's
actual invariance, ``isotropy_of``, and the isotropy of the spurious minima that GD
finds for k = 8 (Safran & Shamir 2018; Arjevani & Field 2020: Delta S_{k-1})."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope.optim import newton_polish
from landscope.problems import ReluTeacherStudent
from landscope.symmetry import group_types, isotropy, isotropy_of

DT = torch.float64


@pytest.mark.parametrize(
    ("kwargs", "want"),
    [
        ({"k": 4}, "SnxSd"),
        ({"k": 4, "n": 6}, "SnxSd"),
        ({"k": 3, "train_second_layer": True}, "SnxSd"),
        ({"k": 4, "teacher": np.eye(4)}, "SnxSd"),
        ({"k": 4, "d": 6}, "Sn"),  # padded identity: V is not I
        ({"k": 4, "teacher": 2 * np.eye(4)}, "Sn"),
        ({"k": 3, "teacher": np.random.default_rng(0).standard_normal((3, 3))}, "Sn"),
    ],
)
def test_symmetry_property(kwargs: dict, want: str) -> None:
    assert ReluTeacherStudent(**kwargs).symmetry == want


@pytest.mark.parametrize("teacher", ["identity", "random"])
def test_loss_invariance_matches_the_declared_group(teacher: str) -> None:
    k, n = 4, 5
    rng = np.random.default_rng(1)
    V = "identity" if teacher == "identity" else rng.standard_normal((k, k))
    prob = ReluTeacherStudent(k=k, n=n, teacher=V)
    W = torch.as_tensor(rng.standard_normal((n, k)))
    p, q = rng.permutation(n), rng.permutation(k)
    base = prob.loss(prob.as_batch(W))
    assert_close(prob.loss(prob.as_batch(W[p])), base, what="loss under P")
    moved = prob.loss(prob.as_batch(W[p][:, q]))
    if prob.symmetry == "SnxSd":
        assert_close(moved, base, what="loss under P and Q")
    else:  # a generic teacher is not invariant under permuted inputs
        assert abs(float(moved - base)) > 1e-3


def test_isotropy_of_reads_the_problem() -> None:
    k = 5
    prob = ReluTeacherStudent(k=k)
    iso = isotropy_of(prob, prob.teacher_point())  # a (1, P) row
    assert (iso.name, iso.order) == (f"Delta S_{k}", math.factorial(k))
    assert isotropy_of(prob, np.eye(k)) == iso  # or W itself
    V = np.random.default_rng(2).standard_normal((k, k))
    other = ReluTeacherStudent(k=k, n=k + 1, teacher=V)
    W = np.vstack([V, V[:1]])  # the teacher with neuron 0 doubled: only rows permute
    iso = isotropy_of(other, W)
    assert (iso.name, iso.order, iso.row_orbits[0]) == ("S_2", 2, [0, k])


def test_isotropy_of_with_a_trained_second_layer() -> None:
    k = 4
    prob = ReluTeacherStudent(k=k, train_second_layer=True)
    W, a = torch.eye(k, dtype=DT)[None], torch.ones(1, k, dtype=DT)
    iso = isotropy_of(prob, prob.join(W, a)[0])
    assert (iso.name, iso.order) == (f"Delta S_{k}", math.factorial(k))
    a[0, 0] = 2.0  # neuron 0 is told apart by its output weight
    iso = isotropy_of(prob, prob.join(W, a))
    assert (iso.name, iso.order) == (f"Delta S_{k - 1}", math.factorial(k - 1))
    assert iso.col_orbits == [[0], [1, 2, 3]]
    assert all(len(q) == k for _, q in iso.generators)


def test_isotropy_of_bad_input() -> None:
    prob = ReluTeacherStudent(k=3)
    with pytest.raises(ValueError, match="one point"):
        isotropy_of(prob, prob.init(2))
    with pytest.raises(ValueError, match="no symmetry"):
        isotropy_of(object(), np.eye(3))


def test_spurious_minima_of_k8_have_isotropy_delta_s7(relu8_spurious) -> None:
    """Every spurious minimum GD reaches from the fixture's seeds: Delta S_7, one type.

    Polished to ||grad|| ~ 1e-15, each has one neuron (and one input) set apart and the
    other seven exchangeable with their inputs: entries cluster to ~1e-15, far inside
    tol = 1e-6 (observed: W[i, i] = 1.0014, W[i, j] = -0.0259 on the seven, the odd
    column 0.2281, the odd row 0.1598 with diagonal -0.6583; loss 0.021508).
    """
    prob, rows = relu8_spurious
    pol = newton_polish(prob, rows)
    assert bool((pol.grad_norm <= 1e-12).all()), pol.grad_norm
    Ws = [prob.split(pol.theta[r : r + 1])[0][0] for r in range(rows.shape[0])]
    for W in Ws:
        iso = isotropy_of(prob, W, tol=1e-6)
        assert (iso.name, iso.order) == ("Delta S_7", 5040)
        assert [len(o) for o in iso.row_orbits] in ([1, 7], [7, 1])
        # the group found is a symmetry of the loss: every generator keeps it
        loss = prob.loss(prob.as_batch(W))
        for p, q in iso.generators:
            Wg = torch.empty_like(W)
            Wg[np.ix_(p, q)] = W
            assert_close(prob.loss(prob.as_batch(Wg)), loss, what="loss at g.W")
        assert isotropy(W, tol=1e-9).order == 5040  # the clusters are much tighter
    assert group_types(Ws, tol=1e-6) == [0] * len(Ws)


def test_top_level_isotropy_reads_the_problems_group() -> None:
    import landscope as ls

    prob = ls.ReluTeacherStudent(k=5)
    iso = ls.isotropy(prob, torch.eye(5, dtype=torch.float64))
    assert (iso.name, iso.order) == ("Delta S_5", 120)
    assert ls.isotropy(torch.eye(3, dtype=torch.float64)).order == 6
