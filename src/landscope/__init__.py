"""landscope: the optimization landscape of neural networks, by experiment."""

from importlib.metadata import PackageNotFoundError, version

from .problems import Problem, ReluTeacherStudent, init_from_seeds

try:
    __version__ = version("landscope")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["Problem", "ReluTeacherStudent", "__version__", "init_from_seeds"]
