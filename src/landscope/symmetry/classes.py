"""Classes of isotropy groups: maximal, full or other; read through sampling noise; named by family.

Arjevani & Field, "On the principle of least symmetry breaking in shallow ReLU models":
the spurious minima gradient methods find have isotropy groups that are *maximal*
subgroups of the target's isotropy group. For W -> P W Q' with Q restricted to input
permutations inside blocks of coordinates (those preserving the inputs' covariance, see
``landscope.problems.covariance``), the target W = I has isotropy Delta(S_{b_1} x ...
x S_{b_m}), one factor per block. An isotropy group H of W is

- ``full``: the target's whole group (no symmetry broken);
- ``maximal``: the diagonal Young subgroup obtained from the target's by splitting one
  block of coordinates into two parts of different sizes (Delta S_{k-1} and
  Delta(S_2 x S_{k-2}) for one block): the intransitive maximal subgroups;
- ``other``: anything else.

A minimum of an empirical loss is a minimum of the population loss moved by sampling
noise, so its symmetry holds only up to that noise: ``read_isotropy`` reads the group of
W_A (found on sample A) at a multiple of max |W_A - W_B| (W_B the same minimum re-found on
an independent sample B).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .isotropy import Isotropy, isotropy

__all__ = [
    "ISOTROPY_CLASSES",
    "NoisyIsotropy",
    "isotropy_class",
    "isotropy_family",
    "read_isotropy",
]

ISOTROPY_CLASSES = ("maximal", "full", "other")


def isotropy_class(iso: Isotropy, blocks: Sequence[int]) -> str:
    """``maximal``, ``full`` or ``other`` (see the module docstring).

    Args:
        iso: the isotropy group (``isotropy(W, "SnxSd", tol, col_blocks=blocks)``).
        blocks: block label of each input coordinate (the target's column orbits).

    Returns:
        One of ``ISOTROPY_CLASSES``.
    """
    col_orbits, order, name = iso.col_orbits, iso.order, iso.name
    target: dict[int, list[int]] = {}
    for j, b in enumerate(blocks):
        target.setdefault(b, []).append(j)
    target_sizes = sorted(len(v) for v in target.values())
    young = math.prod(math.factorial(len(o)) for o in col_orbits)
    # diagonal: the group acts the same way on matched rows and columns, with no factor
    # that permutes rows (or columns) alone
    diagonal = name.startswith("Delta") and " x S_" not in name.split(")")[-1]
    if sorted(len(o) for o in col_orbits) == target_sizes and order == young and diagonal:
        return "full"
    if not (diagonal and order == young):
        return "other"
    # which target block each orbit lies in; exactly one block split into 2 unequal parts
    parts: dict[int, list[int]] = {}
    for o in col_orbits:
        labels = {blocks[j] for j in o}
        if len(labels) != 1:
            return "other"
        parts.setdefault(labels.pop(), []).append(len(o))
    split = [sizes for sizes in parts.values() if len(sizes) > 1]
    if len(split) == 1 and len(split[0]) == 2 and split[0][0] != split[0][1]:
        return "maximal"
    return "other"


@dataclass(frozen=True)
class NoisyIsotropy:
    """The isotropy group of a point known up to sampling noise.

    Attributes:
        noise: max |W_A - W_B|.
        tol: the absolute tolerance the group was read at (``factor`` x noise).
        isotropy: the group read at ``tol``.
        stable: the same group (by name) at ``tol / span`` and ``tol x span``.
        cls: its class (``isotropy_class``).
    """

    noise: float
    tol: float
    isotropy: Isotropy
    stable: bool
    cls: str


def read_isotropy(
    WA: object,
    WB: object,
    blocks: Sequence[int],
    *,
    factor: float = 2.0,
    span: float = 2.0,
) -> NoisyIsotropy:
    """The isotropy of W_A read at ``factor`` times the sampling noise max |W_A - W_B|.

    Args:
        WA: the point (n, d) found on sample A.
        WB: the same minimum re-found on an independent sample B.
        blocks: block label of each column (Q permutes only within a block).
        factor: the group is read at tolerance ``factor`` x noise (absolute).
        span: stable when the groups at ``factor / span`` and ``factor x span`` times the
            noise have the same name.

    Returns:
        NoisyIsotropy.

    Raises:
        ValueError: for points of different shapes, or factor or span not positive.
    """
    A, B = np.asarray(WA, dtype=np.float64), np.asarray(WB, dtype=np.float64)
    if A.shape != B.shape:
        raise ValueError(f"WA has shape {A.shape} but WB {B.shape}; they must match.")
    for name, value in (("factor", factor), ("span", span)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}.")
    noise = float(np.abs(A - B).max())
    # isotropy compares entries within tol * max(1, max|W|): give it the absolute noise
    scale = max(1.0, float(np.abs(A).max()))
    low, mid, high = (
        isotropy(A, "SnxSd", c * noise / scale, col_blocks=blocks)
        for c in (factor / span, factor, factor * span)
    )
    return NoisyIsotropy(
        noise=noise,
        tol=factor * noise,
        isotropy=mid,
        stable=low.name == high.name,
        cls=isotropy_class(mid, blocks),
    )


def isotropy_family(name: str, k: int) -> str:
    """An isotropy name with k written symbolically, so that families line up across k.

    ``Delta S_8`` at k = 9 and ``Delta S_6`` at k = 7 are both ``Delta S_(k-1)``; factors
    S_k, S_{k-1}, S_{k-2} and S_{k-3} are renamed, others left as they are.
    """
    subs = {f"S_{k - j}": f"S_(k-{j})" for j in (1, 2, 3)} | {f"S_{k}": "S_k"}
    out = name
    for a, b in sorted(subs.items(), key=lambda t: -len(t[0])):
        out = out.replace(a + " ", b + " ").replace(a + ")", b + ")")
        if out.endswith(a):
            out = out[: -len(a)] + b
    return out
