"""The run's event log: an append-only JSON-lines file shared by the kernel and the runner.

The in-kernel context and the runner never talk directly: the context appends observations
(datasets read and staged, checks, metrics, state proposals) and the runner appends lifecycle
events. Each event is one ``os.write`` of one line to a file opened with ``O_APPEND``, so lines
from the two processes never interleave. Secret values are masked before a line is written: the
runner passes its masker, a kernel's log masks the secrets its run handed it (``NBPIPE_SECRET_*``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from nbpipe.core.masking import Masker, secrets_in_env

EVENTS_FILE = "events.jsonl"

# Event kinds written by the kernel-side context.
DATASET_READ = "dataset_read"
DATASET_STAGED = "dataset_staged"
DATASET_REJECTED = "dataset_rejected"
CHECK = "check"
METRIC = "metric"
STATE_PROPOSAL = "state_proposal"
LOG = "log"
ERROR_RAISED = "error_raised"  # error_class: an NbpipeError a cell raised, module-qualified
RESOURCES = "resources"  # after each cell: tagged Spark task metrics per operation, kernel CPU/RSS
# Event kinds written by the runner.
RUN_STARTED = "run_started"
ATTEMPT_STARTED = "attempt_started"
CELL_STARTED = "cell_started"
CELL_FINISHED = "cell_finished"
ATTEMPT_FINISHED = "attempt_finished"
PUBLISHED = "published"
STATE_COMMITTED = "state_committed"
RUN_FINISHED = "run_finished"
VOLUME_ANOMALY = "volume_anomaly"  # dataset, rows, message: an output's rows against its history or expect_rows
NOTIFICATION_FAILED = "notification_failed"  # channel (scheme and host only), event, error

# Progress: what a runner, the executor and a DAG tell whoever watches (the CLI's live view), in
# memory only. Each progress event is a dict whose "event" key is one of these.
PROGRESS_CELL_STARTED = "cell_started"  # index, of, source (first line)
PROGRESS_CELL_FINISHED = "cell_finished"  # index, of, status, duration_s
PROGRESS_RUN_STARTED = "run_started"  # run_id, run_dir
PROGRESS_ATTEMPT_STARTED = "attempt_started"  # attempt, of
PROGRESS_RETRYING = "retrying"  # attempt, delay_s, error
PROGRESS_INTERRUPTED = "interrupted"
PROGRESS_FINISHED = "finished"  # status, run_id
PROGRESS_PIPELINE_STARTED = "pipeline_started"  # pipeline
PROGRESS_PIPELINE_FINISHED = "pipeline_finished"  # pipeline, status, run_id
ProgressFn = Callable[[dict[str, Any]], None]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return item()
    return str(value)


class EventLog:
    """Append events to, and read them back from, ``<run_dir>/events.jsonl``."""

    def __init__(self, path: Path, *, source: str, attempt: int | None = None, masker: Masker | None = None) -> None:
        from nbpipe.core.protocol import ENV_SECRET_PREFIX

        self.path = Path(path)
        self.source = source
        self.attempt = attempt
        # Without a masker: the secrets of the run this process is the kernel of (none in the runner).
        self.masker = masker if masker is not None else Masker(secrets_in_env(os.environ, ENV_SECRET_PREFIX))

    @classmethod
    def in_run_dir(
        cls, run_dir: Path, *, source: str, attempt: int | None = None, masker: Masker | None = None
    ) -> EventLog:
        return cls(Path(run_dir) / EVENTS_FILE, source=source, attempt=attempt, masker=masker)

    def emit(self, kind: str, **payload: Any) -> dict[str, Any]:
        event: dict[str, Any] = {"ts": utcnow().isoformat(), "kind": kind, "source": self.source}
        if self.attempt is not None:
            event["attempt"] = self.attempt
        event.update(payload)
        if self.masker:
            event = self.masker.data(event)
        line = (json.dumps(event, default=_default, ensure_ascii=False) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        return event

    def read(self) -> list[dict[str, Any]]:
        return list(read_events(self.path))


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """Yield events; a torn last line (writer killed mid-write) is skipped."""
    if not Path(path).exists():
        return
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def of_kind(events: list[dict[str, Any]], kind: str, attempt: int | None = None) -> list[dict[str, Any]]:
    """Events of one kind, optionally from one attempt only."""
    return [e for e in events if e.get("kind") == kind and (attempt is None or e.get("attempt") == attempt)]
