"""GD on wide two-layer ReLU networks with NTK tracking: the cost of recording, and batching.

    python benchmarks/ntk_tracking.py                     # n = 100, d = 10, m = 2^12
    python benchmarks/ntk_tracking.py --m 256 --n 20 --steps-b 1000   # small runs

``landscope.kernels.dynamics.train_two_layer`` (Du et al., ICLR 2019: f = a' relu(W x) /
sqrt m, a fixed, L = 1/2 sum of squares, GD with eta = 1 / ||H-infinity||_2; the
optimization driver ``landscope.optim.run`` with ``GD`` on a ``TwoLayerNTK``, recorded by
an ``NTKTracker`` observer), float64, on one data set of n unit-norm inputs with N(0, 1)
labels, every run its own init:

(a) the same runs three ways: a bare GD loop written out here (no records at all),
    ``train_two_layer`` recording only steps 0 and the last with no Gram matrices, and
    ``train_two_layer`` with the default tracking (log + linear schedule of <= 200
    records, residual, pattern change, weight movement and ||H(k) - H(0)||_2). The
    tracked / untracked ratio must stay <= 2; the final weights must agree exactly.
(b) R runs in one batched call vs a Python loop over the runs one at a time (default
    tracking on both sides, same inits); the script checks that they agree. At the
    default size one run is already a (4096 x 100) tensor computation and a step is
    memory-bound, so batching gains nothing on 2 CPU cores (measured 0.8x-1.1x: ten runs'
    buffers no longer fit in cache); it pays off for small m n (3.4x at m = 256, n = 20),
    where per-step Python overhead dominates.

Timings are the best of ``--repeat`` interleaved runs. Run on an idle machine: with other
processes on the cores, MKL's two threads wait on each other and the times lose meaning.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from landscope.kernels.dynamics import train_two_layer
from landscope.kernels.two_layer import two_layer_init


def _h_inf_relu(X: torch.Tensor) -> torch.Tensor:
    K = X @ X.T
    return K * (math.pi - torch.arccos(K.clamp(-1.0, 1.0))) / (2 * math.pi)


def bare_gd(X, y, W0, a, eta: float, steps: int) -> torch.Tensor:
    """Plain GD with the hand-written gradient on preallocated buffers, nothing recorded.

    The step is the driver's GD step W + (-eta * grad) with grad = (a / sqrt m) * G, in
    the same float operations, so the final weights agree to the last bit.
    """
    R, m, _ = W0.shape
    W, Xt = W0.clone(), X.T.contiguous()
    a_s = a / math.sqrt(m)
    a_s3 = a_s[:, :, None]
    Z = torch.empty(R, m, X.shape[0], dtype=W.dtype, device=W.device)
    P = torch.empty(Z.shape, dtype=torch.bool, device=W.device)
    G = torch.empty_like(W)
    for _ in range(steps):
        torch.matmul(W, Xt, out=Z)
        torch.ge(Z, 0, out=P)
        e = torch.bmm(a_s[:, None, :], Z.clamp_min_(0)).squeeze(1) - y
        torch.mul(P, e[:, None, :], out=Z)
        torch.matmul(Z, X, out=G)
        W.add_(G.mul_(a_s3).mul_(-eta))
    return W


def best_of(fns: dict, repeat: int, sync) -> tuple[dict, dict]:
    """Run the callables interleaved ``repeat`` times; each one's last result and best time.

    Interleaving and the minimum keep a burst of load from another process (these cores
    are shared) from landing on one side only.
    """
    out, best = {}, dict.fromkeys(fns, math.inf)
    for _ in range(repeat):
        for name, fn in fns.items():
            sync()
            t0 = time.perf_counter()
            out[name] = fn()
            sync()
            best[name] = min(best[name], time.perf_counter() - t0)
    return out, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="inputs")
    ap.add_argument("--d", type=int, default=10, help="input dimension")
    ap.add_argument("--m", type=int, default=2**12, help="width")
    ap.add_argument("--steps", type=int, default=1000, help="GD steps in part (a)")
    ap.add_argument("--runs-a", type=int, default=2, help="runs (seeds) in part (a)")
    ap.add_argument("--runs", type=int, default=10, help="runs (seeds) in part (b)")
    ap.add_argument("--steps-b", type=int, default=100, help="GD steps in part (b)")
    ap.add_argument("--repeat", type=int, default=2, help="interleaved repeats; best is kept")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    args = ap.parse_args()

    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else lambda: None
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(args.n, args.d, generator=gen, dtype=torch.float64)
    X = X / torch.linalg.vector_norm(X, dim=1, keepdim=True)
    y = torch.randn(args.n, generator=gen, dtype=torch.float64)
    ev = torch.linalg.eigvalsh(_h_inf_relu(X))
    lam0, eta = float(ev[0]), 1.0 / float(ev[-1])
    W0, a = two_layer_init(max(args.runs_a, args.runs), args.m, args.d, generator=gen)
    X, y, W0, a = X.to(dev), y.to(dev), W0.to(dev), a.to(dev)
    where = torch.cuda.get_device_name() if dev.type == "cuda" else "CPU"
    print(
        f"n = {args.n}, d = {args.d}, m = {args.m}, eta = 1 / ||H-inf|| = {eta:.3f} "
        f"(lambda_0 = {lam0:.4f}), float64, {where}, {torch.get_num_threads()} threads, "
        f"best of {args.repeat} interleaved"
    )
    train_two_layer(X, y, W0[:1], a[:1], eta=eta, steps=3)  # warm-up

    # (a) cost of tracking
    Ra, S = args.runs_a, args.steps
    Wa, aa = W0[:Ra], a[:Ra]
    out, t = best_of(
        {
            "bare": lambda: bare_gd(X, y, Wa, aa, eta, S),
            "plain": lambda: train_two_layer(
                X, y, Wa, aa, eta=eta, steps=S, record_every=[], record_gram=False
            ),
            "tracked": lambda: train_two_layer(X, y, Wa, aa, eta=eta, steps=S),
        },
        args.repeat,
        sync,
    )
    tracked = out["tracked"]
    same = torch.equal(tracked.W, out["plain"].W) and torch.equal(out["plain"].W, out["bare"])
    print(f"(a) tracking: {Ra} runs batched, {S} GD steps")
    print(f"  bare GD loop (this script)         {t['bare']:8.2f} s")
    print(f"  train_two_layer, no records        {t['plain']:8.2f} s")
    print(
        f"  train_two_layer, {len(tracked.steps):3d} records      {t['tracked']:8.2f} s   "
        f"tracked / untracked {t['tracked'] / t['plain']:4.2f}x   "
        f"(tracked / bare {t['tracked'] / t['bare']:4.2f}x)"
    )
    res = tracked.residual

    def last(v: torch.Tensor) -> float:
        return float(v[:, -1].mean())

    print(
        f"  final W identical on all three: {same}; residual {float(res[:, 0].mean()):.3g} -> "
        f"{last(res):.3g}; pattern change {last(tracked.pattern_change):.4f}, "
        f"max ||w_r - w_r(0)|| {last(tracked.weight_move):.3f}, "
        f"||H(k) - H(0)||_2 {last(tracked.gram_drift):.4f}"
    )

    # (b) batched vs a loop over seeds
    R, S = args.runs, args.steps_b
    out, t = best_of(
        {
            "batched": lambda: train_two_layer(X, y, W0[:R], a[:R], eta=eta, steps=S),
            "loop": lambda: [
                train_two_layer(X, y, W0[r : r + 1], a[r : r + 1], eta=eta, steps=S)
                for r in range(R)
            ],
        },
        args.repeat,
        sync,
    )
    batched, runs = out["batched"], out["loop"]
    W_loop = torch.cat([r.W for r in runs])
    res_loop = torch.cat([r.residual for r in runs])
    diff = max(
        float((batched.W - W_loop).abs().max() / W_loop.abs().max()),
        float(((batched.residual - res_loop).abs() / res_loop.abs()).max()),
    )
    print(f"(b) {R} runs, {S} GD steps, default tracking")
    print(
        f"  batched {t['batched']:8.2f} s   loop {t['loop']:8.2f} s   "
        f"ratio {t['loop'] / t['batched']:5.2f}x   (max relative difference {diff:.1e})"
    )


if __name__ == "__main__":
    main()
