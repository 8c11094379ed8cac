"""SharpnessGD: each row's step frac / lambda_max(J J'), against a plain per-row loop."""

from __future__ import annotations

import pytest
import torch

from landscope.optim import GD, SharpnessGD, Stop, run
from landscope.optim.driver import View
from landscope.optim.sharpness import flow_time
from landscope.problems import Quadratic, UnivariateReLU

F64 = torch.float64


def _problem() -> UnivariateReLU:
    g = torch.Generator().manual_seed(0)
    x = torch.linspace(-1, 1, 5, dtype=F64)
    y = torch.randn(5, generator=g, dtype=F64)
    return UnivariateReLU(x, y, width=6, init_kind="uniform", ratio=1.0)


def _reference(prob, theta, frac: float, every: int, steps: int):
    """One row at a time, the step reset from eigvalsh(J J') every ``every`` steps."""
    out, times = [], []
    for row in theta:
        th, t, eta = row[None].clone(), 0.0, None
        for k in range(steps):
            r, J = prob.residuals_and_jacobian(th)
            if k % every == 0:
                eta = frac / float(torch.linalg.eigvalsh(J[0] @ J[0].T)[-1])
            th = th - eta * (J[0].T @ r[0])[None]
            t += eta
        out.append(th[0])
        times.append(t)
    return torch.stack(out), torch.tensor(times, dtype=F64)


@pytest.mark.parametrize("every", [1, 7])
def test_matches_a_per_row_loop(every: int) -> None:
    prob = _problem()
    g = torch.Generator().manual_seed(1)
    # knots inside the data (no dead row, whose Jacobian would be 0), slopes of both signs
    a = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0, -1.0], dtype=F64).repeat(3, 1)
    knots = torch.rand(3, 6, generator=g, dtype=F64) * 1.6 - 0.8
    c = 0.5 * torch.randn(3, 6, generator=g, dtype=F64)
    theta = prob.join(a, -a * knots, c)
    seen = {}

    def keep(view: View) -> None:
        seen.update(zip(view.rows.tolist(), flow_time(view.state).tolist(), strict=True))

    res = run(prob, theta, SharpnessGD(0.8, every), stop=Stop(grad_tol=None, max_steps=40),
              observers=[keep])  # fmt: skip
    ref, times = _reference(prob, theta, 0.8, every, 40)
    # the same arithmetic in another order (batched matmuls): round-off ~1e-15 per step
    torch.testing.assert_close(res.theta, ref, rtol=1e-11, atol=1e-12)
    torch.testing.assert_close(torch.tensor([seen[r] for r in range(3)], dtype=F64), times,
                               rtol=1e-12, atol=0)  # fmt: skip


def test_a_constant_sharpness_is_plain_gd() -> None:
    # one neuron per sample far inside its active side: J is constant for 30 small steps,
    # so the step never changes and SharpnessGD is GD with lr = frac / lambda_max
    x = torch.tensor([0.5, 1.0, 1.5], dtype=F64)
    prob = UnivariateReLU(x, torch.tensor([0.1, 0.2, 0.25], dtype=F64), width=2,
                          symmetric=False)  # fmt: skip
    theta = prob.join(*(torch.tensor(v, dtype=F64) for v in ([1.0, 1.0], [2.0, 3.0], [0.1, 0.2])))
    a = run(prob, theta, SharpnessGD(0.5, 1), stop=Stop(grad_tol=None, max_steps=1))
    _, J = prob.residuals_and_jacobian(theta)
    lam = float(torch.linalg.eigvalsh(J[0] @ J[0].T)[-1])
    b = run(prob, theta, GD(0.5 / lam), stop=Stop(grad_tol=None, max_steps=1))
    torch.testing.assert_close(a.theta, b.theta, rtol=0, atol=1e-15)


def test_bad_settings_and_problems() -> None:
    for frac in (0, 2, -1, float("nan")):
        with pytest.raises(ValueError, match="frac"):
            SharpnessGD(frac)
    with pytest.raises(ValueError, match="every"):
        SharpnessGD(1.0, 0)
    quad = Quadratic(torch.eye(2, dtype=F64))
    with pytest.raises(TypeError, match="least-squares"):
        run(quad, torch.ones(1, 2, dtype=F64), SharpnessGD(1.0))
