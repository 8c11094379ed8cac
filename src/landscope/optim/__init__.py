"""One batched driver (``run``) and the methods it runs over (R, P) rows.

``run(problem, theta0, method, stop=Stop(...), observers=...)`` owns stopping,
compaction of finished rows, status codes, divergence and the record; the methods are
batched ``init``/``update`` pairs with per-row state: ``GD``, ``Adam`` (plain gradient
transformations, with an optional learning-rate ``Schedule`` such as ``cosine_decay``),
``Armijo`` (per-row backtracking GD), ``LBFGS``, ``LevenbergMarquardt``,
``Newton`` (damped, for polishing; ``newton_polish`` runs it in memory chunks) and
``FIRE`` (inertial relaxation, for force fields such as nudged elastic bands) and
``SharpnessGD`` (each row's step a fraction of its Gauss-Newton sharpness, set afresh as
it trains: GD that stays close to gradient flow) and ``SampledGD`` (GD on a gradient
the problem samples, e.g. Dropout SGD).
"""

from .armijo import Armijo
from .driver import (
    STATUS,
    Eval,
    Method,
    MethodBase,
    Observer,
    Progress,
    RunResult,
    Step,
    Stop,
    View,
    restrict,
    run,
)
from .fire import FIRE
from .gauss_newton import GaussNewton
from .lbfgs import LBFGS
from .lm import LevenbergMarquardt
from .newton import Newton, PolishResult, newton_polish
from .sampled import SampledGD
from .sharpness import SharpnessGD, flow_time
from .transforms import GD, Adam, Optimizer, Schedule, cosine_decay

__all__ = [
    "FIRE",
    "GD",
    "GaussNewton",
    "LBFGS",
    "STATUS",
    "SampledGD",
    "SharpnessGD",
    "Adam",
    "Armijo",
    "Eval",
    "LevenbergMarquardt",
    "Method",
    "MethodBase",
    "Newton",
    "Observer",
    "Optimizer",
    "PolishResult",
    "Progress",
    "RunResult",
    "Schedule",
    "Step",
    "Stop",
    "View",
    "cosine_decay",
    "flow_time",
    "newton_polish",
    "restrict",
    "run",
]
