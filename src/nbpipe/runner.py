"""Deprecated: moved to :mod:`nbpipe.run.runner`; this module forwards for one release and warns."""

from nbpipe._deprecated import moved

__getattr__ = moved(__name__, "nbpipe.run.runner")
