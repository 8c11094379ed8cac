"""Covariance specs of Gaussian inputs: Sigma, its blocks, and samples drawn from it."""

from __future__ import annotations

import pytest
import torch

from landscope.problems import COVARIANCE_SPECS, covariance, gaussian_inputs, parse_covariance


def test_covariances_and_their_symmetries() -> None:
    d = 6
    S, blocks = covariance("iso", d)
    assert torch.equal(S, torch.eye(d, dtype=torch.float64)) and blocks == [0] * d
    S, blocks = covariance("equi:0.3", d)
    assert float(S[0, 0]) == 1.0 and float(S[0, 1]) == pytest.approx(0.3, abs=1e-15)
    assert blocks == [0] * d
    S, blocks = covariance("scales:2", d)
    assert torch.equal(torch.diag(S), torch.tensor([1.0, 1, 1, 2, 2, 2], dtype=torch.float64))
    assert blocks == [0, 0, 0, 1, 1, 1]
    # Q Sigma Q' = Sigma exactly for the permutations inside the blocks, not across them
    inside = [2, 0, 1, 5, 3, 4]
    across = [3, 1, 2, 0, 4, 5]
    assert torch.equal(S[inside][:, inside], S)
    assert not torch.equal(S[across][:, across], S)
    assert covariance("scales:1", d)[1] == [0] * d  # equal scales: one block again


def test_defaults_and_specs() -> None:
    assert COVARIANCE_SPECS == ("iso", "equi:c", "scales:s")
    assert parse_covariance("iso") == ("iso", None)
    assert parse_covariance("equi") == ("equi", 0.5)
    assert parse_covariance("scales") == ("scales", 2.0)
    assert parse_covariance("scales:0.25") == ("scales", 0.25)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("nope", "sigma must be iso, equi:c or scales:s; got 'nope'"),
        ("iso:2", "sigma must be iso"),
        ("equi:1.5", r"sigma 'equi:1.5': the equi parameter must be a number in \[0, 1\)"),
        ("equi:x", "equi parameter"),
        ("scales:-1", r"scales parameter must be a number in \(0, inf\)"),
        ("scales:inf", r"scales parameter must be a number in \(0, inf\)"),
    ],
)
def test_bad_specs(spec: str, words: str) -> None:
    with pytest.raises(ValueError, match=words) as exc:
        parse_covariance(spec, name="sigma")
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("spec", ["iso", "equi:0.5", "scales:3"])
def test_samples_have_the_covariance(spec: str) -> None:
    """Monte Carlo: each entry of the sample covariance of m draws is within 5 standard
    errors of Sigma's, se(S_ij) = sqrt((S_ii S_jj + S_ij^2) / m) for Gaussian x."""
    d, m = 4, 20_000
    S, _ = covariance(spec, d)
    X = gaussian_inputs(spec, m, d, generator=torch.Generator().manual_seed(0))
    assert X.shape == (m, d) and X.dtype == torch.float64
    C = X.T @ X / m  # mean zero is known
    se = torch.sqrt((torch.outer(S.diagonal(), S.diagonal()) + S**2) / m)
    assert bool(((C - S).abs() <= 5 * se).all()), (C - S) / se


def test_samples_are_reproducible_and_bad_sizes_refused() -> None:
    a = gaussian_inputs("scales:2", 5, 3, generator=torch.Generator().manual_seed(1))
    b = gaussian_inputs("scales:2", 5, 3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="m must be an integer >= 1"):
        gaussian_inputs("iso", 0, 3, generator=torch.Generator())
    with pytest.raises(ValueError, match="d must be an integer >= 1"):
        covariance("iso", 0)
