"""Certify where each run ended: a verdict per row from the gradient and Hessian spectrum.

Verdicts, decided in this order for each row, with lambda_min the smallest Hessian
eigenvalue as computed and b its error bound (see "Spectrum" below):

- ``diverged``: loss or gradient is not finite.
- ``global_min``: the problem's optimal value is known and loss - global_min <= ``gap_tol``,
  whatever the gradient: no descent from such a row can end anywhere but at a point within
  ``gap_tol`` of the optimal value, which a critical point there is certified as anyway
  (and spurious minima of the studied problems lie orders of magnitude higher). This is
  what lets a study stop a row as soon as its loss is that low, instead of walking the
  sublinear tail into a degenerate minimum.
- ``not_converged``: ||grad|| > ``grad_tol``.
- ``saddle``: lambda_min + b < -``eig_tol``: H has an eigenvalue below -eig_tol, a
  direction of descent.
- ``spurious_min``: lambda_min - b > ``eig_tol`` (a strict local minimum whose loss is
  above the global one); ``local_min`` when the global value is unknown.
- ``degenerate``: otherwise: the second-order test is inconclusive (flat directions, as
  at minima of over-parameterized students, or a bound b too wide to decide).

The test is meaningful when ||grad|| is tiny against the smallest nonzero |eigenvalue|:
then a critical point lies within ~ ||grad|| / |lambda_min| of the row and has the same
inertia. Hence the Newton polish to ~1e-12 before certifying.

Spectrum. While P <= ``max_dense`` (default ``MAX_DENSE`` of ``landscope.spectrum``,
8192) every eigenvalue comes from the dense Hessian (``dense_spectrum``: ``eigvalsh``,
exact to rounding, ~1e-15 ||H||; b = 0). Above it, the Lanczos extremes
(``extremal_eigs``: the smallest and the largest eigenvalue, ARPACK from a random start,
on Hessian-vector products, ``hvp_many`` for problems with the ``ManyHvp`` capability),
and b is the residual bound ||H u - lambda u|| of the Ritz pair (Parlett, *The Symmetric
Eigenvalue Problem*, Thm 4.5.1: H has an eigenvalue within b of lambda) plus the worst-case
rounding of that residual, P eps ||H||. On that route:

- ``saddle`` is proved: lambda_min is the Rayleigh quotient u'Hu of a unit vector, and
  the smallest eigenvalue of H is at most that.
- a minimum verdict rests on Lanczos having found the smallest eigenvalue: the bound
  places an eigenvalue within b of lambda_min, and Lanczos from a random start converges
  to the extreme one (a start with no component along its eigenvector has probability
  zero), which is a property of the method, not a proof.
- ``n_neg`` and ``n_zero`` are lower bounds (0 or 1): only the two extremes are computed.

``check_certifiable`` says which route a size takes, and refuses a size no route can
certify; studies call it in their validation, before training.

Reasons. Each row also gets a ``reason``, "" when there is nothing to add to its verdict,
else one of (``REASONS``):

- "no finite minimizer along this direction" (a ``not_converged`` or ``degenerate``
  row): the loss falls monotonically along one of the rays theta + t u, sampled at
  t = 1, 3, 7, ..., 63 (``RAY_STEPS``), for u = theta (all parameters scaled by 1 + t),
  u = -grad scaled to ||theta||, and, on problems with ``output_layer`` (``ModuleLoss``),
  u = theta on the output layer's parameters only (its outputs scaled by 1 + t when that
  layer is linear: the ray that finds a separating classifier, where scaling every layer
  of a tanh network need not, as it moves hidden units into saturation).
  A cross-entropy classifier that separates its data is the typical case:
  its loss and gradient fall towards 0 as the weights grow, so a row either never
  converges or reaches ||grad|| <= grad_tol with a loss near 0 and a Hessian near 0
  (``degenerate``, every eigenvalue zero), a point that is no minimizer; weight decay
  gives the loss a minimizer. It costs 6 loss evaluations per ray of those rows (checked on
  problems whose rows share their data, not on ``RowData`` ones).
- "polish budget exhausted" (a ``not_converged`` row, given ``polish=``): the Newton
  polish stopped on its step or time budget while the row was still improving.
- "saturated units: N parameters move no output" (a ``degenerate`` row with zero
  eigenvalues, on problems with ``output_sensitivity``, such as ``ModuleLoss``): N
  parameters p have s_p = 1/m sum_s ||d f(x_s)/d theta_p||^2 <= eig_tol, so no sample's
  output depends on them (dead ReLU units, units saturated on every sample). Their
  Gauss-Newton curvature is within the zero band; this is a count of parameters, cheaper
  and simpler than locating the zero eigenvectors, and can exceed the number of zero
  eigenvalues where weight decay lifts them (decay adds lambda to every eigenvalue, so
  the reason is only given with n_zero > 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Real

import numpy as np
import torch

from ..problems import Problem
from ..problems.capabilities import KnownOptimum, RowData
from ..spectrum import MAX_DENSE, dense_spectrum, extremal_eigs

__all__ = [
    "CERTIFICATE_COLUMNS",
    "MAX_LANCZOS",
    "REASONS",
    "VERDICTS",
    "Certificate",
    "Tolerances",
    "certify",
    "check_certifiable",
]

VERDICTS = (
    "global_min",
    "spurious_min",
    "local_min",
    "saddle",
    "degenerate",
    "not_converged",
    "diverged",
)

# The fixed texts of ``Certificate.reason`` (the saturated one is followed by a count).
REASONS = (
    "no finite minimizer along this direction",
    "polish budget exhausted",
    "saturated units",
)
# Ray test: theta + t u for these t, |u| = ||theta||: out to 64 ||theta||, 6 losses a ray.
RAY_STEPS = (1.0, 3.0, 7.0, 15.0, 31.0, 63.0)

# Largest P the Lanczos route takes: ARPACK keeps ncv = 20 basis vectors plus work space,
# about 30 P float64 numbers per row, 2.4 GB at 1e7; each of the hundreds to thousands of
# Hessian-vector products it needs then costs at least a pass over 1e7 weights.
MAX_LANCZOS = 10_000_000

# The store columns of ``Certificate.rows()``: name -> DuckDB type.
CERTIFICATE_COLUMNS = {
    "verdict": "VARCHAR",
    "loss": "DOUBLE",
    "grad_norm": "DOUBLE",
    "eig_min": "DOUBLE",
    "eig_max": "DOUBLE",
    "n_neg": "BIGINT",
    "n_zero": "BIGINT",
    "dist": "DOUBLE",
    "eig_method": "VARCHAR",
    "eig_min_bound": "DOUBLE",
    "eig_max_bound": "DOUBLE",
    # the tolerances the verdict used, prefixed: studies' own parameters (grad_tol of the
    # optimizer, a relative gap) must not collide with them
    "cert_grad_tol": "DOUBLE",
    "cert_gap_tol": "DOUBLE",
    "cert_eig_tol": "DOUBLE",
}


@dataclass(frozen=True)
class Tolerances:
    """Tolerances of the certificate (all absolute), stored with every result row.

    Each name means one thing across the library: ``grad_tol`` is a threshold on the
    gradient norm (as in ``Stop(grad_tol=...)``), ``gap_tol`` one on the gap to the
    global value, loss - global_min (not on the loss itself).

    Attributes:
        grad_tol: a row is a critical point if ||grad|| <= grad_tol. Default 1e-10:
            Newton polishing reaches ~1e-13 on the closed-form problems, GD alone ~1e-9.
        gap_tol: a row is a global minimum if loss - global_min <= gap_tol.
            Default 1e-9: the closed-form loss at the teacher is a difference of O(k^2)
            kernel terms, so its float64 floor is ~1e-14 k^2; published spurious minima
            have losses above 1e-3.
        eig_tol: eigenvalues within +-eig_tol of zero count as zero. Default 1e-6: the
            closed-form Hessian is accurate to ~1e-8 for nearly parallel neurons, and the
            smallest eigenvalue at the teacher is ~0.09.

    Raises:
        ValueError: for a tolerance that is negative, NaN or infinite.
    """

    grad_tol: float = 1e-10
    gap_tol: float = 1e-9
    eig_tol: float = 1e-6

    def __post_init__(self) -> None:
        for name in ("grad_tol", "gap_tol", "eig_tol"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, Real) or not (np.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}.")


# the per-row fields of a Certificate: its store columns less the tolerances it used
_FIELDS = tuple(c for c in CERTIFICATE_COLUMNS if not c.startswith("cert_"))


@dataclass(frozen=True)
class Certificate:
    """One entry per row.

    Attributes:
        verdict: numpy array of verdict strings (see ``VERDICTS``).
        loss, grad_norm, eig_min, eig_max: float arrays; eig_min, eig_max are NaN where
            no spectrum was computed.
        n_neg: eigenvalues below -eig_tol: exact on the dense route, a lower bound (0 or 1)
            on the Lanczos route.
        n_zero: eigenvalues within +-eig_tol, exact or a lower bound as ``n_neg``.
        dist: distance to the nearest global minimizer modulo the problem's symmetry,
            NaN where the problem cannot say.
        eig_method: how the spectrum was computed: ``"dense"``, ``"lanczos"``, or
            ``"none"`` (a row that is not a critical point, or a global minimum whose
            spectrum was skipped).
        eig_min_bound, eig_max_bound: H has an eigenvalue within this of eig_min (eig_max):
            the Lanczos residual bound with its rounding; 0 on the dense route (eigvalsh is
            exact to rounding, ~1e-15 ||H||); NaN without a spectrum.
        tolerances: the tolerances used.
        reason: numpy array of strings, why a row's verdict is what it is where the
            certificate can tell (see "Reasons" in the module docstring), else "". Not a
            store column (``rows()`` leaves it out).
    """

    verdict: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    eig_min: np.ndarray
    eig_max: np.ndarray
    n_neg: np.ndarray
    n_zero: np.ndarray
    dist: np.ndarray
    eig_method: np.ndarray
    eig_min_bound: np.ndarray
    eig_max_bound: np.ndarray
    tolerances: Tolerances = field(default_factory=Tolerances)
    reason: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.reason is None:
            object.__setattr__(self, "reason", np.full(len(self.verdict), "", dtype=str))

    def __len__(self) -> int:
        return len(self.verdict)

    def replace_rows(self, rows: np.ndarray, other: Certificate) -> Certificate:
        """A copy with entries ``rows`` taken from ``other`` (one entry per row index).

        Raises:
            ValueError: if ``other`` has another length or other tolerances.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if len(other) != len(rows) or other.tolerances != self.tolerances:
            raise ValueError(
                "replace_rows needs one entry of `other` per row, certified with the same "
                "tolerances."
            )
        new = {}
        for f in _FIELDS:
            arr = getattr(self, f).copy()
            text = f in ("verdict", "eig_method")
            if text:  # fixed-width strings: widen to fit the new ones
                arr = arr.astype(object)
            arr[rows] = getattr(other, f)
            new[f] = arr.astype(str) if text else arr
        reason = self.reason.astype(object)
        reason[rows] = other.reason
        return Certificate(**new, tolerances=self.tolerances, reason=reason.astype(str))

    def counts(self) -> dict[str, int]:
        """How many rows got each verdict."""
        return {v: int((self.verdict == v).sum()) for v in VERDICTS}

    def rows(self) -> list[dict]:
        """One flat dict per row, for the results store (``CERTIFICATE_COLUMNS``)."""
        t = self.tolerances
        return [
            {
                "verdict": str(self.verdict[r]),
                "loss": float(self.loss[r]),
                "grad_norm": float(self.grad_norm[r]),
                "eig_min": float(self.eig_min[r]),
                "eig_max": float(self.eig_max[r]),
                "n_neg": int(self.n_neg[r]),
                "n_zero": int(self.n_zero[r]),
                "dist": float(self.dist[r]),
                "eig_method": str(self.eig_method[r]),
                "eig_min_bound": float(self.eig_min_bound[r]),
                "eig_max_bound": float(self.eig_max_bound[r]),
                "cert_grad_tol": t.grad_tol,
                "cert_gap_tol": t.gap_tol,
                "cert_eig_tol": t.eig_tol,
            }
            for r in range(len(self))
        ]


