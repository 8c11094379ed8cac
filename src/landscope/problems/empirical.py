"""Empirical (sample-average) losses, batched over R parameter rows with ``torch.func``.

Two problems live here:

* ``ModuleLoss``: any ``torch.nn.Module`` with fixed data (X, y). A parameter row is the
  module's parameters flattened (in ``named_parameters()`` order, each tensor row-major)
  into P entries; the loss of a row is computed by ``torch.func.functional_call`` with
  those parameters, and batched over rows with ``torch.func.vmap``:

      loss      vmap(row_loss)
      grad      vmap(grad_and_value(row_loss))                (reverse mode)
      hvp       vmap(jvp(grad(row_loss)))                      (forward-over-reverse)
      hvp_many  vmap over rows of vmap over vectors: m products of one row share its
                forward pass and gradient
      hessian   vmap(hessian(row_loss))                        (dense P x P: small P only)

* ``EmpiricalTeacherStudent``: the two-layer ReLU teacher-student of
  ``ReluTeacherStudent`` (same parameters, init and teacher) with the population
  expectation replaced by an average over m fixed Gaussian samples,

      F_m(W, a) = 1/(2m) sum_{s<=m} (f(x_s) - y_s)^2,   x_s ~ N(0, I_d) drawn from data_seed,

  which converges to the closed form F(W, a) at rate 1/sqrt(m). It is a ModuleLoss of a
  small student module, so both share one code path.

Autograd convention: relu'(0) = 0 and relu'' = 0 everywhere. The empirical Hessian is
therefore the Hessian of the piecewise-smooth F_m away from its kinks; it does not
converge to the population Hessian in general, because the population Hessian also holds
the term E[(f - y) a_i delta(w_i . x) x x'] that comes from smoothing the kinks by the
expectation. That term vanishes where the residual f - y is zero (at a global minimum of
a realizable problem), and the gradients do converge everywhere.
"""

from __future__ import annotations

import copy
import importlib
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.func import functional_call, grad, grad_and_value, hessian, jvp, vmap

from .._validate import as_param_batch, check_finite, resolve_device, resolve_dtype
from ._base import init_device
from .relu_teacher import ReluTeacherStudent

__all__ = ["EmpiricalTeacherStudent", "ModuleLoss"]

_CRITERIA = ("mse", "cross_entropy")
# Rough bytes of autograd working memory one vmap call may take by default.
_CHUNK_BYTES = 256 << 20


def _as_data(name: str, x: object) -> torch.Tensor:
    try:
        t = torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{name} could not be turned into a tensor: {err}") from err
    if t.dim() == 0:
        raise ValueError(f"{name} is a scalar; expected one entry (or row) per sample.")
    if t.shape[0] == 0:
        raise ValueError(f"{name} is empty; give at least one sample.")
    return t


