#!/usr/bin/env bash
# Builds benchmarks/convex/.venv: a separate venv holding the authors' convex-ReLU library
# `pyscnn` (import `scnn`, Mishkin, Sahiner & Pilanci, ICML 2022), cvxpy + Clarabel for the
# reference solves, and landscope itself (editable, no deps).
#
# pyscnn declares torchvision (and scikit-learn) as dependencies but never imports them;
# torchvision would drag in a multi-GB CUDA torch. So pyscnn and its helper package
# linalg_backends (imported as `lab`) are installed with --no-deps, after a CPU torch and
# only the packages their source actually imports:
#   scnn: numpy, scipy, torch, typing_extensions, tqdm, cvxpy, lab (= linalg_backends)
#   lab:  numpy, scipy, torch, opt_einsum (cupy is optional, import guarded)
#
# Usage: bash benchmarks/convex/setup.sh      (PYTHON=/path/to/python3.11 to override)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="$HERE/.venv"
PYTHON="${PYTHON:-python3}"

# Pinned to what was tested; torch matches the main venv.
TORCH_VERSION="2.13.0"
PYSCNN_VERSION="0.0.10"
LAB_VERSION="0.0.1b0"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check)

# 1. CPU torch, the same version as the main venv. Here pip finds the CPU wheel through its
#    configured find-links; the check below fails loudly if a CUDA build came in instead.
"${PIP[@]}" "torch==$TORCH_VERSION"
"$VENV/bin/python" - <<'EOF'
import torch, sys
if torch.version.cuda is not None:
    sys.exit(f"expected a CPU-only torch, got {torch.__version__} (cuda {torch.version.cuda})")
EOF

# 2. What scnn and lab really import (torch already satisfied, so nothing CUDA is pulled).
"${PIP[@]}" numpy scipy typing_extensions tqdm opt_einsum

# 3. cvxpy with the Clarabel solver (reference solves; scnn's CVXPY path imports cvxpy too).
"${PIP[@]}" cvxpy clarabel

# 4. landscope, editable, plus its own dependencies (torch is already there).
"${PIP[@]}" numpy scipy duckdb matplotlib rich scikit-learn
"${PIP[@]}" --no-deps -e "$ROOT"

# 5. scnn and lab themselves, without their declared dependencies. Last, because every pip
#    install after it would print "pyscnn requires torchvision, which is not installed"
#    (expected; `pip check` says the same).
"${PIP[@]}" --no-deps "pyscnn==$PYSCNN_VERSION" "linalg_backends==$LAB_VERSION"

# 6. Smoke test: imports and a tiny scnn fit.
"$VENV/bin/python" - <<'EOF'
import warnings; warnings.filterwarnings("ignore")
import numpy as np, torch, cvxpy, clarabel, scnn, landscope
from scnn.models import ConvexReLU
from scnn.optimize import optimize_model
from scnn.regularizers import NeuronGL1
from scnn.solvers import AL
from scnn.metrics import Metrics

rng = np.random.default_rng(0)
X = rng.standard_normal((20, 3)); y = np.maximum(X @ rng.standard_normal(3), 0.0)
G = rng.standard_normal((3, 16))
model = ConvexReLU(G, c=1)
model, _ = optimize_model(model, AL(model, max_primal_iters=2000), Metrics(), X, y,
                          regularizer=NeuronGL1(0.01), return_convex=True,
                          unitize_data=False, dtype="float64")
assert np.all(np.isfinite(model.parameters[0]))
assert "CLARABEL" in cvxpy.installed_solvers()
print("ok: torch", torch.__version__, "| cvxpy", cvxpy.__version__, "| clarabel", clarabel.__version__,
      "| scnn fit ran, train SSE", float(np.sum((model(X)[:, 0] - y) ** 2)))
EOF
