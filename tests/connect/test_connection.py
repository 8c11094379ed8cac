"""``connect_runs``: the dispatcher gives what each method gives when called directly."""

from __future__ import annotations

import json

import pytest
import torch

from _tolerances import assert_close
from landscope.connect import (
    CONNECT_METHODS,
    Connection,
    connect_runs,
    dynamic_string,
    fit_bezier,
    fit_chain,
    linear_path,
    neb,
)
from landscope.problems import DoubleWell, ReluTeacherStudent

F64 = torch.float64
A = torch.tensor([-1.0], dtype=F64)  # the two minima of the double well (x^2 - 1)^2
B = torch.tensor([1.0], dtype=F64)


def _same_path(got, want) -> None:
    for field in ("beads", "bead_loss", "t", "loss"):
        assert torch.equal(getattr(got, field), getattr(want, field)), field
    assert (got.method, got.status, got.level) == (want.method, want.status, want.level)


def _plain(d: dict) -> str:
    return json.dumps({k: (v.item() if hasattr(v, "item") else v) for k, v in d.items()})


def test_linear_is_the_straight_segment_with_its_level() -> None:
    dw = DoubleWell(dim=1)
    for level in (None, 2.0, 0.5):
        got = connect_runs(dw, A, B, level=level)
        assert isinstance(got, Connection) and got.method == "linear" and not got.aligned
        assert got.string is None and got.neb is None
        _same_path(got.path, linear_path(dw, A, B, level=level))
    d = connect_runs(dw, A, B).as_dict()
    assert d["method"] == "linear" and d["aligned"] is False
    assert d["barrier"] == pytest.approx(1.0, abs=1e-12)  # the saddle x = 0, sampled
    assert d["loss_a"] == 0.0 and d["loss_b"] == 0.0
    assert "path_t" not in d and "path_loss" not in d
    _plain(d)


def test_string_and_neb_carry_their_own_results() -> None:
    dw = DoubleWell(dim=2)
    a, b = torch.tensor([-1.0, -1.0], dtype=F64), torch.tensor([1.0, -1.0], dtype=F64)
    got = connect_runs(dw, a, b, method="string", level=1.5)
    want = dynamic_string(dw, a[None], b[None], 1.5)
    _same_path(got.path, want.path)
    assert got.string.path is got.path
    d = got.as_dict()
    assert (d["depth"], d["stop"], d["train_steps"]) == (want.depth, want.stop, want.train_steps)
    assert d["method"] == want.path.method  # the path's own name wins in the flat dict

    got = connect_runs(dw, a, b, method="neb")
    band = neb(dw, a[None], b[None])
    _same_path(got.path, band.path)
    assert got.neb.saddle_loss == band.saddle_loss
    # the climbing image sits on the saddle (0, -1), where the loss is 1
    assert got.neb.saddle_loss == pytest.approx(1.0, abs=1e-6)
    d = got.as_dict()
    assert list(d)[:6] == ["method", "aligned", "saddle_loss", "saddle_grad_norm", "iters",
                           "converged"]  # fmt: skip
    _plain(d)


@pytest.mark.parametrize(("method", "fit"), [("bezier", fit_bezier), ("chain", fit_chain)])
def test_curves_draw_from_the_seed(method, fit) -> None:
    dw = DoubleWell(dim=2)
    a, b = torch.tensor([-1.0, -1.0], dtype=F64), torch.tensor([1.0, 1.0], dtype=F64)
    got = connect_runs(dw, a, b, method=method, seed=3)
    _same_path(got.path, fit(dw, a[None], b[None], generator=torch.Generator().manual_seed(3)))
    default = connect_runs(dw, a, b, method=method)  # seed 0
    _same_path(default.path, fit(dw, a, b, generator=torch.Generator().manual_seed(0)))


def test_align_permutes_b_onto_a() -> None:
    """B is the teacher with its neurons shuffled: aligned, the path is A -> A (loss 0)."""
    prob = ReluTeacherStudent(k=4)
    a = prob.teacher_point()
    W, v = prob.split(a)
    b = prob.join(W[:, [2, 0, 3, 1]], v[:, [2, 0, 3, 1]])
    raw = connect_runs(prob, a, b)
    got = connect_runs(prob, a, b, align=True)
    assert got.aligned and got.as_dict()["aligned"] is True
    assert raw.path.barrier > 0.05
    assert_close(got.path.beads[-1], a[0], what="aligned B")
    assert got.path.max_loss < 1e-12


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"method": "geodesic"}, "unknown path method 'geodesic'"),
        ({"method": "string"}, "method 'string' needs a level"),
        ({"level": float("nan")}, "level must be a finite number"),
    ],
)
def test_bad_input_is_one_sentence(kwargs, words) -> None:
    with pytest.raises(ValueError, match=words):
        connect_runs(DoubleWell(dim=1), A, B, **kwargs)
    assert set(CONNECT_METHODS) == {"linear", "string", "neb", "bezier", "chain"}
