"""Irreducible parts of R^{k x k} under Delta S_k, and what they force on a Hessian spectrum.

Arjevani & Field, "Analytic characterization of the Hessian in shallow ReLU models: a
tale of symmetry" (NeurIPS 2020). The diagonal group Delta S_k acts on weight matrices by
W -> P W P' (the same permutation of neurons and inputs). As a representation
R^{k x k} = V (x) V, V = R^k the permutation representation = trivial (+) standard
(k - 1), so

    V (x) V = 2 trivial (+) 3 standard (+) (k-2, 2) (+) (k-2, 1, 1),

of dimensions 1, 1, k-1, k-1, k-1, k(k-3)/2 and (k-1)(k-2)/2 (for k = 3 the (1, 2) part
does not exist: its dimension k(k-3)/2 is 0). A symmetric matrix that commutes with the
group (the Hessian at a point whose isotropy is Delta S_k, such as the global minimum
W = I of the ReLU teacher-student) has eigenspaces that are sums of irreducible parts
(Schur's lemma): its multiplicities must be sums of these dimensions, each part used
exactly once overall (eigenvalues of different parts may coincide).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

__all__ = ["delta_sk_dimensions", "multiplicities_fit"]


def delta_sk_dimensions(k: int) -> tuple[int, ...]:
    """Dimensions of the Delta S_k-irreducible parts of R^{k x k}, with repeats.

    Args:
        k: the matrix size, >= 3.

    Returns:
        (1, 1, k-1, k-1, k-1, k(k-3)/2, (k-1)(k-2)/2), the parts of dimension 0 left out;
        they add up to k^2.

    Raises:
        ValueError: for k < 3 (the decomposition above needs k >= 3).
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 3:
        raise ValueError(f"k must be an integer >= 3, got {k!r}.")
    dims = (1, 1, k - 1, k - 1, k - 1, k * (k - 3) // 2, (k - 1) * (k - 2) // 2)
    return tuple(d for d in dims if d > 0)


def multiplicities_fit(multiplicities: Sequence[int], dims: Sequence[int]) -> bool:
    """Whether ``dims`` can be split into groups whose sums are exactly ``multiplicities``.

    Each part (entry of ``dims``) goes to exactly one eigenspace; an eigenspace of
    multiplicity m is a group of parts whose dimensions add up to m. An exhaustive search
    (a handful of parts: 2^7 subsets per eigenspace at most).

    Args:
        multiplicities: the eigenvalue multiplicities of a spectrum.
        dims: the dimensions of the irreducible parts (``delta_sk_dimensions``).

    Returns:
        True when such a split exists.
    """
    if sum(multiplicities) != sum(dims):
        return False
    mults = sorted(multiplicities, reverse=True)

    def place(i: int, left: tuple[int, ...]) -> bool:
        if i == len(mults):
            return not left
        for r in range(1, len(left) + 1):
            for combo in combinations(range(len(left)), r):
                if sum(left[j] for j in combo) == mults[i]:
                    rest = tuple(v for j, v in enumerate(left) if j not in combo)
                    if place(i + 1, rest):
                        return True
        return False

    return place(0, tuple(dims))
