"""Protocol steps on a toy problem: settings from the cell, drawn data, initializations
that fix the problem, skipped training, and certification capped by size."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from landscope.optim import GD, Stop
from landscope.problems import OneHiddenRegression, Quadratic
from landscope.studies import RunContext
from landscope.studies.protocol import (
    UNCERTIFIED,
    Cell,
    FromCell,
    Measure,
    PolishCertify,
    Protocol,
    Require,
    Retrain,
    Start,
    Train,
)

A = torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
CFG = {"tol": 1e-6, "max_steps": 2000, "polish_from": 1e-3, "polish_tol": 1e-12}


def _quadratic(cfg: dict, dtype: str = "float64", device: str = "cpu") -> Quadratic:
    return Quadratic(A, dtype=dtype, device=device)


def _gd(**kw) -> Train:
    stop = lambda cfg: Stop(grad_tol=cfg["tol"], max_steps=cfg["max_steps"])  # noqa: E731
    return Train(method=lambda cfg: GD(0.3), **({"stop": stop} | kw))


def test_settings_from_the_cell_see_its_drawn_data() -> None:
    # every run's own center, drawn from its seed; the stopping rule scales with the data
    def make_data(cfg: dict, seeds: list[int]) -> torch.Tensor:
        return torch.tensor([[float(s), 0.0, 1.0] for s in seeds], dtype=torch.float64)

    def make_problem(cfg: dict, data=None, dtype="float64", device="cpu") -> Quadratic:
        return Quadratic(A, center=data[0], dtype=dtype, device=device)

    seen: list[Cell] = []

    def stop(cell: Cell) -> Stop:
        seen.append(cell)
        scale = float(cell.data.abs().max())
        return Stop(grad_tol=cell.cfg["tol"] * scale, max_steps=cell.cfg["max_steps"])

    proto = Protocol(
        make_problem=make_problem, make_data=make_data, steps=(_gd(stop=FromCell(stop)),)
    )
    rows = proto.run_cell(CFG, [2, 5], RunContext())
    (cell,) = seen
    assert torch.equal(cell.data, make_data(CFG, [2, 5]))
    assert torch.equal(cell.problem.center, make_data(CFG, [2, 5])[0])
    assert cell.result is not None and cell.result.stop.grad_tol == pytest.approx(5e-6)
    for r in rows:
        assert r["opt_status"] == "converged" and 0 < r["opt_grad_norm"] <= 5e-6


def test_an_initialization_from_the_cell_may_fix_the_problem() -> None:
    other = Quadratic(2 * A, center=torch.ones(3, dtype=torch.float64))

    def init(cell: Cell) -> Start:
        theta = torch.full((cell.R, 3), float(cell.cfg["tol"]), dtype=torch.float64)
        return Start(theta, problem=other)

    proto = Protocol(make_problem=_quadratic, init=FromCell(init), steps=())
    cell = proto.start(CFG, [0, 1, 2], RunContext())
    assert cell.problem is other and cell.problem64 is other
    assert cell.theta is cell.theta0 and cell.theta.shape == (3, 3)
    assert float(cell.theta[0, 0]) == CFG["tol"] and cell.init_s >= 0
    # rows only: the problem stays
    plain = Protocol(
        make_problem=_quadratic, init=FromCell(lambda cell: other.init(cell.R)), steps=()
    )
    cell = plain.start(CFG, [0, 1], RunContext())
    assert isinstance(cell.problem, Quadratic) and cell.problem is not other
    assert cell.theta0.shape == (2, 3)


def test_a_start_in_float32_needs_its_float64_problem() -> None:
    p32 = Quadratic(A, dtype="float32")
    init = FromCell(lambda cell: Start(torch.zeros(cell.R, 3, dtype=torch.float32), p32))
    with pytest.raises(ValueError, match="needs its problem64"):
        Protocol(make_problem=_quadratic, init=init, steps=()).start(CFG, [0], RunContext())


def test_retrain_certifies_its_rows_as_a_cell_of_their_own() -> None:
    # an indefinite quadratic: rows started with no component along the negative
    # direction converge to the saddle at 0 and are sent back; the third runs off (GD stops
    # it as diverged, its certificate says not_converged: it is not sent back). The
    # certify step's ``skip`` must see the retrained rows (2), not the whole cell (3).
    B = torch.diag(torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64))
    starts = torch.tensor([[1.0, 0.0, 1.0], [0.5, 0.0, 0.2], [1.0, 1.0, 1.0]],
                          dtype=torch.float64)  # fmt: skip
    seen = []

    def skip(cell: Cell) -> torch.Tensor:
        seen.append((cell.R, cell.theta.shape[0]))
        return torch.zeros(cell.R, dtype=torch.bool)

    certify = PolishCertify(skip=skip)
    train = _gd()
    proto = Protocol(
        make_problem=lambda cfg, dtype="float64", device="cpu": Quadratic(B),
        init=FromCell(lambda cell: starts[: cell.R].clone()),
        steps=(train, certify, Retrain(("saddle",), train, lambda cfg: Stop(grad_tol=1e-9),
                                       certify)),
    )  # fmt: skip
    rows = proto.run_cell(CFG, [0, 1, 2], RunContext())
    assert [r["verdict"] for r in rows] == ["saddle", "saddle", "not_converged"]
    assert seen == [(3, 3), (2, 2)]


def test_training_skipped_where_when_is_false() -> None:
    for when, trained in ((False, False), ("train", False), (lambda cfg: True, True)):
        proto = Protocol(make_problem=_quadratic, steps=(_gd(when=when),))
        cell = proto.start({**CFG, "train": 0}, [0, 1], RunContext())
        proto.steps[0](cell)
        if trained:
            assert (cell.columns["steps"] > 0).all()
            assert list(cell.columns["opt_status"]) == ["converged"] * 2
        else:
            assert cell.theta is cell.theta0 and cell.result is None
            assert list(cell.columns["steps"]) == [0, 0]
            assert list(cell.columns["opt_status"]) == ["none", "none"]
            assert np.isnan(cell.columns["opt_grad_norm"]).all()


@pytest.mark.parametrize("cap", [2, 3])
def test_certification_capped_by_the_number_of_parameters(cap: int) -> None:
    proto = Protocol(
        make_problem=_quadratic,
        steps=(_gd(), PolishCertify(max_params="cap", global_spectrum=False)),
    )
    rows = proto.run_cell({**CFG, "cap": cap}, [0, 1], RunContext())
    prob = _quadratic(CFG)
    for r in rows:
        theta = torch.as_tensor(r["params"])[None]
        loss, g = prob.loss_and_grad(theta)
        assert r["loss"] == pytest.approx(float(loss[0]), rel=1e-12, abs=1e-300)
        assert r["grad_norm"] == pytest.approx(float(g.norm()), rel=1e-12)
        if cap < prob.n_params:  # too large: loss and gradient only
            # the loss alone settles a row at the known global value (certify's rule)
            at_global = prob.global_min is not None and r["loss"] - prob.global_min <= 1e-9
            assert r["verdict"] == ("global_min" if at_global else UNCERTIFIED)
            assert r["polish_iters"] == 0
            assert r["eig_min"] is None and r["cert_grad_tol"] is None
        else:
            assert r["verdict"] == "global_min" and r["polish_iters"] > 0
            assert r["grad_norm"] <= 1e-12


def test_measurements_read_columns_and_the_certificate() -> None:
    def measure(cell: Cell) -> dict:
        # the certificate's loss, the train step's column, the initial rows
        moved = torch.linalg.vector_norm(cell.theta - cell.theta0.to(cell.theta), dim=1)
        with pytest.raises(KeyError, match="no step has written 'nothing'"):
            cell.value("nothing")
        return {
            "twice_loss": 2 * cell.value("loss"),
            "steps_too": cell.value("steps"),
            "moved": moved.numpy(),
        }

    types = {"twice_loss": "DOUBLE", "steps_too": "BIGINT", "moved": "DOUBLE"}
    proto = Protocol(
        make_problem=_quadratic,
        steps=(_gd(), PolishCertify(), Measure(measure, types)),
    )
    rows = proto.run_cell(CFG, [3, 4], RunContext())
    for r in rows:
        assert r["twice_loss"] == 2 * r["loss"] and r["steps_too"] == r["steps"]
        assert r["moved"] > 0 and math.isfinite(r["moved"])


def test_measure_where_measures_only_the_selected_rows() -> None:
    seen: list[Cell] = []

    def odd(cell: Cell) -> dict:
        return {"odd": [s % 2 == 1 for s in cell.seeds]}

    def measure(cell: Cell) -> dict:
        seen.append(cell)
        # the subset: its seeds, rows, columns and certificate, row for row
        assert cell.R == len(cell.value("loss")) == len(cell.value("steps"))
        loss = cell.problem64.loss(cell.theta).numpy()
        np.testing.assert_allclose(cell.value("loss"), loss, rtol=1e-12, atol=1e-300)
        return {
            "seed_sq": [s * s for s in cell.seeds],
            "vec": [np.full(3, float(s)) for s in cell.seeds],  # one array per row
        }

    proto = Protocol(
        make_problem=_quadratic,
        steps=(
            _gd(),
            PolishCertify(),
            Measure(odd, {"odd": "BOOLEAN"}),
            Measure(measure, {"seed_sq": "BIGINT", "vec": "DOUBLE[]"}, where=("odd", (True,))),
            Measure(measure, {"never": "DOUBLE"}, where=("verdict", ("saddle",))),
        ),
    )
    assert proto.columns()["vec"] == "DOUBLE[]"
    rows = proto.run_cell(CFG, [2, 3, 4, 5], RunContext())
    (cell,) = seen  # not called where no row is selected
    assert cell.seeds == [3, 5]
    for r in rows:
        assert r["never"] is None
        if r["seed"] % 2:
            assert r["seed_sq"] == r["seed"] ** 2
            assert np.array_equal(r["vec"], np.full(3, float(r["seed"])))
        else:
            assert r["seed_sq"] is None and r["vec"] is None


def test_a_measurement_must_write_one_value_per_selected_row() -> None:
    bad = Measure(lambda cell: {"x": [1.0]}, {"x": "DOUBLE"}, where=("verdict", ("global_min",)))
    proto = Protocol(make_problem=_quadratic, steps=(_gd(), PolishCertify(), bad))
    with pytest.raises(ValueError, match="wrote 1 values of 'x' for 2 rows"):
        proto.run_cell(CFG, [0, 1], RunContext())


def test_a_subset_selects_the_rows_of_row_data_problems() -> None:
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(3, 5, 2, generator=gen, dtype=torch.float64)
    y = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    prob = OneHiddenRegression(X, y, torch.ones(3, 1, dtype=torch.float64), "tanh")
    theta = torch.randn(3, 2, generator=gen, dtype=torch.float64)
    cell = Cell(CFG, [7, 8, 9], RunContext(), prob, prob, theta, {"c": np.arange(3)})
    sub = cell.subset([2, 0])
    assert sub.seeds == [9, 7] and list(sub.columns["c"]) == [2, 0]
    assert torch.equal(sub.theta, theta[[2, 0]])
    assert torch.equal(sub.problem.loss(sub.theta), prob.loss(theta)[[2, 0]])


def _stored(seeds: range, verdicts: dict[int, str]) -> list[dict]:
    """Another study's stored rows: one cell, a point and a verdict per seed."""
    return [
        {
            "config_hash": "h",
            "seed": s,
            "verdict": verdicts.get(s, "global_min"),
            "params": np.array([s, 0.0, -s]),
        }
        for s in seeds
    ]


