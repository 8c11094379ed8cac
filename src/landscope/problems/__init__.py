"""Objectives evaluated on a batch of R parameter rows at once."""

from ._base import Problem, init_from_seeds
from .deep_quadratic import DeepQuadraticNet
from .empirical import EmpiricalTeacherStudent, ModuleLoss
from .one_hidden import OneHiddenRegression, Planted, planted, recovery_error
from .one_hidden_population import LocalConvexity, local_convexity, population_hessian
from .quadratic import QuadraticNet, QuadraticPopulation
from .relu_teacher import ReluTeacherStudent

__all__ = [
    "LocalConvexity",
    "OneHiddenRegression",
    "Planted",
    "local_convexity",
    "planted",
    "population_hessian",
    "recovery_error",
    "DeepQuadraticNet",
    "EmpiricalTeacherStudent",
    "ModuleLoss",
    "Problem",
    "QuadraticNet",
    "QuadraticPopulation",
    "ReluTeacherStudent",
    "init_from_seeds",
]
