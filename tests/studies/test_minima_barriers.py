"""The minima-barriers study: pairs of stored minima, and the two spurious minima of
spurious-relu k = 8 among seeds 0..6 through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from landscope.cli import main
from landscope.connect import align_rows
from landscope.problems import ReluTeacherStudent, init_from_seeds
from landscope.studies import RunContext, get_study
from landscope.studies.minima_barriers import STUDY
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
    # each pair is stored once, in the row of its later seed
    assert rows[0]["isotropy"] == "Delta S_7" and list(rows[0]["partners"]) == []
    assert list(rows[6]["partners"]) == [0] and list(rows[6]["same_type"]) == [True]
    prob = ReluTeacherStudent(k=8, n=8)
    a = torch.tensor(src[0]["params"], dtype=torch.float64)
    b = torch.tensor(src[6]["params"], dtype=torch.float64)
    eye = torch.eye(8, dtype=torch.float64).reshape(-1)
    assert rows[0]["barrier_global"] == pytest.approx(_barrier(prob, a, eye), abs=1e-12)
    assert rows[6]["barrier_pair"][0] == pytest.approx(_barrier(prob, a, b), abs=1e-12)
    b_aligned = align_rows(prob, a, b)
    assert rows[6]["barrier_pair_aligned"][0] == pytest.approx(
        _barrier(prob, a, b_aligned), abs=1e-12
    )
    assert rows[0]["barrier_global"] > 0.1 and rows[0]["barrier_global_aligned"] < 0.1


def _table(out, capsys) -> list[dict]:
    capsys.readouterr()
    assert main(["show", "minima-barriers", "--out", str(out), "--format", "json"]) == 0
    return [
        {k: v for k, v in c.items() if k != "wall_s"} for c in json.loads(capsys.readouterr().out)
    ]


@pytest.mark.slow
def test_a_resumed_run_gives_the_table_of_a_fresh_run(tmp_path, capsys) -> None:
    """The spurious minima of k = 8 are seeds 0 and 6: ``--seeds 4`` then ``--seeds 7``
    computes them in different calls and must still pair them, as one ``--seeds 7`` does
    (before the fix the resumed table had no pair at all)."""
    args = ["minima-barriers", "--quiet", "--set", "k=8"]
    fresh, resumed = tmp_path / "fresh", tmp_path / "resumed"
    assert main(["run", *args, "--out", str(fresh), "--seeds", "7"]) == 0
    assert main(["run", *args, "--out", str(resumed), "--seeds", "4"]) == 0
    assert main(["run", *args, "--out", str(resumed), "--seeds", "7"]) == 0
    want, got = _table(fresh, capsys), _table(resumed, capsys)
    assert [(c["pair"], c["pairs"]) for c in got] == [("to global minimum", 2), ("same type", 1)]
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.keys() == w.keys()
        for key, value in w.items():
            assert g[key] == (
                pytest.approx(value, abs=1e-12) if isinstance(value, float) else value
            )


def _source(prob: ReluTeacherStudent, verdicts: list[str]) -> list[dict]:
    """Stored spurious-relu rows, one per seed: random points labelled with ``verdicts``."""
    pts = init_from_seeds(prob, list(range(len(verdicts))))
    loss = prob.loss(pts)
    return [
        {"config_hash": "h", "seed": s, "verdict": v, "loss": float(loss[s]), "params": p.numpy()}
        for s, (v, p) in enumerate(zip(verdicts, pts, strict=True))
    ]


def test_pairs_reach_the_minima_stored_by_earlier_calls() -> None:
    """A call for seeds 2 and 3 pairs them with seed 0, computed in an earlier call: each
    row's pairs are those with every spurious minimum of a smaller seed, whichever call
    computed it, so its row is the same as in one call for all seeds."""
    prob = ReluTeacherStudent(k=4, n=4)
    source = _source(prob, ["spurious_min", "global_min", "spurious_min", "spurious_min"])
    asked = []

    def require(name: str, overrides: dict, n: int) -> list[dict]:
        asked.append((name, overrides, n))
        return source[:n]

    cfg = STUDY.cells({"k": [4]})[0]
    later = STUDY.run_cell(cfg, [2, 3], RunContext(require=require))
    assert asked == [("spurious-relu", {"k": [4], "extra": [0]}, 4)]
    assert [list(r["partners"]) for r in later] == [[0], [0, 2]]
    pts = {r["seed"]: torch.as_tensor(r["params"]) for r in source}
    for r in later:
        for t, bar in zip(r["partners"], r["barrier_pair"], strict=True):
            want = _barrier(prob, pts[int(t)], pts[r["seed"]])
            assert bar == pytest.approx(want, abs=1e-12)
    one_call = STUDY.run_cell(cfg, [0, 1, 2, 3], RunContext(require=require))
    assert one_call[1]["partners"] is None  # not a spurious minimum
    assert list(one_call[0]["partners"]) == []
    for a, b in zip(later, one_call[2:], strict=True):
        assert a.keys() == b.keys()
        for key in ("partners", "same_type", "barrier_pair", "barrier_pair_aligned"):
            np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-14)
        assert a["isotropy"] == b["isotropy"]


def test_registered() -> None:
    study = get_study("minima-barriers")
    assert [c["k"] for c in study.cells()] == [8, 9, 10]
