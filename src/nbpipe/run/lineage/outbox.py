"""The lineage outbox: a run's OpenLineage events on disk until an endpoint has them.

Every event is appended to ``<run_dir>/lineage-outbox.jsonl`` before anything is sent, so a
slow or dead endpoint never holds a run up and a killed process loses nothing. A marker under
``<runs>/.lineage-pending/`` names each run directory whose outbox is not empty, so later runs
and ``nbpipe lineage flush`` find what is left without walking every run. ``lineage.json`` in
the run directory keeps the run's OpenLineage identity and the event types it emitted (the next
run's recovery reads it to close a killed run).

Appends and removals hold an exclusive ``flock`` on the outbox; one sender at a time holds the
``.sending`` lock, so two processes never deliver the same events twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nbpipe.core import records
from nbpipe.core.layout import RunDir

PENDING_DIR = ".lineage-pending"


def _lock_path(run_dir: Path, what: str) -> Path:
    return run_dir / f".{RunDir.LINEAGE_OUTBOX}.{what}"


@contextlib.contextmanager
def _locked(path: Path, *, blocking: bool = True) -> Iterator[bool]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock


def _marker(runs_dir: Path, run_dir: Path) -> Path:
    return runs_dir / PENDING_DIR / f"{run_dir.parent.name}__{run_dir.name}"


def append(runs_dir: Path, run_dir: Path, event: dict[str, Any]) -> None:
    """Append one event to the run's outbox and mark the run as having events to deliver."""
    line = (json.dumps(event, sort_keys=True, ensure_ascii=False) + "\n").encode()
    with _locked(_lock_path(run_dir, "lock")):
        fd = os.open(RunDir(run_dir).lineage_outbox, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
    marker = _marker(runs_dir, run_dir)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(run_dir))


def pending(run_dir: Path) -> list[dict[str, Any]]:
    """The events of ``run_dir`` not delivered yet, oldest first (a torn last line is skipped)."""
    path = RunDir(run_dir).lineage_outbox
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def drop_delivered(runs_dir: Path, run_dir: Path, count: int) -> int:
    """Remove the first ``count`` events (delivered); return how many are left."""
    path = RunDir(run_dir).lineage_outbox
    with _locked(_lock_path(run_dir, "lock")):
        lines = [x for x in path.read_text(encoding="utf-8", errors="replace").splitlines() if x.strip()] \
            if path.exists() else []
        rest = lines[count:]
        if rest:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text("".join(x + "\n" for x in rest), encoding="utf-8")
            os.replace(tmp, path)
        else:
            path.unlink(missing_ok=True)
            _marker(runs_dir, run_dir).unlink(missing_ok=True)
    return len(rest)


@contextlib.contextmanager
def sending(run_dir: Path) -> Iterator[bool]:
    """Hold the run's sender lock; yields False when another process is delivering its events."""
    with _locked(_lock_path(run_dir, "sending"), blocking=False) as held:
        yield held


def pending_runs(runs_dir: Path) -> list[Path]:
    """Run directories whose outbox still holds events, oldest marker first (stale markers removed)."""
    folder = runs_dir / PENDING_DIR
    if not folder.is_dir():
        return []
    found = []
    for marker in sorted(folder.iterdir(), key=lambda p: p.name.split("__", 1)[-1]):
        run_dir = Path(marker.read_text(encoding="utf-8").strip() or "/nonexistent")
        if RunDir(run_dir).lineage_outbox.exists():
            found.append(run_dir)
        else:
            marker.unlink(missing_ok=True)
    return found


def read_identity(run_dir: Path) -> dict[str, Any]:
    """``lineage.json`` of a run: its OpenLineage run id, job and emitted event types (``{}`` if none)."""
    return records.read_record(RunDir(run_dir).lineage)


def write_identity(run_dir: Path, identity: dict[str, Any]) -> None:
    records.write_json(RunDir(run_dir).lineage, identity)
