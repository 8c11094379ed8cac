"""Dynamic string sampling: a polygon inside a level set, found by re-training beads.

Freeman & Bruna, "Topology and geometry of half-rectified network optimization", ICLR
2017: greedy dynamic string sampling (their Algorithm 1 and figure 2). For a level L0 and two
points theta_A, theta_B of the sublevel set Omega_L0 = {theta : E(theta) <= L0}:

1. Sample E on the segment [theta_i, theta_j] densely and take its maximum, at t*.
2. If the maximum is <= L0 the segment stays in Omega_L0: done.
3. Otherwise insert the interpolated point theta(t*) = theta_i + t* (theta_j - theta_i)
   as a new bead, train it until E <= alpha L0 (alpha < 1), and recurse on the two new
   segments [theta_i, bead] and [bead, theta_j].

The paper's figure 2 inserts the bead at the maximum t* of the interpolated loss (not
at the midpoint) and trains it "until its loss is below alpha L0"; so does this module.
Where it departs from the paper's recursive pseudo-code:

* Breadth first. The paper recurses depth first, one bead at a time. Each segment is
  processed independently of the others, so visiting them level by level gives the same
  beads for a deterministic optimizer -- and lets **all beads of one depth train as one
  batch of runs**: the rows of one (B, P) tensor through the batched optimizer.
* Stopping. The paper recurses until every segment is under L0. Here a depth cap
  (``max_depth`` rounds of bead insertion) and a bead cap (``max_beads`` interior
  beads) end the search with status ``"not_connected_found"``, which is never a proof of
  disconnection. A bead whose training ends above L0 (a critical point above the level,
  or ``max_steps`` spent) also ends the search: the polygon through it can never be
  under the level. A bead that ends in (alpha L0, L0] (a local minimum between the two
  levels) is kept: it lies in Omega_L0, which is all the recursion needs.
* The segment's samples: ``points`` equally spaced positions, ends included (the loss
  at the ends is known to be <= L0); the final ``Path`` is sampled at exactly these
  positions by ``profile``, so its status agrees with the search.

Constrained variant (``constrained=True``; the paper's remark that beads must not
collapse onto the endpoints, made explicit): while a bead trains, its gradient is
projected onto the hyperplane through its starting point theta(t*) orthogonal to its
segment, g <- g - (g.n) n with n = (theta_j - theta_i) / |theta_j - theta_i|. The bead
then keeps its position t* along the segment (its projection onto the chord never
moves) and can only move sideways, so it stays at distance >= min(t*, 1 - t*)
|theta_j - theta_i| from both ends. The hyperplane is the segment's midpoint hyperplane
whenever the loss peaks in the middle (symmetric barriers); a projection, not a penalty,
so no penalty weight needs tuning and the bead lies on the hyperplane up to rounding.

A start exactly at a critical point (the centre of a symmetric barrier, where the
gradient vanishes) cannot be left by gradient descent; ``jitter`` > 0 perturbs every
bead's start by a Gaussian of standard deviation ``jitter`` |theta_j - theta_i| (within
the hyperplane when constrained), drawn from ``generator``.

The normalized length |gamma| / |theta_A - theta_B| of the resulting polygon
(``Path.normalized_length``) is the paper's measure of how curved the level set is: 1
for a convex sublevel set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..optim import GD, Adam, Armijo, Method, Optimizer, Stop, run
from ..problems import Problem
from .interpolate import as_endpoint, as_endpoint_pairs, profile
from .path import PATH_COLUMNS, Path

__all__ = [
    "STRING_COLUMNS",
    "STRING_STOP",
    "LevelResult",
    "StringResult",
    "dynamic_string",
    "dynamic_strings",
    "train_to_level",
]

# Why the search ended. connected: every segment is under the level. depth_cap / bead_cap:
# more rounds or beads were needed than allowed. bead_above_level: a bead's training
# ended above the level (stuck at a critical point, or out of steps).
STRING_STOP = ("connected", "depth_cap", "bead_cap", "bead_above_level")

_OPTIMIZERS = ("armijo", "gd", "adam")
# Rows x parameters of one batched loss call along segments (~128 MB of float64).
_SAMPLE_BUDGET = 1 << 24


@dataclass(frozen=True)
class LevelResult:
    """Rows trained down to a loss level (``train_to_level``).

    Attributes:
        theta: (R, P) final rows.
        loss: (R,) their loss.
        steps: (R,) optimizer steps each row took.
        reached: (R,) bool, loss <= the level asked for.
    """

    theta: torch.Tensor
    loss: torch.Tensor
    steps: torch.Tensor
    reached: torch.Tensor

    @property
    def all_reached(self) -> bool:
        return bool(self.reached.all())


@dataclass(frozen=True)
class StringResult:
    """Outcome of ``dynamic_string``.

    Attributes:
        path: the polygon (method ``"string"`` or ``"string_constrained"``, level L0),
            its beads in order and the loss sampled along it.
        depth: rounds of bead insertion done (0 when the straight segment is under L0).
        train_steps: optimizer steps summed over every trained bead.
        beads_trained: beads trained in all (equal to ``path.n_beads``).
        beads_per_depth: beads trained in each round, one batch each.
        stop: why the search ended, one of ``STRING_STOP``.
    """

    path: Path
    depth: int
    train_steps: int
    beads_trained: int
    beads_per_depth: tuple[int, ...]
    stop: str

    def as_row(self) -> dict:
        """The path's store columns plus the search's own (see ``STRING_COLUMNS``)."""
        return {
            **self.path.as_row(),
            "depth": self.depth,
            "train_steps": self.train_steps,
            "beads_trained": self.beads_trained,
            "beads_per_depth": np.asarray(self.beads_per_depth, dtype=np.int64),
            "stop": self.stop,
        }


# The store columns of ``StringResult.as_row()``: name -> DuckDB type.
STRING_COLUMNS = {
    **PATH_COLUMNS,
    "depth": "BIGINT",
    "train_steps": "BIGINT",
    "beads_trained": "BIGINT",
    "beads_per_depth": "BIGINT[]",
    "stop": "VARCHAR",
}


class _Rows:
    """``problem`` with each row's gradient projected off its unit normal (if any).

    ``select`` keeps the normals aligned with the rows when the driver drops finished
    rows from its working batch; the inner problem's rows are ours (beads), not runs with
    their own data, so its own ``select`` is never called.
    """

    def __init__(self, problem: Problem, normals: torch.Tensor | None) -> None:
        self.problem = problem
        self.normals = normals

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        return self.problem.loss(theta)

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loss, g = self.problem.loss_and_grad(theta)
        if self.normals is not None:
            g = g - (g * self.normals).sum(1, keepdim=True) * self.normals
        return loss, g

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        return self.loss_and_grad(theta)[1]

    def select(self, rows: torch.Tensor) -> _Rows:
        return _Rows(self.problem, None if self.normals is None else self.normals[rows])


def _check_training(optimizer: object, lr: float | None, max_steps: int, tol: float) -> None:
    if not isinstance(optimizer, (Optimizer, Method)) and optimizer not in _OPTIMIZERS:
        raise ValueError(
            f"unknown optimizer {optimizer!r}; use one of {_OPTIMIZERS} or an Optimizer "
            "instance such as GD(lr) or Adam(lr)."
        )
    if optimizer in ("gd", "adam") and lr is None:
        raise ValueError(f"optimizer {optimizer!r} needs a learning rate lr; none was given.")
    if lr is not None and not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number or None, got {lr!r}.")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 0:
        raise ValueError(f"max_steps must be an integer >= 0, got {max_steps!r}.")
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}.")


def _train(
    problem: Problem,
    theta0: torch.Tensor,
    target: float,
    normals: torch.Tensor | None,
    optimizer: str | Optimizer | Method,
    lr: float | None,
    max_steps: int,
    tol: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train all rows of ``theta0`` as one batch with the driver; returns (theta, loss, steps).

    A row stops once its loss is <= ``target``, at a critical point (||grad|| <= tol),
    after ``max_steps`` steps, or on divergence.
    """
    if optimizer == "armijo":
        method: object = Armijo(lr0=1.0 if lr is None else float(lr))
    elif optimizer == "gd":
        method = GD(float(lr))
    elif optimizer == "adam":
        method = Adam(float(lr))
    else:
        method = optimizer
    stop = Stop(grad_tol=tol, loss_target=target, max_steps=max_steps)
    res = run(_Rows(problem, normals), theta0, method, stop=stop)
    return res.theta, problem.loss(res.theta), res.steps


