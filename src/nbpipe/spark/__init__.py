"""Spark sessions (local, standalone master, Spark Connect) and the local servers nbpipe starts.

``build_session`` and ``get_session`` are this package's API (``nbpipe.spark`` was a module before
0.2; its other names forward to :mod:`nbpipe.spark.session` for one release, with a warning).
"""

from nbpipe._deprecated import moved
from nbpipe.spark.session import build_session, get_session, is_remote, prepare_environment

__all__ = ["build_session", "get_session", "is_remote", "prepare_environment"]

__getattr__ = moved(__name__, "nbpipe.spark.session")
