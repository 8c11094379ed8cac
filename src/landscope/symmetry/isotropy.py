"""Isotropy groups of weight matrices under row and column permutations.

Arjevani & Field, "Analytic study of families of spurious minima in two-layer ReLU
neural networks" (NeurIPS 2021) and "Symmetry & critical points for a model shallow
neural network" (2020): for the ReLU teacher-student with the identity teacher (k = d)
the loss is invariant under W -> P W Q' for (P, Q) in S_n x S_d, the inputs being
permuted together with the teacher's neurons. The isotropy group of W is
{(P, Q): P W Q' = W}. The global minimum W = I has isotropy Delta S_k (P = Q, order k!);
spurious minima found by SGD keep large isotropy, typically Delta S_{k-1}, sometimes
Delta S_k or Delta(S_2 x S_{k-2}). For other teachers only the neurons permute (S_n).

The group is computed exactly and without listing it (see ``_search``): its order is
a product of orbit sizes along a stabilizer chain, so Delta S_19 (19! elements) takes a
fraction of a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..problems import Factored, Problem
from ._colors import Group, as_matrix, check_group, check_tol, colors
from ._search import automorphisms

__all__ = ["Isotropy", "isotropy", "isotropy_of"]

_Perm = tuple[int, ...]


@dataclass(frozen=True)
class Isotropy:
    """The isotropy group of a weight matrix W (n, d).

    Attributes:
        name: ``"trivial"``; ``"Delta S_m"`` or ``"Delta(S_a x S_b ...)"`` for symmetric
            groups acting the same way on matched row and column orbits (P = Q up to
            relabeling); ``"S_a x S_b ..."`` for symmetric groups acting on row orbits (or
            column orbits) alone, as for duplicated rows; the two joined by ``" x "``
            when both occur; else ``"order N group"``. Factors are sorted by size;
            trivial ones are left out.
        order: the number of group elements, exact.
        row_orbits: the orbits of the group on the rows, each sorted, by first index.
        col_orbits: the same for the columns.
        generators: pairs (p, q) of index tuples generating the group, each with
            ``W[p[i], q[j]] == W[i, j]`` (within tol): the permutation matrices
            P[p[i], i] = 1, Q[q[j], j] = 1 satisfy P W Q' = W.
    """

    name: str
    order: int
    row_orbits: list[list[int]]
    col_orbits: list[list[int]]
    generators: list[tuple[_Perm, _Perm]]


def _orbits(ids: np.ndarray) -> list[list[int]]:
    groups: dict[int, list[int]] = {}
    for i, o in enumerate(ids.tolist()):
        groups.setdefault(o, []).append(i)
    return sorted(groups.values())


def _equivariant(
    rows: list[int], cols: list[int], gens: list[tuple[_Perm, _Perm]]
) -> dict[int, int] | None:
    """A bijection phi: rows -> cols with phi(p[i]) = q[phi(i)] for every generator.

    The group is transitive on ``rows``, so phi is fixed by phi(rows[0]); each candidate
    is propagated along the generators and kept if it stays a consistent bijection.
    """
    for j0 in cols:
        phi = {rows[0]: j0}
        todo = [rows[0]]
        ok = True
        while todo and ok:
            i = todo.pop()
            for p, q in gens:
                i2, j2 = p[i], q[phi[i]]
                if i2 not in phi:
                    phi[i2] = j2
                    todo.append(i2)
                elif phi[i2] != j2:
                    ok = False
                    break
        if ok and len(set(phi.values())) == len(phi) == len(rows):
            return phi
    return None


def _name(
    order: int,
    row_orbits: list[list[int]],
    col_orbits: list[list[int]],
    gens: list[tuple[_Perm, _Perm]],
) -> str:
    """Recognize a product of symmetric groups, diagonal or one-sided; see ``Isotropy``.

    Every element of the group permutes each orbit, and on a pair of orbits matched by an
    equivariant bijection it acts the same way on both. So the group is a subgroup of
    prod over matched pairs of (diagonal) S_m times prod over the other orbits of S_m,
    and equals it exactly when the orders agree.
    """
    if order == 1:
        return "trivial"
    rows = sorted((o for o in row_orbits if len(o) > 1), key=lambda o: (len(o), o))
    free_cols = [o for o in col_orbits if len(o) > 1]
    diag, plain = [], []
    for orb in rows:
        match = next(
            (c for c in free_cols if len(c) == len(orb) and _equivariant(orb, c, gens)), None
        )
        if match is None:
            plain.append(len(orb))
        else:
            free_cols.remove(match)
            diag.append(len(orb))
    plain += [len(c) for c in free_cols]
    if math.prod(math.factorial(m) for m in diag + plain) != order:
        return f"order {order} group"
    parts = []
    if diag:
        factors = " x ".join(f"S_{m}" for m in sorted(diag))
        parts.append(f"Delta {factors}" if len(diag) == 1 else f"Delta({factors})")
    parts += [f"S_{m}" for m in sorted(plain)]
    return " x ".join(parts)


def _isotropy_colored(C: np.ndarray, col_cells: np.ndarray, d: int) -> Isotropy:
    """Isotropy of a color matrix whose columns d.. (if any) are pinned extras."""
    n = C.shape[0]
    aut = automorphisms(C, col_cells)
    gens = [(tuple(g[:n].tolist()), tuple((g[n : n + d] - n).tolist())) for g in aut.generators]
    row_orbits = _orbits(aut.orbits[:n])
    col_orbits = _orbits(aut.orbits[n : n + d])
    return Isotropy(
        name=_name(aut.order, row_orbits, col_orbits, gens),
        order=aut.order,
        row_orbits=row_orbits,
        col_orbits=col_orbits,
        generators=gens,
    )


def isotropy(
    W: object, group: Group = "SnxSd", tol: float = 1e-6, col_blocks: object = None
) -> Isotropy:
    """The isotropy group of W under ``group``.

    Args:
        W: (n, d) weight matrix, numpy array or torch tensor (any device).
        group: ``"SnxSd"`` (W -> P W Q') or ``"Sn"`` (W -> P W, rows only).
        tol: entries a, b count as equal when |a - b| <= tol * max(1, max|W|) (clusters
            of such entries, single linkage; see ``landscope.symmetry._colors``).
        col_blocks: with ``"SnxSd"``, a label per column (d,): Q may only permute columns
            within a block. For inputs x ~ N(0, Sigma) the loss is invariant under the
            permutations Q with Q Sigma Q' = Sigma only, e.g. the blocks of a Sigma that
            is diagonal with two variances. None: one block (Q free).

    Returns:
        Isotropy: name, exact order, row and column orbits, generators.

    Raises:
        ValueError: for a bad W, group or tol.
    """
    check_group(group)
    A = as_matrix(W)
    C = colors(A, check_tol(tol))
    d = A.shape[1]
    col_cells = np.zeros(d, dtype=np.int64) if group == "SnxSd" else np.arange(d)
    if col_blocks is not None:
        labels = np.asarray(col_blocks).ravel()
        if group != "SnxSd" or labels.shape != (d,):
            raise ValueError(
                f"col_blocks needs group 'SnxSd' and one label per column ({d}), got "
                f"{labels.shape[0]} labels with group {group!r}."
            )
        col_cells = np.unique(labels, return_inverse=True)[1].astype(np.int64)
    return _isotropy_colored(C, col_cells, d)


def isotropy_of(problem: Problem, W: object, tol: float = 1e-6) -> Isotropy:
    """The isotropy group of a point of ``problem`` under ``problem.symmetry``.

    Args:
        problem: a ``Problem`` that declares a group (``symmetry`` ``"SnxSd"`` or
            ``"Sn"``), such as ``ReluTeacherStudent``. When it is ``Factored`` the point
            may be a parameter row (P,) or (1, P), or whatever ``as_batch`` takes (W (n, d)
            for ``ReluTeacherStudent``): the group acts on W = ``split(theta)[0]``, and
            the output weights a = ``split(theta)[1]`` are kept fixed by it too, so only
            neurons i, j with a_i = a_j can swap (with a constant a, as for a fixed second
            layer, that is no constraint). Further blocks (``QuadraticNet``'s g) are left
            alone. (The continuous rescaling symmetry (w_i, a_i) -> (c w_i, a_i / c) is not
            part of this discrete group.) Otherwise W is the weight matrix itself.
        W: the point.
        tol: as for ``isotropy``.

    Raises:
        ValueError: if the problem declares no known symmetry, its blocks are not
            (W, a, ...), or the point has the wrong shape.
    """
    name = type(problem).__name__
    if not isinstance(problem, Problem):
        raise ValueError(f"{name} is not a Problem, so it declares no symmetry.")
    group = problem.symmetry
    if group is None:
        raise ValueError(f"{name} declares no symmetry (its symmetry is None).")
    check_group(group)
    if not isinstance(problem, Factored):
        return isotropy(W, group, tol)
    theta = problem.as_batch(W)
    if theta.shape[0] != 1:
        raise ValueError(f"give one point, got a batch of {theta.shape[0]} rows.")
    parts = problem.split(theta)
    if not (
        isinstance(parts, (tuple, list))
        and isinstance(parts[0], torch.Tensor)
        and parts[0].dim() == 3
        and (len(parts) < 2 or parts[1].shape == parts[0].shape[:2])
    ):
        raise ValueError(
            f"{name}.split does not give (W (R, n, d), a (R, n), ...); the group "
            f"{group!r} needs that layout."
        )
    A = as_matrix(parts[0][0])
    a = parts[1][0] if len(parts) > 1 else None
    if a is None or bool((a == a[0]).all()):  # P a = a for every P: no constraint
        return isotropy(A, group, tol)
    d = A.shape[1]
    ext = np.hstack([A, as_matrix(a[:, None], name="a")])
    cells = np.zeros(d + 1, dtype=np.int64) if group == "SnxSd" else np.arange(d + 1)
    cells[d] = d + 1  # the a column stays in place
    return _isotropy_colored(colors(ext, check_tol(tol)), cells, d)
