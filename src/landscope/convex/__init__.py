"""Convex reformulations that certify global optima."""

from .lifted import LiftedSolution, lifted_least_squares, network_from_matrix

__all__ = ["LiftedSolution", "lifted_least_squares", "network_from_matrix"]
