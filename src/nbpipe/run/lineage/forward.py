"""Deliver outboxed OpenLineage events with openlineage-python's transports, off the run's path.

:class:`Forwarder` runs one daemon thread per runner: it sends the current run's outbox and
every outbox other runs left (``<runs>/.lineage-pending``), each event with the transport's
short timeout, and stops at the first failure until it is woken again. :func:`flush` does one
pass in the foreground (``nbpipe lineage flush``). What could not be sent stays in its outbox.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbpipe.errors import NbpipeError
from nbpipe.run.lineage import outbox
from nbpipe.run.lineage.settings import LineageSettings, resolved_transport


@dataclass
class Delivery:
    """What one pass delivered, and the first failure (its text carries no credentials)."""

    sent: int = 0
    left: int = 0
    runs: int = 0
    error: str | None = None
    failed_runs: list[str] = field(default_factory=list)


def make_transport(settings: LineageSettings) -> Any:
    """The openlineage-python transport for ``settings`` (``env:`` values resolved now)."""
    from openlineage.client.transport import get_default_factory

    return get_default_factory().create(resolved_transport(settings.transport))


def deliver(settings: LineageSettings, runs_dir: Path, run_dirs: list[Path], transport: Any = None) -> Delivery:
    """Send the outboxes of ``run_dirs`` in order; stop at the first failure."""
    result = Delivery()
    try:
        transport = transport or make_transport(settings)
    except (NbpipeError, ValueError, RuntimeError, ImportError, TypeError) as exc:
        result.error = _describe(exc, settings)
        result.left = sum(len(outbox.pending(d)) for d in run_dirs)
        return result
    for run_dir in run_dirs:
        with outbox.sending(run_dir) as held:
            if not held:
                continue  # another process delivers this run's events right now
            events = outbox.pending(run_dir)
            done = 0
            for ev in events:
                try:
                    transport.emit(ev)
                except Exception as exc:
                    result.error = _describe(exc, settings)
                    result.failed_runs.append(run_dir.name)
                    break
                done += 1
            left = outbox.drop_delivered(runs_dir, run_dir, done) if done else len(events)
            result.sent += done
            result.left += left
            result.runs += 1
            if result.error:
                break
    return result


def _describe(exc: BaseException, settings: LineageSettings) -> str:
    """Why delivery failed, naming the endpoint without credentials (the exception text may hold a URL)."""
    reason = exc.message if isinstance(exc, NbpipeError) else type(exc).__name__  # ours never hold a value
    return f"could not deliver OpenLineage events to {settings.endpoint}: {reason}"


def flush(settings: LineageSettings, runs_dir: Path) -> Delivery:
    """Deliver everything every run left in its outbox (one pass, in the foreground)."""
    return deliver(settings, runs_dir, outbox.pending_runs(runs_dir))


class Forwarder:
    """A daemon thread that runs ``first`` (building START), then delivers ``run_dir``'s outbox and
    the outboxes earlier runs left whenever it is kicked."""

    def __init__(self, settings: LineageSettings, runs_dir: Path, run_dir: Path,
                 first: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self._first = first
        self.ready = threading.Event()  # ``first`` ran (or failed: ``first_error``)
        self.first_error: str | None = None
        self.runs_dir = runs_dir
        self.run_dir = run_dir
        self._wake = threading.Event()
        self._stop = False
        self._idle = threading.Event()
        self._idle.set()
        self.last = Delivery()
        self._transport: Any = None
        self._thread = threading.Thread(target=self._loop, name="nbpipe-lineage", daemon=True)
        self._thread.start()

    def kick(self) -> None:
        """Deliver what is pending now (returns at once)."""
        self._idle.clear()
        self._wake.set()

    def close(self, timeout_s: float) -> Delivery:
        """One last pass, waited for at most ``timeout_s``; returns what the last pass did."""
        self.kick()  # wake first: a pass that sees the stop flag without a wake-up would skip the last events
        self._stop = True
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self.last.error = self.last.error or (
                f"could not deliver OpenLineage events to {self.settings.endpoint} within {timeout_s:g} s")
        return self.last

    def _loop(self) -> None:
        if self._first is not None:
            try:
                self._first()
            except Exception as exc:
                self.first_error = type(exc).__name__
        self.ready.set()
        while True:
            self._wake.wait()
            self._wake.clear()
            others = [d for d in outbox.pending_runs(self.runs_dir) if d != self.run_dir]
            if self._transport is None:
                try:
                    self._transport = make_transport(self.settings)
                except Exception:
                    self._transport = None
            self.last = deliver(self.settings, self.runs_dir, [self.run_dir, *others], self._transport)
            self._idle.set()
            if self._stop and not self._wake.is_set():
                return
