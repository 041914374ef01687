"""The runner's decisions, with a fake executor: retries and backoff, gates, skip, resume, publish order.

No kernel starts: :class:`~tests.support.fakes.FakeExecutor` plays one scripted outcome per attempt.
Everything else is real: the project on disk, the SQLite run store, the event log, the run record,
report.html and the publish into the warehouse. Clock, run ids, sleep and jitter are injected.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nbpipe.core import events as ev
from nbpipe.core.protocol import Handoff
from nbpipe.errors import (
    CellCodeError,
    ContractViolationError,
    KernelDiedError,
    NbpipeError,
    ParameterError,
    QualityGateError,
    RunTimeoutError,
    all_errors,
)
from nbpipe.run.runner import Runner, RunResult
from tests.support.fakes import FakeExecutor, Outcome, kernel_raised

PIPELINE = "ok"  # tests/notebooks/ok.ipynb: a parameters cell (run_date, limit, …) and two code cells
DATASETS = {"out": {"format": "csv"}, "landing": {"path": "landing", "format": "csv"}}
POSITION = {"kind": "files", "files": {"a.csv": {"size": 8, "mtime": 1}}}


class Clock:
    """A clock that advances one second per reading."""

    def __init__(self) -> None:
        self.now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


@dataclass
class Bench:
    root: Path
    runner: Runner
    executor: FakeExecutor
    slept: list[float]

    def run(self, **kwargs: Any) -> RunResult:
        return self.runner.run(PIPELINE, **kwargs)

    def events(self, result: RunResult) -> list[dict[str, Any]]:
        return list(ev.read_events(result.run_dir / ev.EVENTS_FILE))

    @property
    def warehouse(self) -> Path:
        return self.runner.project.warehouse

    def state(self) -> dict[str, Any]:
        return dict(self.runner.store.get_state(PIPELINE))


@pytest.fixture
def bench(make_project: Callable[..., Path], runner_for: Callable[..., Runner]) -> Callable[..., Bench]:
    """``bench(*outcomes, **pipeline_config)``: a project whose pipeline ``ok`` runs on a FakeExecutor."""

    def build(*outcomes: Outcome, **pipeline: Any) -> Bench:
        root = make_project(pipelines={PIPELINE: pipeline}, datasets=DATASETS)
        executor = FakeExecutor(outcomes)
        slept: list[float] = []
        ids = iter(range(1, 100))
        runner = runner_for(
            root,
            executor=executor,
            clock=Clock(),
            sleep=slept.append,
            jitter=lambda: 0.5,
            run_id_factory=lambda t: f"{t:%Y%m%dT%H%M%S}Z-{next(ids):03d}",
        )
        return Bench(root, runner, executor, slept)

    return build


def record(result: RunResult) -> dict[str, Any]:
    return dict(json.loads((result.run_dir / "run.json").read_text()))


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [str(e["kind"]) for e in events]


# --------------------------------------------------------------------------- retries and backoff
def test_transient_failures_are_retried_with_exponential_backoff(bench: Callable[..., Bench]) -> None:
    b = bench(
        Outcome(error=KernelDiedError("the kernel died")),
        Outcome(error=RunTimeoutError("cell 2 timed out")),
        Outcome(),
        retries=3,
        retry_delay_s=2,
    )
    result = b.run()
    assert (result.status, result.exit_code) == ("succeeded", 0)
    assert b.slept == [2 * 1.25, 4 * 1.25], "the delay doubles per attempt, plus jitter (0.5 → 25%)"
    rec = record(result)
    assert [(a["attempt"], a["status"], a["error"]) for a in rec["attempts"]] == [
        (1, "failed", "the kernel died"),
        (2, "failed", "cell 2 timed out"),
        (3, "succeeded", None),
    ]
    assert [h.attempt for h in b.executor.handoffs] == [1, 2, 3]
    assert (result.run_dir / "attempt-1.ipynb").is_file() and (result.run_dir / "attempt-2.ipynb").is_file()
    request = b.executor.requests[-1]
    assert request.output_path == result.run_dir / "output.ipynb" and request.kernel_name == "python3"
    assert request.notebook == b.root / "ok.ipynb" and request.params.values == rec["params"]


def test_retries_exhausted_fail_with_the_last_error(bench: Callable[..., Bench]) -> None:
    b = bench(Outcome(error=KernelDiedError("the kernel died")), retries=2, retry_delay_s=1)
    result = b.run()
    assert (result.status, result.exit_code) == ("failed", KernelDiedError.exit_code)
    assert b.slept == [1.25, 2.5] and len(record(result)["attempts"]) == 3
    assert record(result)["error"]["type"] == "KernelDiedError"


@pytest.mark.parametrize(
    "error",
    [
        kernel_raised(ContractViolationError, "dataset 'out' does not match its contract"),
        kernel_raised(QualityGateError, "1 of 2 expectations failed in suite orders"),
        CellCodeError(
            "cell 2 (In [2]) raised NameError: name 'x' is not defined",
            cell_index=2,
            ename="NameError",
            evalue="name 'x' is not defined",
        ),
    ],
    ids=["ContractViolationError", "QualityGateError", "NameError"],
)
def test_errors_a_retry_cannot_fix_are_not_retried(bench: Callable[..., Bench], error: NbpipeError) -> None:
    b = bench(Outcome(error=error), retries=3, retry_delay_s=1)
    result = b.run()
    assert result.status == "failed" and len(b.executor.requests) == 1 and b.slept == []
    assert result.error is not None and not result.error.retryable


@pytest.mark.parametrize("cls", all_errors(), ids=lambda cls: cls.__name__)
def test_an_error_raised_in_the_kernel_keeps_its_class(bench: Callable[..., Bench], cls: type[NbpipeError]) -> None:
    b = bench(
        Outcome(error=kernel_raised(cls, f"{cls.__name__} in the notebook", hint="how to fix it", cell=3)), retries=1
    )
    result = b.run()
    assert type(result.error) is cls and result.exit_code == cls.exit_code
    assert len(b.executor.requests) == (2 if cls.retryable else 1), "retried exactly when the class says so"
    err = record(result)["error"]
    assert (err["type"], err["exit_code"]) == (cls.__name__, cls.exit_code)
    assert (err["message"], err["hint"]) == (f"{cls.__name__} in the notebook", "how to fix it")
    assert (err["cell_index"], err["ename"]) == (3, cls.__name__), "the record still names the failing cell"
    assert err["evalue"] == f"{cls.__name__} in the notebook\n  hint: how to fix it" and err["traceback"]


def test_other_kernel_exceptions_stay_cell_execution_errors(bench: Callable[..., Bench]) -> None:
    error = kernel_raised(ValueError, "bad value")
    b = bench(Outcome(error=error))
    result = b.run()
    assert result.error is error and result.exit_code == 10
    assert record(result)["error"]["type"] == "CellExecutionError"



def test_a_library_exception_named_like_an_nbpipe_error_is_not_mapped(bench: Callable[..., Bench]) -> None:
    foreign = type("StoreError", (Exception,), {"__module__": "great_expectations.exceptions"})
    error = kernel_raised(foreign, "the GX store is read-only")
    assert error.ename == "StoreError"
    b = bench(Outcome(error=error))
    result = b.run()
    assert result.error is error and result.exit_code == 10, "no error_raised event: not nbpipe's StoreError"


# --------------------------------------------------------------------------- quality gates
FAILED_CHECK = {"suite": "orders", "dataset": "out", "success": False, "gate_passed": False}


def test_a_failed_gate_fails_the_run_and_publishes_nothing(bench: Callable[..., Bench]) -> None:
    b = bench(
        Outcome(
            staged={"out": {"part.csv": "id\n1\n"}},
            proposals={"landing": POSITION},
            checks=[{**FAILED_CHECK, "gate": "fail"}],
        ),
        quality="fail",
        retries=2,
    )
    result = b.run()
    assert (result.status, result.exit_code) == ("failed", QualityGateError.exit_code)
    assert len(b.executor.requests) == 1 and b.slept == [], "a gate is not retried"
    rec = record(result)
    assert rec["error"]["type"] == "QualityGateError" and "suite(s) orders" in rec["error"]["message"]
    assert rec["quality"] == "failed"
    assert not (b.warehouse / "out").exists() and b.state() == {}
    assert ev.PUBLISHED not in kinds(b.events(result))


def test_a_failed_check_only_warns_with_quality_warn(bench: Callable[..., Bench]) -> None:
    b = bench(
        Outcome(staged={"out": {"part.csv": "id\n1\n"}}, checks=[{**FAILED_CHECK, "gate": "warn"}]), quality="warn"
    )
    result = b.run()
    assert (result.status, result.exit_code) == ("succeeded", 0)
    rec = record(result)
    assert "quality check 'orders' failed (pipeline quality: warn)" in rec["warnings"]
    assert rec["quality"] == "warned"
    assert (b.warehouse / "out" / "part.csv").read_text() == "id\n1\n", "the data is published"


# --------------------------------------------------------------------------- skip and --force
def test_an_unchanged_run_is_skipped_force_and_changes_run_it(bench: Callable[..., Bench]) -> None:
    b = bench(reads=["landing"])
    (b.root / "landing").mkdir()
    (b.root / "landing" / "a.csv").write_text("id\n1\n")
    first = b.run()
    assert first.status == "succeeded"

    skipped = b.run()
    assert (skipped.status, skipped.exit_code) == ("skipped", 0)
    assert len(b.executor.requests) == 1, "no attempt ran"
    rec = record(skipped)
    assert rec["attempts"] == [] and rec["fingerprint"] == first.record["fingerprint"]
    assert rec["skipped_reason"] == (
        "up to date: notebook code, parameters, configuration, contracts, suites, profile, project modules and "
        f"inputs are unchanged since run {first.run_id}"
    )
    assert not (skipped.run_dir / "output.ipynb").exists()

    assert b.run(force=True).status == "succeeded" and len(b.executor.requests) == 2
    assert b.run(given={"limit": 11}).status == "succeeded" and len(b.executor.requests) == 3, "new parameters"
    (b.root / "landing" / "b.csv").write_text("id\n2\n")
    assert b.run(given={"limit": 11}).status == "succeeded" and len(b.executor.requests) == 4, "a new input file"
    assert b.run(given={"limit": 11}).status == "skipped"


# --------------------------------------------------------------------------- resume
def test_resume_repeats_a_failed_run_with_its_parameters_and_input_snapshot(bench: Callable[..., Bench]) -> None:
    seen: list[Handoff] = []
    b = bench(
        Outcome(proposals={"landing": POSITION}, error=KernelDiedError("the kernel died")),
        Outcome(proposals={"landing": POSITION}, before=seen.append),
        reads=["landing"],
    )
    failed = b.run(given={"limit": "5"}, from_cli=frozenset({"limit"}))
    rec = record(failed)
    assert rec["status"] == "failed" and rec["incremental"] is True
    assert rec["retry_command"] == f"nbpipe run ok --resume {failed.run_id}"
    assert b.state() == {}, "a failed run commits no state"

    resumed = b.run(resume=failed.run_id)
    assert resumed.status == "succeeded"
    (handoff,) = seen
    assert handoff.params["limit"] == 5, "the failed run's parameters"
    assert handoff.resume_file is not None
    snapshot = json.loads(handoff.resume_file.read_text())
    assert list(snapshot) == ["landing"] and snapshot["landing"]["position"] == POSITION
    rec = record(resumed)
    assert rec["resumed_from"] == failed.run_id and rec["params"]["limit"] == 5
    assert b.state() == {"landing": POSITION} and rec["state"]["after"] == {"landing": POSITION}


def test_only_a_failed_run_of_the_same_pipeline_can_be_resumed(bench: Callable[..., Bench]) -> None:
    b = bench()
    done = b.run()
    with pytest.raises(ParameterError, match="only failed runs can be resumed"):
        b.run(resume=done.run_id)
    assert len(b.executor.requests) == 1


# --------------------------------------------------------------------------- publish order
def test_only_the_successful_attempt_is_published_then_state_committed(bench: Callable[..., Bench]) -> None:
    at_start: list[tuple[bool, bool]] = []

    def look(handoff: Handoff) -> None:
        at_start.append(((handoff.run_dir / "staging").exists(), (b.warehouse / "out").exists()))

    b = bench(
        Outcome(
            staged={"out": {"part.csv": "id\nfirst\n"}},
            proposals={"landing": {"n": 1}},
            before=look,
            error=KernelDiedError("the kernel died"),
        ),
        Outcome(staged={"out": {"part.csv": "id\nsecond\n"}}, proposals={"landing": POSITION}, before=look),
        retries=1,
    )
    result = b.run()
    assert result.status == "succeeded"
    assert at_start == [(False, False), (False, False)], "attempt 1's staging was discarded, nothing published"
    assert (b.warehouse / "out" / "part.csv").read_text() == "id\nsecond\n"
    assert json.loads((b.warehouse / "out" / "_nbpipe_run.marker").read_text())["attempt"] == 2
    assert not (result.run_dir / "staging").exists()
    assert b.state() == {"landing": POSITION}, "the successful attempt's proposal, not the failed one's"
    order = kinds(b.events(result))
    last_attempt = len(order) - 1 - order[::-1].index(ev.ATTEMPT_FINISHED)
    assert last_attempt < order.index(ev.PUBLISHED) < order.index(ev.STATE_COMMITTED) < order.index(ev.RUN_FINISHED)
    published = next(e for e in b.events(result) if e["kind"] == ev.PUBLISHED)
    assert [d["dataset"] for d in published["datasets"]] == ["out"]


def test_a_failed_run_publishes_nothing_and_commits_no_state(bench: Callable[..., Bench]) -> None:
    b = bench(
        Outcome(
            staged={"out": {"part.csv": "id\n1\n"}},
            proposals={"landing": POSITION},
            error=KernelDiedError("the kernel died"),
        ),
        retries=1,
    )
    result = b.run()
    assert result.status == "failed" and len(b.executor.requests) == 2
    assert not (b.warehouse / "out").exists() and b.state() == {}
    assert record(result)["state"] == {"before": {}, "after": {}}
    assert not {ev.PUBLISHED, ev.STATE_COMMITTED} & set(kinds(b.events(result)))


def test_no_state_is_committed_when_the_publish_fails(bench: Callable[..., Bench]) -> None:
    lost_unit = {
        "dataset": "out",
        "path": "gone",
        "staging_path": "gone",
        "rows": 1,
        "bytes": 1,
        "partitions": [],
        "partition_by": [],
        "format": "csv",
        "sandbox": False,
        "mode": "overwrite",
    }
    b = bench(Outcome(events=[(ev.DATASET_STAGED, lost_unit)], proposals={"landing": POSITION}))
    result = b.run()
    assert (result.status, result.exit_code) == ("failed", 6)
    assert "staged unit" in record(result)["error"]["message"]
    assert b.state() == {} and ev.STATE_COMMITTED not in kinds(b.events(result))


# --------------------------------------------------------------------------- the executor's lifecycle
def test_the_runner_prestarts_through_and_closes_its_executor(bench: Callable[..., Bench]) -> None:
    b = bench()
    b.runner.prestart(PIPELINE)
    b.runner.prestart("unknown")
    assert b.executor.prestarted == [("python3", b.root)]
    b.runner.close()
    assert b.executor.closed


def test_a_runner_used_as_a_context_manager_closes_its_executor_and_store(bench: Callable[..., Bench]) -> None:
    b = bench(Outcome())
    with b.runner as runner:
        assert runner.run(PIPELINE).status == "succeeded"
        assert runner._store is not None
    assert b.executor.closed and runner._store is None
