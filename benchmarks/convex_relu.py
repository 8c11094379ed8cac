"""Convex two-layer ReLU program: landscope vs cvxpy + Clarabel vs pyscnn, side by side.

    bash benchmarks/convex/setup.sh                        # once: benchmarks/convex/.venv
    benchmarks/convex/.venv/bin/python benchmarks/convex_relu.py            # ~10 min
    benchmarks/convex/.venv/bin/python benchmarks/convex_relu.py --quick    # one small instance

The program (Pilanci & Ergen 2020), in landscope's scaling, over every activation pattern
D_i of X (a column of ones appended to X for the bias):

    p* = min 1/2 ||sum_i D_i X (v_i - w_i) - y||^2 + beta sum_i (||v_i|| + ||w_i||)
         s.t. (2 D_i - I) X v_i >= 0, (2 D_i - I) X w_i >= 0.

For each instance, p* comes from cvxpy + Clarabel at tight tolerances (1e-10,
``benchmarks/convex/reference.py``) over the exact patterns (``relu_patterns``, the
all-zero pattern dropped). Every solver is scored by the objective of the ReLU network
read off its (v, w) (u = v / sqrt||v||, alpha = +-sqrt||v||): a true upper bound on p*,
also where an iterate slightly violates the cones. Timed, to a relative error <= 1e-6:

- landscope: ``fit_relu(X, y, beta)`` at its default ``rtol=1e-6``: column generation
  stopped by its own duality-gap certificate. The time includes enumerating the patterns
  (the peers are handed them).
- cvxpy + Clarabel: the reference formulation at Clarabel's default tolerances (1e-8);
  the time includes cvxpy's canonicalization; Clarabel's own solve time is shown too.
- scnn (pyscnn 0.0.10) ``AL`` with the settings of ``benchmarks/convex/NOTES.md``
  (tol 1e-8, constraint_tol 1e-14, float64, unitize_data=False, lam = beta / n) on gates
  from ``interior_points`` that give exactly the same patterns; once as shipped, once with
  the dual update patched to textbook multipliers (``scnn_fit.textbook_multipliers``,
  labelled as such). scnn never stops on the objective, so this script stops it from
  outside: every few inner iterations it evaluates the network read off the iterate and
  stops as soon as that is within 1e-6 of p* (an oracle stop that favours scnn; the
  checks' own time is subtracted), or at a time cap (30 s; ``--scnn-cap``), and then
  reports the best relative error it reached. Its iteration limits are set out of reach.

landscope and cvxpy are repeated (min / median shown), scnn runs once. The ratios are
peer time / landscope time, both the minimum over repeats. Single-threaded
(OMP_NUM_THREADS=1 etc. are set before numpy and torch load).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
warnings.filterwarnings("ignore")

import cvxpy as cp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "convex"))

from scnn.metrics import Metrics  # noqa: E402
from scnn.models import ConvexReLU  # noqa: E402
from scnn.private.interface import (  # noqa: E402
    build_internal_model,
    build_metrics_tuple,
    build_optimizer,
    get_logger,
    process_data,
    set_device,
)
from scnn.regularizers import NeuronGL1  # noqa: E402
from scnn.solvers import AL  # noqa: E402
from scnn_fit import (  # noqa: E402
    gates_for_patterns,
    network_value,
    scnn_patterns,
    textbook_multipliers,
)

from landscope.convex.patterns import relu_patterns  # noqa: E402
from landscope.convex.relu import fit_relu  # noqa: E402
from reference import cvxpy_relu, relu_problem  # noqa: E402

TARGET = 1e-6  # relative error every solver must reach


def instance(n: int, d: int, kind: str, seed: int = 0, k: int = 3, noise: float = 0.1):
    """X (n, d): d - 1 Gaussian columns and a ones column (bias); y from a planted ReLU
    teacher with k neurons (u ~ N(0, I_d), output weights +-1) plus noise, or y ~ N(0, I)."""
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.standard_normal((n, d - 1)), np.ones((n, 1))])
    if kind == "teacher":
        U = rng.standard_normal((k, d))
        a = rng.choice([-1.0, 1.0], k)
        y = np.maximum(X @ U.T, 0.0) @ a + noise * rng.standard_normal(n)
    elif kind == "noise":
        y = rng.standard_normal(n)
    else:
        raise ValueError(kind)
    return X, y


def rel(value: float, pstar: float) -> float:
    return (value - pstar) / abs(pstar)


def time_landscope(X, y, beta, repeats):
    times, fit = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        fit = fit_relu(X, y, beta)
        times.append(time.perf_counter() - t0)
    return times, fit


def time_cvxpy(X, y, beta, D, repeats):
    """The reference formulation at Clarabel's default settings: (wall times, Clarabel solve
    times, network value of the last solve)."""
    times, solve, value = [], [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        prob, V, W = relu_problem(X, y, beta, D)
        prob.solve(solver=cp.CLARABEL)
        times.append(time.perf_counter() - t0)
        if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            raise RuntimeError(f"Clarabel status {prob.status}")
        solve.append(float(prob.solver_stats.solve_time))
        value = network_value(X, y, beta, np.asarray(V.value), np.asarray(W.value))
    return times, solve, value


def run_scnn(X, y, beta, G, pstar, cap, check_every=10):
    """scnn's AL (NOTES.md settings) on gates G, stopped from outside once the network read
    off its iterate is within TARGET of p*, or after ``cap`` seconds. optimize_model's body,
    with a callback in the inner loop (the callback argument scnn's procedure has).

    Returns dict: seconds (checks excluded), reached, best (relative error of the best
    network seen), iters (inner iterations), stopped_by ('target', 'cap' or 'scnn')."""
    n = X.shape[0]
    t0 = time.perf_counter()
    set_device("cpu", "float64", 778)
    model = ConvexReLU(np.asarray(G, dtype=np.float64), c=1)
    solver = AL(model, max_primal_iters=10**9, max_dual_iters=10**6, tol=1e-8, constraint_tol=1e-14)
    metrics = Metrics(metric_freq=10**9, objective=False, grad_norm=False)
    regularizer = NeuronGL1(beta / n)
    (Xt, yt), test, _ = process_data(X, y, None, None, False, model.bias)
    internal = build_internal_model(model, regularizer, Xt)
    proc = build_optimizer(solver, regularizer, metrics)
    state = {"iters": 0, "check": 0.0, "best": np.inf, "stop": "scnn", "at": None}
    state["startup"] = False

    def callback(m, X_, y_):
        state["iters"] += 1
        if state["iters"] % check_every:
            return m
        c0 = time.perf_counter()
        w = np.asarray(m.weights)  # (2, c=1, P, d): v's, then w's
        e = rel(network_value(X, y, beta, w[0, 0], w[1, 0]), pstar)
        state["best"] = min(state["best"], e)
        now = c0 - t0 - state["check"]
        if e <= TARGET:
            state["stop"], state["at"] = "target", now
            proc.max_total_iters = 0  # scnn's loop then exits at its next iteration
        elif now > cap:
            state["stop"], state["at"] = "cap", now
            proc.max_total_iters = 0
        if state["stop"] != "scnn":
            state["startup"] = bool(getattr(proc.outer_optimizer, "initializing_delta", False))
        state["check"] += time.perf_counter() - c0
        return m

    _, internal, _ = proc(
        get_logger("scnn", False, False, None),
        internal,
        lambda m: m,
        (Xt, yt),
        test,
        build_metrics_tuple(metrics),
        callback=callback,
    )
    seconds = time.perf_counter() - t0 - state["check"]
    w = np.asarray(internal.weights)
    state["best"] = min(state["best"], rel(network_value(X, y, beta, w[0, 0], w[1, 0]), pstar))
    return {
        "seconds": state["at"] if state["at"] is not None else seconds,
        "reached": state["stop"] == "target",
        "best": state["best"],
        "iters": state["iters"],
        "stopped_by": state["stop"],
        "startup": state["startup"],
    }


def host_line() -> str:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"host: {platform.platform()}, CPU {cpu} ({os.cpu_count()} cores), python "
        f"{platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} "
        f"thread), cvxpy {cp.__version__}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"
    )


def fmt_t(seconds: float) -> str:
    return f"{seconds:8.2f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one small instance (smoke test)")
    ap.add_argument("--repeats", type=int, default=3, help="landscope and cvxpy repeats")
    ap.add_argument("--scnn-cap", type=float, default=None, help="seconds per scnn run")
    ap.add_argument("--no-scnn", action="store_true", help="skip the scnn runs")
    ap.add_argument(
        "--case",
        action="append",
        metavar="KIND:N:D",
        help="run only this instance (repeatable), e.g. teacher:40:3 or noise:20:3",
    )
    args = ap.parse_args()

    if args.quick:
        cases = [("teacher", 20, 3)]
        cap = 20.0 if args.scnn_cap is None else args.scnn_cap
    else:
        cases = [
            ("teacher", 20, 3),
            ("teacher", 40, 3),
            ("teacher", 60, 3),
            ("teacher", 30, 4),
            ("noise", 20, 3),
            ("noise", 40, 3),
        ]
        cap = 30.0 if args.scnn_cap is None else args.scnn_cap
    if args.case:
        cases = [(k, int(n), int(d)) for k, n, d in (c.split(":") for c in args.case)]
    print(host_line())
    print(
        f"target: relative error <= {TARGET:.0e} of p* for the network read off each solution; "
        f"landscope and cvxpy best of {args.repeats}, scnn once (cap {cap:.0f} s)\n"
    )
    summary = []
    for kind, n, d in cases:
        beta = 0.05 * n
        X, y = instance(n, d, kind)
        D_all = relu_patterns(torch.as_tensor(X)).numpy()
        D = D_all[D_all.any(axis=1)]  # the all-zero pattern adds nothing; scnn drops it
        t0 = time.perf_counter()
        pstar, _, _ = cvxpy_relu(X, y, beta, D)
        t_ref = time.perf_counter() - t0

        ls_times, fit = time_landscope(X, y, beta, args.repeats)
        cv_times, cv_solve, cv_value = time_cvxpy(X, y, beta, D, args.repeats)
        ls_err, cv_err = rel(fit.objective, pstar), rel(cv_value, pstar)
        rows = [  # (label, times, relative error, reached, note)
            (
                "landscope fit_relu",
                ls_times,
                ls_err,
                ls_err <= TARGET,
                f"certified gap {fit.gap / fit.objective:.1e} (rel), converged "
                f"{fit.converged}, {fit.iterations} conic solves",
            ),
            (
                "cvxpy + Clarabel",
                cv_times,
                cv_err,
                cv_err <= TARGET,
                f"Clarabel's own solve {min(cv_solve):.2f} s (min); default tolerances",
            ),
        ]
        if not args.no_scnn:
            G = gates_for_patterns(X, D)
            assert np.array_equal(scnn_patterns(X, G), D), "gates do not give the patterns"
            for label, patch in (
                ("scnn AL as shipped", None),
                ("scnn AL, textbook multipliers", textbook_multipliers),
            ):
                if patch is None:
                    out = run_scnn(X, y, beta, G, pstar, cap)
                else:
                    with patch():
                        out = run_scnn(X, y, beta, G, pstar, cap)
                how = {
                    "target": "reached 1e-6",
                    "cap": f"NOT reached in the {cap:.0f} s cap (best error shown)",
                    "scnn": "NOT reached: scnn stopped itself (best error shown)",
                }[out["stopped_by"]]
                note = f"{how}, {out['iters']} inner its"
                if out["startup"]:
                    note += ", still in its penalty start-up phase"
                rows.append((label, [out["seconds"]], out["best"], out["reached"], note))

        print(
            f"{kind} n={n} d={d} (incl. bias) beta={beta:g}: P = {len(D_all)} patterns, "
            f"p* = {pstar:.10f} (Clarabel at 1e-10: {t_ref:.2f} s), width {fit.width}"
        )
        print(f"  {'solver':30s} {'min':>10s} {'median':>10s}  {'rel. err':>9s}   /ls   note")
        base = min(ls_times)
        for label, times, err, reached, note in rows:
            med = fmt_t(statistics.median(times)) if len(times) > 1 else " " * 10
            mark = " " if reached else ">"
            print(
                f"  {label:30s} {fmt_t(min(times))} {med}  {err:+9.1e} "
                f"{mark}{min(times) / base:6.1f}x  {note}"
            )
        print()
        summary.append((f"{kind} n={n} d={d} b={beta:g}", len(D_all), fit.width, base, rows))

    print(
        "summary: seconds to a relative error <= 1e-6 (min over repeats) and peer / landscope;"
        "\n'>' = not reached by the time shown, with the best relative error it reached"
    )
    labels = ["cvxpy + Clarabel"] + ([] if args.no_scnn else ["scnn AL", "scnn AL textbook"])
    print(f"  {'instance':22s} {'P':>5s} {'width':>5s} {'landscope':>10s}", end="")
    print("".join(f"  {lb:>26s}" for lb in labels))
    for name, P, width, base, rows in summary:
        line = f"  {name:22s} {P:5d} {width:5d} {fmt_t(base)}"
        for _, times, err, reached, _ in rows[1:]:
            t = min(times)
            if reached:
                cell = f"{t:7.2f} s {t / base:6.1f}x {'':8s}"
            else:
                cell = f">{t:6.1f} s >{t / base:5.0f}x {err:8.1e}"
            line += f"  {cell:>26s}"
        print(line.rstrip())


if __name__ == "__main__":
    main()
