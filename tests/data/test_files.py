"""``landscope.data.load_points``: a user's (n, d) array from .npy or .csv, exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from landscope.data import load_points


def test_npy_kept_exactly(tmp_path: Path) -> None:
    X = np.random.default_rng(1).normal(size=(5, 3))
    np.save(tmp_path / "x.npy", X)
    got = load_points(tmp_path / "x.npy")
    assert got.dtype == torch.float64 and np.array_equal(got.numpy(), X)
    assert np.array_equal(load_points(tmp_path / "x.npy", n=2).numpy(), X[:2])


def test_csv_read_as_numbers(tmp_path: Path) -> None:
    X = np.random.default_rng(2).normal(size=(4, 2))
    np.savetxt(tmp_path / "x.csv", X, delimiter=",", fmt="%.17g")
    assert np.array_equal(load_points(str(tmp_path / "x.csv")).numpy(), X)
    (tmp_path / "one.csv").write_text("1,2,3\n")
    assert load_points(tmp_path / "one.csv").shape == (1, 3)


def test_bad_files_are_one_sentence(tmp_path: Path) -> None:
    np.save(tmp_path / "flat.npy", np.zeros(3))
    np.save(tmp_path / "nan.npy", np.array([[1.0, np.nan]]))
    np.save(tmp_path / "five.npy", np.zeros((5, 2)))
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "words.csv").write_text("a,b\n")
    cases = [
        (tmp_path / "x.txt", "must end in .npy or .csv"),
        (tmp_path / "missing.npy", "does not exist"),
        (tmp_path / "flat.npy", r"holds an array of shape \(3,\); expected \(n, d\)"),
        (tmp_path / "nan.npy", "contains NaN or infinite values"),
        (tmp_path / "empty.csv", "holds an empty array"),
        (tmp_path / "words.csv", "could not read .* as an array of numbers"),
    ]
    for path, match in cases:
        with pytest.raises(ValueError, match=match):
            load_points(path)
    with pytest.raises(ValueError, match="has 5 rows; asked for n = 6"):
        load_points(tmp_path / "five.npy", n=6)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        load_points(tmp_path / "five.npy", n=0)
