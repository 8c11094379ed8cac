"""The activation table: rho(sigma), the properties P1-P3 and the non-vanishing Hermite
orders of each activation (``report``), with the local strong convexity of Zhong et al.
(2017) at a reference teacher.

Zhong, Song, Jain, Bartlett & Dhillon, "Recovery guarantees for one-hidden-layer neural
networks" (ICML 2017), Theorem 4.2: the population Hessian at the ground truth (W*, v*)
has smallest eigenvalue at least v_min^2 rho(sigma_k) / (kappa^2 lambda) up to a
constant. At the reference teacher W* = I_3, v* = (1, -1, 1) (kappa = lambda = 1,
v_min = 1, sigma_k = 1) the bound is rho(1), and the table sets it beside the smallest
eigenvalue of ``population_hessian`` (``local_convexity``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .moments import ActivationReport, report
from .population import local_convexity
from .registry import names as registered_names

__all__ = [
    "REFERENCE_V",
    "REFERENCE_W",
    "ActivationRow",
    "ActivationTable",
    "activation_table",
    "reference_teacher",
]

# The reference teacher of the table: W* = I_3 (rows w*_i), v* = (1, -1, 1). Tuples, so
# that nothing at module level can be changed in place.
REFERENCE_W: tuple[tuple[float, ...], ...] = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
REFERENCE_V: tuple[float, ...] = (1.0, -1.0, 1.0)


def reference_teacher() -> tuple[torch.Tensor, torch.Tensor]:
    """(W*, v*) = (I_3, (1, -1, 1)) as fresh float64 tensors, (3, 3) and (3,)."""
    return (
        torch.tensor(REFERENCE_W, dtype=torch.float64),
        torch.tensor(REFERENCE_V, dtype=torch.float64),
    )


@dataclass(frozen=True)
class ActivationRow:
    """One activation's line of the table.

    Attributes:
        report: rho at the table's sigmas, P1-P3 and the Hermite orders (``report``).
        hessian_eig_min: smallest eigenvalue of the population Hessian at the teacher.
        hessian_bound: v_min^2 rho(sigma_k) / (kappa^2 lambda) there (Theorem 4.2,
            constant 1).
    """

    report: ActivationReport
    hessian_eig_min: float
    hessian_bound: float

    def as_dict(self) -> dict:
        """``ActivationReport.as_dict()`` with ``hessian_eig_min`` and ``hessian_bound``."""
        return {
            **self.report.as_dict(),
            "hessian_eig_min": self.hessian_eig_min,
            "hessian_bound": self.hessian_bound,
        }


@dataclass(frozen=True)
class ActivationTable:
    """The rows of ``activation_table``, in the order of the names asked for.

    Attributes:
        rows: one ``ActivationRow`` per activation.
        sigmas: the sigmas of the rho columns.
        teacher_w, teacher_v: the teacher of the local-convexity columns, as tuples.
    """

    rows: tuple[ActivationRow, ...]
    sigmas: tuple[float, ...]
    teacher_w: tuple[tuple[float, ...], ...]
    teacher_v: tuple[float, ...]

    def as_dicts(self) -> list[dict]:
        """One ``ActivationRow.as_dict()`` per row (``landscope activations --format json``)."""
        return [r.as_dict() for r in self.rows]


def activation_table(
    names: Sequence[str] | None = None,
    sigmas: Sequence[float] = (0.1, 1.0, 10.0),
    *,
    teacher: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> ActivationTable:
    """rho(sigma), P1-P3, Hermite orders and local convexity of each activation.

    Args:
        names: registered activation names (default: every registered one, in
            registration order).
        sigmas: the sigmas of the rho columns, each positive and finite.
        teacher: (W (k, d), v (k,)) at which the population Hessian is taken (default
            ``reference_teacher()``: W* = I_3, v* = (1, -1, 1), where the bound is rho(1)).

    Returns:
        An ``ActivationTable``.

    Raises:
        ValueError: for an unknown activation name or a sigma that is not a positive
            finite number.
    """
    sig = tuple(float(s) for s in sigmas)
    for s in sig:
        if not (s > 0 and s < float("inf")):
            raise ValueError(f"sigmas must be positive finite numbers; got {tuple(sigmas)!r}.")
    W, v = reference_teacher() if teacher is None else teacher
    W = torch.as_tensor(W, dtype=torch.float64)
    v = torch.as_tensor(v, dtype=torch.float64)
    rows = []
    for name in registered_names() if names is None else names:
        lc = local_convexity(W, v, name)
        rows.append(ActivationRow(report(name, sig), lc.eig_min, lc.bound))
    return ActivationTable(
        rows=tuple(rows),
        sigmas=sig,
        teacher_w=tuple(tuple(float(x) for x in w) for w in W.tolist()),
        teacher_v=tuple(float(x) for x in v.tolist()),
    )
