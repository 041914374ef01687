"""Cancelling a run: SIGINT/SIGTERM → status ``cancelled``, exit 130, nothing published or committed.

The runner side runs on a :class:`~tests.support.fakes.FakeExecutor` whose attempt is interrupted
(as ``KeyboardInterrupt`` reaches the runner from the papermill executor); the signal plumbing of
:mod:`nbpipe.run.cancel` is exercised with real signals sent to this process.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nbpipe.core import events as ev
from nbpipe.errors import RunCancelledError
from nbpipe.run import cancel
from tests.support.fakes import FakeExecutor, Outcome

POSITION = {"kind": "files", "files": {"a.csv": {"size": 8, "mtime": 1}}}


def test_an_interrupted_attempt_is_cancelled_not_retried_and_publishes_nothing(
    make_project: Callable[..., Path], runner_for: Callable[..., Any]
) -> None:
    root = make_project(pipelines={"ok": {"retries": 2}}, datasets={"out": {"format": "csv"}})
    executor = FakeExecutor([Outcome(staged={"out": {"part.csv": "id\n1\n"}}, proposals={"landing": POSITION},
                                     error=KeyboardInterrupt())])
    seen: list[dict[str, Any]] = []
    runner = runner_for(root, executor=executor, sleep=lambda s: None, on_progress=seen.append)
    result = runner.run("ok")
    assert (result.status, result.exit_code) == ("cancelled", RunCancelledError.exit_code) == ("cancelled", 130)
    assert len(executor.requests) == 1, "a cancelled run is not retried"
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["status"] == "cancelled" and record["error"]["type"] == "RunCancelledError"
    assert not (result.run_dir / "staging").exists() and not (runner.project.warehouse / "out").exists()
    kinds = [e["kind"] for e in ev.read_events(result.run_dir / ev.EVENTS_FILE)]
    assert ev.PUBLISHED not in kinds and ev.STATE_COMMITTED not in kinds
    assert runner.store.get_state("ok") == {}
    assert runner.store.list_runs("ok", status="cancelled")[0]["run_id"] == result.run_id
    assert seen[0] == {"event": ev.PROGRESS_RUN_STARTED, "run_id": result.run_id, "run_dir": str(result.run_dir)}
    assert {"event": ev.PROGRESS_FINISHED, "status": "cancelled", "run_id": result.run_id} in seen


def test_sigterm_interrupts_and_a_publish_holds_signals_back() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    try:
        cancel.sigterm_interrupts()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            signal.sigtimedwait([], 0)  # let the handler run
        with cancel.deferred() as held:
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)
            signal.sigtimedwait([], 0)
        assert held == [signal.SIGTERM, signal.SIGINT]
        assert signal.getsignal(signal.SIGTERM) is signal.default_int_handler, "the handler is restored"
    finally:
        signal.signal(signal.SIGTERM, previous)
