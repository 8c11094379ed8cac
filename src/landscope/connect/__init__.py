"""Connectivity of level sets and minima: paths, barriers, strings, bands and curves.

Freeman & Bruna (ICLR 2017): a level set {E <= u} is probed by dynamic string sampling
(``dynamic_string``), whose normalized geodesic length measures how curved it is;
Draxler et al. (2018): nudged elastic bands with a climbing image (``neb``) find the
saddle between two minima; Garipov et al. (2018): Bezier curves and polygonal chains
fitted to the loss along them (``fit_bezier``, ``fit_chain``); neuron alignment before
interpolating (``align_rows``, ``align_mlp``, ``align_two_layer``), and straight-line
barriers of many pairs before and after it (``linear_barriers``). Every method returns
a ``Path`` (beads, the loss along the polygon, barrier, normalized length, status).
Toy potentials with known answers are problems: ``landscope.problems.MuellerBrown``,
``DoubleWell``, ``Quadratic``.
"""

from .align import align_mlp, align_rows, align_two_layer, match_units
from .barriers import LinearBarriers, linear_barriers
from .connection import CONNECT_METHODS, Connection, connect_runs
from .curves import bezier_points, chain_points, fit_bezier, fit_chain
from .interpolate import linear_path, linear_paths, profile
from .neb import NebResult, neb
from .path import PATH_COLUMNS, PATH_STATUS, Path, polygon_length
from .string import (
    STRING_COLUMNS,
    StringResult,
    dynamic_string,
    dynamic_strings,
    train_to_level,
)

__all__ = [
    "CONNECT_METHODS",
    "PATH_COLUMNS",
    "PATH_STATUS",
    "STRING_COLUMNS",
    "Connection",
    "LinearBarriers",
    "NebResult",
    "Path",
    "StringResult",
    "align_mlp",
    "align_rows",
    "align_two_layer",
    "bezier_points",
    "chain_points",
    "connect_runs",
    "dynamic_string",
    "dynamic_strings",
    "fit_bezier",
    "fit_chain",
    "linear_barriers",
    "linear_path",
    "linear_paths",
    "match_units",
    "neb",
    "polygon_length",
    "profile",
    "train_to_level",
]
