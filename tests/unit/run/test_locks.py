"""Pipeline locks: one run per pipeline, holder details, stale locks of killed runners (OS level; no kernel)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from nbpipe.errors import RunLockedError
from nbpipe.run.locks import PipelineLock


def test_second_lock_is_refused_with_holder_details(tmp_path):
    first = PipelineLock(tmp_path, "ingest", "run-1", "2013-01-01T00:00:00+00:00").acquire()
    try:
        with pytest.raises(RunLockedError) as info:
            PipelineLock(tmp_path, "ingest", "run-2", "later").acquire()
        msg = str(info.value)
        assert "run run-1" in msg and f"pid {os.getpid()}" in msg and "2013-01-01T00:00:00" in msg
        # A different pipeline is not blocked.
        other = PipelineLock(tmp_path, "dims", "run-3", "now").acquire()
        other.release()
    finally:
        first.release()
    again = PipelineLock(tmp_path, "ingest", "run-4", "now").acquire()
    assert again.broken_stale is None, "a released lock is not stale"
    again.release()


def test_lock_of_a_killed_holder_is_broken_and_reported(tmp_path):
    code = (
        "import sys, time; sys.path.insert(0, {!r})\n"
        "from nbpipe.run.locks import PipelineLock\n"
        "PipelineLock({!r}, 'ingest', 'run-killed', 'then').acquire()\n"
        "print('locked', flush=True); time.sleep(60)\n"
    ).format(str(__import__("pathlib").Path(__file__).parents[3] / "src"), str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match="run-killed"):
            PipelineLock(tmp_path, "ingest", "run-x", "now").acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    time.sleep(0.1)
    lock = PipelineLock(tmp_path, "ingest", "run-next", "now").acquire()
    try:
        assert lock.broken_stale is not None and lock.broken_stale["run_id"] == "run-killed"
    finally:
        lock.release()
