"""The spurious-spectra study: symmetry bookkeeping, and a small run through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from landscope.cli import main
from landscope.problems import ReluTeacherStudent
from landscope.studies import get_study
from landscope.studies.spurious_spectra import (
    _clusters,
    _is_sum_partition,
    family,
    predicted_dimensions,
)


@pytest.mark.parametrize("k", range(3, 13))
def test_predicted_dimensions_fill_the_space(k: int) -> None:
    assert sum(predicted_dimensions(k)) == k * k


def test_sum_partition() -> None:
    assert _is_sum_partition([28, 20, 7, 7, 1, 1], predicted_dimensions(8))  # observed, k = 8
    assert _is_sum_partition(predicted_dimensions(8), predicted_dimensions(8))
    assert not _is_sum_partition([26, 22, 7, 7, 1, 1], predicted_dimensions(8))  # 26: no subset
    assert not _is_sum_partition([64], [60, 3])


@pytest.mark.parametrize("k", [4, 5, 6, 9, 11])
def test_global_minimum_spectrum_has_the_multiplicities_of_delta_sk(k: int) -> None:
    """At W = I the exact (dense, closed-form) Hessian's eigenvalue multiplicities are sums
    of the Delta S_k-irreducible dimensions, each used once; clustering at 1e-6 (1 + |l|)
    is safe: distinct eigenvalues there are >= 0.01 apart, rounding is ~1e-15."""
    prob = ReluTeacherStudent(k=k)
    ev = torch.linalg.eigvalsh(prob.hessian(torch.eye(k, dtype=torch.float64).reshape(1, -1)))
    mults = [m for _, m in _clusters(ev[0].numpy())]
    assert _is_sum_partition(mults, predicted_dimensions(k)), mults
    # and a generic symmetric point would not: perturbing W breaks the multiplicities
    W = torch.eye(k, dtype=torch.float64) + 0.05 * torch.randn(
        k, k, generator=torch.Generator().manual_seed(k), dtype=torch.float64
    )
    ev2 = torch.linalg.eigvalsh(prob.hessian(W.reshape(1, -1)))[0].numpy()
    assert max(m for _, m in _clusters(ev2)) == 1


def test_family_names_line_up_across_k() -> None:
    assert family("Delta S_8", 9) == family("Delta S_6", 7) == "Delta S_(k-1)"
    assert family("Delta(S_2 x S_7)", 9) == "Delta(S_2 x S_(k-2))"
    assert family("trivial", 9) == "trivial"


@pytest.mark.slow
def test_cli_run_finds_delta_s7_minima_at_k8(tmp_path, capsys) -> None:
    """spurious-relu seeds 0 and 6 of k = 8 end at spurious minima (tests/conftest.py);
    spurious-spectra runs that study's missing cells into the same store first."""
    out = str(tmp_path)
    args = ["--out", out, "--quiet", "--seeds", "7", "--set", "k=8"]
    assert main(["run", "spurious-spectra", *args]) == 0
    capsys.readouterr()
    assert main(["show", "spurious-spectra", "--out", out, "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    for key in ("k", "isotropy", "order", "count", "loss_mean", "eig_min", "eig_max",
                "distinct_eigs"):  # fmt: skip
        assert all(key in c for c in summary)
    glob = [c for c in summary if "global" in c["isotropy"]]
    spur = [c for c in summary if "global" not in c["isotropy"]]
    assert len(glob) == 1 and glob[0]["matches_symmetry"] and glob[0]["order"] == 40320
    assert [(c["isotropy"], c["order"], c["count"]) for c in spur] == [("Delta S_7", 5040, 2)]
    assert glob[0]["in_delta_s_k_minus_1"] == 1.0
    assert spur[0]["eig_min"] > 0 and np.isclose(spur[0]["loss_mean"], 0.0215080, atol=1e-6)
    # the source runs are stored under spurious-relu, and a rerun computes nothing
    assert main(["show", "spurious-relu", "--out", out, "--format", "json"]) == 0
    capsys.readouterr()
    assert main(["run", "spurious-spectra", *args]) == 0
    assert "ran 0 of 1" in capsys.readouterr().out
    assert main(["plot", "spurious-spectra", "--out", out]) == 0
    assert (tmp_path / "figures" / "spurious-spectra.png").is_file()


def test_registered() -> None:
    assert get_study("spurious-spectra").name == "spurious-spectra"
