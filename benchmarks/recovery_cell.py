"""One recovery cell, batched vs a plain per-seed loop, side by side.

    python benchmarks/recovery_cell.py                     # relu, d = 10, k = 5, n/d = 300
    python benchmarks/recovery_cell.py --activation tanh --seeds 40 --n-ratio 100

Batched: what ``landscope run recovery`` does for one cell: one tensor-method
initialization call for every seed's data set (moments by einsum over (R, n, d),
batched eigh / eig / lstsq), then GD with a per-row Armijo step on all runs at once,
finished runs leaving the batch together with their data (``OneHiddenRegression.select``).
Baseline: what one writes without landscope: for each seed, the same tensor
initialization on that data set alone, then a per-seed loop of autograd GD with the
same Armijo rule (same constants, same stopping rule), float64. Both start from the
same initialization; the script checks that the final recovery errors agree and prints
runs per second for each and their ratio.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from landscope.init import tensor_init
from landscope.optim import Armijo, Stop, run
from landscope.problems import OneHiddenRegression, planted, recovery_error


def loop_gd(X, y, v, W0, act, tol, loss_tol, max_steps, lr0=1.0, grow=1.5, c1=1e-4):
    """Autograd GD with backtracking on one data set (n, d), W0 (k, d)."""

    def f(W):
        return 0.5 * ((act.phi(X @ W.T) * v).sum(-1) - y).square().mean()

    W = W0.clone().requires_grad_(True)
    t = lr0
    for _ in range(max_steps):
        loss = f(W)
        (g,) = torch.autograd.grad(loss, W)
        if g.norm() <= tol or loss <= loss_tol:
            break
        with torch.no_grad():
            for _ in range(40):
                trial = W - t * g
                lt = f(trial)
                if lt <= loss - c1 * t * (g * g).sum() and bool((trial != W).any()):
                    break
                t *= 0.5
            else:
                break
            W = trial.requires_grad_(True)
            t *= grow
    return W.detach()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--activation", default="relu")
    ap.add_argument("--d", type=int, default=10)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--n-ratio", type=float, default=300.0)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--max-steps", type=int, default=2000)
    args = ap.parse_args()
    from landscope import activations as acts

    act = acts.get(args.activation)
    seeds = list(range(args.seeds))
    R, k, d = len(seeds), args.k, args.d
    n = math.ceil(args.n_ratio * d)
    P = planted(d, k, 1.0, n, seeds, act)
    gens = lambda: [torch.Generator().manual_seed(s) for s in seeds]  # noqa: E731
    scale = 0.5 * float(P.y.square().mean())
    tol, loss_tol = 1e-7, 1e-12 * scale

    t0 = time.perf_counter()
    ti = tensor_init(P.X, P.y, k, act, generator=gens())
    prob = OneHiddenRegression(P.X, P.y, ti.v, act)
    stop = Stop(grad_tol=tol, loss_target=loss_tol, max_steps=args.max_steps)
    res = run(prob, ti.W.reshape(R, -1), Armijo(), stop=stop)
    t_batch = time.perf_counter() - t0
    e_batch = recovery_error(res.theta.reshape(R, k, d), ti.v, P.W, P.v, act)

    t0 = time.perf_counter()
    finals, vs = [], []
    for r, g in enumerate(gens()):
        one = tensor_init(P.X[r], P.y[r], k, act, generator=g)
        W = loop_gd(P.X[r], P.y[r], one.v[0], one.W[0], act, tol, loss_tol, args.max_steps)
        finals.append(W)
        vs.append(one.v[0])
    t_loop = time.perf_counter() - t0
    e_loop = recovery_error(torch.stack(finals), torch.stack(vs), P.W, P.v, act)

    agree = int(((e_batch <= 1e-2) == (e_loop <= 1e-2)).sum())
    print(f"cell: {act.name}, d = {d}, k = {k}, n = {n}, {R} runs (tensor init + GD)")
    print(f"batched : {t_batch:7.2f} s  ({R / t_batch:6.2f} runs/s)")
    print(f"loop    : {t_loop:7.2f} s  ({R / t_loop:6.2f} runs/s)")
    print(f"speed-up: {t_loop / t_batch:.1f}x; recovered (error <= 1e-2) agree on {agree}/{R}")
    print(f"recovered: batched {int((e_batch <= 1e-2).sum())}, loop {int((e_loop <= 1e-2).sum())}")


if __name__ == "__main__":
    main()
