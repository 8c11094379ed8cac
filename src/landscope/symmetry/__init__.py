"""Symmetry of weight matrices: isotropy groups, canonical forms, types of minima.

The groups act on a weight matrix W (n, d): ``"SnxSd"`` by W -> P W Q' (neurons and
inputs permuted, the ReLU teacher-student with the identity teacher) and ``"Sn"`` by
W -> P W (neurons only). ``ReluTeacherStudent.symmetry`` says which one a problem has.
Isotropy groups are classed against a target's (``isotropy_class``: maximal, full or
other; ``read_isotropy`` through sampling noise), and the irreducible parts of
R^{k x k} under Delta S_k say which Hessian multiplicities a symmetric point can have
(``delta_sk_dimensions``, ``multiplicities_fit``).
"""

from ._colors import GROUPS, Group
from .canonical import canonical_form, group_types, same_orbit
from .classes import (
    ISOTROPY_CLASSES,
    NoisyIsotropy,
    isotropy_class,
    isotropy_family,
    read_isotropy,
)
from .irreducible import delta_sk_dimensions, multiplicities_fit
from .isotropy import Isotropy, isotropy, isotropy_of

__all__ = [
    "GROUPS",
    "ISOTROPY_CLASSES",
    "Group",
    "Isotropy",
    "NoisyIsotropy",
    "canonical_form",
    "delta_sk_dimensions",
    "group_types",
    "isotropy",
    "isotropy_class",
    "isotropy_family",
    "isotropy_of",
    "multiplicities_fit",
    "read_isotropy",
    "same_orbit",
]
