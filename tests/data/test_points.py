"""``points``, the named-or-file point sets of ``landscope ntk --data``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from landscope import data


def test_points_by_name_and_by_file(tmp_path: Path) -> None:
    assert torch.equal(data.points("sphere"), data.sphere(data.DEFAULT_N, 10, seed=0))
    assert torch.equal(data.points("sphere", 7, d=3, seed=5), data.sphere(7, 3, seed=5))
    X = np.random.default_rng(0).normal(size=(4, 2))
    with open(tmp_path / "x.NPY", "wb") as f:  # np.save would append ".npy" to the name
        np.save(f, X)
    assert np.array_equal(data.points(tmp_path / "x.NPY", 3).numpy(), X[:3])
    with pytest.raises(ValueError, match="unknown data source 'points.txt'"):
        data.points("points.txt")


def test_points_digits() -> None:
    pytest.importorskip("sklearn")
    assert torch.equal(data.points("digits", 12), data.digits(12))
    assert data.points("digits").shape == (data.DEFAULT_N, 64)
