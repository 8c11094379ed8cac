"""Neuron alignment: permute the hidden units of network B to match network A.

A hidden layer's units can be permuted without changing the function: for a two-layer
net f(x) = sum_i a_i sigma(w_i . x), (W, a) -> (P W, P a) for any permutation P, and for
an MLP the permutation of layer l's units acts on the rows (and bias) of W_l and on the
columns of W_{l+1}. Two independently trained networks are therefore compared, and
interpolated, only after choosing the permutation of B that best matches A. Tatro et al.
(NeurIPS 2020, "Optimizing mode connectivity via neuron alignment"), Entezari et al.
(ICLR 2022, "The role of permutation invariance in linear mode connectivity") and
Ainsworth, Hayase & Srinivasa (ICLR 2023, "Git re-basin") show that the linear barrier
between aligned networks is much lower than between the raw ones.

We use weight matching (Ainsworth et al. 2023): for each hidden layer, the permutation
pi maximizes

    sum_i < u_i^A, u_{pi(i)}^B >,

u_i the unit's weights (incoming row, bias, outgoing column), solved exactly as a linear
assignment (``scipy.optimize.linear_sum_assignment``). For a single hidden layer this is
exact; for a deep MLP the layers are coupled, and we run the standard coordinate ascent:
a forward pass matching incoming weights (with the previous layer's permutation already
applied to the columns), then sweeps over the layers with incoming and outgoing weights
until no permutation changes (each sweep does not decrease the total similarity).

Permuting only relabels units, so the aligned B computes the same function and has the
same loss (up to the order of floating-point sums).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from ..problems import Factored, ModuleLoss, Problem
from .interpolate import as_endpoint

__all__ = ["align_mlp", "align_rows", "align_two_layer", "match_units"]

# Modules that act entrywise and hold no parameters: they commute with unit permutations.
_ELEMENTWISE = (
    torch.nn.ReLU,
    torch.nn.ReLU6,
    torch.nn.LeakyReLU,
    torch.nn.ELU,
    torch.nn.CELU,
    torch.nn.SELU,
    torch.nn.GELU,
    torch.nn.SiLU,
    torch.nn.Mish,
    torch.nn.Tanh,
    torch.nn.Sigmoid,
    torch.nn.Softplus,
    torch.nn.Softsign,
    torch.nn.Hardtanh,
    torch.nn.Hardsigmoid,
    torch.nn.Hardswish,
    torch.nn.Identity,
)


def match_units(sim: torch.Tensor | np.ndarray) -> torch.Tensor:
    """The permutation pi maximizing sum_i sim[i, pi(i)] (a linear assignment).

    Args:
        sim: (n, n) similarity of unit i of A and unit j of B.

    Returns:
        pi as a (n,) int64 tensor: B's unit pi[i] goes to position i.

    Raises:
        ValueError: if sim is not square or holds NaN or infinity.
    """
    s = torch.as_tensor(sim).detach().cpu().to(torch.float64).numpy()
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ValueError(f"sim has shape {s.shape}; expected a square (n, n) matrix.")
    if not np.isfinite(s).all():
        raise ValueError("sim contains NaN or infinite values.")
    rows, cols = linear_sum_assignment(s, maximize=True)
    perm = np.empty(s.shape[0], dtype=np.int64)
    perm[rows] = cols
    return torch.as_tensor(perm)


def _check_pair(name: str, x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape:
        raise ValueError(
            f"{name} of A has shape {tuple(x.shape)} but of B {tuple(y.shape)}; they must match."
        )
    if not (bool(torch.isfinite(x).all()) and bool(torch.isfinite(y).all())):
        raise ValueError(f"{name} contains NaN or infinite values.")


def _as_tensor(x: object) -> torch.Tensor:
    t = torch.as_tensor(x)
    return t if t.is_floating_point() else t.to(torch.float64)


def align_two_layer(
    W_a: torch.Tensor,
    a_a: torch.Tensor | None,
    W_b: torch.Tensor,
    a_b: torch.Tensor | None,
    *,
    bias_a: torch.Tensor | None = None,
    bias_b: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Permute the hidden units of B = (W_b, a_b) to match A = (W_a, a_a).

    For f(x) = a' sigma(W x + bias) with n hidden units, the similarity of unit i of A
    and unit j of B is <[w_i^A, bias_i^A, a_i^A], [w_j^B, bias_j^B, a_j^B]> (rows of
    incoming weights, the bias, and the outgoing weights: a scalar per unit, or a row
    of a (n, o) output matrix given as a (n, o) tensor), and the permutation maximizes
    the total similarity (``match_units``). Maximizing the inner product is the same as
    minimizing sum_i ||u_i^A - u_pi(i)^B||^2, since the norms only get relabelled: a
    permuted copy of A (with distinct units) is mapped back to A exactly.

    Args:
        W_a, W_b: incoming weights (n, d).
        a_a, a_b: outgoing weights (n,) or (n, o), or both None (a fixed second layer).
        bias_a, bias_b: hidden biases (n,), or both None.

    Returns:
        (W_b[pi], a_b[pi]) (a_b[pi] is None when a_b is None). Use ``match_units`` on
        the same similarity if the permutation itself is wanted; ``bias_b[pi]`` is the
        matching bias.

    Raises:
        ValueError: for mismatched shapes, one of a pair given without the other, or
            NaN or infinity in any input.
    """
    W_a, W_b = _as_tensor(W_a), _as_tensor(W_b)
    if W_a.dim() != 2:
        raise ValueError(f"W_a has shape {tuple(W_a.shape)}; expected (n, d).")
    _check_pair("W", W_a, W_b)
    n = W_a.shape[0]
    feats_a, feats_b = [W_a], [W_b.to(W_a.dtype)]
    for name, x, y in (("a", a_a, a_b), ("bias", bias_a, bias_b)):
        if (x is None) != (y is None):
            raise ValueError(f"{name} is given for one network only; give it for both or neither.")
        if x is None:
            continue
        x, y = _as_tensor(x).to(W_a.dtype), _as_tensor(y).to(W_a.dtype)
        if x.shape[:1] != (n,) or x.dim() > 2:
            raise ValueError(f"{name}_a has shape {tuple(x.shape)}; expected ({n},) or ({n}, o).")
        _check_pair(name, x, y)
        feats_a.append(x.reshape(n, -1))
        feats_b.append(y.reshape(n, -1))
    U_a, U_b = torch.cat(feats_a, dim=1), torch.cat(feats_b, dim=1)
    perm = match_units(U_a @ U_b.T).to(W_b.device)
    return W_b[perm], (None if a_b is None else _as_tensor(a_b)[perm])


