"""Check that scnn (pyscnn 0.0.10) solves our convex ReLU program with lam = beta / n.

    benchmarks/convex/.venv/bin/python benchmarks/convex/check_scnn_scaling.py [--quick]

Instance: n=20, d=3, beta=0.1, all activation patterns found by 20000 random gates.
Prints, in OUR scaling (1/2 ||.||^2 + beta sum ||.||):
  1. Clarabel's optimum p* (reference.cvxpy_relu);
  2. n * scnn's own objective function evaluated at Clarabel's solution (exact check of the
     scaling, independent of scnn's solver);
  3. scnn's AL solve (as shipped), and the same with the textbook multiplier update;
  4. the gated-ReLU path: Clarabel vs scnn's R-FISTA.
Single-threaded; about 3 minutes on one core (--quick: step 1, 2 and 4 only, seconds).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from scnn.models import ConvexReLU  # noqa: E402
from scnn.private.interface import build_internal_model, set_device  # noqa: E402
from scnn.regularizers import NeuronGL1  # noqa: E402
from scnn_fit import (  # noqa: E402
    gates_for_patterns,
    network_value,
    scnn_gated,
    scnn_patterns,
    scnn_relu,
    textbook_multipliers,
)

from reference import cone_violation, cvxpy_gated, cvxpy_relu  # noqa: E402


def instance(seed=0, n=20, d=3, n_gates=20000):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ rng.standard_normal((d, 4)), 0) @ rng.standard_normal(4)
    y = y + 0.1 * rng.standard_normal(n)
    G = rng.standard_normal((d, n_gates))
    patterns = np.unique((X @ G >= 0).T, axis=0)  # (P, n) bool, landscope's >= convention
    return X, y, patterns


def rel(a, b):
    return (a - b) / abs(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip the two AL solves")
    ap.add_argument("--max-iters", type=int, default=40000, help="AL max_primal_iters (total)")
    args = ap.parse_args()

    beta = 0.1
    X, y, D = instance()
    n, d = X.shape
    print(f"instance: n={n} d={d} beta={beta} patterns P={len(D)}; scnn lam = beta/n = {beta / n}")

    # 1. reference
    pstar, V, W = cvxpy_relu(X, y, beta, D)
    print(
        f"[1] cvxpy+Clarabel p*               = {pstar:.12f}  (max cone violation "
        f"{cone_violation(X, D, V, W):.1e})"
    )

    # fixed gates reproducing exactly our patterns under scnn's strict 1[X g > 0]
    G = gates_for_patterns(X, D)
    assert np.array_equal(scnn_patterns(X, G), D), "gates do not reproduce the patterns"

    # 2. scnn's own objective at the Clarabel solution
    set_device("cpu", "float64", 0)
    internal = build_internal_model(ConvexReLU(G, c=1), NeuronGL1(beta / n), X)
    Dint = np.asarray(internal.D).T > 0  # (P', n) in scnn's internal (sorted) order
    row = {D[i].tobytes(): i for i in range(len(D))}
    idx = np.array([row[p.tobytes()] for p in Dint])
    assert len(idx) == len(D), "scnn dropped a pattern (all-zero pattern?)"
    internal.weights = np.stack([V[idx], W[idx]])[:, None]  # (2, c=1, P, d)
    F = float(internal.objective(X, y[:, None], ignore_lagrange_penalty=True))
    print(
        f"[2] n * scnn objective at that (v,w)  = {n * F:.12f}  rel diff {rel(n * F, pstar):+.1e}"
    )

    # 3. scnn's AL solve
    if not args.quick:
        kw = dict(tol=1e-8, constraint_tol=1e-14, max_primal_iters=args.max_iters)
        for label, ctx in (
            ("AL as shipped        ", None),
            ("AL textbook dual upd.", textbook_multipliers),
        ):
            if ctx is None:
                out = scnn_relu(X, y, beta, G, **kw)
            else:
                with ctx():
                    out = scnn_relu(X, y, beta, G, **kw)
            net = network_value(X, y, beta, out["V"], out["W"])
            print(
                f"[3] scnn {label}: ours = {out['value']:.12f}  rel diff "
                f"{rel(out['value'], pstar):+.1e}  max viol {out['max_violation']:.1e}  "
                f"network (ReLU) value {net:.12f} rel {rel(net, pstar):+.1e}  "
                f"{out['seconds']:.0f} s"
            )

    # 4. gated ReLU path
    gstar, _ = cvxpy_gated(X, y, beta, D)
    gval, _, _ = scnn_gated(X, y, beta, G)
    print(
        f"[4] gated: Clarabel {gstar:.12f}  scnn R-FISTA {gval:.12f}  "
        f"rel diff {rel(gval, gstar):+.1e}"
    )


if __name__ == "__main__":
    main()
