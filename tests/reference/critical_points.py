"""Critical points of ``ReluTeacherStudent`` known by construction."""

from __future__ import annotations

import torch

from landscope.optim import GD, Stop, newton_polish, run
from landscope.problems import ReluTeacherStudent

__all__ = ["split_neuron_saddle"]


def split_neuron_saddle(k: int) -> tuple[ReluTeacherStudent, torch.Tensor]:
    """A saddle of the n = 2 student (identity teacher): the best single neuron w*, halved.

    relu is positively homogeneous, so (w*/2, w*/2) computes the n = 1 optimum, and
    dF/dw_i there equals the n = 1 gradient at w*, zero (Fukumizu & Amari 2000's
    embedding of a narrower network's critical point). Moving the halves apart lowers
    the loss: for k = 2..4 the smallest Hessian eigenvalue is about -0.6.

    Returns:
        The n = 2 problem and the point as a (1, 2k) row, ||grad|| ~ 1e-12.
    """
    one = ReluTeacherStudent(k=k, n=1)
    start = torch.full((1, k), 0.3, dtype=one.dtype)
    res = run(one, start, GD(0.5), stop=Stop(grad_tol=1e-10))
    w = newton_polish(one, res.theta).theta
    two = ReluTeacherStudent(k=k, n=2)
    return two, torch.cat([w / 2, w / 2], dim=1)
