"""The minima-barriers study on the two spurious minima of spurious-relu k = 8, seeds 0..6."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from landscope.cli import main
from landscope.problems import ReluTeacherStudent
from landscope.studies import get_study
from landscope.sweep import ResultStore


def _barrier(prob, a: torch.Tensor, b: torch.Tensor, points: int = 65) -> float:
    """The straight-line barrier, computed here point by point (independent of connect/)."""
    vals = [float(prob.loss(((1 - t) * a + t * b)[None])[0]) for t in np.linspace(0, 1, points)]
    return max(vals) - max(vals[0], vals[-1])


@pytest.mark.slow
def test_run_on_the_stored_spurious_minima(tmp_path, capsys) -> None:
    """Seeds 0 and 6 of k = 8 end at Delta S_7 minima (tests/conftest.py): one same-type
    pair; barriers match a point-by-point recomputation to 1e-12 (the same 65 points);
    alignment lowers the barrier to the teacher and between the pair."""
    out = str(tmp_path)
    args = ["--out", out, "--quiet", "--seeds", "7", "--set", "k=8"]
    assert main(["run", "minima-barriers", *args]) == 0
    capsys.readouterr()
    assert main(["show", "minima-barriers", "--out", out, "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [(c["pair"], c["pairs"]) for c in summary] == [
        ("to global minimum", 2),
        ("same type", 1),
    ]
    for c in summary:
        assert c["minima"] == 2 and c["aligned_lower"] == 1.0
        assert c["aligned_mean"] < c["barrier_mean"]
    with ResultStore(tmp_path, read_only=True) as store:
        rows = {r["seed"]: r for r in store.rows("minima_barriers")}
        src = {r["seed"]: r for r in store.rows("spurious_relu", exclude=())}
    assert sorted(s for s, r in rows.items() if r["isotropy"]) == [0, 6]
    assert rows[0]["isotropy"] == "Delta S_7" and list(rows[0]["partners"]) == [6]
    prob = ReluTeacherStudent(k=8, n=8)
    a = torch.tensor(src[0]["params"], dtype=torch.float64)
    b = torch.tensor(src[6]["params"], dtype=torch.float64)
    eye = torch.eye(8, dtype=torch.float64).reshape(-1)
    assert rows[0]["barrier_global"] == pytest.approx(_barrier(prob, a, eye), abs=1e-12)
    assert rows[0]["barrier_pair"][0] == pytest.approx(_barrier(prob, a, b), abs=1e-12)
    assert rows[6]["barrier_pair"][0] == pytest.approx(rows[0]["barrier_pair"][0], abs=1e-12)
    assert rows[0]["barrier_global"] > 0.1 and rows[0]["barrier_global_aligned"] < 0.1


def test_registered() -> None:
    study = get_study("minima-barriers")
    assert [c["k"] for c in study.cells()] == [8, 9, 10]
