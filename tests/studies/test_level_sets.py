"""The level-sets study: its nets, a small cell on the polynomial regression, the summary."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscope.connect import STRING_COLUMNS
from landscope.studies import RunContext, get_study
from landscope.studies.level_sets import (
    PARAMS,
    STUDY,
    SUMMARY,
    loss_at_zero,
    make_problem,
    parse_net,
    string_options,
    training,
)

# every parameter at its default: what a stored row holds besides its results
DEFAULTS = {p.name: p.default[0] for p in STUDY.params}


def _cfg(net: str, level: float = 0.1, **overrides) -> dict:
    """One cell's configuration: the defaults, with net, level and ``overrides``."""
    grid = {"net": [net], "level": [level]} | {k: [v] for k, v in overrides.items()}
    (cfg,) = STUDY.cells(grid)
    return cfg


def test_registered_with_default_grid() -> None:
    assert get_study("level-sets").name == "level-sets"
    grid = STUDY.cells()
    assert len(grid) == 9 * 3
    assert {parse_net(c["net"])[0] for c in grid} == {"poly2", "poly3", "relu", "cnn"}


def test_every_protocol_constant_is_a_parameter() -> None:
    """The cell's training and string settings come from the configuration only."""
    cfg = _cfg("relu:6", alpha=0.25, max_depth=3, max_beads=7, points=9, grad_tol=1e-8)
    assert string_options(cfg) == {
        "alpha": 0.25,
        "max_depth": 3,
        "max_beads": 7,
        "points": 9,
        "optimizer": "armijo",
        "lr": 1.0,
        "max_steps": 20_000,
        "tol": 1e-8,
    }
    assert training(_cfg("cnn:2", adam_lr=0.05, adam_max_steps=10)) == {
        "optimizer": "adam",
        "lr": 0.05,
        "max_steps": 10,
        "tol": 1e-10,
    }
    assert all(p.default for p in PARAMS)


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"net": ["mlp:4"]}, "net must be model:width"),
        ({"net": ["poly2:0"]}, "net must be"),
        ({"net": ["poly2"]}, "net must be"),
        ({"level": [1.5]}, r"level is a fraction .* in \(0, 1\)"),
        ({"level": [0.0]}, "level must be a positive number"),
        ({"alpha": [1.0]}, r"alpha is the fraction .* in \(0, 1\)"),
        ({"points": [2]}, "points must be >= 3"),
        ({"n_digits": [1798]}, r"n_digits must be in 1\.\.1797"),
    ],
)
def test_validation_errors(overrides, words) -> None:
    with pytest.raises(ValueError, match=words):
        STUDY.cells(overrides)


@pytest.mark.parametrize(
    ("net", "P"), [("poly2:4", 8 + 20 + 5), ("relu:6", 24), ("cnn:2", 20 + 730)]
)
def test_problems(net: str, P: int) -> None:
    prob = make_problem(_cfg(net))
    assert prob.n_params == P
    loss0 = float(prob.loss(torch.zeros(1, P, dtype=torch.float64))[0])
    assert loss_at_zero(prob) == loss0
    if net.startswith("cnn"):
        assert loss0 == pytest.approx(np.log(10), rel=1e-12)  # uniform over 10 classes
    assert loss0 > 0


def test_problem_sizes_follow_the_parameters() -> None:
    # poly2 at zero predicts 0: E(0) = mean(x^4) / 2 over n_points equally spaced points
    x = np.linspace(0, 1, 7)
    assert loss_at_zero(make_problem(_cfg("poly2:4", n_points=7))) == pytest.approx(
        np.mean(x**4) / 2, rel=1e-14
    )
    assert make_problem(_cfg("relu:6", teacher_k=3)).n_params == 6 * 3
    assert make_problem(_cfg("cnn:2", n_digits=50)).X.shape == (50, 1, 8, 8)


def test_small_cell_connects_under_the_level() -> None:
    """poly2:4 at 0.1 E(0): both endpoints trained below alpha L0, the string connected,
    every sampled point of its polygon at or below L0, length / chord >= 1."""
    cfg = _cfg("poly2:4", 0.1)
    rows = STUDY.run_cell(cfg, [0], RunContext())
    (r,) = rows
    assert set(STUDY.columns) <= set(r)
    assert set(STRING_COLUMNS) - {"level"} <= set(r)
    L0 = r["level_abs"]
    prob = make_problem(cfg)
    zero = torch.zeros(1, prob.n_params, dtype=torch.float64)
    assert L0 == pytest.approx(0.1 * float(prob.loss(zero)[0]))
    assert max(r["endpoint_loss_a"], r["endpoint_loss_b"]) <= 0.5 * L0
    assert r["connected"] and r["stop"] == "connected"
    assert np.max(r["path_loss"]) <= L0 and r["normalized_length"] >= 1.0
    assert r["path_t"][0] == 0.0 and r["path_t"][-1] == pytest.approx(1.0, abs=1e-15)
    (s,) = SUMMARY([r | cfg | {"config_hash": "h"}])
    assert (s["model"], s["width"], s["level"], s["pairs"], s["connected"]) == (
        "poly2",
        4,
        0.1,
        1,
        1.0,
    )
    assert s["normalized_length_mean"] == pytest.approx(r["normalized_length"])


def test_unreached_endpoints_get_no_string() -> None:
    """With one Adam step the endpoints stay above alpha L0: no string, stop says why."""
    (r,) = STUDY.run_cell(_cfg("poly2:4", 0.01, adam_max_steps=1), [0], RunContext())
    assert r["stop"] == "endpoint_not_reached" and r["connected"] is False
    assert max(r["endpoint_loss_a"], r["endpoint_loss_b"]) > 0.5 * r["level_abs"]
    assert r["path_t"] is None and r["n_beads"] is None and r["train_steps"] is None


def test_summary_fractions() -> None:
    base = DEFAULTS | {
        "config_hash": "h",
        "net": "relu:4",
        "level": 0.01,
        "level_abs": 0.02,
        "train_steps": 10,
    }
    rows = [
        base
        | {
            "seed": 0,
            "stop": "connected",
            "connected": True,
            "normalized_length": 1.2,
            "n_beads": 2,
        },
        base
        | {
            "seed": 1,
            "stop": "depth_cap",
            "connected": False,
            "normalized_length": 3.0,
            "n_beads": 30,
        },
        base
        | {
            "seed": 2,
            "stop": "endpoint_not_reached",
            "connected": False,
            "normalized_length": None,
            "n_beads": None,
            "train_steps": None,
        },
    ]
    (s,) = SUMMARY(rows)
    assert (s["pairs"], s["endpoints_missed"], s["connected"]) == (2, 1, 0.5)
    assert s["normalized_length_mean"] == 1.2 and s["beads_mean"] == 2.0
    assert s["normalized_length_max"] == 1.2 and s["train_steps_mean"] == 10.0


def test_summary_cells_sorted_by_model_width_and_falling_level() -> None:
    rows = [
        DEFAULTS
        | {
            "config_hash": f"h{i}",
            "net": net,
            "level": level,
            "level_abs": level,
            "stop": "connected",
            "connected": True,
            "normalized_length": 1.0,
            "n_beads": 0,
            "train_steps": 0,
        }
        for i, (net, level) in enumerate(
            [("relu:4", 0.1), ("cnn:8", 0.01), ("cnn:2", 0.01), ("cnn:2", 0.1)]
        )
    ]
    got = [(s["model"], s["width"], s["level"]) for s in SUMMARY(rows)]
    assert got == [("cnn", 2, 0.1), ("cnn", 2, 0.01), ("cnn", 8, 0.01), ("relu", 4, 0.1)]
