"""``nbpipe monitor``: evaluate the data-alert rules, keep their alerts, send what changed.

One pass (:meth:`Monitor.once`) runs every rule of :mod:`nbpipe.ops.monitor.rules` against the
run store, fires an alert per finding (a new one is sent, a repeat is counted and suppressed), resolves
the alerts of rules that were judged and no longer fire (``recovered``), and, with
``alerts.digest_at``, sends one digest of the open alerts a day to the project-level channels.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nbpipe.core import events as ev
from nbpipe.core.config import Project
from nbpipe.ops.alerts import Decision
from nbpipe.ops.monitor import rules
from nbpipe.ops.monitor.rules import Finding
from nbpipe.ops.notify.channels import channels
from nbpipe.ops.notify.message import Notification
from nbpipe.ops.notify.service import Notifier
from nbpipe.run.store import RunStore

MONITOR_RULES = ("late", "missing_data", "volume_anomaly", "rejected_spike")
CHECK_PREFIX = "check:"
_TITLES = {"late": "{} is late", "missing_data": "{}: missing data", "volume_anomaly": "{}: volume anomaly",
           "rejected_spike": "{}: rejected rows spike"}


@dataclass
class MonitorPass:
    """What one pass found, resolved and could not deliver."""

    at: dt.datetime
    findings: list[Finding] = field(default_factory=list)
    opened: list[Finding] = field(default_factory=list)  # findings whose alert was (re)sent
    resolved: list[Decision] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    digest_sent: bool = False

    def worst(self) -> str | None:
        order = {"warning": 1, "error": 2}
        return max((f.severity for f in self.findings), key=lambda s: order.get(s, 0), default=None)


class Monitor:
    def __init__(self, project: Project, store: RunStore, *, clock: Callable[[], dt.datetime] = ev.utcnow,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.project = project
        self.clock = clock
        self.notifier = Notifier(project, store, clock=clock, sleep=sleep)

    def once(self) -> MonitorPass:
        now = self.clock()
        store, alerts = self.notifier.store, self.notifier.alerts
        result = MonitorPass(now)
        open_alerts = [a for a in store.open_alerts() if _ours(a["rule"])]
        judged: set[rules.Key] = set()
        with store.reading():  # one snapshot of the history for every rule
            for rule in (rules.late, rules.missing_data, rules.outputs):
                found, seen = rule(self.project, store, now)
                result.findings += found
                judged |= seen
            open_keys = {(a["subject"], a["rule"]) for a in open_alerts}
            found, seen = rules.failing_checks(self.project, store, now, open_keys)
            result.findings += found
            judged |= seen
        firing = {(f.subject, f.rule) for f in result.findings}
        outbox: list[tuple[Decision, Notification]] = []
        with store.batch():  # every alert change of the pass in one transaction; messages go after it
            for finding in result.findings:
                decision = alerts.fire(finding.subject, finding.rule, event=finding.event, severity=finding.severity,
                                       message=finding.message, pipeline=finding.pipeline, dataset=finding.dataset,
                                       run_id=finding.run_id)
                if decision.send:
                    result.opened.append(finding)
                title = _TITLES.get(finding.rule, "{}: check newly failing").format(finding.subject)
                outbox.append((decision, self.notifier.note(
                    finding.event, decision.state, finding.severity, title, finding.message, pipeline=finding.pipeline,
                    dataset=finding.dataset, rule=finding.rule, run_id=finding.run_id, alert=decision.summary())))
            for alert in open_alerts:
                key = (alert["subject"], alert["rule"])
                resolved = None if key in firing or key not in judged else alerts.resolve(*key)
                if resolved is None:
                    continue
                result.resolved.append(resolved)
                outbox.append((resolved, self.notifier.note(
                    str(alert["event"]), "resolved", "info", f"{key[0]}: {key[1]} resolved", resolved.message,
                    pipeline=alert["pipeline"], dataset=alert["dataset"], rule=key[1], alert=resolved.summary())))
        for decision, note in outbox:
            result.problems += self.notifier.send_decision(decision, note)
        self._digest(result)
        return result

    def _digest(self, result: MonitorPass) -> None:
        at = self.project.config.alerts.digest_at
        if at is None:
            return
        hour, minute = (int(part) for part in at.split(":"))
        due = result.at.astimezone(dt.UTC).replace(hour=hour, minute=minute, second=0, microsecond=0)
        if result.at < due:
            return
        store = self.notifier.store
        targets = [c for c in channels(self.project) if store.sent_since(c.name, due.isoformat(), "digest") == 0]
        open_alerts = store.open_alerts()
        if not targets or not open_alerts:
            return
        items = [{k: a[k] for k in ("subject", "rule", "severity", "message", "opened_at", "count")}
                 for a in open_alerts]
        note = self.notifier.note("digest", "info", "info", f"{len(items)} open alert(s)",
                                  f"daily digest of the open alerts of {self.project.config.project}", items=items)
        result.problems += self.notifier.dispatch(note, only=targets)
        result.digest_sent = True


def _ours(rule: str) -> bool:
    return rule in MONITOR_RULES or rule.startswith(CHECK_PREFIX)
