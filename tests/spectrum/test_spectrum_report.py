"""``spectrum_of``: the dense-or-Lanczos report of one point, against dense ``eigvalsh``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope.spectrum import (
    MAX_DENSE,
    SpectrumReport,
    extremal_eigs,
    slq,
    spectrum_of,
    summarize_spectrum,
    trace,
)
from reference.spectrum_problems import MatrixProblem, matrix_with_eigenvalues, relu_case

DT = torch.float64

DENSE_KEYS = ["n_params", "loss", "grad_norm", "method", "eig_min", "eig_max", "negative",
              "near_zero", "positive", "n_distinct", "distinct", "tol", "eigenvalues"]  # fmt: skip
LANCZOS_KEYS = ["n_params", "loss", "grad_norm", "method", "largest", "smallest", "bounds",
                "trace", "trace_stderr", "slq_probes", "slq_steps", "slq_mean", "slq_mean_stderr",
                "slq_second_moment", "slq_second_moment_stderr"]  # fmt: skip


def _matrix_case(P: int = 12, seed: int = 0) -> tuple[MatrixProblem, torch.Tensor, torch.Tensor]:
    """1/2 theta' H theta with eigenvalues -3, -1 (x2), 0, 0.5 ... and a random point."""
    eigs = torch.cat([torch.tensor([-3.0, -1.0, -1.0, 0.0], dtype=DT),
                      torch.linspace(0.5, 4.0, P - 4, dtype=DT)])  # fmt: skip
    prob = MatrixProblem(matrix_with_eigenvalues(eigs, seed=seed))
    theta = torch.randn(1, P, generator=torch.Generator().manual_seed(seed), dtype=DT)
    return prob, theta, eigs


def test_auto_is_dense_for_small_p_and_matches_the_exact_spectrum() -> None:
    prob, theta, eigs = _matrix_case()
    rep = spectrum_of(prob, theta)
    assert isinstance(rep, SpectrumReport) and rep.method == "dense"
    assert rep.extremal is None and rep.trace is None and rep.density is None
    assert rep.n_params == 12 and rep.eigenvalues.shape == (12,)
    assert_close(rep.eigenvalues, eigs, atol=1e-13, what="eigenvalues")
    # loss and gradient of the quadratic form, written out
    H = prob.H
    assert rep.loss == pytest.approx(float(0.5 * theta[0] @ H @ theta[0]), rel=1e-14)
    assert rep.grad_norm == pytest.approx(float(torch.linalg.vector_norm(H @ theta[0])), rel=1e-14)
    assert rep.summary == summarize_spectrum(rep.eigenvalues, 1e-6)
    assert (rep.summary.negative, rep.summary.near_zero) == (3, 1)
    d = rep.as_dict()
    assert list(d) == DENSE_KEYS
    assert d["eigenvalues"] == rep.eigenvalues.tolist()
    json.dumps(d)  # plain numbers and lists only


@pytest.mark.parametrize("route", [{"max_dense": 0}, {"method": "lanczos"}])
def test_lanczos_route_matches_dense_eigh_of_the_reference_hessian(route) -> None:
    """ReLU teacher-student, P = 16: the Lanczos extremes against numpy's eigvalsh of the
    autograd reference Hessian; trace and SLQ moments within 6 standard errors."""
    prob, theta, H = relu_case()
    rep = spectrum_of(prob, theta[:1], k=3, **route)
    assert rep.method == "lanczos" and rep.eigenvalues is None and rep.summary is None
    ev = np.linalg.eigvalsh(H[0].numpy())
    d = rep.as_dict()
    assert list(d) == LANCZOS_KEYS
    # Lanczos to machine precision on O(1) values (see test_lanczos.py)
    np.testing.assert_allclose(d["largest"], ev[::-1][:3], rtol=0, atol=1e-8)
    np.testing.assert_allclose(d["smallest"], ev[:3], rtol=0, atol=1e-8)
    assert max(d["bounds"]) < 1e-10
    # Hutch++ with 100 products on P = 16 recovers the trace to rounding; allow 6 stderr
    assert abs(d["trace"] - ev.sum()) <= 6 * d["trace_stderr"] + 1e-9
    assert abs(d["slq_mean"] - ev.mean()) <= 6 * d["slq_mean_stderr"] + 1e-9
    assert abs(d["slq_second_moment"] - (ev**2).mean()) <= 6 * d["slq_second_moment_stderr"] + 1e-9
    assert d["slq_probes"] == 10 and d["slq_steps"] == 16  # steps capped at P
    json.dumps(d)


def test_auto_switches_at_max_dense() -> None:
    prob, theta, _ = _matrix_case()
    assert spectrum_of(prob, theta, max_dense=12).method == "dense"
    assert spectrum_of(prob, theta, max_dense=11, k=2).method == "lanczos"
    assert MAX_DENSE >= 12  # the default takes the dense route here


def test_the_seed_fixes_every_probe() -> None:
    """Seed s draws from generators seeded 3s, 3s + 1, 3s + 2 (starts, Hutch++, SLQ)."""
    prob, theta, _ = _matrix_case(P=40, seed=1)
    opts = {"method": "lanczos", "k": 2, "probes": 12, "slq_probes": 4, "steps": 5}
    rep = spectrum_of(prob, theta, **opts)
    assert rep.as_dict() == spectrum_of(prob, theta, **opts).as_dict()
    gens = [torch.Generator().manual_seed(i) for i in range(3)]
    ext = extremal_eigs(prob, theta, k=2, generator=gens[0])
    tr = trace(prob, theta, probes=12, method="hutch++", generator=gens[1])
    dens = slq(prob, theta, probes=4, steps=5, generator=gens[2])
    assert torch.equal(rep.extremal.largest, ext.largest)
    assert torch.equal(rep.trace.estimate, tr.estimate)
    assert torch.equal(rep.density.nodes, dens.nodes)
    other = spectrum_of(prob, theta, seed=1, **opts)
    assert not torch.equal(other.trace.estimate, rep.trace.estimate)


@pytest.mark.parametrize(
    ("kwargs", "theta", "words"),
    [
        ({"method": "eigh"}, None, "unknown spectrum method 'eigh'"),
        ({}, torch.zeros(2, 12, dtype=DT), "takes one parameter row; got 2 rows"),
        ({}, torch.full((1, 12), math.nan, dtype=DT), "is not finite"),
        ({"method": "dense", "max_dense": 5}, None, "more than max_dense = 5"),
        ({"method": "lanczos", "k": 12}, None, "need k < P = 12"),
    ],
)
def test_bad_input_is_one_sentence(kwargs, theta, words) -> None:
    prob, theta0, _ = _matrix_case()
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        spectrum_of(prob, theta0 if theta is None else theta, **kwargs)