def _count(name: str, value: object, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}.")
    return int(value)


def check_certifiable(
    n_params: int,
    *,
    lanczos: bool = True,
    max_dense: int = MAX_DENSE,
    what: str = "the problem",
) -> str:
    """The spectrum route ``certify`` takes for P parameters; a ValueError if none can.

    Routes: ``"dense"`` while P <= max_dense (or P = 1), else ``"lanczos"`` while
    P <= ``MAX_LANCZOS`` and the problem's Hessian-vector products are cheap enough.

    Args:
        n_params: P.
        lanczos: whether the problem's Hessian-vector products are matrix-free (a cost
            of the order of a gradient, as ``ModuleLoss``'s). Pass False for a problem
            whose ``hvp`` forms the P x P Hessian for every product (``ReluTeacherStudent``,
            ``QuadraticNet``): Lanczos needs hundreds to thousands of products per row
            (3141 for the smallest eigenvalue of ``ReluTeacherStudent(k=70)`` near the
            teacher), so such a problem is certifiable only by the dense route.
        max_dense: the largest P certified by the dense spectrum (default ``MAX_DENSE``).
        what: how the message names the problem, e.g. ``"spurious-relu with k = 95"``.

    Returns:
        ``"dense"`` or ``"lanczos"``.

    Raises:
        ValueError: in one sentence naming the size and the limit, if no route can
            certify P parameters (or for a non-integer P or max_dense).
    """
    P = _count("n_params", n_params, 1)
    max_dense = _count("max_dense", max_dense, 0)
    if P <= max_dense or P == 1:  # Lanczos needs P >= 2; one eigenvalue is cheap anyway
        return "dense"
    if not lanczos:
        raise ValueError(
            f"{what} has P = {P} parameters, more than max_dense = {max_dense} for a dense "
            "Hessian spectrum, and its Hessian-vector products form the dense Hessian, too "
            "slow for Lanczos, so it cannot be certified."
        )
    if P > MAX_LANCZOS:
        raise ValueError(
            f"{what} has P = {P} parameters, more than MAX_LANCZOS = {MAX_LANCZOS} that the "
            "Lanczos route of certification can hold in memory."
        )
    return "lanczos"


