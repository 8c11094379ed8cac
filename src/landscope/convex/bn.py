"""Two-layer ReLU networks with batch normalization as a convex program (Ergen et al., ICLR 2022).

T. Ergen, A. Sahiner, B. Ozturkler, J. Pauly, M. Mardani and M. Pilanci, "Demystifying
batch normalization in ReLU networks: equivalent convex optimization models and implicit
regularization" (ICLR 2022). Data X (n, d), targets y (n,), width m. Neuron j is
batch-normalized over the n samples (no epsilon), then rectified:

    BN(X u_j) = gamma_j (X u_j - mean(X u_j)) / ||X u_j - mean(X u_j)|| + s b_j,

    p*_BN = min 1/2 ||sum_j relu(BN(X u_j)) alpha_j - y||^2
                + beta/2 sum_j (gamma_j^2 + b_j^2 + alpha_j^2)

with u_j free (BN makes the output independent of its scale, so it is not penalized) and
s = ``bias_scale`` (1 by default, the convention of landscope's issue; s = 1/sqrt(n) makes
the features below orthonormal, the form under which the closed form is exact).

**The reduction.** Let Xc = X - mean(X) = U_r S_r V_r' (thin SVD, rank r): BN sees X only
through the whitened, centred column space U_r. For any u, Xc u / ||Xc u|| = U_r q / ||q||
with q = S_r V_r' u, and every unit vector of R^r is such a q. So with
w_j = (gamma_j q_j / ||q_j||, b_j) in R^(r + 1) and the features A = [U_r, s 1] (n, r + 1),

    relu(BN(X u_j)) = relu(A w_j),   gamma_j^2 + b_j^2 = ||w_j||^2,

and the BN network is exactly a plain two-layer ReLU network with weight decay on every
weight, on the data A. Its global optimum is the convex program of Pilanci & Ergen over
the activation patterns of A (``landscope.convex.fit_relu``: column generation, solved by
Clarabel, stopped on a duality-gap certificate); a plain neuron w = (a, c) maps back to
gamma = ||a||, u = V_r S_r^-1 a / ||a||, b = c. Consequences the tests check: the value is
unchanged when X is replaced by X M for an invertible M, or when a constant column is
appended (neither changes U_r), and any BN network's gap to p*_BN is certified by the
dual bound of its residual on A (``bn_optimality_gap``).

**GD's bias, encoded** (``rank=k``). Gradient descent moves u_j in X's coordinates: the
whitened direction q = S V' u changes at rates scaled by the squared singular values, so
directions of small singular value are barely trained. Keeping only the top k singular
directions (A = [U_k, s 1]) gives the global optimum of the BN network whose first-layer
weights lie in the span of the top-k right singular vectors of Xc; landscope's study
compares GD-trained networks with it and with the full (k = r) program.

**Closed form** (``closed_form_bn``). When rank(Xc) = n - 1 (n <= d + 1 samples in
general position: the high-dimensional regime), every vector of R^n is A w for one w, and
the cost of a neuron with non-negative output o is N(o) = ||w|| =
sqrt(||o - mean(o)||^2 + mean(o)^2 / s^2) (for s >= 1/sqrt(n), making o negative off its
support only raises it). Positive neurons merge into one (N is a norm), so two neurons
suffice: o = t_+ y_+ and p = t_- y_- with t = (1 - beta N(y_+-) / ||y_+-||^2)_+, the
exact optimum when s = 1/sqrt(n) (then N = ||.|| and this is the soft-thresholding of
y_+ and y_-). For s = 1 the two directions stay the same but the optimum shifts their
supports; the formula then gives an upper bound, whose excess the study reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .._validate import check_finite
from .relu import ConvexReLUFit, dual_bound, fit_relu

__all__ = [
    "BNClosedForm",
    "BNGeometry",
    "ConvexBNFit",
    "bn_geometry",
    "bn_objective",
    "bn_optimality_gap",
    "bn_predict",
    "closed_form_bn",
    "fit_relu_bn",
]


# ------------------------------------------------------------------------------ checks
def _matrix(X: object) -> torch.Tensor:
    X = torch.as_tensor(X)
    if not X.is_floating_point():
        raise ValueError(f"X must hold floating-point numbers, got {X.dtype}.")
    X = X.to(torch.float64)
    if X.dim() != 2 or X.shape[0] < 2 or X.shape[1] < 1:
        raise ValueError(
            f"X has shape {tuple(X.shape)}; expected (n, d) with n >= 2 samples (batch "
            "normalization needs a spread over samples) and d >= 1."
        )
    check_finite("X", X)
    return X


def _targets(y: object, n: int) -> torch.Tensor:
    y = torch.as_tensor(y).to(torch.float64)
    if y.shape != (n,):
        raise ValueError(f"y has shape {tuple(y.shape)}; expected ({n},) to match X's rows.")
    check_finite("y", y)
    return y


def _positive(name: str, value: object) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (ok and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}.")
    return float(value)


def _bn_weights(weights: object, d: int) -> tuple[torch.Tensor, ...]:
    """(U (m, d), gamma (m,), b (m,), alpha (m,)) as float64, checked."""
    if not isinstance(weights, (tuple, list)) or len(weights) != 4:
        raise ValueError(
            "weights must be the tuple (U, gamma, b, alpha) of a BN network, as "
            "ConvexBNFit.weights() and ReluBatchNorm.parts() give it."
        )
    U = torch.as_tensor(weights[0]).to(torch.float64)
    if U.dim() != 2 or U.shape[1] != d:
        raise ValueError(f"U has shape {tuple(U.shape)}; expected (m, {d}) to match X.")
    out = [U]
    for name, v in zip(("gamma", "b", "alpha"), weights[1:], strict=True):
        t = torch.as_tensor(v).to(torch.float64)
        if t.shape != (U.shape[0],):
            raise ValueError(f"{name} has shape {tuple(t.shape)}; expected ({U.shape[0]},).")
        out.append(t)
    for name, t in zip(("U", "gamma", "b", "alpha"), out, strict=True):
        check_finite(name, t)
    return tuple(out)


# ---------------------------------------------------------------------------- geometry
@dataclass(frozen=True)
class BNGeometry:
    """What batch normalization sees of X: its centred column space, whitened.

    Attributes:
        mean: (d,) the sample mean of X (BN's training statistics).
        V: (d, k) the top k right singular vectors of the centred X.
        sigma: (k,) their singular values, descending.
        Uw: (n, k) the whitened centred data, Xc V / sigma (orthonormal columns).
        bias_scale: s, the scale of the BN bias b.
        rank: r, the rank of the centred X (k = r unless truncated).
        all_sigma: (r,) every nonzero singular value of the centred X.
    """

    mean: torch.Tensor = field(repr=False)
    V: torch.Tensor = field(repr=False)
    sigma: torch.Tensor = field(repr=False)
    Uw: torch.Tensor = field(repr=False)
    bias_scale: float
    rank: int
    all_sigma: torch.Tensor = field(repr=False)

    @property
    def k(self) -> int:
        """The singular directions kept (the convex program has k + 1 features)."""
        return int(self.sigma.numel())

    def features(self, X: object | None = None) -> torch.Tensor:
        """A = [(X - mean) V / sigma, s 1] (n', k + 1); default X the training data."""
        if X is None:
            W = self.Uw
        else:
            X = _matrix_any(X, self.V.shape[0])
            W = (X - self.mean) @ self.V / self.sigma
        return torch.cat([W, torch.full((W.shape[0], 1), self.bias_scale, dtype=W.dtype)], 1)

    def to_plain(self, U: torch.Tensor, gamma: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """BN neurons (U (m, d), gamma, b) -> plain neurons w (m, k + 1) on ``features``.

        Exact when the u_j lie in the span of V (always when k = r).
        """
        q = (U @ self.V) * self.sigma  # (m, k): S V' u
        nq = q.norm(dim=1, keepdim=True)
        if bool((nq == 0).any()):
            raise ValueError(
                "a neuron has X u constant over the samples: batch normalization divides "
                "by ||X u - mean(X u)|| = 0 there."
            )
        return torch.cat([gamma[:, None] * q / nq, b[:, None]], 1)

    def from_plain(self, W: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Plain neurons W (m, k + 1) -> (U (m, d), gamma (m,), b (m,)) of a BN network.

        u = V a / (sigma ||a||) so that S V' u = a / ||a||; a neuron with a = 0 (a constant
        output relu(s b)) gets gamma = 0 and u along the top singular direction.
        """
        a, c = W[:, :-1], W[:, -1]
        gamma = a.norm(dim=1)
        unit = torch.where(
            gamma[:, None] > 0,
            a / gamma.clamp_min(1e-300)[:, None],
            torch.nn.functional.one_hot(torch.zeros_like(c, dtype=torch.long), self.k).to(a),
        )
        return (unit / self.sigma) @ self.V.T, gamma, c.clone()


def _matrix_any(X: object, d: int) -> torch.Tensor:
    X = torch.as_tensor(X)
    if not X.is_floating_point():
        raise ValueError(f"X must hold floating-point numbers, got {X.dtype}.")
    X = X.to(torch.float64)
    if X.dim() != 2 or X.shape[1] != d:
        raise ValueError(f"X has shape {tuple(X.shape)}; expected (n', {d}).")
    check_finite("X", X)
    return X


def bn_geometry(X: object, *, bias_scale: float = 1.0, rank: int | None = None) -> BNGeometry:
    """The whitened centred column space of X that batch normalization sees.

    Args:
        X: (n, d) training inputs, n >= 2.
        bias_scale: s, the scale of the BN bias.
        rank: keep the top ``rank`` singular directions only (default: all r of them;
            singular values below max(n, d) eps sigma_max count as zero, as
            ``numpy.linalg.matrix_rank``).

    Raises:
        ValueError: bad X, X constant over the samples (rank 0), a bias_scale that is not
            positive, a rank not in 1..r.
    """
    X = _matrix(X)
    s = _positive("bias_scale", bias_scale)
    mean = X.mean(0)
    Uf, S, Vh = torch.linalg.svd(X - mean, full_matrices=False)
    cut = max(X.shape) * torch.finfo(torch.float64).eps * float(S[0]) if S.numel() else 0.0
    r = int((S > cut).sum()) if float(S[0]) > 0 else 0
    if r == 0:
        raise ValueError(
            "X is constant over the samples: batch normalization divides by "
            "||X u - mean(X u)|| = 0 for every u."
        )
    k = r if rank is None else rank
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= r:
        raise ValueError(f"rank must be an integer in 1..{r} (the rank of the centred X), "
                         f"got {rank!r}.")  # fmt: skip
    return BNGeometry(
        mean=mean,
        V=Vh[:k].T.contiguous(),
        sigma=S[:k].clone(),
        Uw=Uf[:, :k].contiguous(),
        bias_scale=s,
        rank=r,
        all_sigma=S[:r].clone(),
    )


# ------------------------------------------------------------------ the BN network
def bn_predict(
    X: object, weights: object, *, bias_scale: float = 1.0, X_new: object | None = None
) -> torch.Tensor:
    """Outputs (n',) of the BN network ``weights`` = (U, gamma, b, alpha) at X_new (default
    X), with the statistics of the training X (mean and norm of X u_j), as at inference.

    Raises:
        ValueError: bad shapes, non-finite weights, a neuron with X u constant.
    """
    X = _matrix(X)
    U, gamma, b, alpha = _bn_weights(weights, X.shape[1])
    s = _positive("bias_scale", bias_scale)
    Z = X @ U.T
    mu = Z.mean(0)
    nu = (Z - mu).norm(dim=0)
    if bool((nu == 0).any()):
        raise ValueError(
            "a neuron has X u constant over the samples: batch normalization divides by "
            "||X u - mean(X u)|| = 0 there."
        )
    Zn = Z if X_new is None else _matrix_any(X_new, X.shape[1]) @ U.T
    return torch.relu(gamma * (Zn - mu) / nu + s * b) @ alpha


def bn_objective(
    X: object, y: object, weights: object, beta: float, *, bias_scale: float = 1.0
) -> float:
    """1/2 ||sum_j relu(BN(X u_j)) alpha_j - y||^2 + beta/2 sum_j (gamma^2 + b^2 + alpha^2).

    ``weights`` = (U (m, d), gamma (m,), b (m,), alpha (m,)).
    """
    X = _matrix(X)
    y = _targets(y, X.shape[0])
    beta = _positive("beta", beta)
    U, gamma, b, alpha = w = _bn_weights(weights, X.shape[1])
    e = bn_predict(X, w, bias_scale=bias_scale) - y
    pen = (gamma * gamma).sum() + (b * b).sum() + (alpha * alpha).sum()
    return float(0.5 * (e * e).sum() + 0.5 * beta * pen)


def bn_optimality_gap(
    X: object,
    y: object,
    weights: object,
    beta: float,
    *,
    bias_scale: float = 1.0,
    patterns: torch.Tensor | None = None,
    max_patterns: int = 1_000_000,
) -> float:
    """An upper bound on bn_objective(X, y, weights, beta) - p*_BN: primal minus dual value.

    The BN network's residual r = y - f is that of the plain network on the features A
    (see the module docstring), so the dual bound of r on A bounds p*_BN from below.

    Args:
        patterns: every activation pattern of ``bn_geometry(X).features()`` (default:
            enumerated, exact).

    Returns:
        A float >= 0 (0 up to rounding at a global minimum).
    """
    X = _matrix(X)
    y = _targets(y, X.shape[0])
    primal = bn_objective(X, y, weights, beta, bias_scale=bias_scale)
    r = y - bn_predict(X, weights, bias_scale=bias_scale)
    A = bn_geometry(X, bias_scale=bias_scale).features()
    lower = dual_bound(A, y, r, beta, patterns=patterns, max_patterns=max_patterns)
    return max(primal - lower, 0.0)


# ------------------------------------------------------------------------ the solver
@dataclass(frozen=True)
class ConvexBNFit:
    """The global optimum of the BN network and a network attaining it.

    Attributes:
        objective: the BN objective of ``weights()`` (p*_BN up to ``gap``; with
            ``rank=k``, the optimum over first layers in the top-k singular span).
        lower_bound, gap: the dual value and the certified gap (``objective - lower``).
        plain: the ``ConvexReLUFit`` of the plain program on ``geometry.features()``.
        geometry: the ``BNGeometry`` the program was posed on.
        beta: the weight decay.
    """

    objective: float
    lower_bound: float
    gap: float
    plain: ConvexReLUFit = field(repr=False)
    geometry: BNGeometry = field(repr=False)
    beta: float

    @property
    def width(self) -> int:
        """Neurons of the network read off (an upper bound on the critical width m*)."""
        return self.plain.width

    @property
    def converged(self) -> bool:
        """Whether the certified gap reached the solver's tolerance."""
        return self.plain.converged

    def weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(U (m, d), gamma (m,), b (m,), alpha (m,)) of a BN network attaining ``objective``."""
        W, alpha = self.plain.weights()
        return (*self.geometry.from_plain(W), alpha)

    def predict(self, X_new: object | None = None) -> torch.Tensor:
        """The optimal network's outputs at X_new (default: the training X), (n',)."""
        W, alpha = self.plain.weights()
        return torch.relu(self.geometry.features(X_new) @ W.T) @ alpha


def fit_relu_bn(
    X: object,
    y: object,
    beta: float,
    *,
    bias_scale: float = 1.0,
    rank: int | None = None,
    rtol: float = 1e-6,
    max_rounds: int = 200,
    max_patterns: int = 100_000,
) -> ConvexBNFit:
    """The global optimum of the two-layer BN-ReLU network with weight decay, certified.

    Args:
        X: (n, d) inputs (no bias column is needed: BN centres it away); y: (n,) targets.
        beta: weight decay (> 0) on gamma, b and alpha.
        bias_scale: s in BN(z) = gamma (z - mean) / ||z - mean|| + s b.
        rank: solve over the top ``rank`` singular directions of the centred X only
            (first layers restricted to that span: GD's bias, see the module docstring);
            default all of them, the exact p*_BN.
        rtol, max_rounds, max_patterns: as ``fit_relu`` (the patterns are those of the
            (n, rank + 1) features).

    Returns:
        ``ConvexBNFit`` with ``.objective``, ``.weights()`` -> (U, gamma, b, alpha).

    Raises:
        ValueError: bad X or y, beta or bias_scale not positive, X constant over the
            samples, a bad rank, too many activation patterns.
    """
    X = _matrix(X)
    y = _targets(y, X.shape[0])
    beta = _positive("beta", beta)
    geo = bn_geometry(X, bias_scale=bias_scale, rank=rank)
    plain = fit_relu(
        geo.features(), y, beta, rtol=rtol, max_rounds=max_rounds, max_patterns=max_patterns
    )
    return ConvexBNFit(
        objective=plain.objective,
        lower_bound=plain.lower_bound,
        gap=plain.gap,
        plain=plain,
        geometry=geo,
        beta=beta,
    )


# ----------------------------------------------------------------------- closed form
@dataclass(frozen=True)
class BNClosedForm:
    """The two-neuron closed form of the high-dimensional regime.

    Attributes:
        objective: the BN objective of ``weights()`` (p*_BN when ``exact``, else an upper
            bound on it).
        exact: whether the formula is the optimum (bias_scale = 1/sqrt(n)).
        scales: (t_+, t_-), the shrinkage of y_+ and y_- in the outputs.
        geometry: the ``BNGeometry`` of X.
    """

    objective: float
    exact: bool
    scales: tuple[float, float]
    W: torch.Tensor = field(repr=False)
    alpha: torch.Tensor = field(repr=False)
    geometry: BNGeometry = field(repr=False)

    def weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(U, gamma, b, alpha) of the network (its 0 to 2 nonzero neurons)."""
        return (*self.geometry.from_plain(self.W), self.alpha)

    def predict(self, X_new: object | None = None) -> torch.Tensor:
        """Outputs at X_new (default the training X)."""
        return torch.relu(self.geometry.features(X_new) @ self.W.T) @ self.alpha


def closed_form_bn(X: object, y: object, beta: float, *, bias_scale: float = 1.0) -> BNClosedForm:
    """The closed-form BN network when rank(centred X) = n - 1 (see the module docstring).

    Raises:
        ValueError: bad input, or a centred X of rank below n - 1 (the formula does not
            apply: use ``fit_relu_bn``), or bias_scale < 1/sqrt(n) (then a neuron's cost
            is not N(o) and the formula is not even an upper bound by this argument).
    """
    X = _matrix(X)
    n = X.shape[0]
    y = _targets(y, n)
    beta = _positive("beta", beta)
    geo = bn_geometry(X, bias_scale=bias_scale)
    if geo.rank < n - 1:
        raise ValueError(
            f"the closed form needs the centred X of rank n - 1 = {n - 1} (n <= d + 1 "
            f"samples in general position); this X has rank {geo.rank}: use fit_relu_bn."
        )
    s = geo.bias_scale
    if s * math.sqrt(n) < 1 - 1e-12:
        raise ValueError(f"the closed form needs bias_scale >= 1/sqrt(n) = {n**-0.5:.4g}, "
                         f"got {s!r}.")  # fmt: skip
    A = geo.features()  # (n, n), invertible
    Ws, alphas, scales = [], [], []
    for sign in (1.0, -1.0):
        part = torch.clamp(sign * y, min=0.0)
        nrm2 = float((part * part).sum())
        if nrm2 == 0:
            scales.append(0.0)
            continue
        cost = math.sqrt(float(((part - part.mean()) ** 2).sum()) + float(part.mean()) ** 2 / s**2)
        t = max(1.0 - beta * cost / nrm2, 0.0)
        scales.append(t)
        if t == 0:
            continue
        w = torch.linalg.solve(A, t * part)  # A w = t y_+- (so relu(A w) = t y_+-)
        root = math.sqrt(float(w.norm()))
        Ws.append(w / root)
        alphas.append(sign * root)
    k1 = geo.k + 1
    W = torch.stack(Ws) if Ws else torch.zeros(0, k1, dtype=torch.float64)
    alpha = torch.tensor(alphas, dtype=torch.float64)
    f = torch.relu(A @ W.T) @ alpha
    obj = 0.5 * float(((f - y) ** 2).sum()) + 0.5 * beta * float(
        (W * W).sum() + (alpha * alpha).sum()
    )
    return BNClosedForm(
        objective=obj,
        exact=abs(s * math.sqrt(n) - 1) < 1e-12,
        scales=(scales[0], scales[1]),
        W=W,
        alpha=alpha,
        geometry=geo,
    )
