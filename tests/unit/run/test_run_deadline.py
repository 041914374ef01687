"""``timeout_s`` bounds the whole run across attempts (fake executor, injected clock: no kernel, no waiting)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nbpipe.core.protocol import Handoff
from nbpipe.errors import KernelDiedError, RunTimeoutError
from nbpipe.run.runner import Runner
from tests.support.fakes import FakeExecutor, Outcome


class Clock:
    """A clock that moves only when told to (an attempt's work, the backoff sleep)."""

    def __init__(self) -> None:
        self.now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def runner_on(
    make_project: Callable[..., Path], runner_for: Callable[..., Runner], outcome: Outcome, clock: Clock,
    slept: list[float], **pipeline: Any,
) -> tuple[Runner, FakeExecutor]:
    root = make_project(pipelines={"ok": pipeline})
    executor = FakeExecutor([outcome])

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    return runner_for(root, executor=executor, clock=clock, sleep=sleep, jitter=lambda: 0.0), executor


def dies_after(clock: Clock, seconds: float) -> Outcome:
    """An attempt whose kernel runs ``seconds`` on the injected clock, then dies (a retryable error)."""

    def spend(_: Handoff) -> None:
        clock.advance(seconds)

    return Outcome(before=spend, error=KernelDiedError("the kernel died"))


def test_each_attempt_gets_the_time_the_earlier_ones_left(make_project, runner_for):
    clock, slept = Clock(), []
    outcome = dies_after(clock, 40)
    runner, executor = runner_on(make_project, runner_for, outcome, clock, slept,
                                 timeout_s=100, retries=10, retry_delay_s=0)
    result = runner.run("ok")
    assert (result.status, result.exit_code) == ("failed", RunTimeoutError.exit_code)
    assert [r.limits.run_timeout_s for r in executor.requests] == [100, 60, 20]
    assert {r.limits.run_limit_s for r in executor.requests} == {100}
    record = json.loads((result.run_dir / "run.json").read_text())
    assert len(record["attempts"]) == 3, "10 retries allowed, but the 100 s were spent after 3 attempts"
    assert record["error"]["type"] == "RunTimeoutError"
    assert "exceeded its timeout of 100 s (timeout_s, all attempts together) after 3 attempt(s)" in (
        record["error"]["message"])
    assert "attempt 3 failed: the kernel died" in record["error"]["message"]


def test_no_retry_is_started_when_the_backoff_would_outlast_the_timeout(make_project, runner_for):
    clock, slept = Clock(), []
    outcome = dies_after(clock, 40)
    runner, executor = runner_on(make_project, runner_for, outcome, clock, slept,
                                 timeout_s=100, retries=5, retry_delay_s=70)
    result = runner.run("ok")
    assert result.exit_code == RunTimeoutError.exit_code
    assert len(executor.requests) == 1 and slept == [], "waiting 70 s with 60 s left cannot help"
    assert result.error is not None and "timeout of 100 s" in result.error.message


def test_without_timeout_every_retry_runs(make_project, runner_for):
    clock, slept = Clock(), []

    def an_hour_then_die(_: Handoff) -> None:
        clock.advance(3600)

    outcome = Outcome(before=an_hour_then_die, error=KernelDiedError("the kernel died"))
    runner, executor = runner_on(make_project, runner_for, outcome, clock, slept, retries=2, retry_delay_s=1)
    result = runner.run("ok")
    assert result.exit_code == KernelDiedError.exit_code and len(executor.requests) == 3
    assert {r.limits.run_timeout_s for r in executor.requests} == {None}
