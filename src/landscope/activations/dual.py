"""Dual kernels of registered activations: which closed form applies, and the expectations.

For (u, v) ~ N(0, [[S_ii, S_ij], [S_ij, S_jj]]) over every pair of a covariance matrix S,
``dual_expectations(act, S)`` is (E[phi(u) phi(v)], E[phi'(u) phi'(v)]): a closed form
of ``landscope.gaussian.dual`` where the activation has one, quadrature of
``landscope.gaussian.bivariate`` otherwise. The closed forms, by name:

* ``relu``, ``leaky_relu``, ``leaky_relu:a``: the arc-cosine kernels (Cho & Saul 2009);
* ``squared_relu``: the arc-cosine kernel of order 2;
* ``erf`` (erf z), ``erf_sqrt2`` (erf(z / sqrt 2)), ``erf_zhong`` ((sqrt(pi) / 2) erf z):
  the arcsine kernel of Williams (1997), each at its own scale.

Only built-in activations take a closed form: a user's activation goes to quadrature even
when its name starts like one of these (``leaky_relu_mine``) or when it is built as an
``Activation`` under a built-in's name.
"""

from __future__ import annotations

import torch

from ..gaussian import bivariate
from ..gaussian.bivariate import ANGULAR_NODES
from ..gaussian.dual import (
    ERF,
    ERF_SQRT2,
    ERF_ZHONG,
    DualForm,
    Pair,
    erf_dual,
    relu_dual,
    squared_relu_dual,
)
from .registry import Activation

__all__ = ["CLOSED_FORMS", "closed_form", "closed_form_name", "dual_expectations", "relu_slope"]

_ERF_SCALES = {"erf": ERF, "erf_sqrt2": ERF_SQRT2, "erf_zhong": ERF_ZHONG}
# The names with a closed form, for messages (leaky_relu:a included).
CLOSED_FORMS = ("relu", "leaky_relu", "squared_relu", *_ERF_SCALES)


def relu_slope(act: Activation) -> float | None:
    """a for phi' = a + (1 - a) 1{z > 0} (relu: 0, leaky_relu: its slope), else None.

    Only the built-ins qualify: a user's activation is never assumed to be one of them.
    """
    if act.builtin and (act.name in ("relu", "leaky_relu") or act.name.startswith("leaky_relu:")):
        return float(act.dphi(torch.tensor([-1.0], dtype=torch.float64))[0])
    return None


def closed_form_name(act: Activation) -> str | None:
    """Which closed form applies: ``"relu"`` (relu, leaky_relu), ``"squared_relu"``,
    ``"erf"``, ``"erf_sqrt2"``, ``"erf_zhong"``; None when only quadrature does (every
    user-defined activation)."""
    if relu_slope(act) is not None:
        return "relu"
    if act.builtin and (act.name == "squared_relu" or act.name in _ERF_SCALES):
        return act.name
    return None


def closed_form(act: Activation) -> DualForm | None:
    """The closed form ``form(S, vi, vj, phi, dphi) -> Pair`` of ``act``, or None.

    S (..., n, n') holds the covariances, vi (..., n) and vj (..., n') the variances.
    """
    name = closed_form_name(act)
    if name is None:
        return None
    if name == "relu":
        return relu_dual(relu_slope(act))
    if name == "squared_relu":
        return squared_relu_dual
    return erf_dual(_ERF_SCALES[name])


def dual_expectations(
    act: Activation,
    S: torch.Tensor,
    *,
    phi: bool = True,
    dphi: bool = True,
    method: str = "auto",
    radial: int | None = None,
    angular: int = ANGULAR_NODES,
) -> Pair:
    """(E[phi(u) phi(v)], E[phi'(u) phi'(v)]) for every pair of S (..., n, n).

    ``method``: ``"auto"`` (closed form where one exists, else quadrature),
    ``"closed_form"`` or ``"quadrature"`` (Fourier for smooth activations, sectors for
    kinked ones). ``radial``: Gauss nodes in the radius (default by the largest variance,
    ``landscope.gaussian.RADIAL_NODES``). A quantity not asked for comes back as None.

    Raises:
        ValueError: method ``"closed_form"`` for an activation without one.
    """
    form = closed_form(act)
    if method == "closed_form" and form is None:
        raise ValueError(
            f"activation {act.name!r} has no closed-form kernel ({', '.join(CLOSED_FORMS)} "
            "do); use method='auto' or 'quadrature'."
        )
    return bivariate.expectations(
        act.phi,
        act.dphi,
        S,
        kinks=act.kinks,
        form=form,
        phi=phi,
        dphi=dphi,
        method=method,
        radial=radial,
        angular=angular,
    )
