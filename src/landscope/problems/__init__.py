"""Objectives evaluated on a batch of R parameter rows at once."""

from ._base import Problem, init_from_seeds
from .relu_teacher import ReluTeacherStudent

__all__ = ["Problem", "ReluTeacherStudent", "init_from_seeds"]
