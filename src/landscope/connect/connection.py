"""One path between two points by a method named at run time: the dispatcher behind
``landscope connect``, returning the ``Path`` and what the method adds to it.

Methods: ``"linear"`` (the straight segment, ``linear_path``), ``"string"`` (dynamic string
sampling at a level, ``dynamic_string``; Freeman & Bruna 2017), ``"neb"`` (nudged elastic
band with climbing image, ``neb``; Draxler et al. 2018), ``"bezier"`` and ``"chain"``
(fitted curves, ``fit_bezier`` / ``fit_chain``; Garipov et al. 2018). Every method runs
with its defaults; call it directly for other settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from ..problems import Problem
from .align import align_rows
from .curves import fit_bezier, fit_chain
from .interpolate import as_endpoint, linear_path
from .neb import NebResult, neb
from .path import Path
from .string import StringResult, dynamic_string

__all__ = ["CONNECT_METHODS", "Connection", "connect_runs"]

CONNECT_METHODS = ("linear", "string", "neb", "bezier", "chain")


@dataclass(frozen=True)
class Connection:
    """A path between two points and the details of the method that found it.

    Attributes:
        path: the path (its ``method`` may refine the one asked for, e.g.
            ``"string_constrained"``).
        method: the method asked for, one of ``CONNECT_METHODS``.
        aligned: whether B's hidden units were permuted to match A's first
            (``align_rows``); the path then ends at the permuted B.
        string: for ``"string"``: the search's result (depth, stop, steps); else None.
        neb: for ``"neb"``: the band's result (saddle, iterations); else None.
    """

    path: Path
    method: str
    aligned: bool
    string: StringResult | None = None
    neb: NebResult | None = None

    def as_dict(self) -> dict[str, Any]:
        """Flat numbers in the order ``landscope connect --format json`` writes them.

        ``method`` and ``aligned``, the method's own numbers (string: ``depth``, ``stop``,
        ``train_steps``; neb: ``saddle_loss``, ``saddle_grad_norm``, ``iters``,
        ``converged``), the path's store columns without its sampled arrays (``method``
        there is the path's), and the loss at both ends, ``loss_a`` and ``loss_b``.
        """
        out: dict[str, Any] = {"method": self.method, "aligned": self.aligned}
        if self.string is not None:
            s = self.string
            out.update(depth=s.depth, stop=s.stop, train_steps=s.train_steps)
        if self.neb is not None:
            n = self.neb
            out.update(saddle_loss=n.saddle_loss, saddle_grad_norm=n.saddle_grad_norm,
                       iters=n.iters, converged=n.converged)  # fmt: skip
        row = self.path.as_row()
        out.update({k: v for k, v in row.items() if k not in ("path_t", "path_loss")})
        out.update(loss_a=float(self.path.loss[0]), loss_b=float(self.path.loss[-1]))
        return out


def connect_runs(
    problem: Problem,
    theta_a: object,
    theta_b: object,
    *,
    method: str = "linear",
    level: float | None = None,
    align: bool = False,
    seed: int = 0,
) -> Connection:
    """A path from theta_a to theta_b (for example two runs' final points) by ``method``.

    Args:
        problem: the problem both points belong to.
        theta_a, theta_b: the endpoints, (P,) or (1, P).
        method: one of ``CONNECT_METHODS``: ``"linear"``, ``"string"``, ``"neb"``,
            ``"bezier"`` or ``"chain"``.
        level: the loss level L0: needed by ``"string"``; for ``"linear"`` the path counts
            as connected only when its max loss <= level; ignored by the others.
        align: permute B's hidden units to match A's first (``align_rows``: problems with a
            neuron-permutation symmetry, and Sequential ``ModuleLoss``).
        seed: seeds the generator of the curve fits' random t (``"bezier"``, ``"chain"``),
            so the same points give the same path. Default 0.

    Returns:
        A ``Connection``.

    Raises:
        ValueError: for an unknown method, a non-finite level, ``"string"`` without a
            level, mis-shaped or non-finite endpoints, or a problem ``align_rows`` cannot
            align (one sentence each).
    """
    if method not in CONNECT_METHODS:
        raise ValueError(f"unknown path method {method!r}; use one of {CONNECT_METHODS}.")
    if level is not None and not math.isfinite(level):
        raise ValueError(f"level must be a finite number or None, got {level!r}.")
    if method == "string" and level is None:
        raise ValueError("method 'string' needs a level (the loss level L0 to stay under).")
    a = as_endpoint(problem, theta_a, "theta_a")[None]
    b = as_endpoint(problem, theta_b, "theta_b")[None]
    if align:
        b = align_rows(problem, a, b)[None]
    if method == "linear":
        return Connection(linear_path(problem, a, b, level=level), method, align)
    if method == "string":
        assert level is not None  # checked above
        res = dynamic_string(problem, a, b, level)
        return Connection(res.path, method, align, string=res)
    if method == "neb":
        band = neb(problem, a, b)
        return Connection(band.path, method, align, neb=band)
    fit = fit_bezier if method == "bezier" else fit_chain
    gen = torch.Generator().manual_seed(int(seed))
    return Connection(fit(problem, a, b, generator=gen), method, align)
