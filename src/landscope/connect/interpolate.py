"""The straight segment between two points, and the loss sampled along any polygon.

Goodfellow, Vinyals & Saxe (ICLR 2015) look at the loss on the segment

    gamma(t) = (1 - t) theta_A + t theta_B,   t in [0, 1],

between two parameter points; its maximum minus the larger endpoint loss is the linear
barrier. Freeman & Bruna (ICLR 2017), Draxler et al. (ICML 2018) and Garipov et al.
(NeurIPS 2018) replace the segment by a polygon through beads; ``profile`` samples the
loss densely along such a polygon, with the position t measured by arc length,

    t(x) = (length of the polygon from theta_A to x) / (length of the whole polygon),

so that every path method fills ``Path.t`` and ``Path.loss`` the same way. All sample
points of one polygon are rows of one ``problem.loss`` call.
"""

from __future__ import annotations

import math

import torch

from ..problems import Problem
from .path import Path

__all__ = ["as_endpoint", "as_endpoint_pairs", "as_beads", "linear_path", "profile"]


def as_endpoint(problem: Problem, theta: object, name: str) -> torch.Tensor:
    """One point (P,) or (1, P) as a (P,) tensor of the problem's dtype.

    Raises:
        ValueError: if it is not one row of P entries or holds NaN or infinity.
    """
    try:
        t = problem.as_batch(theta)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from err
    if t.shape[0] != 1:
        raise ValueError(
            f"{name} has shape {tuple(t.shape)}; expected one point ({problem.n_params},)."
        )
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return t[0]


def as_endpoint_pairs(
    problem: Problem, thetas_a: object, thetas_b: object
) -> tuple[torch.Tensor, torch.Tensor]:
    """N pairs of endpoints as two (N, P) tensors of the problem's dtype.

    Raises:
        ValueError: if the two shapes differ or an endpoint holds NaN or infinity.
    """
    A, B = problem.as_batch(thetas_a), problem.as_batch(thetas_b)
    if A.shape != B.shape:
        raise ValueError(
            f"thetas_a {tuple(A.shape)} and thetas_b {tuple(B.shape)} need the same shape."
        )
    if not (bool(torch.isfinite(A).all()) and bool(torch.isfinite(B).all())):
        raise ValueError("the endpoints contain NaN or infinite values.")
    return A, B


def as_beads(problem: Problem, beads: object, name: str = "beads") -> torch.Tensor:
    """A polygon (K, P), K >= 2, finite, in the problem's dtype.

    Raises:
        ValueError: if it has fewer than 2 rows, the wrong width, or NaN or infinity.
    """
    t = problem.as_batch(beads)
    if t.shape[0] < 2:
        raise ValueError(f"{name} has {t.shape[0]} row(s); a polygon needs at least 2.")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return t


def _check_points(points: int, name: str, least: int) -> None:
    if isinstance(points, bool) or not isinstance(points, int) or points < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {points!r}.")


