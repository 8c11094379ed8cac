"""``landscope ntk``: JSON and table output for sphere, digits and file data, and one
sentence (exit 2) for every bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope import kernels
from landscope.cli import main
from landscope.kernels import lambda_0, ntk_gram


def run_json(capsys, *argv: str) -> dict:
    assert main(["ntk", *map(str, argv), "--format", "json"]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    return json.loads(out.out)


def error_sentence(capsys) -> str:
    out = capsys.readouterr()
    assert out.out == "" and "Traceback" not in out.err
    lines = out.err.strip().splitlines()
    assert len(lines) == 1, out.err
    assert lines[0].startswith("landscope: error: ") and lines[0].endswith(".")
    return lines[0].removeprefix("landscope: error: ")


def test_sphere_json_matches_the_library(capsys) -> None:
    r = run_json(capsys, "--data", "sphere", "--n", 20, "--d", 5)
    X = kernels.sphere(20, 5, seed=0)
    assert (r["n"], r["d"], r["kind"], r["activation"], r["depth"]) == (20, 5, "h_inf", "relu", 1)
    # JSON writes floats by repr, so the round trip is exact: the same computation
    assert r["lambda_0"] == lambda_0(X)
    ev = torch.linalg.eigvalsh(ntk_gram(X))
    assert_close(r["smallest"], ev[:5], what="smallest")
    assert_close(r["largest"], ev.flip(0)[:5], what="largest")
    assert r["lambda_max"] == r["largest"][0]
    assert r["condition"] == pytest.approx(r["lambda_max"] / r["lambda_0"], rel=1e-15)
    assert r["smallest"] == sorted(r["smallest"]) and r["lambda_0"] > 0


def test_options_reach_the_kernel(capsys) -> None:
    r = run_json(
        capsys,
        *("--n", 12, "--d", 3, "--seed", 4, "--activation", "tanh", "--kind", "ntk"),
        *("--depth", 2, "--k", 3),
    )
    X = kernels.sphere(12, 3, seed=4)
    assert r["lambda_0"] == lambda_0(X, "tanh", "ntk", 2)
    assert len(r["smallest"]) == len(r["largest"]) == 3


def test_digits(capsys) -> None:
    pytest.importorskip("sklearn")
    r = run_json(capsys, "--data", "digits", "--n", 30)
    assert (r["n"], r["d"]) == (30, 64)
    X = kernels.digits(30)
    assert_close(torch.linalg.vector_norm(X, dim=1), torch.ones(30, dtype=torch.float64))
    assert r["lambda_0"] == lambda_0(X)


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_file(capsys, tmp_path: Path, suffix: str) -> None:
    X = np.random.default_rng(0).normal(size=(9, 4))
    path = tmp_path / f"points{suffix}"
    if suffix == ".npy":
        np.save(path, X)
    else:
        np.savetxt(path, X, delimiter=",", fmt="%.17g")  # round-trips float64 exactly
    r = run_json(capsys, "--data", path, "--kind", "nngp")
    assert (r["n"], r["d"]) == (9, 4)
    assert r["lambda_0"] == lambda_0(X, kind="nngp")
    r = run_json(capsys, "--data", path, "--n", 4)
    assert r["n"] == 4 and r["lambda_0"] == lambda_0(X[:4])


def test_table(capsys) -> None:
    assert main(["ntk", "--n", "15", "--d", "4"]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    for word in ("H-infinity", "lambda_0", "lambda_max", "condition", "smallest", "largest"):
        assert word in out.out, word
    lam = lambda_0(kernels.sphere(15, 4, seed=0))
    assert f"{lam:.6g}" in out.out
    assert "nan" not in out.out.lower()


def test_singular_kernel_reports_infinite_condition_as_null(capsys, tmp_path: Path) -> None:
    path = tmp_path / "twice.npy"
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    np.save(path, x)
    r = run_json(capsys, "--data", path)
    assert abs(r["lambda_0"]) < 1e-15 and (r["condition"] is None or r["condition"] > 1e14)


def bad_inputs(tmp_path: Path) -> list[tuple[list[str], str]]:
    nan = tmp_path / "nan.npy"
    np.save(nan, np.array([[1.0, math.nan], [0.0, 1.0]]))
    flat = tmp_path / "flat.npy"
    np.save(flat, np.ones(3))
    text = tmp_path / "text.csv"
    text.write_text("1,2\n3,abc\n")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    return [
        (["--data", str(tmp_path / "missing.npy")], "does not exist"),
        (["--data", str(nan)], "NaN or infinite"),
        (["--data", str(flat)], "expected (n, d)"),
        (["--data", str(text)], "could not read"),
        (["--data", str(empty)], "empty"),
        (["--data", "points.txt"], "--data takes sphere, digits, or a .npy or .csv file"),
        (["--n", "0"], "--n must be a positive integer"),
        (["--d", "0"], "--d must be a positive integer"),
        (["--data", "digits", "--n", "5000"], "1797 images"),
        (["--activation", "swish"], "unknown activation 'swish'"),
        (["--kind", "h_inf", "--depth", "2"], "takes depth=1 only"),
        (["--depth", "0", "--kind", "ntk"], "depth is the number of hidden layers"),
        (["--k", "0"], "--k must be a positive integer"),
    ]


def test_bad_input_is_one_sentence(capsys, tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    for argv, match in bad_inputs(tmp_path):
        assert main(["ntk", *argv]) == 2, argv
        assert match in error_sentence(capsys), argv


def test_bad_choice_is_a_usage_error(capsys) -> None:
    assert main(["ntk", "--kind", "foo"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_sphere_points_are_reproducible_unit_vectors() -> None:
    X = kernels.sphere(50, 3, seed=1)
    assert X.shape == (50, 3) and X.dtype == torch.float64
    assert_close(torch.linalg.vector_norm(X, dim=1), torch.ones(50, dtype=torch.float64))
    assert torch.equal(X, kernels.sphere(50, 3, seed=1))
    assert torch.equal(X, kernels.sphere(50, 3, generator=torch.Generator().manual_seed(1)))
    assert not torch.equal(X, kernels.sphere(50, 3, seed=2))
    for bad in ({"n": 0, "d": 3}, {"n": 3, "d": -1}, {"n": 2.5, "d": 3}):
        with pytest.raises(ValueError, match="must be a positive integer"):
            kernels.sphere(**bad)


def test_load_points_keeps_float64_exactly(tmp_path: Path) -> None:
    X = np.random.default_rng(1).normal(size=(5, 3))
    np.save(tmp_path / "x.npy", X)
    assert np.array_equal(kernels.load_points(tmp_path / "x.npy").numpy(), X)
    assert np.array_equal(kernels.load_points(tmp_path / "x.npy", n=2).numpy(), X[:2])
    with pytest.raises(ValueError, match="has 5 rows; asked for n = 6"):
        kernels.load_points(tmp_path / "x.npy", n=6)
