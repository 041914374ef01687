"""The alert state machine on a real SQLite run store: open, suppress, remind, resolve; the rate limit."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from nbpipe.core.config import AlertsConfig
from nbpipe.ops.alerts import Alerts
from nbpipe.run.alert_store import AlertStore
from nbpipe.run.store import RunStore

T0 = dt.datetime(2026, 3, 2, 6, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def store(tmp_path: Path):
    with RunStore(f"sqlite:///{tmp_path / 'runs.db'}") as s:
        yield AlertStore(s)


def fire(alerts: Alerts, subject: str = "ingest", **kw):
    return alerts.fire(subject, "failure", event="failure", severity="error", message="boom", pipeline=subject, **kw)


def test_opened_then_repeats_suppressed_and_counted_then_recovered(store: AlertStore) -> None:
    clock = Clock()
    alerts = Alerts(store, AlertsConfig(), clock)
    first = fire(alerts)
    assert (first.send, first.state, first.alert["count"]) == (True, "opened", 1)
    clock.now = T0 + dt.timedelta(hours=1)
    second = fire(alerts)
    assert (second.send, second.state, second.alert["count"], second.alert["suppressed"]) == (False, "suppressed", 2, 1)
    clock.now = T0 + dt.timedelta(hours=3)
    resolved = alerts.resolve("ingest", "failure")
    assert resolved is not None and resolved.send
    assert resolved.message == "recovered after 2 failures / 3.0 h"
    assert store.open_alerts() == []
    assert alerts.resolve("ingest", "failure") is None  # nothing open any more
    reopened = fire(alerts)
    assert (reopened.state, reopened.alert["count"]) == ("opened", 1)  # a new episode


def test_reminder_after_the_configured_time(store: AlertStore) -> None:
    clock = Clock()
    alerts = Alerts(store, AlertsConfig(remind_after="24h"), clock)
    fire(alerts)
    clock.now = T0 + dt.timedelta(hours=23)
    assert fire(alerts).state == "suppressed"
    clock.now = T0 + dt.timedelta(hours=24)
    reminder = fire(alerts)
    assert (reminder.send, reminder.state, reminder.alert["reminders"]) == (True, "reminder", 1)
    clock.now = T0 + dt.timedelta(hours=30)
    assert fire(alerts).state == "suppressed"  # the next reminder is 24 h after this one


def test_occurrence_recorded_without_delivery_is_sent_by_the_next_delivering_fire(store: AlertStore) -> None:
    alerts = Alerts(store, AlertsConfig(), Clock())
    quiet = fire(alerts, deliver=False)
    assert (quiet.send, quiet.alert["notified_at"]) == (False, None)
    assert fire(alerts, deliver=False).state == "suppressed"
    loud = fire(alerts)
    assert (loud.send, loud.state, loud.alert["count"]) == (True, "opened", 3)
    assert fire(alerts).state == "suppressed"


def test_resolving_an_alert_nobody_was_told_about_stays_silent(store: AlertStore) -> None:
    alerts = Alerts(store, AlertsConfig(), Clock())
    fire(alerts, deliver=False)  # a run that failed, then Airflow's retry succeeded
    resolved = alerts.resolve("ingest", "failure")
    assert resolved is not None and not resolved.send


def test_alerts_are_per_subject_and_rule(store: AlertStore) -> None:
    alerts = Alerts(store, AlertsConfig(), Clock())
    assert fire(alerts, subject="a").state == "opened"
    assert fire(alerts, subject="b").state == "opened"
    other = alerts.fire("a", "late", event="late", severity="warning", message="late", pipeline="a")
    assert other.state == "opened"
    assert sorted((a["subject"], a["rule"]) for a in store.open_alerts()) == [("a", "failure"), ("a", "late"),
                                                                              ("b", "failure")]
