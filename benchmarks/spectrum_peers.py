"""Hessian top eigenvalues, trace and spectral density: landscope vs PyHessian, side by side.

    python3 -m venv benchmarks/.venv-peers
    benchmarks/.venv-peers/bin/pip install -q torch==2.13.0 pyhessian scikit-learn \\
        numpy scipy duckdb matplotlib rich
    benchmarks/.venv-peers/bin/pip install -q -e . --no-deps
    benchmarks/.venv-peers/bin/python benchmarks/spectrum_peers.py [--device cuda]

Models: a small MLP (64-32-10, tanh) and a small CNN (two 3x3 conv layers with tanh and
2x2 average pooling, then a linear layer) on scikit-learn's digits (1,797 8x8 images, 10
classes), cross-entropy, trained by 300 full-batch Adam steps so that the point is not a
random init. Both libraries see the same module, the same full batch and float64.

Tasks, with the same budget on both sides:

* top-5 eigenvalues: PyHessian's power iteration with deflation (``eigenvalues(top_n=5,
  tol=1e-6)``, stopping when the Rayleigh quotient changes by < tol relatively) vs
  landscope's Lanczos (``extremal_eigs(k=5, which="largest", tol=1e-6)``, ARPACK stopping
  at a residual < tol |lambda|). Both are scored against the exact eigenvalues.
* trace: Hutchinson with 100 Rademacher probes on both sides (PyHessian's
  ``trace(maxIter=100, tol=0)`` runs all 100); landscope's Hutch++ with the same 100
  products for reference.
* density: SLQ with 10 probes x 30 Lanczos steps on both sides. PyHessian 0.1's
  ``density`` calls ``torch.eig``, which torch removed in 2.0; to time it at all, a shim
  gives it ``torch.linalg.eigh`` on its (symmetric) tridiagonal matrix, the same answer
  ``torch.eig`` gave. Its nodes and weights are compared through the moments they imply
  (tr H / P and tr H^2 / P) and the largest node, against the exact spectrum.

The exact spectrum comes from the dense Hessian assembled from Hessian-vector products
of the P unit vectors, then ``torch.linalg.eigvalsh``. PyHessian has no batch of models;
the last line times landscope's trace on 8 models (8 parameter rows) in one call against
PyHessian on the 8 models one after another.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np
import torch
from pyhessian import hessian as PyHessian
from sklearn.datasets import load_digits

from landscope.problems import ModuleLoss
from landscope.spectrum import extremal_eigs, slq, trace

# PyHessian draws its random vectors with torch.randn(p.size()): default dtype. float64
# everywhere makes its products float64 like landscope's.
torch.set_default_dtype(torch.float64)

# PyHessian builds its double-backward graph with loss.backward(create_graph=True), which
# torch 2.13 warns about on every construction.
warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph=True")


def _eig_shim(T: torch.Tensor, eigenvectors: bool = False):
    """torch.eig's old return: eigenvalues as (n, 2) real/imaginary columns, eigenvectors."""
    w, U = torch.linalg.eigh(T)  # T is PyHessian's symmetric tridiagonal Lanczos matrix
    return torch.stack([w, torch.zeros_like(w)], dim=1), U


# torch.eig was removed (a stub that raises since torch 2.0); PyHessian 0.1's density() calls it.
torch.eig = _eig_shim


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    data = load_digits()
    X = torch.tensor(data.data / 16.0)
    y = torch.tensor(data.target, dtype=torch.int64)
    return X, y


class CNN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.c2 = torch.nn.Conv2d(4, 8, 3, padding=1)
        self.fc = torch.nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, 1, 8, 8)
        x = torch.nn.functional.avg_pool2d(torch.tanh(self.c1(x)), 2)
        x = torch.nn.functional.avg_pool2d(torch.tanh(self.c2(x)), 2)
        return self.fc(x.flatten(1))


def mlp() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))


def train(model: torch.nn.Module, X, y, steps: int = 300) -> torch.nn.Module:
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(X), y).backward()
        opt.step()
    return model


def timed(fn):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - t0


def dense_eigs(prob: ModuleLoss, theta: torch.Tensor, block: int = 64) -> torch.Tensor:
    """Exact spectrum: H from HVPs of the unit vectors, block by block, then eigvalsh."""
    P = prob.n_params
    eye = torch.eye(P, device=theta.device)
    cols = [
        prob.hvp(theta.repeat(min(block, P - lo), 1), eye[lo : lo + block])
        for lo in range(0, P, block)
    ]
    H = torch.cat(cols)
    return torch.linalg.eigvalsh(0.5 * (H + H.T))


def row(task: str, ours: tuple[float, str], theirs: tuple[float, str]) -> None:
    (t1, s1), (t2, s2) = ours, theirs
    print(f"  {task:<22} {t1:7.2f} s  {s1:<30} {t2:7.2f} s  {s2:<30} {t2 / t1:6.2f}x")


