"""``landscope.data.digits`` / ``digit_images``: scikit-learn's shipped digits, float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope.data import DIGITS_N, digit_images, digits

sklearn_datasets = pytest.importorskip("sklearn.datasets")


def test_rows_are_the_first_images() -> None:
    bunch = sklearn_datasets.load_digits()
    assert DIGITS_N == bunch.data.shape[0] == 1797
    X = digits(30, normalize=False)
    assert X.shape == (30, 64) and X.dtype == torch.float64
    assert np.array_equal(X.numpy(), bunch.data[:30])
    assert digits().shape == (DIGITS_N, 64)


def test_normalized_rows_have_unit_norm_and_the_same_direction() -> None:
    raw, unit = digits(40, normalize=False), digits(40)
    assert_close(torch.linalg.vector_norm(unit, dim=1), torch.ones(40, dtype=torch.float64))
    assert_close(unit * torch.linalg.vector_norm(raw, dim=1, keepdim=True), raw)


def test_images_scaled_to_the_unit_interval_with_labels() -> None:
    bunch = sklearn_datasets.load_digits()
    X, y = digit_images(200)
    assert X.shape == (200, 1, 8, 8) and X.dtype == torch.float64
    assert y.shape == (200,) and y.dtype == torch.int64
    # independent reference: scikit-learn's own (n, 8, 8) images, over its 16 gray levels
    assert np.array_equal(X[:, 0].numpy(), bunch.images[:200] / 16.0)
    assert np.array_equal(y.numpy(), bunch.target[:200])
    assert float(X.min()) == 0.0 and float(X.max()) == 1.0
    assert set(y.tolist()) == set(range(10))


@pytest.mark.parametrize(
    ("n", "match"),
    [
        (0, r"^n must be a positive integer; got 0\.$"),
        (1798, r"^the digits data set has 1797 images; got n = 1798\.$"),
        (True, "n must be a positive integer"),
    ],
)
def test_bad_n_is_one_sentence(n: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        digits(n)
    with pytest.raises(ValueError, match=match):
        digit_images(n)