def profile(
    problem: Problem, beads: torch.Tensor, points_per_segment: int = 16
) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss sampled along the polygon through ``beads``, by arc length.

    Each of the K - 1 segments is cut into ``points_per_segment`` equal pieces; the
    sample points are their ends (every bead included, each once), so M =
    (K - 1) * points_per_segment + 1 points in all, evaluated in one ``problem.loss``
    call. A zero-length polygon (all beads equal) gets t spaced by sample index.

    Args:
        problem: any Problem.
        beads: (K, P) polygon vertices, K >= 2.
        points_per_segment: pieces per segment (>= 1).

    Returns:
        t (M,) increasing from 0 to 1, and the loss (M,) at those points.

    Raises:
        ValueError: for fewer than 2 beads, NaN in beads, or points_per_segment < 1.
    """
    _check_points(points_per_segment, "points_per_segment", 1)
    B = as_beads(problem, beads)
    K, n = B.shape[0], points_per_segment
    s = torch.arange(n, dtype=B.dtype, device=B.device) / n  # (n,) in [0, 1)
    start, step = B[:-1], B.diff(dim=0)  # (K-1, P)
    pts = start[:, None, :] + s[None, :, None] * step[:, None, :]  # (K-1, n, P)
    pts = torch.cat([pts.reshape((K - 1) * n, -1), B[-1:]], dim=0)
    seg = torch.linalg.vector_norm(step, dim=1)  # (K-1,)
    cum = torch.cat([seg.new_zeros(1), seg.cumsum(0)])  # arc length at each bead
    total = float(cum[-1])
    if total > 0:
        arc = cum[:-1, None] + s[None, :] * seg[:, None]
        t = torch.cat([arc.reshape(-1), cum[-1:]]) / total
        t[-1] = 1.0
    else:
        t = torch.linspace(0.0, 1.0, pts.shape[0], dtype=B.dtype, device=B.device)
    return t, problem.loss(pts)


def linear_path(
    problem: Problem,
    theta_a: object,
    theta_b: object,
    *,
    points: int = 65,
    level: float | None = None,
) -> Path:
    """The loss on the straight segment from theta_a to theta_b.

    gamma(t) = (1 - t) theta_a + t theta_b at ``points`` equally spaced t in [0, 1]
    (one batched loss call). The Path has the two endpoints as its beads.

    Args:
        problem: any Problem.
        theta_a, theta_b: the endpoints, (P,) or (1, P).
        points: sample points, ends included (>= 2).
        level: if given, the path counts as connected only when its max loss <= level.

    Returns:
        Path with method ``"linear"`` and status ``"connected"`` (no level, or max loss
        <= level) or ``"not_connected_found"``.

    Raises:
        ValueError: for mis-shaped or non-finite endpoints, points < 2, or a non-finite
            level.
    """
    _check_points(points, "points", 2)
    if level is not None and not math.isfinite(level):
        raise ValueError(f"level must be a finite number or None, got {level!r}.")
    a = as_endpoint(problem, theta_a, "theta_a")
    b = as_endpoint(problem, theta_b, "theta_b")
    beads = torch.stack([a, b])
    t, loss = profile(problem, beads, points_per_segment=points - 1)
    if float(torch.linalg.vector_norm(b - a)) == 0:
        t = torch.linspace(0.0, 1.0, points, dtype=a.dtype, device=a.device)
    ok = level is None or float(loss.max()) <= level
    return Path(
        beads=beads,
        bead_loss=torch.stack([loss[0], loss[-1]]),
        t=t,
        loss=loss,
        method="linear",
        status="connected" if ok else "not_connected_found",
        level=level,
    )


def linear_paths(
    problem: Problem,
    thetas_a: object,
    thetas_b: object,
    *,
    points: int = 65,
    level: float | None = None,
    chunk: int = 1 << 22,
) -> list[Path]:
    """``linear_path`` for N pairs of rows at once: the N x ``points`` samples of all
    segments go through the loss in as few batched calls as ``chunk`` (rows x P) allows.

    Args:
        thetas_a, thetas_b: (N, P) endpoints.
        points, level: as ``linear_path``.
        chunk: largest number of sampled rows times P per loss call.

    Returns:
        One Path per pair, equal to ``linear_path`` of that pair.
    """
    _check_points(points, "points", 2)
    if level is not None and not math.isfinite(level):
        raise ValueError(f"level must be a finite number or None, got {level!r}.")
    A, B = as_endpoint_pairs(problem, thetas_a, thetas_b)
    N, P = A.shape
    n = points - 1
    s = torch.arange(points, dtype=A.dtype, device=A.device) / n
    pts = A[:, None, :] + s[None, :, None] * (B - A)[:, None, :]
    pts[:, -1] = B  # exactly the endpoint, as ``profile`` samples it
    flat = pts.reshape(-1, P)
    per_call = max(points, chunk // max(1, P))
    loss = torch.cat([problem.loss(flat[i : i + per_call])
                      for i in range(0, flat.shape[0], per_call)]).reshape(N, points)  # fmt: skip
    out = []
    for i in range(N):
        ok = level is None or float(loss[i].max()) <= level
        out.append(
            Path(
                beads=torch.stack([A[i], B[i]]),
                bead_loss=torch.stack([loss[i, 0], loss[i, -1]]),
                t=s.clone(),
                loss=loss[i],
                method="linear",
                status="connected" if ok else "not_connected_found",
                level=level,
            )
        )
    return out
