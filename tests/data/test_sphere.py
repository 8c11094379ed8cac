"""``landscope.data.sphere``: unit rows, reproducible, uniform on the sphere."""

from __future__ import annotations

import math

import pytest
import torch

from _tolerances import assert_close
from landscope.data import sphere

F64 = torch.float64


def test_unit_rows_reproducible_from_seed_or_generator() -> None:
    X = sphere(50, 3, seed=1)
    assert X.shape == (50, 3) and X.dtype == F64 and X.device.type == "cpu"
    assert_close(torch.linalg.vector_norm(X, dim=1), torch.ones(50, dtype=F64))
    assert torch.equal(X, sphere(50, 3, seed=1))
    assert torch.equal(X, sphere(50, 3, generator=torch.Generator().manual_seed(1)))
    assert not torch.equal(X, sphere(50, 3, seed=2))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("d", [2, 5])
def test_moments_of_the_uniform_distribution(seed: int, d: int) -> None:
    """Uniform on the sphere: E x = 0 and E x x' = I / d. Each sample entry is within 5
    standard errors of it (the errors estimated from the same sample)."""
    n = 20_000
    X = sphere(n, d, seed=seed)
    mean = X.mean(0)
    se_mean = X.std(0) / math.sqrt(n)
    assert bool((mean.abs() <= 5 * se_mean).all()), (mean, se_mean)
    prods = X[:, :, None] * X[:, None, :]  # (n, d, d)
    second = prods.mean(0)
    se_second = prods.std(0) / math.sqrt(n)
    target = torch.eye(d, dtype=F64) / d
    assert bool(((second - target).abs() <= 5 * se_second).all()), (second, se_second)


@pytest.mark.parametrize(
    "bad", [{"n": 0, "d": 3}, {"n": 3, "d": -1}, {"n": 2.5, "d": 3}, {"n": True, "d": 3}]
)
def test_bad_sizes_are_one_sentence(bad: dict) -> None:
    with pytest.raises(ValueError, match=r"^(n|d) must be a positive integer; got .*\.$"):
        sphere(**bad)
