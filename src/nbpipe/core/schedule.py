"""Schedules and freshness: cron expressions and Airflow presets, read by croniter.

A pipeline's ``schedule:`` is a five-field cron expression or one of Airflow's presets
(``@daily`` …). It is validated when ``nbpipe.yaml`` loads; the Airflow export, ``nbpipe monitor``
and the dashboard ask this module when a run was due and how late is late.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import croniter

# Airflow's presets (airflow.utils.dates / timetables) as cron; ``@once`` and ``@continuous`` are
# not schedules a freshness window can be derived from, so they are refused here.
PRESETS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
EXAMPLE = '"@daily" or "30 6 * * 1-5" (minute hour day-of-month month day-of-week)'
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def cron_of(schedule: str) -> str:
    """The cron expression for ``schedule`` (a preset or cron); ``ValueError`` with an example if invalid."""
    text = schedule.strip()
    if text.startswith("@"):
        if text not in PRESETS:
            presets = ", ".join(PRESETS)
            raise ValueError(f"unknown schedule preset {schedule!r}; use one of {presets} or cron, e.g. {EXAMPLE}")
        return PRESETS[text]
    if len(text.split()) != 5:
        raise ValueError(f"schedule {schedule!r} is not a five-field cron expression; e.g. {EXAMPLE}")
    if not croniter.is_valid(text):
        raise ValueError(f"schedule {schedule!r} is not a valid cron expression; e.g. {EXAMPLE}")
    return text


def parse_duration(value: str | int | float) -> timedelta:
    """``26h``, ``90m``, ``2d``, ``1w``, ``30s`` or a number of seconds, as a positive timedelta."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; write e.g. 26h, 90m, 2d")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration; write e.g. 26h, 90m, 2d")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"{value!r} is not a positive duration")
    return timedelta(seconds=seconds)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def previous_tick(schedule: str, now: datetime) -> datetime:
    """The latest time at or before ``now`` when the schedule fired (UTC)."""
    now = _utc(now)
    it = croniter(cron_of(schedule), now + timedelta(microseconds=1))
    return _utc(it.get_prev(datetime))


def next_tick(schedule: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` when the schedule fires (UTC)."""
    return _utc(croniter(cron_of(schedule), _utc(after)).get_next(datetime))


def interval(schedule: str, now: datetime | None = None) -> timedelta:
    """The schedule's longest gap between consecutive ticks over its last eight (Friday → Monday for weekdays)."""
    it = croniter(cron_of(schedule), previous_tick(schedule, now or datetime.now(UTC)) + timedelta(microseconds=1))
    ticks = [_utc(it.get_prev(datetime)) for _ in range(9)]
    return max(later - earlier for later, earlier in itertools.pairwise(ticks))


@dataclass(frozen=True)
class Freshness:
    """How long after a due run a pipeline is late (warn) and failing (error)."""

    warn_after: timedelta
    error_after: timedelta


def default_freshness(schedule: str) -> Freshness:
    """Derived from the schedule: warn after one period plus 10% (at least 1 h grace), error after two."""
    period = interval(schedule)
    grace = max(period * 0.1, timedelta(hours=1)) if period >= timedelta(hours=2) else period * 0.5
    return Freshness(warn_after=period + grace, error_after=2 * period + grace)


@dataclass(frozen=True)
class Lateness:
    """The freshness verdict for one pipeline at ``now``."""

    status: str  # "ok" | "warn" | "error"
    due: datetime  # the tick the last success should cover
    age: timedelta | None  # since the last success (None: never succeeded)


def lateness(
    schedule: str, freshness: Freshness, last_success: datetime | None, now: datetime, *, since: datetime | None = None
) -> Lateness:
    """``ok``/``warn``/``error`` for a pipeline whose last success finished at ``last_success``.

    A pipeline that never succeeded is judged from ``since`` (e.g. when it was first configured or
    first run); with neither, it is ``ok`` until a first due tick has passed the window.
    """
    now = _utc(now)
    due = previous_tick(schedule, now)
    reference = _utc(last_success) if last_success is not None else (_utc(since) if since else None)
    age = now - _utc(last_success) if last_success is not None else None
    if reference is None:
        return Lateness("ok", due, None)
    elapsed = now - reference
    if elapsed >= freshness.error_after:
        return Lateness("error", due, age)
    if elapsed >= freshness.warn_after:
        return Lateness("warn", due, age)
    return Lateness("ok", due, age)
