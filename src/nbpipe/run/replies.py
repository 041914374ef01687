"""How a notebook run ended, decided from the kernel's execute replies, not from cell outputs.

Every code cell's ``execute_reply`` says ``status: ok`` or ``status: error`` (with ``ename``,
``evalue``, ``traceback``). That is the kernel's verdict: a failing line magic (``%undefined`` →
``UsageError``) replies ``error`` while writing only a stream output, and an ``error`` output can
appear without the cell failing. :class:`ReplyLog` is nbclient's ``on_cell_executed`` hook and
keeps the first error reply; :func:`outcome_of` turns it into the run's outcome.

``sys.exit()``, ``sys.exit(0)`` and ``raise SystemExit`` stop a notebook cleanly, as with papermill:
the remaining cells are not run and the run succeeds, *stopped early* at that cell. Any other
``SystemExit`` (``sys.exit(3)``, ``sys.exit("message")``) fails the cell.

It also maps an nbpipe error raised in the kernel back to its class (:func:`error_from_kernel`),
and says why no attempt is left when the run's ``timeout_s`` is spent (:func:`out_of_time`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbpipe.core import events as ev
from nbpipe.core.layout import RunDir
from nbpipe.errors import CellExecutionError, NbpipeError, RunTimeoutError, by_name, split_hint

# ``evalue`` of a SystemExit that papermill treats as a clean stop: sys.exit(), sys.exit(0), sys.exit(None).
CLEAN_EXIT_VALUES = frozenset({"", "0", "None"})


@dataclass(frozen=True)
class ErrorReply:
    """The first ``status: error`` execute reply of a run."""

    cell_index: int
    ename: str
    evalue: str
    traceback: list[str]

    @property
    def clean_exit(self) -> bool:
        """A ``SystemExit`` papermill counts as success (no code or a zero code)."""
        return self.ename == "SystemExit" and self.evalue.strip() in CLEAN_EXIT_VALUES


@dataclass(frozen=True)
class ExecutionOutcome:
    """How an attempt's notebook ended when it did not fail.

    Attributes:
        stopped_at: The cell whose ``sys.exit()``/``sys.exit(0)``/``raise SystemExit`` ended the
            notebook early (the later cells were not run); None when every cell ran.
        label: How a user finds that cell (``cell 3 (In [3])``).
    """

    stopped_at: int | None = None
    label: str | None = None

    def stop_record(self) -> dict[str, Any] | None:
        """The record's ``stopped_early`` entry, or None when every cell ran."""
        if self.stopped_at is None:
            return None
        return {
            "cell_index": self.stopped_at,
            "message": f"stopped early at {self.label or f'cell {self.stopped_at}'}: the notebook called "
            "sys.exit() (or raised SystemExit) with no error code; the cells after it were not run",
        }


class ReplyLog:
    """nbclient's ``on_cell_executed`` hook: remembers the first cell whose execute reply is an error."""

    def __init__(self) -> None:
        self.first_error: ErrorReply | None = None

    def __call__(self, *, cell: Any, cell_index: int, execute_reply: dict[str, Any] | None, **_: Any) -> None:
        if self.first_error is not None or not execute_reply:
            return
        content = execute_reply.get("content") or {}
        if content.get("status") != "error":
            return
        self.first_error = ErrorReply(
            cell_index=cell_index,
            ename=str(content.get("ename") or "Error"),
            evalue=str(content.get("evalue") if content.get("evalue") is not None else ""),
            traceback=[str(line) for line in content.get("traceback") or []],
        )


def mark_clean_stop(nb: Any, index: int) -> None:
    """Undo papermill's failure marks on the cell that stopped the notebook with a clean ``SystemExit``.

    The cells after it stay pending (papermill's ``notebook_complete`` marks pending cells before a
    failed one completed: call this after it).
    """
    meta = nb.cells[index].metadata.setdefault("papermill", {})
    meta["exception"] = False
    meta["status"] = "completed"
    meta["stopped_early"] = True
    nb.metadata.setdefault("papermill", {})["exception"] = False


def error_from_kernel(exc: CellExecutionError, run_dir: Path, attempt: int) -> NbpipeError:
    """Map an nbpipe error raised inside the kernel back to its class (exit code, retryability).

    The kernel reports the class name (``ename``) and ``str(error)`` (``evalue``), so the message and
    hint are the error's own; the failing cell stays on the error for the record and the report.
    Only a class the kernel reported raising in this attempt (an ``error_raised`` event, written by
    ``nbpipe.context()``'s exception hook) is mapped: a library's exception that shares a name with
    one of nbpipe's stays a cell error.
    """
    cls = by_name(exc.ename or "")
    if cls is None or f"{cls.__module__}.{cls.__qualname__}" not in _raised_in_kernel(run_dir, attempt):
        return exc
    message, hint = split_hint(exc.evalue or "")
    return cls(
        message or exc.message,
        hint=hint or exc.hint,
        cell_index=exc.cell_index,
        ename=exc.ename,
        evalue=exc.evalue,
        traceback=exc.traceback,
    )


def _raised_in_kernel(run_dir: Path, attempt: int) -> set[str]:
    """The module-qualified nbpipe error classes the kernel reported raising in ``attempt``."""
    return {str(e.get("error_class")) for e in ev.read_events(RunDir(run_dir).events)
            if e.get("kind") == ev.ERROR_RAISED and e.get("attempt") == attempt}


def out_of_time(limit: float | None, attempts: int, last: NbpipeError | None) -> RunTimeoutError:
    """The run's ``timeout_s`` (all attempts together) is spent before the next attempt could start."""
    if isinstance(last, RunTimeoutError) and last.message.startswith("the run exceeded its timeout"):
        return last  # the watchdog stopped the last attempt: its message names the limit and the cell
    return RunTimeoutError(
        f"the run exceeded its timeout of {limit:g} s (timeout_s, all attempts together) after "
        f"{attempts} attempt(s); no time was left for another"
        + (f"; attempt {attempts} failed: {last.message}" if last is not None else ""),
        hint="raise the pipeline's timeout_s in nbpipe.yaml, lower retries or retry_delay_s, or fix the "
        "failure above",
        cell_index=None if last is None else last.cell_index,
    )