def _mlp_layers(model: torch.nn.Module) -> list[torch.nn.Linear]:
    if not isinstance(model, torch.nn.Sequential):
        raise ValueError(
            f"model must be a torch.nn.Sequential of Linear layers, got {type(model).__name__}."
        )
    layers: list[torch.nn.Linear] = []
    for i, mod in enumerate(model):
        if isinstance(mod, torch.nn.Linear):
            layers.append(mod)
        elif isinstance(mod, torch.nn.Flatten) and not layers:
            continue  # flattening the input before the first layer is harmless
        elif not isinstance(mod, _ELEMENTWISE):
            raise ValueError(
                f"model[{i}] is a {type(mod).__name__}; align_mlp handles Linear layers "
                "with elementwise activations only."
            )
    if not layers:
        raise ValueError("model has no Linear layer; there is nothing to align.")
    return layers


def _mlp_views(
    model: torch.nn.Sequential, layers: list[torch.nn.Linear], theta: torch.Tensor
) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """(weight, bias) views into a (P,) row flattened in ``named_parameters()`` order."""
    where, lo = {}, 0
    for _, p in model.named_parameters():
        where[id(p)] = (lo, p.shape)
        lo += p.numel()
    if lo != theta.shape[0]:
        raise ValueError(
            f"the parameter vector has {theta.shape[0]} entries but the model has {lo}."
        )

    def view(p: torch.Tensor | None) -> torch.Tensor | None:
        if p is None:
            return None
        s, shape = where[id(p)]
        return theta[s : s + p.numel()].view(shape)

    return [(view(m.weight), view(m.bias)) for m in layers]


