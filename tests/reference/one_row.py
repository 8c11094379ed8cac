"""The plain loop over rows that batched ``landscope.optim.run`` is tested against.

``run_alone`` runs every row of a batch by itself (R = 1): no other row can then touch
its iterate, its step counter, its line search or its stopping decision, so a batched run
must give the same steps and statuses and, up to the rounding of batched kernels, the same
parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from landscope.optim import RunResult, Stop, run

__all__ = ["run_alone", "stack"]

FIELDS = ("theta", "grad_norm", "loss", "steps", "status")


def stack(results: Sequence[RunResult]) -> RunResult:
    """The results of several runs as one, rows in order (stop and method of the first)."""
    first = results[0]
    parts = (torch.cat([getattr(r, f) for r in results]) for f in FIELDS)
    return RunResult(*parts, stop=first.stop, method=first.method)


def run_alone(
    problem: Any,
    theta0: torch.Tensor,
    method: Any,
    stop: Stop,
    *,
    row_problem: Callable[[int], Any] | None = None,
) -> RunResult:
    """``run`` on each row of ``theta0`` by itself (R = 1), results stacked.

    ``row_problem(r)`` builds the problem of row r when rows own their data (built from
    scratch, not by ``select``, so that a wrong ``select`` cannot hide); otherwise every
    row runs on ``problem``.
    """
    runs = [
        run(
            problem if row_problem is None else row_problem(r),
            theta0[r : r + 1],
            method,
            stop=stop,
        )
        for r in range(theta0.shape[0])
    ]
    return stack(runs)