def _load_jvp_decompositions() -> None:
    """Load torch's forward-AD decompositions quietly, before the first ``jvp``.

    torch loads them lazily on the first forward-mode call through ``torch.jit.script``,
    which torch 2.13 marks deprecated: under ``-W error`` (our test setting) the warning
    aborts that import and every later jvp. The module is cached after the first import.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            importlib.import_module("torch._decomp.decompositions_for_jvp")
        except ImportError:  # private module moved in another torch version: let jvp load it
            pass


@dataclass(frozen=True, eq=False)
class ModuleLoss:
    """Empirical loss of any ``torch.nn.Module`` on fixed data, over R parameter rows.

    For a row theta (the module's parameters flattened) and model output f_theta:

        mse:            L(theta) = 1/(2m) sum_s ||f_theta(x_s) - y_s||^2
        cross_entropy:  L(theta) = 1/m sum_s -log softmax(f_theta(x_s))_{y_s}

    plus ``weight_decay``/2 ||theta||^2 over every parameter, biases included (the penalty
    whose gradient is torch's SGD ``weight_decay`` term), in the loss and so in every
    gradient, Hessian-vector product and Hessian.

    A classifier that separates its training data has no finite minimizer under
    cross-entropy without weight decay: scaling its last layer up lowers the loss towards
    0 forever, so no run can be certified. Any weight decay > 0 makes the loss coercive
    (it grows as ||theta||^2 far out), so minimizers exist.

    ``mse`` is half the squared error summed over output entries and averaged over
    samples, the 1/2 E||f - y||^2 convention of the teacher-student problems (torch's
    ``MSELoss()`` also averages over output entries and has no 1/2).

    Args:
        model: any module whose ``model(X)`` is a function of its parameters and buffers
            only. It is deep-copied and cast to ``dtype``/``device``; later changes to the
            original do not reach the problem. Buffers are held fixed: put BatchNorm in
            ``eval()`` mode, and use no dropout (``vmap`` refuses random ops).
        X: inputs, first dimension the m samples (tensor or array); stored in the
            problem's dtype and device.
        y: targets with m entries along the first dimension. For ``mse`` its shape must
            equal the output's (a (m,) target for a (m, 1) output is accepted); for
            ``cross_entropy`` integer class labels of shape (m,), stored as int64.
        loss: ``"mse"`` (default) or ``"cross_entropy"``; stored as the attribute
            ``criterion`` (``loss`` is the method).
        weight_decay: lambda >= 0 of the penalty lambda/2 ||theta||^2 (default 0).
        criterion: the former name of ``loss``, still accepted (keyword only); giving
            both is an error.
        dtype: ``"float64"`` (default) or ``"float32"``.
        device: ``"cpu"`` or ``"cuda"``.
        init_scale: scale of the default init (see ``init``).
        chunk: rows per vmap call for loss and gradient (hvp uses half, the Hessian
            chunk // P). Default: as many as fit in about 256 MB of working memory by a
            rough estimate (4 x the per-sample sizes of the inputs and of every
            submodule's output, times m). Memory of one call grows as rows x m x width.

    Raises:
        ValueError: for empty data, NaN or infinity in X or y, different numbers of
            samples in X and y, an unknown loss, both ``loss`` and ``criterion``, a
            negative or non-finite weight_decay, a model without parameters, labels
            that are not integers in [0, C), or a model whose output does not fit y.

    Attributes:
        n_params: P, the number of scalar parameters (shared parameters counted once).
        names, shapes: the parameter tensors' names and shapes, in row order.
        criterion: the loss's name, ``"mse"`` or ``"cross_entropy"``.
    """

    model: torch.nn.Module
    X: torch.Tensor = field(repr=False)
    y: torch.Tensor = field(repr=False)
    criterion: str = "mse"
    dtype: torch.dtype | str = torch.float64
    device: torch.device | str = "cpu"
    init_scale: float = 1.0
    chunk: int | None = None
    weight_decay: float = 0.0
    names: tuple[str, ...] = field(init=False, repr=False)
    shapes: tuple[torch.Size, ...] = field(init=False, repr=False)
    _buffers: dict[str, torch.Tensor] = field(init=False, repr=False)
    _theta0: torch.Tensor = field(init=False, repr=False)

    def __init__(
        self,
        model: torch.nn.Module,
        X: object,
        y: object,
        loss: str | None = None,
        dtype: torch.dtype | str = torch.float64,
        device: torch.device | str = "cpu",
        init_scale: float = 1.0,
        chunk: int | None = None,
        *,
        weight_decay: float = 0.0,
        criterion: str | None = None,
    ) -> None:
        # A hand-written __init__: the documented keyword ``loss`` cannot be a field, since
        # ``loss`` is the method. Positional order is the former one (criterion fourth).
        if loss is not None and criterion is not None:
            raise ValueError(
                f"give the loss once: loss={loss!r} and criterion={criterion!r} "
                "(criterion is the former name of loss)."
            )
        word = "criterion" if criterion is not None else "loss"
        name = criterion if criterion is not None else ("mse" if loss is None else loss)
        if not isinstance(name, str) or name not in _CRITERIA:
            raise ValueError(f"unknown {word} {name!r}; choose one of {_CRITERIA}.")
        set_ = object.__setattr__
        for key, value in (
            ("model", model),
            ("X", X),
            ("y", y),
            ("criterion", name),
            ("dtype", dtype),
            ("device", device),
            ("init_scale", init_scale),
            ("chunk", chunk),
            ("weight_decay", weight_decay),
        ):
            set_(self, key, value)
        self.__post_init__()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "dtype", resolve_dtype(self.dtype))
        set_(self, "device", resolve_device(self.device))
        wd = self.weight_decay
        if isinstance(wd, bool) or not isinstance(wd, (int, float, np.floating, np.integer)):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {wd!r}.")
        if not (math.isfinite(wd) and wd >= 0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {wd!r}.")
        set_(self, "weight_decay", float(wd))
        if not isinstance(self.model, torch.nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(self.model).__name__}.")
        if not math.isfinite(self.init_scale) or self.init_scale <= 0:
            raise ValueError(f"init_scale must be a positive number, got {self.init_scale!r}.")
        if self.chunk is not None and (
            not isinstance(self.chunk, (int, np.integer)) or self.chunk < 1
        ):
            raise ValueError(f"chunk must be a positive integer or None, got {self.chunk!r}.")

        X = _as_data("X", self.X)
        y = _as_data("y", self.y)
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"X has {X.shape[0]} samples but y has {y.shape[0]}; they must match.")
        X = X.to(dtype=self.dtype, device=self.device)
        check_finite("X", X)
        if self.criterion == "cross_entropy":
            if y.is_floating_point():
                check_finite("y", y)
                if not bool((y == y.round()).all()):
                    raise ValueError(
                        "y holds non-integer values; cross_entropy needs class labels 0..C-1."
                    )
            if y.dim() != 1:
                raise ValueError(
                    f"y has shape {tuple(y.shape)}; cross_entropy needs labels of "
                    f"shape ({y.shape[0]},)."
                )
            y = y.to(dtype=torch.int64, device=self.device)
        else:
            y = y.to(dtype=self.dtype, device=self.device)
            check_finite("y", y)

        model = copy.deepcopy(self.model).to(dtype=self.dtype, device=self.device)
        params = dict(model.named_parameters())
        if not params:
            raise ValueError("model has no parameters; there is nothing to optimize.")
        set_(self, "names", tuple(params))
        set_(self, "shapes", tuple(p.shape for p in params.values()))
        set_(self, "_buffers", {k: b.detach() for k, b in model.named_buffers()})
        theta0 = torch.cat([p.detach().reshape(-1) for p in params.values()])
        set_(self, "_theta0", theta0[None, :])
        set_(self, "model", model)

        # One plain forward: checks that the model fits the data and sizes the chunks.
        sizes = [X[0].numel()]
        handles = [
            mod.register_forward_hook(
                lambda _m, _i, out: sizes.append(out[0].numel() if torch.is_tensor(out) else 0)
            )
            for mod in model.modules()
        ]
        try:
            with torch.no_grad():
                out = model(X)
        except (RuntimeError, ValueError, TypeError) as err:
            raise ValueError(f"model(X) failed on X of shape {tuple(X.shape)}: {err}") from err
        finally:
            for h in handles:
                h.remove()
        if not torch.is_tensor(out) or out.dim() == 0 or out.shape[0] != X.shape[0]:
            shape = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
            raise ValueError(f"model(X) gave {shape}; expected a tensor with {X.shape[0]} rows.")
        if self.criterion == "cross_entropy":
            if out.dim() != 2:
                raise ValueError(
                    f"model(X) has shape {tuple(out.shape)}; cross_entropy needs "
                    f"logits of shape ({X.shape[0]}, C)."
                )
            C = out.shape[1]
            if int(y.min()) < 0 or int(y.max()) >= C:
                raise ValueError(f"y holds labels outside 0..{C - 1} (the model has {C} outputs).")
        else:
            if y.shape != out.shape and y.dim() == 1 and out.shape == (y.shape[0], 1):
                y = y[:, None]  # (m,) targets for a (m, 1) output: reshape, never broadcast
            if y.shape != out.shape:
                raise ValueError(
                    f"y has shape {tuple(y.shape)} but model(X) has shape "
                    f"{tuple(out.shape)}; they must match for mse."
                )
        set_(self, "X", X)
        set_(self, "y", y)
        if self.chunk is None:
            per_row = 4 * X.shape[0] * sum(sizes) * X.element_size()
            set_(self, "chunk", max(1, _CHUNK_BYTES // max(per_row, 1)))

    # ----------------------------------------------------------------- layout
    @property
    def n_params(self) -> int:
        return int(self._theta0.shape[1])

    @property
    def symmetry(self) -> None:
        """``None``: no group is known for a general module.

        (An MLP's hidden units permute layer by layer, which ``connect.align_mlp`` uses,
        but that product of groups over several layers is not one ``landscope.symmetry``
        names.)
        """
        return None

    @property
    def global_min(self) -> float | None:
        """Unknown for a general model, with or without weight decay: ``None``."""
        return None

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    def as_batch(self, theta: object, *, name: str = "theta") -> torch.Tensor:
        """Validate a point (P,) or batch (R, P) and return it as (R, P) in the problem's dtype.

        Raises:
            ValueError: if the last dimension is not P.
        """
        return as_param_batch(theta, self.n_params, dtype=self.dtype, device=self.device, name=name)

    def split(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        """(R, P) -> {name: (R, *shape)}, views into ``theta``."""
        out, lo = {}, 0
        for name, shape in zip(self.names, self.shapes, strict=True):
            n = shape.numel()
            out[name] = theta[:, lo : lo + n].reshape(theta.shape[0], *shape)
            lo += n
        return out

    def join(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """{name: (R, *shape)} -> (R, P), the inverse of ``split``."""
        first = params[self.names[0]]
        return torch.cat([params[k].reshape(first.shape[0], -1) for k in self.names], dim=1)

    def current_point(self) -> torch.Tensor:
        """The model's own parameters (as given, cast to the problem's dtype) as a (1, P) row."""
        return self._theta0.clone()

    def init(
        self,
        R: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """R independent rows of the default init, drawn in one batch.

        Each parameter tensor of 2 or more dimensions gets i.i.d. N(0, init_scale^2 /
        fan_in) entries, fan_in = the product of its shape past the first dimension (a
        Linear's in_features, a Conv's in_channels/groups x kernel size): LeCun-normal,
        and for a (n, d) first layer the N(0, 1/d) of ``ReluTeacherStudent``. Tensors of
        0 or 1 dimension named ``*bias`` start at zero; other ones (norm scales, a
        second-layer vector) keep the model's current values, the same in every row.
        The model's own parameters are ``current_point()``, not a row of ``init``, so
        that a run's start depends only on its generator (see ``init_from_seeds``).
        """
        dev = init_device(self, device)
        base = self.split(self._theta0.to(dev))
        parts = []
        for name, shape in zip(self.names, self.shapes, strict=True):
            if len(shape) >= 2:
                fan_in = math.prod(shape[1:])
                w = torch.randn(R, *shape, generator=generator, dtype=self.dtype, device=dev)
                parts.append((w * (self.init_scale / math.sqrt(max(fan_in, 1)))).reshape(R, -1))
            elif name.split(".")[-1] == "bias":
                parts.append(torch.zeros(R, shape.numel(), dtype=self.dtype, device=dev))
            else:
                parts.append(base[name].reshape(1, -1).expand(R, -1))
        return torch.cat(parts, dim=1)

    # ------------------------------------------------------------ objective
    def _row_loss(self, row: torch.Tensor) -> torch.Tensor:
        """Loss of one parameter row (P,): the function every transform is built from."""
        params, lo = {}, 0
        for name, shape in zip(self.names, self.shapes, strict=True):
            n = shape.numel()
            params[name] = row[lo : lo + n].reshape(shape)
            lo += n
        out = functional_call(self.model, (params, self._buffers), (self.X,))
        if self.criterion == "cross_entropy":
            val = torch.nn.functional.cross_entropy(out, self.y)
        else:
            r = (out - self.y).reshape(out.shape[0], -1)
            val = 0.5 * (r * r).sum(1).mean()
        if self.weight_decay > 0:  # skipped at 0: the unpenalized loss stays bit for bit
            val = val + 0.5 * self.weight_decay * (row * row).sum()
        return val

    def loss(self, theta: object) -> torch.Tensor:
        """Empirical loss of each row: (R,)."""
        t = self.as_batch(theta)
        return vmap(self._row_loss, chunk_size=self.chunk)(t)

    def loss_and_grad(self, theta: object) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss (R,) and gradient (R, P) in one reverse pass per row."""
        t = self.as_batch(theta)
        g, val = vmap(grad_and_value(self._row_loss), chunk_size=self.chunk)(t)
        return val, g

    def grad(self, theta: object) -> torch.Tensor:
        """Gradient of each row: (R, P)."""
        return self.loss_and_grad(theta)[1]

    def hvp(self, theta: object, v: object) -> torch.Tensor:
        """Hessian-vector products H(theta_r) v_r, one vector per row: (R, P).

        Forward-over-reverse (``jvp`` of ``grad``): about the cost of two gradients, no
        P x P matrix.

        Raises:
            ValueError: if ``v`` does not have the shape of ``theta`` as a batch.
        """
        t = self.as_batch(theta)
        vv = self.as_batch(v, name="v")
        if vv.shape != t.shape:
            raise ValueError(
                f"v has {vv.shape[0]} rows but theta has {t.shape[0]}; give one vector per row."
            )
        _load_jvp_decompositions()
        g = grad(self._row_loss)

        def row_hvp(row: torch.Tensor, vec: torch.Tensor) -> torch.Tensor:
            return jvp(g, (row,), (vec,))[1]

        return vmap(row_hvp, chunk_size=max(1, self.chunk // 2))(t, vv)

    def hvp_many(self, theta: object, V: object) -> torch.Tensor:
        """m Hessian-vector products per row, H(theta_r) V[r, j]: (R, m, P).

        Equal to ``hvp`` on each row tiled m times, but the m products of a row share its
        primal computation (forward pass and gradient): ``vmap`` over the vectors with the
        row held fixed inside ``vmap`` over the rows. About 1.7x less time per product on a
        2-core CPU for a digits MLP and CNN (benchmarks/README.md); what the spectrum room's
        estimators use for their probes.

        Raises:
            ValueError: if ``V`` is not (R, m, P) for theta's R rows.
        """
        t = self.as_batch(theta)
        W = torch.as_tensor(V).to(dtype=self.dtype, device=self.device)
        if W.dim() != 3 or W.shape[0] != t.shape[0] or W.shape[2] != self.n_params:
            raise ValueError(
                f"V has shape {tuple(W.shape)}; expected ({t.shape[0]}, m, {self.n_params})."
            )
        m = W.shape[1]
        if m == 0:
            return W.clone()
        _load_jvp_decompositions()
        g = grad(self._row_loss)
        inner = max(1, min(m, self.chunk // 2))  # tangents held at once: as hvp's rows

        def row_many(row: torch.Tensor, vecs: torch.Tensor) -> torch.Tensor:
            return vmap(lambda vec: jvp(g, (row,), (vec,))[1], chunk_size=inner)(vecs)

        return vmap(row_many, chunk_size=max(1, self.chunk // (2 * inner)))(t, W)

    @property
    def output_layer(self) -> torch.Tensor:
        """(P,) bool: the parameters of the last module holding parameters (the output
        layer of a ``Sequential``: ``"2.weight"``, ``"2.bias"``), by name prefix.

        Scaling them by c scales a linear output layer's output by c: ``certify`` looks
        along that ray for a loss that falls forever (a classifier that separates its
        data under cross-entropy).
        """
        last = self.names[-1].rpartition(".")[0]
        mask = []
        for name, shape in zip(self.names, self.shapes, strict=True):
            mask += [name.rpartition(".")[0] == last] * shape.numel()
        return torch.tensor(mask, dtype=torch.bool, device=self.device)

    def output_sensitivity(self, theta: object) -> torch.Tensor:
        """How much the outputs move with each parameter: (R, P), without weight decay.

            s_p(theta) = 1/m sum_s sum_k (d f_k(x_s) / d theta_p)^2,

        the diagonal of J'J / m for the per-sample Jacobian J (m o, P): the Gauss-Newton
        diagonal of ``mse`` (and an upper bound on that of ``cross_entropy``, whose
        output Hessian is at most I). s_p = 0 means no sample's output depends on
        theta_p to first order: the weights into and out of a dead ReLU unit, or of a
        unit saturated on every sample (tanh' ~ 0). ``certify`` counts such parameters
        to explain zero Hessian eigenvalues ("saturated units").

        Per-sample Jacobians (``vmap`` of ``jacrev`` on one sample), one row at a time
        and samples in blocks of about 64 MB: a cost of about o backward passes per
        sample per row.
        """
        t = self.as_batch(theta)
        P = self.n_params

        def out_one(row: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            params, lo = {}, 0
            for name, shape in zip(self.names, self.shapes, strict=True):
                n = shape.numel()
                params[name] = row[lo : lo + n].reshape(shape)
                lo += n
            return functional_call(self.model, (params, self._buffers), (x[None],)).reshape(-1)

        jac = vmap(torch.func.jacrev(out_one), in_dims=(None, 0))
        m = self.n_samples
        with torch.no_grad():
            o = out_one(t[0], self.X[0]).numel() if t.shape[0] else 1
        block = max(1, (64 << 20) // (o * P * t.element_size()))
        out = torch.zeros_like(t)
        for r in range(t.shape[0]):  # rows one at a time: a (block, o, P) Jacobian each
            for lo in range(0, m, block):
                J = jac(t[r], self.X[lo : lo + block])
                out[r] += (J * J).sum((0, 1))
        return out / m

    def hessian(self, theta: object) -> torch.Tensor:
        """Dense Hessian of each row: (R, P, P).

        ``torch.func.hessian`` (forward-over-reverse over all P basis vectors): memory
        and time grow as P x (one gradient), so this is for small P (a few thousand at
        most); use ``hvp`` with Lanczos beyond.
        """
        t = self.as_batch(theta)
        _load_jvp_decompositions()
        return vmap(hessian(self._row_loss), chunk_size=max(1, self.chunk // self.n_params))(t)


class _TwoLayerRelu(torch.nn.Module):
    """f(x) = sum_i a_i relu(w_i . x), parameters W (n, d) then a (n,) when trained."""

    def __init__(self, n: int, d: int, train_second_layer: bool) -> None:
        super().__init__()
        self.W = torch.nn.Parameter(torch.zeros(n, d, dtype=torch.float64))
        a = torch.ones(n, dtype=torch.float64)
        if train_second_layer:
            self.a = torch.nn.Parameter(a)
        else:
            self.register_buffer("a", a)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ self.W.T) @ self.a


@dataclass(frozen=True, eq=False)
class EmpiricalTeacherStudent:
    """Two-layer ReLU teacher-student with the loss averaged over m fixed Gaussian samples.

    F_m(W, a) = 1/(2m) sum_s (sum_i a_i relu(w_i . x_s) - sum_j b_j relu(v_j . x_s))^2,
    x_s ~ N(0, I_d) i.i.d., drawn once (on the CPU, in float64) from ``data_seed``. Same
    parameters, init, teacher (b = 1) and layout as ``ReluTeacherStudent``; E[F_m] = F and
    F_m - F = O(1/sqrt(m)).

    Args:
        k, n, d, teacher, train_second_layer, init_scale, dtype, device: as in
            ``ReluTeacherStudent``.
        m: number of samples (>= 1).
        data_seed: seed of the samples.
        chunk: rows per vmap call (see ``ModuleLoss``); default from about 256 MB of
            working memory at 4 x m x (n + d) numbers a row.

    Raises:
        ValueError: for impossible sizes, a bad teacher, or m < 1.

    Attributes:
        closed_form: the ``ReluTeacherStudent`` with the same settings (population loss).
        objective: the ``ModuleLoss`` that computes F_m.
        X (m, d), y (m,): the samples and the teacher's labels.
    """

    k: int
    n: int | None = None
    d: int | None = None
    m: int = 10_000
    teacher: object = "identity"
    train_second_layer: bool = False
    init_scale: float = 1.0
    data_seed: int = 0
    dtype: torch.dtype | str = torch.float64
    device: torch.device | str = "cpu"
    chunk: int | None = None
    closed_form: ReluTeacherStudent = field(init=False, repr=False)
    objective: ModuleLoss = field(init=False, repr=False)
    X: torch.Tensor = field(init=False, repr=False)
    y: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.m, (int, np.integer)) or isinstance(self.m, bool) or self.m < 1:
            raise ValueError(f"m must be a positive integer, got {self.m!r}.")
        if not isinstance(self.data_seed, (int, np.integer)) or isinstance(self.data_seed, bool):
            raise ValueError(f"data_seed must be an integer, got {self.data_seed!r}.")
        cf = ReluTeacherStudent(
            k=self.k,
            n=self.n,
            d=self.d,
            teacher=self.teacher,
            train_second_layer=self.train_second_layer,
            init_scale=self.init_scale,
            dtype=self.dtype,
            device=self.device,
        )
        for name in ("n", "d", "dtype", "device"):
            set_(self, name, getattr(cf, name))
        gen = torch.Generator().manual_seed(int(self.data_seed))
        X = torch.randn(int(self.m), cf.d, generator=gen, dtype=torch.float64)
        V, b = cf.V.to("cpu", torch.float64), cf.b.to("cpu", torch.float64)
        y = torch.relu(X @ V.T) @ b
        chunk = self.chunk
        if chunk is None:
            per_row = 4 * int(self.m) * (cf.n + cf.d) * torch.finfo(cf.dtype).bits // 8
            chunk = max(1, _CHUNK_BYTES // per_row)
        obj = ModuleLoss(
            _TwoLayerRelu(cf.n, cf.d, self.train_second_layer),
            X,
            y,
            criterion="mse",
            dtype=cf.dtype,
            device=cf.device,
            chunk=chunk,
        )
        set_(self, "closed_form", cf)
        set_(self, "objective", obj)
        set_(self, "chunk", obj.chunk)
        set_(self, "X", obj.X)
        set_(self, "y", obj.y)

    # ----------------------------------------------------------------- layout
    @property
    def n_params(self) -> int:
        return self.closed_form.n_params

    @property
    def global_min(self) -> float | None:
        """0 when n >= k: the teacher fits every sample exactly. Otherwise unknown."""
        return self.closed_form.global_min

    @property
    def row_shape(self) -> tuple[int, ...]:
        return self.closed_form.row_shape

    @property
    def symmetry(self) -> str:
        """``"Sn"``: permuting the student's neurons (rows of W, with a) keeps F_m.

        Not ``"SnxSd"`` even for the identity teacher: permuting the inputs permutes the
        coordinates of the m fixed samples, and a finite sample is not invariant under
        that (the population loss of ``closed_form`` is).
        """
        return "Sn"

    @property
    def V(self) -> torch.Tensor:
        return self.closed_form.V

    @property
    def b(self) -> torch.Tensor:
        return self.closed_form.b

    def as_batch(self, theta: object) -> torch.Tensor:
        """(n, d), (P,), (R, n, d) or (R, P) -> (R, P), as ``ReluTeacherStudent.as_batch``."""
        return self.closed_form.as_batch(theta)

    def split(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(R, P) -> W (R, n, d), a (R, n)."""
        return self.closed_form.split(theta)

    def join(
        self, W: torch.Tensor | tuple[torch.Tensor, torch.Tensor], a: torch.Tensor | None = None
    ) -> torch.Tensor:
        """W (R, n, d) [, a (R, n)] -> (R, P); also ``join(split(theta))``."""
        return self.closed_form.join(W, a)

    def teacher_point(self) -> torch.Tensor:
        """A global minimizer (1, P): the teacher padded with zero neurons."""
        return self.closed_form.teacher_point()

    def init(
        self,
        R: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """W ~ N(0, init_scale^2/d) i.i.d., a = 1: the same draws as ``ReluTeacherStudent``."""
        return self.closed_form.init(R, generator=generator, device=device)

    def distance_to_global(self, theta: torch.Tensor) -> torch.Tensor | None:
        """Distance to the nearest teacher modulo neuron permutations.

        As ``ReluTeacherStudent.distance_to_global``: the teacher's permutations are global
        minimizers of F_m too (zero loss); for small m there can be other zero-loss points,
        which this does not see.
        """
        return self.closed_form.distance_to_global(self.as_batch(theta))

    # ------------------------------------------------------------ objective
    def loss(self, theta: object) -> torch.Tensor:
        """F_m of each row: (R,)."""
        return self.objective.loss(self.as_batch(theta))

    def loss_and_grad(self, theta: object) -> tuple[torch.Tensor, torch.Tensor]:
        """F_m (R,) and its gradient (R, P)."""
        return self.objective.loss_and_grad(self.as_batch(theta))

    def grad(self, theta: object) -> torch.Tensor:
        """Gradient of F_m: (R, P)."""
        return self.objective.grad(self.as_batch(theta))

    def hvp(self, theta: object, v: object) -> torch.Tensor:
        """Hessian-vector products of F_m, one vector per row: (R, P)."""
        return self.objective.hvp(self.as_batch(theta), self.as_batch(v))

    def hvp_many(self, theta: object, V: object) -> torch.Tensor:
        """m Hessian-vector products of F_m per row: (R, m, P) (see ``ModuleLoss.hvp_many``)."""
        return self.objective.hvp_many(self.as_batch(theta), V)

    def hessian(self, theta: object) -> torch.Tensor:
        """Dense Hessian of F_m (relu'' = 0, see the module docstring): (R, P, P)."""
        return self.objective.hessian(self.as_batch(theta))
