"""The activation registry: phi, phi', phi'' and what quadrature must know about them.

Every activation is an :class:`Activation`: three elementwise torch functions (float64
in, float64 out) and the points where phi' or phi'' jumps (``kinks``), so that Gaussian
integrals can be split there and stay exact instead of smoothing the kink away.

Names: ``relu``, ``leaky_relu`` (slope 0.01; ``leaky_relu:0.2`` for another slope),
``squared_relu``, ``tanh``, ``sigmoid``, three error functions, ``softplus``
(``softplus:4`` for log(1 + e^(4 z)) / 4, sharper), ``gelu`` (exact, z Phi(z)),
``linear``, ``quadratic``; and user-defined ones through :func:`register`.

The error functions:

* ``erf``: phi = erf(z), as torch, SciPy and neural-tangents name it;
  phi' = (2 / sqrt pi) e^(-z^2).
* ``erf_sqrt2``: phi = erf(z / sqrt 2), whose phi' is twice the standard normal density
  (the meaning ``erf`` had in landscope 0.1).
* ``erf_zhong``: phi = (sqrt(pi) / 2) erf(z), phi' = e^(-z^2): the erf of Zhong, Song,
  Jain, Bartlett & Dhillon, "Recovery guarantees for one-hidden-layer neural networks"
  (ICML 2017), whose alpha_{i,j}(sigma) and rho(sigma) have the closed forms
  alpha_10 = (1 + 2 sigma^2)^(-1/2), alpha_12 = (1 + 2 sigma^2)^(-3/2),
  alpha_20 = (1 + 4 sigma^2)^(-1/2), alpha_22 = (1 + 4 sigma^2)^(-3/2), alpha_11 = 0.

Conventions at a kink: torch's (relu'(0) = 0). Gaussian integrals do not see a single
point, so the convention matters only to code that evaluates exactly at the kink.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

__all__ = ["Activation", "get", "is_odd", "names", "register", "relu", "unregister"]

Fn = Callable[[torch.Tensor], torch.Tensor]


def relu(x: torch.Tensor) -> torch.Tensor:
    """ReLU with the convention relu'(0) = 0 (torch's)."""
    return torch.relu(x)


@dataclass(frozen=True)
class Activation:
    """One activation function.

    Attributes:
        name: registry key (``leaky_relu:0.2`` for parameterized ones).
        phi, dphi, ddphi: elementwise phi, phi', phi'' on tensors.
        kinks: points where phi' or phi'' is discontinuous (quadrature splits there).
        piecewise_linear: phi'' = 0 away from the kinks (property P3 holds by definition).
        degree: d if phi is positively homogeneous of degree d (phi(c z) = c^d phi(z)
            for c > 0), else None; then every Gaussian moment scales as a power of sigma.
        description: one line for tables.
    """

    name: str
    phi: Fn
    dphi: Fn
    ddphi: Fn
    kinks: tuple[float, ...] = ()
    piecewise_linear: bool = False
    degree: int | None = None
    description: str = ""
    builtin: bool = field(default=False, compare=False)


_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_PI_OVER_2 = math.sqrt(math.pi) / 2.0


def _leaky(slope: float) -> Activation:
    a = float(slope)
    return Activation(
        name="leaky_relu" if a == 0.01 else f"leaky_relu:{a:g}",
        phi=lambda z: torch.where(z > 0, z, a * z),
        dphi=lambda z: torch.where(z > 0, torch.ones_like(z), torch.full_like(z, a)),
        ddphi=torch.zeros_like,
        kinks=(0.0,),
        piecewise_linear=True,
        degree=1,
        description=f"max(z, {a:g} z)",
        builtin=True,
    )


def _softplus(beta: float) -> Activation:
    b = float(beta)
    return Activation(
        name="softplus" if b == 1.0 else f"softplus:{b:g}",
        # logaddexp, not F.softplus: the latter returns z exactly for z > 20, which is
        # off by up to e^-20 and inconsistent with phi' = sigmoid there
        phi=lambda z: torch.logaddexp(b * z, torch.zeros_like(z)) / b,
        dphi=lambda z: torch.sigmoid(b * z),
        ddphi=lambda z: b * _sigmoid_d(b * z),
        description="log(1 + e^z)" if b == 1.0 else f"log(1 + e^({b:g} z)) / {b:g}",
        builtin=True,
    )


def _sigmoid_d(z: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(z)
    return s * (1 - s)


def _sigmoid_dd(z: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(z)
    return s * (1 - s) * (1 - 2 * s)


def _gauss(z: torch.Tensor) -> torch.Tensor:
    return torch.exp(-z * z)


def _normal_pdf(z: torch.Tensor) -> torch.Tensor:
    return torch.exp(-0.5 * z * z) * _INV_SQRT_2PI


def _normal_cdf(z: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-z / _SQRT2)


def _builtins() -> dict[str, Activation]:
    acts = [
        Activation(
            "relu",
            torch.relu,
            lambda z: (z > 0).to(z.dtype),
            torch.zeros_like,
            kinks=(0.0,),
            piecewise_linear=True,
            degree=1,
            description="max(z, 0)",
        ),
        _leaky(0.01),
        Activation(
            "squared_relu",
            lambda z: torch.relu(z) ** 2,
            lambda z: 2 * torch.relu(z),
            lambda z: 2 * (z > 0).to(z.dtype),
            kinks=(0.0,),
            degree=2,
            description="max(z, 0)^2",
        ),
        Activation(
            "tanh",
            torch.tanh,
            lambda z: 1 - torch.tanh(z) ** 2,
            lambda z: -2 * torch.tanh(z) * (1 - torch.tanh(z) ** 2),
            description="tanh z",
        ),
        Activation("sigmoid", torch.sigmoid, _sigmoid_d, _sigmoid_dd, description="1 / (1 + e^-z)"),
        Activation(
            "erf",
            torch.erf,
            lambda z: _TWO_OVER_SQRT_PI * _gauss(z),
            lambda z: -2 * _TWO_OVER_SQRT_PI * z * _gauss(z),
            description="erf z",
        ),
        Activation(
            "erf_sqrt2",
            lambda z: torch.erf(z / _SQRT2),
            lambda z: 2 * _normal_pdf(z),
            lambda z: -2 * z * _normal_pdf(z),
            description="erf(z / sqrt 2)",
        ),
        Activation(
            "erf_zhong",
            lambda z: _SQRT_PI_OVER_2 * torch.erf(z),
            _gauss,
            lambda z: -2 * z * _gauss(z),
            description="(sqrt(pi) / 2) erf z (Zhong et al. 2017)",
        ),
        _softplus(1.0),
        Activation(
            "gelu",
            lambda z: z * _normal_cdf(z),
            lambda z: _normal_cdf(z) + z * _normal_pdf(z),
            lambda z: (2 - z * z) * _normal_pdf(z),
            description="z Phi(z)",
        ),
        Activation(
            "linear",
            lambda z: z.clone(),
            torch.ones_like,
            torch.zeros_like,
            piecewise_linear=True,
            degree=1,
            description="z",
        ),
        Activation(
            "quadratic",
            lambda z: z * z,
            lambda z: 2 * z,
            lambda z: torch.full_like(z, 2.0),
            degree=2,
            description="z^2",
        ),
    ]
    out = {}
    for a in acts:
        object.__setattr__(a, "builtin", True)
        out[a.name] = a
    return out


_REGISTRY: dict[str, Activation] = _builtins()


# parameterized families "name:value": (constructor, allowed values, the rule in words)
_FAMILIES = {
    "leaky_relu": (_leaky, lambda a: 0 <= a < 1, "leaky ReLU slope must be a number in [0, 1)"),
    "softplus": (_softplus, lambda b: 0 < b <= 1e3,
                 "softplus sharpness beta must be a number in (0, 1000]"),
}  # fmt: skip


def names() -> list[str]:
    """Registered activation names, built-ins first, in registration order."""
    return list(_REGISTRY)


def get(name: str | Activation) -> Activation:
    """The activation called ``name``.

    ``leaky_relu:0.2`` sets the leaky slope; ``softplus:4`` is log(1 + e^(4 z)) / 4, a
    smooth ReLU that approaches relu as beta grows.

    Raises:
        ValueError: one sentence naming the known activations.
    """
    if isinstance(name, Activation):
        return name
    if name in _REGISTRY:
        return _REGISTRY[name]
    family, _, text = name.partition(":") if isinstance(name, str) else ("", "", "")
    if family in _FAMILIES:
        make, ok, what = _FAMILIES[family]
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and ok(value)):
            raise ValueError(f"{what}; got {text!r}.")
        return make(value)
    known = ", ".join(_REGISTRY)
    raise ValueError(f"unknown activation {name!r}; known activations: {known}.")


def _autograd_derivative(f: Fn) -> Fn:
    def df(z: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            x = z.detach().clone().requires_grad_(True)
            (g,) = torch.autograd.grad(f(x).sum(), x)
        return g.detach()

    return df


def register(
    name: str,
    phi: Fn,
    dphi: Fn,
    ddphi: Fn | None = None,
    *,
    kinks: tuple[float, ...] = (),
    piecewise_linear: bool = False,
    degree: int | None = None,
    description: str = "user-defined",
) -> Activation:
    """Add a user-defined activation (phi and phi'; phi'' by autograd of phi' if omitted).

    ``kinks`` must list every point where phi' or phi'' jumps: Gaussian moments are
    integrated piecewise between them. A built-in name cannot be replaced.

    Raises:
        ValueError: the name is a built-in, empty, or phi/phi' are not callable.
    """
    if not isinstance(name, str) or not name.strip() or ":" in name:
        raise ValueError(
            f"an activation name must be a non-empty string without ':'; got {name!r}."
        )
    if name in _REGISTRY and _REGISTRY[name].builtin:
        raise ValueError(f"{name!r} is a built-in activation and cannot be replaced.")
    if not callable(phi) or not callable(dphi) or (ddphi is not None and not callable(ddphi)):
        raise ValueError(f"activation {name!r} needs callable phi and phi' (and phi'').")
    act = Activation(
        name=name,
        phi=phi,
        dphi=dphi,
        ddphi=ddphi if ddphi is not None else _autograd_derivative(dphi),
        kinks=tuple(float(k) for k in kinks),
        piecewise_linear=piecewise_linear,
        degree=degree,
        description=description,
    )
    _REGISTRY[name] = act
    return act


def unregister(name: str) -> None:
    """Remove a user-defined activation (built-ins stay)."""
    act = _REGISTRY.get(name)
    if act is not None and not act.builtin:
        del _REGISTRY[name]


def is_odd(activation: str | Activation) -> bool:
    """phi(-z) = -phi(z) (checked on a grid): then (v, w) and (-v, -w) are the same neuron."""
    act = get(activation)
    z = torch.linspace(-5, 5, 101, dtype=torch.float64)
    return bool(torch.allclose(act.phi(-z), -act.phi(z), rtol=1e-12, atol=1e-12))
