"""Plain GD on the closed-form ReLU teacher-student loss: the driver's batched torch step
vs the compiled kernel (``ReluTeacherStudent.fused_gd``, numba), side by side.

    python benchmarks/fused_gd.py                 # k = 6, 10, 20; batches of 1 to 1,000 rows
    python benchmarks/fused_gd.py --k 20 --rows 1 16 1000 --steps 500

Both run the same rows (init_from_seeds) for a fixed number of steps (no stopping by the
gradient), float64, with the threads torch has; the script prints microseconds per row
and step for each and their ratio, and the largest difference between the final rows
(rounding: the two sum in different orders).
"""

from __future__ import annotations

import argparse
import time

import torch

from landscope import init_from_seeds
from landscope.optim import GD, Stop, run
from landscope.studies.spurious_relu import make_problem


def _time(prob, theta, lr: float, steps: int, fused: bool) -> tuple[float, torch.Tensor]:
    stop = Stop(grad_tol=None, max_steps=steps)
    t = time.perf_counter()
    res = run(prob, theta, GD(lr), stop=stop, fused=fused)
    return time.perf_counter() - t, res.theta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, nargs="*", default=[6, 10, 20])
    ap.add_argument("--rows", type=int, nargs="*", default=[1, 8, 64, 1000])
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    print(f"float64, CPU, {torch.get_num_threads()} torch threads, {args.steps} GD steps")
    head = ("k", 3), ("rows", 5), ("torch us/row-step", 18), ("compiled", 9), ("ratio", 7)
    print(" ".join(f"{name:>{w}}" for name, w in head), f"{'max diff':>9}")
    for k in args.k:
        prob = make_problem({"k": k, "extra": 0, "d": 0, "train_a": 0})
        for warm in ([0], [0, 1]):  # compile / load the serial and the parallel kernel
            _time(prob, init_from_seeds(prob, warm), 4.0 / k, 2, True)
        for R in args.rows:
            theta = init_from_seeds(prob, range(R))
            steps = args.steps if R > 8 else 10 * args.steps  # small batches: time enough steps
            t_torch, a = _time(prob, theta, 4.0 / k, steps, False)
            t_fused, b = _time(prob, theta, 4.0 / k, steps, True)
            per = 1e6 / (R * steps)
            print(f"{k:>3} {R:>5} {t_torch * per:>18.2f} {t_fused * per:>9.2f} "
                  f"{t_torch / t_fused:>6.1f}x {float((a - b).abs().max()):>9.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
