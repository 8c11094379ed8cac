"""scnn (pyscnn 0.0.10) driven in landscope's scaling, with fixed gates. See NOTES.md.

Ours:  1/2 ||sum_i D_i X (v_i - w_i) - y||^2 + beta sum_i (||v_i|| + ||w_i||)  (+ cones)
scnn:  1/(2n) ||...||^2 + lam sum_i (||v_i|| + ||w_i||)                        (+ cones)
so lam = beta / n and ours = n * scnn's objective, same minimizers.

Run with benchmarks/convex/.venv/bin/python.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np
from scnn.metrics import Metrics
from scnn.models import ConvexGatedReLU, ConvexReLU
from scnn.optimize import optimize_model
from scnn.private.methods.optimizers import augmented_lagrangian as _alm
from scnn.regularizers import NeuronGL1
from scnn.solvers import AL, RFISTA


def gates_for_patterns(X: np.ndarray, patterns: np.ndarray) -> np.ndarray:
    """(d, P) gates g_i with 1[X g_i > 0] == patterns[i] exactly (scnn's convention is the
    strict >, landscope's is >=; an interior point of each region satisfies both)."""
    import torch

    from landscope.convex.patterns import interior_points

    U = interior_points(torch.as_tensor(X, dtype=torch.float64), torch.as_tensor(patterns))
    return U.numpy().T.copy()


def scnn_patterns(X: np.ndarray, G: np.ndarray) -> np.ndarray:
    """(P, n) bool patterns scnn uses for gates G (d, P): 1[X G > 0], as scnn computes them."""
    return (X @ G > 0).T


@contextlib.contextmanager
def textbook_multipliers():
    """Patch scnn's AL dual update to gamma <- (gamma + delta * g(v))_+ with the RAW
    constraint value g(v) = -(2D - I) X v. scnn 0.0.10 passes max(g, 0) instead, so its
    multipliers never decrease; on small problems that stalls at a feasible but suboptimal
    point (NOTES.md). Use only as a labelled variant, never as "scnn"."""
    cur = {}
    orig_step = _alm.AugmentedLagrangian.step
    orig_upd = _alm.update_multipliers

    def step(self, model, crit, opt, X, y, batch_index=None):
        cur["model"], cur["X"] = model, X
        return orig_step(self, model, crit, opt, X, y, batch_index)

    def upd(e_m, i_m, e_gap, i_gap, delta):
        return orig_upd(e_m, i_m, e_gap, cur["model"].i_constraint_gap(cur["X"]), delta)

    _alm.AugmentedLagrangian.step = step
    _alm.update_multipliers = upd
    try:
        yield
    finally:
        _alm.AugmentedLagrangian.step = orig_step
        _alm.update_multipliers = orig_upd


def scnn_relu(
    X,
    y,
    beta,
    G,
    *,
    tol=1e-8,
    constraint_tol=1e-14,
    max_primal_iters=20000,
    max_dual_iters=10000,
    metric_freq=10**9,
):
    """Convex ReLU program with scnn's AL (R-FISTA inner solver) on the fixed gates G (d, P).

    Returns dict: V, W (P', d) in the order of G_used (d, P') = scnn's deduplicated,
    zero-pattern-free, np.unique-sorted gates; patterns (P', n); value (ours, at V, W as
    returned, ignoring the cones); max_violation (of (2D-I)Xv >= 0, (2D-I)Xw >= 0);
    seconds; metrics (scnn Metrics object).
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    n = X.shape[0]
    model = ConvexReLU(np.asarray(G, dtype=np.float64), c=1)
    solver = AL(
        model,
        max_primal_iters=max_primal_iters,
        max_dual_iters=max_dual_iters,
        tol=tol,
        constraint_tol=constraint_tol,
    )
    metrics = Metrics(metric_freq=metric_freq, objective=False, grad_norm=False)
    t0 = time.perf_counter()
    model, metrics = optimize_model(
        model,
        solver,
        metrics,
        X,
        y,
        regularizer=NeuronGL1(beta / n),
        return_convex=True,
        unitize_data=False,  # True would solve a differently regularised problem
        dtype="float64",  # default float32 cannot reach 1e-6
    )
    seconds = time.perf_counter() - t0
    V, W = model.parameters[0][0], model.parameters[1][0]
    D = scnn_patterns(X, model.G)
    Df = D.astype(float)
    r = np.sum(Df * ((V - W) @ X.T), axis=0) - y
    value = 0.5 * float(r @ r) + beta * float(
        np.linalg.norm(V, axis=1).sum() + np.linalg.norm(W, axis=1).sum()
    )
    S = 2.0 * Df - 1.0
    viol = float(max(0.0, -(S * (V @ X.T)).min(), -(S * (W @ X.T)).min()))
    return dict(
        V=V,
        W=W,
        G_used=model.G,
        patterns=D,
        value=value,
        max_violation=viol,
        seconds=seconds,
        metrics=metrics,
    )


def network_value(X, y, beta, V, W) -> float:
    """Our non-convex objective of the network read off (V, W): u = v/sqrt||v||,
    alpha = +-sqrt||v||, evaluated with the true ReLU (X u)_+ -- a valid upper bound on the
    all-patterns optimum even where (V, W) slightly violates the cones."""
    f = np.zeros(X.shape[0])
    reg = 0.0
    for U, s in ((V, 1.0), (W, -1.0)):
        nr = np.linalg.norm(U, axis=1)
        k = nr > 0
        u = U[k] / np.sqrt(nr[k])[:, None]
        f += s * np.maximum(X @ u.T, 0.0) @ np.sqrt(nr[k])
        reg += nr.sum()
    r = f - y
    return 0.5 * float(r @ r) + beta * float(reg)


def scnn_gated(X, y, beta, G, *, tol=1e-14, max_iters=20000):
    """Gated-ReLU relaxation with scnn's R-FISTA on gates G. Returns (value_ours, U, G_used)."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    n = X.shape[0]
    model = ConvexGatedReLU(np.asarray(G, dtype=np.float64), c=1)
    model, _ = optimize_model(
        model,
        RFISTA(model, max_iters=max_iters, tol=tol),
        Metrics(metric_freq=10**9, objective=False, grad_norm=False),
        X,
        y,
        regularizer=NeuronGL1(beta / n),
        return_convex=True,
        unitize_data=False,
        dtype="float64",
    )
    U = model.parameters[0][0]
    Df = scnn_patterns(X, model.G).astype(float)
    r = np.sum(Df * (U @ X.T), axis=0) - y
    return 0.5 * float(r @ r) + beta * float(np.linalg.norm(U, axis=1).sum()), U, model.G
