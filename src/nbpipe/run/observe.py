"""What the runner does at the end of a run for those who watch it: volume checks and the observer hook.

* :func:`volume_findings` judges the rows each output of a production run wrote against the
  store's history of that dataset (the run itself left out) with the dataset's volume rule
  (``nbpipe.core.anomaly``) and its ``expect_rows`` bounds. The runner writes a
  ``volume_anomaly`` event and a warning per finding; the run's status does not change.
* :data:`RunObserver` is called once per run with the final result (after all retries). It may
  return problems (e.g. a notification that could not be delivered); the runner adds each as a
  ``notification_failed`` event and a warning to the record, and the run's status and exit code
  stay what they were. ``nbpipe.ops.notify`` provides the observer that sends notifications.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nbpipe.core import events as ev
from nbpipe.core import records
from nbpipe.core.anomaly import VolumeRule, volume_verdict
from nbpipe.core.config import Project
from nbpipe.core.layout import RunDir
from nbpipe.errors import NbpipeError

if TYPE_CHECKING:  # pragma: no cover
    from nbpipe.run.record import RunResult
    from nbpipe.run.store import RunStore

# Called with the final result and the runner's store; returns problems: {"message": str, **event fields}.
RunObserver = Callable[["RunResult", "RunStore"], list[dict[str, Any]]]


def output_rows(events: list[dict[str, Any]], attempt: int | None) -> dict[str, int]:
    """Rows staged per output dataset by ``attempt`` (sandboxed and rejected rows left out)."""
    rows: dict[str, int] = {}
    for entry in records.dataset_entries(events, attempt)["outputs"]:
        if entry.get("rejected") or entry.get("sandbox") or not isinstance(entry.get("rows"), int):
            continue
        rows[str(entry["dataset"])] = rows.get(str(entry["dataset"]), 0) + int(entry["rows"])
    return rows


def rule_of(project: Project, dataset: str) -> VolumeRule | None:
    """The volume rule of ``dataset`` (its own, or the default); None when switched off."""
    cfg = project.config.datasets.get(dataset)
    volume = cfg.volume if cfg is not None else None
    if volume is not None and not volume.enabled:
        return None
    return volume.rule() if volume is not None else VolumeRule()


def writers_of(project: Project, dataset: str, also: str | None = None) -> list[str]:
    """The pipelines that declare they write ``dataset`` (and ``also``)."""
    found = [name for name, cfg in project.config.pipelines.items() if dataset in cfg.writes]
    return [*found, also] if also is not None and also not in found else found


def judge(project: Project, dataset: str, rows: int, at: dt.datetime,
          history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A finding for ``rows`` written to ``dataset`` at ``at`` against ``history`` (the run left out), or None.

    ``history`` holds earlier runs' ``started_at`` and ``rows`` (``AlertStore.output_history``).
    """
    cfg = project.config.datasets.get(dataset)
    expect = cfg.expect_rows if cfg is not None else None
    if expect is not None and expect.min is not None and rows < expect.min:
        return _finding(dataset, rows, f"{rows:,} rows written to {dataset!r}, below expect_rows min {expect.min:,}")
    if expect is not None and expect.max is not None and rows > expect.max:
        return _finding(dataset, rows, f"{rows:,} rows written to {dataset!r}, above expect_rows max {expect.max:,}")
    rule = rule_of(project, dataset)
    if rule is None:
        return None
    points = [(dt.datetime.fromisoformat(h["started_at"]), float(h["rows"])) for h in history if h["rows"] is not None]
    verdict = volume_verdict(points, float(rows), at, rule)
    if not verdict.anomalous:
        return None
    return _finding(dataset, rows, f"{dataset}: {verdict.describe()}", baseline=verdict.baseline)


def _finding(dataset: str, rows: int, message: str, baseline: float | None = None) -> dict[str, Any]:
    return {"dataset": dataset, "rows": rows, "baseline": baseline, "message": message}


def volume_findings(project: Project, store: RunStore, pipeline: str, run_id: str, started_at: dt.datetime,
                    events: list[dict[str, Any]], attempt: int | None, log: ev.EventLog) -> list[str]:
    """Judge every output of the run; write a ``volume_anomaly`` event per finding; return the warnings."""
    from nbpipe.run.alert_store import AlertStore

    history_of = AlertStore(store).output_history
    warnings = []
    for dataset, rows in sorted(output_rows(events, attempt).items()):
        window = (rule_of(project, dataset) or VolumeRule()).window
        try:
            history = history_of(dataset, window, writers=writers_of(project, dataset, pipeline), exclude_run=run_id)
        except NbpipeError as exc:  # the check is advice: a store problem must not fail the run
            warnings.append(f"the volume of {dataset!r} could not be checked: {exc.message}")
            continue
        finding = judge(project, dataset, rows, started_at, history)
        if finding is not None:
            log.emit(ev.VOLUME_ANOMALY, **finding)
            warnings.append(f"volume anomaly: {finding['message']}")
    return warnings


def after_record(result: RunResult, observer: RunObserver, log: ev.EventLog, store: RunStore) -> None:
    """Call ``observer``; record what it reports as events and warnings (run.json and the store)."""
    try:
        problems = observer(result, store)
    except Exception as exc:  # an observer must never change a finished run
        problems = [{"message": f"notifications failed: {type(exc).__name__}: {exc}"}]
    if not problems:
        return
    for problem in problems:
        log.emit(ev.NOTIFICATION_FAILED, **problem)
        result.record.setdefault("warnings", []).append(str(problem["message"]))
    records.write_json(result.run_dir / RunDir.RECORD, result.record)
    try:
        store.save_run(result.record, list(ev.read_events(log.path)))
    except NbpipeError:  # run.json holds the warnings; the run's own row was saved before
        pass
