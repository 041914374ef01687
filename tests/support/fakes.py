"""Fakes that make the runner's logic testable in milliseconds, without a kernel.

:class:`FakeExecutor` satisfies :class:`nbpipe.run.engine.Executor` (nbclient's fake kernel manager
and httpx's ``MockTransport`` are the model). Each attempt plays the next scripted :class:`Outcome`:
it does what a notebook's kernel would have done through the run's files — stage dataset units
under ``<run_dir>/staging/``, append kernel events (checks, metrics, state proposals) to
``events.jsonl`` with ``source="kernel"`` — writes an executed ``output.ipynb``, then raises the
scripted error, if any. What the runner asked for is kept in :attr:`FakeExecutor.requests`.

    executor = FakeExecutor([Outcome(error=KernelDiedError("the kernel died")), Outcome()])
    runner = Runner(project, executor=executor, sleep=slept.append)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from nbpipe.core import events as ev
from nbpipe.core.layout import RunDir, write_marker
from nbpipe.core.protocol import Handoff, read_handoff
from nbpipe.errors import CellExecutionError, NbpipeError
from nbpipe.run.engine import ExecutionRequest


def kernel_raised(
    cls: type[BaseException], message: str, *, hint: str | None = None, cell: int = 2
) -> CellExecutionError:
    """The error the papermill executor raises when a cell raised ``cls(message, hint=hint)`` in the kernel."""
    evalue = str(cls(message, hint=hint)) if issubclass(cls, NbpipeError) else str(cls(message))
    error = CellExecutionError(
        f"cell {cell} (In [{cell}]) raised {cls.__name__}: {evalue}",
        hint="see the traceback in report.html or output.ipynb, fix the notebook or its input, then rerun",
        cell_index=cell,
        ename=cls.__name__,
        evalue=evalue,
        traceback=[f"{cls.__name__}                  Traceback (most recent call last)", f"{cls.__name__}: {evalue}"],
    )
    if issubclass(cls, NbpipeError):  # the kernel's context reports it (nbpipe.kernel.context)
        error.raised_class = f"{cls.__module__}.{cls.__qualname__}"  # type: ignore[attr-defined]
    return error


@dataclass
class Outcome:
    """What one attempt's notebook does, in order: ``before``, stage, emit events, write the notebook, raise.

    Attributes:
        staged: Dataset → ``{file name: text}``: one unit (the whole dataset) staged per dataset,
            with its marker and a ``dataset_staged`` event, as ``ctx.write`` does.
        proposals: Dataset → position: ``state_proposal`` events, as ``ctx.incremental`` does.
        checks: Payloads of ``check`` events (``suite``, ``dataset``, ``success``, ``gate``, …).
        metrics: ``metric`` events.
        events: More events, as ``(kind, payload)``, emitted as they are (nothing is staged for them).
        error: Raised at the end (e.g. :func:`kernel_raised`, ``KernelDiedError(...)``).
        before: Called first with the attempt's handoff, to look at the run as the kernel finds it.
    """

    staged: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    proposals: Mapping[str, Any] = field(default_factory=dict)
    checks: Sequence[Mapping[str, Any]] = ()
    metrics: Mapping[str, float] = field(default_factory=dict)
    events: Sequence[tuple[str, Mapping[str, Any]]] = ()
    error: BaseException | None = None
    before: Callable[[Handoff], None] | None = None


class FakeExecutor:
    """An :class:`~nbpipe.run.engine.Executor` that plays scripted outcomes, one per attempt.

    Args:
        outcomes: One per attempt, in order; the last one repeats. Empty: every attempt succeeds.
    """

    def __init__(self, outcomes: Sequence[Outcome] = ()) -> None:
        self.outcomes = list(outcomes) or [Outcome()]
        self.requests: list[ExecutionRequest] = []
        self.handoffs: list[Handoff] = []
        self.prestarted: list[tuple[str, Path]] = []
        self.closed = False

    def execute(self, request: ExecutionRequest) -> None:
        handoff = read_handoff(request.env)
        assert handoff is not None, "the runner always hands the kernel its run"
        outcome = self.outcomes[min(len(self.requests), len(self.outcomes) - 1)]
        self.requests.append(request)
        self.handoffs.append(handoff)
        if outcome.before is not None:
            outcome.before(handoff)
        log = ev.EventLog.in_run_dir(handoff.run_dir, source="kernel", attempt=handoff.attempt)
        for dataset, files in outcome.staged.items():
            _stage(log, handoff, dataset, files)
        for suite in outcome.checks:
            log.emit(ev.CHECK, **suite)
        for name, value in outcome.metrics.items():
            log.emit(ev.METRIC, name=name, value=value)
        for dataset, position in outcome.proposals.items():
            log.emit(
                ev.STATE_PROPOSAL,
                dataset=dataset,
                incremental="files",
                position=position,
                snapshot=position,
                rows=1,
                warnings=[],
            )
        for kind, payload in outcome.events:
            log.emit(kind, **payload)
        raised_class = getattr(outcome.error, "raised_class", None)
        if raised_class is not None:
            log.emit(ev.ERROR_RAISED, error_class=raised_class)
        _write_output(request, outcome.error)
        if outcome.error is not None:
            raise outcome.error

    def prestart(self, kernel_name: str, cwd: Path) -> None:
        self.prestarted.append((kernel_name, cwd))

    def close(self) -> None:
        self.closed = True


def _stage(log: ev.EventLog, handoff: Handoff, dataset: str, files: Mapping[str, str]) -> None:
    unit = RunDir(handoff.run_dir).staging / dataset
    unit.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (unit / name).write_text(text, encoding="utf-8")
    write_marker(unit, run_id=handoff.run_id, attempt=handoff.attempt, dataset=dataset)
    rows = sum(max(text.count("\n") - 1, 0) for text in files.values())
    log.emit(
        ev.DATASET_STAGED,
        dataset=dataset,
        path=str(unit),
        staging_path=str(unit),
        rows=rows,
        bytes=sum(len(t.encode()) for t in files.values()),
        partitions=[],
        partition_by=[],
        format="csv",
        schema_version=None,
        schema=[],
        sandbox=handoff.mode != "prod",
        mode="overwrite",
    )


def _write_output(request: ExecutionRequest, error: BaseException | None) -> None:
    """The executed notebook: every code cell completed, or the failing cell with an error output."""
    nb = nbformat.read(request.notebook, as_version=4)
    failing = error.cell_index if isinstance(error, NbpipeError) else None
    state = "completed"
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if index == failing and isinstance(error, NbpipeError):
            cell.outputs = [
                nbformat.v4.new_output(
                    "error",
                    ename=error.ename or type(error).__name__,
                    evalue=error.evalue or error.message,
                    traceback=error.traceback,
                )
            ]
            cell.metadata["papermill"] = {"status": "failed", "exception": True}
            state = "pending"
            continue
        cell.metadata["papermill"] = {"status": state, "exception": False}
    nbformat.write(nb, request.output_path)
