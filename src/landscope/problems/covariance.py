"""Gaussian inputs x ~ N(0, Sigma) with Sigma named by a short spec, and its symmetry blocks.

Problems on non-isotropic Gaussian inputs (Arjevani & Field, "On the principle of least
symmetry breaking in shallow ReLU models") are named by a covariance spec:

- ``iso``: Sigma = I;
- ``equi:c``: Sigma = (1 - c) I + c 11' (equicorrelated), 0 <= c < 1 (``equi``: c = 0.5);
- ``scales:s``: Sigma = diag(1, ..., 1, s, ..., s), the last d - floor(d/2) coordinates
  scaled by s > 0 (``scales``: s = 2).

An input permutation Q leaves N(0, Sigma) unchanged exactly when Q Sigma Q' = Sigma. For
these specs that is every Q that permutes coordinates within *blocks*: one block for
``iso`` and ``equi`` (any Q), the two halves for ``scales:s`` with s != 1. ``covariance``
returns Sigma with a block label per coordinate, the ``col_blocks`` that
``landscope.symmetry.isotropy`` takes.
"""

from __future__ import annotations

import math

import torch

__all__ = ["COVARIANCE_SPECS", "covariance", "gaussian_inputs", "parse_covariance"]

COVARIANCE_SPECS = ("iso", "equi:c", "scales:s")


def parse_covariance(spec: str, name: str = "covariance") -> tuple[str, float | None]:
    """The kind and parameter of a covariance spec (see the module docstring).

    Args:
        spec: ``iso``, ``equi[:c]`` or ``scales[:s]``.
        name: what the spec is called in error messages (a study's parameter name).

    Returns:
        (``"iso"``, None), (``"equi"``, c) or (``"scales"``, s).

    Raises:
        ValueError: one sentence naming the spec, for an unknown kind or a bad parameter.
    """
    kind, _, arg = str(spec).partition(":")
    if kind == "iso" and not arg:
        return kind, None
    if kind in ("equi", "scales"):
        try:
            value = float(arg) if arg else (0.5 if kind == "equi" else 2.0)
        except ValueError:
            value = math.nan
        ok = (0 <= value < 1) if kind == "equi" else (0 < value < math.inf)
        if ok:
            return kind, value
        allowed = "[0, 1)" if kind == "equi" else "(0, inf)"
        raise ValueError(f"{name} {spec!r}: the {kind} parameter must be a number in {allowed}.")
    raise ValueError(f"{name} must be iso, equi:c or scales:s; got {spec!r}.")


def covariance(spec: str, d: int) -> tuple[torch.Tensor, list[int]]:
    """Sigma (d, d) float64, and a block label per coordinate (Q may permute within a block).

    Args:
        spec: a covariance spec (``parse_covariance``).
        d: the input dimension.

    Raises:
        ValueError: for a bad spec or d < 1.
    """
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ValueError(f"d must be an integer >= 1, got {d!r}.")
    kind, value = parse_covariance(spec)
    eye = torch.eye(d, dtype=torch.float64)
    if kind == "iso":
        return eye, [0] * d
    if kind == "equi":
        return (1 - value) * eye + value * torch.ones(d, d, dtype=torch.float64), [0] * d
    half = d // 2
    scales = torch.ones(d, dtype=torch.float64)
    scales[half:] = value
    blocks = [0] * half + [1] * (d - half)
    return torch.diag(scales), blocks if value != 1.0 else [0] * d


def gaussian_inputs(spec: str, m: int, d: int, *, generator: torch.Generator) -> torch.Tensor:
    """m samples x ~ N(0, Sigma) as rows (m, d), float64 on the CPU.

    x = L z with z ~ N(0, I_d) drawn from ``generator`` and Sigma = L L' (Cholesky).

    Raises:
        ValueError: for a bad spec, m < 1 or d < 1.
    """
    if isinstance(m, bool) or not isinstance(m, int) or m < 1:
        raise ValueError(f"m must be an integer >= 1, got {m!r}.")
    Sigma, _ = covariance(spec, d)
    Z = torch.randn(m, d, generator=generator, dtype=torch.float64)
    return Z @ torch.linalg.cholesky(Sigma).T
