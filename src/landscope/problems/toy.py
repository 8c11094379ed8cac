"""Small closed-form potentials as batched problems, to test methods against known answers.

* ``MuellerBrown``: the two-dimensional potential of Müller & Brown (Theor. Chim. Acta
  53, 1979), the standard test of minimum-energy-path methods (Henkelman, Uberuaga &
  Jónsson, J. Chem. Phys. 113, 2000):

      V(x, y) = sum_{i<=4} A_i exp(a_i (x - x0_i)^2 + b_i (x - x0_i)(y - y0_i)
                                   + c_i (y - y0_i)^2)

  with A = (-200, -100, -170, 15), a = (-1, -1, -6.5, 0.7), b = (0, 0, 11, 0.6),
  c = (-10, -10, -6.5, 0.7), x0 = (1, 0, -0.5, -1), y0 = (0, 0.5, 1.5, 1). Three minima
  (``MINIMA``) and two first-order saddles on the minimum-energy path between them
  (``SADDLES``); the path from the deepest minimum to the second one passes through the
  shallow intermediate minimum, and its highest point is the saddle at E = -40.66.
* ``DoubleWell``: sum_i (x_i^2 - 1)^2 on R^dim: minima at x in {-1, +1}^dim (loss 0),
  first-order saddles with one coordinate at 0 (loss 1 above the minima).
* ``Quadratic``: 1/2 (x - c)' A (x - c) for a symmetric A: convex when A is PSD.

All three follow the ``Problem`` protocol: rows ``(R, P)``, loss ``(R,)``, gradient in
closed form, Hessian in closed form (Mueller-Brown, double well, quadratic), all in one
vectorized call over the rows. The double well and the quadratic also know their global
minimizers (``KnownOptimum``). None declares a ``symmetry``: their symmetries (the double
well's coordinate permutations and sign flips) are not groups of neuron permutations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from .._validate import as_param_batch, check_finite, resolve_device, resolve_dtype
from ._base import draw_rows

__all__ = ["DoubleWell", "MuellerBrown", "Quadratic"]


class _Closed:
    """Shared protocol glue: ``as_batch``, ``grad``, ``hvp`` from ``loss_and_grad``/``hessian``."""

    n_params: int
    dtype: torch.dtype
    device: torch.device
    symmetry: ClassVar[str | None] = None

    def as_batch(self, theta: object, *, name: str = "theta") -> torch.Tensor:
        """Validate a point (P,) or batch (R, P) and return it as (R, P)."""
        return as_param_batch(theta, self.n_params, dtype=self.dtype, device=self.device, name=name)

    def loss_and_grad(self, theta: object) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def hessian(self, theta: object) -> torch.Tensor:
        raise NotImplementedError

    def loss(self, theta: object) -> torch.Tensor:
        """Loss of each row: (R,)."""
        return self.loss_and_grad(theta)[0]

    def grad(self, theta: object) -> torch.Tensor:
        """Gradient of each row: (R, P)."""
        return self.loss_and_grad(theta)[1]

    def hvp(self, theta: object, v: object) -> torch.Tensor:
        """Hessian-vector products, one vector per row: (R, P)."""
        t = self.as_batch(theta)
        w = self.as_batch(v, name="v")
        if w.shape != t.shape:
            raise ValueError(f"v has shape {tuple(w.shape)}; expected {tuple(t.shape)}.")
        return (self.hessian(t) @ w[..., None])[..., 0]


@dataclass(frozen=True, eq=False)
class MuellerBrown(_Closed):
    """The Müller-Brown potential on R^2 (P = 2), batched over rows (x, y).

    Args:
        dtype, device: as elsewhere (float64 by default).

    Class attributes ``MINIMA`` and ``SADDLES`` hold the literature's stationary points
    (x, y, E) to the digits usually quoted; the tests refine them by Newton's method.
    ``init`` draws uniformly from the box [-1.5, 1.2] x [-0.5, 2.0] that holds them all.
    """

    dtype: torch.dtype | str = torch.float64
    device: torch.device | str = "cpu"
    global_min: float | None = field(default=None, init=False)
    _coef: torch.Tensor = field(init=False, repr=False)

    A = (-200.0, -100.0, -170.0, 15.0)
    a = (-1.0, -1.0, -6.5, 0.7)
    b = (0.0, 0.0, 11.0, 0.6)
    c = (-10.0, -10.0, -6.5, 0.7)
    x0 = (1.0, 0.0, -0.5, -1.0)
    y0 = (0.0, 0.5, 1.5, 1.0)
    MINIMA = ((-0.558, 1.442, -146.70), (0.623, 0.028, -108.17), (-0.050, 0.467, -80.77))
    SADDLES = ((-0.822, 0.624, -40.66), (0.212, 0.293, -72.25))
    BOX = ((-1.5, 1.2), (-0.5, 2.0))

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "dtype", resolve_dtype(self.dtype))
        set_(self, "device", resolve_device(self.device))
        coef = torch.tensor(
            [self.A, self.a, self.b, self.c, self.x0, self.y0],
            dtype=self.dtype,
            device=self.device,
        )
        set_(self, "_coef", coef)

    @property
    def n_params(self) -> int:
        return 2

    def init(
        self,
        R: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """R points uniform in the box ``BOX``."""
        u = draw_rows(self, torch.rand, (R, 2), generator, device)
        lo = torch.tensor([self.BOX[0][0], self.BOX[1][0]], dtype=self.dtype, device=u.device)
        hi = torch.tensor([self.BOX[0][1], self.BOX[1][1]], dtype=self.dtype, device=u.device)
        return lo + u * (hi - lo)

    def _terms(self, theta: object):
        t = self.as_batch(theta)
        A, a, b, c, x0, y0 = self._coef
        dx = t[:, :1] - x0  # (R, 4)
        dy = t[:, 1:] - y0
        e = A * torch.exp(a * dx * dx + b * dx * dy + c * dy * dy)  # (R, 4)
        gx = 2 * a * dx + b * dy  # d exponent / dx
        gy = b * dx + 2 * c * dy
        return e, gx, gy, a, b, c

    def loss_and_grad(self, theta: object) -> tuple[torch.Tensor, torch.Tensor]:
        """V (R,) and grad V (R, 2) in closed form."""
        e, gx, gy, *_ = self._terms(theta)
        grad = torch.stack([(e * gx).sum(1), (e * gy).sum(1)], dim=1)
        return e.sum(1), grad

    def hessian(self, theta: object) -> torch.Tensor:
        """(R, 2, 2): sum_i e_i (g g' + d2 exponent_i)."""
        e, gx, gy, a, b, c = self._terms(theta)
        hxx = (e * (gx * gx + 2 * a)).sum(1)
        hxy = (e * (gx * gy + b)).sum(1)
        hyy = (e * (gy * gy + 2 * c)).sum(1)
        return torch.stack([torch.stack([hxx, hxy], -1), torch.stack([hxy, hyy], -1)], -2)


@dataclass(frozen=True, eq=False)
class DoubleWell(_Closed):
    """sum_i (x_i^2 - 1)^2 on R^dim.

    Minima at every x in {-1, 1}^dim with loss 0 (``global_min``); the straight segment
    between x = -1 and x = +1 (dim = 1) crosses the barrier of height 1 at x = 0, a
    first-order saddle (Hessian -4 along that coordinate).

    Args:
        dim: P, the number of coordinates (>= 1).
        dtype, device: as elsewhere.
    """

    dim: int = 1
    dtype: torch.dtype | str = torch.float64
    device: torch.device | str = "cpu"
    global_min: float | None = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        if isinstance(self.dim, bool) or not isinstance(self.dim, int) or self.dim < 1:
            raise ValueError(f"dim must be a positive integer, got {self.dim!r}.")
        object.__setattr__(self, "dtype", resolve_dtype(self.dtype))
        object.__setattr__(self, "device", resolve_device(self.device))

    @property
    def n_params(self) -> int:
        return self.dim

    def init(
        self,
        R: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """R points uniform in [-2, 2]^dim."""
        return 4 * draw_rows(self, torch.rand, (R, self.dim), generator, device) - 2

    def loss_and_grad(self, theta: object) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.as_batch(theta)
        s = t * t - 1
        return (s * s).sum(1), 4 * t * s

    def hessian(self, theta: object) -> torch.Tensor:
        """Diagonal: 12 x_i^2 - 4."""
        t = self.as_batch(theta)
        return torch.diag_embed(12 * t * t - 4)

    def distance_to_global(self, theta: object) -> torch.Tensor:
        """Distance to the nearest minimizer in {-1, 1}^dim: |x - sign(x)| (R,).

        At x_i = 0 both signs are nearest; the distance is the same for either.
        """
        t = self.as_batch(theta)
        nearest = torch.where(t >= 0, 1.0, -1.0).to(t.dtype)
        return torch.linalg.vector_norm(t - nearest, dim=1)


@dataclass(frozen=True, eq=False)
class Quadratic(_Closed):
    """1/2 (x - c)' A (x - c) for a symmetric (P, P) matrix A and a center c (default 0).

    ``global_min`` is 0 when A is positive semidefinite, None otherwise (unbounded below).

    Args:
        A: symmetric (P, P).
        center: (P,) or None (the origin).
        dtype, device: as elsewhere.

    Raises:
        ValueError: for a non-square, non-symmetric or non-finite A or a mis-shaped center.
    """

    A: torch.Tensor = field(repr=False)
    center: torch.Tensor | None = field(default=None, repr=False)
    dtype: torch.dtype | str = torch.float64
    device: torch.device | str = "cpu"
    _eig: tuple[torch.Tensor, torch.Tensor] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "dtype", resolve_dtype(self.dtype))
        set_(self, "device", resolve_device(self.device))
        A = torch.as_tensor(self.A).to(dtype=self.dtype, device=self.device)
        if A.dim() != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0:
            raise ValueError(f"A has shape {tuple(A.shape)}; expected a square (P, P) matrix.")
        check_finite("A", A)
        if not torch.allclose(A, A.T, rtol=1e-12, atol=1e-12):
            raise ValueError("A must be symmetric.")
        P = A.shape[0]
        if self.center is None:
            c = torch.zeros(P, dtype=self.dtype, device=self.device)
        else:
            c = torch.as_tensor(self.center).to(dtype=self.dtype, device=self.device)
            if c.shape != (P,):
                raise ValueError(f"center has shape {tuple(c.shape)}; expected ({P},).")
            check_finite("center", c)
        set_(self, "A", A)
        set_(self, "center", c)
        set_(self, "_eig", torch.linalg.eigh(A))

    @property
    def n_params(self) -> int:
        return int(self.A.shape[0])

    @property
    def global_min(self) -> float | None:
        return 0.0 if float(self._eig[0][0]) >= -1e-12 else None

    def distance_to_global(self, theta: object) -> torch.Tensor | None:
        """Distance to the minimizers c + null(A) when A is PSD, (R,); None otherwise.

        The component of x - c along the eigenvectors of A with eigenvalue above
        P eps max|lambda| (smaller ones count as the null space: rounding of ``eigh``).
        """
        if self.global_min is None:
            return None
        lam, U = self._eig
        t = self.as_batch(theta)
        cut = self.n_params * torch.finfo(lam.dtype).eps * float(lam.abs().max())
        coords = (t - self.center) @ U[:, lam > cut]
        return torch.linalg.vector_norm(coords, dim=1)

    def init(
        self,
        R: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """R points N(center, I)."""
        z = draw_rows(self, torch.randn, (R, self.n_params), generator, device)
        return z + self.center.to(z.device)

    def loss_and_grad(self, theta: object) -> tuple[torch.Tensor, torch.Tensor]:
        r = self.as_batch(theta) - self.center
        g = r @ self.A  # A symmetric
        return 0.5 * (r * g).sum(1), g

    def hessian(self, theta: object) -> torch.Tensor:
        t = self.as_batch(theta)
        return self.A.expand(t.shape[0], -1, -1).clone()
