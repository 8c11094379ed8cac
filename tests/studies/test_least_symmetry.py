"""The least-symmetry study: its grid, validation, a small cell and its summary.

The covariances, isotropy classes and noise-scaled isotropy it uses are tested with their
rooms (tests/problems/test_covariance.py, tests/symmetry/test_classes.py).
"""

from __future__ import annotations

import pytest
import torch

from landscope.studies import RunContext, get_study
from landscope.studies.least_symmetry import STUDY, make_problem, sample_problem

BASE = {p.name: p.default[0] for p in STUDY.params}


def test_registered_with_default_grid() -> None:
    assert get_study("least-symmetry") is STUDY or get_study("least-symmetry").name == STUDY.name
    grid = STUDY.cells()
    assert [c["sigma"] for c in grid] == ["iso", "equi:0.5", "scales:2"]
    assert all(c["k"] == 10 and c["activation"] == "softplus:4" for c in grid)


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"sigma": ["nope"]}, "sigma must be iso, equi:c or scales:s"),
        ({"sigma": ["equi:1.5"]}, r"equi parameter must be a number in \[0, 1\)"),
        ({"sigma": ["equi:x"]}, "equi parameter"),
        ({"sigma": ["scales:-1"]}, r"scales parameter must be a number in \(0, inf\)"),
        ({"activation": ["nope"]}, "unknown activation 'nope'"),
        ({"m": [3]}, "m must be >= 10"),
    ],
)
def test_validation_errors(overrides, words) -> None:
    with pytest.raises(ValueError, match=words) as exc:
        STUDY.cells(overrides)
    assert "\n" not in str(exc.value)


def test_protocol_constants_are_parameters() -> None:
    assert {k: BASE[k] for k in ("grad_tol", "polish_from", "polish_tol", "refind_steps")} == {
        "grad_tol": 1e-6,
        "polish_from": 1e-5,
        "polish_tol": 1e-12,
        "refind_steps": 100,
    }
    assert (BASE["iso_factor"], BASE["stable_span"], BASE["data_seed"]) == (2.0, 2.0, 0)


def test_samples_a_and_b() -> None:
    """Sample A is drawn with data_seed, B with data_seed + 1; the teacher W* = I fits both."""
    cfg = BASE | {"k": 4, "m": 50, "sigma": "scales:2"}
    a, b = make_problem(cfg), sample_problem(cfg, cfg["data_seed"] + 1)
    assert not torch.equal(a.X, b.X)
    assert torch.equal(make_problem(cfg | {"data_seed": 1}).X, b.X)
    eye = torch.eye(4, dtype=torch.float64).reshape(1, -1)
    assert float(a.loss(eye)[0]) == 0.0 and float(b.loss(eye)[0]) == 0.0
    assert make_problem(cfg, dtype="float32").dtype == torch.float32


def test_run_cell_rows_and_summary() -> None:
    cfg = BASE | {"k": 4, "m": 400, "max_steps": 300}
    rows = STUDY.run_cell(cfg, [0, 1, 2], RunContext())
    assert [r["seed"] for r in rows] == [0, 1, 2]
    prob = make_problem(cfg)
    for r in rows:
        assert set(STUDY.columns) <= set(r)
        assert r["params"].shape == (16,)
        # the stored point is the certified one
        loss = float(prob.loss(torch.as_tensor(r["params"])[None])[0])
        assert loss == pytest.approx(r["loss"], rel=1e-12, abs=1e-15)
        if r["verdict"] != "spurious_min":
            assert r["isotropy"] is None
    summary = STUDY.summarize([r | cfg for r in rows])
    head = summary[0]
    assert head["isotropy"] == "(all spurious)" and head["runs"] == 3
    assert head["count"] == sum(r["verdict"] == "spurious_min" for r in rows)


def test_summary_counts_types_and_maximal_fraction() -> None:
    cfg = BASE | {"k": 8}
    mk = dict.fromkeys(STUDY.columns)

    def row(seed, verdict, iso=None, cls=None, vb=None):
        return {
            **mk,
            **cfg,
            "seed": seed,
            "verdict": verdict,
            "loss": 0.01,
            "eig_min": 1e-3,
            "isotropy": iso,
            "iso_order": 5040 if iso else None,
            "iso_class": cls,
            "verdict_b": vb,
            "noise": 0.05 if iso else None,
            "iso_stable": True if iso else None,
        }

    rows = [
        row(0, "global_min"),
        row(1, "spurious_min", "Delta S_7", "maximal", "spurious_min"),
        row(2, "spurious_min", "Delta S_7", "maximal", "spurious_min"),
        row(3, "spurious_min", "order 48 group", "other", "spurious_min"),
        row(4, "spurious_min", None, None, "saddle"),  # not re-found on B
    ]
    head, *types = STUDY.summarize(rows)
    assert (head["runs"], head["global"], head["count"], head["spurious_on_b"]) == (5, 1, 4, 3)
    assert head["maximal_fraction"] == pytest.approx(2 / 3)
    assert [(t["isotropy"], t["count"], t["class"]) for t in types] == [
        ("Delta S_7", 2, "maximal"),
        ("order 48 group", 1, "other"),
    ]
