"""Hessian-vector products for many runs: one batched call vs a Python loop over rows.

    python benchmarks/hvp_batched.py                 # k = 10, 1,000 runs
    python benchmarks/hvp_batched.py --k 20 --runs 200 --samples 2000

Two problems with the same parameters (W of the k-neuron ReLU student, P = k^2):
``ReluTeacherStudent`` (closed-form population loss; its ``hvp`` forms each row's dense
Hessian from the arc-cosine kernel and multiplies) and ``EmpiricalTeacherStudent`` (the
same network on m fixed Gaussian samples, a ``ModuleLoss``: forward-over-reverse
``torch.func`` under ``vmap``). Batched: one ``problem.hvp(theta, V)`` call on all R rows.
Baseline: the same call on one row at a time, as a per-run script does. Same rows and
vectors, float64; the script checks that the products agree.
"""

from __future__ import annotations

import argparse
import time

import torch

from landscope.problems import EmpiricalTeacherStudent, ReluTeacherStudent


def compare(name: str, prob, theta: torch.Tensor, V: torch.Tensor) -> None:
    R = theta.shape[0]
    prob.hvp(theta[:2], V[:2])  # warm-up (loads torch's forward-AD decompositions)
    sync = torch.cuda.synchronize if theta.is_cuda else lambda: None
    sync()
    t0 = time.perf_counter()
    batched = prob.hvp(theta, V)
    sync()
    t_b = time.perf_counter() - t0
    t0 = time.perf_counter()
    loop = torch.cat([prob.hvp(theta[r : r + 1], V[r : r + 1]) for r in range(R)])
    sync()
    t_l = time.perf_counter() - t0
    diff = float((batched - loop).abs().max() / loop.abs().max())
    print(
        f"  {name:<34} batched {t_b:7.3f} s   loop {t_l:7.3f} s   ratio {t_l / t_b:5.1f}x"
        f"   (max relative difference {diff:.1e})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=1000, help="m of the empirical problem")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    args = ap.parse_args()

    closed = ReluTeacherStudent(k=args.k, device=args.device)
    sampled = EmpiricalTeacherStudent(k=args.k, m=args.samples, device=args.device)
    R, P = args.runs, closed.n_params
    theta = closed.init(R, generator=torch.Generator().manual_seed(0), device="cpu")
    V = torch.randn(R, P, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    theta, V = theta.to(args.device), V.to(args.device)
    where = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    print(f"one HVP for each of {R} runs, k = n = d = {args.k} (P = {P}), float64, {where}")
    compare("ReluTeacherStudent (closed form)", closed, theta, V)
    compare(f"EmpiricalTeacherStudent (m = {args.samples})", sampled.objective, theta, V)


if __name__ == "__main__":
    main()
