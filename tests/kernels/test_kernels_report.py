"""``ntk_report`` against Du et al.'s closed-form H-infinity written out in numpy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope import activations as acts
from landscope import kernels
from landscope.kernels import NtkReport, lambda_0, ntk_gram, ntk_report


def relu_h_inf(X: np.ndarray) -> np.ndarray:
    """H_ij = x_i . x_j (pi - arccos c_ij) / (2 pi) (Du et al. 2019, ReLU), in numpy."""
    G = X @ X.T
    norms = np.sqrt(np.diag(G))
    c = np.clip(G / np.outer(norms, norms), -1.0, 1.0)
    return G * (math.pi - np.arccos(c)) / (2 * math.pi)


def test_relu_report_against_the_closed_form() -> None:
    X = kernels.sphere(30, 4, seed=2)
    rep = ntk_report(X)
    assert isinstance(rep, NtkReport)
    assert (rep.activation, rep.kind, rep.depth, rep.d) == ("relu", "h_inf", 1, 4)
    ev = np.linalg.eigvalsh(relu_h_inf(X.numpy()))
    s = rep.spectrum
    assert s.n == 30
    # both float64 computations of the same matrix: rounding only (~1e-16 per entry)
    assert_close(s.smallest, ev[:5], what="smallest")
    assert_close(s.largest, ev[::-1][:5].copy(), what="largest")
    assert s.lambda_0 == pytest.approx(ev[0], rel=1e-12, abs=1e-14)
    assert s.condition == pytest.approx(ev[-1] / ev[0], rel=1e-10)
    assert s.lambda_0 == lambda_0(X)


def test_options_reach_the_kernel_and_k_is_capped_at_n() -> None:
    X = kernels.sphere(6, 3, seed=1)
    rep = ntk_report(X, "tanh", "ntk", 2, k=10)
    assert len(rep.spectrum.smallest) == len(rep.spectrum.largest) == 6
    ev = torch.linalg.eigvalsh(ntk_gram(X, "tanh", "ntk", 2))
    assert_close(rep.spectrum.smallest, ev, what="all eigenvalues")
    d = rep.as_dict()
    assert list(d) == ["activation", "kind", "depth", "d", "n", "lambda_0", "lambda_max",
                       "condition", "smallest", "largest"]  # fmt: skip
    json.dumps(d)
    assert ntk_report(X, acts.get("tanh"), "nngp").activation == "tanh"


@pytest.mark.parametrize(
    ("args", "kwargs", "words"),
    [
        ((), {"k": 0}, "k \\(eigenvalues shown at each end\\) must be an integer >= 1"),
        (("swish",), {}, "unknown activation 'swish'"),
        (("relu", "h_inf", 2), {}, "takes depth=1 only"),
        (("relu", "ntk", 0), {}, "depth is the number of hidden layers"),
    ],
)
def test_bad_input_is_one_sentence(args, kwargs, words) -> None:
    with pytest.raises(ValueError, match=words):
        ntk_report(kernels.sphere(5, 3), *args, **kwargs)


def test_a_batch_of_point_sets_is_refused() -> None:
    with pytest.raises(ValueError, match="takes one point set"):
        ntk_report(torch.stack([kernels.sphere(5, 3), kernels.sphere(5, 3, seed=1)]))