def test_require_starts_from_the_stored_runs_of_the_same_seeds() -> None:
    asked = []

    def require(name: str, overrides: dict, n: int) -> list[dict]:
        asked.append((name, overrides, n))
        return _stored(range(n), {1: "saddle", 3: "saddle"})

    def earlier(cell: Cell) -> dict:
        return {"stored": [len(cell.required["other"])] * cell.R}

    step = Require(
        "other",
        overrides=lambda cfg: {"a": [cfg["tol"]]},
        copy=(("verdict", "source_verdict", "VARCHAR"),),
    )
    proto = Protocol(
        make_problem=_quadratic,
        steps=(step, Measure(earlier, {"stored": "BIGINT"})),
    )
    assert proto.columns() == {
        "source_verdict": "VARCHAR",
        "stored": "BIGINT",
        "params": "DOUBLE[]",
    }
    rows = proto.run_cell(CFG, [3, 2], RunContext(require=require))
    assert asked == [("other", {"a": [CFG["tol"]]}, 4)]
    assert [r["source_verdict"] for r in rows] == ["saddle", "global_min"]
    assert [list(r["params"]) for r in rows] == [[3.0, 0.0, -3.0], [2.0, 0.0, -2.0]]
    assert [r["stored"] for r in rows] == [4, 4]  # seeds 0..3: the earlier ones too