def _spectrum(
    problem: Problem, th: torch.Tensor, route: str, max_dense: int, eig_tol: float
) -> tuple[torch.Tensor, ...]:
    """(eig_min, eig_max, bound_min, bound_max, n_neg, n_zero) of finite rows ``th``."""
    if route == "dense":
        ev = dense_spectrum(problem, th, max_dense=max(max_dense, 1)).cpu()
        zero = torch.zeros(th.shape[0], dtype=ev.dtype)
        n_neg = (ev < -eig_tol).sum(1)
        n_zero = (ev.abs() <= eig_tol).sum(1)
        return ev[:, 0], ev[:, -1], zero, zero.clone(), n_neg, n_zero
    # A fixed start: the same rows give the same certificate every time.
    gen = torch.Generator().manual_seed(0)
    ext = extremal_eigs(problem, th, k=1, which="both", generator=gen)
    lo, hi = ext.smallest[:, 0].cpu(), ext.largest[:, 0].cpu()
    b_hi, b_lo = ext.bounds[:, 0].cpu(), ext.bounds[:, 1].cpu()
    # The residual is computed in floating point: add its worst-case rounding,
    # P eps ||H||, with ||H|| <= max |lambda| + b over the two ends.
    P = th.shape[1]
    slack = P * torch.finfo(lo.dtype).eps * torch.maximum(lo.abs() + b_lo, hi.abs() + b_hi)
    b_lo, b_hi = b_lo + slack, b_hi + slack

    def inside_zero(lam: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (lam - b >= -eig_tol) & (lam + b <= eig_tol)

    n_neg = (lo + b_lo < -eig_tol).long()  # NaN compares False: counted only when sure
    n_zero = (inside_zero(lo, b_lo) | inside_zero(hi, b_hi)).long()
    return lo, hi, b_lo, b_hi, n_neg, n_zero


def certify(
    problem: Problem,
    theta: object,
    *,
    tolerances: Tolerances | None = None,
    max_dense: int = MAX_DENSE,
    global_spectrum: bool = True,
    polish: object | None = None,
) -> Certificate:
    """Certify every row of ``theta`` as a critical point of ``problem``.

    Args:
        problem: the objective.
        theta: one point or a batch: anything ``problem.as_batch`` takes, e.g. W of
            shape (n, d) or (R, n, d), torch or numpy.
        tolerances: the one door for every tolerance (default ``Tolerances()``).
        max_dense: the dense spectrum is used up to this many parameters, the Lanczos
            extremes above (see the module docstring and ``check_certifiable``).
        global_spectrum: also compute the spectrum of rows whose loss already makes them
            global minima (their verdict does not depend on it). False saves the
            Hessians of those rows; their eig_min, eig_max are then NaN, n_neg, n_zero 0
            and eig_method ``"none"``.
        polish: the ``PolishResult`` of ``newton_polish`` that produced ``theta`` (its
            ``exhausted`` rows get the reason "polish budget exhausted"), or None.

    Returns:
        Certificate with one entry per row.

    Raises:
        ValueError: for a mis-shaped ``theta``, ``tolerances`` that are not a
            ``Tolerances``, a ``polish`` without one ``exhausted`` entry per row, or a
            problem too large for any spectrum route.
    """
    tol = Tolerances() if tolerances is None else tolerances
    if not isinstance(tol, Tolerances):
        raise ValueError(f"tolerances must be a Tolerances, got {type(tol).__name__}.")
    th = problem.as_batch(theta)
    R, P = th.shape
    route = check_certifiable(P, max_dense=max_dense)
    loss, g = problem.loss_and_grad(th)
    gn = torch.linalg.vector_norm(g, dim=1)
    finite = torch.isfinite(loss) & torch.isfinite(gn) & torch.isfinite(th).all(1)
    eig_min = torch.full((R,), float("nan"), dtype=th.dtype)
    eig_max, b_min, b_max = eig_min.clone(), eig_min.clone(), eig_min.clone()
    n_neg = torch.zeros(R, dtype=torch.long)
    n_zero = torch.zeros(R, dtype=torch.long)
    method = np.full(R, "none", dtype=object)
    is_crit_t = finite & (gn <= tol.grad_tol)
    gm = problem.global_min
    need = is_crit_t
    if not global_spectrum and gm is not None:
        need = need & ~(loss - gm <= tol.gap_tol)
    crit = torch.nonzero(need).flatten()
    if crit.numel():
        c = crit.cpu()
        spec = _spectrum(problem, th[crit], route, max_dense, tol.eig_tol)
        for out, val in zip((eig_min, eig_max, b_min, b_max, n_neg, n_zero), spec, strict=True):
            out[c] = val.to(out.dtype)
        method[c.numpy()] = route
    loss_np, gn_np = loss.detach().cpu().numpy(), gn.detach().cpu().numpy()
    emin, bmin = eig_min.numpy(), b_min.numpy()
    is_crit = is_crit_t.cpu().numpy()
    fin = finite.cpu().numpy()
    is_global = (loss_np - gm <= tol.gap_tol) if gm is not None else np.zeros(R, dtype=bool)
    # np.select takes the first true condition: the order of the module docstring. NaN
    # (no spectrum, or Lanczos returned nothing) fails both tests: degenerate.
    verdict = np.select(
        [~fin, is_global, ~is_crit, emin + bmin < -tol.eig_tol, emin - bmin > tol.eig_tol],
        ["diverged", "global_min", "not_converged", "saddle",
         "spurious_min" if gm is not None else "local_min"],
        default="degenerate",
    )  # fmt: skip
    dist = problem.distance_to_global(th) if isinstance(problem, KnownOptimum) else None
    dist_np = np.full(R, np.nan) if dist is None else dist.detach().cpu().numpy().astype(float)
    exhausted = np.zeros(R, dtype=bool)
    if polish is not None:
        ex = getattr(polish, "exhausted", None)
        ex = None if ex is None else np.asarray(torch.as_tensor(ex).cpu(), dtype=bool)
        if ex is None or ex.shape != (R,):
            raise ValueError(
                f"polish must be the PolishResult of the {R} rows certified, with an "
                "exhausted entry per row."
            )
        exhausted = ex
    reason = _reasons(problem, th, g, verdict, n_neg.numpy(), n_zero.numpy(), exhausted, tol)
    return Certificate(
        verdict=verdict.astype(str),
        loss=loss_np.astype(float),
        grad_norm=gn_np.astype(float),
        eig_min=emin.astype(float),
        eig_max=eig_max.numpy().astype(float),
        n_neg=n_neg.numpy(),
        n_zero=n_zero.numpy(),
        dist=dist_np,
        eig_method=method.astype(str),
        eig_min_bound=bmin.astype(float),
        eig_max_bound=b_max.numpy().astype(float),
        tolerances=tol,
        reason=reason,
    )


def _falls_forever(problem: Problem, th: torch.Tensor, g: torch.Tensor) -> np.ndarray:
    """(R,) bool: the loss falls monotonically along one of the rays of the module docstring.

    Each ray is sampled at theta + t u, t in ``RAY_STEPS``; a row passes when a ray's
    losses are finite, never rise, and end below the loss at theta.
    """
    with torch.no_grad():
        l0 = problem.loss(th)
        scale = torch.linalg.vector_norm(th, dim=1, keepdim=True)
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        gn = torch.linalg.vector_norm(g, dim=1, keepdim=True)
        down = -g / torch.where(gn > 0, gn, torch.ones_like(gn)) * scale
        out = torch.zeros(th.shape[0], dtype=torch.bool, device=th.device)
        rays = [th, down]
        mask = getattr(problem, "output_layer", None)
        if isinstance(mask, torch.Tensor) and mask.shape == (th.shape[1],):
            rays.append(th * mask.to(th.device))
        for u in rays:
            prev, ok = l0, torch.isfinite(l0)
            for t in RAY_STEPS:
                cur = problem.loss(th + t * u)
                ok = ok & torch.isfinite(cur) & (cur <= prev)
                prev = cur
            out = out | (ok & (prev < l0))
    return out.cpu().numpy()


def _reasons(
    problem: Problem,
    th: torch.Tensor,
    g: torch.Tensor,
    verdict: np.ndarray,
    n_neg: np.ndarray,
    n_zero: np.ndarray,
    exhausted: np.ndarray,
    tol: Tolerances,
) -> np.ndarray:
    """The per-row ``reason`` of the module docstring."""
    R = th.shape[0]
    reason = np.full(R, "", dtype=object)
    nc = np.flatnonzero((verdict == "not_converged") | (verdict == "degenerate"))
    if nc.size and not isinstance(problem, RowData):
        idx = torch.as_tensor(nc, device=th.device)
        ray = _falls_forever(problem, th[idx], g[idx])
        reason[nc[ray]] = REASONS[0]
    reason[(verdict == "not_converged") & exhausted & (reason == "")] = REASONS[1]
    sens = getattr(problem, "output_sensitivity", None)
    deg = np.flatnonzero((verdict == "degenerate") & (n_zero > 0))
    if deg.size and callable(sens):
        s = sens(th[torch.as_tensor(deg, device=th.device)])
        count = (s <= tol.eig_tol).sum(1).cpu().numpy()
        for r, c in zip(deg, count, strict=True):
            if c > 0 and not reason[r]:
                reason[r] = f"{REASONS[2]}: {int(c)} parameters move no output"
    return reason.astype(str)
