"""Activation patterns of a ReLU layer: the regions of a central hyperplane arrangement.

The convex reformulation of a two-layer ReLU network (Pilanci & Ergen, "Neural networks
are convex regularizers", ICML 2020) replaces the hidden neurons by one block of variables
per *activation pattern*: for data X (n, d) (append a column of ones for a bias) and a
direction u in R^d the pattern is the 0/1 vector D(u) = 1[X u >= 0] over the n samples.
For u off every hyperplane x_i . u = 0 the distinct patterns are the regions of the central
arrangement {x_i . u = 0}: each region is an open cone C, and D is constant on C. For n
points in general position (any d rows linearly independent) there are exactly

    P(n, d) = 2 * sum_{k=0}^{d-1} C(n-1, k)

of them (Cover 1965; ``pattern_count``): both a region and its negative are counted, and
for n <= d this is 2^n, every 0/1 vector (the all-zero one included).

``relu_patterns(X, method="exact")`` lists every region. First the arrangement is reduced:
rows of X that are exactly zero are dropped (x . u = 0 >= 0, so their bit is always 1),
the other rows are scaled to unit length and written in an orthonormal basis of their span
(r = rank X coordinates; D(u) depends on u only through its component in the row space),
and parallel rows (the same hyperplane, e.g. duplicated samples) are merged. In R^r with
normals spanning R^r every region is a pointed cone, so its closure has an extreme ray; an
extreme ray lies on a *line* of the arrangement, the null space L = span(v) of some r - 1
independent rows X_S. Near v the hyperplanes not containing L keep the sign of X v, and
the regions that have v on their boundary are exactly {sign(X v) off Z} x {regions of the
sub-arrangement Z at v}, where Z = {j : x_j . v = 0}. So the regions are the union, over
every line L and both of its rays +-v, of these local regions:

* for data in general position Z = S (r - 1 independent normals), whose regions are all
  2^(r-1) sign vectors, so the method is a vectorized sweep over the (r-1)-subsets S
  (null vector from a batched QR, 2^r candidate patterns per subset, deduplicated);
* for data not in general position (a line holding more than r - 1 hyperplanes, e.g. three
  collinear points with a bias column; subsets of rank < r - 1 are skipped) Z is larger, and
  its regions are found by the same method, recursively, in the (r-1)-dimensional
  complement of v. The result is again exact: no sampling and no LP.

The numerical decisions use fixed relative tolerances on the unit-normalized rows: rank
(singular values below 1e-10 of the largest), parallel rows (distance below 1e-10 after a
sign flip), rank-deficient subsets (a lower bound on the smallest singular value of X_S,
volume / sqrt(r-1)^(r-2), below 1e-10) and "x_j . v = 0" (|x_j . v| below 1e-12 over that
bound). Data closer to degenerate than that, say float32 points that should be collinear
but are not to float64 precision, are read as they are. The work is 2^r * C(q, r-1)
candidate patterns for q distinct hyperplanes of rank r, about 2^(r-1) per region, so the
exact method refuses arrangements that may have more than ``max_patterns`` regions (the
bound is P(q, r), the most any central arrangement of q hyperplanes of rank r has).

``method="sample"`` keeps the distinct patterns of Gaussian gates g ~ N(0, I_d) (Pilanci &
Ergen's practical variant; ``sample_gates`` also returns one gate per pattern, as the
gated-ReLU relaxation needs), and ``interior_points`` finds, for each pattern, a u with
(2 D - I) X u > 0 strictly (a batched finite Newton method on the squared hinge
sum_j max(0, 1 - s_j x_j . u)^2 from the least-squares start, and an LP for what it leaves).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from scipy.optimize import linprog

from .._validate import check_finite

__all__ = ["interior_points", "pattern_count", "relu_patterns", "sample_gates"]

_RANK_TOL = 1e-10  # relative singular value below which X, or a subset of rows, loses rank
_PARALLEL_TOL = 1e-10  # ||a_i -+ a_j|| of unit rows below which they are one hyperplane
_ZERO_TOL = 1e-12  # |a_j . v| * sigma_min(A_S) below which a_j is on the line v
_MARGIN_TOL = 1e-12  # an interior point needs s_j x_j . u > this * ||x_j|| ||u|| on all j
_CELLS = 1 << 22  # booleans per chunk of candidate patterns (or of sampled patterns)
_METHODS = ("exact", "sample")


# ----------------------------------------------------------------------------- checks
def _as_data(X: object) -> torch.Tensor:
    """Return X as a floating 2-D tensor with n, d >= 1 and finite entries."""
    if isinstance(X, np.ndarray):
        X = torch.tensor(X)
    if not isinstance(X, torch.Tensor):
        raise ValueError(f"X is a {type(X).__name__}; expected a torch.Tensor of shape (n, d).")
    if not X.is_floating_point():
        raise ValueError(f"X has dtype {X.dtype}; expected a floating dtype such as float64.")
    if X.dim() != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X has shape {tuple(X.shape)}; expected (n, d) with n, d >= 1.")
    check_finite("X", X)
    return X


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} is {value!r}; expected an integer >= 1.")
    return int(value)


def _numpy64(X: torch.Tensor) -> np.ndarray:
    return X.detach().to(device="cpu", dtype=torch.float64).numpy()


# ----------------------------------------------------------------------------- bit rows
def _pack(bits: np.ndarray) -> np.ndarray:
    """(N, n) bool -> (N, w) uint64 keys whose lexicographic order is that of the bit rows."""
    N, n = bits.shape
    w = max(1, -(-n // 64))
    padded = np.zeros((N, 64 * w), dtype=bool)
    padded[:, :n] = bits
    return np.packbits(padded, axis=1).view(">u8").astype(np.uint64)


def _unpack(keys: np.ndarray, n: int) -> np.ndarray:
    """Inverse of ``_pack``."""
    if keys.shape[0] == 0:
        return np.zeros((0, n), dtype=bool)
    raw = np.ascontiguousarray(keys.astype(">u8")).view(np.uint8)
    return np.unpackbits(raw, axis=1)[:, :n].astype(bool)


def _unique_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct rows of ``keys`` (N, w) and the index of each one's first occurrence."""
    if keys.shape[1] == 1:
        u, first = np.unique(keys[:, 0], return_index=True)
        return u[:, None], first
    order = np.lexsort(keys.T[::-1])  # stable: the first of equal rows comes first
    s = keys[order]
    new = np.ones(s.shape[0], dtype=bool)
    new[1:] = (s[1:] != s[:-1]).any(axis=1)
    return s[new], order[new]