def train_to_level(
    problem: Problem,
    theta: object,
    level: float,
    *,
    optimizer: str | Optimizer = "armijo",
    lr: float | None = None,
    max_steps: int = 10_000,
    tol: float = 1e-10,
) -> LevelResult:
    """Train every row of ``theta`` until its loss is <= ``level``, all rows as one batch.

    The studies' first step ("train two models to loss L0", Freeman & Bruna): a row
    stops as soon as E <= level, at a critical point (||grad|| <= tol), after
    ``max_steps`` steps, or on divergence; ``reached`` says which rows made it. Training
    endpoints to alpha L0 rather than L0 puts them inside Omega_L0, so that the string's
    segments do not graze the level right at their ends.

    Args:
        problem: any Problem.
        theta: (P,) or (R, P) starting rows.
        level: the loss to reach (finite).
        optimizer: ``"armijo"`` (``Armijo``, a per-row backtracking step; ``lr`` is its
            first trial step, default 1), ``"gd"`` or ``"adam"`` (``lr`` required), or an
            ``Optimizer`` instance (``lr`` unused).
        lr: learning rate (see ``optimizer``).
        max_steps: steps per row.
        tol: gradient norm at which a row counts as stuck at a critical point.

    Returns:
        LevelResult.

    Raises:
        ValueError: for a mis-shaped or non-finite theta, a non-finite level, or bad
            optimizer settings.
    """
    if not (isinstance(level, (int, float)) and math.isfinite(level)):
        raise ValueError(f"level must be a finite number, got {level!r}.")
    _check_training(optimizer, lr, max_steps, tol)
    t = problem.as_batch(theta)
    if not bool(torch.isfinite(t).all()):
        raise ValueError("theta contains NaN or infinite values.")
    th, loss, steps = _train(problem, t, float(level), None, optimizer, lr, max_steps, tol)
    return LevelResult(theta=th, loss=loss, steps=steps, reached=loss <= level)


