"""Certificates: verdicts at points whose nature is known (teacher, exact toy saddles,
constructed and GD-found ReLU critical points), spectra against numpy, tolerances, input."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope.critical import (
    CERTIFICATE_COLUMNS,
    MAX_LANCZOS,
    VERDICTS,
    Certificate,
    Tolerances,
    certify,
    check_certifiable,
)
from landscope.optim import GD, Stop, newton_polish, run
from landscope.problems import ReluTeacherStudent
from landscope.problems.capabilities import ManyHvp
from landscope.spectrum import MAX_DENSE
from reference.critical_points import split_neuron_saddle
from reference.toy_problems import double_well, flat_valley

DT = torch.float64
CRITICAL = {"global_min", "spurious_min", "local_min", "saddle", "degenerate"}


FIELDS = (
    "verdict",
    "loss",
    "grad_norm",
    "eig_min",
    "eig_max",
    "n_neg",
    "n_zero",
    "dist",
    "eig_method",
    "eig_min_bound",
    "eig_max_bound",
)


def _check_invariants(cert: Certificate, R: int, method: str = "dense") -> None:
    for name in FIELDS:
        assert getattr(cert, name).shape == (R,), name
    assert len(cert) == R
    counts = cert.counts()
    assert set(counts) == set(VERDICTS) and sum(counts.values()) == R
    crit = np.isin(cert.verdict, list(CRITICAL))
    # certified critical points have their gradient below the tolerance and a spectrum
    assert bool((cert.grad_norm[crit] <= cert.tolerances.grad_tol).all())
    assert bool(np.isfinite(cert.eig_min[crit]).all())
    assert bool(np.isnan(cert.eig_min[~crit]).all())
    assert set(cert.eig_method[crit]) <= {method} and set(cert.eig_method[~crit]) <= {"none"}
    if method == "dense":  # eigvalsh: exact to rounding, no residual bound
        assert bool((cert.eig_min_bound[crit] == 0).all())
    assert bool(np.isnan(cert.eig_min_bound[~crit]).all())


def _numpy_spectrum(prob, theta: torch.Tensor) -> np.ndarray:
    H = prob.hessian(prob.as_batch(theta)).numpy()
    return np.linalg.eigvalsh(0.5 * (H + H.transpose(0, 2, 1)))


# Two LAPACK eigensolvers on the same symmetric float64 matrix: eigenvalue errors are
# ~1e-15 ||H||, and ||H|| <= ~3 here.
EIG = {"rtol": 1e-12, "atol": 1e-13}


@pytest.mark.parametrize(("k", "d"), [(3, 3), (4, 4), (4, 6)])
def test_teacher_is_global_min(k: int, d: int) -> None:
    prob = ReluTeacherStudent(k=k, d=d)
    tp = prob.teacher_point()
    cert = certify(prob, tp)
    _check_invariants(cert, 1)
    assert cert.verdict.tolist() == ["global_min"]
    assert cert.grad_norm[0] <= 1e-14 and abs(cert.loss[0]) <= 1e-14
    # n = k: the teacher is an isolated minimizer, its Hessian positive definite (~0.09)
    assert cert.eig_min[0] > 0.05 and cert.n_neg[0] == 0 and cert.n_zero[0] == 0
    assert cert.dist[0] == 0.0
    ev = _numpy_spectrum(prob, tp)
    assert_close(cert.eig_min, ev[:, 0], **EIG, what="eig_min")
    assert_close(cert.eig_max, ev[:, -1], **EIG, what="eig_max")


def test_toy_saddle_and_minima() -> None:
    prob = double_well()
    pts = torch.tensor([[0.0, 0.0], [0.0, 1.0], [0.0, -1.0]], dtype=DT)
    cert = certify(prob, pts)
    _check_invariants(cert, 3)
    assert cert.verdict.tolist() == ["saddle", "global_min", "global_min"]
    # exact Hessians: diag(1, -1) at the origin, diag(1, 2) at (0, +-1)
    assert_close(cert.eig_min, np.array([-1.0, 1.0, 1.0]), what="eig_min")
    assert_close(cert.eig_max, np.array([1.0, 2.0, 2.0]), what="eig_max")
    assert cert.n_neg.tolist() == [1, 0, 0] and cert.n_zero.tolist() == [0, 0, 0]
    assert_close(cert.loss, np.array([0.25, 0.0, 0.0]), what="loss")
    assert bool(np.isnan(cert.dist).all())  # the toy has no distance_to_global
    hidden = certify(double_well(global_min=None), pts)
    assert hidden.verdict.tolist() == ["saddle", "local_min", "local_min"]


def test_relu_split_neuron_saddle() -> None:
    prob, saddle = split_neuron_saddle(k=2)
    pert = 1e-4 * torch.randn(
        2, prob.n_params, generator=torch.Generator().manual_seed(1), dtype=DT
    )
    polished = newton_polish(prob, saddle + pert).theta
    pts = torch.cat([saddle, polished])
    cert = certify(prob, pts)
    _check_invariants(cert, 3)
    assert cert.verdict.tolist() == ["saddle"] * 3
    assert bool((cert.n_neg >= 1).all()) and bool((cert.eig_min < -0.1).all())
    # the construction: one splitting direction down, one flat direction along the
    # family of splits (l w*, (1 - l) w*)
    assert cert.n_neg[0] == 1 and cert.n_zero[0] == 1
    assert bool((cert.loss > 0.05).all()) and bool((cert.dist > 0.1).all())
    ev = _numpy_spectrum(prob, pts)
    assert_close(cert.eig_min, ev[:, 0], **EIG, what="eig_min")


def test_gd_found_spurious_minima(relu8_spurious) -> None:
    prob, rows = relu8_spurious
    pol = newton_polish(prob, rows)
    assert bool(pol.converged.all())
    cert = certify(prob, pol.theta)
    R = rows.shape[0]
    _check_invariants(cert, R)
    assert cert.verdict.tolist() == ["spurious_min"] * R
    assert bool((cert.loss > 1e-6).all()) and bool((cert.eig_min > cert.tolerances.eig_tol).all())
    assert bool((cert.dist > 0).all()) and bool((cert.n_neg == 0).all())
    ev = _numpy_spectrum(prob, pol.theta)
    assert_close(cert.eig_min, ev[:, 0], **EIG, what="eig_min")
    assert_close(cert.eig_max, ev[:, -1], **EIG, what="eig_max")
    # unpolished GD endpoints (||grad|| ~ 1e-7) are not certified at the default grad_tol
    raw = certify(prob, rows)
    assert raw.verdict.tolist() == ["not_converged"] * R


def test_local_min_when_global_value_unknown() -> None:
    # n < k: global_min is None, the best single neuron is a strict local minimum
    prob = ReluTeacherStudent(k=2, n=1)
    res = run(prob, torch.full((1, 2), 0.3, dtype=DT), GD(0.5), stop=Stop(grad_tol=1e-10))
    theta = newton_polish(prob, res.theta).theta
    cert = certify(prob, theta)
    _check_invariants(cert, 1)
    assert cert.verdict.tolist() == ["local_min"]
    assert cert.eig_min[0] > 1e-3 and math.isnan(cert.dist[0])


def test_not_converged_diverged_degenerate() -> None:
    prob = flat_valley()
    pts = torch.tensor([[0.0, 0.0], [0.3, -0.2], [float("nan"), 0.0], [0.0, 1e-4]], dtype=DT)
    cert = certify(prob, pts)
    _check_invariants(cert, 4)
    # (0, 1e-4): ||grad|| = 1e-12, Hessian diag(1, 3e-8): still inconclusive at eig_tol 1e-6
    assert cert.verdict.tolist() == ["degenerate", "not_converged", "diverged", "degenerate"]
    assert cert.n_zero.tolist() == [1, 0, 0, 1] and cert.n_neg.tolist() == [0, 0, 0, 0]
    assert_close(cert.eig_max[[0, 3]], np.array([1.0, 1.0]), what="eig_max")
    assert cert.counts()["degenerate"] == 2


def test_not_converged_at_random_relu_point() -> None:
    prob = ReluTeacherStudent(k=3)
    theta = prob.init(4, generator=torch.Generator().manual_seed(2))
    cert = certify(prob, theta)
    _check_invariants(cert, 4)
    assert cert.verdict.tolist() == ["not_converged"] * 4
    # certify uses loss_and_grad; grad() is the same formulas in another order: default tol
    assert_close(cert.grad_norm, prob.grad(theta).norm(dim=1).numpy(), what="grad norm")


def test_relu_nan_row_is_diverged() -> None:
    prob = ReluTeacherStudent(k=3)
    theta = torch.cat([prob.teacher_point(), torch.full((1, 9), float("nan"), dtype=DT)])
    assert certify(prob, theta).verdict.tolist() == ["global_min", "diverged"]


def test_relu_second_layer_teacher() -> None:
    prob = ReluTeacherStudent(k=3, train_second_layer=True)
    assert certify(prob, prob.teacher_point()).verdict.tolist() == ["global_min"]


# ------------------------------------------------------------------ tolerances
def test_tolerances_are_used_and_recorded() -> None:
    prob = double_well()
    pt = torch.tensor([[1e-6, 0.0]], dtype=DT)  # ||grad|| = 1e-6 near the saddle
    assert certify(prob, pt).verdict.tolist() == ["not_converged"]
    cert = certify(prob, pt, tolerances=Tolerances(grad_tol=1e-5))
    assert cert.verdict.tolist() == ["saddle"]
    assert cert.tolerances == Tolerances(grad_tol=1e-5)
    row = cert.rows()[0]
    assert (
        row["cert_grad_tol"] == 1e-5 and row["cert_gap_tol"] == 1e-9 and row["cert_eig_tol"] == 1e-6
    )
    assert row["verdict"] == "saddle" and row["n_neg"] == 1
    assert row["eig_method"] == "dense" and row["eig_min_bound"] == 0.0
    assert list(row) == list(CERTIFICATE_COLUMNS)
    # eig_tol 2 counts the eigenvalues -1 and 1 as zero; gap_tol 0.3 admits loss 1/4
    wide = certify(prob, pt, tolerances=Tolerances(grad_tol=1e-5, eig_tol=2.0))
    assert wide.verdict.tolist() == ["degenerate"] and wide.n_zero.tolist() == [2]
    assert wide.rows()[0]["cert_eig_tol"] == 2.0 and wide.rows()[0]["cert_grad_tol"] == 1e-5
    loose = certify(prob, pt, tolerances=Tolerances(grad_tol=1e-5, gap_tol=0.3))
    assert loose.verdict.tolist() == ["global_min"]
    assert loose.tolerances == Tolerances(grad_tol=1e-5, gap_tol=0.3)


@pytest.mark.parametrize("name", ["grad_tol", "gap_tol", "eig_tol"])
@pytest.mark.parametrize("value", [-1e-9, float("nan"), float("inf"), "1e-9", True])
def test_bad_tolerances(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"{name} must be a finite number >= 0"):
        Tolerances(**{name: value})


def test_tolerances_come_through_one_door() -> None:
    pts = torch.zeros(1, 2, dtype=DT)
    with pytest.raises(ValueError, match="tolerances must be a Tolerances, got float"):
        certify(double_well(), pts, tolerances=1e-9)
    for old in ("tol", "grad_tol", "loss_tol", "eig_tol"):  # the former second doors
        with pytest.raises(TypeError, match="unexpected keyword"):
            certify(double_well(), pts, **{old: 1e-9})


# ------------------------------------------------------------------ input
def test_input_layouts() -> None:
    prob = ReluTeacherStudent(k=3, n=3, d=4)
    W = prob.split(prob.teacher_point())[0]  # (1, 3, 4)
    one = certify(prob, W[0].numpy())  # (n, d), numpy
    assert len(one) == 1 and one.verdict.tolist() == ["global_min"]
    batch = torch.cat([W, W + 0.1, W[:, [2, 0, 1]]])  # (R, n, d)
    cert = certify(prob, batch)
    _check_invariants(cert, 3)
    assert cert.verdict.tolist() == ["global_min", "not_converged", "global_min"]
    assert len(certify(prob, batch.reshape(3, -1)[1])) == 1  # (P,)
    for bad in (torch.zeros(3, 5), torch.zeros(2, 4, 3), torch.zeros(11)):
        with pytest.raises(ValueError, match="theta has shape"):
            certify(prob, bad)


def test_a_row_at_the_global_value_is_global_whatever_its_gradient() -> None:
    prob = ReluTeacherStudent(k=3, n=3, d=4)
    teacher = prob.teacher_point()
    near = teacher + 1e-6 * torch.randn(teacher.shape, generator=torch.Generator().manual_seed(0),
                                        dtype=teacher.dtype)  # fmt: skip
    far = teacher + 1e-3
    cert = certify(prob, torch.cat([near, far]))
    # near: loss ~1e-13 <= gap_tol 1e-9 but ||grad|| ~1e-7 > grad_tol 1e-10
    assert cert.loss[0] <= 1e-9 and cert.grad_norm[0] > 1e-10
    assert cert.loss[1] > 1e-9 and cert.grad_norm[1] > 1e-10
    assert cert.verdict.tolist() == ["global_min", "not_converged"]
    assert cert.eig_method.tolist() == ["none", "none"]  # no spectrum: not critical rows


def test_counts_over_a_mixed_batch() -> None:
    prob = double_well()
    pts = torch.tensor(
        [[0.0, 0.0], [0.0, 1.0], [0.5, 0.5], [float("inf"), 0.0], [0.0, -1.0]], dtype=DT
    )
    cert = certify(prob, pts)
    _check_invariants(cert, 5)
    counts = cert.counts()
    assert counts == {
        "global_min": 2,
        "spurious_min": 0,
        "local_min": 0,
        "saddle": 1,
        "degenerate": 0,
        "not_converged": 1,
        "diverged": 1,
    }
    assert [r["verdict"] for r in cert.rows()] == cert.verdict.tolist()


def test_global_spectrum_false_skips_only_rows_certified_by_their_loss() -> None:
    prob = double_well()
    pts = torch.tensor([[0.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.0, -1.0]], dtype=DT)
    full = certify(prob, pts)
    calls = []

    class Counting:
        def __getattr__(self, name):
            return getattr(prob, name)

        def hessian(self, theta):
            calls.append(theta.shape[0])
            return prob.hessian(theta)

    lean = certify(Counting(), pts, global_spectrum=False)
    assert lean.verdict.tolist() == full.verdict.tolist()
    glob = full.verdict == "global_min"
    # two global minima, one saddle, one non-critical row: only the saddle's Hessian
    assert glob.sum() == 2 and (full.verdict == "saddle").sum() == 1 and calls == [1]
    assert np.isnan(lean.eig_min[glob]).all() and (lean.n_neg[glob] == 0).all()
    sad = full.verdict == "saddle"
    assert_close(lean.eig_min[sad], full.eig_min[sad], what="eig_min of the saddle")


def test_replace_rows_takes_entries_from_another_certificate() -> None:
    prob = ReluTeacherStudent(k=3)
    teacher = prob.teacher_point()
    rand = prob.init(3, generator=torch.Generator().manual_seed(0))
    cert = certify(prob, rand)
    assert cert.verdict.tolist() == ["not_converged"] * 3
    fixed = cert.replace_rows(np.array([1]), certify(prob, teacher))
    assert fixed.verdict.tolist() == ["not_converged", "global_min", "not_converged"]
    assert fixed.loss[1] == certify(prob, teacher).loss[0] and fixed.loss[0] == cert.loss[0]
    assert cert.verdict[1] == "not_converged"  # the original is unchanged
    with pytest.raises(ValueError, match="one entry of `other` per row"):
        cert.replace_rows(np.array([0, 1]), certify(prob, teacher))


# ------------------------------------------------------------------ spectrum routes
# The Lanczos bounds include their own rounding; the dense reference has an error of
# ~1e-15 ||H|| (LAPACK's eigvalsh), ||H|| <= 20 here.
ROUNDING = 1e-13


def _agree_within_bounds(lanczos: Certificate, dense: Certificate) -> None:
    """Same verdicts; the dense extremes lie within the Lanczos bounds of the Lanczos ones."""
    assert lanczos.verdict.tolist() == dense.verdict.tolist()
    crit = dense.eig_method == "dense"
    assert (lanczos.eig_method[crit] == "lanczos").all()
    for end in ("eig_min", "eig_max"):
        lam, ref = getattr(lanczos, end)[crit], getattr(dense, end)[crit]
        bound = getattr(lanczos, end + "_bound")[crit]
        assert bool((np.abs(lam - ref) <= bound + ROUNDING).all()), (end, lam, ref, bound)
    # the Lanczos counts are lower bounds of the exact ones
    assert bool((lanczos.n_neg <= dense.n_neg).all() and (lanczos.n_zero <= dense.n_zero).all())


def test_lanczos_route_agrees_with_dense_at_relu_minima(relu8_spurious) -> None:
    # k = n = 8, P = 64: GD-found spurious minima (polished) and the teacher, a strict
    # global minimum, certified by both routes (max_dense = 10 forces Lanczos).
    prob, rows = relu8_spurious
    pts = torch.cat([newton_polish(prob, rows).theta, prob.teacher_point()])
    R = pts.shape[0]
    dense = certify(prob, pts)
    lanczos = certify(prob, pts, max_dense=10)
    _check_invariants(dense, R)
    _check_invariants(lanczos, R, method="lanczos")
    assert lanczos.verdict.tolist() == ["spurious_min"] * (R - 1) + ["global_min"]
    _agree_within_bounds(lanczos, dense)
    # ARPACK to machine precision: the bounds are far inside eig_tol, so they decide
    assert bool((lanczos.eig_min_bound < 1e-9).all() and (lanczos.eig_max_bound < 1e-9).all())
    assert bool((lanczos.eig_min - lanczos.eig_min_bound > lanczos.tolerances.eig_tol).all())
    assert lanczos.n_neg.tolist() == [0] * R and lanczos.n_zero.tolist() == [0] * R
    row = lanczos.rows()[0]
    assert row["eig_method"] == "lanczos" and row["eig_min_bound"] == lanczos.eig_min_bound[0]
    # the same rows give the same certificate (fixed Lanczos start), to rounding: MKL's
    # products inside the Hessian-vector products are not bit-reproducible from call to
    # call on every input (measured: 8e-17 to 2e-16 apart on the rows compiled GD finds,
    # 0 on those the torch step found, with no other process or thread involved)
    again = certify(prob, pts, max_dense=10)
    assert again.verdict.tolist() == lanczos.verdict.tolist()
    np.testing.assert_allclose(again.eig_min, lanczos.eig_min, rtol=1e-12, atol=0)


def test_lanczos_route_saddles_toys_and_degenerate_points() -> None:
    prob, saddle = split_neuron_saddle(k=3)  # P = 6; one negative, one zero eigenvalue
    dense, lanczos = certify(prob, saddle), certify(prob, saddle, max_dense=0)
    _agree_within_bounds(lanczos, dense)
    assert lanczos.verdict.tolist() == ["saddle"] and lanczos.n_neg.tolist() == [1]
    # a double-well batch: saddle, global minima, a non-critical and a diverged row
    pts = torch.tensor([[0.0, 0.0], [0.0, 1.0], [0.5, 0.5], [float("inf"), 0.0]], dtype=DT)
    dense, lanczos = certify(double_well(), pts), certify(double_well(), pts, max_dense=1)
    _check_invariants(lanczos, 4, method="lanczos")
    _agree_within_bounds(lanczos, dense)
    # flat valley: eigenvalue 0 exactly at the origin: degenerate, one zero found
    flat = torch.zeros(1, 2, dtype=DT)
    lanczos = certify(flat_valley(), flat, max_dense=1)
    assert lanczos.verdict.tolist() == ["degenerate"] and lanczos.n_zero.tolist() == [1]


class _ManyHvpRelu:
    """ReluTeacherStudent with the ManyHvp capability, counting its hvp_many calls."""

    def __init__(self, prob: ReluTeacherStudent) -> None:
        self.prob, self.calls = prob, []

    def __getattr__(self, name: str):
        return getattr(self.prob, name)

    def hvp_many(self, theta: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(V.shape))
        return torch.einsum("rpq,rmq->rmp", self.prob.hessian(theta), V)


def test_lanczos_route_uses_hvp_many_when_the_problem_has_it() -> None:
    prob = ReluTeacherStudent(k=4)
    many = _ManyHvpRelu(prob)
    assert isinstance(many, ManyHvp) and not isinstance(prob, ManyHvp)
    tp = prob.teacher_point()
    lanczos = certify(many, tp, max_dense=4)
    assert many.calls, "the Lanczos route did not use hvp_many"
    _agree_within_bounds(lanczos, certify(prob, tp))
    assert lanczos.verdict.tolist() == ["global_min"] and lanczos.dist.tolist() == [0.0]


def test_check_certifiable_routes_and_refusals() -> None:
    assert check_certifiable(MAX_DENSE) == "dense"
    assert check_certifiable(MAX_DENSE + 1) == "lanczos"
    assert check_certifiable(1, max_dense=0) == "dense"  # Lanczos needs P >= 2
    assert check_certifiable(9, max_dense=9, lanczos=False) == "dense"
    with pytest.raises(ValueError) as err:
        check_certifiable(8281, lanczos=False, what="spurious-relu with k = 91")
    msg = str(err.value)
    assert msg.startswith("spurious-relu with k = 91 has P = 8281 parameters, more than ")
    assert f"max_dense = {MAX_DENSE}" in msg and msg.endswith(".") and ". " not in msg
    with pytest.raises(ValueError, match=f"P = {MAX_LANCZOS + 1} parameters, more than MAX_L"):
        check_certifiable(MAX_LANCZOS + 1)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="n_params must be an integer >= 1"):
            check_certifiable(bad)
    with pytest.raises(ValueError, match="max_dense must be an integer >= 0"):
        check_certifiable(10, max_dense=-1)


def test_certify_refuses_a_size_no_route_can_take(monkeypatch: pytest.MonkeyPatch) -> None:
    prob = ReluTeacherStudent(k=3)  # P = 9
    # the module, not the function of the same name that landscope.critical exports
    module = importlib.import_module("landscope.critical.certify")
    monkeypatch.setattr(module, "MAX_LANCZOS", 8)
    with pytest.raises(ValueError, match="P = 9 parameters, more than MAX_LANCZOS = 8"):
        certify(prob, prob.teacher_point(), max_dense=8)
    assert len(certify(prob, prob.teacher_point(), max_dense=9)) == 1  # dense still fine
