"""Symmetry of weight matrices: isotropy groups, canonical forms, types of minima.

The groups act on a weight matrix W (n, d): ``"SnxSd"`` by W -> P W Q' (neurons and
inputs permuted, the ReLU teacher-student with the identity teacher) and ``"Sn"`` by
W -> P W (neurons only). ``ReluTeacherStudent.symmetry`` says which one a problem has.
"""

from ._colors import GROUPS, Group
from .canonical import canonical_form, group_types, same_orbit
from .isotropy import Isotropy, isotropy, isotropy_of

__all__ = [
    "GROUPS",
    "Group",
    "Isotropy",
    "canonical_form",
    "group_types",
    "isotropy",
    "isotropy_of",
    "same_orbit",
]
