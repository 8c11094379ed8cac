"""Slow references for ``landscope.spectrum.eigenvalue_clusters``: plain Python loops."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["anchored_clusters", "chain_clusters"]


def chain_clusters(eigs: Sequence[float], tol: float, rtol: float) -> list[tuple[float, int]]:
    """Single linkage on sorted values, one neighbour pair at a time (the documented rule)."""
    groups: list[list[float]] = []
    for e in sorted(float(x) for x in eigs):
        if groups and e - groups[-1][-1] <= tol + rtol * abs(e):
            groups[-1].append(e)
        else:
            groups.append([e])
    return [(sum(g) / len(g), len(g)) for g in groups]


def anchored_clusters(eigs: Sequence[float], tol: float) -> list[tuple[float, int]]:
    """The rule spurious-spectra used before it shared the spectrum room's clustering: a
    value joins the current cluster when within tol (1 + |e|) of its first member, which
    also stands for the cluster."""
    out: list[list] = []
    for e in sorted(float(x) for x in eigs):
        if out and abs(e - out[-1][0]) <= tol * (1 + abs(e)):
            out[-1][1] += 1
        else:
            out.append([e, 1])
    return [(v, m) for v, m in out]
