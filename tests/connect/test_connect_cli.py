"""``landscope connect``: paths between two stored runs of spurious-relu."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from landscope.cli import main
from landscope.problems import ReluTeacherStudent
from landscope.sweep import ResultStore


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """spurious-relu k = 4, n = k: seeds 0..2 (global minima, each a permutation of I)."""
    out = tmp_path_factory.mktemp("connect")
    args = ["run", "spurious-relu", "--out", str(out), "--quiet", "--seeds", "3"]
    assert main([*args, "--set", "k=4", "--set", "extra=0"]) == 0
    return out


def _params(out: Path, seed: int) -> torch.Tensor:
    with ResultStore(out, read_only=True) as s:
        row = next(r for r in s.rows("spurious_relu", exclude=()) if r["seed"] == seed)
    return torch.tensor(row["params"], dtype=torch.float64)


def _json(capsys, *args) -> dict:
    assert main(["connect", "spurious-relu", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_linear_barrier_matches_a_direct_evaluation(store: Path, capsys) -> None:
    rep = _json(capsys, "0", "1", "--out", str(store), "--set", "k=4", "--format", "json")
    prob = ReluTeacherStudent(k=4, n=4)
    a, b = _params(store, 0), _params(store, 1)
    vals = [float(prob.loss(((1 - t) * a + t * b)[None])[0]) for t in np.linspace(0, 1, 65)]
    # the same 65 points evaluated one at a time: equal to rounding
    assert rep["max_loss"] == pytest.approx(max(vals), abs=1e-13)
    assert rep["barrier"] == pytest.approx(max(vals) - max(vals[0], vals[-1]), abs=1e-13)
    assert rep["normalized_length"] == 1.0 and rep["n_beads"] == 0
    for f in rep["figures"]:
        assert Path(f).stat().st_size > 0


def test_alignment_and_other_methods(store: Path, capsys) -> None:
    """Both runs are global minima W = P I: aligned, B is A and the barrier vanishes;
    unaligned (if the permutations differ) the straight line climbs."""
    common = ["--out", str(store), "--set", "k=4", "--format", "json"]
    plain = _json(capsys, "0", "2", *common)
    aligned = _json(capsys, "0", "2", *common, "--align")
    assert aligned["barrier"] <= plain["barrier"] + 1e-12
    # the stored runs are certified global minima by their loss (<= gap_tol 1e-9, the
    # polish stops at 1e-10), so the aligned straight line between them stays that low
    assert aligned["max_loss"] < 1e-9
    level = 0.5 * (plain["max_loss"] + 1e-3)
    string = _json(capsys, "0", "2", *common, "--method", "string", "--level", str(level))
    assert string["method"] in ("string", "string_constrained") and string["level"] == level
    assert string["max_loss"] <= level or string["status"] == "not_connected_found"
    neb = _json(capsys, "0", "2", *common, "--method", "neb")
    assert neb["method"] == "neb" and neb["max_loss"] <= plain["max_loss"] + 1e-12


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--method", "string"], "--method string needs --level"),
        (["--set", "k=7"], "no stored run of 'spurious-relu' matches k=7"),
        (["--level", "nan"], "--level must be a finite number"),
    ],
)
def test_errors(store: Path, capsys, args, words) -> None:
    assert main(["connect", "spurious-relu", "0", "1", "--out", str(store), *args]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
