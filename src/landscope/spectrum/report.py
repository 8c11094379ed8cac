"""The Hessian spectrum of one point, by the route its size allows: the whole spectrum
(dense ``eigvalsh``) while P <= ``MAX_DENSE``, otherwise Lanczos extremes with residual
bounds, a Hutch++ trace and an SLQ density, all from Hessian-vector products.

``spectrum_of`` is what ``landscope spectrum`` prints for a stored run; any caller with a
problem and a parameter row gets the same ``SpectrumReport``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..problems import Problem
from .dense import MAX_DENSE, SpectrumSummary, dense_spectrum, summarize_spectrum
from .extremal import Extremal, extremal_eigs
from .slq import Density, slq
from .trace import Trace, trace

__all__ = ["SPECTRUM_METHODS", "SpectrumReport", "spectrum_of"]

# "auto": dense while P <= max_dense, else Lanczos.
SPECTRUM_METHODS = ("auto", "dense", "lanczos")


@dataclass(frozen=True)
class SpectrumReport:
    """The Hessian spectrum of one parameter row and the loss and gradient there.

    Attributes:
        method: ``"dense"`` (every eigenvalue) or ``"lanczos"`` (extremes, trace, density).
        n_params: P.
        loss: the loss at the point.
        grad_norm: ||grad|| there.
        eigenvalues: dense: (P,) all eigenvalues, ascending; else None.
        summary: dense: counts and clusters of ``eigenvalues`` at tolerance ``tol``.
        extremal: Lanczos: the k largest and smallest eigenvalues of the (1, P) row with
            residual bounds; else None.
        trace: Lanczos: the Hutch++ estimate of tr H with its standard error; else None.
        density: Lanczos: the SLQ quadrature (spectral density, moments); else None.
    """

    method: str
    n_params: int
    loss: float
    grad_norm: float
    eigenvalues: torch.Tensor | None = None
    summary: SpectrumSummary | None = None
    extremal: Extremal | None = None
    trace: Trace | None = None
    density: Density | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain numbers and lists, in the order ``landscope spectrum --format json`` writes.

        Dense: ``SpectrumSummary.as_dict()`` and ``eigenvalues``. Lanczos: ``largest``,
        ``smallest``, ``bounds``, ``trace`` (+ ``trace_stderr``), and the SLQ mean eigenvalue
        tr(H)/P and second moment tr(H^2)/P with their standard errors.
        """
        out: dict[str, Any] = {
            "n_params": self.n_params,
            "loss": self.loss,
            "grad_norm": self.grad_norm,
            "method": self.method,
        }
        if self.method == "dense":
            assert self.summary is not None and self.eigenvalues is not None
            out.update(self.summary.as_dict())
            out["eigenvalues"] = self.eigenvalues.tolist()
            return out
        assert self.extremal is not None and self.trace is not None and self.density is not None
        ext, dens = self.extremal, self.density
        m1, m2 = dens.moments(1), dens.moments(2)
        out.update(
            largest=ext.largest[0].tolist(),
            smallest=ext.smallest[0].tolist(),
            bounds=ext.bounds[0].tolist(),
            trace=float(self.trace.estimate[0]),
            trace_stderr=float(self.trace.stderr[0]),
            slq_probes=dens.probes,
            slq_steps=int(dens.nodes.shape[2]),
            slq_mean=float(m1.estimate[0]),
            slq_mean_stderr=float(m1.stderr[0]),
            slq_second_moment=float(m2.estimate[0]),
            slq_second_moment_stderr=float(m2.stderr[0]),
        )
        return out


def spectrum_of(
    problem: Problem,
    theta: object,
    *,
    method: str = "auto",
    max_dense: int = MAX_DENSE,
    tol: float = 1e-6,
    k: int = 5,
    probes: int = 100,
    slq_probes: int = 10,
    steps: int = 30,
    seed: int = 0,
) -> SpectrumReport:
    """The Hessian spectrum of one point: dense when P is small enough, else Lanczos.

    Args:
        problem: the objective.
        theta: one parameter row, (P,) or (1, P), finite.
        method: ``"auto"`` (dense while P <= ``max_dense``, else Lanczos), ``"dense"`` or
            ``"lanczos"``.
        max_dense: the largest P for the dense route (default ``MAX_DENSE``).
        tol: dense: |lambda| <= tol counts as zero, and sorted neighbours at most tol
            apart are one distinct eigenvalue (``summarize_spectrum``).
        k: Lanczos: eigenvalues at each end (1 <= k < P).
        probes: Lanczos: Hessian-vector products of the Hutch++ trace.
        slq_probes: Lanczos: SLQ start vectors.
        steps: Lanczos: SLQ Lanczos steps per start vector.
        seed: the random draws of the Lanczos route come from three generators seeded
            3 seed, 3 seed + 1 and 3 seed + 2 (Lanczos start vectors, Hutch++ probes, SLQ
            probes), so the same point gives the same report every time. Default 0.

    Returns:
        A ``SpectrumReport``.

    Raises:
        ValueError: for an unknown method, more than one row, a non-finite row, the dense
            route beyond ``max_dense``, or bad Lanczos settings (one sentence each, from
            ``dense_spectrum``, ``extremal_eigs``, ``trace`` and ``slq``).
    """
    if method not in SPECTRUM_METHODS:
        raise ValueError(f"unknown spectrum method {method!r}; use one of {SPECTRUM_METHODS}.")
    t = problem.as_batch(theta)
    if t.shape[0] != 1:
        raise ValueError(f"spectrum_of takes one parameter row; got {t.shape[0]} rows.")
    if not bool(torch.isfinite(t).all()):
        raise ValueError("the parameter row is not finite; its spectrum is undefined.")
    P = problem.n_params
    loss, grad = problem.loss_and_grad(t)
    common = {
        "n_params": P,
        "loss": float(loss[0]),
        "grad_norm": float(torch.linalg.vector_norm(grad[0])),
    }
    if method == "dense" or (method == "auto" and P <= max_dense):
        eigs = dense_spectrum(problem, t, max_dense=max_dense)[0]
        return SpectrumReport(
            method="dense", eigenvalues=eigs, summary=summarize_spectrum(eigs, tol), **common
        )
    gen = [torch.Generator().manual_seed(3 * int(seed) + i) for i in range(3)]
    return SpectrumReport(
        method="lanczos",
        extremal=extremal_eigs(problem, t, k=k, generator=gen[0]),
        trace=trace(problem, t, probes=probes, method="hutch++", generator=gen[1]),
        density=slq(problem, t, probes=slq_probes, steps=steps, generator=gen[2]),
        **common,
    )
