"""Two-layer ReLU networks with weight decay as a convex program (Pilanci & Ergen, ICML 2020).

Data X (n, d) (append a column of ones for a bias), targets y (n,). The non-convex
problem, width m:

    p* = min_{U, alpha} 1/2 ||sum_j (X u_j)_+ alpha_j - y||^2
                        + beta/2 sum_j (||u_j||^2 + alpha_j^2).

Over the activation patterns D_i = diag(1[X u >= 0]) (``relu_patterns``) it equals, once
m >= m* (m* <= n + 1), the convex program

    min_{v_i, w_i}  1/2 || sum_i D_i X (v_i - w_i) - y ||^2 + beta sum_i (||v_i|| + ||w_i||)
    s.t.  (2 D_i - I) X v_i >= 0,  (2 D_i - I) X w_i >= 0,

and each nonzero v_i gives a neuron u = v_i / sqrt||v_i||, alpha = sqrt||v_i|| (each w_i
one with alpha = -sqrt||w_i||) of an optimal network.

**Solver: column generation, stopped by a certificate.** The number of patterns grows
like n^(d-1), but an optimum uses at most n + 1 neurons. A working set of (pattern,
sign) neurons is solved exactly as a small second-order cone program (Clarabel, an
interior-point method); then every pattern is priced by its cone correlation
||Pi_{K_D}(+-X' D r)|| with the residual r, and those above beta (the KKT condition of a
neuron not yet in the set) join the working set. The solve ends when the network read
off is certified within ``rtol`` by the duality gap below, so the stopping rule is a
proof of optimality and not an iteration count. The network read off is then made small,
each change kept only while still certified: neurons with tiny outputs dropped (and the
rest re-solved), at most n + 1 neurons (Caratheodory), neurons with parallel outputs
merged into one (an interior-point solution spreads one neuron over patterns that differ
only where its output is 0).

**Certificate.** The dual of the convex program is

    max_lambda  -1/2 ||lambda - y||^2 + 1/2 ||y||^2
    s.t.  max_{||u|| <= 1} |lambda' (X u)_+| <= beta,

so any feasible lambda bounds p* from below. For a candidate network with residual
r = y - f(X), lambda = s r with s = clip(r'y / ||r||^2, 0, beta / c(r)), where
c(r) = max_{||u|| <= 1} |r' (X u)_+| = max over patterns D and signs of
||Pi_{K_D}(+-X' D r)|| (K_D = {u : (2D - I) X u >= 0}: on K_D, (X u)_+ = D X u, and the
largest linear function over a cone inside the unit ball is the norm of the projection).
The projection's norm is dist(h, polar of K_D) = min_{mu >= 0} ||h + X'(2D - I) mu||, a
non-negative least-squares problem (``scipy.optimize.nnls``, exact); the patterns whose
upper bounds (||h||, and the same norm at a few projected-gradient steps' mu, valid for
any mu >= 0) fall below the running maximum are never solved.

**Gated ReLU.** With sampled gates g_i (large d), D_i = diag(1[X g_i >= 0]) and no cone
constraints gives the gated-ReLU relaxation (Mishkin, Sahiner & Pilanci, ICML 2022), a
group lasso; its neurons decompose into ReLU neurons in the cone K_{D_i}:
v = (v + t g) - t g with the smallest t >= 0 that puts v + t g in the cone
(``relu_from_gated``), a network with the same predictions on X.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import clarabel
import numpy as np
import scipy.sparse as sp
import torch
from scipy.optimize import nnls

from .._validate import check_finite
from .patterns import relu_patterns

__all__ = [
    "ConvexReLUFit",
    "dual_bound",
    "fit_gated_relu",
    "fit_relu",
    "fit_relu_batch",
    "max_correlation",
    "nonconvex_objective",
    "optimality_gap",
    "relu_from_gated",
    "sequential_weights",
]


# ------------------------------------------------------------------------------ checks
def _data(X: object, y: object) -> tuple[torch.Tensor, torch.Tensor]:
    X = torch.as_tensor(X)
    if not X.is_floating_point():
        raise ValueError(f"X must hold floating-point numbers, got {X.dtype}.")
    X = X.to(torch.float64)
    y = torch.as_tensor(y).to(torch.float64)
    if X.dim() != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X has shape {tuple(X.shape)}; expected (n, d) with n, d >= 1.")
    if y.dim() not in (1, 2) or y.shape[-1] != X.shape[0]:
        raise ValueError(
            f"y has shape {tuple(y.shape)}; expected ({X.shape[0]},) (or (B, {X.shape[0]}) "
            "for a batch of targets) to match X's rows."
        )
    check_finite("X", X)
    check_finite("y", y)
    return X, y


def _beta(beta: object, B: int) -> torch.Tensor:
    b = torch.as_tensor(beta, dtype=torch.float64).reshape(-1)
    if b.numel() not in (1, B):
        raise ValueError(f"beta has {b.numel()} values for {B} targets; give 1 or {B}.")
    if not bool(torch.all(torch.isfinite(b) & (b > 0))):
        raise ValueError(f"beta must be a positive finite number, got {beta!r}.")
    return b.expand(B).clone()


def _weights(U: object, alpha: object, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    U = torch.as_tensor(U).to(torch.float64)
    alpha = torch.as_tensor(alpha).to(torch.float64)
    if U.dim() != 2 or U.shape[1] != d:
        raise ValueError(f"U has shape {tuple(U.shape)}; expected (m, {d}) to match X.")
    if alpha.shape != (U.shape[0],):
        raise ValueError(f"alpha has shape {tuple(alpha.shape)}; expected ({U.shape[0]},).")
    check_finite("U", U)
    check_finite("alpha", alpha)
    return U, alpha


# ------------------------------------------------------------------- the certificate
def nonconvex_objective(X: object, y: object, U: object, alpha: object, beta: float) -> float:
    """1/2 ||sum_j (X u_j)_+ alpha_j - y||^2 + beta/2 sum_j (||u_j||^2 + alpha_j^2)."""
    X, y = _data(X, y)
    U, alpha = _weights(U, alpha, X.shape[1])
    b = float(_beta(beta, 1))
    r = torch.relu(X @ U.T) @ alpha - y
    return float(0.5 * (r * r).sum() + 0.5 * b * ((U * U).sum() + (alpha * alpha).sum()))


def _cone_max(h: np.ndarray, A: np.ndarray) -> float:
    """max_{u : A u >= 0, ||u|| <= 1} h'u = ||Pi_K(h)|| = min_{mu >= 0} ||h + A' mu||."""
    if np.all(A @ h >= 0):  # h is in the cone: its own projection
        return float(np.linalg.norm(h))
    _, res = nnls(A.T, -h)
    return float(res)


def max_correlation(
    X: object, r: object, *, patterns: torch.Tensor | None = None, max_patterns: int = 1_000_000
) -> float:
    """c(r) = max_{||u|| <= 1} |r'(X u)_+|, exactly, over every activation pattern of X.

    Args:
        X: (n, d) data; r: (n,) a residual (or any weights on the samples).
        patterns: (P, n) bool, every pattern of X (default: ``relu_patterns(X)``). The
            value is exact only when they are all there.
        max_patterns: refuse (ValueError) data with more patterns than this.
    """
    X, r = _data(X, r)
    if r.dim() != 1:
        raise ValueError(f"r has shape {tuple(r.shape)}; expected ({X.shape[0]},).")
    D = relu_patterns(X, max_patterns=max_patterns) if patterns is None else patterns
    found = _cone_values(X, r, torch.as_tensor(D).bool().cpu(), floor=0.0, top=1)
    return found[0][2] if found else 0.0


def dual_bound(
    X: object,
    y: object,
    residual: object,
    beta: float,
    *,
    patterns: torch.Tensor | None = None,
    max_patterns: int = 1_000_000,
) -> float:
    """A lower bound on p* from a residual r: the dual value at lambda = s r, s feasible."""
    X, y = _data(X, y)
    r = torch.as_tensor(residual, dtype=torch.float64)
    b = float(_beta(beta, 1))
    c = max_correlation(X, r, patterns=patterns, max_patterns=max_patterns)
    return _dual_value(y, r, b, c)


def optimality_gap(
    X: object,
    y: object,
    U: object,
    alpha: object,
    beta: float,
    *,
    patterns: torch.Tensor | None = None,
    max_patterns: int = 1_000_000,
) -> float:
    """An upper bound on primal(U, alpha) - p*: the primal value minus a dual value.

    Args:
        X: (n, d) data, with a column of ones if the network's first layer has a bias.
        y: (n,) targets.
        U: (m, d) first-layer weights (one neuron per row); alpha: (m,) output weights.
        beta: the weight decay (beta/2 on every squared weight).
        patterns: every activation pattern of X (default: enumerated, exact).
        max_patterns: refuse data whose patterns are too many to enumerate.

    Returns:
        A float >= 0 (0 up to rounding at a global minimum).

    Raises:
        ValueError: mis-shaped or non-finite input, beta <= 0, too many patterns.
    """
    X, y = _data(X, y)
    if y.dim() != 1:
        raise ValueError(f"y has shape {tuple(y.shape)}; expected ({X.shape[0]},).")
    U, alpha = _weights(U, alpha, X.shape[1])
    primal = nonconvex_objective(X, y, U, alpha, beta)
    r = y - torch.relu(X @ U.T) @ alpha
    lower = dual_bound(X, y, r, beta, patterns=patterns, max_patterns=max_patterns)
    return max(primal - lower, 0.0)


def sequential_weights(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(U, alpha) of ``Sequential(Linear(d, m), ReLU(), Linear(m, 1, bias=False))``.

    A first-layer bias becomes U's last column: pass X with a column of ones appended.

    Raises:
        ValueError: for any other architecture, or a second-layer bias that is not zero
            (the convex theory has none).
    """
    layers = list(model.children()) if isinstance(model, torch.nn.Sequential) else []
    ok = (
        len(layers) == 3
        and isinstance(layers[0], torch.nn.Linear)
        and isinstance(layers[1], torch.nn.ReLU)
        and isinstance(layers[2], torch.nn.Linear)
        and layers[2].out_features == 1
    )
    if not ok:
        raise ValueError(
            "the model must be Sequential(Linear(d, m), ReLU(), Linear(m, 1)); "
            f"got {model.__class__.__name__} with layers {[type(x).__name__ for x in layers]}."
        )
    first, last = layers[0], layers[2]
    if last.bias is not None and bool(torch.any(last.bias != 0)):
        raise ValueError("the output layer has a bias; the convex program has none (bias=False).")
    U = first.weight.detach().to(torch.float64)
    if first.bias is not None:
        U = torch.cat([U, first.bias.detach().to(torch.float64)[:, None]], dim=1)
    return U.clone(), last.weight.detach().to(torch.float64)[0].clone()


