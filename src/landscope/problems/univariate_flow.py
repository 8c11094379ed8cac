"""Gradient flow of a univariate ReLU net, integrated event by event (Filippov).

For one row theta = (a_i, b_i, c_i)_i [, v, w] of ``UnivariateReLU`` this integrates
d theta / dt = -grad L(theta), L = 1/2 sum_s e_s^2, e_s = f(x_s) - y_s, with an adaptive
Runge-Kutta method of ``scipy.integrate`` between switching events.

**Why plain integrators stall.** The field is polynomial except on the switching surfaces
g_ij = a_i x_j + b_i = 0 (neuron i's knot at data point x_j), where it jumps: with
relu'(0) = 0, the residuals e and the c-gradient are continuous there (relu(g) is), but
neuron i's (a_i, b_i) velocity is

    v_-  = v0                          on g_ij < 0 (x_j inactive for neuron i),
    v_+  = v0 - c_i e_j n,  n = (x_j, 1)   on g_ij > 0 (x_j active),

where v0 = -c_i sum_{s != j} e_s D_si (x_s, 1) is that velocity with x_j left out (the
term of x_j in dL/d(a_i, b_i) is c_i e_j D_ij (x_j, 1)). An error-controlled solver
(``solve_ivp`` with RK45 or LSODA) shrinks its step at every such jump, and in the
adaptive regime the knots move *to* the data and stay there, where the field points
into the surface from both sides: the step collapses (to ~5e-6, as reported in issue 16)
and the run does not end.

**Filippov convention.** With s_- = n . v_- and s_+ = n . v_+ = s_- - c_i e_j |n|^2 the
normal speeds dg_ij/dt on the two sides:

- s_- > 0 and s_+ > 0 (or s_- < 0 and s_+ < 0): the flow crosses the surface; x_j becomes
  active (inactive) for neuron i and integration restarts on the new side;
- s_- >= 0 >= s_+ (both sides point into the surface, "attracting"): the solution
  *slides*: Filippov's velocity is the convex combination v = (1 - lam) v_- + lam v_+ =
  v0 - lam c_i e_j n with lam in [0, 1] chosen so that n . v = 0, i.e. v = v0 - (n . v0)
  n / |n|^2, the projection of v0 onto the surface. The knot stays at x_j (it is -b_i /
  a_i = x_j while g_ij = 0); gradient descent chatters around it within O(eta). The slide
  ends when lam leaves [0, 1]: at lam = 0 (s_- falls through 0) the neuron leaves to the
  inactive side, at lam = 1 (s_+ rises through 0) to the active side;
- s_- < 0 < s_+ (repelling, both sides point away; not reached from a crossing, only at
  the start or by rounding): the side with the larger normal speed is taken.

While sliding, a Baumgarte term -k g_ij n / |n|^2 holds g_ij at 0 against the solver's
drift (dg/dt = -k g exactly), and the state is projected onto the surface when the slide
starts. Every (i, j) pair carries a mode (+1 active, -1 inactive, 0 sliding): the field
between events is the polynomial of those modes (D_ij from the mode, relu(z) as z D), so
each segment is smooth and the events (a pair's g changing sign against its mode, a
slide's lam leaving [0, 1]) are located by root-finding on the solver's dense output.

A neuron slides at one point at most: while it slides at x_j its other g_ik = a_i (x_k -
x_j) vanish only with a_i, so a second point reached while sliding (the neuron's first
layer passing through 0) stops the integration with a message. A neuron with a_i = b_i =
0 has zero velocity (relu'(0) = 0) and stays there; it is left out of the events.

**Conservation.** Sliding keeps q_i = c_i^2 - a_i^2 - b_i^2: dq_i/dt = 2 c_i dc_i/dt -
2 (a_i, b_i) . v, and (a_i, b_i) . n = g_ij = 0, so the projection removes nothing from
(a_i, b_i) . v0 (the Baumgarte term adds -k g^2 / |n|^2, second order in the drift). The
loss decreases while sliding: dL/dt = -|v0|^2 + (n . v0)^2 / |n|^2 - |dc/dt|^2 <= 0.

**Method.** ``DOP853`` (default): an explicit 8th-order pair with 7th-order dense
output, so event roots and ``t_eval`` states are as accurate as the steps (RK45's dense
output is 4th order); at rtol 1e-8 the two cost about the same (8.9k and 8.7k field
evaluations on the study's adaptive cell to t = 120). ``Radau``
(implicit, with the closed-form Jacobian of the segment's field) is offered for the
kernel regime, where the tangent kernel's condition number (~1e4) makes the flow stiff
and an explicit method's step is held at ~3 / lambda_max by stability (kernel cell
to t = 10: Radau 2.2k field evaluations, 0.3 s; DOP853 56k, 2.8 s). The solver
classes are stepped directly (as ``solve_ivp`` does) so that the n m switching functions
are checked at once, vectorized, after each step, and the wall time can be capped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from scipy.integrate import DOP853, RK45, Radau
from scipy.optimize import brentq

from .univariate import UnivariateReLU

__all__ = ["FlowResult", "gradient_flow"]

_METHODS = {"DOP853": DOP853, "RK45": RK45, "Radau": Radau}
_S_TOL = 1e-10  # a slide ends when lam passes 0 or 1 by this fraction of the speeds' scale
_STALL = 50  # consecutive events that make no progress in t: stop


@dataclass(frozen=True)
class FlowResult:
    """What ``gradient_flow`` reached.

    Attributes:
        t: the times of ``theta`` (t_eval's times reached, or the final time) (k,).
        theta: the states at those times, (k, P) float64.
        n_events: switching events handled (crossings, slide starts and ends).
        n_slides: slides started.
        nfev: evaluations of the field (solver steps and root-finding excluded).
        reached: whether t_end was reached.
        wall: seconds spent.
        message: why the integration stopped.
        sliding: the pairs (i, j) sliding at the end.
    """

    t: np.ndarray
    theta: torch.Tensor
    n_events: int
    n_slides: int
    nfev: int
    reached: bool
    wall: float
    message: str
    sliding: tuple[tuple[int, int], ...]


class _Flow:
    """The piecewise-polynomial field of one row, with the pairs' modes."""

    def __init__(self, problem: UnivariateReLU, baumgarte: float, rtol: float,
                 atol: float) -> None:  # fmt: skip
        self.x = problem.X[0, :, 0].detach().cpu().numpy().astype(np.float64)
        self.y = problem.y[0].detach().cpu().numpy().astype(np.float64)
        self.m, self.n = problem.width, len(self.x)
        self.linear = problem.linear
        self.nn = self.x**2 + 1.0  # |n_j|^2
        self.k = float(baumgarte)
        self.mode = np.zeros((self.m, self.n), dtype=np.int8)
        self.slide = np.full(self.m, -1)  # the point neuron i slides at, or -1
        self.frozen = np.zeros(self.m, dtype=bool)
        self.nfev = 0
        self.rtol, self.atol = rtol, atol

    def unpack(self, u: np.ndarray):
        N = u[: 3 * self.m].reshape(self.m, 3)
        return N[:, 0], N[:, 1], N[:, 2], u[3 * self.m :]

    def g(self, u: np.ndarray) -> np.ndarray:
        a, b, _, _ = self.unpack(u)
        return a[:, None] * self.x[None] + b[:, None]

    def _base(self, u: np.ndarray):
        """Residuals and the unprojected field (modes' D; sliding pairs' D = 0)."""
        a, b, c, lin = self.unpack(u)
        Z = a[:, None] * self.x[None] + b[:, None]
        D = (self.mode == 1).astype(np.float64)
        A = Z * D
        f = c @ A
        if self.linear:
            f = f + lin[0] * self.x + lin[1]
        e = f - self.y
        G = D * e[None]
        da = -c * (G @ self.x)
        db = -c * G.sum(1)
        dc = -(A @ e)
        return e, D, A, da, db, dc

    def __call__(self, t: float, u: np.ndarray) -> np.ndarray:
        self.nfev += 1
        e, _, _, da, db, dc = self._base(u)
        i = np.flatnonzero(self.slide >= 0)
        if len(i):
            a, b, _, _ = self.unpack(u)
            xj = self.x[self.slide[i]]
            g = a[i] * xj + b[i]
            coef = (da[i] * xj + db[i] + self.k * g) / (xj * xj + 1.0)
            da[i] -= coef * xj
            db[i] -= coef
        out = np.stack([da, db, dc], 1).ravel()
        if self.linear:
            out = np.concatenate([out, [-(e @ self.x), -e.sum()]])
        return out

    def jac(self, t: float, u: np.ndarray) -> np.ndarray:
        """d(field)/du of the current segment (for Radau)."""
        e, D, A, _, _, _ = self._base(u)
        _, _, c, _ = self.unpack(u)
        m, n, x = self.m, self.n, self.x
        cD = c[:, None] * D
        J = np.stack([cD * x[None], cD, A], 2).transpose(1, 0, 2).reshape(n, 3 * m)
        if self.linear:
            J = np.concatenate([J, np.stack([x, np.ones(n)], 1)], 1)
        H = J.T @ J
        ca, cb = (D * e[None]) @ x, (D * e[None]).sum(1)
        ia = np.arange(m) * 3
        H[ia, ia + 2] += ca
        H[ia + 2, ia] += ca
        H[ia + 1, ia + 2] += cb
        H[ia + 2, ia + 1] += cb
        Jf = -H
        for i in np.flatnonzero(self.slide >= 0):
            xj = x[self.slide[i]]
            nv = np.array([xj, 1.0])
            Pr = np.eye(2) - np.outer(nv, nv) / (xj * xj + 1.0)
            rows = [3 * i, 3 * i + 1]
            Jf[rows] = Pr @ Jf[rows]
            Jf[np.ix_(rows, rows)] -= self.k * np.outer(nv, nv) / (xj * xj + 1.0)
        return Jf

    # ------------------------------------------------------------ switching
    def speeds(self, u: np.ndarray, i: np.ndarray, j: np.ndarray):
        """Normal speeds (s_-, s_+) of pairs (i, j) and their scale, at state u."""
        e, D, _, da, db, _ = self._base(u)
        _, _, c, _ = self.unpack(u)
        xj = self.x[j]
        # v0: neuron i's (a, b) velocity with x_j left out (add back the term if active)
        ce = c[i] * e[j] * D[i, j]
        s_minus = (da[i] + ce * xj) * xj + (db[i] + ce)
        s_plus = s_minus - c[i] * e[j] * self.nn[j]
        scale = np.abs(c[i]) * np.abs(e).sum() * (1.0 + np.abs(self.x).max()) ** 2 + 1e-300
        return s_minus, s_plus, scale

    def slide_margins(self, u: np.ndarray) -> tuple[np.ndarray, ...]:
        """(i, j, min(s_-, -s_+) + tolerance, tolerance) of the sliding pairs: a margin
        < 0 ends the slide."""
        i = np.flatnonzero(self.slide >= 0)
        j = self.slide[i]
        if not len(i):
            return i, j, np.zeros(0), np.zeros(0)
        sm, sp, scale = self.speeds(u, i, j)
        return i, j, np.minimum(sm, -sp) + _S_TOL * scale, _S_TOL * scale

    def g_tol(self, u: np.ndarray) -> np.ndarray:
        """(m, n): how far g_ij can be off after a step, atol (|x_j| + 1) + rtol |a_i x_j|
        + rtol |b_i|: a pair is "at" its surface within it."""
        a, b, _, _ = self.unpack(u)
        ax, ab = np.abs(self.x)[None], np.abs(a)[:, None]
        return self.atol * (ax + 1.0) + self.rtol * (ab * ax + np.abs(b)[:, None])

    def crossing_margins(self, u: np.ndarray) -> np.ndarray:
        """mode * g + half the tolerance, (m, n): < 0 where a pair crossed against its mode
        (inf for sliding pairs and frozen neurons)."""
        h = self.mode * self.g(u) + 0.5 * self.g_tol(u)
        h[self.mode == 0] = np.inf
        h[self.frozen] = np.inf
        return h

    def decide(self, u: np.ndarray, i: int, j: int) -> int:
        """The mode of pair (i, j) at its surface (Filippov): +1, -1 or 0 (slide)."""
        self.mode[i, j] = -1  # speeds() reads v0 either way; keep D_ij = 0 meanwhile
        sm, sp, _ = self.speeds(u, np.array([i]), np.array([j]))
        sm, sp = float(sm[0]), float(sp[0])
        if sm < 0 < sp:  # repelling
            return 1 if sp >= -sm else -1
        if sp > 0:
            return 1
        if sm < 0:
            return -1
        return 0


def _row(problem: UnivariateReLU, theta0) -> np.ndarray:
    th = torch.as_tensor(theta0).detach().to(torch.float64).cpu()
    if th.dim() == 2 and th.shape[0] == 1:
        th = th[0]
    if th.dim() != 1 or th.shape[0] != problem.n_params:
        raise ValueError(
            f"theta0 must be one row of {problem.n_params} parameters, (P,) or (1, P); "
            f"got shape {tuple(th.shape)}."
        )
    if not bool(torch.isfinite(th).all()):
        raise ValueError("theta0 has NaN or infinite entries.")
    return th.numpy().copy()


def gradient_flow(
    problem: UnivariateReLU,
    theta0,
    t_end: float,
    *,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    method: str = "DOP853",
    t_eval=None,
    max_events: int = 100_000,
    max_wall: float = 600.0,
    baumgarte: float = 1.0,
) -> FlowResult:
    """Integrate gradient flow of one row from t = 0 to ``t_end`` (Filippov at the knots).

    Args:
        problem: the ``UnivariateReLU`` (its data shared by all rows, or one data row).
        theta0: one row, (P,) or (1, P); integrated in float64 on the CPU.
        t_end: the final time, > 0.
        rtol: the solver's relative tolerance.
        atol: the solver's absolute tolerance.
        method: ``"DOP853"`` (default), ``"RK45"`` or ``"Radau"`` (see the module docstring).
        t_eval: increasing times in [0, t_end] at which to record the state (default:
            only the final state).
        max_events: stop (``reached`` False) after this many events.
        max_wall: stop (``reached`` False) after this many seconds.
        baumgarte: the rate k of the term -k g n / |n|^2 holding a slide on its surface.

    Returns:
        A ``FlowResult``: the states at the t_eval times reached (or the final state).

    Raises:
        ValueError: t_end not a positive number, theta0 not one row of P finite numbers,
            a problem with several data rows, an unknown method, t_eval outside
            [0, t_end] or not increasing.
    """
    start = time.perf_counter()
    if not isinstance(problem, UnivariateReLU):
        raise ValueError(f"problem must be a UnivariateReLU, got {type(problem).__name__}.")
    if problem.X.shape[0] != 1:
        raise ValueError(f"the problem holds {problem.X.shape[0]} data rows; give one.")
    if isinstance(t_end, bool) or not np.isfinite(t_end) or not t_end > 0:
        raise ValueError(f"t_end must be a positive finite number, got {t_end!r}.")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {', '.join(_METHODS)}, got {method!r}.")
    u = _row(problem, theta0)
    t_end = float(t_end)
    if t_eval is None:
        times = np.zeros(0)
    else:
        times = np.asarray(t_eval, dtype=np.float64).ravel()
        if (times < 0).any() or (times > t_end).any() or (np.diff(times) <= 0).any():
            raise ValueError("t_eval must be increasing times within [0, t_end].")

    F = _Flow(problem, baumgarte, rtol, atol)
    a, b, _, _ = F.unpack(u)
    F.frozen = (a == 0) & (b == 0)
    g = F.g(u)
    F.mode[:] = np.where(g > 0, 1, -1)
    n_events = n_slides = 0
    message = ""
    # pairs starting on their surface (|g| within tolerance): decide as at an event
    at = _at_surface(F, u)
    u, n_slides, message = _handle(F, u, at, n_slides)

    rec_t: list[float] = []
    rec_u: list[np.ndarray] = []
    k = 0
    while k < len(times) and times[k] <= 0.0:
        rec_t.append(0.0)
        rec_u.append(u.copy())
        k += 1

    t = 0.0
    kw = {"jac": F.jac} if method == "Radau" else {}
    solver = None
    stalls = 0
    first_step = None
    while not message:
        if solver is None:
            solver = _METHODS[method](F, t, u, t_end, rtol=rtol, atol=atol,
                                      first_step=first_step, **kw)  # fmt: skip
        err = solver.step()
        if solver.status == "failed":
            message = f"the solver failed at t = {solver.t:.6g}: {err}"
            break
        t_old, t_new = solver.t_old, solver.t
        u_new = solver.y
        hit = F.crossing_margins(u_new) < 0
        sm = F.slide_margins(u_new)[2]
        t_hit = np.inf
        if hit.any() or (sm < 0).any():
            sol = solver.dense_output()
            u_old = sol(t_old)
            for i, j in zip(*np.nonzero(hit), strict=True):
                f = lambda s, i=i, j=j, sol=sol: F.crossing_margins(sol(s))[i, j]  # noqa: E731
                t_hit = min(t_hit, _root(f, t_old, t_new, f(t_old) <= 0))
            for q in np.flatnonzero(sm < 0):
                f = lambda s, q=q, sol=sol: F.slide_margins(sol(s))[2][q]  # noqa: E731
                t_hit = min(t_hit, _root(f, t_old, t_new, F.slide_margins(u_old)[2][q] <= 0))
        t_stop = min(t_hit, t_new)
        if k < len(times) and times[k] <= t_stop:
            sol = solver.dense_output()
            while k < len(times) and times[k] <= t_stop:
                rec_t.append(float(times[k]))
                rec_u.append(sol(times[k]).copy())
                k += 1
        if np.isfinite(t_hit):
            u = solver.dense_output()(t_hit).copy()
            stalls = stalls + 1 if t_hit <= t else 0
            t = t_hit
            n_events += 1
            first_step = max(solver.step_size, 1e-12 * max(1.0, t))
            first_step = min(first_step, t_end - t) if t < t_end else None
            if stalls >= _STALL:
                message = f"no progress over {_STALL} events at t = {t:.6g} (chattering)"
                break
            if n_events >= max_events:
                message = f"stopped after max_events = {max_events} events at t = {t:.6g}"
                break
            at = _at_surface(F, u)
            u, n_slides, message = _handle(F, u, at, n_slides)
            solver = None
            if not message and t >= t_end:
                message = "reached t_end"
        else:
            t, u = t_new, u_new.copy()
            if solver.status == "finished" or t >= t_end:
                message = "reached t_end"
        if not message and time.perf_counter() - start > max_wall:
            message = f"stopped after max_wall = {max_wall:g} s at t = {t:.6g}"

    reached = message == "reached t_end"
    if t_eval is None:
        rec_t, rec_u = [t], [u]
    sliding = tuple((int(i), int(F.slide[i])) for i in np.flatnonzero(F.slide >= 0))
    theta = torch.as_tensor(np.array(rec_u).reshape(len(rec_u), -1), dtype=torch.float64)
    return FlowResult(
        t=np.asarray(rec_t, dtype=np.float64),
        theta=theta,
        n_events=n_events,
        n_slides=n_slides,
        nfev=F.nfev,
        reached=reached,
        wall=time.perf_counter() - start,
        message=message,
        sliding=sliding,
    )


def _root(f, t0: float, t1: float, at_start: bool) -> float:
    """The first time in [t0, t1] where f (< 0 at t1) has reached 0, taken on the far side
    (f <= 0 there, so that the event's pair is past its threshold): t0 if f(t0) <= 0."""
    if at_start:
        return t0
    eps = np.finfo(float).eps
    r = brentq(f, t0, t1, xtol=4 * eps, rtol=4 * eps)
    step = 4 * eps * max(abs(r), 1e-300)
    while r < t1 and f(r) > 0:
        r = min(r + step, t1)
        step *= 2
    return r


def _at_surface(F: _Flow, u: np.ndarray) -> list[tuple[int, int]]:
    """Pairs to decide at state u: non-sliding pairs within tolerance of their surface
    (or past it), and sliding pairs whose lam left [0, 1]."""
    h = F.crossing_margins(u)
    tol = F.g_tol(u)
    pairs = [(int(i), int(j)) for i, j in zip(*np.nonzero(h <= 1.5 * tol), strict=True)]
    i_s, j_s, sm, stol = F.slide_margins(u)
    pairs += [
        (int(i), int(j)) for i, j, s, e in zip(i_s, j_s, sm, stol, strict=True) if s <= 0.5 * e
    ]
    return pairs


def _handle(F: _Flow, u: np.ndarray, pairs, n_slides: int):
    """Set the modes of the pairs at their surfaces: a slide is projected onto its
    surface, a pair leaving it is put one tolerance onto its new side (so that the
    solver's error does not bring it straight back)."""
    message = ""
    for i, j in pairs:
        was_sliding = F.slide[i] == j
        if F.slide[i] >= 0 and not was_sliding:
            message = (f"neuron {i}, sliding at x_{F.slide[i]}, reached x_{j} "
                       f"(its first layer passes through 0)")  # fmt: skip
            break
        mode = F.decide(u, i, j)
        F.mode[i, j] = mode
        xj = F.x[j]
        g = u[3 * i] * xj + u[3 * i + 1]
        target = 0.0 if mode == 0 else mode * max(mode * g, float(F.g_tol(u)[i, j]))
        u = u.copy()  # move (a_i, b_i) along n = (x_j, 1) to g = target
        u[3 * i] += (target - g) * xj / (xj * xj + 1.0)
        u[3 * i + 1] += (target - g) / (xj * xj + 1.0)
        if mode == 0:
            n_slides += 0 if was_sliding else 1
            F.slide[i] = j
        elif was_sliding:
            F.slide[i] = -1
    return u, n_slides, message
