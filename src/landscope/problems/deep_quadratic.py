"""Deep quadratic-activation networks on samples, batched over R rows with ``torch.func``.

Kazemipour, Larsen & Druckmann, "No spurious local minima in training deep quadratic
networks" (2019). L quadratic layers of widths h_1..h_L, then a linear read-out:

    z_0 = x,   z_l = (W_l z_{l-1})^2  (elementwise),   f(x) = a . z_L,

a polynomial of degree 2^L in x. With ``added_norm`` every layer also passes on the
squared norm of its input as one more unit, z_l = [(W_l z_{l-1})^2, |z_{l-1}|^2] (the
input-norm regressor of the shallow network applied layer by layer), so W_{l+1} and a
have one more column each. With L = 1 this is exactly ``QuadraticNet`` (variant
``regular`` or ``added_norm``), with the same parameter layout: W_1 row-major, then a
(then g = the read-out weight of |x|^2).

Parameter rows: W_1 (h_1 x d), W_2 (h_2 x h_1'), ..., a (h_L'), each row-major, where
h' = h + 1 with the added norm. Loss 1/(2m) sum_i (f(x_i) - y_i)^2. Loss, gradient,
Hessian-vector products and dense Hessians come from ``ModuleLoss`` (``torch.func``).

``planted_targets`` draws a teacher network of the same form (``planted_data``: with
its Gaussian inputs), and ``embed`` places a narrower network's weights inside a wider
one (zero-padded units), which computes the same function: so on a teacher's targets
every student at least as wide as the teacher in every layer has global minimum 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.func import jacfwd, vmap

from .empirical import ModuleLoss, _load_jvp_decompositions

__all__ = ["DeepQuadraticModule", "DeepQuadraticNet", "planted_data", "planted_targets"]


class DeepQuadraticModule(torch.nn.Module):
    """The network above as an ``nn.Module``: ``forward(X (m, d)) -> (m, 1)``."""

    def __init__(self, d: int, widths: Sequence[int], added_norm: bool = False) -> None:
        super().__init__()
        extra = int(bool(added_norm))
        dims = [d]
        layers = []
        for h in widths:
            layers.append(torch.nn.Linear(dims[-1], h, bias=False, dtype=torch.float64))
            dims.append(h + extra)
        self.layers = torch.nn.ModuleList(layers)
        self.readout = torch.nn.Linear(dims[-1], 1, bias=False, dtype=torch.float64)
        self.added_norm = bool(added_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x
        for lin in self.layers:
            u = lin(z).square()
            if self.added_norm:
                u = torch.cat([u, z.square().sum(-1, keepdim=True)], dim=-1)
            z = u
        return self.readout(z)


def _check_widths(widths: object) -> tuple[int, ...]:
    try:
        w = tuple(widths)  # type: ignore[arg-type]
    except TypeError as err:
        raise ValueError(
            f"widths must be a sequence of positive integers, got {widths!r}."
        ) from err
    if not w or any(
        isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1 for h in w
    ):
        raise ValueError(f"widths must be a non-empty sequence of positive integers, got {w!r}.")
    return tuple(int(h) for h in w)


@dataclass(frozen=True, eq=False)
class DeepQuadraticNet:
    """Squared loss of a deep quadratic network on samples (X, y), over R rows.

    Args:
        X: inputs (m, d).
        y: targets (m,).
        widths: hidden units per quadratic layer (h_1, ..., h_L), L >= 1.
        added_norm: pass each layer's squared input norm on as one more unit.
        global_min: the optimal value when the caller knows it (0 on a teacher's targets
            for a student at least as wide as the teacher, see ``embed``); else None.
        dtype, device: as elsewhere.

    Raises:
        ValueError: for mis-shaped, empty or non-finite data, or bad widths.
    """

    X: torch.Tensor = field(repr=False)
    y: torch.Tensor = field(repr=False)
    widths: tuple[int, ...] = (1,)
    added_norm: bool = False
    global_min: float | None = None
    dtype: torch.dtype | str = torch.float64
    device: torch.device | str = "cpu"
    d: int = field(init=False)
    objective: ModuleLoss = field(init=False, repr=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "widths", _check_widths(self.widths))
        X = torch.as_tensor(self.X)
        if X.dim() != 2 or X.shape[0] == 0:
            raise ValueError(f"X has shape {tuple(X.shape)}; expected (m, d) with m >= 1.")
        set_(self, "d", int(X.shape[1]))
        module = DeepQuadraticModule(self.d, self.widths, self.added_norm)
        obj = ModuleLoss(module, X, self.y, dtype=self.dtype, device=self.device)
        set_(self, "objective", obj)
        set_(self, "X", obj.X)
        set_(self, "y", obj.y.reshape(-1))
        set_(self, "dtype", obj.dtype)
        set_(self, "device", obj.device)

    # -- layout ----------------------------------------------------------------------
    @property
    def depth(self) -> int:
        return len(self.widths)

    @property
    def n_params(self) -> int:
        return self.objective.n_params

    @property
    def symmetry(self) -> str | None:
        """``"Sn"`` for one layer without the norm unit, else ``None``.

        Every layer's hidden units permute (with the matching columns of the next layer),
        and each flips sign. With one layer and no norm unit, ``split`` gives (W_1, a) with
        a one entry per hidden unit: ``"Sn"`` as ``QuadraticNet`` declares it. With more
        layers the group is a product over the layers, and with the norm unit a has one
        more entry than W_1 has rows; neither is a group ``landscope.symmetry`` names.
        """
        return "Sn" if self.depth == 1 and not self.added_norm else None

    def shapes(self) -> list[tuple[int, int]]:
        """(rows, columns) of W_1..W_L and of the read-out (1, h_L')."""
        extra = int(self.added_norm)
        dims = [self.d] + [h + extra for h in self.widths]
        return [(h, dims[i]) for i, h in enumerate(self.widths)] + [(1, dims[-1])]

    def split(self, theta: torch.Tensor) -> list[torch.Tensor]:
        """(R, P) -> [W_1 (R, h_1, d), ..., W_L, a (R, h_L')]."""
        out, lo = [], 0
        for r, c in self.shapes():
            out.append(theta[:, lo : lo + r * c].reshape(theta.shape[0], r, c))
            lo += r * c
        out[-1] = out[-1][:, 0, :]
        return out

    def join(self, parts: Sequence[torch.Tensor]) -> torch.Tensor:
        """The inverse of ``split``: ``join(split(theta))`` is theta."""
        R = parts[0].shape[0]
        return torch.cat([p.reshape(R, -1) for p in parts], dim=1)

    def as_batch(self, theta: object) -> torch.Tensor:
        return self.objective.as_batch(theta)

    def init(
        self,
        R: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Every W_l and a i.i.d. N(0, 1/fan_in) (LeCun normal), R rows in one batch."""
        return self.objective.init(R, generator=generator, device=device)

    def embed(
        self, theta: torch.Tensor, widths: Sequence[int], added_norm: bool | None = None
    ) -> torch.Tensor:
        """Rows of a wider network computing the same function as these rows.

        Args:
            theta: rows of this network.
            widths: the wider network's widths, each >= this one's (same depth).
            added_norm: whether the wider network has the norm units (default: as this
                one). A network without them embeds in one with them (zero weights on the
                norm units), not the other way round.

        Units beyond this network's get zero weights in and out; the norm unit keeps its
        place at the end of each layer. Raises ValueError if the embedding is impossible.
        """
        new = _check_widths(widths)
        to_norm = self.added_norm if added_norm is None else bool(added_norm)
        if (
            len(new) != self.depth
            or any(b < a for a, b in zip(self.widths, new, strict=True))
            or (self.added_norm and not to_norm)
        ):
            raise ValueError(
                f"cannot embed widths {self.widths} (added_norm={self.added_norm}) into "
                f"{new} (added_norm={to_norm})."
            )
        parts = self.split(self.as_batch(theta))
        R, old_x, new_x = parts[0].shape[0], int(self.added_norm), int(to_norm)
        old_in = [self.d] + list(self.widths[:-1])  # real units feeding each layer
        new_in = [self.d] + list(new[:-1])
        out = []
        for l, src in enumerate(parts[:-1]):
            W = src.new_zeros(R, new[l], new_in[l] + (new_x if l else 0))
            W[:, : self.widths[l], : old_in[l]] = src[:, :, : old_in[l]]
            if l and old_x:  # the previous layer's norm unit: the last column in both
                W[:, : self.widths[l], -1] = src[:, :, -1]
            out.append(W)
        a = parts[-1].new_zeros(R, new[-1] + new_x)
        a[:, : self.widths[-1]] = parts[-1][:, : self.widths[-1]]
        if old_x:
            a[:, -1] = parts[-1][:, -1]
        out.append(a)
        return torch.cat([p.reshape(R, -1) for p in out], dim=1)

    # -- objective --------------------------------------------------------------------
    def predict(self, theta: object, X: object | None = None) -> torch.Tensor:
        """f(x) for every row and sample: (R, m), on X (default: the training inputs)."""
        t = self.as_batch(theta)
        Xt = self.X if X is None else torch.as_tensor(X).to(self.dtype).to(self.device)
        return self._predict(t, Xt)

    def _predict(self, t: torch.Tensor, Xt: torch.Tensor) -> torch.Tensor:
        z = Xt.expand(t.shape[0], *Xt.shape)
        parts = self.split(t)
        for W in parts[:-1]:
            u = (z @ W.transpose(1, 2)).square()
            if self.added_norm:
                u = torch.cat([u, z.square().sum(-1, keepdim=True)], dim=-1)
            z = u
        return (z @ parts[-1][:, :, None])[..., 0]

    def _backprop(self, t: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """f (R, m) and, per sample, delta_1, z_0, ..., delta_L, z_{L-1}, z_L.

        With u_l = W_l z_{l-1} and delta_l = df/du_l: delta_L = 2 a[:h_L] u_L, and
        df/dz_{l-1} = W_l' delta_l (+ 2 a_norm z_{l-1} through the norm unit), of which the
        first h_{l-1} entries times 2 u_{l-1} give delta_{l-1}; then df/dW_l =
        delta_l z_{l-1}' and df/da = z_L.
        """
        R, m = t.shape[0], self.X.shape[0]
        parts = self.split(t)
        zs, us = [self.X.expand(R, *self.X.shape)], []
        for W in parts[:-1]:
            z = zs[-1]
            u = z @ W.transpose(1, 2)
            us.append(u)
            nxt = u.square()
            if self.added_norm:
                nxt = torch.cat([nxt, z.square().sum(-1, keepdim=True)], dim=-1)
            zs.append(nxt)
        a = parts[-1]
        f = (zs[-1] @ a[:, :, None])[..., 0]
        out = [zs[-1]]  # df/da, then (z_{l-1}, delta_l) from the last layer down
        # df/dz_L, the gradient arriving at the last layer's output
        gz = a[:, None, :].expand(R, m, a.shape[1])
        for l in range(self.depth - 1, -1, -1):
            h = self.widths[l]
            delta = 2 * gz[..., :h] * us[l]  # (R, m, h_l)
            out += [zs[l], delta]
            if l == 0:
                break
            gprev = delta @ parts[l]  # (R, m, in_l)
            if self.added_norm:
                gprev = gprev + 2 * gz[..., h:] * zs[l]
            gz = gprev
        return f, out[::-1]

    def residuals_and_jacobian(self, theta: object) -> tuple[torch.Tensor, torch.Tensor]:
        """Scaled residuals r = (f(x_i) - y_i) / sqrt(m), (R, m), so that the loss is
        |r|^2 / 2, and their Jacobian (R, m, P), by per-sample back-propagation
        (``_backprop``; ``jacobian_autograd`` is the slow reference).
        """
        t = self.as_batch(theta)
        R, m = t.shape[0], self.X.shape[0]
        f, fac = self._backprop(t)
        blocks = [
            (delta[..., :, None] * z[..., None, :]).reshape(R, m, -1)
            for delta, z in zip(fac[0:-1:2], fac[1:-1:2], strict=True)
        ]
        J = torch.cat([*blocks, fac[-1]], dim=2) / math.sqrt(m)
        return (f - self.y) / math.sqrt(m), J

    def residuals_and_factors(
        self, theta: object
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """Residuals r (R, m) and the Jacobian as Kronecker factors (``FactoredJacobian``).

        Row i of block l of J is the outer product A_l[i] (x) B_l[i] flattened row-major:
        (delta_l / sqrt(m), z_{l-1}) for W_l and (1 / sqrt(m), z_L) for the read-out (see
        ``residuals_and_jacobian``), so J J' = sum_l (A_l A_l') * (B_l B_l') costs
        m^2 (h_l + in_l) per layer instead of m^2 P: what lets Levenberg-Marquardt take
        students of 140 units per layer (P ~ 2 x 10^4) in its m x m form.
        """
        t = self.as_batch(theta)
        R, m = t.shape[0], self.X.shape[0]
        scale = 1.0 / math.sqrt(m)
        f, fac = self._backprop(t)
        factors = [(delta * scale, z) for delta, z in zip(fac[0:-1:2], fac[1:-1:2], strict=True)]
        ones = torch.full((R, m, 1), scale, dtype=t.dtype, device=t.device)
        return (f - self.y) * scale, [*factors, (ones, fac[-1])]

    def residuals(self, theta: object) -> torch.Tensor:
        """(f(x_i) - y_i) / sqrt(m), (R, m): the loss is |r|^2 / 2."""
        t = self.as_batch(theta)
        return (self._predict(t, self.X) - self.y) / math.sqrt(self.X.shape[0])

    def jacobian_autograd(self, theta: object) -> torch.Tensor:
        """The Jacobian of ``residuals_and_jacobian`` by ``torch.func.jacfwd`` (slow)."""
        t = self.as_batch(theta)
        scale = 1.0 / math.sqrt(self.X.shape[0])

        def row_res(row: torch.Tensor) -> torch.Tensor:
            return (self._predict(row[None], self.X)[0] - self.y) * scale

        _load_jvp_decompositions()
        return vmap(jacfwd(row_res))(t)

    def _loss_rows(self, t: torch.Tensor) -> torch.Tensor:
        r = self._predict(t, self.X) - self.y
        return 0.5 * (r * r).mean(1)

    def loss(self, theta: object) -> torch.Tensor:
        """Loss of each row (R,), by one batched forward pass."""
        with torch.no_grad():
            return self._loss_rows(self.as_batch(theta))

    def loss_and_grad(self, theta: object) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss (R,) and gradient (R, P): one batched forward and one reverse pass.

        Rows do not interact, so the gradient of the summed loss is every row's own
        gradient. (``objective.loss_and_grad`` computes the same through ``vmap``; the
        tests hold the two together.)
        """
        t = self.as_batch(theta).detach().requires_grad_(True)
        with torch.enable_grad():
            L = self._loss_rows(t)
            (g,) = torch.autograd.grad(L.sum(), t)
        return L.detach(), g

    def grad(self, theta: object) -> torch.Tensor:
        return self.loss_and_grad(theta)[1]

    def hvp(self, theta: object, v: object) -> torch.Tensor:
        return self.objective.hvp(theta, v)

    def hessian(self, theta: object) -> torch.Tensor:
        return self.objective.hessian(theta)


def planted_targets(
    X: torch.Tensor, widths: Sequence[int], generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets of a random teacher ``DeepQuadraticNet`` (no added norm) on X.

    The teacher's W_l are N(0, 1/fan_in) and its read-out signs are +-1 at random.

    Returns:
        (y (m,), the teacher's parameter row (P_teacher,)).
    """
    teacher = DeepQuadraticNet(X, torch.zeros(X.shape[0], dtype=X.dtype), widths=widths)
    theta = teacher.init(1, generator=generator)
    parts = teacher.split(theta)
    signs = torch.where(torch.rand(parts[-1].shape, generator=generator) < 0.5, -1.0, 1.0)
    parts[-1] = signs.to(theta.dtype)
    theta = teacher.join(parts)
    return teacher.predict(theta)[0], theta[0]


def planted_data(
    m: int, d: int, widths: Sequence[int], *, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """m Gaussian inputs X ~ N(0, I_d) (drawn first) and a random teacher's targets on them.

    The teacher is ``planted_targets``'s, drawn from the same generator after X.

    Returns:
        (X (m, d), y (m,)), float64 on the CPU.

    Raises:
        ValueError: for m or d below 1, or bad widths.
    """
    for name, n in (("m", m), ("d", d)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{name} must be a positive integer, got {n!r}.")
    X = torch.randn(m, d, generator=generator, dtype=torch.float64)
    y, _ = planted_targets(X, _check_widths(widths), generator)
    return X, y