def test_require_errors() -> None:
    proto = Protocol(make_problem=_quadratic, steps=(Require("other", lambda cfg: {}),))
    with pytest.raises(ValueError, match="reads other results: run it through the sweep"):
        proto.run_cell(CFG, [0], RunContext())
    two_cells = _stored(range(2), {}) + [{**_stored(range(1), {})[0], "config_hash": "g"}]
    with pytest.raises(ValueError, match="name more than one cell"):
        proto.run_cell(CFG, [0, 1], RunContext(require=lambda name, o, n: two_cells))
    with pytest.raises(ValueError, match=r"no stored run of seeds \[1\]"):
        proto.run_cell(CFG, [0, 1], RunContext(require=lambda name, o, n: _stored(range(1), {})))


class _Seen:
    """An observer that keeps the rows it started from and the iterations it saw."""

    def __init__(self, theta0: torch.Tensor) -> None:
        self.theta0 = theta0.clone()
        self.iterations: list[int] = []

    def __call__(self, view) -> None:
        self.iterations.append(view.step)


def test_train_observers_run_with_the_driver_and_stay_for_measurements() -> None:
    def observe(cell: Cell, theta0: torch.Tensor) -> tuple[_Seen]:
        return (_Seen(theta0),)

    def measure(cell: Cell) -> dict:
        (seen,) = cell.observers["gd"]
        assert torch.equal(seen.theta0, cell.theta0)
        return {"iterations": [len(seen.iterations)] * cell.R}

    watched = Protocol(
        make_problem=_quadratic,
        steps=(_gd(label="gd", observe=observe), Measure(measure, {"iterations": "BIGINT"})),
    )
    rows = watched.run_cell(CFG, [0, 1, 2], RunContext())
    # every iteration: the start, then one per step of the longest run
    assert all(r["iterations"] == max(r["steps"] for r in rows) + 1 for r in rows)
    plain = Protocol(make_problem=_quadratic, steps=(_gd(label="gd"),)).run_cell(
        CFG, [0, 1, 2], RunContext()
    )
    for a, b in zip(rows, plain, strict=True):  # observing changes nothing
        assert np.array_equal(a["params"], b["params"]) and a["steps"] == b["steps"]


