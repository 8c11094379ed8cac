"""``landscope._validate``: the fast row-finiteness check against the entry-by-entry one."""

import math

import pytest
import torch

from landscope._validate import finite_rows


@pytest.mark.parametrize("fill", [math.nan, math.inf, -math.inf])
def test_finite_rows_finds_each_non_finite_entry(fill):
    x = torch.randn(6, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x[1, 4, 0] = fill
    x[4, 0, 3] = fill
    expected = torch.isfinite(x).flatten(1).all(1)
    assert finite_rows(x).tolist() == expected.tolist() == [True, False, True, True, False, True]


def test_finite_rows_a_sum_that_overflows_is_still_finite():
    # Every entry is finite but the row's sum overflows to inf: the entry-by-entry check
    # decides, so the row counts as finite; a row with +inf and -inf (sum NaN) does not.
    x = torch.zeros(3, 4, dtype=torch.float64)
    x[0] = 1e308
    x[2, 0], x[2, 1] = math.inf, -math.inf
    assert not math.isfinite(float(x[0].sum()))
    assert finite_rows(x).tolist() == [True, True, False]