def compare(name: str, model: torch.nn.Module, X, y) -> None:
    crit = torch.nn.CrossEntropyLoss()
    dev = X.device
    prob, t_setup = timed(lambda: ModuleLoss(model, X, y, criterion="cross_entropy", device=dev))
    theta = prob.current_point()
    P = prob.n_params
    ev = dense_eigs(prob, theta)
    top, tr_exact = ev.flip(0)[:5], float(ev.sum())
    m1, m2 = float(ev.mean()), float((ev**2).mean())
    print(
        f"\n{name}: P = {P}, loss {float(prob.loss(theta)[0]):.4f}; exact top-5 "
        f"{', '.join(f'{v:.4f}' for v in top.tolist())}; trace {tr_exact:.4f}"
    )
    print(f"  {'task':<22} {'landscope':<41} {'PyHessian':<41} PyH/ls")
    cuda = dev.type == "cuda"
    ph, t_ph_setup = timed(lambda: PyHessian(model, crit, data=(X, y), cuda=cuda))
    row("setup", (t_setup, "ModuleLoss"), (t_ph_setup, "hessian(...): loss, 1st grad"))

    def rel_err(vals) -> float:
        v = torch.sort(torch.as_tensor(vals, device=top.device), descending=True).values
        return float(((v - top).abs() / top.abs()).max())

    gen = torch.Generator().manual_seed(0)
    ext, t1 = timed(lambda: extremal_eigs(prob, theta, 5, "largest", tol=1e-6, generator=gen))
    torch.manual_seed(0)  # PyHessian draws from the global generator
    (vals, _), t2 = timed(lambda: ph.eigenvalues(maxIter=1000, tol=1e-6, top_n=5))
    row(
        "top-5 eigenvalues",
        (t1, f"max rel. error {rel_err(ext.largest[0]):.1e}"),
        (t2, f"max rel. error {rel_err(vals):.1e}"),
    )

    gen = torch.Generator().manual_seed(1)
    tr, t1 = timed(lambda: trace(prob, theta, 100, "hutchinson", generator=gen))
    torch.manual_seed(1)
    samples, t2 = timed(lambda: ph.trace(maxIter=100, tol=0.0))
    est, se = float(tr.estimate[0]), float(tr.stderr[0])
    ph_est, ph_se = float(np.mean(samples)), float(np.std(samples, ddof=1) / math.sqrt(100))
    row(
        "trace, Hutchinson x100",
        (t1, f"{(est - tr_exact) / se:+.1f} se (se {se / abs(tr_exact):.1%})"),
        (t2, f"{(ph_est - tr_exact) / ph_se:+.1f} se (se {ph_se / abs(tr_exact):.1%})"),
    )
    gen = torch.Generator().manual_seed(2)
    tpp, t1 = timed(lambda: trace(prob, theta, 100, "hutch++", generator=gen))
    err = float(tpp.estimate[0]) - tr_exact
    print(
        f"  {'trace, Hutch++ x100':<22} {t1:7.2f} s  error {err / abs(tr_exact):+.2%}, "
        f"se {float(tpp.stderr[0]) / abs(tr_exact):.2%} (PyHessian has no Hutch++)"
    )

    gen = torch.Generator().manual_seed(3)
    dens, t1 = timed(lambda: slq(prob, theta, probes=10, steps=30, generator=gen))
    torch.manual_seed(3)
    (nodes, weights), t2 = timed(lambda: ph.density(iter=30, n_v=10))
    nodes, weights = torch.tensor(nodes, device=dev), torch.tensor(weights, device=dev)

    def moments(n: torch.Tensor, w: torch.Tensor) -> str:
        a, b = float((w * n).sum(-1).mean()), float((w * n**2).sum(-1).mean())
        return f"m1 {a / m1 - 1:+.1%}, m2 {b / m2 - 1:+.1%}, max {float(n.max()) / top[0] - 1:+.0e}"

    row(
        "density, SLQ 10 x 30",
        (t1, moments(dens.nodes[0], dens.weights[0])),
        (t2, moments(nodes, weights)),
    )


def batch_of_models(X, y, R: int = 8) -> None:
    crit = torch.nn.CrossEntropyLoss()
    models = []
    for s in range(R):
        torch.manual_seed(100 + s)
        models.append(train(mlp().to(X.device), X, y, steps=50))
    dev = X.device
    prob = ModuleLoss(models[0], X, y, criterion="cross_entropy", device=dev)
    theta = torch.cat(
        [ModuleLoss(m, X, y, criterion="cross_entropy", device=dev).current_point() for m in models]
    )

    gen = torch.Generator().manual_seed(4)
    _, t1 = timed(lambda: trace(prob, theta, 100, "hutchinson", generator=gen))

    def loop() -> None:
        for m in models:
            PyHessian(m, crit, data=(X, y), cuda=dev.type == "cuda").trace(maxIter=100, tol=0.0)

    _, t2 = timed(loop)
    print(f"\nMLP, {R} models (trace, Hutchinson x100 each):")
    row("trace of 8 models", (t1, "one batched call"), (t2, "8 models one by one"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    dev = torch.device(ap.parse_args().device)
    X, y = (t.to(dev) for t in digits())
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    print(
        f"digits: {X.shape[0]} images, float64, torch {torch.__version__}, {where}, "
        f"{torch.get_num_threads()} CPU threads"
    )
    torch.manual_seed(0)
    compare("MLP 64-32-10", train(mlp().to(dev), X, y), X, y)
    torch.manual_seed(0)
    compare("CNN conv4-conv8-fc", train(CNN().to(dev), X, y), X, y)
    batch_of_models(X, y)


if __name__ == "__main__":
    main()