# ----------------------------------------------------------------------- the solver
@dataclass(frozen=True)
class ConvexReLUFit:
    """A solution of the convex program and the network read off it.

    Attributes:
        objective: the non-convex objective of ``weights()`` (an upper bound on p*, equal
            to it up to ``gap``).
        lower_bound: a dual value (a lower bound on p*); ``gap = objective - lower_bound``.
        gap: the certified suboptimality of ``weights()`` (0 up to the tolerance).
        V, W: (P, d) the convex variables (positive and negative neurons), one per pattern.
        patterns: (P, n) bool, the D_i used.
        exact: whether the patterns are every pattern of X (then ``objective`` is p*).
        beta: the weight decay.
        iterations: restricted conic solves (column-generation rounds) taken.
        converged: whether the certified gap reached the tolerance.
    """

    objective: float
    lower_bound: float
    gap: float
    V: torch.Tensor = field(repr=False)
    W: torch.Tensor = field(repr=False)
    patterns: torch.Tensor = field(repr=False)
    exact: bool
    beta: float
    iterations: int
    converged: bool

    @property
    def width(self) -> int:
        """Neurons of the network read off (for exact patterns an upper bound on m*, the
        smallest optimal width: the read-off is pruned, reduced to at most n + 1 neurons
        and its neurons with parallel outputs merged, but not minimized over optima)."""
        return int((self.V.norm(dim=1) > 0).sum() + (self.W.norm(dim=1) > 0).sum())

    def weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(U (m, d), alpha (m,)): u = v / sqrt||v||, alpha = +-sqrt||v|| per nonzero v."""
        return _read_off(self.V, self.W)


def _read_off(V: torch.Tensor, W: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    Us, alphas = [], []
    for Z, sign in ((V, 1.0), (W, -1.0)):
        nrm = Z.norm(dim=1)
        keep = nrm > 0
        root = nrm[keep].sqrt()
        Us.append(Z[keep] / root[:, None])
        alphas.append(sign * root)
    return torch.cat(Us), torch.cat(alphas)


def _restricted_solve(
    X: torch.Tensor,
    y: torch.Tensor,
    beta: float,
    D: torch.Tensor,
    sigma: torch.Tensor,
    cones: bool,
    tol: float,
) -> torch.Tensor:
    """The convex program over K given (pattern, sign) neurons, by Clarabel (interior point).

    min 1/2 ||e||^2 + beta sum_k s_k  s.t.  e = sum_k sigma_k D_k X v_k - y,
    ||v_k|| <= s_k, and (with ``cones``) (2 D_k - I) X v_k >= 0. Returns V (K, d).
    """
    K, n = D.shape
    d = X.shape[1]
    Xn, Dn, sg = X.numpy(), D.numpy().astype(np.float64), sigma.numpy()
    nv, nx = K * d, K * d + K + n
    # e = J v - y as J v - e = y (zero cone); J = [sigma_k D_k X] side by side
    J = sp.hstack([sp.csc_matrix((sg[k] * Dn[k])[:, None] * Xn) for k in range(K)])
    blocks = [sp.hstack([J, sp.csc_matrix((n, K)), -sp.identity(n)])]
    rhs = [y.numpy()]
    kinds = [clarabel.ZeroConeT(n)]
    if cones:  # z = S_k X v_k >= 0
        C = sp.block_diag([(2 * Dn[k] - 1)[:, None] * Xn for k in range(K)])
        blocks.append(sp.hstack([-C, sp.csc_matrix((K * n, K + n))]))
        rhs.append(np.zeros(K * n))
        kinds.append(clarabel.NonnegativeConeT(K * n))
    for k in range(K):  # z = (s_k, v_k) in the second-order cone
        rows = sp.csc_matrix(
            (-np.ones(d + 1), ([0, *range(1, d + 1)], [nv + k, *range(k * d, k * d + d)])),
            shape=(d + 1, nx),
        )
        blocks.append(rows)
        rhs.append(np.zeros(d + 1))
        kinds.append(clarabel.SecondOrderConeT(d + 1))
    A = sp.vstack(blocks).tocsc()
    P = sp.block_diag([sp.csc_matrix((nv + K, nv + K)), sp.identity(n)]).tocsc()
    q = np.concatenate([np.zeros(nv), np.full(K, beta), np.zeros(n)])
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = tol
    settings.tol_feas = settings.tol_ktratio = min(tol, 1e-8)
    settings.max_iter = 400
    sol = clarabel.DefaultSolver(P, q, A, np.concatenate(rhs), kinds, settings).solve()
    x = np.asarray(sol.x)
    if not np.all(np.isfinite(x)):
        raise RuntimeError(f"the restricted conic solve failed ({sol.status}).")
    return torch.from_numpy(x[:nv].reshape(K, d).copy())


def _cone_values(
    X: torch.Tensor, r: torch.Tensor, D: torch.Tensor, floor: float, top: int
) -> list[tuple[int, float, float]]:
    """The ``top`` largest ||Pi_{K_i}(sign X'D_i r)|| above ``floor``: (pattern, sign, value).

    Exact (NNLS) for every value returned. The others are pruned by upper bounds: ||h||,
    and ||h + A'mu|| at mu >= 0 from a few batched projected-gradient steps on the
    projection's dual (any mu >= 0 bounds the projection's norm from above).
    """
    Dt = D.to(X.dtype)
    G = (Dt * r) @ X  # (P, d): X' D r per pattern
    H = torch.cat([G, -G])  # (2P, d): sign +1 rows, then sign -1 rows
    S = torch.cat([2 * Dt - 1, 2 * Dt - 1])  # (2P, n): the cones' constraint signs
    upper = H.norm(dim=1)
    inside = ((S * (H @ X.T)) >= 0).all(1)  # h in its cone: the value is ||h||
    todo = (~inside) & (upper > floor)
    if bool(todo.any()):
        Ht, St = H[todo], S[todo]
        L = float(torch.linalg.matrix_norm(X, ord=2)) ** 2
        mu = torch.zeros_like(St)
        z, tk = mu, 1.0
        for _ in range(60):  # FISTA on min_{mu >= 0} ||h + X'(S mu)||^2 / 2
            grad = St * ((Ht + (St * z) @ X) @ X.T)
            new = torch.clamp(z - grad / L, min=0.0)
            tn = (1 + math.sqrt(1 + 4 * tk * tk)) / 2
            z, mu, tk = new + ((tk - 1) / tn) * (new - mu), new, tn
        upper[todo] = torch.minimum(upper[todo], (Ht + (St * mu) @ X).norm(dim=1))
    P = D.shape[0]
    Xn, Hn, Sn = X.numpy(), H.numpy(), S.numpy()
    exact_in = inside.numpy()
    up = upper.numpy()
    found: list[tuple[int, float, float]] = []
    for k in np.argsort(-up):
        bar = max(floor, found[top - 1][2] if len(found) >= top else floor)
        if up[k] <= bar:
            break
        val = float(up[k]) if exact_in[k] else _cone_max(Hn[k], Sn[k][:, None] * Xn)
        if val > floor:
            found.append((int(k % P), 1.0 if k < P else -1.0, val))
            found.sort(key=lambda f: -f[2])
    return found[:top]


def _solve_one(
    X: torch.Tensor,
    y: torch.Tensor,
    beta: float,
    D: torch.Tensor,
    exact: bool,
    rtol: float,
    max_rounds: int,
) -> dict:
    """Column generation: restricted conic solves, priced by the cone correlations.

    A loose phase (restricted solves to 1e-6, pricing with a 1e-4 slack) grows the
    working set until no pattern prices above beta; then the solves tighten (1e-10,
    then by 100x while the certificate is not met and pricing finds nothing new, down
    to 1e-14). Returns the state with the smallest certified gap seen. Neurons the
    restricted solve sets to zero leave the working set.
    """
    n, d = X.shape
    Df = D.to(X.dtype)
    work: list[tuple[int, float]] = []
    V = torch.zeros(0, d, dtype=X.dtype)
    steps = 0
    level: str | float = "loose"  # the restricted solves' relative accuracy
    best: dict = {}
    for _ in range(max_rounds):
        if work:
            idx = [w[0] for w in work]
            sig = torch.tensor([w[1] for w in work], dtype=X.dtype)
            tol = 1e-6 if level == "loose" else level
            V = _restricted_solve(X, y, beta, Df[idx], sig, True, tol)
            steps += 1
            nrm = V.norm(dim=1)
            keep = nrm > 1e-9 * float(nrm.max())  # zero at the restricted optimum
            work = [w for w, kp in zip(work, keep.tolist(), strict=True) if kp]
            V, sig = V[keep], sig[keep]
            U, alpha = _read_off(V * (sig[:, None] > 0), V * (sig[:, None] < 0))
        else:
            U, alpha = torch.zeros(0, d, dtype=X.dtype), torch.zeros(0, dtype=X.dtype)
        obj = nonconvex_objective(X, y, U, alpha, beta)
        r = y - torch.relu(X @ U.T) @ alpha
        now = {"obj": obj, "low": -math.inf, "gap": math.inf, "work": list(work), "V": V}
        now["steps"] = steps
        # one pass prices the patterns and gives c(r), the dual bound's scale
        vals = _cone_values(X, r, D, 0.0, top=8)
        if exact:
            now["low"] = _dual_value(y, r, beta, vals[0][2] if vals else 0.0)
            now["gap"] = max(obj - now["low"], 0.0)
            if now["gap"] <= rtol * max(abs(obj), 1e-300):
                return _tidied(X, y, beta, D, now, rtol)
        # keep the best certified state: a tighter restricted solve can come back worse
        # (an interior-point method at its accuracy limit)
        if not best or now["gap"] <= best["gap"] or not exact:
            best = now
        bar = beta * (1 + (1e-4 if level == "loose" else 0.0))
        new = [(i, sg) for i, sg, v in vals if v > bar and (i, sg) not in work]
        if not new:
            if level == "loose":
                level = 1e-10
            elif level > 1e-13:  # the restricted solve is not accurate enough yet (to 1e-14)
                level *= 1e-2
            else:
                return _tidied(X, y, beta, D, best, rtol) if exact else {**best, "ok": False}
        work.extend(new)
    return _tidied(X, y, beta, D, best, rtol) if exact else {**best, "ok": False}


def _tidied(
    X: torch.Tensor, y: torch.Tensor, beta: float, D: torch.Tensor, best: dict, rtol: float
) -> dict:
    """The fewest neurons with the same certificate: prune, Caratheodory, merge, prune.

    Each change is kept only while the certified gap stays within rtol (or, for a state
    that did not reach rtol, within its own gap); ``ok`` says whether rtol is met.
    """
    obj = max(abs(best["obj"]), 1e-300)
    tol = max(rtol, best["gap"] / obj)
    now = _pruned(X, y, beta, D, best, tol)
    now = _merged(X, y, beta, D, _caratheodory(X, y, beta, D, now, tol), tol)
    now = _pruned(X, y, beta, D, now, tol, resolve=True)
    return {**now, "ok": now["gap"] <= rtol * max(abs(now["obj"]), 1e-300)}


def _pruned(
    X: torch.Tensor,
    y: torch.Tensor,
    beta: float,
    D: torch.Tensor,
    best: dict,
    rtol: float,
    resolve: bool = False,
) -> dict:
    """Drop the neurons an interior-point solve leaves tiny but not zero, if still certified.

    Tiny means an output ||D X v|| below a fraction (1e-4, 1e-6, 1e-8) of the largest.
    With ``resolve``, where dropping them alone is not certified (the survivors were
    tuned to them), the restricted program on the survivors is solved again (to 1e-12).
    """
    V, work = best["V"], best["work"]
    if not len(V):
        return best
    out = (D[[w[0] for w in work]].to(X.dtype) * (V @ X.T)).norm(dim=1)
    for thr in (1e-4, 1e-6, 1e-8):
        keep = out > thr * float(out.max())
        if bool(keep.all()):
            return best
        kept = [w for w, kp in zip(work, keep.tolist(), strict=True) if kp]
        got = _certified(X, y, beta, D, best, kept, V[keep], rtol)
        if got is best and resolve and kept:
            sig = torch.tensor([w[1] for w in kept], dtype=X.dtype)
            Df = D[[w[0] for w in kept]].to(X.dtype)
            V2 = _restricted_solve(X, y, beta, Df, sig, True, 1e-12)
            got = _certified(X, y, beta, D, best, kept, V2, rtol)
        if got is not best:
            return got
    return best


def _certified(
    X: torch.Tensor, y: torch.Tensor, beta: float, D: torch.Tensor, best: dict, work, V, rtol
) -> dict:
    """``best`` with the neurons (work, V) instead, if they are still certified."""
    sig = torch.tensor([w[1] for w in work], dtype=X.dtype)
    U, alpha = _read_off(V * (sig[:, None] > 0), V * (sig[:, None] < 0))
    obj = nonconvex_objective(X, y, U, alpha, beta)
    r = y - torch.relu(X @ U.T) @ alpha
    vals = _cone_values(X, r, D, 0.0, top=1)
    low = _dual_value(y, r, beta, vals[0][2] if vals else 0.0)
    if obj - low <= rtol * max(abs(obj), 1e-300):
        return {**best, "obj": obj, "low": low, "gap": max(obj - low, 0.0), "work": work, "V": V}
    return best


def _caratheodory(
    X: torch.Tensor, y: torch.Tensor, beta: float, D: torch.Tensor, best: dict, rtol: float
) -> dict:
    """At most n + 1 neurons with the same predictions and the same regularization.

    With contributions z_k = sigma_k D_k X v_k and costs ||v_k||, a null vector c of the
    (n + 1, K) matrix [z_k; ||v_k||] (K > n + 1) rescales v_k by 1 + t c_k >= 0 (inside
    its cone) without changing the predictions or the objective; t is chosen to zero
    one neuron. Repeated until K <= n + 1 (Caratheodory; Pilanci & Ergen's m* <= n + 1).
    Kept only if the result is still certified.
    """
    V, work = best["V"].clone(), list(best["work"])
    n = X.shape[0]
    if len(work) <= n + 1:
        return best
    while len(work) > n + 1:
        sig = torch.tensor([w[1] for w in work], dtype=X.dtype)
        Dk = D[[w[0] for w in work]].to(X.dtype)
        Z = (sig[:, None] * Dk * (V @ X.T)).T  # (n, K)
        M = torch.cat([Z, V.norm(dim=1)[None]], 0)  # (n + 1, K)
        c = torch.linalg.svd(M).Vh[-1]  # a null vector: K > n + 1
        if not bool((c < 0).any()):
            c = -c
        ratio = torch.where(c < 0, -1.0 / c, torch.inf)
        j = int(torch.argmin(ratio))
        scale = torch.clamp(1 + float(ratio[j]) * c, min=0.0)
        keep = scale > 1e-12
        keep[j] = False
        V = (V * scale[:, None])[keep]
        work = [w for w, kp in zip(work, keep.tolist(), strict=True) if kp]
    return _certified(X, y, beta, D, best, work, V, rtol)


def _merged(
    X: torch.Tensor, y: torch.Tensor, beta: float, D: torch.Tensor, best: dict, rtol: float
) -> dict:
    """One neuron for each set of same-sign neurons whose outputs are parallel.

    Neurons k with contributions z_k = D_k X v_k >= 0 of one direction (the same support,
    X v_k <= 0 off it) add up exactly: relu(X sum v_k) = sum z_k, at a cost
    ||sum v_k|| <= sum ||v_k||. An interior-point solve spreads such a neuron over
    several patterns that differ only on samples where its output is 0 (boundary
    samples), which inflates the width read off. The merged v sits in the pattern of its
    own signs 1[X v >= 0] (every pattern is in D when it is exact); merged only where that
    pattern is present. Parallel means a cosine above 1 - tol, for tol = 1e-4, 1e-8, 1e-12
    in turn (a solve to rtol leaves outputs parallel to about its accuracy): the first
    grouping whose merged network is still certified is kept.
    """
    V, work = best["V"], list(best["work"])
    if len(work) < 2:
        return best
    sig = torch.tensor([w[1] for w in work], dtype=X.dtype)
    Z = D[[w[0] for w in work]].to(X.dtype) * (V @ X.T)  # (K, n) outputs, >= 0
    unit = Z / Z.norm(dim=1).clamp_min(1e-300)[:, None]
    cos = unit @ unit.T
    index = {bytes(row): i for i, row in enumerate(D.numpy().astype(np.uint8))}
    for tol in (1e-4, 1e-8, 1e-12):
        groups: list[list[int]] = []
        for k in range(len(work)):
            for g in groups:
                if sig[g[0]] == sig[k] and float(cos[g[0], k]) > 1 - tol:
                    g.append(k)
                    break
            else:
                groups.append([k])
        if len(groups) == len(work):
            return best
        new_work, new_V = [], []
        for g in groups:
            v = V[g].sum(0)
            i = index.get(bytes((X @ v >= 0).numpy().astype(np.uint8))) if len(g) > 1 else None
            if i is None:  # a single neuron, or a merged pattern not in D: left as they are
                new_work.extend(work[k] for k in g)
                new_V.extend(V[k] for k in g)
                continue
            new_work.append((i, work[g[0]][1]))
            new_V.append(v)
        got = _certified(X, y, beta, D, best, new_work, torch.stack(new_V), rtol)
        if got is not best:
            return got
    return best


def _dual_value(y: torch.Tensor, r: torch.Tensor, beta: float, c: float) -> float:
    """-1/2 ||lambda - y||^2 + 1/2 ||y||^2 at lambda = s r, s the best feasible scale."""
    rr = float(r @ r)
    if rr == 0.0:
        return 0.0
    s = float(r @ y) / rr
    if c > 0:
        s = min(s, beta / c)
    lam = max(s, 0.0) * r
    return float(-0.5 * ((lam - y) ** 2).sum() + 0.5 * (y * y).sum())


def _fits(
    X: torch.Tensor,
    Y: torch.Tensor,
    betas: torch.Tensor,
    D: torch.Tensor,
    exact: bool,
    rtol: float,
    max_rounds: int,
) -> list[ConvexReLUFit]:
    D = D[D.any(1)]  # the all-zero pattern adds nothing
    out = []
    for b in range(Y.shape[0]):
        res = _solve_one(X, Y[b], float(betas[b]), D, exact, rtol, max_rounds)
        d = X.shape[1]
        Vfull = torch.zeros(D.shape[0], d, dtype=X.dtype)
        Wfull = torch.zeros(D.shape[0], d, dtype=X.dtype)
        for (i, sg), v in zip(res["work"], res["V"], strict=True):
            (Vfull if sg > 0 else Wfull)[i] += v
        out.append(
            ConvexReLUFit(
                objective=res["obj"],
                lower_bound=res["low"],
                gap=res["gap"],
                V=Vfull,
                W=Wfull,
                patterns=D,
                exact=exact,
                beta=float(betas[b]),
                iterations=res["steps"],
                converged=bool(res["ok"]),
            )
        )
    return out


def _check_rtol(rtol: object) -> float:
    if isinstance(rtol, bool) or not isinstance(rtol, (int, float)) or not 0 < rtol < 1:
        raise ValueError(f"rtol must be a number in (0, 1), got {rtol!r}.")
    return float(rtol)


def _patterns_for(X: torch.Tensor, patterns: object, max_patterns: int) -> torch.Tensor:
    if patterns is None:
        return relu_patterns(X, max_patterns=max_patterns).cpu()
    D = torch.as_tensor(patterns)
    if D.dim() != 2 or D.shape[1] != X.shape[0]:
        raise ValueError(f"patterns have shape {tuple(D.shape)}; expected (P, {X.shape[0]}).")
    return D.bool().cpu()


def fit_relu_batch(
    X: object,
    Y: object,
    beta: object,
    *,
    patterns: torch.Tensor | None = None,
    rtol: float = 1e-6,
    max_rounds: int = 200,
    max_patterns: int = 100_000,
) -> list[ConvexReLUFit]:
    """``fit_relu`` for many targets and / or many beta on the same X.

    The patterns (and their enumeration's cost) are shared; the problems are solved one
    after another, each by its own column generation (working sets differ).

    Args:
        X: (n, d) data shared by every problem.
        Y: (B, n) targets, or (n,) for one target with several beta.
        beta: a positive number, or (B,) one per problem.

    Returns:
        One ``ConvexReLUFit`` per problem, in order.
    """
    X, Y = _data(X, Y)
    if Y.dim() == 1:
        nb = torch.as_tensor(beta, dtype=torch.float64).reshape(-1).numel()
        Y = Y[None].expand(max(nb, 1), -1).clone()
    betas = _beta(beta, Y.shape[0])
    rtol = _check_rtol(rtol)
    D = _patterns_for(X, patterns, max_patterns)
    return _fits(X, Y, betas, D, patterns is None, rtol, max_rounds)


def fit_relu(
    X: object,
    y: object,
    beta: float,
    *,
    patterns: torch.Tensor | None = None,
    rtol: float = 1e-6,
    max_rounds: int = 200,
    max_patterns: int = 100_000,
) -> ConvexReLUFit:
    """The global optimum of the weight-decay two-layer ReLU problem, certified.

    Column generation on the convex program: a working set of (pattern, sign) neurons
    is solved exactly (a second-order cone program, by Clarabel), then every pattern is
    priced by its cone correlation ||Pi_{K_D}(+-X'D r)|| against beta, and the violators
    join the working set; the solve ends when the certified gap (``optimality_gap`` of
    the network read off) is at most ``rtol`` times the objective.

    Args:
        X: (n, d) data (append a column of ones for a bias); y: (n,) targets.
        beta: weight decay, > 0.
        patterns: (P, n) bool activation patterns (default: every pattern of X, so the
            value is p*; with a subset, the optimum over those patterns, not certified).
        rtol: the certified relative gap to stop at.
        max_rounds: pricing rounds at most.
        max_patterns: refuse data with more patterns than this.

    Returns:
        ``ConvexReLUFit``: ``.objective`` (p*), ``.weights()`` (U, alpha) attaining it,
        ``.gap`` its certified suboptimality.

    Raises:
        ValueError: mis-shaped or non-finite data, beta <= 0, too many patterns.
    """
    X, y = _data(X, y)
    if y.dim() != 1:
        raise ValueError(f"y has shape {tuple(y.shape)}; expected ({X.shape[0]},).")
    return fit_relu_batch(
        X,
        y[None],
        _beta(beta, 1),
        patterns=patterns,
        rtol=rtol,
        max_rounds=max_rounds,
        max_patterns=max_patterns,
    )[0]


def _gates(gates: object, d: int) -> torch.Tensor:
    G = torch.as_tensor(gates).to(torch.float64)
    if G.dim() != 2 or G.shape[1] != d or G.shape[0] < 1:
        raise ValueError(f"gates have shape {tuple(G.shape)}; expected (G, {d}) with G >= 1.")
    check_finite("gates", G)
    return G


def fit_gated_relu(
    X: object,
    y: object,
    beta: float,
    gates: object,
    *,
    rtol: float = 1e-6,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The gated-ReLU relaxation: min 1/2||sum_i D_i X v_i - y||^2 + beta sum_i ||v_i||.

    D_i = diag(1[X g_i >= 0]) for gates g_i (G, d): a group lasso without cone
    constraints, solved by the same barrier method over all gates at once, to a duality
    gap below ``rtol`` times the objective.

    Returns:
        (V (G, d), patterns (G, n) bool, objective).
    """
    X, y = _data(X, y)
    if y.dim() != 1:
        raise ValueError(f"y has shape {tuple(y.shape)}; expected ({X.shape[0]},).")
    b = float(_beta(beta, 1))
    rtol = _check_rtol(rtol)
    G = _gates(gates, X.shape[1])
    D = (X @ G.T >= 0).T.to(torch.float64)  # (G, n)
    V = _restricted_solve(X, y, b, D, torch.ones(D.shape[0], dtype=torch.float64), False, rtol)
    r = (D * (V @ X.T)).sum(0) - y
    value = float(0.5 * (r * r).sum() + b * V.norm(dim=1).sum())
    return V, D.bool(), value


def relu_from_gated(X: object, V: object, gates: object) -> tuple[torch.Tensor, torch.Tensor]:
    """ReLU weights (U, alpha) with the gated model's predictions on X (cone decomposition).

    Each gated neuron D X v (D from gate g) is D X (v + t g) - D X (t g), with the
    smallest t >= 0 that puts v + t g in the cone {u : (2D - I) X u >= 0}; both pieces are
    then ReLU neurons with pattern D. Gates must be strictly inside their cone
    ((2D - I) X g > 0), as sampled gates almost surely are.
    """
    X, _ = _data(X, torch.zeros(torch.as_tensor(X).shape[0]))
    G = _gates(gates, X.shape[1])
    V = torch.as_tensor(V).to(torch.float64)
    if V.shape != G.shape:
        raise ValueError(f"V has shape {tuple(V.shape)}; expected {tuple(G.shape)}, one per gate.")
    check_finite("V", V)
    XG = X @ G.T  # (n, G)
    S = torch.where(XG >= 0, 1.0, -1.0)
    margin = (S * XG).T  # (G, n), > 0 inside
    if bool((margin.min(1).values <= 0).any()):
        raise ValueError("a gate lies on a sample's hyperplane; it is not inside its cone.")
    AV = (S * (X @ V.T)).T  # (G, n)
    t = torch.clamp(-AV / margin, min=0.0).amax(1)  # (G,)
    keep = V.norm(dim=1) > 0
    plus = (V + t[:, None] * G)[keep]
    minus = (t[:, None] * G)[keep]
    return _read_off(plus, minus)
