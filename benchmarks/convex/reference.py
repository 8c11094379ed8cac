"""Reference solve of the convex two-layer ReLU program (our scaling), cvxpy + Clarabel.

    min_{v_i, w_i}  1/2 || sum_i D_i X (v_i - w_i) - y ||^2  +  beta sum_i (||v_i|| + ||w_i||)
    s.t.  (2 D_i - I) X v_i >= 0,  (2 D_i - I) X w_i >= 0,          i = 1..P,

with D_i = diag(patterns[i]). No bias: append a column of ones to X for one.
Run with benchmarks/convex/.venv/bin/python.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

# Clarabel, tight: interior point to ~1e-10 relative gap / feasibility.
CLARABEL_TIGHT = {
    "tol_gap_abs": 1e-10,
    "tol_gap_rel": 1e-10,
    "tol_feas": 1e-10,
    "tol_ktratio": 1e-8,
    "max_iter": 500,
}


def relu_objective(X, y, beta, patterns, V, W) -> float:
    """Our objective at (V, W) (each (P, d)); ignores the cone constraints."""
    D = np.asarray(patterns, dtype=float)  # (P, n)
    pred = np.sum(D * ((V - W) @ X.T), axis=0)
    r = pred - y
    return 0.5 * float(r @ r) + beta * float(
        np.linalg.norm(V, axis=1).sum() + np.linalg.norm(W, axis=1).sum()
    )


def cone_violation(X, patterns, V, W) -> float:
    """Largest violation max(0, -(2 D_i - I) X v_i) over all i, rows and both V, W."""
    S = 2.0 * np.asarray(patterns, dtype=float) - 1.0  # (P, n)
    return float(max(0.0, -(S * (V @ X.T)).min(), -(S * (W @ X.T)).min()))


def relu_problem(X, y, beta, patterns):
    """The cvxpy Problem of the convex ReLU program (not solved): (prob, V, W), with V and W
    the (P, d) cvxpy Variables of the v_i and w_i."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float).reshape(-1)
    D = np.asarray(patterns, dtype=bool)
    n, d = X.shape
    P = D.shape[0]
    assert D.shape == (P, n) and y.shape == (n,)

    Dn = D.T.astype(float)  # (n, P)
    S = 2.0 * Dn - 1.0  # (n, P)
    V = cp.Variable((P, d))
    W = cp.Variable((P, d))
    XV, XW = X @ V.T, X @ W.T  # (n, P)
    pred = cp.sum(cp.multiply(Dn, XV - XW), axis=1)
    obj = 0.5 * cp.sum_squares(pred - y) + beta * (
        cp.sum(cp.norm(V, 2, axis=1)) + cp.sum(cp.norm(W, 2, axis=1))
    )
    cons = [cp.multiply(S, XV) >= 0, cp.multiply(S, XW) >= 0]
    return cp.Problem(cp.Minimize(obj), cons), V, W


def cvxpy_relu(X, y, beta, patterns, *, verbose=False, **clarabel_kwargs):
    """Solve the convex ReLU program exactly (to Clarabel's tolerance).

    Args:
        X: (n, d) array. y: (n,) array. beta: > 0.
        patterns: (P, n) bool array, row i = diagonal of D_i.
        clarabel_kwargs: override CLARABEL_TIGHT entries.

    Returns:
        (value, V, W): the optimal value in our scaling (recomputed in numpy from V, W) and
        the (P, d) arrays of v_i and w_i.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float).reshape(-1)
    D = np.asarray(patterns, dtype=bool)
    prob, V, W = relu_problem(X, y, beta, D)
    opts = {**CLARABEL_TIGHT, **clarabel_kwargs}
    prob.solve(solver=cp.CLARABEL, verbose=verbose, **opts)
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise RuntimeError(f"Clarabel status {prob.status}")
    Vv, Wv = np.asarray(V.value), np.asarray(W.value)
    return relu_objective(X, y, beta, D, Vv, Wv), Vv, Wv


def cvxpy_gated(X, y, beta, patterns, *, verbose=False, **clarabel_kwargs):
    """Gated-ReLU relaxation (no cone constraints), same scaling:

        min_{u_i}  1/2 || sum_i D_i X u_i - y ||^2 + beta sum_i ||u_i||.

    Returns (value, U) with U (P, d).
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float).reshape(-1)
    D = np.asarray(patterns, dtype=bool)
    P, d = D.shape[0], X.shape[1]
    U = cp.Variable((P, d))
    pred = cp.sum(cp.multiply(D.T.astype(float), X @ U.T), axis=1)
    obj = 0.5 * cp.sum_squares(pred - y) + beta * cp.sum(cp.norm(U, 2, axis=1))
    prob = cp.Problem(cp.Minimize(obj))
    prob.solve(solver=cp.CLARABEL, verbose=verbose, **{**CLARABEL_TIGHT, **clarabel_kwargs})
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise RuntimeError(f"Clarabel status {prob.status}")
    Uv = np.asarray(U.value)
    Df = D.astype(float)
    r = np.sum(Df * (Uv @ X.T), axis=0) - y
    return 0.5 * float(r @ r) + beta * float(np.linalg.norm(Uv, axis=1).sum()), Uv
