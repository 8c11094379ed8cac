"""Running studies: the results store, resume after interruption, progress."""

from .lookup import stored_run
from .runner import BOOKKEEPING_COLUMNS, RunReport, plot_study, run_study, show_study, study_schema
from .store import STORE_FILE, ResultStore, check_out_dir

__all__ = [
    "BOOKKEEPING_COLUMNS",
    "STORE_FILE",
    "ResultStore",
    "RunReport",
    "check_out_dir",
    "plot_study",
    "run_study",
    "show_study",
    "stored_run",
    "study_schema",
]
