"""The ``Problem`` protocol: an objective evaluated on a batch of R parameter rows at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import torch

__all__ = ["Problem", "draw_rows", "init_device", "init_from_seeds"]


@runtime_checkable
class Problem(Protocol):
    """An objective over parameter rows ``theta`` of shape ``(R, P)``.

    Every method works on all R rows in one call and returns one entry (or row) per run;
    rows do not interact, and a non-finite row gives non-finite values in its own row
    only (a diverged run is reported by the optimizer, never fatal).

    Attributes:
        n_params: P.
        global_min: the known optimal value (``None`` when unknown).
        symmetry: the discrete group the loss is known to be invariant under, as
            ``landscope.symmetry`` names it (``"Sn"``: neuron permutations W -> P W;
            ``"SnxSd"``: W -> P W Q', neurons and inputs), or ``None`` for no such known
            group (``None`` is a valid answer, and says nothing about other symmetries
            such as sign flips or rescalings, which those names do not cover). A problem
            that declares a group is ``Factored`` with ``split(theta)[0]`` the weight
            matrices W (R, n, d) the group acts on and ``split(theta)[1]`` the neurons'
            output weights a (R, n), which move with the rows of W; further blocks are
            left alone by the group.
        dtype, device: of every tensor the methods return.
    """

    n_params: int
    global_min: float | None
    symmetry: str | None
    dtype: torch.dtype
    device: torch.device

    def loss(self, theta: torch.Tensor) -> torch.Tensor:  # (R,)
        ...

    def grad(self, theta: torch.Tensor) -> torch.Tensor:  # (R, P)
        ...

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    def hvp(self, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:  # (R, P)
        ...

    def hessian(self, theta: torch.Tensor) -> torch.Tensor:  # (R, P, P)
        ...

    def init(
        self,
        R: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Draw R initial rows (on ``device``, default the problem's)."""
        ...

    def as_batch(self, theta: object) -> torch.Tensor:
        """Validate and convert user input to an ``(R, P)`` tensor of the problem's dtype."""
        ...


def init_device(problem: Problem, device: torch.device | str | None) -> torch.device:
    """Where ``problem.init(..., device=device)`` draws: ``device``, default the problem's."""
    return problem.device if device is None else torch.device(device)


def draw_rows(
    problem: Problem,
    sampler: Callable[..., torch.Tensor],
    shape: tuple[int, ...],
    generator: torch.Generator | None,
    device: torch.device | str | None,
) -> torch.Tensor:
    """``sampler(*shape)`` (``torch.randn``, ``torch.rand``) in the problem's dtype, drawn
    by ``generator`` on ``init_device(problem, device)``: the draws of an ``init``."""
    dev = init_device(problem, device)
    return sampler(*shape, generator=generator, dtype=problem.dtype, device=dev)


def init_from_seeds(problem: Problem, seeds: Sequence[int]) -> torch.Tensor:
    """Initial rows, row ``r`` drawn from its own generator seeded with ``seeds[r]``.

    This makes a run's starting point depend only on its seed, so a study resumed with
    more seeds, or a per-seed loop, sees exactly the same initializations as one batch.
    Drawing happens on the CPU (generators are device-specific) and is moved afterwards.
    """
    if len(seeds) == 0:
        raise ValueError("seeds is empty; give at least one seed.")
    rows = []
    for s in seeds:  # init only, not a hot path: R small draws
        gen = torch.Generator().manual_seed(int(s))
        rows.append(problem.init(1, generator=gen, device="cpu"))
    return torch.cat(rows).to(problem.device)
