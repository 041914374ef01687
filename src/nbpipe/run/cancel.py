"""Cancelling a run: SIGTERM behaves like Ctrl-C, and a publish in progress is never cut short.

``nbpipe run`` calls :func:`sigterm_interrupts` so that ``kill PID`` (what a notebook panel's Cancel
button or a scheduler sends) raises ``KeyboardInterrupt`` in the runner like SIGINT does; the runner
turns that into a ``cancelled`` run that published nothing. While the runner publishes staged
datasets and commits incremental state (one journaled step), :func:`deferred` holds both signals
back: the publish completes and the run ends as it would have, then the signal is dropped (the run
it would have cancelled is already over). Signal handlers exist only in the main thread; elsewhere
(runs started by ``nbpipe dag`` worker threads) both functions do nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def sigterm_interrupts() -> None:
    """Make SIGTERM raise ``KeyboardInterrupt`` in the main thread, as SIGINT does."""
    if _main_thread():
        signal.signal(signal.SIGTERM, signal.default_int_handler)


@contextlib.contextmanager
def deferred() -> Iterator[list[int]]:
    """Hold SIGINT and SIGTERM back for the block; yields the signals that arrived meanwhile."""
    arrived: list[int] = []
    if not _main_thread():
        yield arrived
        return

    def note(signum: int, frame: Any) -> None:
        arrived.append(signum)

    previous = {sig: signal.signal(sig, note) for sig in _SIGNALS}
    try:
        yield arrived
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
