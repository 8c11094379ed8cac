"""Small regression sets for the convex ReLU study: planted, pure noise, and digits.

Each returns X (n, d + 1), the last column ones (a bias), and y (n,), float64, as a
function of its arguments and ``seed`` alone:

- ``planted``: x ~ N(0, I_d); y = sum_{j <= k} a_j relu(u_j . [x, 1]) from a teacher of
  ``teacher`` neurons with u_j ~ N(0, I / (d + 1)) and a_j = +-1 alternating.
- ``random``: x ~ N(0, I_d), y ~ N(0, 1) independent of x (nothing to learn).
- ``digits``: scikit-learn's shipped 8 x 8 digits, classes 3 and 8 (the pair hardest to
  tell apart), ``n`` images drawn without replacement, projected on their first d
  principal components (of all 3s and 8s), standardized; y = +1 for a 3, -1 for an 8.

``decay`` < 1 makes the inputs anisotropic: feature i (from 0) is multiplied by decay**i
(before the planted teacher labels them), so the singular values of X fall off
geometrically, as in real data (the batch-normalization study needs such a spectrum).
"""

from __future__ import annotations

import numpy as np
import torch

from ._checks import positive_int

__all__ = ["REGRESSION_SETS", "regression_set"]

REGRESSION_SETS = ("planted", "random", "digits")


def regression_set(
    kind: str, n: int, d: int, *, seed: int = 0, teacher: int = 3, decay: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(X (n, d + 1) with a ones column last, y (n,)) of the named kind.

    Raises:
        ValueError: unknown kind, n or d not positive integers, n larger than the digits
            of classes 3 and 8 (357), d > 64, decay not in (0, 1].
    """
    if kind not in REGRESSION_SETS:
        raise ValueError(f"unknown data {kind!r}; choose one of {', '.join(REGRESSION_SETS)}.")
    n, d = positive_int("n", n), positive_int("d", d)
    teacher = positive_int("teacher", teacher)
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 < decay <= 1:
        raise ValueError(f"decay must be a number in (0, 1], got {decay!r}.")
    scales = torch.tensor([float(decay) ** i for i in range(d)], dtype=torch.float64)
    g = torch.Generator().manual_seed(int(seed))
    if kind == "digits":
        from .digits import _load

        data, target = _load(None)
        keep = (target == 3) | (target == 8)
        pix, lab = data[keep], target[keep]
        if n > len(pix):
            raise ValueError(f"the digits 3 and 8 number {len(pix)} images; got n = {n}.")
        if d > pix.shape[1]:
            raise ValueError(f"digits have {pix.shape[1]} pixels; got d = {d} components.")
        centred = pix - pix.mean(0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        pcs = centred @ vt[:d].T
        pcs = pcs / pcs.std(0)
        pick = torch.randperm(len(pix), generator=g)[:n].numpy()
        X = torch.as_tensor(pcs[pick], dtype=torch.float64) * scales
        y = torch.as_tensor(np.where(lab[pick] == 3, 1.0, -1.0), dtype=torch.float64)
    else:
        X = torch.randn(n, d, generator=g, dtype=torch.float64) * scales
        if kind == "random":
            y = torch.randn(n, generator=g, dtype=torch.float64)
        else:
            U = torch.randn(teacher, d + 1, generator=g, dtype=torch.float64) / (d + 1) ** 0.5
            a = torch.tensor([(-1.0) ** j for j in range(teacher)], dtype=torch.float64)
            Xb = torch.cat([X, torch.ones(n, 1, dtype=torch.float64)], 1)
            y = torch.relu(Xb @ U.T) @ a
    return torch.cat([X, torch.ones(n, 1, dtype=torch.float64)], 1), y
