"""Objectives evaluated on a batch of R parameter rows at once."""

from ._base import Problem, init_from_seeds
from .deep_quadratic import DeepQuadraticNet
from .empirical import EmpiricalTeacherStudent, ModuleLoss
from .quadratic import QuadraticNet, QuadraticPopulation
from .relu_teacher import ReluTeacherStudent

__all__ = [
    "DeepQuadraticNet",
    "EmpiricalTeacherStudent",
    "ModuleLoss",
    "Problem",
    "QuadraticNet",
    "QuadraticPopulation",
    "ReluTeacherStudent",
    "init_from_seeds",
]
