"""The gaussian room: what it imports (DESIGN.md: torch, numpy, scipy only) and exports."""

from __future__ import annotations

import ast
import doctest
from pathlib import Path

import landscope.gaussian as gaussian

ALLOWED = {"torch", "numpy", "scipy", "math", "functools", "dataclasses", "typing"}
ALLOWED |= {"collections", "__future__"}


def test_imports_only_torch_numpy_scipy_and_itself() -> None:
    root = Path(gaussian.__file__).parent
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level == 1:  # from .x import y: inside the room
                    continue
                assert node.level == 0, f"{path.name} imports from a sibling room"
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in ALLOWED, f"{path.name} imports {name}"


def test_all_names_exist_and_docstring_example_runs() -> None:
    for name in gaussian.__all__:
        assert hasattr(gaussian, name), name
    failures, tried = doctest.testmod(gaussian, verbose=False)
    assert tried >= 1 and failures == 0
