"""``landscope activations``: JSON, CSV and table output, and one sentence for a bad --sigma."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
import torch

from _tolerances import assert_close
from landscope import activations as acts
from landscope.cli import main

RELU_RHO = 0.25 - 1 / (2 * math.pi)


def run_json(capsys, *extra: str) -> list[dict]:
    assert main(["activations", "--format", "json", *extra]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    return json.loads(out.out)


def test_json_has_one_object_per_activation(capsys) -> None:
    dtype, grad = torch.get_default_dtype(), torch.is_grad_enabled()
    rows = run_json(capsys)
    # The command only reads: default dtype and grad mode are as they were.
    assert torch.get_default_dtype() == dtype and torch.is_grad_enabled() == grad
    assert isinstance(rows, list)
    assert [r["name"] for r in rows] == acts.names()
    for r in rows:
        assert list(r["rho"]) == ["0.1", "1", "10"]
        for key in ("p1", "p2", "p3"):
            assert isinstance(r[key], bool), (r["name"], key)
        # JSON turns NaN and infinity into null: every rho must be a finite number.
        assert all(isinstance(v, float) and math.isfinite(v) for v in r["rho"].values())
    by_name = {r["name"]: r for r in rows}
    # ReLU is scale-free; the table's values go through JSON as repr (round trip exact).
    assert_close(
        list(by_name["relu"]["rho"].values()), [RELU_RHO] * 3, rtol=0, atol=1e-12, what="relu"
    )
    assert [by_name["relu"][key] for key in ("p1", "p2", "p3")] == [True, True, True]
    assert by_name["linear"]["p2"] is False
    assert by_name["quadratic"]["rho"]["10"] == pytest.approx(-400.0, rel=1e-12)
    assert by_name["relu"]["hermite_orders"] == [1, 2, 4]


def test_json_custom_sigmas(capsys) -> None:
    rows = run_json(capsys, "--sigma", "0.5,2")
    for r in rows:
        assert list(r["rho"]) == ["0.5", "2"]
    squared = next(r for r in rows if r["name"] == "squared_relu")
    # rho(s) = s^2 (4/pi - 1) for squared ReLU (closed form; see test_activation_moments).
    assert_close(
        [squared["rho"]["0.5"], squared["rho"]["2"]],
        [0.25 * (4 / math.pi - 1), 4 * (4 / math.pi - 1)],
        rtol=1e-12,
        atol=0,
        what="squared_relu rho",
    )


def test_registered_activation_appears(capsys) -> None:
    try:
        acts.register(
            "softsign",
            lambda z: z / (1 + z.abs()),
            lambda z: 1 / (1 + z.abs()) ** 2,
            kinks=(0.0,),
            description="z / (1 + |z|)",
        )
        rows = run_json(capsys)
    finally:
        acts.unregister("softsign")
    assert rows[-1]["name"] == "softsign"
    assert rows[-1]["description"] == "z / (1 + |z|)"
    assert rows[-1]["p1"] is True and rows[-1]["p3"] is True
    assert len(rows) == len(acts.names()) + 1


def test_table_lists_every_activation_without_nan(capsys) -> None:
    assert main(["activations"]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    for name in acts.names():
        assert f" {name} " in out.out, name
    assert "nan" not in out.out.lower()
    assert "rho(0.1)" in out.out and "rho(10)" in out.out


def test_csv_rows(capsys) -> None:
    assert main(["activations", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["name"] for r in rows] == acts.names()
    relu = rows[0]
    assert float(relu["rho(1)"]) == pytest.approx(RELU_RHO, abs=1e-12)
    flags = [relu[key] for key in ("P1", "P2", "P3", "hermite")]
    assert flags == ["True", "True", "True", "1 2 4"]


@pytest.mark.parametrize("sigma", ["0,1", "-1", "1,nan", "abc", "", "1,,2", "inf"])
def test_bad_sigma_is_one_sentence(capsys, sigma: str) -> None:
    assert main(["activations", "--sigma", sigma]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert "Traceback" not in out.err
    lines = out.err.strip().splitlines()
    assert len(lines) == 1, out.err
    assert lines[0].startswith("landscope: error: ")
    assert "--sigma" in lines[0] and lines[0].endswith(".")


def test_unknown_format_is_a_usage_error(capsys) -> None:
    assert main(["activations", "--format", "xml"]) == 2
    assert "invalid choice" in capsys.readouterr().err
