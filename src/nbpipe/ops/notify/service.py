"""The notifier: alert state plus channels, for runs (the runner's observer), the monitor and the CLI.

:meth:`Notifier.on_run` is the :data:`~nbpipe.run.observe.RunObserver` installed where runs are
started (``nbpipe run``, ``dag run``, ``backfill``). It sees only the final result of a run, so a
run that is still retrying is silent. With ``NBPIPE_ORCHESTRATOR=airflow`` a failed run records
the failure in its alert without notifying: Airflow retries the task and its failure callback
calls ``nbpipe notify send failure`` after the last try, which notifies through the same alert.

Every message goes through :meth:`Notifier.dispatch`: the channels subscribed to its event, a
per-channel rate limit (``alerts.rate_limit_per_hour``), delivery with retries, and a row in the
``deliveries`` table per channel. Problems come back as dicts for the run record; nothing raises.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nbpipe.core import events as ev
from nbpipe.core.config import Project
from nbpipe.core.layout import RunDir
from nbpipe.ops.alerts import Alerts, Decision
from nbpipe.ops.notify.channels import Channel, channels, deliver
from nbpipe.ops.notify.message import Notification
from nbpipe.run.alert_store import AlertStore
from nbpipe.run.record import RunResult
from nbpipe.run.store import RunStore

ENV_ORCHESTRATOR = "NBPIPE_ORCHESTRATOR"
ALWAYS = ("test", "digest")  # sent to every channel asked, whatever its ``on:``


def first_line(text: Any) -> str:
    lines = [line for line in str(text or "").splitlines() if line.strip()]
    return lines[0][:500] if lines else ""


class Notifier:
    """Send notifications for one project and keep alert state in its run store."""

    def __init__(self, project: Project, store: RunStore, *, clock: Callable[[], dt.datetime] = ev.utcnow,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.project = project
        self.store = AlertStore(store)
        self.alerts = Alerts(self.store, project.config.alerts, clock)
        self.clock = clock
        self.sleep = sleep

    # ------------------------------------------------------------------------------- sending
    def note(self, event: str, state: str, severity: str, title: str, message: str, **fields: Any) -> Notification:
        return Notification(event=event, state=state, severity=severity, title=title, message=message,
                            project=self.project.config.project, at=self.clock(), **fields)

    def dispatch(self, note: Notification, *, only: list[Channel] | None = None) -> list[dict[str, Any]]:
        """Send ``note`` to its subscribed channels (or to ``only``); return the problems."""
        event = "recovered" if note.state == "resolved" else note.event
        targets = only if only is not None else [
            c for c in channels(self.project, note.pipeline) if event in c.rule.on]
        problems = []
        for channel in targets:
            problem = self._send(channel, event, note)
            if problem is not None:
                problems.append(problem)
        return problems

    def _send(self, channel: Channel, event: str, note: Notification) -> dict[str, Any] | None:
        now = self.clock()
        row = {"ts": now.isoformat(), "channel": channel.name, "target": channel.target, "event": event,
               "alert_id": (note.alert or {}).get("id"), "pipeline": note.pipeline, "run_id": note.run_id}
        limit = self.project.config.alerts.rate_limit_per_hour
        if note.event not in ALWAYS and self.store.sent_since(channel.name, (now - dt.timedelta(hours=1))
                                                              .isoformat()) >= limit:
            error = f"rate limit of {limit} messages per hour reached"
            self.store.add_delivery({**row, "status": "rate_limited", "attempts": 0, "error": error})
            return self._problem(channel, event, error)
        result = deliver(channel, note, sleep=self.sleep)
        status = "sent" if result.ok else "failed"
        self.store.add_delivery({**row, "status": status, "attempts": result.attempts, "error": result.error})
        return None if result.ok else self._problem(channel, event, str(result.error))

    @staticmethod
    def _problem(channel: Channel, event: str, error: str) -> dict[str, Any]:
        return {"message": f"the {event} notification to channel {channel.name!r} ({channel.target}) was not "
                           f"delivered: {error}",
                "channel": channel.name, "target": channel.target, "event": event, "error": error}

    def send_decision(self, decision: Decision | None, note: Notification) -> list[dict[str, Any]]:
        """Dispatch ``note`` if the alert's ``decision`` says so."""
        if decision is None or not decision.send:
            return []
        return self.dispatch(note)

    # ---------------------------------------------------------------------------------- runs
    def on_run(self, result: RunResult) -> list[dict[str, Any]]:
        """The runner's observer: alert state and messages for one finished production run."""
        record = result.record
        if record.get("mode") != "prod" or result.status not in ("succeeded", "failed"):
            return []
        pipeline, run_id = result.pipeline, result.run_id
        run = self._run_fields(result)
        problems: list[dict[str, Any]] = []
        if result.status == "failed":
            message = first_line((record.get("error") or {}).get("message")) or "the run failed"
            orchestrated = os.environ.get(ENV_ORCHESTRATOR) == "airflow"
            failed = self.alerts.fire(pipeline, "failure", event="failure", severity="error", message=message,
                                      pipeline=pipeline, run_id=run_id, deliver=not orchestrated)
            return self.send_decision(failed, self._alert_note(failed, pipeline, f"{pipeline} failed", run))
        decision = self.alerts.resolve(pipeline, "failure")
        if decision is not None:
            problems += self.send_decision(decision, self._alert_note(decision, pipeline, f"{pipeline} recovered",
                                                                      run))
        problems += self._quality(result, run)
        problems += self._volumes(result, run)
        if any("success" in c.rule.on for c in channels(self.project, pipeline)):
            took = record.get("duration_s") or 0
            problems += self.dispatch(self.note("success", "info", "info", f"{pipeline} succeeded",
                                                f"run {run_id} succeeded in {took:.1f} s", pipeline=pipeline,
                                                **run))
        return problems

    def _run_fields(self, result: RunResult) -> dict[str, Any]:
        record = result.record
        error = record.get("error") or {}
        cell = None
        if error.get("cell_index") is not None:
            first = next((c.get("first_line") for c in record.get("cells") or []
                          if c.get("index") == error["cell_index"]), "")
            cell = f"cell {error['cell_index']}: {first}" if first else f"cell {error['cell_index']}"
        retry = record.get("retry_command") if result.status == "failed" else None
        return {"run_id": result.run_id, "report": str(Path(result.run_dir) / RunDir.REPORT),
                "retry_command": retry, "failing_cell": cell}

    def _alert_note(self, decision: Decision, pipeline: str | None, title: str, run: dict[str, Any],
                    dataset: str | None = None) -> Notification:
        alert = decision.alert
        severity = "info" if decision.state == "resolved" else str(alert.get("severity") or "warning")
        return self.note(str(alert["event"]), decision.state, severity, title, decision.message, pipeline=pipeline,
                         dataset=dataset, rule=str(alert["rule"]), alert=decision.summary(), **run)

    def _quality(self, result: RunResult, run: dict[str, Any]) -> list[dict[str, Any]]:
        pipeline = result.pipeline
        quality = result.record.get("quality")
        if quality in ("warned", "failed"):
            suites = sorted({str(c.get("suite")) for c in result.record.get("checks") or [] if not c.get("success")})
            message: str | None = f"quality checks failed (pipeline quality: warn): {', '.join(suites)}"
        else:
            message = None
        return self._warning(pipeline, "quality_warning", message, pipeline=pipeline, run=run,
                             titles=(f"{pipeline}: quality warning", f"{pipeline}: quality checks pass again"))

    def _volumes(self, result: RunResult, run: dict[str, Any]) -> list[dict[str, Any]]:
        events = list(ev.read_events(Path(result.run_dir) / RunDir.EVENTS))
        found = {e["dataset"]: e for e in ev.of_kind(events, ev.VOLUME_ANOMALY)}
        written = {str(d.get("dataset")) for d in (result.record.get("datasets") or {}).get("outputs") or []
                   if not d.get("rejected") and not d.get("sandbox")}
        problems: list[dict[str, Any]] = []
        for dataset in sorted(written | set(found)):
            problems += self.volume(dataset, found.get(dataset), pipeline=result.pipeline, run=run)
        return problems

    def volume(self, dataset: str, finding: dict[str, Any] | None, *, pipeline: str | None,
               run: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Fire or resolve the ``volume_anomaly`` alert of ``dataset``."""
        message = None if finding is None else str(finding["message"])
        return self._warning(dataset, "volume_anomaly", message, pipeline=pipeline, dataset=dataset, run=run or {},
                             titles=(f"{dataset}: volume anomaly", f"{dataset}: volume back to normal"))

    def _warning(self, subject: str, rule: str, message: str | None, *, pipeline: str | None,
                 run: dict[str, Any], titles: tuple[str, str], dataset: str | None = None) -> list[dict[str, Any]]:
        """Fire the warning alert (``rule`` is also its event) with ``message``, or resolve it when None."""
        if message is not None:
            decision: Decision | None = self.alerts.fire(
                subject, rule, event=rule, severity="warning", message=message, pipeline=pipeline, dataset=dataset,
                run_id=run.get("run_id"))
            title = titles[0]
        else:
            decision = self.alerts.resolve(subject, rule)
            title = titles[1]
        if decision is None:
            return []
        return self.send_decision(decision, self._alert_note(decision, pipeline, title, run, dataset=dataset))


def run_observer(project: Project, **options: Any) -> Callable[[RunResult, RunStore], list[dict[str, Any]]]:
    """The runner's observer for ``project`` (``Runner(..., on_finished=run_observer(project))``)."""

    def observe(result: RunResult, store: RunStore) -> list[dict[str, Any]]:
        return Notifier(project, store, **options).on_run(result)

    return observe
