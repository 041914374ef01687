"""``nbpipe.ops._execute``: one run turned into an outcome, one scheduling loop, two executors.

The scheduling loop is driven by fakes (milliseconds); ``run_one`` and the process pool run real
notebooks from ``tests/notebooks`` on real kernels against the project's SQLite store.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
from pathlib import Path
from typing import Any

import pytest

from nbpipe.core.config import load_project
from nbpipe.errors import RunLockedError
from nbpipe.ops._execute import InProcess, Job, Outcome, ProcessPool, run_one, schedule
from nbpipe.run.locks import PipelineLock
from nbpipe.run.store import RunStore


class Scripted:
    """An executor whose jobs end with the status scripted for their key (``succeeded`` by default)."""

    def __init__(self, statuses: dict[str, str] | None = None, slots: int = 1) -> None:
        self.statuses = statuses or {}
        self.slots = slots
        self.submitted: list[tuple[str, bool]] = []

    def warm(self, job: Job) -> None:
        pass

    def submit(self, job: Job, *, more: bool) -> cf.Future[Outcome]:
        self.submitted.append((job.key, more))
        future: cf.Future[Outcome] = cf.Future()
        status = self.statuses.get(job.key, "succeeded")
        future.set_result(Outcome(job.pipeline, status, f"run-{job.key}", exit_code=10 if status == "failed" else 0))
        return future


def jobs(**after: str) -> list[Job]:
    """Jobs named by the keywords, each after the comma-separated keys given (in keyword order)."""
    return [Job(key, key, after=frozenset(filter(None, deps.split(",")))) for key, deps in after.items()]


def test_a_failure_marks_everything_downstream_and_other_branches_go_on() -> None:
    executor = Scripted({"a": "failed"})
    events: list[tuple[str, str]] = []
    outcomes = schedule(
        jobs(a="", b="a", c="b", d="", e="d,c"),
        executor,
        on_start=lambda job: events.append(("start", job.key)),
        on_done=lambda job, outcome: events.append((outcome.status, job.key)),
    )
    assert {k: o.status for k, o in outcomes.items()} == {
        "a": "failed", "b": "upstream_failed", "c": "upstream_failed", "d": "succeeded", "e": "upstream_failed",
    }
    assert outcomes["c"].message == "upstream b failed" and outcomes["c"].run_id is None
    assert outcomes["e"].message == "upstream c failed" and outcomes["e"].exit_code == 0
    assert [k for k, _ in executor.submitted] == ["a", "d"], "blocked jobs never reach the executor"
    assert events == [
        ("start", "a"), ("failed", "a"), ("upstream_failed", "b"), ("upstream_failed", "c"),
        ("start", "d"), ("upstream_failed", "e"), ("succeeded", "d"),
    ], "e is known to be blocked as soon as c is, before d ends"


def test_a_skipped_job_does_not_block_and_jobs_start_in_the_order_given() -> None:
    executor = Scripted({"a": "skipped"}, slots=2)
    outcomes = schedule(jobs(a="", b="a", c="", d="b,c"), executor)
    assert [o.status for o in outcomes.values()] == ["skipped", "succeeded", "succeeded", "succeeded"]
    assert [k for k, _ in executor.submitted] == ["a", "c", "b", "d"], "c fills the second slot while b waits"


def test_until_stops_starting_jobs_and_only_finished_jobs_have_outcomes() -> None:
    executor = Scripted({"1": "skipped", "2": "skipped"})
    outcomes = schedule(jobs(**{"1": "", "2": "", "3": "", "4": ""}), executor, until=lambda o: o.status != "skipped")
    assert list(outcomes) == ["1", "2", "3"]
    assert all(not more for _, more in executor.submitted), "no kernel is booted for a job that may never start"


def test_the_in_process_executor_boots_a_kernel_only_when_a_job_follows() -> None:
    class FakeRunner:
        def __init__(self) -> None:
            self.prestart_next = True
            self.seen: list[tuple[str, bool]] = []
            self.warmed: list[str] = []

        def prestart(self, pipeline: str) -> None:
            self.warmed.append(pipeline)

        def run(self, pipeline: str, given: dict[str, Any], **kwargs: Any) -> Any:
            self.seen.append((pipeline, self.prestart_next))
            raise RunLockedError(f"{pipeline} is locked")

    runner = FakeRunner()
    executor = InProcess(runner)  # type: ignore[arg-type]
    executor.warm(Job("a", "a"))
    outcomes = schedule(jobs(a="", b="", c=""), executor)
    assert runner.warmed == ["a"] and runner.seen == [("a", True), ("b", True), ("c", False)]
    assert {o.status for o in outcomes.values()} == {"failed"} and {o.exit_code for o in outcomes.values()} == {5}


def test_bad_schedules_are_refused() -> None:
    with pytest.raises(ValueError, match="unique keys"):
        schedule([Job("a", "a"), Job("a", "b")], Scripted())
    with pytest.raises(ValueError, match="unknown job"):
        schedule(jobs(a="zz"), Scripted())
    with pytest.raises(ValueError, match="cycle"):
        schedule(jobs(a="b", b="a"), Scripted())


@pytest.fixture
def project_root(make_project: Any) -> Path:
    root: Path = make_project(
        pipelines={"ok": {"reads": ["landing"]}, "exception": {}},
        datasets={"landing": {"path": "landing", "format": "csv"}},
    )
    (root / "landing").mkdir()
    (root / "landing" / "a.csv").write_text("id\n1\n")
    return root


def test_run_one_turns_results_and_errors_into_outcomes(project_root: Path, runner_for: Any) -> None:
    runner = runner_for(project_root)
    ok = run_one(runner, Job("ok", "ok", {"label": "x"}, frozenset({"label"})))
    assert (ok.pipeline, ok.status, ok.exit_code, ok.message, ok.incremental) == ("ok", "succeeded", 0, "", False)
    assert ok.run_id and (project_root / "runs" / "ok" / ok.run_id / "run.json").is_file() and ok.duration_s > 0

    again = run_one(runner, Job("ok", "ok", {"label": "x"}, frozenset({"label"})))
    assert again.status == "skipped" and again.exit_code == 0 and again.run_id not in (None, ok.run_id)
    assert again.message.startswith("up to date") and ok.run_id in again.message

    failed = run_one(runner, Job("exception", "exception"))
    assert (failed.status, failed.exit_code) == ("failed", 10) and "bad value in column dep_delay" in failed.message
    assert failed.run_id is not None, "a run that failed in a cell is recorded"

    bad = run_one(runner, Job("ok", "ok", {"limit": "many"}, frozenset({"limit"})))
    assert (bad.status, bad.exit_code, bad.run_id) == ("failed", 3, None) and "limit" in bad.message

    lock = PipelineLock(runner.project.runs_dir, "ok", "someone-else", "2024-01-01T00:00:00+00:00").acquire()
    try:
        locked = run_one(runner, Job("ok", "ok"))
    finally:
        lock.release()
    assert (locked.status, locked.exit_code, locked.run_id) == ("failed", 5, None)
    assert "someone-else" in locked.message


def test_the_process_pool_returns_each_workers_own_outcome(project_root: Path) -> None:
    project = load_project(project_dir=project_root)
    work = [
        Job("ok", "ok", {"label": "pool"}, frozenset({"label"})),
        Job("exception", "exception"),
        Job("unpicklable", "ok", {"label": lambda: 1}),  # never reaches a worker
    ]
    with ProcessPool(project, 2) as pool:
        outcomes = schedule(work, pool)
    assert outcomes["ok"].status == "succeeded" and outcomes["exception"].status == "failed"
    assert outcomes["exception"].exit_code == 10 and "bad value" in outcomes["exception"].message
    assert outcomes["unpicklable"].status == "failed" and outcomes["unpicklable"].exit_code == 1
    assert "worker process" in outcomes["unpicklable"].message
    with RunStore(project.store_url) as store:
        runs = {r["pipeline"]: r for r in store.list_runs(limit=10)}
    assert {p: r["run_id"] for p, r in runs.items()} == {"ok": outcomes["ok"].run_id,
                                                       "exception": outcomes["exception"].run_id}
    record = json.loads((project_root / "runs" / "ok" / str(outcomes["ok"].run_id) / "run.json").read_text())
    assert record["params"]["label"] == "pool"
