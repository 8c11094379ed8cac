"""``stored_point``: a stored run of the toy study, its problem rebuilt, and one sentence
for every run that cannot be analysed."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
from toy_study import expected_value, make_toy_study

from landscope.problems import Quadratic
from landscope.studies import RunContext, config_hash
from landscope.sweep import StoredPoint, run_study, stored_point

F64 = torch.float64


def _quadratic(cfg: dict) -> Quadratic:
    return Quadratic(float(cfg["a"]) * torch.eye(3, dtype=F64))


def _toy(make_problem=_quadratic, nan_seed: int | None = None):
    toy = make_toy_study()
    inner = toy.run_cell

    def run_cell(cfg: dict, seeds: Sequence[int], ctx: RunContext) -> list[dict]:
        rows = inner(cfg, seeds, ctx)
        for r in rows:
            if r["seed"] == nan_seed:
                r["params"] = [math.nan] * len(r["params"])
        return rows

    return dataclasses.replace(toy, make_problem=make_problem, run_cell=run_cell)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """Toy cells a = 1, 2 (b = x), seeds 0..2; seed 2's parameters are NaN."""
    out = tmp_path_factory.mktemp("point")
    run_study(_toy(nan_seed=2), {"a": [1, 2], "b": ["x"]}, 3, out, progress=False)
    return out


def test_the_stored_run_rebuilt(store: Path) -> None:
    point = stored_point(_toy(), store, {"a": 2}, 1)
    assert isinstance(point, StoredPoint)
    cfg = {"a": 2, "b": "x", "c": 0.5}
    assert point.config == cfg
    assert point.row["seed"] == 1 and point.row["value"] == expected_value(cfg, 1)
    assert point.theta.shape == (1, 3) and point.theta.dtype == F64
    assert torch.equal(point.theta, torch.full((1, 3), expected_value(cfg, 1), dtype=F64))
    assert torch.equal(point.problem.A, 2.0 * torch.eye(3, dtype=F64))
    assert point.config_hash == point.row["config_hash"] == config_hash("toy", cfg)


@pytest.mark.parametrize(
    ("study", "pins", "seed", "words"),
    [
        (_toy(make_problem=None), {"a": 1}, 0, "study 'toy' cannot rebuild the problem of a "
         "stored run (it has no make_problem), so this analysis does not apply to it."),
        (_toy(), {}, 0, "2 cells of 'toy' are stored; pin one with --set for a (one of 1, 2)."),
        (_toy(), {"a": 1}, 7, "the cell of 'toy' with a=1 has no seed 7"),
        (_toy(), {"a": 1}, 2, "the run of 'toy' with seed 2 diverged (its parameters are not "
         "finite), so this analysis does not apply to it."),
        (_toy(lambda cfg: Quadratic(torch.eye(4, dtype=F64))), {"a": 1}, 0,
         "the stored parameters have 3 entries but the rebuilt problem has P = 4"),
    ],
)  # fmt: skip
def test_runs_that_cannot_be_analysed(store: Path, study, pins, seed, words) -> None:
    with pytest.raises(ValueError) as err:
        stored_point(study, store, pins, seed)
    assert words in str(err.value)


def test_the_analysis_is_named_in_the_sentence(store: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="so spectrum does not apply to it"):
        stored_point(_toy(), store, {"a": 1}, 2, what="spectrum")
    with pytest.raises(ValueError, match="no results for study 'toy'"):
        stored_point(_toy(), tmp_path, {"a": 1}, 0)
