"""Convex reformulations that certify global optima.

- ``lifted``: quadratic networks as least squares in the lifted matrix M = W' diag(a) W.
- ``patterns``: the activation patterns of ReLU neurons on a data set (exact or sampled).
- ``relu``: two-layer ReLU networks with weight decay as a convex program over those
  patterns (Pilanci & Ergen 2020): the global optimum, the network attaining it, and a
  duality-gap certificate for any trained network.
- ``bn``: the same with batch normalization after the first layer (Ergen et al. 2022), a
  plain program on the whitened centred data; its closed form when n <= d + 1.
"""

from . import bn, lifted, patterns, relu
from .bn import *  # noqa: F403
from .lifted import *  # noqa: F403
from .patterns import *  # noqa: F403
from .relu import *  # noqa: F403

__all__ = [*bn.__all__, *lifted.__all__, *patterns.__all__, *relu.__all__]
