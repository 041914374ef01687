"""The crash log: where an unexpected exception's traceback goes instead of the terminal.

A bug in nbpipe (any exception that is not an :class:`~nbpipe.errors.NbpipeError`) is reported as
one line naming the exception and this file; the file holds the command line and the traceback.
Logs go to ``$TMPDIR/nbpipe-crash/`` (the project may be the thing that failed to load).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import traceback
from pathlib import Path

from typer.exceptions import Abort, Exit, TyperException

CRASH_DIR_NAME = "nbpipe-crash"


def is_click_flow(exc: BaseException) -> bool:
    """Whether ``exc`` is the command line's own control flow (exit, abort, usage error), not a crash."""
    return isinstance(exc, (Exit, Abort, TyperException))


def write_crash_log(exc: BaseException, directory: Path | None = None) -> Path | None:
    """Write the command line and ``exc``'s traceback to a new file; return it (None if it cannot be written)."""
    folder = directory or Path(tempfile.gettempdir()) / CRASH_DIR_NAME
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"crash-{stamp}-{os.getpid()}.log"
    text = "command: " + " ".join(sys.argv) + "\n\n" + "".join(traceback.format_exception(exc))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError:
        return None
    return path
