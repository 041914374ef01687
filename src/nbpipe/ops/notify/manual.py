"""Notifications asked for by hand or by an orchestrator: ``nbpipe notify send`` and ``nbpipe notify test``.

``send`` goes through alert state like a run does (a repeated ``failure`` is counted and
suppressed; ``recovered`` resolves the open failure alert), so Airflow's failure callback and
nbpipe's own runs never notify twice for the same failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbpipe.core.config import Project
from nbpipe.core.layout import RunDir
from nbpipe.core.notify import EVENTS
from nbpipe.errors import ConfigError, ParameterError, did_you_mean
from nbpipe.ops.notify.channels import Channel, all_channels, channels
from nbpipe.ops.notify.service import Notifier, first_line

SEVERITY = {"failure": "error", "late": "warning", "missing_data": "warning", "volume_anomaly": "warning",
            "quality_warning": "warning", "recovered": "info", "success": "info"}


@dataclass
class Sent:
    """What ``notify send`` did: the alert's state, the channels asked, and the deliveries that failed."""

    state: str  # opened | reminder | suppressed | resolved | no open alert | info
    channels: list[str] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0


def check_event(event: str, pipeline: str, project: Project) -> None:
    if event not in EVENTS:
        raise ParameterError(f"unknown event {event!r}{did_you_mean(event, EVENTS)}",
                             hint=f"use one of: {', '.join(EVENTS)}")
    if pipeline not in project.config.pipelines:
        raise ParameterError(f"--pipeline {pipeline!r} is not declared in nbpipe.yaml"
                             f"{did_you_mean(pipeline, project.config.pipelines)}",
                             hint=f"declared pipelines: {', '.join(sorted(project.config.pipelines)) or '(none)'}")


def send(notifier: Notifier, event: str, pipeline: str, *, run_id: str | None = None,
         detail: str | None = None) -> Sent:
    """Notify ``event`` for ``pipeline`` through its alert; ``detail`` is the message (e.g. Airflow's)."""
    project = notifier.project
    check_event(event, pipeline, project)
    run = _run(notifier, pipeline, run_id, failed=event == "failure")
    record_message = first_line((run.get("error") or {}).get("message")) if run else ""
    message = first_line(detail) or record_message or f"{event} reported for {pipeline}"
    fields: dict[str, Any] = {"pipeline": pipeline}
    if run:
        fields |= {"run_id": run["run_id"], "report": str(Path(str(run.get("run_dir"))) / RunDir.REPORT),
                   "retry_command": run.get("retry_command") if run.get("status") == "failed" else None}
    targets = [c.name for c in channels(project, pipeline)
               if ("recovered" if event == "recovered" else event) in c.rule.on]
    if event == "success":
        note = notifier.note(event, "info", "info", f"{pipeline} succeeded", message, **fields)
        return Sent("info", targets, notifier.dispatch(note))
    if event == "recovered":
        resolved = notifier.alerts.resolve(pipeline, "failure")
        if resolved is None:
            return Sent("no open alert")
        note = notifier.note("failure", "resolved", "info", f"{pipeline} recovered", resolved.message,
                             rule="failure", alert=resolved.summary(), **fields)
        return Sent("resolved", targets if resolved.send else [], notifier.send_decision(resolved, note),
                    int(resolved.alert["count"]))
    decision = notifier.alerts.fire(pipeline, event, event=event, severity=SEVERITY[event], message=message,
                                    pipeline=pipeline, run_id=fields.get("run_id"))
    title = f"{pipeline} failed" if event == "failure" else f"{pipeline}: {event.replace('_', ' ')}"
    note = notifier.note(event, decision.state, SEVERITY[event], title, message, rule=event,
                         alert=decision.summary(), **fields)
    return Sent(decision.state, targets if decision.send else [], notifier.send_decision(decision, note),
                int(decision.alert["count"]))


def _run(notifier: Notifier, pipeline: str, run_id: str | None, *, failed: bool) -> dict[str, Any] | None:
    store = notifier.store.store
    if run_id is not None:
        record = store.get_run(run_id)  # ParameterError when unknown
        if record.get("pipeline") != pipeline:
            raise ParameterError(f"run {record['run_id']} is a run of {record.get('pipeline')!r}, not of {pipeline!r}",
                                 hint="pass the run id of the pipeline named by --pipeline")
        return record
    if not failed:
        return None
    latest = store.list_runs(pipeline, limit=1)
    return store.get_run(latest[0]["run_id"]) if latest and latest[0]["status"] == "failed" else None


def test(notifier: Notifier, name: str | None) -> list[tuple[Channel, dict[str, Any] | None]]:
    """Send a test message to the channel ``name`` (or to every channel); return each with its problem."""
    found = all_channels(notifier.project)
    if not found:
        raise ConfigError("no notification channels are configured",
                          hint="add one under 'notify:' in nbpipe.yaml, e.g. notify: [{on: [failure], "
                               "webhook: env:NBPIPE_WEBHOOK_URL}]")
    if name is not None:
        found = [c for c in found if c.name == name]
        if not found:
            names = [c.name for c in all_channels(notifier.project)]
            raise ParameterError(f"no notification channel {name!r}{did_you_mean(name, names)}",
                                 hint=f"channels: {', '.join(names)}")
    out = []
    for channel in found:
        note = notifier.note("test", "info", "info", f"test message from nbpipe ({channel.name})",
                             f"channel {channel.name} of project {notifier.project.config.project} works",
                             pipeline=channel.pipeline)
        problems = notifier.dispatch(note, only=[channel])
        out.append((channel, problems[0] if problems else None))
    return out
