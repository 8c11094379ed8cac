"""The ntk-convergence study: data, a small cell against the bound, the summary."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscope.kernels import lambda_0, ntk_gram, train_two_layer, two_layer_init
from landscope.studies import RunContext, get_study
from landscope.studies.ntk_convergence import STUDY, dataset, run_cell, summarize

BASE = {p.name: p.default[0] for p in STUDY.params}


def test_registered_with_default_grid() -> None:
    assert get_study("ntk-convergence").name == "ntk-convergence"
    assert [c["m"] for c in STUDY.cells()] == [2**6, 2**8, 2**10, 2**12, 2**14]


def test_dataset_on_the_sphere_with_sign_labels() -> None:
    X, y = dataset(30, 5, 2)
    assert X.shape == (30, 5) and y.shape == (30,)
    assert torch.allclose(X.norm(dim=1), torch.ones(30, dtype=torch.float64), atol=1e-15)
    assert set(y.tolist()) <= {-1.0, 1.0}
    X2, y2 = dataset(30, 5, 2)
    assert torch.equal(X, X2) and torch.equal(y, y2)


def test_wide_cell_respects_the_bound_and_narrow_moves_more() -> None:
    """n = 10 points, d = 5: at m = 4096 every run stays under (1 - eta lambda_0/2)^(k/2)
    and converges faster than the bound's rate; at m = 64 the weights move further."""
    cfg = BASE | {"n": 10, "d": 5, "steps": 300}
    wide = run_cell(cfg | {"m": 4096}, [0, 1], RunContext())
    narrow = run_cell(cfg | {"m": 64}, [0, 1], RunContext())
    X, _ = dataset(10, 5, 0)
    for r in wide:
        assert set(STUDY.columns) <= set(r)
        assert r["lambda_0"] == pytest.approx(lambda_0(X), rel=1e-12)
        assert r["bound_holds"] and r["rate"] >= r["rate_bound"]
        assert r["rec_steps"][0] == 0 and r["rec_steps"][-1] == 300
        assert len(r["rec_residual"]) == len(r["rec_steps"])
    move = lambda rows: np.mean([r["weight_move"] for r in rows])  # noqa: E731
    change = lambda rows: np.mean([r["pattern_change"] for r in rows])  # noqa: E731
    assert move(narrow) > 2 * move(wide) and change(narrow) > 2 * change(wide)
    summary = summarize(
        [r | cfg | {"m": 4096} for r in wide] + [r | cfg | {"m": 64} for r in narrow]
    )
    assert [s["m"] for s in summary] == [64, 4096]
    assert summary[1]["bound_holds"] == 1.0
    assert len(summary[1]["curve_residual"]) == len(summary[1]["curve_steps"])


def test_protocol_is_train_two_layer_bit_for_bit() -> None:
    """The declared protocol (data, Train with an NTKTracker, Measure) gives exactly what
    ``kernels.train_two_layer`` gives on the same sample and starts."""
    cfg = BASE | {"n": 10, "d": 5, "steps": 200, "m": 256}
    rows = run_cell(cfg, [0, 3], RunContext())
    X, y = dataset(10, 5, cfg["data_seed"])
    gens = [torch.Generator().manual_seed(s) for s in (0, 3)]
    starts = [two_layer_init(1, 256, 5, generator=g) for g in gens]
    W0, a = torch.cat([w for w, _ in starts]), torch.cat([a for _, a in starts])
    ev = torch.linalg.eigvalsh(ntk_gram(X, "relu", "h_inf"))
    eta = cfg["eta_scale"] / float(ev[-1])
    dyn = train_two_layer(X, y, W0, a, eta=eta, steps=200)
    rate = dyn.rate()
    for r, row in enumerate(rows):
        assert row["eta"] == eta and row["lambda_0"] == float(ev[0])
        assert row["status"] == dyn.status_names()[r] and row["train_steps"] == 200
        assert row["rec_steps"] == [float(k) for k in dyn.steps]
        assert np.array_equal(row["rec_residual"], dyn.residual[r].numpy())
        assert row["final_residual"] == float(dyn.final_residual[r])
        assert row["rate"] == float(rate[r])
        assert row["lambda_min_h0"] == float(dyn.lambda_min_H0[r])
        for key in ("pattern_change", "weight_move", "gram_drift"):
            assert row[key] == float(getattr(dyn, key)[r, -1]), key


def test_a_run_needs_its_drawn_signs() -> None:
    with pytest.raises(ValueError, match="cannot be rebuilt from the configuration alone"):
        STUDY.make_problem(BASE)
