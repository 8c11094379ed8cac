"""ntk_cross: the kernel between two point sets, against the Gram matrix of both."""

from __future__ import annotations

import pytest
import torch

from _tolerances import assert_close
from landscope.kernels import ntk_cross, ntk_gram

DT = torch.float64


@pytest.mark.parametrize(
    "act", ["relu", "leaky_relu:0.2", "erf", "erf_sqrt2", "erf_zhong", "squared_relu"]
)
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
    # one data set (no batch) and Y = X give ntk_gram itself, exactly (not through the
    # cross recursion, whose |x|^2 from a sum of squares would differ from the matmul's
    # x.x in the last bit, and arccos would turn cos = 1 - 1e-16 into an angle of 1e-8)
    K0, C0 = ntk_gram(X[0], act, kind, depth), ntk_cross(X[0], X[0], act, kind, depth)
    assert torch.equal(C0, K0)
    assert torch.equal(ntk_cross(X, X.clone(), act, kind, depth), ntk_gram(X, act, kind, depth))


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


def test_defaults_agree_with_ntk_gram() -> None:
    """With every argument left at its default, ntk_cross(X, X) equals ntk_gram(X) (both
    H-infinity of relu; before, ntk_cross defaulted to the NTK), and a cross block with
    defaults is the block of ntk_gram's defaults on the stacked points."""
    gen = torch.Generator().manual_seed(5)
    X = torch.randn(12, 4, generator=gen, dtype=DT)
    Y = 0.7 * torch.randn(9, 4, generator=gen, dtype=DT)
    assert torch.equal(ntk_cross(X, X), ntk_gram(X))
    K = ntk_gram(torch.cat([X, Y]))[:12, 12:]
    assert_close(ntk_cross(X, Y), K, rtol=0, atol=1e-13 * float(K.abs().max()), what="block")
    # and not the NTK (what the old default gave): the two differ by the NNGP kernel
    assert not torch.allclose(ntk_cross(X, X), ntk_gram(X, kind="ntk"))
