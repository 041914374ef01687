"""``nbpipe monitor`` over synthetic history in a real SQLite store, sending to a real HTTP server.

Each rule is driven by the run records it reads (inserted with the store's own ``save_run``), and
the pass is judged at a fixed clock; the CLI test uses the real clock and a real subprocess.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

from nbpipe.core.config import load_project
from nbpipe.ops.monitor.service import Monitor
from nbpipe.run.alert_store import AlertStore
from nbpipe.run.store import RunStore
from tests.support.cli import run_cli
from tests.support.notify_servers import HttpReceiver
from tests.support.projects import build_project

SATURDAY = dt.datetime(2026, 3, 7, 6, 0, tzinfo=dt.UTC)
_ids = itertools.count()


def save(store: RunStore, pipeline: str, at: dt.datetime, status: str = "succeeded", *,
         rows: dict[str, int] | None = None, rejected: dict[str, int] | None = None, read: int | None = None,
         checks: dict[str, bool] | None = None, skipped_reason: str | None = None) -> str:
    run_id = f"{at:%Y%m%dT%H%M%S}-{next(_ids):06d}"
    outputs = [{"dataset": d, "rows": n, "rejected_rows": (rejected or {}).get(d, 0)} for d, n in (rows or {}).items()]
    inputs = [{"dataset": "landing", "rows": read}] if read is not None else []
    results = [{"expectation_type": name.split("/")[0], "kwargs": {"column": name.split("/")[1]}, "success": ok}
               for name, ok in (checks or {}).items()]
    record: dict[str, Any] = {
        "run_id": run_id, "pipeline": pipeline, "status": status, "mode": "prod", "started_at": at.isoformat(),
        "ended_at": (at + dt.timedelta(minutes=5)).isoformat(), "skipped_reason": skipped_reason,
        "datasets": {"inputs": inputs, "outputs": outputs},
        "checks": [{"suite": "flights", "dataset": "flights", "results": results}] if results else [],
    }
    store.save_run(record, [])
    return run_id


def daily_volume(day: dt.date) -> int:
    """A realistic week: weekdays around 10,000 rows, weekends around 6,000, with a little noise."""
    noise = [0, 120, -90, 60, -150, 30, 80][day.toordinal() % 7]
    return (6000 if day.weekday() >= 5 else 10000) + noise


def project(tmp_path: Path, url: str | None = None, **pipelines_extra: Any) -> Path:
    notify = [{"on": ["late", "missing_data", "volume_anomaly", "quality_warning", "recovered"], "webhook": url}]
    return build_project(
        tmp_path / "p", pipelines={"ingest": {"writes": ["flights"], "schedule": "@daily"}, **pipelines_extra},
        datasets={"flights": {}}, notify=notify if url else [])


def test_a_normal_week_raises_no_alarm_then_a_drop_alerts_once_and_recovers(tmp_path: Path) -> None:
    with HttpReceiver() as http:
        root = project(tmp_path, http.url("/hook"))
        proj = load_project(project_dir=root)
        with RunStore(proj.store_url) as store:
            for back in range(42, -1, -1):  # six weeks to this Saturday, all normal (weekends lower)
                at = (SATURDAY - dt.timedelta(days=back)).replace(hour=2)
                save(store, "ingest", at, rows={"flights": daily_volume(at.date())})
            clock = [SATURDAY]
            monitor = Monitor(proj, store, clock=lambda: clock[0])
            first = monitor.once()
            assert first.findings == [] and http.received == []  # 6,080 rows on a Saturday is normal
            clock[0] = SATURDAY + dt.timedelta(days=1)
            save(store, "ingest", clock[0].replace(hour=2), rows={"flights": 2500})
            dropped = monitor.once()
            assert [(f.subject, f.rule, f.severity) for f in dropped.findings] == [
                ("flights", "volume_anomaly", "warning")]
            assert dropped.findings[0].message.startswith("flights: 2,500 rows is 58% below the same-weekday median")
            assert monitor.once().opened == []  # still anomalous: counted, not sent again
            clock[0] = SATURDAY + dt.timedelta(days=2)
            save(store, "ingest", clock[0].replace(hour=2), rows={"flights": daily_volume(clock[0].date())})
            back_to_normal = monitor.once()
            assert back_to_normal.findings == []
            assert [d.message for d in back_to_normal.resolved] == ["recovered after 2 findings / 24.0 h"]
        bodies = http.bodies("/hook")
    assert [(b["event"], b["state"], b["dataset"]) for b in bodies] == [
        ("volume_anomaly", "opened", "flights"), ("volume_anomaly", "resolved", "flights")]
    assert bodies[0]["title"] == "flights: volume anomaly" and bodies[0]["pipeline"] == "ingest"


def test_each_rule_fires_on_its_own_history(tmp_path: Path) -> None:
    extra = {"stale": {"schedule": "@daily"}, "inc": {"schedule": "@daily", "reads": ["landing"]},
             "checked": {"writes": ["checked_out"]}}
    root = project(tmp_path, **extra)
    proj = load_project(project_dir=root)
    now = SATURDAY
    with RunStore(proj.store_url) as store:
        for back in range(20, 0, -1):
            at = now - dt.timedelta(days=back)
            save(store, "ingest", at, rows={"flights": 10000}, rejected={"flights": back % 3})
        save(store, "ingest", now - dt.timedelta(hours=3), rows={"flights": 10050}, rejected={"flights": 900})
        save(store, "stale", now - dt.timedelta(days=3))  # @daily: warn after 26.4 h, error after 50.4 h
        save(store, "inc", now - dt.timedelta(hours=2), read=40)
        store.commit_state("inc", "r0", {"landing": {"files": []}}, committed_at=now.isoformat())
        save(store, "inc", now - dt.timedelta(minutes=20), "skipped", skipped_reason="up to date: no new input")
        save(store, "checked", now - dt.timedelta(days=1), checks={"expect_not_null/dep_delay": True})
        save(store, "checked", now - dt.timedelta(hours=1), checks={"expect_not_null/dep_delay": False})
        result = Monitor(proj, store, clock=lambda: now).once()
    found = {(f.subject, f.rule): f for f in result.findings}
    assert sorted(found) == [("checked", "check:flights/expect_not_null/dep_delay"), ("flights", "rejected_spike"),
                             ("inc", "missing_data"), ("stale", "late")]
    assert found[("stale", "late")].severity == "error"
    assert found[("stale", "late")].message.startswith("stale has not succeeded since 2026-03-04T06:05")
    assert "no new input for the run due 2026-03-07T00:00" in found[("inc", "missing_data")].message
    assert found[("flights", "rejected_spike")].message.startswith("flights: 900 rejected rows, against a median of 1")
    assert found[("checked", "check:flights/expect_not_null/dep_delay")].event == "quality_warning"


def test_monitor_cli_once_exit_codes_and_dedupe(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    with HttpReceiver() as http:
        root = project(tmp_path, http.url("/hook"))
        with RunStore(load_project(project_dir=root).store_url) as store:
            save(store, "ingest", now - dt.timedelta(days=4), rows={"flights": 10})
        failing = run_cli(root, "monitor", "--once", "--fail-on", "error")
        assert failing.returncode == 1, failing.stderr
        assert "error late ingest [new]: ingest has not succeeded since" in failing.stdout
        again = run_cli(root, "monitor", "--once")
        assert again.returncode == 0, again.stderr
        assert "error late ingest [open]" in again.stdout
        bad = run_cli(root, "monitor", "--once", "--fail-on", "warn")
        assert bad.returncode == 3
        assert "--fail-on 'warn' is not a level (did you mean 'warning'?)" in bad.stderr
        assert "Traceback" not in bad.stderr
        bodies = http.bodies("/hook")
    assert [(b["event"], b["state"], b["pipeline"]) for b in bodies] == [("late", "opened", "ingest")]


def test_rate_limit_per_channel_and_one_digest_a_day(tmp_path: Path) -> None:
    with HttpReceiver() as http:
        root = build_project(
            tmp_path / "p", pipelines={"a": {"schedule": "@daily"}, "b": {"schedule": "@daily"}},
            notify=[{"name": "ops", "on": ["late"], "webhook": http.url("/hook")}],
            alerts={"rate_limit_per_hour": 1, "digest_at": "05:30"})
        proj = load_project(project_dir=root)
        with RunStore(proj.store_url) as store:
            for pipeline in ("a", "b"):
                save(store, pipeline, SATURDAY - dt.timedelta(days=4))
            first = Monitor(proj, store, clock=lambda: SATURDAY).once()
            second = Monitor(proj, store, clock=lambda: SATURDAY + dt.timedelta(minutes=5)).once()
            deliveries = [(d["event"], d["status"]) for d in reversed(AlertStore(store).deliveries())]
        bodies = http.bodies("/hook")
    assert [f.subject for f in first.findings] == ["a", "b"]
    assert [p["error"] for p in first.problems] == ["rate limit of 1 messages per hour reached"]
    assert first.digest_sent and not second.digest_sent  # once a day
    assert deliveries == [("late", "sent"), ("late", "rate_limited"), ("digest", "sent")]
    assert [(b["event"], b["pipeline"]) for b in bodies] == [("late", "a"), ("digest", None)]
    assert [(i["subject"], i["rule"], i["count"]) for i in bodies[1]["items"]] == [("a", "late", 1), ("b", "late", 1)]
    assert bodies[1]["title"] == "2 open alert(s)"
