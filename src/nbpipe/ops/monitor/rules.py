"""The data-alert rules of ``nbpipe monitor``: each reads bounded history from the run store.

Every rule returns the :class:`Finding` s it fires and the (subject, rule) pairs it judged, so
that the alerts of judged pairs that no longer fire can be resolved:

* ``late``: a scheduled pipeline without a successful (or up-to-date) run within its freshness
  window (``nbpipe.core.schedule.lateness``).
* ``missing_data``: a scheduled incremental pipeline whose run for the latest due tick found no
  new input (skipped as up to date, or read zero rows).
* ``volume_anomaly``: the rows the latest successful run wrote to a dataset, against its
  ``expect_rows`` and the leave-one-out volume rule (``nbpipe.run.observe.judge``).
* ``rejected_spike``: the rows rejected (quarantined) by the latest run, far above their baseline.
* ``check:<suite>/<expectation>[/<column>]``: a quality check that passed in the previous run
  and fails in the latest one (it stays open while it keeps failing).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from nbpipe.core.anomaly import VolumeRule, volume_verdict
from nbpipe.core.config import Project
from nbpipe.core.schedule import lateness, previous_tick
from nbpipe.run.alert_store import AlertStore
from nbpipe.run.observe import judge

DONE = ("succeeded", "skipped")
Key = tuple[str, str]


@dataclass(frozen=True)
class Finding:
    subject: str
    rule: str
    event: str
    severity: str  # warning | error
    message: str
    pipeline: str | None = None
    dataset: str | None = None
    run_id: str | None = None


def _ts(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def late(project: Project, store: AlertStore, now: dt.datetime) -> tuple[list[Finding], set[Key]]:
    found, judged = [], set()
    for name, cfg in project.config.pipelines.items():
        window = cfg.freshness_window()
        if cfg.schedule is None or window is None:
            continue
        judged.add((name, "late"))
        last = store.latest_runs(name, 1, DONE)
        last_at = _ts(last[0]["ended_at"] or last[0]["started_at"]) if last else None
        verdict = lateness(cfg.schedule, window, last_at, now, since=_ts(store.first_run_at(name)))
        if verdict.status == "ok":
            continue
        since = f"since {last_at.isoformat(timespec='minutes')}" if last_at else "ever"
        after = window.warn_after if verdict.status == "warn" else window.error_after
        due = verdict.due.isoformat(timespec="minutes")
        found.append(Finding(
            name, "late", "late", "error" if verdict.status == "error" else "warning",
            f"{name} has not succeeded {since} (schedule {cfg.schedule}, due {due}; {verdict.status} after "
            f"{_hours(after)})", pipeline=name, run_id=last[0]["run_id"] if last else None))
    return found, judged


def _hours(delta: dt.timedelta) -> str:
    return f"{delta.total_seconds() / 3600:g} h"


def missing_data(project: Project, store: AlertStore, now: dt.datetime) -> tuple[list[Finding], set[Key]]:
    found, judged = [], set()
    incremental = store.incremental_pipelines()
    for name, cfg in project.config.pipelines.items():
        if cfg.schedule is None or name not in incremental:
            continue
        due = previous_tick(cfg.schedule, now)
        last = store.latest_runs(name, 1)
        if not last or (_ts(last[0]["started_at"]) or due) < due:
            continue  # the run for this tick has not happened: `late` covers that
        judged.add((name, "missing_data"))
        run = last[0]
        if run["status"] == "skipped":
            why = f"its run {run['run_id']} found nothing new ({run['skipped_reason']})"
        elif run["status"] == "succeeded" and store.input_rows(run["run_id"]) == 0:
            why = f"its run {run['run_id']} read no new rows"
        else:
            continue
        found.append(Finding(name, "missing_data", "missing_data", "warning",
                             f"{name}: no new input for the run due {due.isoformat(timespec='minutes')}: {why}",
                             pipeline=name, run_id=run["run_id"]))
    return found, judged


def _writers(project: Project) -> dict[str, str]:
    return {ds: name for name, cfg in project.config.pipelines.items() for ds in cfg.writes}


def volume(project: Project, store: AlertStore, now: dt.datetime) -> tuple[list[Finding], set[Key]]:
    found, judged = [], set()
    for dataset, pipeline in sorted(_writers(project).items()):
        latest = store.output_history(dataset, 1)
        if not latest or latest[0]["rows"] is None:
            continue
        judged.add((dataset, "volume_anomaly"))
        run = latest[0]
        finding = judge(project, store.store, dataset, int(run["rows"]), _ts(run["started_at"]) or now, run["run_id"])
        if finding is not None:
            found.append(Finding(dataset, "volume_anomaly", "volume_anomaly", "warning", str(finding["message"]),
                                 pipeline=pipeline, dataset=dataset, run_id=run["run_id"]))
    return found, judged


def rejected_spike(project: Project, store: AlertStore, now: dt.datetime) -> tuple[list[Finding], set[Key]]:
    found, judged = [], set()
    for dataset, pipeline in sorted(_writers(project).items()):
        cfg = project.config.datasets.get(dataset)
        rule = cfg.volume.rule() if cfg is not None and cfg.volume is not None else VolumeRule()
        history = [h for h in store.output_history(dataset, rule.window + 1, rejected=True) if h["rows"] is not None]
        if not history:
            continue
        judged.add((dataset, "rejected_spike"))
        latest, earlier = history[0], history[1:]
        points = [(_ts(h["started_at"]) or now, float(h["rows"])) for h in earlier]
        verdict = volume_verdict(points, float(latest["rows"]), _ts(latest["started_at"]) or now, rule)
        if verdict.anomalous and verdict.baseline is not None and latest["rows"] > verdict.baseline:
            found.append(Finding(dataset, "rejected_spike", "quality_warning", "warning",
                                 f"{dataset}: {latest['rows']:,} rejected rows, against a median of "
                                 f"{verdict.baseline:,.0f} ({verdict.basis}, {verdict.history} runs)",
                                 pipeline=pipeline, dataset=dataset, run_id=latest["run_id"]))
    return found, judged


def _check_key(row: dict[str, Any]) -> str:
    parts = [str(row["suite"]), str(row["expectation_type"])]
    if row["column_name"]:
        parts.append(str(row["column_name"]))
    return "check:" + "/".join(parts)


def failing_checks(project: Project, store: AlertStore, now: dt.datetime,
                   open_keys: set[Key]) -> tuple[list[Finding], set[Key]]:
    found, judged = [], set()
    for name in project.config.pipelines:
        last = store.latest_runs(name, 2, ("succeeded", "failed"))
        if not last:
            continue
        latest = store.check_results(last[0]["run_id"])
        previous = store.check_results(last[1]["run_id"]) if len(last) > 1 else []
        before = {_check_key(r) for r in previous if r["success"]}
        for row in latest:
            key = _check_key(row)
            judged.add((name, key))
            if row["success"] or not (key in before or (name, key) in open_keys):
                continue
            found.append(Finding(name, key, "quality_warning", "warning",
                                 f"{name}: check {key.removeprefix('check:')} fails in run {last[0]['run_id']} "
                                 "(it passed before)", pipeline=name, run_id=last[0]["run_id"]))
    return found, judged
