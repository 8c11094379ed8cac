"""ntk_cross: the kernel between two point sets, against the Gram matrix of both."""

from __future__ import annotations

import pytest
import torch

from _tolerances import assert_close
from landscope.kernels import ntk_cross, ntk_gram

DT = torch.float64


@pytest.mark.parametrize("act", ["relu", "leaky_relu:0.2", "erf", "squared_relu"])
@pytest.mark.parametrize(("kind", "depth"), [("h_inf", 1), ("ntk", 1), ("ntk", 3), ("nngp", 2)])
def test_cross_block_of_the_stacked_gram_matrix(act: str, kind: str, depth: int) -> None:
    """K(X, Y) is the off-diagonal block of ntk_gram([X; Y]): the same closed forms on the
    same covariances, so equal to rounding (measured <= 1.5e-15 relative to max |K|)."""
    gen = torch.Generator().manual_seed(4)
    X = torch.randn(2, 30, 5, generator=gen, dtype=DT)
    Y = 1.5 * torch.randn(2, 20, 5, generator=gen, dtype=DT)  # other norms than X's
    K = ntk_gram(torch.cat([X, Y], 1), act, kind, depth)[:, :30, 30:]
    C = ntk_cross(X, Y, act, kind, depth)
    assert C.shape == (2, 30, 20)
    assert_close(C, K, rtol=0, atol=1e-13 * float(K.abs().max()), what=f"{act} {kind} {depth}")
    # one data set (no batch) and Y = X give ntk_gram itself. Off the diagonal to rounding;
    # on it, |x|^2 from a matmul (ntk_gram) and from a sum of squares (ntk_cross) differ
    # in the last bit, so the cosine of a point with itself is 1 - 1e-16 instead of 1 and
    # arccos turns that into ~1e-8 (sqrt of it); so the diagonal is checked to 1e-7
    K0, C0 = ntk_gram(X[0], act, kind, depth), ntk_cross(X[0], X[0], act, kind, depth)
    off = ~torch.eye(30, dtype=torch.bool)
    scale = float(K0.abs().max())
    assert_close(C0[off], K0[off], rtol=0, atol=1e-13 * scale, what="Y = X, off the diagonal")
    assert_close(C0.diagonal(), K0.diagonal(), rtol=0, atol=1e-7 * scale, what="Y = X, diagonal")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("tanh",), "needs a closed-form kernel"),
        (("relu", "nope"), "unknown kernel kind"),
        (("relu", "h_inf", 2), "depth=1 only"),
    ],
)
def test_cross_errors(args, words) -> None:
    X = torch.randn(4, 3, dtype=DT)
    with pytest.raises(ValueError, match=words):
        ntk_cross(X, X, *args)


def test_cross_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="same batch and dimension"):
        ntk_cross(torch.randn(4, 3, dtype=DT), torch.randn(5, 2, dtype=DT))
