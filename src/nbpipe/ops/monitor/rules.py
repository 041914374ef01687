"""The data-alert rules of ``nbpipe monitor``: each reads bounded history from the run store.

Every rule returns the :class:`Finding` s it fires and the (subject, rule) pairs it judged, so
that the alerts of judged pairs that no longer fire can be resolved:

* ``late``: a scheduled pipeline without a successful (or up-to-date) run within its freshness
  window (``nbpipe.core.schedule.lateness``).
* ``missing_data``: a scheduled incremental pipeline whose run for the latest due tick found no
  new input (skipped as up to date, or read zero rows).
* ``volume_anomaly`` (in :func:`outputs`): the rows the latest successful run wrote to a dataset,
  against its ``expect_rows`` and the leave-one-out volume rule (``nbpipe.run.observe.judge``).
* ``rejected_spike`` (in :func:`outputs`): the rows rejected (quarantined) by the latest run, far
  above their baseline by the same rule.
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
from nbpipe.run.observe import judge, rule_of

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
    scheduled = {n: c for n, c in project.config.pipelines.items() if c.schedule is not None}
    last_done = store.latest_runs_of(list(scheduled), 1, DONE)
    windows: dict[tuple[str, Any], Any] = {}  # the window of a schedule is computed once per pass
    for name, cfg in scheduled.items():
        key = (str(cfg.schedule), cfg.freshness)
        window = windows[key] if key in windows else windows.setdefault(key, cfg.freshness_window())
        if cfg.schedule is None or window is None:
            continue
        judged.add((name, "late"))
        last = last_done[name]
        last_at = _ts(last[0]["ended_at"] or last[0]["started_at"]) if last else None
        since = None if last else _ts(store.first_run_at(name))
        verdict = lateness(cfg.schedule, window, last_at, now, since=since)
        if verdict.status == "ok":
            continue
        when = f"since {last_at.isoformat(timespec='minutes')}" if last_at else "ever"
        after = window.warn_after if verdict.status == "warn" else window.error_after
        due = verdict.due.isoformat(timespec="minutes")
        found.append(Finding(
            name, "late", "late", "error" if verdict.status == "error" else "warning",
            f"{name} has not succeeded {when} (schedule {cfg.schedule}, due {due}; {verdict.status} after "
            f"{_hours(after)})", pipeline=name, run_id=last[0]["run_id"] if last else None))
    return found, judged


def _hours(delta: dt.timedelta) -> str:
    return f"{delta.total_seconds() / 3600:g} h"


def missing_data(project: Project, store: AlertStore, now: dt.datetime) -> tuple[list[Finding], set[Key]]:
    found, judged = [], set()
    incremental = store.incremental_pipelines()
    watched = {n: c for n, c in project.config.pipelines.items() if c.schedule is not None and n in incremental}
    latest = store.latest_runs_of(list(watched), 1)
    for name, cfg in watched.items():
        assert cfg.schedule is not None
        due = previous_tick(cfg.schedule, now)
        last = latest[name]
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


def _writers(project: Project) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, cfg in project.config.pipelines.items():
        for dataset in cfg.writes:
            found.setdefault(dataset, []).append(name)
    return found


def outputs(project: Project, store: AlertStore, now: dt.datetime) -> tuple[list[Finding], set[Key]]:
    """``volume_anomaly`` and ``rejected_spike`` of every dataset a pipeline writes (one history read each)."""
    found, judged = [], set()
    writers_of = _writers(project)
    rules = {dataset: rule_of(project, dataset) or VolumeRule() for dataset in writers_of}
    depth = max((r.window for r in rules.values()), default=0) + 1
    runs = store.latest_runs_of(sorted({w for ws in writers_of.values() for w in ws}), depth, ("succeeded",))
    written = store.outputs_of([r["run_id"] for rs in runs.values() for r in rs])
    for dataset, writers in sorted(writers_of.items()):
        rule = rules[dataset]
        candidates = sorted((r for w in writers for r in runs[w]), key=lambda r: r["started_at"], reverse=True)
        history = [{**r, **written[(r["run_id"], dataset)]} for r in candidates
                   if (r["run_id"], dataset) in written][: rule.window + 1]
        if not history:
            continue
        latest, earlier = history[0], history[1:]
        at = _ts(latest["started_at"]) or now
        if latest["rows"] is not None:
            judged.add((dataset, "volume_anomaly"))
            finding = judge(project, dataset, int(latest["rows"]), at, earlier)
            if finding is not None:
                found.append(Finding(dataset, "volume_anomaly", "volume_anomaly", "warning", str(finding["message"]),
                                     pipeline=writers[0], dataset=dataset, run_id=latest["run_id"]))
        spike = _rejected_spike(dataset, latest, earlier, rule, at)
        if spike is not None:
            judged.add((dataset, "rejected_spike"))
            if spike:
                found.append(Finding(dataset, "rejected_spike", "quality_warning", "warning", spike,
                                     pipeline=writers[0], dataset=dataset, run_id=latest["run_id"]))
    return found, judged


def _rejected_spike(dataset: str, latest: dict[str, Any], earlier: list[dict[str, Any]], rule: VolumeRule,
                    at: dt.datetime) -> str | None:
    """The spike's message, "" when the rejected rows look normal, None when they were not counted."""
    if latest["rejected_rows"] is None:
        return None
    points = [(_ts(h["started_at"]) or at, float(h["rejected_rows"]))
              for h in earlier if h["rejected_rows"] is not None]
    value = int(latest["rejected_rows"])
    verdict = volume_verdict(points, float(value), at, rule)
    if not (verdict.anomalous and verdict.baseline is not None and value > verdict.baseline):
        return ""
    return (f"{dataset}: {value:,} rejected rows, against a median of {verdict.baseline:,.0f} "
            f"({verdict.basis}, {verdict.history} runs)")


def _check_key(row: dict[str, Any]) -> str:
    parts = [str(row["suite"]), str(row["expectation_type"])]
    if row["column_name"]:
        parts.append(str(row["column_name"]))
    return "check:" + "/".join(parts)


def failing_checks(project: Project, store: AlertStore, now: dt.datetime,
                   open_keys: set[Key]) -> tuple[list[Finding], set[Key]]:
    found, judged = [], set()
    latest_two = store.latest_runs_of(list(project.config.pipelines), 2, ("succeeded", "failed"))
    all_results = store.check_results([r["run_id"] for rs in latest_two.values() for r in rs])
    for name in project.config.pipelines:
        last = latest_two[name]
        if not last:
            continue
        ids = {r["run_id"] for r in last}
        results = [r for r in all_results if r["run_id"] in ids]
        latest = [r for r in results if r["run_id"] == last[0]["run_id"]]
        before = {_check_key(r) for r in results if r["run_id"] != last[0]["run_id"] and r["success"]}
        for row in latest:
            key = _check_key(row)
            judged.add((name, key))
            if row["success"] or not (key in before or (name, key) in open_keys):
                continue
            found.append(Finding(name, key, "quality_warning", "warning",
                                 f"{name}: check {key.removeprefix('check:')} fails in run {last[0]['run_id']} "
                                 "(it passed before)", pipeline=name, run_id=last[0]["run_id"]))
    return found, judged
