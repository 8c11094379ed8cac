"""Objectives evaluated on a batch of R parameter rows at once."""

from ._base import Problem, init_from_seeds
from .empirical import EmpiricalTeacherStudent, ModuleLoss
from .relu_teacher import ReluTeacherStudent

__all__ = [
    "EmpiricalTeacherStudent",
    "ModuleLoss",
    "Problem",
    "ReluTeacherStudent",
    "init_from_seeds",
]
