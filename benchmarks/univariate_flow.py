"""Does the univariate-regimes study's GD follow gradient flow? GD vs the Filippov integrator.

    python benchmarks/univariate_flow.py            # kernel cell T = 10, adaptive cell T = 120
    python benchmarks/univariate_flow.py --quick    # T = 2 and 40

Two cells of ``univariate-regimes`` (alternating data, width 50, init uniform, seed 0,
the study's default cfg otherwise): a kernel one (ratio 1e-3) and an adaptive one
(ratio 1). Each is trained to the same flow time T by

- GD with the study's rule (``SharpnessGD``): the step step_frac / lambda_max(J J') reset
  every ``sharp_every`` (10) steps ("GD (study)" at the study's step_frac = eta lambda_max
  = 1), and at every step ("GD lam/step"), the last step cut to land on T, for step_frac
  = 1, 0.5, 0.25 and 0.1;
- GD with the study's former rule ("GD stages"): the step set only every 8,000 steps,
  which in the adaptive cell (lambda_max grows ~10x along the flow) left GD at the edge
  of stability, off the flow;
- ``landscope.problems.univariate_flow.gradient_flow`` (Radau for the stiff kernel
  cell, DOP853 for the adaptive one), and once more at rtol / 100 as a check of the
  reference itself.

The table gives for each run: its loss at T, the sup-norm distance of its function to the
flow's on [-1, 1] (1001 points) over range(y), ||theta - theta_ode|| / ||theta_ode||, the
largest distance of its knots to the flow's (neurons whose knot the flow puts in [-1, 1]
with slope change |c a| >= 1 % of the largest), the flow's events / slides, wall seconds,
lambda_max at the end (at the start it is printed per cell) and the drift of the
conserved c^2 - a^2 - b^2 over the largest neuron's squared size. If GD follows the flow,
every distance shrinks like eta: halving eta lambda_max halves it.
"""

from __future__ import annotations

import argparse
import time

import torch

from landscope.problems.univariate_flow import gradient_flow
from landscope.studies import get_study
from landscope.studies.univariate_regimes import make_problem

FRACS = (1.0, 0.5, 0.25, 0.1)
FORMER_STAGE = 8_000  # the former rule: max_steps 40,000 over 5 stages


def _sharpness(prob, theta) -> float:
    """max over rows of lambda_max(J J'), the Gauss-Newton sharpness."""
    _, J = prob.residuals_and_jacobian(theta)
    return float(torch.linalg.eigvalsh(J @ J.transpose(1, 2))[:, -1].max())


def staged_gd(prob, theta, frac: float, T: float, per_stage: int):
    """GD to flow time T, the step frac / lambda_max reset every ``per_stage`` steps."""
    theta = theta.clone()
    t, steps = 0.0, 0
    while t < T * (1 - 1e-15):
        lr = frac / _sharpness(prob, theta)
        for _ in range(per_stage):
            h = min(lr, T - t)
            theta = theta - h * prob.grad(theta)
            t += h
            steps += 1
            if t >= T * (1 - 1e-15):
                break
    return theta, t, steps


def measures(prob, th, ref, grid, theta0) -> dict:
    f, f_ref = prob.predict(th, grid)[0], prob.predict(ref, grid)[0]
    y = prob.y[0]
    a, b, c, _ = prob.parts(ref)
    k_ref, k = prob.knots(ref)[0], prob.knots(th)[0]
    slope = (c * a).abs()[0]
    keep = (k_ref.abs() <= 1) & (slope >= 0.01 * slope.max())
    a0, b0, c0, _ = prob.parts(theta0)
    size0 = float((a0 * a0 + b0 * b0 + c0 * c0).max())
    return {
        "loss": float(prob.loss(th)),
        "sup": float((f - f_ref).abs().max() / (y.max() - y.min())),
        "rel": float((th - ref).norm() / ref.norm()),
        "knots": float((k - k_ref)[keep].abs().max()) if keep.any() else float("nan"),
        "lam_end": _sharpness(prob, th),
        "drift": float((prob.conserved(th) - prob.conserved(theta0)).abs().max()) / size0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter flow times (T = 2 and 40)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    study = get_study("univariate-regimes")
    base = {p.name: p.default[0] for p in study.params}
    cells = (("kernel", 1e-3, 2.0 if args.quick else 10.0, "Radau"),
             ("adaptive", 1.0, 40.0 if args.quick else 120.0, "DOP853"))  # fmt: skip
    grid = torch.linspace(-1, 1, 1001, dtype=torch.float64)
    head = (f"{'cell':9} {'method':14} {'eta*lam':>7} {'T':>6} {'loss':>9} {'sup|f-f_ode|':>12} "
            f"{'|th-th_ode|':>11} {'knots':>8} {'ev/sl':>7} {'steps':>7} {'wall s':>7} "
            f"{'lam_end':>8} {'q drift':>8}")  # fmt: skip
    rows = []
    for name, ratio, T, meth in cells:
        cfg = {**base, "data": "alternating", "width": 50, "ratio": ratio, "init": "uniform"}
        prob = make_problem(cfg)
        theta0 = prob.init(1, generator=torch.Generator().manual_seed(0))
        lam0 = _sharpness(prob, theta0)
        print(f"{name}: ratio {ratio:g}, T = {T:g}, lambda_max at start {lam0:.4g}, "
              f"loss at start {float(prob.loss(theta0)):.4g}", flush=True)  # fmt: skip
        ode = gradient_flow(prob, theta0, T, method=meth, max_wall=900)
        ref = ode.theta[-1:]
        tight = gradient_flow(prob, theta0, T, method=meth, rtol=1e-10, atol=1e-12,
                              max_wall=900)  # fmt: skip
        for label, res in ((f"ODE {meth}", ode), ("ODE rtol 1e-10", tight)):
            m = measures(prob, res.theta[-1:], ref, grid, theta0)
            rows.append((name, label, "-", float(res.t[-1]), m, f"{res.n_events}/{res.n_slides}",
                         res.nfev, res.wall))  # fmt: skip
            if not res.reached:
                print(f"  {label} did not reach T: {res.message}")
        rules = ((cfg["sharp_every"], f"GD every {cfg['sharp_every']}"), (1, "GD lam/step"),
                 (FORMER_STAGE, "GD stages"))  # fmt: skip
        for per_stage, rule in rules:
            for frac in FRACS:
                start = time.perf_counter()
                th, t, steps = staged_gd(prob, theta0, frac, T, per_stage)
                wall = time.perf_counter() - start
                label = "GD (study)" if (frac, per_stage) == (1.0, cfg["sharp_every"]) else rule
                rows.append((name, label, f"{frac:g}", t,
                             measures(prob, th, ref, grid, theta0), "-", steps, wall))  # fmt: skip
    print()
    print(head)
    for name, label, frac, t, m, ev, steps, wall in rows:
        print(f"{name:9} {label:14} {frac:>7} {t:6.4g} {m['loss']:9.3g} {m['sup']:12.3g} "
              f"{m['rel']:11.3g} {m['knots']:8.2g} {ev:>7} {steps:7d} {wall:7.2f} "
              f"{m['lam_end']:8.4g} {m['drift']:8.2g}")  # fmt: skip
    print(
        "\n(steps: GD steps, or the ODE's field evaluations; q drift: max |q - q0| over the"
        " largest a^2 + b^2 + c^2 at init)"
    )


if __name__ == "__main__":
    main()
