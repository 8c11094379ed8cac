"""``activation_table``: rows of ``report`` plus the local convexity at the reference
teacher, checked against the ReLU population Hessian written out by hand."""

from __future__ import annotations

import json
import math

import pytest
import torch

from _tolerances import assert_close
from landscope import activations as acts
from landscope.activations import (
    REFERENCE_V,
    REFERENCE_W,
    ActivationTable,
    activation_table,
    local_convexity,
    reference_teacher,
)

DT = torch.float64


def relu_hessian_at_identity(v: torch.Tensor) -> torch.Tensor:
    """H = [v_i v_j E[1(x_i > 0) 1(x_j > 0) x x']]_{ij}, x ~ N(0, I_3), W* = I_3, by hand.

    Diagonal blocks: E[1(x_i > 0) x x'] = I / 2 (x_i x_k, k != i, averages to zero).
    Off-diagonal blocks (i != j, l the third index): E[1(x_i > 0) x_i^2] P(x_j > 0) = 1/4
    at (i, i) and (j, j), E[1(x_i > 0) x_i] E[1(x_j > 0) x_j] = 1 / (2 pi) at (i, j) and
    (j, i), P(x_i > 0) P(x_j > 0) E[x_l^2] = 1/4 at (l, l), zero elsewhere.
    """
    H = torch.zeros(3, 3, 3, 3, dtype=DT)  # [i, a, j, b]
    for i in range(3):
        for j in range(3):
            if i == j:
                block = 0.5 * torch.eye(3, dtype=DT)
            else:
                block = 0.25 * torch.eye(3, dtype=DT)
                block[i, j] = block[j, i] = 1 / (2 * math.pi)
            H[i, :, j, :] = v[i] * v[j] * block
    return H.reshape(9, 9)


def test_reference_teacher_is_i3_and_alternating_signs() -> None:
    W, v = reference_teacher()
    assert torch.equal(W, torch.eye(3, dtype=DT)) and torch.equal(v, torch.tensor([1.0, -1, 1]))
    assert W.dtype == v.dtype == DT
    W[0, 0] = 7.0  # fresh tensors: the next call is unaffected
    assert torch.equal(reference_teacher()[0], torch.eye(3, dtype=DT))
    assert REFERENCE_W == ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    assert REFERENCE_V == (1.0, -1.0, 1.0)


def test_relu_row_against_the_hand_written_hessian() -> None:
    table = activation_table(["relu"], (0.5, 2.0))
    (row,) = table.rows
    W, v = reference_teacher()
    ev = torch.linalg.eigvalsh(relu_hessian_at_identity(v))
    assert row.hessian_eig_min == pytest.approx(float(ev[0]), abs=1e-12)
    # kappa = lambda = v_min = sigma_k = 1 at the reference: the bound is rho(1)
    assert row.hessian_bound == pytest.approx(0.25 - 1 / (2 * math.pi), abs=1e-12)
    assert row.hessian_eig_min >= row.hessian_bound - 1e-12
    assert row.report == acts.report("relu", (0.5, 2.0))
    assert list(row.report.rho) == ["0.5", "2"]


def test_default_names_and_rows_match_their_sources() -> None:
    table = activation_table()
    assert isinstance(table, ActivationTable)
    assert [r.report.name for r in table.rows] == acts.names()
    assert table.sigmas == (0.1, 1.0, 10.0)
    assert table.teacher_w == REFERENCE_W and table.teacher_v == REFERENCE_V
    W, v = reference_teacher()
    for row in table.rows[:3]:
        lc = local_convexity(W, v, row.report.name)
        assert (row.hessian_eig_min, row.hessian_bound) == (lc.eig_min, lc.bound)
    rows = table.as_dicts()
    assert list(rows[0]) == [*acts.report("relu").as_dict(), "hessian_eig_min", "hessian_bound"]
    json.dumps(rows)


def test_another_teacher() -> None:
    W = torch.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=DT)
    v = torch.tensor([1.0, 1.0], dtype=DT)
    table = activation_table(["relu"], (1.0,), teacher=(W, v))
    lc = local_convexity(W, v, "relu")
    assert_close([table.rows[0].hessian_eig_min], [lc.eig_min], what="eig_min")
    assert table.teacher_w == ((2.0, 0.0), (0.0, 1.0)) and table.teacher_v == (1.0, 1.0)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"sigmas": (1.0, 0.0)}, "sigmas must be positive finite numbers"),
        ({"sigmas": (math.inf,)}, "sigmas must be positive finite numbers"),
        ({"sigmas": (math.nan,)}, "sigmas must be positive finite numbers"),
        ({"names": ["swish"]}, "unknown activation 'swish'"),
    ],
)
def test_bad_input_is_one_sentence(kwargs, words) -> None:
    with pytest.raises(ValueError, match=words):
        activation_table(**kwargs)
