"""Optional capabilities of a problem, each a runtime-checkable protocol.

The core :class:`~landscope.problems.Problem` protocol is small; what only some problems
can do is declared by implementing one of these, and callers test it with
``isinstance(problem, RowData)`` rather than probing attributes with ``getattr``.

- ``RowData``: the rows own data (row r of theta goes with row r of the problem's data),
  so restricting the batch must restrict the problem: ``select(rows)``.
- ``Residuals``: a least-squares loss F = |r|^2 / 2 with residuals and their Jacobian
  (Levenberg-Marquardt needs it).
- ``ManyHvp``: Hessian-vector products with many vectors per row in one call (Lanczos,
  Hutch++, SLQ use it when present).
- ``KnownOptimum``: the distance from each row to the nearest global minimizer.
- ``Factored``: parameter rows split into blocks and joined back.
- ``StopNorm``: the problem's own measure of a gradient's size for stopping rules.
- ``FactoredJacobian``: a least-squares Jacobian whose rows are Kronecker products per
  block (layers of a network), so J J' is formed without J (Levenberg-Marquardt's
  m x m form for students with more parameters than samples).
- ``FusedGD``: plain gradient descent run many steps per call in compiled code (the
  driver's fast path for ``GD(lr)``).

``isinstance`` on a runtime-checkable protocol checks that the members exist, not their
signatures or meaning: the contracts written here are what the conformance suite
(``tests/problems/test_conformance.py``) holds every problem class of the package to.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

__all__ = [
    "CAPABILITIES",
    "Factored",
    "FactoredJacobian",
    "FusedGD",
    "KnownOptimum",
    "ManyHvp",
    "Residuals",
    "RowData",
    "StopNorm",
]


@runtime_checkable
class RowData(Protocol):
    """Rows own data: ``select(rows)`` is the problem restricted to those rows (same order).

    Contract: ``problem.select(rows).loss(theta[rows]) == problem.loss(theta)[rows]`` for
    any index tensor ``rows`` (and likewise for every other method).
    """

    def select(self, rows: torch.Tensor) -> Any: ...


@runtime_checkable
class Residuals(Protocol):
    """Least squares: loss = |r(theta)|^2 / 2 per row.

    Contract: ``residuals(theta)`` is r (R, m), scaled so that ``loss(theta)`` equals
    ``0.5 * (r * r).sum(1)`` (a sample mean 1/(2m) sum_i e_i^2 has r = e / sqrt(m)), and
    ``residuals_and_jacobian(theta)`` is (r, J) with J = dr/dtheta (R, m, P).
    """

    def residuals(self, theta: torch.Tensor) -> torch.Tensor:  # (R, m)
        ...

    def residuals_and_jacobian(
        self, theta: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:  # (R, m), (R, m, P)
        ...


@runtime_checkable
class ManyHvp(Protocol):
    """Many Hessian-vector products per row in one call.

    Contract: ``hvp_many(theta (R, P), V (R, q, P)) -> (R, q, P)`` with
    ``out[:, j] == hvp(theta, V[:, j])`` for every j.
    """

    def hvp_many(self, theta: torch.Tensor, V: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class KnownOptimum(Protocol):
    """A known global value and the distance of each row to the nearest global minimizer.

    Contract: ``global_min`` is the optimal value (None where unknown for this instance);
    ``distance_to_global(theta)`` is (R,), >= 0, and 0 at a global minimizer. It may
    return None where the minimizer set is not known in closed form for this instance
    (e.g. an under-parameterized student).
    """

    global_min: float | None

    def distance_to_global(self, theta: torch.Tensor) -> torch.Tensor | None: ...


@runtime_checkable
class Factored(Protocol):
    """Rows are blocks of structured parameters: ``split(theta)`` and its inverse ``join``.

    Contract: ``join(split(theta))`` equals ``theta`` exactly. ``split`` returns the blocks
    as one value (a tuple, list or dict of ``(R, ...)`` tensors, views where possible) and
    ``join`` takes that value back as its one argument. (Two-layer problems also accept the
    blocks spread out, ``join(W, a)``.)
    """

    def split(self, theta: torch.Tensor) -> Any: ...

    def join(self, parts: Any, /) -> torch.Tensor: ...


@runtime_checkable
class StopNorm(Protocol):
    """``stop_norm(grad (R, P)) -> (R,)``: the gradient size that stopping rules compare.

    The optimization driver (``landscope.optim.run``) uses it in place of the l2 norm
    ||grad|| of the whole row, for ``Stop.grad_tol`` and ``Stop.diverge`` alike and in
    the recorded ``grad_norm``. It must be non-negative, non-finite where the gradient
    is, and computed row by row. Example: a row holding the K - 2 images of a nudged elastic
    band has converged when max_i ||F_i|| <= tol, every image still, not when the l2
    norm of all forces together is.
    """

    def stop_norm(self, grad: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class FactoredJacobian(Protocol):
    """The residuals' Jacobian as per-block Kronecker factors (a ``Residuals`` problem).

    Contract: ``residuals_and_factors(theta) -> (r (R, m), [(A_1, B_1), ..., (A_q, B_q)])``
    with A_l (R, m, a_l), B_l (R, m, b_l), such that the Jacobian J of
    ``residuals_and_jacobian`` is, for every row and sample i, the concatenation over l of
    the outer products A_l[:, i, :, None] * B_l[:, i, None, :] flattened row-major
    (sum_l a_l b_l = P); ``r`` is ``residuals(theta)``.
    """

    def residuals_and_factors(
        self, theta: torch.Tensor
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]: ...


@runtime_checkable
class FusedGD(Protocol):
    """Plain gradient descent, many steps per call, in compiled code.

    Contract: ``fused_gd(theta, lr, *, grad_tol, max_steps, diverge, budget, steps)``
    returns None where it does not cover the rows (a dtype, device or variant its kernel
    lacks; the caller then steps in torch), else ``(theta, grad, grad_norm, steps,
    status)``: every row advanced by theta <- theta - lr grad(theta) under
    ``landscope.optim.run``'s rule for ``GD(lr)`` (at each iterate: diverged if ||grad||
    is not <= ``diverge``, with grad_norm inf; converged if ||grad|| <= ``grad_tol``; out
    of budget once the row's count ``steps`` (R,) reaches ``max_steps``; else a step),
    for at most ``budget`` steps in this call (status 0, running, for a row that used
    them all); ``grad`` is the gradient at the returned theta, ``steps`` the counts after
    the call, ``status`` the driver's codes. The iterates equal the driver's to rounding.
    """

    def fused_gd(
        self,
        theta: torch.Tensor,
        lr: float,
        *,
        grad_tol: float,
        max_steps: int,
        diverge: float,
        budget: int,
        steps: torch.Tensor,
    ) -> tuple[torch.Tensor, ...] | None: ...


CAPABILITIES: tuple[type, ...] = (
    RowData,
    Residuals,
    ManyHvp,
    KnownOptimum,
    Factored,
    StopNorm,
    FusedGD,
    FactoredJacobian,
)
"""Every optional capability, for code that reports what a problem can do."""
