"""The two-layer network of Du et al. (ICLR 2019) in NTK scaling, as a batched problem.

Du, Zhai, Poczos & Singh, "Gradient descent provably optimizes over-parameterized neural
networks" (ICLR 2019). The network and loss are

    f(W, a, x) = (1 / sqrt m) sum_{r <= m} a_r phi(w_r . x),
    L(W) = 1/2 sum_{i <= n} (f(W, a, x_i) - y_i)^2          (a sum, as in the paper),

with a_r = +-1 fixed, w_r(0) ~ N(0, I_d) and unit-norm inputs; only W is trained, and

    dL/dw_r = (1 / sqrt m) a_r sum_i (u_i - y_i) phi'(w_r . x_i) x_i,   u_i = f(W, a, x_i).

The paper's Gram matrix at W is

    H(W)_ij = (1/m) x_i . x_j sum_r a_r^2 phi'(w_r . x_i) phi'(w_r . x_j),

whose expectation at W(0) is H-infinity (``landscope.kernels.ntk_gram``, kind ``h_inf``).

``TwoLayerNTK`` is L as a ``Problem`` over rows theta = W flattened (R, m d), trained by
``landscope.optim.run`` (``kernels.dynamics.train_two_layer`` runs GD on it and tracks
the NTK quantities); the functions below are the same model for callers holding W (R, m, d).

ReLU's derivative at 0 is taken as 1 here (the paper's 1{. >= 0}); the activation
registry's (torch's) relu'(0) is 0. The two differ only on a set of measure zero.
"""

from __future__ import annotations

import math

import torch

from .. import activations as acts
from .._validate import as_param_batch, check_finite

__all__ = [
    "TwoLayerNTK",
    "two_layer_gram",
    "two_layer_init",
    "two_layer_loss_and_grad",
    "two_layer_output",
]

# Entries of sum_r 1{.}1{.} are integers <= m: float32 holds them (and every partial sum)
# exactly up to 2^24, at half the cost of a float64 product.
_EXACT_COUNT_MAX_M = 2**24


