"""One stored run as a point to analyse: its row, configuration, rebuilt problem and
parameters, for the analyses of a stored run (spectrum, paths between runs)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..studies import Study
from .lookup import stored_run

if TYPE_CHECKING:
    from ..problems import Problem

__all__ = ["StoredPoint", "stored_point"]


@dataclass(frozen=True)
class StoredPoint:
    """A stored run of a study, rebuilt.

    Attributes:
        row: the stored row, every column included (``params``, ``verdict``, ...).
        config: the run's configuration, parameter name -> value, in the study's order.
        problem: ``study.make_problem(config)``.
        theta: (1, P) float64, the run's final parameters (finite).
    """

    row: dict[str, Any]
    config: dict[str, Any]
    problem: Problem
    theta: torch.Tensor

    @property
    def config_hash(self) -> str:
        """The stored hash of the run's cell (runs of different cells may share a seed)."""
        return str(self.row["config_hash"])


def stored_point(
    study: Study,
    out_dir: str | Path,
    pins: Mapping[str, Any],
    seed: int,
    *,
    what: str = "this analysis",
) -> StoredPoint:
    """The stored run ``seed`` of the cell pinned by ``pins``, with its problem rebuilt.

    Args:
        study: the study; it must declare ``make_problem``.
        out_dir: output folder holding the results store.
        pins: parameter name -> one value, singling out one stored cell (``stored_run``).
        seed: the run's seed.
        what: the analysis, as error sentences name it (``landscope spectrum`` passes
            ``"spectrum"``). Default ``"this analysis"``.

    Returns:
        A ``StoredPoint``.

    Raises:
        ValueError: if the study has no ``make_problem``; as ``stored_run`` (no store, no
            such cell or seed, ambiguous pins); if the run has no stored parameters, their
            count is not the rebuilt problem's P, or they are not finite (a diverged run).
    """
    if study.make_problem is None:
        raise ValueError(
            f"study {study.name!r} cannot rebuild the problem of a stored run "
            f"(it has no make_problem), so {what} does not apply to it."
        )
    row = stored_run(study, out_dir, pins, seed)
    cfg = {p.name: row[p.name] for p in study.params}
    problem = study.make_problem(cfg)
    if row.get("params") is None:
        raise ValueError(f"the run of {study.name!r} with seed {seed} has no stored parameters.")
    theta = torch.as_tensor(row["params"], dtype=torch.float64)
    if theta.dim() != 1 or theta.numel() != problem.n_params:
        raise ValueError(
            f"the stored parameters have {theta.numel()} entries but the rebuilt problem "
            f"has P = {problem.n_params}; the store and the study do not agree."
        )
    theta = problem.as_batch(theta)
    if not bool(torch.isfinite(theta).all()):
        raise ValueError(
            f"the run of {study.name!r} with seed {seed} diverged (its parameters are not "
            f"finite), so {what} does not apply to it."
        )
    return StoredPoint(row=row, config=cfg, problem=problem, theta=theta)
