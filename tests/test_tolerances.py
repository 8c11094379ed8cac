"""The shared ``assert_close``: it must fail loudly, and say where."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _tolerances import TOL, assert_close, tol

DT = torch.float64


def test_defaults_by_dtype() -> None:
    assert set(TOL) == {torch.float64, torch.float32}
    assert tol().rtol == tol(torch.float64).rtol < tol(torch.float32).rtol


def test_passes_within_tolerance() -> None:
    x = torch.linspace(-1, 1, 7, dtype=DT)
    assert_close(x + 1e-13, x)
    assert_close(x, x.numpy())
    inf = torch.tensor([np.inf, -np.inf, 1.0], dtype=DT)
    assert_close(inf, inf.clone())  # the same infinity on both sides is equal


def test_reports_worst_entries() -> None:
    x = torch.zeros(3, 4, dtype=DT)
    y = x.clone()
    y[1, 2], y[2, 0] = 1e-6, 1e-3
    with pytest.raises(AssertionError, match=r"2 of 12 entries differ") as err:
        assert_close(x, y, what="demo")
    msg = str(err.value)
    assert msg.startswith("demo:") and "max |diff| 1.000e-03" in msg
    assert msg.index("(2, 0)") < msg.index("(1, 2)")  # worst first


@pytest.mark.parametrize(
    ("actual", "expected", "match"),
    [
        (torch.zeros(3, dtype=DT), torch.zeros(1, 3, dtype=DT), "shape"),  # no broadcasting
        (torch.tensor([np.nan], dtype=DT), torch.tensor([np.nan], dtype=DT), "1 of 1"),
        (torch.tensor([np.inf], dtype=DT), torch.tensor([1.0], dtype=DT), "1 of 1"),
        (torch.zeros(2), torch.zeros(2, dtype=DT), "float32"),  # float32 caps precision
    ],
)
def test_fails(actual: torch.Tensor, expected: torch.Tensor, match: str) -> None:
    with pytest.raises(AssertionError, match=match):
        assert_close(actual, expected)
