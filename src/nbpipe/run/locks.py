"""Per-pipeline run locks that die with their holder.

A lock is an ``fcntl.flock`` on ``<runs_dir>/.locks/<pipeline>.lock``; the kernel releases it when
the holding process exits, however it exits, so a killed runner never leaves a lock that blocks
the next run. The file also holds the holder's run id, pid, host and start time, to name the
running run in the refusal and to report the stale lock a killed runner left behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
from pathlib import Path
from typing import Any

from nbpipe.core.config import check_name
from nbpipe.errors import RunLockedError


class PipelineLock:
    """Exclusive lock for one pipeline. Use as a context manager or acquire()/release()."""

    def __init__(self, runs_dir: Path, pipeline: str, run_id: str, started_at: str) -> None:
        check_name(pipeline, "pipeline")
        self.path = Path(runs_dir) / ".locks" / f"{pipeline}.lock"
        self.pipeline = pipeline
        self.info = {"run_id": run_id, "pid": os.getpid(), "host": platform.node(), "started_at": started_at}
        self._fd: int | None = None
        self.broken_stale: dict[str, Any] | None = None

    def acquire(self) -> PipelineLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise RunLockedError(
                f"pipeline {self.pipeline!r} is already running: run {holder.get('run_id', '?')} "
                f"(pid {holder.get('pid', '?')} on {holder.get('host', '?')}, started {holder.get('started_at', '?')})",
                hint=f"wait for it to finish (`nbpipe runs {self.pipeline}`), or stop that process; "
                "different pipelines can run at the same time",
            ) from None
        previous = _read(fd)
        if previous.get("run_id"):
            # The holder released the lock without clearing it: it was killed (or crashed).
            self.broken_stale = previous
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(self.info).encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> PipelineLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read(fd: int) -> dict[str, Any]:
    try:
        raw = os.pread(fd, 4096, 0)
        return json.loads(raw) if raw.strip() else {}
    except (OSError, ValueError):
        return {}
