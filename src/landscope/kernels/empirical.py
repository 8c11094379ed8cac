"""The empirical neural tangent kernel of any ``torch.nn.Module``.

For a model f_theta with o outputs per sample (its output for one sample flattened),

    Theta_ij^{kl} = sum_p  d f_k(x_i) / d theta_p  *  d f_l(x_j) / d theta_p,

the Gram matrix of the per-sample Jacobians J_i (o, P). ``trace=True`` (the default, as
in neural-tangents) returns the (n, n) trace over outputs, sum_k Theta_ij^{kk}: for one
output it is the NTK itself, and for o outputs of a wide net whose limit is Theta (x) I_o
it tends to o Theta. ``trace=False`` returns every output pair, (n, n, o, o).

Jacobians come from ``torch.func``: ``vmap`` over samples of ``jacrev`` of a
``functional_call`` on one sample. Samples are taken ``chunk`` at a time: the block
J_A J_B' for two chunks A, B is accumulated one parameter tensor at a time, so the peak
memory is about two Jacobian blocks, 2 * chunk * o * P * itemsize bytes (plus torch's
working memory for one vmapped jacrev and the (n, n[, o, o]) result). When every sample
fits in one chunk each Jacobian is computed once; with c chunks the off-diagonal blocks
recompute a chunk's Jacobian up to c times (time ~ c/2 x, memory bounded).

The result is always a plain tensor without autograd history (``.numpy()`` works), in
``dtype``: float64 by default, as every other quantity of the library, whatever the model's
own dtype (a float32 model, torch's default, is computed on a float64 copy);
``dtype="float32"`` where float32 is wanted.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import numpy as np
import torch
from torch.func import functional_call, jacrev, vmap

from .._validate import resolve_dtype

__all__ = ["empirical_ntk"]

# Bytes two Jacobian blocks may take by default.
_JAC_BYTES = 256 << 20


def _params(model: torch.nn.Module, params: Mapping[str, torch.Tensor] | None):
    own = dict(model.named_parameters())
    if params is None:
        chosen = {k: v.detach() for k, v in own.items() if v.requires_grad}
        if not chosen:
            raise ValueError("the model has no trainable parameters, so its NTK is zero.")
        return chosen
    if not isinstance(params, Mapping) or not params:
        raise ValueError("params must be a non-empty mapping from parameter names to tensors.")
    chosen = {}
    for name, value in params.items():
        if name not in own:
            known = ", ".join(own) or "none"
            raise ValueError(
                f"{name!r} is not a parameter of the model; its parameters are: {known}."
            )
        t = torch.as_tensor(value, dtype=own[name].dtype, device=own[name].device).detach()
        if t.shape != own[name].shape:
            raise ValueError(
                f"params[{name!r}] has shape {tuple(t.shape)}; the model's has "
                f"{tuple(own[name].shape)}."
            )
        chosen[name] = t
    return chosen


def empirical_ntk(
    model: torch.nn.Module,
    X: object,
    *,
    params: Mapping[str, torch.Tensor] | None = None,
    chunk: int | None = None,
    trace: bool = True,
    dtype: torch.dtype | str = torch.float64,
) -> torch.Tensor:
    """The empirical NTK of ``model`` on the samples X (see the module docstring).

    Args:
        model: any module whose ``model(x)`` on a batch of one sample depends only on its
            parameters and buffers (put BatchNorm in ``eval()``; no dropout).
        X: (n, *input_shape) samples; cast to the dtype and device of the parameters.
        params: the parameters to differentiate, by name (as in ``named_parameters()``),
            at the values given; the model's other parameters stay fixed at their own
            values. Default: every parameter with ``requires_grad``, at its value. Passing
            only the first layer's weight gives Du et al.'s H(0).
        chunk: samples per Jacobian block (default: the most that keep two blocks under
            256 MB).
        trace: sum over the outputs (default), else keep every output pair.
        dtype: ``"float64"`` (default) or ``"float32"``: the dtype of the computation
            and of the result. A model (and ``params``) of another dtype is used through
            a copy cast to it; the model itself is not changed.

    Returns:
        (n, n) if ``trace`` else (n, n, o, o), in ``dtype``, detached from autograd.

    Raises:
        ValueError: for a model without trainable parameters, an unknown parameter name
            or shape, NaN or infinity in X, an empty X, a bad ``chunk``, or a dtype other
            than float64 and float32.
    """
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
    dtype = resolve_dtype(dtype)
    if any(t.is_floating_point() and t.dtype != dtype
           for t in (*model.parameters(), *model.buffers())):  # fmt: skip
        model = copy.deepcopy(model).to(dtype)  # the user's model stays as it is
    p = _params(model, params)
    first = next(iter(p.values()))
    try:
        Xt = torch.as_tensor(X).to(dtype=first.dtype, device=first.device)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"X could not be turned into a tensor: {err}") from err
    if Xt.dim() < 1 or Xt.shape[0] == 0:
        raise ValueError(f"X has shape {tuple(Xt.shape)}; expected (n, ...) with n >= 1 samples.")
    if not bool(torch.isfinite(Xt).all()):
        raise ValueError("X contains NaN or infinite values.")
    if chunk is not None and (
        isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1
    ):
        raise ValueError(f"chunk must be a positive integer or None; got {chunk!r}.")

    # The parameters not differentiated enter at their values, detached: otherwise the
    # module's own (requires_grad) tensors would give the kernel an autograd history.
    fixed = {k: v.detach() for k, v in model.named_parameters() if k not in p}

    def one(prm: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(model, (prm, fixed), (x.unsqueeze(0),)).reshape(-1)

    jac = vmap(jacrev(one), in_dims=(None, 0))
    n = Xt.shape[0]
    with torch.no_grad():
        o = one(p, Xt[0]).numel()
    n_params = sum(v.numel() for v in p.values())
    if chunk is None:
        chunk = max(1, _JAC_BYTES // (2 * o * n_params * first.element_size()))
    chunk = min(int(chunk), n)

    def block(rows: slice) -> list[torch.Tensor]:
        J = jac(p, Xt[rows])  # name -> (c, o, *shape)
        return [J[k].reshape(J[k].shape[0], o, -1) for k in p]

    def contract(JA: list[torch.Tensor], JB: list[torch.Tensor]) -> torch.Tensor:
        if trace:
            return sum(a.flatten(1) @ b.flatten(1).T for a, b in zip(JA, JB, strict=True))
        return sum(torch.einsum("akp,blp->abkl", a, b) for a, b in zip(JA, JB, strict=True))

    shape = (n, n) if trace else (n, n, o, o)
    out = torch.empty(shape, dtype=first.dtype, device=first.device)
    starts = range(0, n, chunk)
    for a in starts:
        A = slice(a, min(a + chunk, n))
        JA = block(A)
        out[A, A] = contract(JA, JA)
        for b in starts:
            if b <= a:
                continue
            B = slice(b, min(b + chunk, n))
            blk = contract(JA, block(B))
            out[A, B] = blk
            out[B, A] = blk.transpose(0, 1) if trace else blk.permute(1, 0, 3, 2)
    # a diagonal block J_A J_A' need not be bitwise symmetric after BLAS; make it so
    out = 0.5 * (out + (out.transpose(0, 1) if trace else out.permute(1, 0, 3, 2)))
    return out.detach()
