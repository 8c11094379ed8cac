"""The spurious-spectra study: its parameters, and a small run through the CLI.

The representation theory and spectrum splits it uses are tested with their rooms
(tests/symmetry/test_irreducible.py, tests/spectrum/test_outliers.py).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from landscope.cli import main
from landscope.studies import RunContext, get_study
from landscope.studies.spurious_spectra import STUDY


def test_parameters_hold_the_protocol_constants() -> None:
    """The isotropy, clustering and bulk-edge tolerances are stored parameters."""
    (cell,) = STUDY.cells({"k": [8]})
    assert cell == {"k": 8, "iso_tol": 1e-6, "distinct_tol": 1e-6, "bulk_edge": 0.5}


def test_needs_the_sweep_for_the_source_runs() -> None:
    with pytest.raises(ValueError, match="reads spurious-relu results: run it through the sweep"):
        STUDY.run_cell(STUDY.cells({"k": [6]})[0], [0, 1], RunContext())


@pytest.mark.slow
def test_cli_run_finds_delta_s7_minima_at_k8(tmp_path, capsys) -> None:
    """spurious-relu seeds 0 and 6 of k = 8 end at spurious minima (tests/conftest.py);
    spurious-spectra runs that study's missing cells into the same store first."""
    out = str(tmp_path)
    args = ["--out", out, "--quiet", "--seeds", "7", "--set", "k=8"]
    assert main(["run", "spurious-spectra", *args]) == 0
    capsys.readouterr()
    assert main(["show", "spurious-spectra", "--out", out, "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    keys = ("k", "isotropy", "order", "count", "loss_mean", "eig_min", "eig_max", "distinct_eigs")
    for key in keys:
        assert all(key in c for c in summary)
    glob = [c for c in summary if "global" in c["isotropy"]]
    spur = [c for c in summary if "global" not in c["isotropy"]]
    assert len(glob) == 1 and glob[0]["matches_symmetry"] and glob[0]["order"] == 40320
    assert [(c["isotropy"], c["order"], c["count"]) for c in spur] == [("Delta S_7", 5040, 2)]
    assert glob[0]["in_delta_s_k_minus_1"] == 1.0
    assert spur[0]["eig_min"] > 0 and np.isclose(spur[0]["loss_mean"], 0.0215080, atol=1e-6)
    # the source runs are stored under spurious-relu, and a rerun computes nothing
    assert main(["show", "spurious-relu", "--out", out, "--format", "json"]) == 0
    capsys.readouterr()
    assert main(["run", "spurious-spectra", *args]) == 0
    assert "ran 0 of 1" in capsys.readouterr().out
    assert main(["plot", "spurious-spectra", "--out", out]) == 0
    assert (tmp_path / "figures" / "spurious-spectra.png").is_file()


def test_registered() -> None:
    assert get_study("spurious-spectra").name == "spurious-spectra"
