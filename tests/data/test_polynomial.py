"""``landscope.data.polynomial``: y = x^p at equally spaced points of [0, 1]."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscope.data import polynomial


@pytest.mark.parametrize(("n", "degree"), [(20, 2), (20, 3), (5, 1), (1, 4)])
def test_points_and_targets(n: int, degree: int) -> None:
    x, y = polynomial(n, degree)
    assert x.shape == (n, 1) and y.shape == (n, 1)
    assert x.dtype == torch.float64 and y.dtype == torch.float64
    ref = np.linspace(0, 1, n)  # independent: numpy's grid, numpy's powers
    np.testing.assert_allclose(x[:, 0].numpy(), ref, rtol=0, atol=1e-15)
    np.testing.assert_allclose(y[:, 0].numpy(), ref**degree, rtol=1e-14, atol=1e-15)
    assert float(x[0, 0]) == 0.0 and (n == 1 or float(x[-1, 0]) == 1.0)


@pytest.mark.parametrize(
    ("n", "degree", "name"), [(0, 2, "n"), (3, 0, "degree"), (2.0, 2, "n"), (3, False, "degree")]
)
def test_bad_arguments_are_one_sentence(n: object, degree: object, name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name} must be a positive integer; got .*\.$"):
        polynomial(n, degree)
