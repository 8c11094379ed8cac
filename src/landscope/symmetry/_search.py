"""Automorphisms and canonical labelings of an edge-colored complete bipartite graph.

A color matrix C (n, d) is the complete bipartite graph between n row vertices and d
column vertices whose edge (i, j) has color C[i, j]. Its side-preserving automorphisms
(p, q), C[p[i], q[j]] = C[i, j], are the isotropy group of the weight matrix that C
colors. This module is the individualization-refinement method of nauty (McKay 1981;
McKay & Piperno, "Practical graph isomorphism, II", 2014), specialized to this graph:

- **Refinement** (color refinement, 1-WL) splits the cells of an ordered partition of the
  rows and of the columns until it is equitable: all rows of a cell see the same
  multiset of (column cell, edge color), and likewise for columns. New cells are
  ordered by (old cell, sorted multiset), so the result is a function of the graph and
  the partition alone, and commutes with relabeling.
- **Individualization** puts one vertex of the first non-singleton cell in a cell of its
  own; refining again gives a child. Repeating until the partition is discrete gives a
  leaf, whose labeling relabels C into a matrix. Two leaves with the same matrix differ
  by an automorphism.
- **Group order**: along the first path v_1, v_2, ..., |G_{v_1..v_{i-1}}| =
  |orbit of v_i in that stabilizer| * |G_{v_1..v_i}| (orbit-stabilizer), and the
  stabilizer of the whole path is trivial. Levels are done bottom-up; at level i a vertex
  u of v_i's cell joins the orbit when a leaf below (v_1..v_{i-1}, u) matches the first
  leaf. The automorphisms found form a strong generating set for this base (the
  Schreier-Sims structure), so |G| comes exact without listing G.
- **Canonical labeling**: the least leaf over the whole search tree, by (the node
  invariants along its path, its matrix); children of a node in one orbit of the
  automorphisms that fix the node's path have the same leaves, so one per orbit is
  searched. For a highly symmetric point each cell is one orbit and the search is a
  single path.

Vertices are numbered rows 0..n-1, then columns n..n+d-1. Partitions are two label
arrays, one over rows and one over columns, with labels 0..cells-1 in cell order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["Automorphisms", "automorphisms", "canonical_labeling"]

_Part = tuple[np.ndarray, np.ndarray]  # (row labels (n,), column labels (d,))


def _dense_rank(keys: np.ndarray) -> np.ndarray:
    """Rank of each row of ``keys`` (2-D ints) among the distinct rows, lexicographically."""
    order = np.lexsort(keys.T[::-1])
    srt = keys[order]
    new = np.empty(len(order), dtype=np.int64)
    new[0] = 0
    new[1:] = np.any(srt[1:] != srt[:-1], axis=1)
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.cumsum(new)
    return ranks


class _Graph:
    def __init__(self, C: np.ndarray) -> None:
        self.C = C
        self.n, self.d = C.shape
        self.m = int(C.max()) + 1

    def refine(self, rows: np.ndarray, cols: np.ndarray) -> _Part:
        """The coarsest equitable refinement of the ordered partition (rows, cols)."""
        C, m = self.C, self.m
        rows, cols = _dense_rank(rows[:, None]), _dense_rank(cols[:, None])
        n_r, n_c = int(rows.max()) + 1, int(cols.max()) + 1
        while True:
            sig = np.sort(cols[None, :] * m + C, axis=1)
            rows = _dense_rank(np.hstack([rows[:, None], sig]))
            sig = np.sort(rows[:, None] * m + C, axis=0).T
            cols = _dense_rank(np.hstack([cols[:, None], sig]))
            r2, c2 = int(rows.max()) + 1, int(cols.max()) + 1
            if (r2, c2) == (n_r, n_c):
                return rows, cols
            n_r, n_c = r2, c2

    def child(self, part: _Part, v: int) -> _Part:
        """Individualize vertex v (before the rest of its cell), then refine."""
        rows, cols = part[0] * 2 + 1, part[1] * 2 + 1
        if v < self.n:
            rows[v] -= 1
        else:
            cols[v - self.n] -= 1
        return self.refine(rows, cols)

    def invariant(self, part: _Part) -> bytes:
        """Cell sizes and the quotient (how many edges of each color join two cells)."""
        rows, cols = part
        n_c = int(cols.max()) + 1
        codes = (rows[:, None] * n_c + cols[None, :]) * self.m + self.C
        uniq, counts = np.unique(codes, return_counts=True)
        head = [int(rows.max()) + 1, n_c]
        return np.concatenate([head, uniq, counts]).astype(">i8").tobytes()

    def target(self, part: _Part) -> np.ndarray | None:
        """Vertices of the first non-singleton row cell, else column cell; None at a leaf."""
        for offset, lab in ((0, part[0]), (self.n, part[1])):
            sizes = np.bincount(lab)
            big = np.flatnonzero(sizes > 1)
            if big.size:
                return np.flatnonzero(lab == big[0]) + offset
        return None

    def leaf_matrix(self, part: _Part) -> bytes:
        M = np.empty_like(self.C)
        M[part[0][:, None], part[1][None, :]] = self.C
        return M.astype(">i8").tobytes()


def _orbit_ids(gens: list[np.ndarray], size: int) -> np.ndarray:
    """Orbit id of each vertex under the group generated by ``gens`` (vertex arrays)."""
    if not gens:
        return np.arange(size)
    src = np.concatenate([np.arange(size)] * len(gens))
    dst = np.concatenate(gens)
    graph = coo_matrix((np.ones(src.size, dtype=np.int8), (src, dst)), shape=(size, size))
    return connected_components(graph, directed=True, connection="weak")[1]


def _fixing(gens: list[np.ndarray], prefix: list[int]) -> list[np.ndarray]:
    """The generators that fix every vertex of ``prefix``."""
    if not prefix:
        return gens
    idx = np.asarray(prefix)
    return [g for g in gens if np.array_equal(g[idx], idx)]


def _reps(cell: np.ndarray, gens: list[np.ndarray], prefix: list[int], size: int) -> list[int]:
    """One vertex (the smallest) of ``cell`` per orbit of the generators fixing prefix."""
    ids = _orbit_ids(_fixing(gens, prefix), size)[cell]
    _, first = np.unique(ids, return_index=True)
    return sorted(int(v) for v in cell[first])


def _children(cell: np.ndarray, gens: list[np.ndarray], prefix: list[int], size: int):
    """The children to search below a node: one per orbit, orbits computed only if needed.

    The first child is the cell's smallest vertex (the representative of its orbit); most
    searches below symmetric points succeed there, and never pay for the orbits.
    """
    yield int(cell[0])
    yield from _reps(cell, gens, prefix, size)[1:]


def _leaves(
    g: _Graph,
    stack: list,
    gens: list[np.ndarray],
    size: int,
    enter: Callable[[_Part, Any], Any],
) -> Iterator[tuple[_Part, Any]]:
    """Depth-first search below the nodes on ``stack``: yield each leaf reached, in order.

    ``stack`` holds (node, its children still to try, the node's state, the vertices
    individualized above it); a child is entered with ``enter(child, parent's state)``,
    which returns the child's state, or None to prune it. Yields (leaf, its state). The
    caller may stop early, or change what ``enter`` prunes between leaves.
    """
    while stack:
        parent, todo, state, prefix = stack[-1]
        v = next(todo, None)
        if v is None:
            stack.pop()
            continue
        part = g.child(parent, v)
        below_state = enter(part, state)
        if below_state is None:
            continue
        cell = g.target(part)
        if cell is None:
            yield part, below_state
            continue
        below = [*prefix, v]
        stack.append((part, _children(cell, gens, below, size), below_state, below))


def _labels(part: _Part, n: int) -> np.ndarray:
    """A discrete partition as one array: vertex -> position (rows, then n + column)."""
    return np.concatenate([part[0], part[1] + n])


@dataclass(frozen=True)
class Automorphisms:
    """Side-preserving automorphisms of a color matrix.

    Attributes:
        order: |G|, exact.
        generators: vertex permutations (arrays of length n + d), a strong generating
            set for ``base``.
        base: the first path's individualized vertices.
        orbits: orbit id of each vertex under G.
    """

    order: int
    generators: list[np.ndarray]
    base: list[int]
    orbits: np.ndarray


def automorphisms(C: np.ndarray, col_cells: np.ndarray) -> Automorphisms:
    """The automorphism group of C, columns confined to the cells of ``col_cells``.

    Args:
        C: (n, d) integer colors.
        col_cells: (d,) initial column labels; a column can only map to a column with the
            same label (all equal: columns move freely; all distinct: columns are fixed).
    """
    g = _Graph(C)
    size = g.n + g.d
    node = g.refine(np.zeros(g.n, dtype=np.int64), np.asarray(col_cells, dtype=np.int64))
    path, invs, base = [node], [g.invariant(node)], []
    while (cell := g.target(node)) is not None:
        base.append(int(cell[0]))
        node = g.child(node, base[-1])
        path.append(node)
        invs.append(g.invariant(node))
    first_leaf = g.leaf_matrix(node)
    first_lab = _labels(node, g.n)

    def like_path(part: _Part, depth: int) -> int | None:
        """The child's depth if its invariant is the first path's there; None prunes it."""
        return depth + 1 if g.invariant(part) == invs[depth + 1] else None

    def match_below(level: int, u: int) -> np.ndarray | None:
        """A leaf below (base[:level], u) with the first leaf's matrix: its labeling.

        Depth first; a leaf matching the first one below x is matched below h(x) too, for
        any automorphism h fixing the path, so one child per orbit is searched.
        """
        stack = [(path[level], iter([u]), level, base[:level])]
        for leaf, _ in _leaves(g, stack, gens, size, like_path):
            if g.leaf_matrix(leaf) == first_leaf:
                return _labels(leaf, g.n)
        return None

    gens: list[np.ndarray] = []
    order = 1
    for level in reversed(range(len(base))):
        # Every generator found so far fixes base[:level]: it came from a deeper level.
        cell, v = g.target(path[level]), base[level]
        ids = _orbit_ids(gens, size)
        failed: list[int] = []  # vertices no automorphism fixing base[:level] takes v to
        for u in (int(x) for x in cell):
            if ids[u] == ids[v] or any(ids[u] == ids[f] for f in failed):
                continue
            lab = match_below(level, u)
            if lab is None:
                failed.append(u)
                continue
            # At the first leaf vertex x sits at position first_lab[x]; at this one the
            # vertex argsort(lab)[first_lab[x]] does. Equal matrices: x -> it is an
            # automorphism, and it takes v to u.
            gens.append(np.argsort(lab)[first_lab])
            ids = _orbit_ids(gens, size)
        order *= int(np.count_nonzero(ids[cell] == ids[v]))
    return Automorphisms(order, gens, base, _orbit_ids(gens, size))


def canonical_labeling(C: np.ndarray, col_cells: np.ndarray, gens: list[np.ndarray]) -> _Part:
    """The canonical discrete partition of C: row and column positions (vertex -> slot).

    Args:
        C: (n, d) integer colors.
        col_cells: initial column labels, as for ``automorphisms``.
        gens: automorphisms of C (any subset is correct; a generating set is fast).
    """
    g = _Graph(C)
    size = g.n + g.d
    root = g.refine(np.zeros(g.n, dtype=np.int64), np.asarray(col_cells, dtype=np.int64))
    best_key: tuple[bytes, ...] | None = None
    best: _Part = root

    def enter(part: _Part, key: tuple[bytes, ...]) -> tuple[bytes, ...] | None:
        """The node's key (the invariants along its path); None: no leaf below can win."""
        key = (*key, g.invariant(part))
        if best_key is not None and key > best_key[: len(key)]:
            return None
        return key

    def offer(part: _Part, key: tuple[bytes, ...]) -> None:
        """Keep the leaf ``part`` (path key ``key``) if it sorts before the best one."""
        nonlocal best_key, best
        leaf_key = (*key, g.leaf_matrix(part))
        if best_key is None or leaf_key < best_key:
            best_key, best = leaf_key, part

    root_key = enter(root, ())
    cell = g.target(root)
    if cell is None:
        offer(root, root_key)
        return best
    stack = [(root, _children(cell, gens, [], size), root_key, [])]
    for leaf, key in _leaves(g, stack, gens, size, enter):
        offer(leaf, key)
    return best
