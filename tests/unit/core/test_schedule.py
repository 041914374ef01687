"""Schedules (cron and Airflow presets via croniter) and freshness windows, validated at load."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from nbpipe.core.config import PipelineConfig
from nbpipe.core.schedule import Freshness, default_freshness, interval, lateness, parse_duration, previous_tick


@pytest.mark.parametrize(
    ("schedule", "fragment"),
    [
        ("@often", "unknown schedule preset '@often'"),
        ("61 * * * *", "'61 * * * *' is not a valid cron expression"),
        ("* * *", "is not a five-field cron expression"),
    ],
)
def test_a_bad_schedule_names_the_value_and_shows_an_example(schedule: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        PipelineConfig(notebook="a.ipynb", schedule=schedule)
    message = str(info.value)
    assert fragment in message
    assert '"@daily" or "30 6 * * 1-5"' in message


def test_presets_and_cron_give_their_period() -> None:
    now = datetime(2026, 12, 9, 12, tzinfo=UTC)  # a Wednesday
    assert interval("@daily", now) == timedelta(days=1)
    assert interval("@hourly", now) == timedelta(hours=1)
    assert interval("30 6 * * 1-5", now) == timedelta(days=3)  # Friday → Monday is the longest gap
    assert previous_tick("@daily", now) == datetime(2026, 12, 9, tzinfo=UTC)
    sunday = datetime(2026, 12, 13, tzinfo=UTC)
    assert previous_tick("30 6 * * 1-5", sunday) == datetime(2026, 12, 11, 6, 30, tzinfo=UTC)


def test_freshness_is_configured_or_derived_from_the_schedule() -> None:
    derived = PipelineConfig(notebook="a", schedule="@daily").freshness_window()
    assert derived == default_freshness("@daily")
    assert timedelta(days=1) < derived.warn_after < derived.error_after  # type: ignore[union-attr]
    configured = PipelineConfig(notebook="a", schedule="@daily", freshness={"warn_after": "26h", "error_after": "2d"})
    assert configured.freshness_window() == Freshness(timedelta(hours=26), timedelta(days=2))
    assert PipelineConfig(notebook="a").freshness_window() is None


@pytest.mark.parametrize(
    ("freshness", "fragment"),
    [
        ({"warn_after": "soon"}, "'soon' is not a duration"),
        ({"warn_after": "0h"}, "not a positive duration"),
        ({"warn_after": "2d", "error_after": "1d"}, "shorter than warn_after"),
    ],
)
def test_a_bad_freshness_is_refused(freshness: dict[str, str], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        PipelineConfig(notebook="a", schedule="@daily", freshness=freshness)
    assert fragment in str(info.value)


def test_freshness_without_a_schedule_is_refused() -> None:
    with pytest.raises(ValidationError, match="'freshness' needs a 'schedule'"):
        PipelineConfig(notebook="a", freshness={"warn_after": "2h"})


def test_lateness_moves_from_ok_to_warn_to_error() -> None:
    window = Freshness(timedelta(hours=26), timedelta(hours=48))
    success = datetime(2026, 12, 1, 1, tzinfo=UTC)
    assert lateness("@daily", window, success, success + timedelta(hours=25)).status == "ok"
    assert lateness("@daily", window, success, success + timedelta(hours=27)).status == "warn"
    assert lateness("@daily", window, success, success + timedelta(hours=49)).status == "error"
    assert lateness("@daily", window, None, success).status == "ok"  # never ran, nothing to measure from
    assert lateness("@daily", window, None, success, since=success - timedelta(days=3)).status == "error"


def test_durations() -> None:
    assert parse_duration("90m") == timedelta(minutes=90)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    assert parse_duration(30) == timedelta(seconds=30)
