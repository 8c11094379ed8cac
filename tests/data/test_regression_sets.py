"""``regression_set``'s anisotropic inputs: feature i scaled by decay**i, same draws."""

from __future__ import annotations

import pytest
import torch

from landscope.data import regression_set


@pytest.mark.parametrize("kind", ["planted", "random", "digits"])
def test_decay_scales_feature_i_by_decay_to_the_i(kind: str) -> None:
    X1, y1 = regression_set(kind, 30, 4, seed=2)
    Xd, yd = regression_set(kind, 30, 4, seed=2, decay=0.5)
    scale = torch.tensor([1.0, 0.5, 0.25, 0.125, 1.0], dtype=torch.float64)  # ones column kept
    # the same draws, rescaled: equal up to one rounding per entry
    assert torch.allclose(Xd, X1 * scale, rtol=1e-15, atol=0)
    if kind != "planted":  # the planted teacher labels the scaled inputs
        assert torch.equal(yd, y1)
    else:
        assert not torch.equal(yd, y1)


def test_decay_gives_geometrically_falling_singular_values() -> None:
    X, _ = regression_set("random", 2000, 3, seed=0, decay=0.3)
    s = torch.linalg.svdvals(X[:, :3] - X[:, :3].mean(0))
    # sample of 2000: each ratio within 10 % of 0.3 (sampling error ~ 1/sqrt(2000) = 2 %)
    assert torch.allclose(s[1:] / s[:-1], torch.full((2,), 0.3, dtype=torch.float64), rtol=0.1)


@pytest.mark.parametrize("decay", [0.0, -0.5, 1.5, float("nan"), True])
def test_bad_decay_is_refused(decay) -> None:
    with pytest.raises(ValueError, match="decay must be a number in"):
        regression_set("random", 10, 2, decay=decay)
