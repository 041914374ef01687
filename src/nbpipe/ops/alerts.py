"""Alert state in the run store: one open episode per (subject, rule), opened → repeats → resolved.

A subject is a pipeline or a dataset; a rule is ``failure``, ``quality_warning``, ``late``,
``missing_data``, ``volume_anomaly``, ``rejected_spike`` or ``check:<suite>/<expectation>``.

* :meth:`Alerts.fire` opens an episode and says to notify, or counts a repeat and stays quiet
  (``suppressed``), except for a reminder once ``alerts.remind_after`` has passed since the
  last message. ``deliver=False`` records the occurrence without notifying (``nbpipe run`` under
  an orchestrator that notifies after its last try); a later ``deliver=True`` sends it then.
* :meth:`Alerts.resolve` closes the open episode with ``recovered after N failures / X h``; it
  notifies only when the episode had been notified.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nbpipe.core.config import AlertsConfig
from nbpipe.core.schedule import parse_duration
from nbpipe.run.alert_store import AlertStore


@dataclass(frozen=True)
class Decision:
    """What one occurrence did to its alert, and whether to tell anyone."""

    send: bool
    state: str  # opened | reminder | suppressed | resolved
    alert: dict[str, Any]
    message: str

    def summary(self) -> dict[str, Any]:
        """The alert as a notification shows it."""
        keys = ("id", "subject", "rule", "opened_at", "count", "suppressed", "resolved_at")
        return {k: self.alert.get(k) for k in keys}


def _ts(value: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value)
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


class Alerts:
    """The alert state machine over an :class:`AlertStore`."""

    def __init__(self, store: AlertStore, policy: AlertsConfig, clock: Callable[[], dt.datetime]) -> None:
        self.store = store
        self.policy = policy
        self.clock = clock

    def fire(self, subject: str, rule: str, *, event: str, severity: str, message: str,
             pipeline: str | None = None, dataset: str | None = None, run_id: str | None = None,
             deliver: bool = True) -> Decision:
        """Record one occurrence of (``subject``, ``rule``)."""
        now = self.clock()
        iso = now.isoformat()
        found = self.store.open_alert(subject, rule)
        if found is None:
            row = {"subject": subject, "rule": rule, "event": event, "pipeline": pipeline, "dataset": dataset,
                   "status": "open", "severity": severity, "message": message, "run_id": run_id, "count": 1,
                   "suppressed": 0, "reminders": 0, "opened_at": iso, "last_seen_at": iso,
                   "notified_at": iso if deliver else None}
            row["id"] = self.store.insert_alert(row)
            return Decision(deliver, "opened", row, message)
        update: dict[str, Any] = {"count": found["count"] + 1, "last_seen_at": iso, "message": message,
                                  "severity": severity, "run_id": run_id or found["run_id"]}
        state = "suppressed"
        if deliver and found["notified_at"] is None:
            state = "opened"
        elif deliver and self._remind(found, now):
            state = "reminder"
            update["reminders"] = found["reminders"] + 1
        if state == "suppressed":
            update["suppressed"] = found["suppressed"] + 1
        else:
            update["notified_at"] = iso
        self.store.update_alert(found["id"], **update)
        return Decision(state != "suppressed", state, {**found, **update}, message)

    def _remind(self, alert: dict[str, Any], now: dt.datetime) -> bool:
        if self.policy.remind_after is None:
            return False
        return now - _ts(alert["notified_at"]) >= parse_duration(self.policy.remind_after)

    def resolve(self, subject: str, rule: str) -> Decision | None:
        """Close the open episode of (``subject``, ``rule``); None when there is none."""
        found = self.store.open_alert(subject, rule)
        if found is None:
            return None
        now = self.clock()
        hours = (now - _ts(found["opened_at"])).total_seconds() / 3600
        noun = "failure" if rule == "failure" else "finding"
        count = found["count"]
        message = f"recovered after {count} {noun}{'s' if count != 1 else ''} / {hours:.1f} h"
        self.store.update_alert(found["id"], status="resolved", resolved_at=now.isoformat())
        return Decision(found["notified_at"] is not None, "resolved",
                        {**found, "status": "resolved", "resolved_at": now.isoformat()}, message)
