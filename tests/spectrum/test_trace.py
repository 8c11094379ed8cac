"""Hutchinson and Hutch++ trace estimates against exact traces of dense reference Hessians."""

from __future__ import annotations

import pytest
import torch

from _tolerances import assert_close
from landscope.spectrum import trace
from reference.spectrum_problems import MatrixProblem, matrix_with_eigenvalues, mlp_case, relu_case

DT = torch.float64
METHODS = ("hutchinson", "hutch++")
# Statistical bound in standard errors. The stderr is itself estimated (from 33 samples for
# Hutch++ at 100 probes: a t distribution with 32 degrees of freedom, whose two-sided tail
# beyond 5 is 2e-5), so 5 rather than 4 keeps the ~20 checks below passing for any seed.
SE = 5.0


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _matrix_case():
    eigs = torch.randn(60, generator=_gen(11), dtype=DT)  # indefinite, no structure
    prob = MatrixProblem(matrix_with_eigenvalues(eigs, seed=12))
    return prob, torch.zeros(4, 60, dtype=DT), prob.H.expand(4, -1, -1)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("make", [_matrix_case, relu_case, mlp_case], ids=["matrix", "relu", "mlp"])
def test_estimate_within_stderr_of_exact(make, method: str) -> None:
    prob, theta, H = make()
    R, P = theta.shape
    exact = torch.diagonal(H, dim1=1, dim2=2).sum(1)
    probes = 100 if P > 33 else 30  # Hutch++'s sketch of 100 // 3 would span all of R^P
    est = trace(prob, theta, probes=probes, method=method, generator=_gen(0))
    assert est.estimate.shape == est.stderr.shape == (R,)
    assert est.method == method and est.hvps == probes
    assert bool((est.stderr > 0).all())
    z = (est.estimate - exact).abs() / est.stderr
    # 30 probes leave Hutch++ 10 deflated samples: t with 9 degrees of freedom, whose
    # two-sided tail beyond 5 se is 7e-4 per row; allow 7 se there (tail 6e-5).
    bound = SE if probes == 100 or method == "hutchinson" else 7.0
    assert bool((z <= bound).all()), f"|error| / stderr = {z.tolist()}"


@pytest.mark.parametrize("make", [relu_case, mlp_case], ids=["relu", "mlp"])
def test_hutchpp_is_exact_when_the_sketch_spans_everything(make) -> None:
    # probes // 3 >= P: Q is a basis of R^P, tr(Q'HQ) = tr H and nothing is random.
    prob, theta, H = make()
    exact = torch.diagonal(H, dim1=1, dim2=2).sum(1)
    est = trace(prob, theta, probes=3 * theta.shape[1] + 3, generator=_gen(0))
    assert_close(est.estimate, exact, rtol=1e-10, what="Hutch++ with a full sketch")
    assert bool((est.stderr < 1e-10).all())


def test_hutchpp_is_exact_for_low_rank() -> None:
    # rank 5 <= probes // 3 = 6: the sketch H S spans range(H), so tr(Q'HQ) is the whole
    # trace and the deflated matrix is zero (up to rounding).
    eigs = torch.zeros(40, dtype=DT)
    eigs[:5] = torch.tensor([5.0, -3.0, 2.0, 1.0, 0.5], dtype=DT)
    prob = MatrixProblem(matrix_with_eigenvalues(eigs, seed=13))
    est = trace(prob, torch.zeros(3, 40, dtype=DT), probes=18, generator=_gen(1))
    assert_close(est.estimate, torch.full((3,), 5.5, dtype=DT), rtol=0, atol=1e-12)
    assert bool((est.stderr < 1e-12).all())


def test_hutchpp_error_falls_faster_on_a_decaying_spectrum() -> None:
    # lambda_i = 1 / i^2: a few eigenvalues carry most of the trace. Hutchinson's RMS error
    # falls as 1 / sqrt(m) (x3.2 from m = 12 to 120); Hutch++ deflates the top m/3
    # eigenvalues and its error fell ~100x here (the tail sum_{i > m/3} i^-4 shrinks fast).
    # 200 independent rows give each RMS to ~10 %, far inside the margins asserted.
    P, R = 300, 200
    eigs = torch.arange(1, P + 1, dtype=DT) ** -2.0
    prob = MatrixProblem(matrix_with_eigenvalues(eigs, seed=14))
    theta = torch.zeros(R, P, dtype=DT)
    exact = float(eigs.sum())

    def rms(method: str, m: int) -> float:
        est = trace(prob, theta, probes=m, method=method, generator=_gen(m))
        return float((est.estimate - exact).pow(2).mean().sqrt())

    plain = rms("hutchinson", 12) / rms("hutchinson", 120)
    plus = rms("hutch++", 12) / rms("hutch++", 120)
    assert 2.0 < plain < 5.0, plain  # ~ sqrt(10)
    assert plus > 4 * plain, (plus, plain)
    assert rms("hutch++", 120) < rms("hutchinson", 120) / 20


def test_probes_of_all_rows_go_in_one_batch() -> None:
    prob = MatrixProblem(matrix_with_eigenvalues(torch.arange(1.0, 9.0, dtype=DT), seed=15))
    theta = torch.zeros(3, 8, dtype=DT)
    trace(prob, theta, probes=10, method="hutchinson", generator=_gen(0))
    assert prob.calls == [30]
    prob.calls.clear()
    # Hutch++: the sketch H S (3 rows x 3), then tr(Q'HQ) and the deflated probes together
    trace(prob, theta, probes=10, method="hutch++", generator=_gen(0))
    assert prob.calls == [9, 3 * (3 + 4)]


def test_same_generator_same_estimate() -> None:
    prob, theta, _ = _matrix_case()
    a = trace(prob, theta, probes=30, generator=_gen(5))
    b = trace(prob, theta, probes=30, generator=_gen(5))
    assert torch.equal(a.estimate, b.estimate) and torch.equal(a.stderr, b.stderr)
    lo, hi = a.interval(2.0)
    assert_close(hi - lo, 4 * a.stderr, what="interval width")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "exact"}, "unknown method 'exact'"),
        ({"probes": 5}, r"probes must be an integer >= 6 for hutch\+\+"),
        ({"probes": 1, "method": "hutchinson"}, "probes must be an integer >= 2 for hutchinson"),
        ({"chunk": -1}, "chunk must be a positive integer"),
    ],
)
def test_trace_bad_input(kwargs, match) -> None:
    prob = MatrixProblem(torch.eye(8, dtype=DT))
    with pytest.raises(ValueError, match=match):
        trace(prob, torch.zeros(1, 8, dtype=DT), **kwargs)
