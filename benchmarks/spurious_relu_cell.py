"""One spurious-relu cell, batched vs a plain per-seed autograd loop, side by side.

    python benchmarks/spurious_relu_cell.py                  # k = 10, 1,000 inits; loop on 200
    python benchmarks/spurious_relu_cell.py --loop-seeds 1000  # the loop on every seed (~7 min)
    python benchmarks/spurious_relu_cell.py --check-tol  # the cell at grad_tol 1e-6, 1e-5 vs 1e-9

Batched: the study's own ``run_cell`` (closed-form gradient, every run a row, finished
rows dropped from the working batch, then Newton polish and certification in batches).
Baseline: what one writes without landscope: for each seed, the closed-form loss of one
(n, d) point, ``loss.backward()`` and a GD step until ||grad|| <= grad_tol, then the same
polish and certificate called on that seed alone. Same inits (drawn from the seed), same
step size, same stopping rule, float64. The verdicts of the seeds both ran must agree;
the script prints runs per second for each and their ratio.

Do not call ``torch.set_num_threads`` here: in torch 2.13 (MKL) it makes batched
``linalg.solve`` fail (``DLASWP`` errors) on these machines.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from landscope import certify, init_from_seeds, newton_polish
from landscope.studies import RunContext, get_study
from landscope.studies.spurious_relu import STUDY, make_problem

run_cell = STUDY.run_cell


def loop_loss(W: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """Population loss of one student W (n, d), written as one would for autograd.

    The cosine is clamped just inside [-1, 1]: arccos has an infinite derivative at +-1,
    but dK/dt = 0 there, so the clamp drops only a 0 * inf (NaN) term.
    """
    n = W.shape[0]
    Z = torch.cat([W, V])
    c = torch.cat([torch.ones(n, dtype=W.dtype), -torch.ones(V.shape[0], dtype=W.dtype)])
    nz = Z.norm(dim=1)
    cos = (Z @ Z.T) / (nz[:, None] * nz[None, :])
    t = torch.arccos(cos.clamp(-1 + 1e-15, 1 - 1e-15))
    K = (nz[:, None] * nz[None, :] * torch.sin(t) + (math.pi - t) * (Z @ Z.T)) / (2 * math.pi)
    return 0.5 * c @ K @ c


def run_loop(cfg: dict, seeds: list[int]) -> list[dict]:
    prob = make_problem(cfg)
    lr, tol, max_steps = cfg["step"] / cfg["k"], cfg["grad_tol"], cfg["max_steps"]
    out = []
    for s in seeds:  # the baseline: one seed at a time
        W = init_from_seeds(prob, [s]).reshape(prob.n, prob.d).clone().requires_grad_(True)
        steps = 0
        while True:
            W.grad = None
            loop_loss(W, prob.V).backward()
            if float(W.grad.norm()) <= tol or steps >= max_steps:
                break
            with torch.no_grad():
                W -= lr * W.grad
            steps += 1
        theta = W.detach().reshape(1, -1)
        pol = newton_polish(prob, theta)
        cert = certify(prob, pol.theta)
        out.append({"seed": s, "verdict": str(cert.verdict[0]), "steps": steps})
    return out


def check_tol(cells: list[tuple[int, int]], seeds: int, tols: list[float]) -> None:
    """The study's cell (GD to grad_tol, polish, certify, GD continued past saddles) at
    looser ``tols`` against GD to 1e-9: same verdicts, and the same critical point
    (loss equal to 1e-9), on the same seeds."""
    cfg0 = {p.name: p.default[0] for p in get_study("spurious-relu").params}
    for k, extra in cells:
        out = {}
        for tol in [1e-9, *tols]:
            cfg = {**cfg0, "k": k, "extra": extra, "grad_tol": tol}
            t = time.perf_counter()
            rows = run_cell(cfg, list(range(seeds)), RunContext())
            out[tol] = (
                np.array([r["verdict"] for r in rows]),
                np.array([r["loss"] for r in rows]),
                time.perf_counter() - t,
            )
        v9, l9, t9 = out[1e-9]
        for tol in tols:
            v, loss, t = out[tol]
            print(
                f"k={k:>2} n={k + extra:>2} seeds={seeds}: grad_tol {tol:g} vs 1e-9: verdicts "
                f"agree {np.mean(v == v9):.1%}, same loss {np.mean(np.abs(loss - l9) <= 1e-9):.1%}"
                f"; {t:.1f} s vs {t9:.1f} s ({t9 / t:.2f}x)",
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--extra", type=int, default=0)
    ap.add_argument("--seeds", type=int, default=1000, help="runs in the batched cell")
    ap.add_argument("--loop-seeds", type=int, default=200, help="seeds the loop also runs")
    ap.add_argument("--check-tol", action="store_true", help="compare GD tolerances instead")
    args = ap.parse_args()
    if args.check_tol:
        check_tol([(10, 0), (16, 0), (14, 1), (16, 2)], 200, [1e-6, 1e-5])
        return

    study = get_study("spurious-relu")
    cfg = {p.name: p.default[0] for p in study.params} | {"k": args.k, "extra": args.extra}
    seeds = list(range(args.seeds))
    loop_seeds = seeds[: args.loop_seeds]

    t = time.perf_counter()
    batched = run_cell(cfg, seeds, RunContext())
    t_batch = time.perf_counter() - t
    t = time.perf_counter()
    loop = run_loop(cfg, loop_seeds)
    t_loop = time.perf_counter() - t

    b_by_seed = {r["seed"]: r for r in batched}
    agree = sum(b_by_seed[r["seed"]]["verdict"] == r["verdict"] for r in loop)
    steps_eq = sum(b_by_seed[r["seed"]]["steps"] == r["steps"] for r in loop)
    spur = np.mean([r["verdict"] == "spurious_min" for r in batched])
    rate_b, rate_l = len(seeds) / t_batch, len(loop_seeds) / t_loop
    total_steps = sum(r["steps"] for r in loop)
    print(
        f"cell k={args.k} n={args.k + args.extra}, float64, GD lr={cfg['step']}/k to "
        f"||grad|| <= {cfg['grad_tol']:g}, Newton polish, certify"
    )
    print(
        f"  batched  {len(seeds):>5} runs  {t_batch:8.1f} s  {rate_b:9.2f} runs/s  "
        f"spurious {spur:.1%}"
    )
    print(
        f"  loop     {len(loop_seeds):>5} runs  {t_loop:8.1f} s  {rate_l:9.2f} runs/s  "
        f"{1e6 * t_loop / max(total_steps, 1):.0f} us per GD step"
    )
    print(f"  speed-up {rate_b / rate_l:.1f}x (runs per second, batched / loop)")
    print(
        f"  verdicts agree on {agree}/{len(loop)} seeds; GD step counts equal on "
        f"{steps_eq}/{len(loop)}"
    )
    if agree != len(loop):
        raise SystemExit("the batched cell and the loop disagree on some verdicts")


if __name__ == "__main__":
    main()
