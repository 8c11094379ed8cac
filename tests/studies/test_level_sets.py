"""The level-sets study: its nets, a small cell on the polynomial regression, the summary."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscope.studies import RunContext, get_study
from landscope.studies.level_sets import STUDY, make_problem, parse_net, run_cell, summarize


def test_registered_with_default_grid() -> None:
    assert get_study("level-sets").name == "level-sets"
    grid = STUDY.cells()
    assert len(grid) == 9 * 3
    assert {parse_net(c["net"])[0] for c in grid} == {"poly2", "poly3", "relu", "cnn"}


@pytest.mark.parametrize(
    ("overrides", "words"),
    [({"net": ["mlp:4"]}, "net must be model:width"), ({"net": ["poly2:0"]}, "net must be"),
     ({"net": ["poly2"]}, "net must be"), ({"level": [1.5]}, r"level is a fraction .* in \(0, 1\)"),
     ({"level": [0.0]}, "level must be a positive number")],
)  # fmt: skip
def test_validation_errors(overrides, words) -> None:
    with pytest.raises(ValueError, match=words):
        STUDY.cells(overrides)


@pytest.mark.parametrize(
    ("net", "P"), [("poly2:4", 8 + 20 + 5), ("relu:6", 24), ("cnn:2", 20 + 730)]
)
def test_problems(net: str, P: int) -> None:
    prob = make_problem({"net": net, "level": 0.1})
    assert prob.n_params == P
    loss0 = float(prob.loss(torch.zeros(1, P, dtype=torch.float64))[0])
    if net.startswith("cnn"):
        assert loss0 == pytest.approx(np.log(10), rel=1e-12)  # uniform over 10 classes
    assert loss0 > 0


def test_small_cell_connects_under_the_level() -> None:
    """poly2:4 at 0.1 E(0): both endpoints trained below alpha L0, the string connected,
    every sampled point of its polygon at or below L0, length / chord >= 1."""
    cfg = {"net": "poly2:4", "level": 0.1}
    rows = run_cell(cfg, [0], RunContext())
    (r,) = rows
    assert set(STUDY.columns) <= set(r)
    L0 = r["level_abs"]
    prob = make_problem(cfg)
    zero = torch.zeros(1, prob.n_params, dtype=torch.float64)
    assert L0 == pytest.approx(0.1 * float(prob.loss(zero)[0]))
    assert max(r["endpoint_loss_a"], r["endpoint_loss_b"]) <= 0.5 * L0
    assert r["connected"] and r["stop"] == "connected"
    assert np.max(r["path_loss"]) <= L0 and r["normalized_length"] >= 1.0
    assert r["path_t"][0] == 0.0 and r["path_t"][-1] == pytest.approx(1.0, abs=1e-15)
    (s,) = summarize([r | cfg])
    assert (s["model"], s["width"], s["level"], s["pairs"], s["connected"]) == (
        "poly2",
        4,
        0.1,
        1,
        1.0,
    )
    assert s["normalized_length_mean"] == pytest.approx(r["normalized_length"])


def test_summary_fractions() -> None:
    base = {"net": "relu:4", "level": 0.01, "level_abs": 0.02, "train_steps": 10}
    rows = [
        base | {"seed": 0, "stop": "connected", "connected": True, "normalized_length": 1.2,
                "n_beads": 2},
        base | {"seed": 1, "stop": "depth_cap", "connected": False, "normalized_length": 3.0,
                "n_beads": 30},
        base | {"seed": 2, "stop": "endpoint_not_reached", "connected": False,
                "normalized_length": None, "n_beads": None, "train_steps": None},
    ]  # fmt: skip
    (s,) = summarize(rows)
    assert (s["pairs"], s["endpoints_missed"], s["connected"]) == (2, 1, 0.5)
    assert s["normalized_length_mean"] == 1.2 and s["beads_mean"] == 2.0