def _segment_peaks(
    problem: Problem, A: torch.Tensor, B: torch.Tensor, n: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Max of the loss over the n - 1 interior samples A + (k/n)(B - A) of each segment.

    Returns max loss (S,) (NaN counted as +inf), the argmax position t* (S,) and the point
    (S, P). Segments are evaluated in as few loss calls as ``_SAMPLE_BUDGET`` allows.
    """
    S, P = A.shape
    s = torch.arange(1, n, dtype=A.dtype, device=A.device) / n  # as ``profile`` samples
    step = B - A
    per_call = max(1, _SAMPLE_BUDGET // max(1, (n - 1) * P))
    peak, pos, at = [], [], []
    for lo in range(0, S, per_call):  # chunks of segments, not of beads
        a, d = A[lo : lo + per_call], step[lo : lo + per_call]
        pts = a[:, None, :] + s[None, :, None] * d[:, None, :]  # (S', n - 1, P)
        loss = problem.loss(pts.reshape(-1, P)).reshape(a.shape[0], n - 1)
        loss = torch.where(torch.isnan(loss), torch.inf, loss)
        m, j = loss.max(dim=1)
        peak.append(m)
        pos.append(s[j])
        at.append(pts[torch.arange(a.shape[0], device=A.device), j])
    return torch.cat(peak), torch.cat(pos), torch.cat(at)


def _check_int(name: str, value: object, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}.")


def dynamic_string(
    problem: Problem,
    theta_a: object,
    theta_b: object,
    level: float,
    *,
    alpha: float = 0.5,
    max_depth: int = 10,
    max_beads: int = 256,
    points: int = 65,
    optimizer: str | Optimizer = "armijo",
    lr: float | None = None,
    max_steps: int = 10_000,
    tol: float = 1e-10,
    constrained: bool = False,
    jitter: float = 0.0,
    generator: torch.Generator | None = None,
) -> StringResult:
    """Greedy dynamic string sampling between theta_a and theta_b at level L0 = ``level``.

    See the module docstring for the algorithm and where it departs from the paper.

    Args:
        problem: any Problem.
        theta_a, theta_b: the endpoints, (P,) or (1, P), both with loss < ``level``.
        level: L0, the level of the set to stay in.
        alpha: beads are trained to loss <= alpha L0; in (0, 1). The paper leaves it a
            parameter; 0.5 is our default.
        max_depth: rounds of bead insertion before giving up (>= 0).
        max_beads: interior beads allowed in all (>= 0); a round that would exceed it is
            not started.
        points: samples per segment, ends included (>= 3), for the search and for the
            final profile.
        optimizer, lr, max_steps, tol: how beads are trained (as in ``train_to_level``).
        constrained: keep each bead on the hyperplane through its start orthogonal to its
            segment while it trains (method ``"string_constrained"``).
        jitter: standard deviation of a Gaussian perturbation of each bead's start, in
            units of its segment's length (>= 0; 0 for none).
        generator: draws the jitter.

    Returns:
        StringResult; ``result.path.status`` is ``"connected"`` when every sampled point
        of the final polygon is <= L0, ``"not_connected_found"`` otherwise.

    Raises:
        ValueError: for mis-shaped or non-finite endpoints, a level at or below an
            endpoint's loss, alpha outside (0, 1), or bad caps or optimizer settings.
    """
    a = as_endpoint(problem, theta_a, "theta_a")
    b = as_endpoint(problem, theta_b, "theta_b")
    return dynamic_strings(
        problem, a[None], b[None], level, alpha=alpha, max_depth=max_depth,
        max_beads=max_beads, points=points, optimizer=optimizer, lr=lr, max_steps=max_steps,
        tol=tol, constrained=constrained, jitter=jitter, generator=generator,
    )[0]  # fmt: skip


def dynamic_strings(
    problem: Problem,
    thetas_a: object,
    thetas_b: object,
    level: float,
    *,
    alpha: float = 0.5,
    max_depth: int = 10,
    max_beads: int = 256,
    points: int = 65,
    optimizer: str | Optimizer = "armijo",
    lr: float | None = None,
    max_steps: int = 10_000,
    tol: float = 1e-10,
    constrained: bool = False,
    jitter: float = 0.0,
    generator: torch.Generator | None = None,
) -> list[StringResult]:
    """``dynamic_string`` for N pairs (thetas_a[i], thetas_b[i]) at once, one level.

    Each round samples every pending segment of every pair in one batched loss call and
    trains the new beads of all pairs as one batch of runs; each pair keeps its own
    depth, caps and stop reason. With N = 1 it is ``dynamic_string``.

    Args:
        thetas_a, thetas_b: (N, P) endpoints (rows of ``problem.as_batch``).
        Others: as ``dynamic_string``.

    Returns:
        One StringResult per pair, in order.
    """
    A0, B0 = as_endpoint_pairs(problem, thetas_a, thetas_b)
    if not (isinstance(level, (int, float)) and math.isfinite(level)):
        raise ValueError(f"level must be a finite number, got {level!r}.")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}.")
    _check_int("max_depth", max_depth, 0)
    _check_int("max_beads", max_beads, 0)
    _check_int("points", points, 3)
    if not (isinstance(jitter, (int, float)) and math.isfinite(jitter) and jitter >= 0):
        raise ValueError(f"jitter must be a finite number >= 0, got {jitter!r}.")
    _check_training(optimizer, lr, max_steps, tol)
    N = A0.shape[0]
    ends = problem.loss(torch.cat([A0, B0])).reshape(2, N)
    for name, row in zip(("theta_a", "theta_b"), ends.tolist(), strict=True):
        for i, e in enumerate(row):
            if not e < level:
                which = name if N == 1 else f"{name}[{i}]"
                raise ValueError(
                    f"level {level!r} is not above the loss {e!r} of {which}; the endpoints "
                    "must lie strictly inside the level set (train them first)."
                )

    n = points - 1
    beads = [[A0[i], B0[i]] for i in range(N)]  # each pair's polygon vertices in order
    pending = [[0] for _ in range(N)]  # segments (beads[i], beads[i + 1]) not yet checked
    depth, steps_total = [0] * N, [0] * N
    per_depth: list[list[int]] = [[] for _ in range(N)]
    stop = ["connected"] * N
    while True:
        live = [p for p in range(N) if pending[p]]
        if not live:
            break
        segs = [(p, i) for p in live for i in pending[p]]
        A = torch.stack([beads[p][i] for p, i in segs])
        B = torch.stack([beads[p][i + 1] for p, i in segs])
        peak, _, start = _segment_peaks(problem, A, B, n)
        over = (~(peak <= level)).tolist()
        train = []  # indices into segs of the beads trained this round
        for p in live:
            mine = [j for j, (q, _) in enumerate(segs) if q == p and over[j]]
            if not mine:
                pending[p] = []  # every segment under the level: done
            elif depth[p] >= max_depth:
                stop[p], pending[p] = "depth_cap", []
            elif len(beads[p]) - 2 + len(mine) > max_beads:
                stop[p], pending[p] = "bead_cap", []
            else:
                train += mine
        if not train:
            break
        rows = torch.tensor(train, device=A.device)
        A, B, start = A[rows], B[rows], start[rows]
        chord = B - A
        length = torch.linalg.vector_norm(chord, dim=1, keepdim=True)
        normals = chord / length if constrained else None
        if jitter > 0:
            z = torch.randn(start.shape, generator=generator, dtype=start.dtype, device="cpu")
            z = z.to(start.device)
            if normals is not None:
                z = z - (z * normals).sum(1, keepdim=True) * normals
            start = start + jitter * length * z
        # one batch: every bead of this round, of every pair, is a row of one optimizer run
        new, new_loss, steps = _train(
            problem, start, alpha * level, normals, optimizer, lr, max_steps, tol
        )
        by_pair: dict[int, dict[int, int]] = {}
        for r, j in enumerate(train):
            p, i = segs[j]
            by_pair.setdefault(p, {})[i] = r
        for p, bead_of in by_pair.items():
            depth[p] += 1
            per_depth[p].append(len(bead_of))
            steps_total[p] += sum(int(steps[r]) for r in bead_of.values())
            # insert each bead after its segment's left end; new segments go to pending
            out, next_pending = [], []
            for i, x in enumerate(beads[p]):
                out.append(x)
                if i in bead_of:
                    next_pending += [len(out) - 1, len(out)]
                    out.append(new[bead_of[i]])
            beads[p], pending[p] = out, next_pending
            if not all(bool(new_loss[r] <= level) for r in bead_of.values()):
                stop[p], pending[p] = "bead_above_level", []

    results = []
    for p in range(N):
        poly = torch.stack(beads[p])
        t, loss = profile(problem, poly, points_per_segment=n)
        bead_loss = loss[::n]  # the samples at k = 0 of each segment are the beads
        connected = stop[p] == "connected" and float(loss.max()) <= level
        path = Path(
            beads=poly,
            bead_loss=bead_loss,
            t=t,
            loss=loss,
            method="string_constrained" if constrained else "string",
            status="connected" if connected else "not_connected_found",
            level=float(level),
        )
        results.append(
            StringResult(
                path=path,
                depth=depth[p],
                train_steps=steps_total[p],
                beads_trained=sum(per_depth[p]),
                beads_per_depth=tuple(per_depth[p]),
                stop=stop[p],
            )
        )
    return results
