"""Empirical losses: batched torch.func paths against plain per-row references, and the
sampled teacher-student loss against its closed form within stated standard errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from landscope.problems import (
    EmpiricalTeacherStudent,
    ModuleLoss,
    Problem,
    ReluTeacherStudent,
    init_from_seeds,
)

DT = torch.float64
# Batched vmap paths vs plain autograd on the same float64 numbers: only summation order
# differs, so agreement is near machine precision.
EXACT = {"rtol": 1e-12, "atol": 1e-12}
M_BIG = 200_000
# Statistical bounds, in standard errors of the sample mean. 5 se for a handful of loss
# values; 6 se where dozens of gradient or Hessian entries are checked at once (two-sided
# normal tail 2e-9 each), so the family fails with probability < 1e-6 for any data seed.
SE_LOSS, SE_ENTRY = 5.0, 6.0


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- teacher-student
def _per_sample(prob: EmpiricalTeacherStudent, theta: torch.Tensor):
    """Hand-written per-sample residuals r (R, m), hidden pre-activations, features."""
    W, a = prob.split(theta)
    pre = torch.einsum("md,rnd->rmn", prob.X, W)  # (R, m, n)
    r = torch.relu(pre) @ a[..., None]
    return r[..., 0] - prob.y, pre, a


def _per_sample_grads(prob: EmpiricalTeacherStudent, theta: torch.Tensor) -> torch.Tensor:
    """d/dtheta of 1/2 (f(x_s) - y_s)^2 for every sample: (R, m, P), by hand."""
    r, pre, a = _per_sample(prob, theta)
    act = (pre > 0).to(DT) * a[:, None, :]  # relu'(0) = 0
    gW = r[..., None, None] * act[..., None] * prob.X[None, :, None, :]  # (R, m, n, d)
    parts = [gW.flatten(2)]
    if prob.train_second_layer:
        parts.append(r[..., None] * torch.relu(pre))
    return torch.cat(parts, dim=2)


@pytest.mark.parametrize("data_seed", [0, 1])
@pytest.mark.parametrize("train_second_layer", [False, True])
def test_loss_converges_to_closed_form(data_seed: int, train_second_layer: bool) -> None:
    prob = EmpiricalTeacherStudent(
        k=3, n=4, m=M_BIG, data_seed=data_seed, train_second_layer=train_second_layer
    )
    theta = prob.init(4, generator=_gen(10 + data_seed))
    if train_second_layer:
        theta[:, prob.n * prob.d :] += 0.3 * torch.randn(4, prob.n, generator=_gen(3), dtype=DT)
    emp = prob.loss(theta)
    assert emp.shape == (4,)
    r, _, _ = _per_sample(prob, theta)
    per = 0.5 * r**2  # (R, m)
    torch.testing.assert_close(emp, per.mean(1), **EXACT)
    se = per.std(1) / math.sqrt(M_BIG)
    gap = (emp - prob.closed_form.loss(theta)).abs()
    assert bool((gap <= SE_LOSS * se).all()), f"gap {gap.tolist()} vs 5 se {(5 * se).tolist()}"


def test_gradient_converges_to_closed_form() -> None:
    prob = EmpiricalTeacherStudent(k=3, n=3, m=M_BIG, train_second_layer=True, data_seed=2)
    theta = prob.init(3, generator=_gen(4))
    G = _per_sample_grads(prob, theta)  # (R, m, P)
    g = prob.grad(theta)
    assert g.shape == (3, prob.n_params)
    torch.testing.assert_close(g, G.mean(1), **EXACT)
    se = G.std(1) / math.sqrt(M_BIG)
    gap = (g - prob.closed_form.grad(theta)).abs()
    assert bool((gap <= SE_ENTRY * se).all()), f"worst gap/se {(gap / se).max():.2f}"


def test_hessian_at_teacher_converges_to_closed_form() -> None:
    # At the teacher the residual vanishes, so the Hessian of F_m is the Gauss-Newton
    # matrix 1/m sum_s J_s J_s' (J_s = d f(x_s)/d theta), whose mean is the population
    # Hessian. Elsewhere the population Hessian also holds the smoothed relu'' term.
    prob = EmpiricalTeacherStudent(k=2, n=2, m=M_BIG, train_second_layer=True, data_seed=3)
    theta = prob.teacher_point()
    _, pre, a = _per_sample(prob, theta)
    J = torch.cat(
        [
            ((pre > 0).to(DT) * a[:, None, :])[..., None] * prob.X[None, :, None, :],
            torch.relu(pre)[..., None],
        ],
        dim=3,
    )  # (1, m, n, d+1): (W_i, a_i) blocks
    J = torch.cat([J[..., :-1].flatten(2), J[..., -1]], dim=2)[0]  # (m, P), layout W then a
    gn = J.T @ J / M_BIG
    H = prob.hessian(theta)
    assert H.shape == (1, prob.n_params, prob.n_params)
    torch.testing.assert_close(H[0], gn, **EXACT)
    second = (J * J).T @ (J * J) / M_BIG  # E[(J_p J_q)^2]
    se = (second - gn**2).clamp_min(0).sqrt() / math.sqrt(M_BIG)
    gap = (H[0] - prob.closed_form.hessian(theta)[0]).abs()
    assert bool((gap <= SE_ENTRY * se + 1e-12).all()), f"worst gap/se {(gap / se).max():.2f}"


def test_teacher_has_zero_loss_and_gradient() -> None:
    prob = EmpiricalTeacherStudent(k=3, n=3, m=2_000)
    tp = prob.teacher_point()
    assert prob.global_min == 0.0
    assert float(prob.loss(tp)[0]) <= 1e-28
    assert float(prob.grad(tp).abs().max()) <= 1e-14
    assert float(prob.distance_to_global(tp)[0]) == 0.0


def test_neuron_permutation_invariance() -> None:
    prob = EmpiricalTeacherStudent(k=3, n=5, m=3_000, train_second_layer=True)
    theta = prob.init(4, generator=_gen(5))
    theta[:, prob.n * prob.d :] += torch.randn(4, prob.n, generator=_gen(6), dtype=DT)
    perm = torch.randperm(prob.n, generator=_gen(7))
    W, a = prob.split(theta)
    theta_p = prob.join(W[:, perm], a[:, perm])
    loss, g = prob.loss_and_grad(theta)
    loss_p, g_p = prob.loss_and_grad(theta_p)
    torch.testing.assert_close(loss_p, loss, **EXACT)
    gW, ga = prob.split(g)
    torch.testing.assert_close(g_p, prob.join(gW[:, perm], ga[:, perm]), **EXACT)


def test_teacher_student_init_and_layout_match_closed_form() -> None:
    prob = EmpiricalTeacherStudent(k=4, n=5, d=6, m=100)
    cf = ReluTeacherStudent(k=4, n=5, d=6)
    torch.testing.assert_close(
        prob.init(3, generator=_gen(1)), cf.init(3, generator=_gen(1)), rtol=0, atol=0
    )
    assert prob.n_params == cf.n_params == 30
    assert isinstance(prob, Problem)
    assert prob.as_batch(torch.zeros(5, 6)).shape == (1, 30)
    assert prob.X.shape == (100, 6) and prob.y.shape == (100,)
    # the data depend on data_seed only
    again = EmpiricalTeacherStudent(k=4, n=5, d=6, m=100)
    torch.testing.assert_close(again.X, prob.X, rtol=0, atol=0)
    other = EmpiricalTeacherStudent(k=4, n=5, d=6, m=100, data_seed=1)
    assert not torch.equal(other.X, prob.X)


def test_teacher_student_hvp_and_chunking() -> None:
    prob = EmpiricalTeacherStudent(k=3, n=3, m=2_000, train_second_layer=True)
    small = EmpiricalTeacherStudent(k=3, n=3, m=2_000, train_second_layer=True, chunk=1)
    theta = prob.init(5, generator=_gen(8))
    v = torch.randn(theta.shape, generator=_gen(9), dtype=DT)
    H = prob.hessian(theta)
    torch.testing.assert_close(H, H.transpose(1, 2), **EXACT)
    torch.testing.assert_close(prob.hvp(theta, v), (H @ v[..., None])[..., 0], **EXACT)
    torch.testing.assert_close(small.hessian(theta), H, **EXACT)
    torch.testing.assert_close(small.loss_and_grad(theta)[1], prob.grad(theta), **EXACT)


@pytest.mark.parametrize("chunk", [None, 1, 3])
def test_hvp_many_matches_tiled_hvp(chunk: int | None) -> None:
    # m vectors per row, the row's primal shared: the same products as hvp on tiled rows,
    # for any chunking of rows and vectors.
    prob = EmpiricalTeacherStudent(k=3, n=4, m=500, train_second_layer=True, chunk=chunk)
    theta = prob.init(3, generator=_gen(10))
    V = torch.randn(3, 4, prob.n_params, generator=_gen(11), dtype=DT)
    HV = prob.hvp_many(theta, V)
    assert HV.shape == (3, 4, prob.n_params)
    tiled = prob.hvp(theta.repeat_interleave(4, dim=0), V.reshape(12, -1)).reshape(V.shape)
    torch.testing.assert_close(HV, tiled, **EXACT)
    torch.testing.assert_close(HV, V @ prob.hessian(theta), **EXACT)
    assert prob.objective.hvp_many(theta, V[:, :0]).shape == (3, 0, prob.n_params)
    with pytest.raises(ValueError, match=r"V has shape \(2, 4, 16\); expected \(3, m, 16\)"):
        prob.hvp_many(theta, V[:2])


def test_float32() -> None:
    p64 = EmpiricalTeacherStudent(k=3, m=5_000)
    p32 = EmpiricalTeacherStudent(k=3, m=5_000, dtype="float32")
    theta = p64.init(3, generator=_gen(0))
    l32 = p32.loss(theta)
    assert l32.dtype == torch.float32
    torch.testing.assert_close(l32.double(), p64.loss(theta), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- any nn.Module
def _mlp() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, str]:
    torch_gen = _gen(20)
    model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    X = torch.randn(40, 3, generator=torch_gen, dtype=DT)
    y = torch.randn(40, 2, generator=torch_gen, dtype=DT)
    return model.to(DT), X, y, "mse"


def _mlp_forward(theta: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    W1, b1 = theta[:15].reshape(5, 3), theta[15:20]
    W2, b2 = theta[20:30].reshape(2, 5), theta[30:32]
    return torch.tanh(X @ W1.T + b1) @ W2.T + b2


def _cnn() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, str]:
    torch_gen = _gen(21)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(2 * 3 * 3, 3)
    )
    X = torch.randn(12, 1, 5, 5, generator=torch_gen, dtype=DT)
    y = torch.randint(0, 3, (12,), generator=torch_gen)
    return model.to(DT), X, y, "cross_entropy"


def _cnn_forward(theta: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    w, b = theta[:18].reshape(2, 1, 3, 3), theta[18:20]
    L, c = theta[20:74].reshape(3, 18), theta[74:77]
    return torch.tanh(F.conv2d(X, w, b)).flatten(1) @ L.T + c


CASES = {"mlp": (_mlp, _mlp_forward, 32), "cnn": (_cnn, _cnn_forward, 77)}


def _hand_loss(forward, theta, X, y, criterion) -> torch.Tensor:
    out = forward(theta, X)
    if criterion == "cross_entropy":
        return F.cross_entropy(out, y)
    return 0.5 * ((out - y) ** 2).sum(1).mean()


@pytest.mark.parametrize("case", sorted(CASES))
def test_module_loss_matches_model_and_per_row_loop(case: str) -> None:
    build, forward, P = CASES[case]
    model, X, y, criterion = build()
    prob = ModuleLoss(model, X, y, criterion=criterion)
    assert prob.n_params == P and prob.global_min is None
    assert isinstance(prob, Problem)

    # the model's own parameters: the loss is the model's output, computed directly
    with torch.no_grad():
        out = model(X)
    direct = (
        F.cross_entropy(out, y)
        if criterion == "cross_entropy"
        else (0.5 * ((out - y) ** 2).sum(1).mean())
    )
    torch.testing.assert_close(prob.loss(prob.current_point()), direct[None], **EXACT)

    # R rows at once vs a plain loop over rows: hand-written forward, reverse mode twice
    R = 3
    theta = prob.init(R, generator=_gen(30)) + 0.1 * torch.randn(R, P, generator=_gen(31), dtype=DT)
    v = torch.randn(R, P, generator=_gen(32), dtype=DT)
    loss, g = prob.loss_and_grad(theta)
    H = prob.hessian(theta)
    hv = prob.hvp(theta, v)
    assert loss.shape == (R,) and g.shape == (R, P) and H.shape == (R, P, P)
    assert hv.shape == (R, P)
    for r in range(R):  # the slow reference: one row at a time
        t = theta[r].clone().requires_grad_(True)
        lr = _hand_loss(forward, t, X, y, criterion)
        (gr,) = torch.autograd.grad(lr, t, create_graph=True)
        Hr = torch.stack([torch.autograd.grad(gr[i], t, retain_graph=True)[0] for i in range(P)])
        torch.testing.assert_close(loss[r], lr.detach(), **EXACT)
        torch.testing.assert_close(g[r], gr.detach(), **EXACT)
        torch.testing.assert_close(H[r], Hr, **EXACT)
    torch.testing.assert_close(hv, (H @ v[..., None])[..., 0], **EXACT)
    torch.testing.assert_close(prob.grad(theta), g, rtol=0, atol=0)
    torch.testing.assert_close(prob.loss(theta), loss, **EXACT)


def test_module_loss_split_join_and_init() -> None:
    model, X, y, _ = _mlp()
    prob = ModuleLoss(model, X, y, init_scale=2.0)
    assert prob.names == ("0.weight", "0.bias", "2.weight", "2.bias")
    R = 4_000
    theta = prob.init(R, generator=_gen(40))
    assert theta.shape == (R, 32) and theta.dtype == DT
    parts = prob.split(theta)
    assert parts["0.weight"].shape == (R, 5, 3)
    torch.testing.assert_close(prob.join(parts), theta, rtol=0, atol=0)
    assert float(parts["0.bias"].abs().max()) == 0.0 and float(parts["2.bias"].abs().max()) == 0
    # N(0, init_scale^2 / fan_in): the sample variance of n draws has relative se sqrt(2/n)
    for name, fan_in in (("0.weight", 3), ("2.weight", 5)):
        w = parts[name].reshape(-1)
        rel = float(w.var()) / (4.0 / fan_in) - 1.0
        assert abs(rel) <= 5 * math.sqrt(2 / w.numel()), (name, rel)
    # one generator per seed: rows depend only on their seed and differ between seeds
    rows = init_from_seeds(prob, [1, 2, 1])
    torch.testing.assert_close(rows[0], rows[2], rtol=0, atol=0)
    assert not torch.equal(rows[0], rows[1])
    # the problem holds a copy: changing the user's model does not change the problem
    with torch.no_grad():
        model[0].weight.add_(1.0)
    assert not torch.equal(prob.current_point()[0, :15], model[0].weight.reshape(-1))


def test_module_loss_accepts_column_target_and_numpy() -> None:
    model = torch.nn.Linear(2, 1).to(DT)
    X = torch.randn(10, 2, generator=_gen(50), dtype=DT)
    y = torch.randn(10, generator=_gen(51), dtype=DT)
    prob = ModuleLoss(model, X.numpy(), y.numpy())
    assert prob.y.shape == (10, 1)
    with torch.no_grad():
        want = 0.5 * ((model(X)[:, 0] - y) ** 2).mean()
    torch.testing.assert_close(prob.loss(prob.current_point().numpy()), want[None], **EXACT)


# ---------------------------------------------------------------- bad inputs
def _lin() -> torch.nn.Module:
    return torch.nn.Linear(2, 1)


X2 = torch.zeros(4, 2, dtype=DT)
Y1 = torch.zeros(4, 1, dtype=DT)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"X": X2.clone().fill_(float("nan"))}, "X contains NaN"),
        ({"y": torch.full((4, 1), float("inf"), dtype=DT)}, "y contains NaN"),
        ({"y": torch.zeros(5, 1, dtype=DT)}, "X has 4 samples but y has 5"),
        ({"X": torch.zeros(0, 2), "y": torch.zeros(0, 1)}, "X is empty"),
        ({"criterion": "hinge"}, "unknown criterion 'hinge'"),
        ({"model": torch.nn.ReLU()}, "model has no parameters"),
        ({"y": torch.zeros(4, 3, dtype=DT)}, r"y has shape \(4, 3\) but model"),
        ({"X": torch.zeros(4, 3, dtype=DT)}, "model\\(X\\) failed"),
        (
            {
                "model": torch.nn.Linear(2, 3),
                "y": torch.tensor([0, 1, 2, 3]),
                "criterion": "cross_entropy",
            },
            "labels outside 0..2",
        ),
        (
            {
                "y": torch.tensor([0.5, 1.0, 0.0, 1.0]),
                "model": torch.nn.Linear(2, 2),
                "criterion": "cross_entropy",
            },
            "non-integer",
        ),
        ({"chunk": 0}, "chunk must be a positive integer"),
        ({"init_scale": -1.0}, "init_scale must be a positive number"),
    ],
)
def test_module_loss_bad_input(kwargs: dict, match: str) -> None:
    args = {"model": _lin(), "X": X2, "y": Y1} | kwargs
    with pytest.raises(ValueError, match=match):
        ModuleLoss(**args)


def test_bad_theta_and_v() -> None:
    prob = ModuleLoss(_lin(), X2, Y1)  # P = 3
    with pytest.raises(ValueError, match=r"theta has shape \(2, 4\); expected \(3,\)"):
        prob.loss(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="v has 1 rows but theta has 2"):
        prob.hvp(torch.zeros(2, 3), torch.zeros(3))
    ts = EmpiricalTeacherStudent(k=2, m=10)
    with pytest.raises(ValueError, match="theta has shape"):
        ts.grad(torch.zeros(3, 5))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"m": 0}, "m must be a positive integer"),
        ({"k": 3, "d": 2}, "needs d >= k"),
        ({"data_seed": 1.5}, "data_seed must be an integer"),
    ],
)
def test_teacher_student_bad_input(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        EmpiricalTeacherStudent(**({"k": 2} | kwargs))


# ---------------------------------------------------------------- weight decay, loss=
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("wd", [0.0, 0.37])
def test_weight_decay_matches_autograd_of_the_penalized_loss(case: str, wd: float) -> None:
    """loss, grad, hvp, hvp_many and Hessian with weight decay against plain autograd of
    the hand-written loss + wd/2 ||theta||^2 (biases included), one row at a time."""
    build, forward, P = CASES[case]
    model, X, y, criterion = build()
    prob = ModuleLoss(model, X, y, loss=criterion, weight_decay=wd)
    assert prob.criterion == criterion and prob.weight_decay == wd and prob.global_min is None
    R = 2
    theta = prob.init(R, generator=_gen(60)) + 0.1 * torch.randn(R, P, generator=_gen(61), dtype=DT)
    V = torch.randn(R, 3, P, generator=_gen(62), dtype=DT)
    loss, g = prob.loss_and_grad(theta)
    H = prob.hessian(theta)
    for r in range(R):
        t = theta[r].clone().requires_grad_(True)
        lr = _hand_loss(forward, t, X, y, criterion) + 0.5 * wd * (t * t).sum()
        (gr,) = torch.autograd.grad(lr, t, create_graph=True)
        Hr = torch.stack([torch.autograd.grad(gr[i], t, retain_graph=True)[0] for i in range(P)])
        torch.testing.assert_close(loss[r], lr.detach(), **EXACT)
        torch.testing.assert_close(g[r], gr.detach(), **EXACT)
        torch.testing.assert_close(H[r], Hr, **EXACT)
    torch.testing.assert_close(prob.hvp(theta, V[:, 0]), (H @ V[:, 0, :, None])[..., 0], **EXACT)
    torch.testing.assert_close(prob.hvp_many(theta, V), V @ H.transpose(1, 2), **EXACT)
    # the penalty is the only difference from the undecayed problem
    plain = ModuleLoss(model, X, y, criterion=criterion)
    pen = 0.5 * wd * (theta * theta).sum(1)
    torch.testing.assert_close(loss, plain.loss(theta) + pen, **EXACT)
    torch.testing.assert_close(g, plain.grad(theta) + wd * theta, **EXACT)


def test_loss_keyword_and_criterion_alias() -> None:
    model, X, y, _ = _cnn()
    a = ModuleLoss(model, X, y, loss="cross_entropy")
    b = ModuleLoss(model, X, y, criterion="cross_entropy")
    c = ModuleLoss(model, X, y, "cross_entropy")  # fourth positional: the loss's name
    theta = a.init(2, generator=_gen(63))
    for other in (b, c):
        assert other.criterion == "cross_entropy"
        torch.testing.assert_close(other.loss(theta), a.loss(theta), rtol=0, atol=0)
    assert ModuleLoss(_lin(), X2, Y1).criterion == "mse"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"loss": "mse", "criterion": "mse"}, "give the loss once"),
        ({"loss": "hinge"}, "unknown loss 'hinge'"),
        ({"weight_decay": -1e-3}, "weight_decay must be a finite number >= 0"),
        ({"weight_decay": math.nan}, "weight_decay must be a finite number >= 0"),
        ({"weight_decay": "0.1"}, "weight_decay must be a finite number >= 0"),
    ],
)
def test_loss_and_weight_decay_bad_input(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ModuleLoss(_lin(), X2, Y1, **kwargs)


def test_output_sensitivity_against_a_plain_jacobian_and_dead_units() -> None:
    """s_p = 1/m sum ||d f(x_s)/d theta_p||^2 against autograd one sample at a time; a
    dead ReLU unit (bias -100) has s = 0 on its incoming and outgoing weights."""
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    model = model.to(DT)
    X = torch.randn(7, 2, generator=_gen(70), dtype=DT)
    y = torch.randn(7, 2, generator=_gen(71), dtype=DT)
    prob = ModuleLoss(model, X, y, weight_decay=0.5)  # decay does not enter s
    theta = prob.init(2, generator=_gen(72)) + 0.3 * torch.randn(
        2, 17, generator=_gen(73), dtype=DT
    )
    theta[1, 6 + 1] = -100.0  # bias of hidden unit 1 in row 1: dead on every sample
    s = prob.output_sensitivity(theta)
    assert s.shape == (2, 17)
    for r in range(2):
        want = torch.zeros(17, dtype=DT)
        for i in range(7):
            t = theta[r].clone().requires_grad_(True)
            h = torch.relu(X[i] @ t[:6].reshape(3, 2).T + t[6:9])
            f = h @ t[9:15].reshape(2, 3).T + t[15:17]
            for k in range(2):
                (gk,) = torch.autograd.grad(f[k], t, retain_graph=True)
                want += gk**2
        torch.testing.assert_close(s[r], want / 7, **EXACT)
    dead = [2, 3, 7, 10, 13]  # w_1 (2), b_1, and the two outgoing weights of unit 1
    assert float(s[1, dead].abs().max()) == 0.0
    assert bool((s[0, dead] > 0).all())


def test_output_layer_mask_is_the_last_modules_parameters() -> None:
    model, X, y, _ = _mlp()  # 0.weight (5, 3), 0.bias, 2.weight (2, 5), 2.bias
    mask = ModuleLoss(model, X, y).output_layer
    assert mask.shape == (32,) and mask.tolist() == [False] * 20 + [True] * 12
