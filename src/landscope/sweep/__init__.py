"""Running studies: the results store, resume after interruption, progress.

Names load on first use (PEP 562), so that ``landscope.sweep.store``, which knows nothing
of torch, can be imported without the runner's import of the studies (and torch).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .lookup import stored_run
    from .point import StoredPoint, stored_point
    from .runner import (
        BOOKKEEPING_COLUMNS,
        RunReport,
        run_study,
        show_study,
        study_schema,
    )
    from .store import STORE_FILE, ResultStore, check_out_dir

# public name -> the module that defines it
_LAZY: dict[str, str] = {
    "stored_run": ".lookup",
    "StoredPoint": ".point",
    "stored_point": ".point",
    "BOOKKEEPING_COLUMNS": ".runner",
    "RunReport": ".runner",
    "run_study": ".runner",
    "show_study": ".runner",
    "study_schema": ".runner",
    "STORE_FILE": ".store",
    "ResultStore": ".store",
    "check_out_dir": ".store",
}


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first access."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name], __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "BOOKKEEPING_COLUMNS",
    "STORE_FILE",
    "ResultStore",
    "RunReport",
    "StoredPoint",
    "check_out_dir",
    "run_study",
    "show_study",
    "stored_point",
    "stored_run",
    "study_schema",
]
