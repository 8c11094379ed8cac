"""Infinite-width Gram matrices: H-infinity, the NNGP kernel and the NTK, and lambda_0.

Two-layer net f(W, a, x) = (1/sqrt m) sum_r a_r phi(w_r . x), w_r ~ N(0, I_d), a_r = +-1
(Du, Zhai, Poczos & Singh, "Gradient descent provably optimizes over-parameterized neural
networks", ICLR 2019; Jacot, Gabriel & Hongler, NeurIPS 2018):

* ``kind="h_inf"``: H-infinity_ij = E_w[x_i . x_j phi'(w . x_i) phi'(w . x_j)], the Gram
  matrix of the first layer with the second held fixed (Du et al.'s H(0) as m -> inf).
  For ReLU, x_i . x_j (pi - arccos c_ij) / (2 pi), c_ij the cosine of the pair.
* ``kind="nngp"``: K_ij = E_w[phi(w . x_i) phi(w . x_j)] (ReLU: the arc-cosine kernel of
  order 1, |x_i| |x_j| (sin t + (pi - t) cos t) / (2 pi)).
* ``kind="ntk"``: both layers trained; for one hidden layer H-infinity + NNGP (E a^2 = 1).

Deeper nets (``depth`` = L hidden layers; ``ntk`` and ``nngp`` only): the standard recursion
for a fully connected net in NTK parameterization, weights N(0, 1), a 1/sqrt(width)
factor after the first layer, no bias (Jacot et al. 2018; Arora et al., "On exact
computation with an infinitely wide neural net", NeurIPS 2019):

    Sigma^(0) = X X',   Theta^(0) = Sigma^(0)
    Sigma^(h)_ij    = E[phi(u) phi(v)]
    Sigmadot^(h)_ij = E[phi'(u) phi'(v)],   (u, v) ~ N(0, [[S_ii, S_ij], [S_ij, S_jj]]),
                                            S = Sigma^(h-1)
    Theta^(h) = Sigma^(h) + Theta^(h-1) * Sigmadot^(h)      (elementwise), h = 1..L

The NNGP kernel of depth L is Sigma^(L), the NTK Theta^(L) (with a linear output layer
on top of the L hidden ones); depth 1 gives exactly the two-layer kernels above.

Normalization: no c_sigma factor (Sigma^(h) = E[phi phi], not c_sigma E[phi phi]), so
that depth 1 is Du et al.'s H-infinity as written. Arora et al. use c_sigma = 2 for ReLU
(it keeps Sigma^(h)_ii = |x_i|^2 at every layer); for ReLU, and any positively homogeneous
activation of degree 1, their NTK and NNGP of depth L are 2^L times these (c_sigma^L in
general: Sigma^(h) scales by c_sigma^h, Sigmadot^(h) by c_sigma).

The bivariate expectations are closed forms for relu, leaky_relu, squared_relu and the
three error functions (erf, erf_sqrt2, erf_zhong; ``landscope.gaussian.dual``), and
quadrature for every other registered activation (see ``landscope.gaussian.bivariate`` for
the rules and their measured accuracy). Everything is float64, vectorized over all pairs
and over a leading batch of data sets.

Every function here defaults to ``kind=DEFAULT_KIND = "h_inf"``: Du et al.'s H-infinity,
whose smallest eigenvalue is their lambda_0, the quantity ``lambda_0`` and
``landscope ntk`` report. Pass ``kind="ntk"`` for the NTK of Jacot et al. (both layers
trained; neural-tangents' ``"ntk"``) and ``kind="nngp"`` for the NNGP kernel.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .. import activations as acts
from ..activations.dual import CLOSED_FORMS, closed_form, dual_expectations
from ..gaussian.bivariate import ANGULAR_NODES, MAX_RADIAL, METHODS

__all__ = [
    "DEFAULT_KIND",
    "KINDS",
    "KernelSpectrum",
    "kernel_spectrum",
    "lambda_0",
    "ntk_cross",
    "ntk_gram",
    "spectrum_summary",
]

KINDS = ("h_inf", "ntk", "nngp")
# One default for ntk_gram, ntk_cross and lambda_0 (Du et al.'s lambda_0 is of H-infinity).
DEFAULT_KIND = "h_inf"


def _as_points(X: object) -> torch.Tensor:
    """X as a float64 tensor (n, d) or (B, n, d), checked."""
    if isinstance(X, torch.Tensor):
        t = X.detach()
    else:
        try:
            t = torch.as_tensor(np.asarray(X, dtype=np.float64))
        except (TypeError, ValueError) as err:
            raise ValueError(f"X could not be turned into an array of numbers: {err}") from err
    if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64, torch.bool)):
        raise ValueError(f"X has dtype {t.dtype}; expected real numbers.")
    t = t.to(torch.float64)
    if t.dim() not in (2, 3):
        raise ValueError(
            f"X has shape {tuple(t.shape)}; expected (n, d) points or a batch (B, n, d)."
        )
    if t.shape[-2] == 0 or t.shape[-1] == 0:
        raise ValueError(f"X has shape {tuple(t.shape)}; it needs n >= 1 points of d >= 1.")
    if not bool(torch.isfinite(t).all()):
        raise ValueError("X contains NaN or infinite values.")
    return t


def _check(kind: str, depth: int, method: str) -> int:
    if kind not in KINDS:
        raise ValueError(f"unknown kernel kind {kind!r}; choose one of {', '.join(KINDS)}.")
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ValueError(f"depth is the number of hidden layers, an integer >= 1; got {depth!r}.")
    if kind == "h_inf" and depth != 1:
        raise ValueError(
            f"kind='h_inf' is the first-layer Gram matrix of a two-layer net and takes "
            f"depth=1 only; got depth={depth} (use kind='ntk' or 'nngp' for deeper nets)."
        )
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    return int(depth)


def _check_nodes(radial: int | None, angular: int) -> None:
    def bad(v: object) -> bool:
        return isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1

    if radial is not None and (bad(radial) or radial > MAX_RADIAL):
        raise ValueError(
            f"radial_nodes must be an integer in 1..{MAX_RADIAL} or None; got {radial!r}."
        )
    if bad(angular):
        raise ValueError(f"angular_nodes must be an integer >= 1; got {angular!r}.")


def ntk_gram(
    X: object,
    activation: str | acts.Activation = "relu",
    kind: str = DEFAULT_KIND,
    depth: int = 1,
    *,
    method: str = "auto",
    radial_nodes: int | None = None,
    angular_nodes: int = ANGULAR_NODES,
) -> torch.Tensor:
    """The infinite-width Gram matrix of the points X (see the module docstring).

    Args:
        X: (n, d) points, or (B, n, d) for B data sets at once; torch or numpy, any
            real dtype (computed in float64, on X's device for a tensor).
        activation: a registered name (``"relu"``, ``"tanh"``, ``"softplus:4"``, ...) or
            an ``Activation``.
        kind: ``"h_inf"`` (default), ``"ntk"`` or ``"nngp"``.
        depth: number of hidden layers L >= 1 (``h_inf``: 1 only).
        method: ``"auto"`` (closed form for relu, leaky_relu, squared_relu, erf,
            erf_sqrt2 and erf_zhong, quadrature otherwise), ``"closed_form"`` or
            ``"quadrature"`` (forced, e.g. to check one against the other).
        radial_nodes: Gauss nodes in the radius of the quadrature (default: 48, 96 or 160
            as the largest standard deviation sqrt(S_ii) of the layer is <= 3, <= 10 or
            larger; at most 160).
        angular_nodes: Gauss-Legendre nodes per angular sector, for activations with
            kinks only (default 32).

    Returns:
        (n, n) or (B, n, n) float64, symmetric positive semi-definite up to rounding.

    Raises:
        ValueError: for an unknown kind, activation or method, depth < 1, depth != 1 with
            kind="h_inf", NaN or infinity in X, or X not of shape (n, d) or (B, n, d).
    """
    depth = _check(kind, depth, method)
    _check_nodes(radial_nodes, angular_nodes)
    act = acts.get(activation)
    Xt = _as_points(X)
    S = Xt @ Xt.transpose(-1, -2)
    S = 0.5 * (S + S.transpose(-1, -2))  # exactly symmetric, so every layer stays so
    opts = {"method": method, "radial": radial_nodes, "angular": angular_nodes}
    if kind == "h_inf":
        _, dot = dual_expectations(act, S, phi=False, **opts)
        return dot.mul_(S)
    theta = S.clone() if kind == "ntk" else None
    for _ in range(depth):
        sig, dot = dual_expectations(act, S, dphi=kind == "ntk", **opts)
        if kind == "ntk":
            theta.mul_(dot).add_(sig)  # Theta^h = Sigma^h + Theta^(h-1) * Sigmadot^h
        S = sig
    return theta if kind == "ntk" else S


def ntk_cross(
    X: object,
    Y: object,
    activation: str | acts.Activation = "relu",
    kind: str = DEFAULT_KIND,
    depth: int = 1,
) -> torch.Tensor:
    """The kernel between two point sets, K(x_i, y_j): (n, n') or (B, n, n').

    What kernel regression needs at test points. Same kernels, conventions and defaults as
    ``ntk_gram``, for the activations with a closed form (relu, leaky_relu, squared_relu,
    erf, erf_sqrt2, erf_zhong): for Y equal to X it returns ``ntk_gram(X, activation,
    kind, depth)`` itself. Otherwise the layer recursion carries each set's variances (the
    diagonals of ``ntk_gram``'s recursion) along with the cross block, and entry (i, j)
    equals ``ntk_gram`` of the stacked points to rounding. Memory: a few (n, n') tensors;
    chunk Y for large sets.

    Raises:
        ValueError: as ``ntk_gram``, plus for an activation without a closed form, or X
            and Y of different dimension or batch.
    """
    depth = _check(kind, depth, "closed_form")
    act = acts.get(activation)
    form = closed_form(act)
    if form is None:
        raise ValueError(
            f"ntk_cross needs a closed-form kernel ({', '.join(CLOSED_FORMS)}); "
            f"{act.name!r} has none: use ntk_gram on the stacked points instead."
        )
    Xt, Yt = _as_points(X), _as_points(Y)
    if Xt.shape[:-2] != Yt.shape[:-2] or Xt.shape[-1] != Yt.shape[-1]:
        raise ValueError(
            f"X {tuple(Xt.shape)} and Y {tuple(Yt.shape)} need the same batch and dimension."
        )
    if Xt.shape == Yt.shape and torch.equal(Xt, Yt):
        # the Gram matrix itself: its diagonal sees cos = 1 exactly, where |x|^2 from a
        # sum of squares against x.x from a matmul would give an angle of ~1e-8
        return ntk_gram(Xt, act, kind, depth, method="closed_form")
    S = Xt @ Yt.transpose(-1, -2)
    vx, vy = Xt.square().sum(-1), Yt.square().sum(-1)
    dphi = kind != "nngp"
    theta = S.clone()
    for _ in range(depth):
        sig, dot = form(S, vx, vy, True, dphi)
        if kind == "ntk":
            theta = theta * dot + sig
        elif kind == "h_inf":
            theta = S * dot
        # each point with itself: a batch of 1 x 1 pairs, for the next layer's variances
        vx = form(vx[..., None, None], vx[..., None], vx[..., None], True, False)[0][..., 0, 0]
        vy = form(vy[..., None, None], vy[..., None], vy[..., None], True, False)[0][..., 0, 0]
        S = sig
    return S if kind == "nngp" else theta


def kernel_spectrum(K: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of a symmetric Gram matrix (n, n) or batch (B, n, n), ascending.

    K is symmetrized, (K + K') / 2, and handed to ``torch.linalg.eigvalsh``.
    """
    K = torch.as_tensor(K)
    if K.dim() < 2 or K.shape[-1] != K.shape[-2]:
        raise ValueError(f"K has shape {tuple(K.shape)}; expected a square (n, n) matrix.")
    return torch.linalg.eigvalsh(0.5 * (K + K.transpose(-1, -2)))


def lambda_0(
    X: object,
    activation: str | acts.Activation = "relu",
    kind: str = DEFAULT_KIND,
    depth: int = 1,
    **options,
) -> float | torch.Tensor:
    """lambda_0: the smallest eigenvalue of ``ntk_gram(X, activation, kind, depth)``.

    Du et al. (2019) show lambda_0 > 0 for ReLU when no two inputs are parallel, and the
    width they need grows like 1 / lambda_0^4. ``options`` go to ``ntk_gram``.

    Returns:
        a float for (n, d) points; a (B,) float64 tensor for a batch (B, n, d).
    """
    ev = kernel_spectrum(ntk_gram(X, activation, kind, depth, **options))[..., 0]
    return float(ev) if ev.dim() == 0 else ev


@dataclass(frozen=True)
class KernelSpectrum:
    """What a Gram matrix's spectrum says: lambda_0, lambda_max, their ratio, both ends.

    Attributes:
        n: size of the matrix.
        lambda_0, lambda_max: the smallest and largest eigenvalue.
        condition: lambda_max / lambda_0 (inf when lambda_0 <= 0).
        smallest: the k smallest eigenvalues, ascending.
        largest: the k largest eigenvalues, descending.
    """

    n: int
    lambda_0: float
    lambda_max: float
    condition: float
    smallest: tuple[float, ...]
    largest: tuple[float, ...]

    def as_dict(self) -> dict:
        """Every field, the eigenvalue tuples as lists (for JSON)."""
        return {**asdict(self), "smallest": list(self.smallest), "largest": list(self.largest)}


def spectrum_summary(eigenvalues: torch.Tensor, k: int = 5) -> KernelSpectrum:
    """Summarize one ascending spectrum (n,), as ``kernel_spectrum`` returns it."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k (eigenvalues shown at each end) must be an integer >= 1; got {k!r}.")
    ev = [float(v) for v in torch.as_tensor(eigenvalues).reshape(-1)]
    lo, hi = ev[0], ev[-1]
    return KernelSpectrum(
        n=len(ev),
        lambda_0=lo,
        lambda_max=hi,
        condition=hi / lo if lo > 0 else math.inf,
        smallest=tuple(ev[:k]),
        largest=tuple(reversed(ev[-k:])),
    )