def _sorted_unique(bits: np.ndarray) -> np.ndarray:
    keys, _ = _unique_keys(_pack(bits))
    return _unpack(keys, bits.shape[1])


# ----------------------------------------------------------------------------- exact
def pattern_count(n: int, d: int) -> int:
    """Number of activation patterns of n points in general position in R^d.

    Args:
        n: number of samples (rows of X), >= 1.
        d: dimension (columns of X, the bias column included), >= 1.

    Returns:
        2 * sum_{k=0}^{d-1} C(n-1, k); this is 2^n when n <= d.

    Raises:
        ValueError: if n or d is not an integer >= 1.
    """
    n = _positive_int("n", n)
    d = _positive_int("d", d)
    return 2 * sum(math.comb(n - 1, k) for k in range(d))


def _parallel_classes(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For unit rows Y (m, r): rep[i], the smallest j with y_j = +-y_i, and flip[i] (y_j = -y_i)."""
    m = Y.shape[0]
    rep = np.arange(m)
    flip = np.zeros(m, dtype=bool)
    step = max(1, _CELLS // max(m, 1))
    for i0 in range(0, m, step):
        G = Y[i0 : i0 + step] @ Y.T
        ci, cj = np.nonzero(np.abs(G) > 1.0 - 1e-6)
        neg = G[ci, cj] < 0
        diff = Y[i0 + ci] - np.where(neg, -1.0, 1.0)[:, None] * Y[cj]
        good = np.linalg.norm(diff, axis=1) <= _PARALLEL_TOL
        ci, cj, neg = ci[good], cj[good], neg[good]
        order = np.lexsort((cj, ci))  # by row, then smallest partner first
        ci, cj, neg = ci[order], cj[order], neg[order]
        first = np.ones(ci.shape[0], dtype=bool)
        first[1:] = ci[1:] != ci[:-1]
        rep[i0 + ci[first]] = cj[first]
        flip[i0 + ci[first]] = neg[first]
    while True:  # make the representative of a representative the representative
        nxt = rep[rep]
        if np.array_equal(nxt, rep):
            return rep, flip
        flip = flip ^ flip[rep]
        rep = nxt


def _reduce(A: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nonzero rows A (m, d) -> distinct unit hyperplane normals in row-space coordinates.

    Returns B (q, r) of rank r, and for each row of A the index of its normal in B and
    whether it points the other way.
    """
    A = A / np.linalg.norm(A, axis=1, keepdims=True)
    _, s, vt = np.linalg.svd(A, full_matrices=False)
    r = int((s > _RANK_TOL * s[0]).sum())
    Y = A @ vt[:r].T
    Y /= np.linalg.norm(Y, axis=1, keepdims=True)
    lead = np.argmax(Y != 0, axis=1)  # flip each row to make its first nonzero entry > 0
    neg = Y[np.arange(Y.shape[0]), lead] < 0
    Y[neg] *= -1.0
    Yu, inv = np.unique(Y, axis=0, return_inverse=True)  # exact duplicates at once
    inv = inv.reshape(-1)
    rep, flip = _parallel_classes(Yu)  # then the ones equal up to rounding
    keep, pos = np.unique(rep, return_inverse=True)
    return Yu[keep], pos.reshape(-1)[inv], neg ^ flip[inv]


def _arrangement(A: np.ndarray) -> np.ndarray:
    """Sign vectors (R, m), True where a_j . u > 0, of the regions of nonzero rows A (m, d)."""
    B, pos, flip = _reduce(A)
    return _full_rank_regions(B)[:, pos] ^ flip[None, :]


def _line_frames(M: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a batch of k unit rows M (b, k, k+1): the null vector v (b, r), an orthonormal
    basis (b, k, r) of the span of the rows, and a lower bound on their smallest singular
    value (volume / sqrt(k)^(k-1), since the largest is at most sqrt(k)).
    """
    b, k, r = M.shape
    Q, R = torch.linalg.qr(torch.from_numpy(M).transpose(1, 2), mode="complete")
    Q, R = Q.numpy(), R.numpy()  # (b, r, r), (b, r, k)
    volume = np.abs(np.diagonal(R, axis1=1, axis2=2)).prod(axis=1)
    return Q[:, :, -1], np.swapaxes(Q[:, :, :k], 1, 2), volume / math.sqrt(k) ** (k - 1)


def _full_rank_regions(A: np.ndarray) -> np.ndarray:
    """Regions of distinct unit normals A (m, r) of rank r, as unique sign rows (R, m)."""
    m, r = A.shape
    if r == 1:  # one hyperplane (a point) in R^1
        return np.array([[False], [True]])
    k = r - 1
    K = 1 << k
    w = max(1, -(-m // 64))
    combos = ((np.arange(K)[:, None] >> np.arange(k)[::-1]) & 1).astype(bool)  # (K, k)
    full = _pack(np.ones((1, m), dtype=bool))[0]  # the m bits that are in use
    keys: list[np.ndarray] = []
    lines: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    subsets = itertools.combinations(range(m), k)
    chunk = max(1, _CELLS // max(m, 2 * K * w))
    while True:
        flat = itertools.chain.from_iterable(itertools.islice(subsets, chunk))
        S = np.fromiter(flat, dtype=np.intp).reshape(-1, k)
        b = S.shape[0]
        if b == 0:
            break
        v, basis, smin = _line_frames(A[S])
        ok = smin > _RANK_TOL
        proj = v @ A.T  # (b, m)
        on_line = np.abs(proj) <= (_ZERO_TOL / np.maximum(smin, _RANK_TOL))[:, None]
        on_line[np.arange(b)[:, None], S] = True
        count = on_line.sum(axis=1)
        gen = np.flatnonzero(ok & (count == k))
        if gen.size:  # Z = S: the 2^k sign vectors on S, with both rays +-v
            G = gen.size
            rows = np.arange(G)
            base = _pack(proj[gen] > 0)  # (G, w)
            word = S[gen] // 64
            bit = np.left_shift(np.uint64(1), (63 - S[gen] % 64).astype(np.uint64))
            mask = np.zeros((G, w), dtype=np.uint64)
            local = np.zeros((G, K, w), dtype=np.uint64)
            for i in range(k):
                mask[rows, word[:, i]] |= bit[:, i]
                on = np.where(combos[None, :, i], bit[:, i, None], np.uint64(0))
                local[rows[:, None], np.arange(K)[None, :], word[:, i, None]] |= on
            sides = np.stack([base, ~base & full], axis=1) & ~mask[:, None, :]  # (G, 2, w)
            cand = sides[:, :, None, :] | local[:, None, :, :]  # (G, 2, K, w)
            keys.append(_unique_keys(cand.reshape(-1, w))[0])
        deg = np.flatnonzero(ok & (count > k))
        if deg.size:  # a line through more than k hyperplanes, one entry per line
            _, first = _unique_keys(_pack(on_line[deg]))
            for j in deg[first]:
                key = np.packbits(on_line[j]).tobytes()
                if key not in lines:
                    lines[key] = (on_line[j].copy(), proj[j].copy(), basis[j].copy())
    for Z, p, frame in lines.values():
        local = _arrangement(A[Z] @ frame.T)  # regions of the hyperplanes through the line
        pats = np.empty((2, local.shape[0], m), dtype=bool)
        pats[0] = p > 0
        pats[1] = p <= 0
        pats[:, :, Z] = local[None]
        keys.append(_unique_keys(_pack(pats.reshape(-1, m)))[0])
    return _unpack(_unique_keys(np.concatenate(keys, axis=0))[0], m)


def _exact_patterns(Xn: np.ndarray, max_patterns: int) -> np.ndarray:
    n = Xn.shape[0]
    zero = ~np.any(Xn != 0, axis=1)
    if zero.all():
        return np.ones((1, n), dtype=bool)
    B, pos, flip = _reduce(Xn[~zero])
    q, r = B.shape
    bound = pattern_count(q, r)
    if bound > max_patterns:
        raise ValueError(
            f"X ({n} rows, {q} distinct hyperplanes, rank {r}) can have up to {bound} "
            f"activation patterns, more than max_patterns={max_patterns}; raise max_patterns "
            f"or use method='sample'."
        )
    signs = _full_rank_regions(B)
    if zero.any() or flip.any() or not np.array_equal(pos, np.arange(n)):
        signs = signs[:, pos] ^ flip[None, :]
    else:  # already sorted and distinct
        return signs
    out = np.ones((signs.shape[0], n), dtype=bool)
    out[:, ~zero] = signs
    return _sorted_unique(out)


# ----------------------------------------------------------------------------- sampling
def _default_samples(n: int, d: int) -> int:
    return max(1_000, 10 * n * d)


def sample_gates(
    X: torch.Tensor, samples: int, *, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Distinct activation patterns of Gaussian gates, with one gate for each.

    Draws ``samples`` gates g ~ N(0, I_d) (in X's dtype, on the generator's device, in
    chunks) and keeps, for each distinct pattern 1[X g >= 0], the first gate that gave it.
    A gate off every hyperplane x_i . g = 0 (almost surely, except for zero rows of X)
    satisfies (2 D - I) X g > 0 strictly on the rows where x_i != 0.

    Args:
        X: data (n, d), floating, finite.
        samples: number of gates drawn, >= 1.
        generator: torch.Generator to draw from; None uses torch's default generator.

    Returns:
        gates (G, d) in X's dtype and patterns (G, n) bool, both on X's device, G <= samples,
        rows sorted lexicographically by pattern (as ``relu_patterns`` sorts them).

    Raises:
        ValueError: for bad X or samples, or a generator that is not a torch.Generator.
    """
    X = _as_data(X)
    samples = _positive_int("samples", samples)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(
            f"generator is a {type(generator).__name__}; expected a torch.Generator or None."
        )
    n, d = X.shape
    gen_device = generator.device if generator is not None else torch.device("cpu")
    chunk = max(1, _CELLS // n)
    keys: list[np.ndarray] = []
    gates: list[torch.Tensor] = []
    for start in range(0, samples, chunk):
        size = min(chunk, samples - start)
        g = torch.randn(size, d, generator=generator, dtype=X.dtype, device=gen_device)
        g = g.to(X.device)
        bits = (X.detach() @ g.T >= 0).T.cpu().numpy()
        k, first = _unique_keys(_pack(bits))
        keys.append(k)
        gates.append(g[torch.from_numpy(first).to(X.device)])
    all_keys, first = _unique_keys(np.concatenate(keys, axis=0))
    G = torch.cat(gates, dim=0)[torch.from_numpy(first).to(X.device)]
    patterns = torch.from_numpy(_unpack(all_keys, n)).to(X.device)
    return G, patterns


def relu_patterns(
    X: torch.Tensor,
    *,
    method: str = "exact",
    samples: int | None = None,
    generator: torch.Generator | None = None,
    max_patterns: int = 1_000_000,
) -> torch.Tensor:
    """Distinct activation patterns 1[X u >= 0] of a ReLU layer on data X.

    Args:
        X: data (n, d), floating, finite; append a column of ones for a bias.
        method: "exact" for every region of the arrangement {x_i . u = 0} (see the module
            docstring: a sweep over its lines, recursive where the data are not in general
            position), or "sample" for the patterns of ``samples`` Gaussian gates.
        samples: number of gates for "sample"; None means max(1000, 10 n d). Ignored by
            "exact" (but checked when given).
        generator: torch.Generator for "sample"; None uses torch's default generator.
        max_patterns: "exact" refuses when the arrangement may have more regions than this
            (the bound is ``pattern_count`` of its distinct hyperplanes and rank).

    Returns:
        bool tensor (P, n) on X's device, distinct rows sorted lexicographically (False
        before True, column 0 first). Rows of X that are exactly zero always get a 1.

    Raises:
        ValueError: for bad X, an unknown method, samples or max_patterns < 1, or an exact
            arrangement that may have more than max_patterns patterns.
    """
    X = _as_data(X)
    if method not in _METHODS:
        raise ValueError(f"method is {method!r}; expected one of {list(_METHODS)}.")
    if samples is not None:
        samples = _positive_int("samples", samples)
    max_patterns = _positive_int("max_patterns", max_patterns)
    if method == "sample":
        n, d = X.shape
        count = samples if samples is not None else _default_samples(n, d)
        return sample_gates(X, count, generator=generator)[1]
    return torch.from_numpy(_exact_patterns(_numpy64(X), max_patterns)).to(X.device)


# ----------------------------------------------------------------------------- interior
def _margins_ok(C: np.ndarray, B: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Rows of C (p, r) with s_j b_j . c > _MARGIN_TOL * ||c|| for all j (unit rows B)."""
    M = S * (C @ B.T)
    return M.min(axis=1) > _MARGIN_TOL * np.linalg.norm(C, axis=1)


def _newton(B: np.ndarray, S: np.ndarray, C: np.ndarray, iters: int = 60) -> np.ndarray:
    """Finite Newton with Armijo steps on f(c) = 1/2 sum_j max(0, 1 - s_j b_j . c)^2.

    Updates the rows of C (p, r) in place, in blocks, each until it has strict margins;
    returns the mask of rows that got there.
    """
    m, r = B.shape
    BB = (B[:, :, None] * B[:, None, :]).reshape(m, r * r)
    ridge = 1e-10 * np.eye(r)
    solved = np.zeros(C.shape[0], dtype=bool)
    block = max(1, _CELLS // (4 * m))
    for i0 in range(0, C.shape[0], block):
        Cb, Sb = C[i0 : i0 + block], S[i0 : i0 + block]  # views: Cb writes into C
        done = np.zeros(Cb.shape[0], dtype=bool)
        for it in range(iters + 1):
            idx = np.flatnonzero(~done)
            Ci, Si = Cb[idx], Sb[idx]
            M = Si * (Ci @ B.T)
            ok = M.min(axis=1) > _MARGIN_TOL * np.linalg.norm(Ci, axis=1)
            done[idx[ok]] = True
            if it == iters or ok.all():
                break
            idx, Ci, Si, M = idx[~ok], Ci[~ok], Si[~ok], M[~ok]
            viol = np.maximum(0.0, 1.0 - M)
            grad = -(viol * Si) @ B
            H = ((viol > 0).astype(np.float64) @ BB).reshape(-1, r, r) + ridge
            step = -np.linalg.solve(H, grad[..., None])[..., 0]
            f0 = 0.5 * (viol**2).sum(axis=1)
            slope = (grad * step).sum(axis=1)
            t = np.ones(idx.size)
            todo = np.arange(idx.size)
            for _ in range(30):  # halve t where the Armijo test fails
                trial = Ci[todo] + t[todo, None] * step[todo]
                ft = 0.5 * (np.maximum(0.0, 1.0 - Si[todo] * (trial @ B.T)) ** 2).sum(axis=1)
                todo = todo[ft > f0[todo] + 1e-4 * t[todo] * slope[todo]]
                if todo.size == 0:
                    break
                t[todo] *= 0.5
            Cb[idx] = Ci + t[:, None] * step
        solved[i0 : i0 + block] = done
    return solved


def _lp_point(B: np.ndarray, s: np.ndarray) -> np.ndarray | None:
    """max t s.t. s_j b_j . c >= t, |c| <= 1, t <= 1; c / t when t > 0, else None."""
    m, r = B.shape
    A_ub = np.hstack([-s[:, None] * B, np.ones((m, 1))])
    cost = np.zeros(r + 1)
    cost[-1] = -1.0
    bounds = [(-1.0, 1.0)] * r + [(None, 1.0)]
    res = linprog(cost, A_ub=A_ub, b_ub=np.zeros(m), bounds=bounds, method="highs")
    if res.status != 0 or res.x is None or res.x[-1] <= 1e-9:
        return None
    return res.x[:r] / res.x[-1]


def interior_points(X: torch.Tensor, patterns: torch.Tensor) -> torch.Tensor:
    """A strictly interior direction of each activation pattern's region.

    For each pattern D (a row of ``patterns``) finds u with x_i . u > 0 where D_i = 1 and
    x_i . u < 0 where D_i = 0, i.e. (2 D - I) X u > 0, with relative margin at least 1e-12
    (rows of X that are exactly zero are exempt; they must have D_i = 1). Method: in the
    row space of X, a batched finite Newton method on sum_j max(0, 1 - s_j x_j . u)^2 (s =
    2 D - 1, rows scaled to unit length) from the least-squares start; patterns it leaves
    go to an LP (scipy linprog, HiGHS: maximize t s.t. s_j x_j . u >= t, -1 <= u <= 1).

    Args:
        X: data (n, d), floating, finite.
        patterns: (P, n) bool (or 0/1) tensor, e.g. from ``relu_patterns``.

    Returns:
        (P, d) tensor of unit vectors, in X's dtype on X's device. The margins are checked
        in float64; a float32 X may turn a margin below float32 precision into a zero.

    Raises:
        ValueError: for bad X or patterns, or a pattern that has no interior point (it is
            not an activation pattern of X).
    """
    X = _as_data(X)
    n, d = X.shape
    if isinstance(patterns, torch.Tensor):
        Dn = patterns.detach().cpu().numpy()
    else:
        Dn = np.asarray(patterns)
    if Dn.ndim != 2 or Dn.shape[1] != n:
        raise ValueError(f"patterns has shape {Dn.shape}; expected (P, {n}) to match X.")
    if Dn.dtype != bool:
        if not np.all((Dn == 0) | (Dn == 1)):
            raise ValueError("patterns has entries other than 0 and 1; expected a 0/1 matrix.")
        Dn = Dn == 1
    Xn = _numpy64(X)
    P = Dn.shape[0]
    zero = ~np.any(Xn != 0, axis=1)
    bad = np.flatnonzero((~Dn[:, zero]).any(axis=1))
    if bad.size:
        raise ValueError(
            f"patterns {bad[:10].tolist()} have a 0 on a zero row of X, where x . u = 0 >= 0 "
            f"always gives 1, so they have no interior point."
        )
    U = np.zeros((P, d))
    if zero.all() or P == 0:
        U[:, 0] = 1.0
        return torch.as_tensor(U, dtype=X.dtype, device=X.device)
    A = Xn[~zero] / np.linalg.norm(Xn[~zero], axis=1, keepdims=True)
    _, sv, vt = np.linalg.svd(A, full_matrices=False)
    V = vt[: int((sv > _RANK_TOL * sv[0]).sum())]  # (r, d)
    B = A @ V.T
    B /= np.linalg.norm(B, axis=1, keepdims=True)
    S = np.where(Dn[:, ~zero], 1.0, -1.0)
    C = S @ np.linalg.pinv(B).T
    solved = _newton(B, S, C)
    for i in np.flatnonzero(~solved):
        c = _lp_point(B, S[i])
        if c is not None:
            C[i] = c
            solved[i] = _newton(B, S[i : i + 1], C[i : i + 1])[0]
            if not solved[i]:
                solved[i] = bool(_margins_ok(C[i : i + 1], B, S[i : i + 1])[0])
    U = C @ V
    U /= np.maximum(np.linalg.norm(U, axis=1, keepdims=True), np.finfo(float).tiny)
    norms = np.linalg.norm(Xn[~zero], axis=1)
    margin = (S * (U @ Xn[~zero].T) / norms).min(axis=1)
    failed = np.flatnonzero(~solved | ~(margin > _MARGIN_TOL))
    if failed.size:
        raise ValueError(
            f"patterns {failed[:10].tolist()} (of {P}) have no interior point: no u with "
            f"(2D - I) X u > 0 strictly exists, so they are not activation patterns of X."
        )
    return torch.as_tensor(U, dtype=X.dtype, device=X.device)
