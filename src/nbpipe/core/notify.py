"""Notification and alert settings of ``nbpipe.yaml``: events, channels, the alert policy, volume rules.

Pure configuration values, validated when the project loads. Delivering messages is
``nbpipe.ops.notify``; alert state is ``nbpipe.ops.alerts``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nbpipe.core.anomaly import VolumeRule
from nbpipe.core.schedule import parse_duration
from nbpipe.errors import did_you_mean

# The events a channel can subscribe to with ``on:``.
EVENTS: tuple[str, ...] = (
    "failure", "quality_warning", "recovered", "late", "missing_data", "volume_anomaly", "success",
)
SECRET_PREFIX = "env:"


def check_events(value: list[str]) -> list[str]:
    """``on:`` as given, or ``ValueError`` naming the unknown event and listing the allowed ones."""
    if not value:
        raise ValueError(f"'on' lists no event; use some of: {', '.join(EVENTS)}")
    for event in value:
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r} in 'on'{did_you_mean(str(event), EVENTS)}; "
                             f"allowed: {', '.join(EVENTS)}")
    return list(dict.fromkeys(value))


def check_channel(rule: Any) -> Any:
    """Exactly one of ``webhook``, ``slack`` and ``email`` per channel; URLs are http(s) or ``env:VAR``."""
    given = [k for k in ("webhook", "slack", "email") if getattr(rule, k) is not None]
    if len(given) != 1:
        found = f"got {', '.join(given)}" if given else "got none"
        raise ValueError(f"a notify channel needs exactly one of webhook, slack, email ({found})")
    for key in ("webhook", "slack"):
        url = getattr(rule, key)
        if url is not None and not (url.startswith(SECRET_PREFIX) or url.startswith(("http://", "https://"))):
            raise ValueError(f"'{key}' must be an http(s) URL or env:VAR naming the variable that holds it")
    return rule


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmailChannel(_Model):
    """An SMTP server and the addresses of one email channel; ``password`` may be ``env:VAR``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    from_: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    username: str | None = None
    password: str | None = None

    @field_validator("to", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _login(self) -> EmailChannel:
        if (self.username is None) != (self.password is None):
            raise ValueError("set both 'username' and 'password' (env:VAR) for an SMTP login, or neither")
        for address in (self.from_, *self.to):
            if "@" not in address:
                raise ValueError(f"{address!r} is not an email address")
        return self


class VolumeConfig(_Model):
    """A dataset's own volume rule (defaults: ``nbpipe.core.anomaly.VolumeRule``)."""

    threshold: float = Field(default=VolumeRule.threshold, gt=0)
    min_history: int = Field(default=VolumeRule.min_history, ge=2)
    min_change_pct: float = Field(default=VolumeRule.min_change_pct, ge=0)
    window: int = Field(default=VolumeRule.window, ge=2, le=500)
    weekday_min: int = Field(default=VolumeRule.weekday_min, ge=2)
    enabled: bool = True

    def rule(self) -> VolumeRule:
        return VolumeRule(self.threshold, self.min_history, self.min_change_pct, self.window, self.weekday_min)


class AlertsConfig(_Model):
    """How alerts repeat: reminders of open alerts, a per-channel rate limit, a daily digest."""

    remind_after: str | None = None  # a duration (24h): re-send an open alert this long after the last send
    rate_limit_per_hour: int = Field(default=30, ge=1)  # sends per channel per rolling hour
    digest_at: str | None = None  # "HH:MM" UTC: `nbpipe monitor` sends one digest of open alerts a day

    @field_validator("remind_after")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("digest_at")
    @classmethod
    def _clock(cls, value: str | None) -> str | None:
        if value is not None:
            hour, _, minute = value.partition(":")
            if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60 and len(minute) == 2):
                raise ValueError(f"digest_at {value!r} is not a time of day; write HH:MM in UTC, e.g. \"08:30\"")
        return value
