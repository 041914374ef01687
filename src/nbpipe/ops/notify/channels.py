"""Channels from ``nbpipe.yaml`` and their delivery: HTTP POST (webhook, Slack) or SMTP (email).

A channel's URL or password may be ``env:VAR``: it is read from the environment only at
delivery and never stored, printed or put in a message. A channel is shown by its name and a
label holding at most the scheme and host of its URL (:func:`safe_target`). Delivery has a
timeout and retries with exponential backoff; it never raises: it returns a :class:`Delivery`.
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from nbpipe.core.config import NotifyRule, Project
from nbpipe.core.notify import SECRET_PREFIX
from nbpipe.ops.notify.message import Notification, email_message, slack_payload, webhook_payload

BACKOFF_S = 0.5  # first retry after this, doubling


@dataclass(frozen=True)
class Channel:
    """One configured channel: its name (``alerts``, ``ingest_flights.slack1``), kind and rule."""

    name: str
    kind: str  # webhook | slack | email
    rule: NotifyRule
    pipeline: str | None = None  # None: a project-level channel

    @property
    def target(self) -> str:
        """Where it goes, safe to print: scheme and host of a URL, or the SMTP host and port."""
        if self.rule.email is not None:
            return f"smtp://{self.rule.email.host}:{self.rule.email.port}"
        return safe_target(str(self.rule.webhook or self.rule.slack))


@dataclass(frozen=True)
class Delivery:
    ok: bool
    attempts: int
    error: str | None = None


def safe_target(url: str) -> str:
    """``https://hooks.slack.com`` for any URL (path, query and credentials dropped); ``env:VAR`` as is."""
    if url.startswith(SECRET_PREFIX):
        return url
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "")


def channels(project: Project, pipeline: str | None = None) -> list[Channel]:
    """The project-level channels and, with ``pipeline``, that pipeline's own."""
    found = [_channel(rule, i, None) for i, rule in enumerate(project.config.notify)]
    cfg = project.config.pipelines.get(pipeline) if pipeline is not None else None
    if cfg is not None:
        found += [_channel(rule, i, pipeline) for i, rule in enumerate(cfg.notify)]
    return found


def all_channels(project: Project) -> list[Channel]:
    found = channels(project)
    for name in project.config.pipelines:
        found += [c for c in channels(project, name) if c.pipeline is not None]
    return found


def _channel(rule: NotifyRule, index: int, pipeline: str | None) -> Channel:
    kind = "webhook" if rule.webhook is not None else "slack" if rule.slack is not None else "email"
    name = rule.name or f"{kind}{index + 1}"
    return Channel(f"{pipeline}.{name}" if pipeline else name, kind, rule, pipeline)


class SecretMissing(Exception):
    """An ``env:VAR`` value whose variable is not set."""


def resolve(value: str) -> str:
    """The value of ``env:VAR`` from the environment (or ``value`` itself)."""
    if not value.startswith(SECRET_PREFIX):
        return value
    variable = value[len(SECRET_PREFIX):]
    found = os.environ.get(variable)
    if not found:
        raise SecretMissing(f"the environment variable {variable} (from {value}) is not set")
    return found


def deliver(channel: Channel, note: Notification, *, sleep: Callable[[float], None] = time.sleep) -> Delivery:
    """Send ``note`` through ``channel``, retrying; never raises, never reveals the URL or password."""
    import httpx  # here, not at import: ``nbpipe --help`` stays fast

    try:
        send = _sender(channel, note)
    except SecretMissing as exc:
        return Delivery(False, 0, str(exc))
    error = None
    attempts = channel.rule.retries + 1
    for n in range(1, attempts + 1):
        try:
            send()
            return Delivery(True, n)
        except _Refused as exc:  # the server answered no: retrying does not help
            return Delivery(False, n, str(exc))
        except (httpx.HTTPError, smtplib.SMTPException, OSError) as exc:
            error = _describe(exc)
        if n < attempts:
            sleep(BACKOFF_S * 2 ** (n - 1))
    return Delivery(False, attempts, error)


class _Refused(Exception):
    pass


def _describe(exc: BaseException) -> str:
    """The error without any URL (httpx puts the request URL into some messages)."""
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    text = str(exc).split("\n")[0]
    if "://" in text:
        text = "(details withheld: they name the URL)"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _sender(channel: Channel, note: Notification) -> Callable[[], None]:
    timeout = channel.rule.timeout_s
    if channel.rule.email is not None:
        cfg = channel.rule.email
        password = resolve(cfg.password) if cfg.password is not None else None
        message = email_message(note, cfg.from_, cfg.to)

        def send_mail() -> None:
            smtp_cls = smtplib.SMTP_SSL if cfg.security == "ssl" else smtplib.SMTP
            with smtp_cls(cfg.host, cfg.port, timeout=timeout) as smtp:
                if cfg.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if cfg.username is not None and password is not None:
                    try:
                        smtp.login(cfg.username, password)
                    except smtplib.SMTPAuthenticationError as exc:
                        raise _Refused(f"the SMTP server {cfg.host}:{cfg.port} refused the login of "
                                       f"{cfg.username!r} ({exc.smtp_code})") from None
                smtp.send_message(message)

        return send_mail
    url = resolve(str(channel.rule.webhook or channel.rule.slack))
    body = slack_payload(note) if channel.kind == "slack" else webhook_payload(note)
    data = json.dumps(body, ensure_ascii=False).encode()

    def post() -> None:
        import httpx

        response = httpx.post(url, content=data, timeout=timeout, follow_redirects=False,
                              headers={"Content-Type": "application/json", "User-Agent": "nbpipe"})
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            raise _Refused(f"HTTP {response.status_code} from {safe_target(url)}")
        response.raise_for_status()

    return post
