"""Data sets and samplers, float64 tensors on the CPU.

- ``sphere(n, d, seed=)``: points uniform on the unit sphere of R^d;
- ``digits(n)`` / ``digit_images(n)``: scikit-learn's shipped 8 x 8 digits, as unit rows
  of R^64 or as [0, 1] images with labels;
- ``polynomial(n, degree)``: Freeman & Bruna's regression y = x^p on [0, 1];
- ``regression_set(kind, n, d, seed=)``: planted-ReLU, pure-noise or digits (3 vs 8)
  regression sets with a bias column, for the convex ReLU study;
- ``univariate_set(kind, n, seed=)``: alternating or smooth 1-D interpolation sets;
- ``load_points(path, n)``: a user's (n, d) array from a ``.npy`` or ``.csv`` file;
- ``points(source, n)``: any of these by name (``sphere``, ``digits``) or file path.

Every loader raises ValueError with one sentence for arguments it cannot serve. This
room imports numpy and torch only (scikit-learn, for the digits, when called).
"""

from .digits import DIGITS_LEVELS, DIGITS_N, digit_images, digits
from .files import load_points
from .points import DATA_SOURCES, DATA_SUFFIXES, DEFAULT_N, points
from .polynomial import polynomial
from .regression import REGRESSION_SETS, regression_set
from .sphere import sphere
from .univariate import UNIVARIATE_SETS, univariate_set

__all__ = [
    "DATA_SOURCES",
    "DATA_SUFFIXES",
    "DEFAULT_N",
    "DIGITS_LEVELS",
    "DIGITS_N",
    "REGRESSION_SETS",
    "UNIVARIATE_SETS",
    "digit_images",
    "digits",
    "load_points",
    "points",
    "polynomial",
    "regression_set",
    "sphere",
    "univariate_set",
]
