"""Notifications from real runs to a real HTTP server and a real SMTP server, through alert state.

One tiny notebook fails or succeeds by its ``flag`` parameter; the runs go through the real
runner and papermill kernel, the notifier writes alert state into the real SQLite store, and the
servers (started here on 127.0.0.1) record exactly what arrived.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from nbpipe.core.config import load_project
from nbpipe.ops.notify import manual, run_observer
from nbpipe.ops.notify.service import Notifier
from nbpipe.run.runner import Runner
from nbpipe.run.store import RunStore
from tests.support.env import free_port
from tests.support.notify_servers import HttpReceiver, SmtpReceiver
from tests.support.projects import build_project

NOW = dt.datetime(2026, 3, 2, 6, 0, tzinfo=dt.UTC)
TOKEN = "T0KEN-s3cr3t-9f8e7d"


def toggle_notebook(path: Path) -> None:
    cells = [new_code_cell("flag = False", metadata={"tags": ["parameters"]}),
             new_code_cell("if flag:\n    raise ValueError('bad value in column dep_delay')"),
             new_code_cell("print('done')")]
    book = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                              "language": "python"}})
    for i, cell in enumerate(book.cells):
        cell["id"] = f"cell-{i}"
    nbformat.write(book, path)


def project_with(tmp_path: Path, notify: list[dict[str, Any]], **extra: Any) -> Path:
    root = build_project(tmp_path / "project", pipelines={"toggle": {}}, notify=notify, **extra)
    toggle_notebook(root / "toggle.ipynb")
    return root


def run(root: Path, flag: bool, **observer: Any):
    project = load_project(project_dir=root)
    with Runner(project, on_finished=run_observer(project, clock=lambda: NOW, sleep=lambda _s: None)) as runner:
        return runner.run("toggle", {"flag": flag}, force=True)


def table(root: Path, name: str) -> list[dict[str, Any]]:
    con = sqlite3.connect(root / "runs" / "nbpipe.db")
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(f"SELECT * FROM {name} ORDER BY id")]
    finally:
        con.close()


def store_text(root: Path) -> str:
    """Every value in every table of the store, as text (to prove no secret reached it)."""
    con = sqlite3.connect(root / "runs" / "nbpipe.db")
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return "\n".join(str(row) for n in names for row in con.execute(f"SELECT * FROM {n}"))
    finally:
        con.close()


@pytest.mark.slow
def test_failures_are_deduplicated_and_recovery_is_announced(tmp_path, monkeypatch):
    with HttpReceiver() as http:
        monkeypatch.setenv("HOOK_URL", http.url(f"/hook?token={TOKEN}"))
        monkeypatch.setenv("SLACK_URL", http.url(f"/slack/{TOKEN}"))
        root = project_with(tmp_path, [{"on": ["failure", "recovered"], "webhook": "env:HOOK_URL"},
                                       {"name": "team", "on": ["failure", "recovered"], "slack": "env:SLACK_URL"}])
        first, second, third = run(root, True), run(root, True), run(root, False)
        assert [r.status for r in (first, second, third)] == ["failed", "failed", "succeeded"]
        assert [r.exit_code for r in (first, second, third)] == [10, 10, 0]
        hooks, slacks = http.bodies(f"/hook?token={TOKEN}"), http.bodies(f"/slack/{TOKEN}")
    assert len(hooks) == 2 and len(slacks) == 2  # the second failure was suppressed
    record = first.record
    alert = {"id": 1, "subject": "toggle", "rule": "failure", "opened_at": NOW.isoformat(), "count": 1,
             "suppressed": 0, "resolved_at": None}
    assert hooks[0] == {
        "schema": "nbpipe.notification/1", "event": "failure", "state": "opened", "severity": "error",
        "project": "test", "pipeline": "toggle", "dataset": None, "rule": "failure", "title": "toggle failed",
        "message": record["error"]["message"].splitlines()[0],
        "run": {"id": first.run_id, "report": str(first.run_dir / "report.html"),
                "retry_command": record["retry_command"], "failing_cell": "cell 2: if flag:"},
        "alert": alert, "items": [], "sent_at": NOW.isoformat(),
    }
    assert "ValueError" in hooks[0]["message"] and "dep_delay" in hooks[0]["message"]
    assert hooks[1]["state"] == "resolved" and hooks[1]["event"] == "failure"
    assert hooks[1]["message"] == "recovered after 2 failures / 0.0 h"
    assert hooks[1]["title"] == "toggle recovered" and hooks[1]["run"]["retry_command"] is None
    assert hooks[1]["alert"] == {**alert, "count": 2, "suppressed": 1, "resolved_at": NOW.isoformat()}
    assert slacks[0] == {
        "text": "[test] toggle failed",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "toggle failed"}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": "*Status*\nfailure (opened)"},
                {"type": "mrkdwn", "text": "*Pipeline*\ntoggle"},
                {"type": "mrkdwn", "text": f"*Run*\n{first.run_id}"},
                {"type": "mrkdwn", "text": "*Failing cell*\ncell 2: if flag:"}]},
            {"type": "section", "text": {"type": "mrkdwn", "text": f":red_circle: {hooks[0]['message']}"}},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": f"*Report:* `{first.run_dir / 'report.html'}`"},
                {"type": "mrkdwn", "text": f"*Retry:* `{record['retry_command']}`"}]},
        ],
    }
    alerts = table(root, "alerts")
    assert [(a["status"], a["count"], a["suppressed"]) for a in alerts] == [("resolved", 2, 1)]
    deliveries = table(root, "deliveries")
    assert [(d["channel"], d["event"], d["status"]) for d in deliveries] == [
        ("webhook1", "failure", "sent"), ("team", "failure", "sent"),
        ("webhook1", "recovered", "sent"), ("team", "recovered", "sent")]
    assert {d["target"] for d in deliveries} == {"env:HOOK_URL", "env:SLACK_URL"}  # never the URL itself
    text = store_text(root) + "".join(p.read_text() for p in (root / "runs").rglob("*.json*"))
    assert TOKEN not in text


@pytest.mark.slow
def test_undeliverable_webhook_is_a_warning_and_never_changes_the_run(tmp_path):
    port = free_port()  # nothing listens there
    root = project_with(tmp_path, [{"on": ["success"], "webhook": f"http://127.0.0.1:{port}/hook?token={TOKEN}",
                                    "retries": 2, "timeout_s": 2}])
    result = run(root, False)
    assert (result.status, result.exit_code) == ("succeeded", 0)
    warning = (f"the success notification to channel 'webhook1' (http://127.0.0.1:{port}) was not delivered: "
               "ConnectError: ")
    assert any(w.startswith(warning) for w in result.record["warnings"]), result.record["warnings"]
    on_disk = json.loads((result.run_dir / "run.json").read_text())
    assert on_disk["warnings"] == result.record["warnings"] and on_disk["status"] == "succeeded"
    events = [json.loads(line) for line in (result.run_dir / "events.jsonl").read_text().splitlines()]
    failed = [e for e in events if e["kind"] == "notification_failed"]
    assert [(e["channel"], e["target"], e["event"]) for e in failed] == [
        ("webhook1", f"http://127.0.0.1:{port}", "success")]
    with RunStore(load_project(project_dir=root).store_url) as store:
        stored = store.get_run(result.run_id)
        assert stored["status"] == "succeeded" and stored["warnings"] == on_disk["warnings"]
        assert [e["kind"] for e in store.get_events(result.run_id)][-1] == "notification_failed"
    [delivery] = table(root, "deliveries")
    assert (delivery["status"], delivery["attempts"], delivery["event"]) == ("failed", 3, "success")
    assert TOKEN not in store_text(root) + (result.run_dir / "events.jsonl").read_text()


def test_email_has_plain_and_html_parts_and_a_refused_login_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("SMTP_PASSWORD", "pa55-w0rd")
    with SmtpReceiver(login=("nbpipe", "pa55-w0rd")) as smtp:
        email = {"host": "127.0.0.1", "port": smtp.port, "security": "none", "from": "nbpipe@example.org",
                 "to": ["oncall@example.org", "data@example.org"], "username": "nbpipe",
                 "password": "env:SMTP_PASSWORD"}
        root = build_project(tmp_path / "p", notify=[{"name": "mail", "email": email}])
        project = load_project(project_dir=root)
        with RunStore(project.store_url) as store:
            [(channel, problem)] = manual.test(Notifier(project, store, clock=lambda: NOW), "mail")
            assert problem is None and channel.target == f"smtp://127.0.0.1:{smtp.port}"
            monkeypatch.setenv("SMTP_PASSWORD", "wrong")
            [(_, refused)] = manual.test(Notifier(project, store, clock=lambda: NOW, sleep=lambda _s: None), "mail")
        [message] = smtp.messages
    assert message["Subject"] == "[nbpipe test] test message from nbpipe (mail)"
    assert message["From"] == "nbpipe@example.org" and message["To"] == "oncall@example.org, data@example.org"
    assert smtp.handler.envelopes == [("nbpipe@example.org", ["oncall@example.org", "data@example.org"])]
    plain = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = message.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert plain == ("test message from nbpipe (mail)\n\nchannel mail of project test works\n\n"
                     "Status: test (info)\n")
    assert html.strip() == ("<html><body><h2>test message from nbpipe (mail)</h2><p>channel mail of project test "
                            "works</p><table><tr><th align=\"left\">Status</th><td>test (info)</td></tr></table>"
                            "</body></html>")
    assert refused is not None
    assert refused["error"] == (f"the SMTP server 127.0.0.1:{smtp.port} refused the login of 'nbpipe' (535)")
    rows = table(root, "deliveries")
    assert [(r["status"], r["attempts"]) for r in rows] == [("sent", 1), ("failed", 1)]  # no retry after a refusal
    assert "pa55" not in store_text(root) and "wrong" not in store_text(root)