def align_mlp(model: torch.nn.Module, params_a: object, params_b: object) -> torch.Tensor:
    """Weight matching of the hidden units of an MLP: B's parameters permuted to match A.

    For a ``torch.nn.Sequential`` of Linear layers W_1, ..., W_L (with biases or not)
    separated by elementwise activations, hidden layer l (l < L) gets a permutation
    P_l acting on the rows of W_l and b_l and on the columns of W_{l+1}. The P_l
    maximize sum_l <W_l^A, P_l W_l^B P_{l-1}'> + <b_l^A, P_l b_l^B> (Ainsworth et al.
    2023): a forward pass matches each layer's incoming weights, then coordinate ascent
    over l with the layer's incoming and outgoing weights,

        S_l = W_l^A P_{l-1} W_l^B' + b_l^A b_l^B' + W_{l+1}^A' P_{l+1} W_{l+1}^B,

    P_l = argmax <S_l, P> (a linear assignment), until a sweep changes nothing (at most
    50 sweeps; each sweep does not decrease the objective). The result is never farther
    from A than B itself: if the matching does not raise <theta_A, theta_B'>, B is
    returned unpermuted (the total squared norm is the same for every permutation, so
    ||theta_A - theta_B'||^2 = const - 2 <theta_A, theta_B'>).

    Args:
        model: the Sequential (its own parameter values are not used; only its layout).
        params_a, params_b: (P,) or (1, P) parameter rows flattened as ``ModuleLoss``
            flattens them: ``named_parameters()`` order, each tensor row-major.

    Returns:
        B's permuted parameters, (P,) float tensor in params_b's dtype, same flattening.

    Raises:
        ValueError: for a model that is not a Sequential of Linear layers with
            elementwise activations, vectors of the wrong length, or NaN or infinity.
    """
    layers = _mlp_layers(model)
    a, b = _as_tensor(params_a), _as_tensor(params_b)
    if a.dim() == 2 and a.shape[0] == 1:
        a = a[0]
    if b.dim() == 2 and b.shape[0] == 1:
        b = b[0]
    if a.dim() != 1:
        raise ValueError(f"params_a has shape {tuple(a.shape)}; expected (P,) or (1, P).")
    _check_pair("params", a, b)
    A = _mlp_views(model, layers, a.to(b.dtype))
    out = b.clone()
    B = _mlp_views(model, layers, b)
    L = len(layers)
    perms: list[torch.Tensor] = [
        torch.arange(lay.out_features, device=b.device) for lay in layers[:-1]
    ]

    def similarity(l: int, with_out: bool) -> torch.Tensor:
        (Wa, ba), (Wb, bb) = A[l], B[l]
        Wb = Wb if l == 0 else Wb[:, perms[l - 1]]
        S = Wa @ Wb.T
        if ba is not None:
            S = S + ba[:, None] * bb[None, :]
        if with_out:
            Wa_next, Wb_next = A[l + 1][0], B[l + 1][0]
            if l + 1 < L - 1:
                Wb_next = Wb_next[perms[l + 1]]
            S = S + Wa_next.T @ Wb_next
        return S

    for l in range(L - 1):  # forward pass: incoming weights (outgoing for the last one)
        perms[l] = match_units(similarity(l, with_out=l == L - 2)).to(b.device)
    for _ in range(50):
        changed = False
        for l in range(L - 1):
            p = match_units(similarity(l, with_out=True)).to(b.device)
            if not torch.equal(p, perms[l]):
                perms[l], changed = p, True
        if not changed:
            break

    O = _mlp_views(model, layers, out)
    for l in range(L):
        (Wb, bb), (Wo, bo) = B[l], O[l]
        W = Wb if l == 0 else Wb[:, perms[l - 1]]
        if l < L - 1:
            W = W[perms[l]]
        Wo.copy_(W)
        if bb is not None:
            bo.copy_(bb[perms[l]] if l < L - 1 else bb)
    # Coordinate ascent from the forward pass is not guaranteed to beat the identity on
    # the full objective; keep B as it is if it does not (so ||A - B|| never grows).
    if float(a.to(b.dtype) @ out) < float(a.to(b.dtype) @ b):
        return b.clone()
    return out


def align_rows(problem: Problem, theta_a: object, theta_b: object) -> torch.Tensor:
    """Align the hidden units of point B to point A for a two-layer problem.

    Works for problems that declare a neuron-permutation ``symmetry`` (``"Sn"`` or
    ``"SnxSd"``): by the ``Problem`` contract they are ``Factored``, ``split(theta)``
    gives (W (R, n, d), a (R, n), *rest) and the loss is invariant under permuting the n
    units of (W, a) (``ReluTeacherStudent`` with a fixed or trained second layer,
    ``EmpiricalTeacherStudent``, ``QuadraticNet``/``QuadraticPopulation``, whose extra g
    is left as it is); and for a ``ModuleLoss`` of a Sequential MLP (``align_mlp`` on its
    model). Where both a's are the same constant (a fixed second layer) only W takes
    part in the matching.

    Args:
        problem: the problem both points belong to.
        theta_a: the reference point (P,) or (1, P).
        theta_b: the point to permute (P,) or (1, P).

    Returns:
        B's permuted row, (P,), with the same loss as theta_b.

    Raises:
        ValueError: for mis-shaped or non-finite points, or a problem of another layout.
    """
    a = as_endpoint(problem, theta_a, "theta_a")
    b = as_endpoint(problem, theta_b, "theta_b")
    if isinstance(problem, ModuleLoss):
        return align_mlp(problem.model, a, b)
    group = problem.symmetry if isinstance(problem, Problem) else None
    if group not in ("Sn", "SnxSd") or not isinstance(problem, Factored):
        raise ValueError(
            f"{type(problem).__name__} does not split into two-layer (W, a) units (its "
            f"symmetry is {group!r}, not a neuron permutation group); align_rows handles "
            "problems with symmetry 'Sn' or 'SnxSd' and Sequential ModuleLoss."
        )
    Wa, aa, *_ = problem.split(a[None])
    Wb, ab, *rest = problem.split(b[None])
    aa, ab = aa[0], ab[0]
    # A constant a, the same in both, adds the same number to every similarity.
    fixed = bool((aa == aa[0]).all()) and torch.equal(aa, ab)
    W, a_new = align_two_layer(Wa[0], None if fixed else aa, Wb[0], None if fixed else ab)
    a_new = ab if a_new is None else a_new
    return problem.join((W[None], a_new[None], *rest))[0]