def two_layer_init(
    R: int,
    m: int,
    d: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's initialization for R runs: w_r(0) ~ N(0, I_d), a_r uniform on {-1, +1}.

    Draws on the generator's device (W0 first, then a), then moves to ``device``.

    Returns:
        W0 (R, m, d) and a (R, m), both of ``dtype``.

    Raises:
        ValueError: R, m or d below 1.
    """
    if min(R, m, d) < 1:
        raise ValueError(f"need R, m, d >= 1; got R = {R}, m = {m}, d = {d}.")
    gdev = generator.device if generator is not None else torch.device("cpu")
    W0 = torch.randn(R, m, d, generator=generator, dtype=dtype, device=gdev)
    a = torch.randint(0, 2, (R, m), generator=generator, device=gdev).to(dtype) * 2 - 1
    if device is not None:
        W0, a = W0.to(device), a.to(device)
    return W0, a


def _check_inputs(
    X: torch.Tensor, W: torch.Tensor, a: torch.Tensor, y: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Shapes and finiteness; returns X and y in W's dtype and device (X (n, d) or (R, n, d))."""
    if W.ndim != 3:
        raise ValueError(f"W has shape {tuple(W.shape)}; expected (R, m, d).")
    R, m, d = W.shape
    if a.shape != (R, m):
        raise ValueError(f"a has shape {tuple(a.shape)}; expected (R, m) = ({R}, {m}).")
    if X.ndim not in (2, 3) or X.shape[-1] != d or (X.ndim == 3 and X.shape[0] != R):
        raise ValueError(
            f"X has shape {tuple(X.shape)}; expected (n, {d}) shared by all runs or "
            f"(R, n, {d}) = ({R}, n, {d}) per run."
        )
    n = X.shape[-2]
    if y is not None and (
        y.ndim not in (1, 2) or y.shape[-1] != n or y.shape[:-1] not in ((), (R,))
    ):
        raise ValueError(f"y has shape {tuple(y.shape)}; expected ({n},) or ({R}, {n}).")
    if not W.dtype.is_floating_point:
        raise ValueError(f"W has dtype {W.dtype}; use float64 or float32.")
    for name, t in (("X", X), ("W", W), ("a", a)) + ((("y", y),) if y is not None else ()):
        check_finite(name, t)
    X = X.to(dtype=W.dtype, device=W.device)
    if y is not None:
        y = y.to(dtype=W.dtype, device=W.device)
    return X, a.to(dtype=W.dtype, device=W.device), y


def _xt(X: torch.Tensor) -> torch.Tensor:
    return X.transpose(-1, -2).contiguous()


def two_layer_output(
    X: torch.Tensor, W: torch.Tensor, a: torch.Tensor, activation: str = "relu"
) -> torch.Tensor:
    """u_i = (1 / sqrt m) sum_r a_r phi(w_r . x_i) for every run: (R, n).

    Args:
        X: inputs (n, d) shared by all runs, or (R, n, d).
        W: first-layer weights (R, m, d).
        a: output weights (R, m).
    """
    X, a, _ = _check_inputs(X, W, a)
    act = acts.get(activation)
    a_s = a / math.sqrt(W.shape[1])
    return torch.bmm(a_s[:, None, :], act.phi(W @ _xt(X))).squeeze(1)


def two_layer_loss_and_grad(
    X: torch.Tensor,
    y: torch.Tensor,
    W: torch.Tensor,
    a: torch.Tensor,
    activation: str = "relu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """L = 1/2 sum_i (u_i - y_i)^2 (R,) and the hand-written dL/dW (R, m, d).

    dL/dw_r = (1 / sqrt m) a_r sum_i (u_i - y_i) phi'(w_r . x_i) x_i, with ReLU's
    derivative 1{w_r . x_i >= 0} as in the paper: ``TwoLayerNTK.loss_and_grad``.
    """
    X, a, y = _check_inputs(X, W, a, y)
    R, m, d = W.shape
    loss, g = TwoLayerNTK(X, y, a, activation).loss_and_grad(W.reshape(R, m * d))
    return loss, g.view(R, m, d)


def _gram(
    D: torch.Tensor, a: torch.Tensor, K: torch.Tensor, exact_counts: bool, dtype: torch.dtype
) -> torch.Tensor:
    """H_ij = (1/m) K_ij sum_r a_r^2 D_ri D_rj from D (R, m, n) (bool for ReLU), K (., n, n)."""
    m = D.shape[1]
    if exact_counts:  # ReLU with |a_r| = 1: integer counts, exact in float32
        Pf = D.to(torch.float32)
        C = (Pf.transpose(1, 2) @ Pf).to(dtype)
    else:
        Dw = D.to(dtype) * a.abs()[:, :, None]
        C = Dw.transpose(1, 2) @ Dw
    return K * C / m


def _exact_counts(relu: bool, a: torch.Tensor) -> bool:
    return relu and a.shape[-1] <= _EXACT_COUNT_MAX_M and bool((a.abs() == 1).all())


def two_layer_gram(
    X: torch.Tensor, W: torch.Tensor, a: torch.Tensor, activation: str = "relu"
) -> torch.Tensor:
    """The finite-width Gram matrix H(W) of every run, (R, n, n).

    H_ij = (1/m) x_i . x_j sum_r a_r^2 phi'(w_r . x_i) phi'(w_r . x_j); for ReLU the
    indicators 1{w_r . x >= 0}. At W(0) its expectation is H-infinity (Du et al., eq. 3.1).
    """
    X, a, _ = _check_inputs(X, W, a)
    act = acts.get(activation)
    relu = act.name == "relu"
    Z = W @ _xt(X)
    D = Z >= 0 if relu else act.dphi(Z)
    return _gram(D, a, X @ _xt(X), _exact_counts(relu, a), W.dtype)


class TwoLayerNTK:
    """L(W) = 1/2 sum_i (u_i - y_i)^2, u_i = (1/sqrt m) sum_r a_r phi(w_r . x_i), per row.

    Rows theta (R, m d) are the first layers W (R, m, d) flattened row-major; the output
    weights a are data, fixed. Each of X (n, d), y (n,) and a (m,) is shared by every row,
    or given per row: X (R, n, d), y (R, n), a (R, m), the same R for all that are.

    The gradient is the hand-written one on scratch buffers kept between calls (a step
    is two thin matmuls and three elementwise passes over (R, m, n); allocating the
    buffers anew costs page faults at large m n): ``loss_and_grad`` is not re-entrant,
    so one instance must not be evaluated from two threads at once. Returned tensors are
    always new. ``loss`` is built from plain tensor operations (autograd goes through it).

    The loss is computed as ||u - y||^2 / 2 from the norm ||u - y||, so that the
    stopping test loss <= tol^2 / 2 (with tol^2 rounded as tol * tol) is exactly
    ||u - y|| <= tol, and sqrt(2 loss) gives ||u - y|| back exactly (x -> fl(x^2) is
    strictly increasing on floats and sqrt(fl(x^2)) = x in binary floating point).

    Capabilities: ``RowData`` (``select``; itself when nothing is per row) and
    ``Residuals`` (r = u - y, J = du/dtheta). ``global_min`` is None (0 once the net
    interpolates, which needs m large enough); ``symmetry`` is None (a neuron
    permutation must move a, which is data here, not a block of theta).

    Args:
        X: inputs (n, d) or (R, n, d), finite (unit norm in the paper; not enforced).
            Its dtype and device are the problem's.
        y: labels (n,) or (R, n).
        a: output weights (m,) or (R, m) (+-1 in the paper).
        activation: a ``landscope.activations`` name (ReLU is the paper's).

    Raises:
        ValueError: shapes that disagree, NaN or infinity in the data, an unknown
            activation.
    """

    global_min: float | None = None
    symmetry: str | None = None

    def __init__(
        self,
        X: torch.Tensor,
        y: torch.Tensor,
        a: torch.Tensor,
        activation: str | acts.Activation = "relu",
    ) -> None:
        if X.ndim not in (2, 3) or not X.dtype.is_floating_point:
            raise ValueError(
                f"X has shape {tuple(X.shape)} and dtype {X.dtype}; expected a float "
                "tensor (n, d) or (R, n, d)."
            )
        n, d = X.shape[-2:]
        if a.ndim not in (1, 2):
            raise ValueError(f"a has shape {tuple(a.shape)}; expected (m,) or (R, m).")
        if y.ndim not in (1, 2) or y.shape[-1] != n:
            raise ValueError(f"y has shape {tuple(y.shape)}; expected ({n},) or (R, {n}).")
        rows = {t.shape[0] for t, k in ((X, 3), (y, 2), (a, 2)) if t.ndim == k}
        if len(rows) > 1:
            raise ValueError(
                f"X {tuple(X.shape)}, y {tuple(y.shape)} and a {tuple(a.shape)} give "
                "different numbers of rows."
            )
        for name, t in (("X", X), ("y", y), ("a", a)):
            check_finite(name, t)
        self.activation = acts.get(activation) if isinstance(activation, str) else activation
        self.relu = self.activation.name == "relu"
        self.dtype, self.device = X.dtype, X.device
        self.rows: int | None = rows.pop() if rows else None  # None: any number of rows
        self.m, self.d, self.n = a.shape[-1], d, n
        self.n_params = self.m * d
        self._set(X, y.to(X.dtype), a.to(X.dtype))

    def _set(self, X: torch.Tensor, y: torch.Tensor, a: torch.Tensor) -> None:
        self.X, self.Xt, self.y, self.a = X, _xt(X), y, a
        self.a_s = a / math.sqrt(self.m)
        self._a3 = self.a_s[..., :, None]  # scales the rows of dL/dW: (R, m, 1) or (m, 1)
        self._a_bmm = self.a_s[:, None, :] if a.ndim == 2 else None  # (R, 1, m)
        self._Z: torch.Tensor | None = None  # scratch (R', m, n), grown on demand
        self._P: torch.Tensor | None = None  # ReLU's pattern, bool, same shape
        # the iterate (and its version: in-place changes bump it) whose pattern _P holds
        self._fwd: tuple[torch.Tensor, int] | None = None

    def select(self, rows: torch.Tensor) -> TwoLayerNTK:
        """The same problem for rows ``rows`` only (no re-validation: a hot path)."""
        if self.rows is None:
            return self
        out = object.__new__(TwoLayerNTK)
        out.__dict__.update(self.__dict__)
        X = self.X[rows] if self.X.ndim == 3 else self.X
        y = self.y[rows] if self.y.ndim == 2 else self.y
        a = self.a[rows] if self.a.ndim == 2 else self.a
        out.rows = int(rows.numel())
        out._set(X, y, a)
        return out

    # -- the network ---------------------------------------------------------------------

    def weights(self, theta: torch.Tensor) -> torch.Tensor:
        """theta (R, m d) as W (R, m, d) (a view)."""
        if (
            theta.ndim != 2
            or theta.shape[1] != self.n_params
            or (self.rows is not None and theta.shape[0] != self.rows)
        ):
            want = "R" if self.rows is None else self.rows
            raise ValueError(
                f"theta has shape {tuple(theta.shape)}; this problem takes "
                f"({want}, {self.n_params})."
            )
        return theta.reshape(theta.shape[0], self.m, self.d)

    def preactivations(self, W: torch.Tensor) -> torch.Tensor:
        """Z_ri = w_r . x_i (R, m, n) of weights W (R, m, d)."""
        return torch.matmul(W, self.Xt)

    def phi_prime(self, Z: torch.Tensor) -> torch.Tensor:
        """phi'(Z) with the paper's ReLU convention: 1{Z >= 0} (bool) for ReLU."""
        return Z >= 0 if self.relu else self.activation.dphi(Z)

    def pattern(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """P = 1{W X' >= 0} (R, m, n) bool and phi'(W X') (P itself for ReLU) at theta.

        For ReLU at the very iterate the last ``loss_and_grad`` evaluated (the same
        tensor, not modified in place since), P is that evaluation's pattern: no product
        is recomputed (what makes tracking the patterns of a GD run cheap). Otherwise
        W X' is recomputed on the scratch buffers. The ReLU result is a view of a
        scratch buffer: read it before the next evaluation.
        """
        W = self.weights(theta)
        R = W.shape[0]
        fwd = self._fwd
        if self.relu and fwd is not None and fwd[0] is theta and fwd[1] == theta._version:
            P = self._P[:R]
            return P, P
        Z, P = self._scratch(R)
        torch.matmul(W, self.Xt, out=Z)
        if not self.relu:
            return Z >= 0, self.activation.dphi(Z)
        torch.ge(Z, 0, out=P)
        self._fwd = (theta, theta._version)
        return P, P

    def _a_rows(self, R: int) -> torch.Tensor:
        """a / sqrt(m) as (R, 1, m) for a batched product over neurons."""
        if self._a_bmm is not None:
            return self._a_bmm
        return self.a_s.expand(R, self.m)[:, None, :]

    def _errors(self, F: torch.Tensor) -> torch.Tensor:
        """e = u - y (R, n) from the activations F = phi(Z) (R, m, n)."""
        return torch.bmm(self._a_rows(F.shape[0]), F).squeeze(1) - self.y

    def _scratch(self, R: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        self._fwd = None  # whatever the buffers held is about to be overwritten
        if self._Z is None or self._Z.shape[0] < R:
            self._Z = torch.empty(R, self.m, self.n, dtype=self.dtype, device=self.device)
            if self.relu:
                self._P = torch.empty(self._Z.shape, dtype=torch.bool, device=self.device)
        if self._Z.shape[0] == R:  # the usual case: no views to make
            return self._Z, self._P
        return self._Z[:R], (self._P[:R] if self.relu else None)

    # -- the Problem protocol ----------------------------------------------------------

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """L (R,) and dL/dtheta (R, m d), in place on the scratch buffers.

        ReLU: Z = W X' (R, m, n) in place, P = 1{Z >= 0}, Z <- relu(Z), u = a_s' Z, then
        Z <- P * e and G = Z X: two thin matmuls and three elementwise passes.
        """
        W = self.weights(theta)
        R = W.shape[0]
        Z, P = self._scratch(R)
        torch.matmul(W, self.Xt, out=Z)
        if self.relu:
            torch.ge(Z, 0, out=P)
            Z.clamp_min_(0)
            F, D = Z, P
        else:  # phi and phi' before Z is overwritten below
            F, D = self.activation.phi(Z), self.activation.dphi(Z)
        e = self._errors(F)
        loss = torch.linalg.vector_norm(e, dim=1).square_().mul_(0.5)
        torch.mul(D, e[:, None, :], out=Z)
        G = torch.empty_like(W)
        torch.matmul(Z, self.X, out=G)
        G.mul_(self._a3)
        self._fwd = (theta, theta._version) if self.relu else None
        return loss, G.view(theta.shape)

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        return self.loss_and_grad(theta)[1]

    def residuals(self, theta: torch.Tensor) -> torch.Tensor:
        """r = u - y (R, n): the loss is |r|^2 / 2."""
        W = self.weights(theta)
        return self._errors(self.activation.phi(self.preactivations(W)))

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        return 0.5 * torch.linalg.vector_norm(self.residuals(theta), dim=1).square()

    def residuals_and_jacobian(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """r (R, n) and J = dr/dtheta (R, n, m d); block r of J_i: (a_r / sqrt m) phi'(z_ri) x_i."""
        W = self.weights(theta)
        R = W.shape[0]
        Z = self.preactivations(W)
        e = self._errors(self.activation.phi(Z))
        A = self.phi_prime(Z).to(self.dtype) * self._a_rows(R).transpose(1, 2)  # (R, m, n)
        X = self.X.expand(R, self.n, self.d) if self.X.ndim == 2 else self.X
        J = A.transpose(1, 2)[..., None] * X[:, :, None, :]  # (R, n, m, d)
        return e, J.reshape(R, self.n, self.n_params)

    def hvp(self, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """H v without forming H (R, m d).

        (H v)_r = (a_r / sqrt m) sum_i [phi'(z_ri) (J v)_i + e_i phi''(z_ri) x_i . v_r] x_i
        with (J v)_i = sum_s (a_s / sqrt m) phi'(z_si) x_i . v_s.
        """
        W = self.weights(theta)
        R = W.shape[0]
        V = v.reshape(W.shape)
        Z = self.preactivations(W)
        ZV = self.preactivations(V)  # x_i . v_r
        e = self._errors(self.activation.phi(Z))
        A = self.phi_prime(Z).to(self.dtype)
        Jv = torch.bmm(self._a_rows(R), A * ZV).squeeze(1)  # (R, n)
        coef = A * Jv[:, None, :] + self.activation.ddphi(Z) * e[:, None, :] * ZV
        return (torch.matmul(coef, self.X) * self._a3).reshape(v.shape)

    def hessian(self, theta: torch.Tensor) -> torch.Tensor:
        """Dense Hessians (R, m d, m d): J'J plus blockdiag_r((a_r / sqrt m) sum_i e_i
        phi''(z_ri) x_i x_i'); O((m d)^2) memory per row, for small nets."""
        W = self.weights(theta)
        R, m, d = W.shape
        e, J = self.residuals_and_jacobian(theta)
        H = (J.transpose(1, 2) @ J).reshape(R, m, d, m, d)
        Z = self.preactivations(W)
        C = self.activation.ddphi(Z) * e[:, None, :] * self._a_rows(R).transpose(1, 2)
        X = self.X.expand(R, self.n, d) if self.X.ndim == 2 else self.X
        blocks = torch.einsum("rmi,ria,rib->rmab", C, X, X)  # (R, m, d, d)
        idx = torch.arange(m, device=H.device)
        H[:, idx, :, idx, :] += blocks.transpose(0, 1)
        return H.reshape(R, m * d, m * d)

    def init(
        self,
        R: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """The paper's w_r(0) ~ N(0, I_d): R rows (the W0 of ``two_layer_init``)."""
        gdev = generator.device if generator is not None else torch.device("cpu")
        th = torch.randn(R, self.n_params, generator=generator, dtype=self.dtype, device=gdev)
        return th.to(device or self.device)

    def as_batch(self, theta: object) -> torch.Tensor:
        """A point (m d,) or (m, d), or a batch (R, m d) or (R, m, d), as (R, m d).

        Raises:
            ValueError: for any other shape.
        """
        return as_param_batch(
            theta,
            self.n_params,
            row_shape=(self.m, self.d),
            dtype=self.dtype,
            device=self.device,
        )