def test_seeded_data_refuses_a_missing_sample_in_one_sentence() -> None:
    from landscope.studies.protocol import seeded_data

    assert seeded_data({"X": 1}, "unused") == {"X": 1}
    with pytest.raises(ValueError) as err:
        seeded_data(None, "a toy run's sample is drawn from its seed")
    assert str(err.value) == (
        "a toy run's sample is drawn from its seed, so its problem cannot be rebuilt from the "
        "configuration alone."
    )


# --- issue 20: per-step progress


def test_train_reports_its_steps_against_the_budget() -> None:
    seen: list[tuple[int, int, str]] = []
    ctx = RunContext(progress=lambda done, total, text: seen.append((done, total, text)))
    cfg = {**CFG, "tol": 0.0, "max_steps": 250}  # no row converges: the budget ends them
    rows = Protocol(make_problem=_quadratic, steps=(_gd(),)).run_cell(cfg, [0, 1], ctx)
    assert [r["steps"] for r in rows] == [250, 250]
    steps = [text for _done, _total, text in seen if text.startswith("train step")]
    assert steps[:3] == ["train step 0 of 250", "train step 100 of 250", "train step 200 of 250"]
    assert steps[-1] == "train step 250 of 250"
    assert all(total == 2 for _done, total, _text in seen)
    assert seen[-1][0] == 2  # both rows finished
