"""Named studies, one module each, and the registry the CLI reads."""

from collections.abc import Mapping

from ._study import Grid, Param, Results, RunContext, Study, config_hash, parse_values
from .figures import FigureSpec

__all__ = [
    "FigureSpec",
    "Grid",
    "Param",
    "Results",
    "RunContext",
    "Study",
    "config_hash",
    "get_study",
    "parse_values",
    "studies",
]


def studies() -> dict[str, Study]:
    """All registered studies by name (built on each call: no module-level state)."""
    from .beyond_ntk import STUDY as beyond_ntk
    from .convex_bn import STUDY as convex_bn
    from .convex_relu import STUDY as convex_relu
    from .dropout_rate import STUDY as dropout_rate
    from .least_symmetry import STUDY as least_symmetry
    from .level_sets import STUDY as level_sets
    from .minima_barriers import STUDY as minima_barriers
    from .ntk_convergence import STUDY as ntk_convergence
    from .quadratic_deep import STUDY as quadratic_deep
    from .quadratic_nets import STUDY as quadratic_nets
    from .recovery import STUDY as recovery
    from .spurious_relu import STUDY as spurious_relu
    from .spurious_spectra import STUDY as spurious_spectra
    from .univariate_regimes import STUDY as univariate_regimes

    return {
        s.name: s
        for s in (
            spurious_relu,
            spurious_spectra,
            least_symmetry,
            quadratic_nets,
            quadratic_deep,
            recovery,
            ntk_convergence,
            beyond_ntk,
            level_sets,
            minima_barriers,
            convex_relu,
            convex_bn,
            univariate_regimes,
            dropout_rate,
        )
    }


def get_study(name: str, registry: Mapping[str, Study] | None = None) -> Study:
    """The study called ``name`` in ``registry`` (default: ``studies()``).

    Raises:
        ValueError: naming the known studies when there is none called ``name``.
    """
    known = studies() if registry is None else registry
    if name not in known:
        raise ValueError(f"unknown study {name!r}; known studies: {', '.join(sorted(known))}.")
    return known[name]
