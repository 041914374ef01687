"""One notification and its three renderings: the generic webhook JSON, a Slack Block Kit message, an email.

The webhook body is versioned (``"schema": "nbpipe.notification/1"``; README, "Notifications"):
fields are only ever added within a version. Every text comes from run records and findings,
which hold masked values only; no channel URL or password is ever part of a message.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

SCHEMA = "nbpipe.notification/1"
SEVERITIES = ("info", "warning", "error")
_ICON = {"error": ":red_circle:", "warning": ":warning:", "info": ":white_check_mark:"}


@dataclass(frozen=True)
class Notification:
    """What happened, to what, and what to do about it.

    Attributes:
        event: One of ``nbpipe.core.notify.EVENTS`` (or ``test``, ``digest``).
        state: ``opened``, ``reminder``, ``resolved`` for alerts; ``info`` for one-off messages.
        title: One line, e.g. ``ingest_flights failed``.
        message: The detail: the error's first line, the finding, ``recovered after …``.
    """

    event: str
    state: str
    severity: str
    title: str
    message: str
    project: str
    at: dt.datetime
    pipeline: str | None = None
    dataset: str | None = None
    rule: str | None = None
    run_id: str | None = None
    report: str | None = None
    retry_command: str | None = None
    failing_cell: str | None = None
    alert: dict[str, Any] | None = None
    items: list[dict[str, Any]] = field(default_factory=list)  # a digest's open alerts

    def run(self) -> dict[str, Any] | None:
        if self.run_id is None:
            return None
        return {"id": self.run_id, "report": self.report, "retry_command": self.retry_command,
                "failing_cell": self.failing_cell}


def webhook_payload(note: Notification) -> dict[str, Any]:
    """The generic JSON body (schema ``nbpipe.notification/1``)."""
    return {
        "schema": SCHEMA,
        "event": note.event,
        "state": note.state,
        "severity": note.severity,
        "project": note.project,
        "pipeline": note.pipeline,
        "dataset": note.dataset,
        "rule": note.rule,
        "title": note.title,
        "message": note.message,
        "run": note.run(),
        "alert": note.alert,
        "items": note.items,
        "sent_at": note.at.isoformat(),
    }


def _facts(note: Notification) -> list[tuple[str, str]]:
    facts = [("Status", f"{note.event} ({note.state})")]
    for label, value in (("Pipeline", note.pipeline), ("Dataset", note.dataset), ("Run", note.run_id),
                         ("Failing cell", note.failing_cell)):
        if value:
            facts.append((label, value))
    if note.alert and note.alert.get("count", 0) > 1:
        facts.append(("Occurrences", str(note.alert["count"])))
    return facts


def _next_steps(note: Notification) -> list[tuple[str, str]]:
    steps = []
    if note.report:
        steps.append(("Report", note.report))
    if note.retry_command:
        steps.append(("Retry", note.retry_command))
    return steps


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(note: Notification) -> dict[str, Any]:
    """A Slack incoming-webhook message: a header, the facts, the detail, then report and retry command."""
    icon = _ICON.get(note.severity, "")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{note.title}"[:150]}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{_slack_escape(v)}"}
                                       for k, v in _facts(note)]},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{icon} {_slack_escape(note.message)}"[:3000]}},
    ]
    for item in note.items:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _slack_escape(_item_line(item))}})
    steps = _next_steps(note)
    if steps:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"*{k}:* `{_slack_escape(v)}`"} for k, v in steps]})
    return {"text": f"[{note.project}] {note.title}", "blocks": blocks}


def _item_line(item: dict[str, Any]) -> str:
    return f"{item['subject']} {item['rule']}: {item['message']} (since {item['opened_at']}, {item['count']}×)"


def email_message(note: Notification, sender: str, recipients: list[str]) -> EmailMessage:
    """A multipart email: plain text first, an HTML alternative with the same content."""
    msg = EmailMessage()
    msg["Subject"] = f"[nbpipe {note.project}] {note.title}"
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    lines = [note.title, "", note.message, ""]
    lines += [f"{k}: {v}" for k, v in _facts(note) + _next_steps(note)]
    lines += [f"- {_item_line(item)}" for item in note.items]
    msg.set_content("\n".join(lines) + "\n")
    rows = "".join(f"<tr><th align=\"left\">{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in _facts(note) + _next_steps(note))
    items = "".join(f"<li>{html.escape(_item_line(item))}</li>" for item in note.items)
    body = (f"<html><body><h2>{html.escape(note.title)}</h2><p>{html.escape(note.message)}</p>"
            f"<table>{rows}</table>{f'<ul>{items}</ul>' if items else ''}</body></html>")
    msg.add_alternative(body, subtype="html")
    return msg
