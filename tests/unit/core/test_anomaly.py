"""The volume rule: a leave-one-out robust baseline that fires on short histories and not on normal weeks."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from nbpipe.core.anomaly import VolumeRule, volume_verdict

START = datetime(2026, 11, 2)  # a Monday


def _weeks(n_days: int, weekday_rows: int = 1000, weekend_rows: int = 300, noise: int = 30, seed: int = 1):
    rng = random.Random(seed)
    days = [START + timedelta(days=i) for i in range(n_days)]
    return [(d, float((weekend_rows if d.weekday() >= 5 else weekday_rows) + rng.randint(-noise, noise))) for d in days]


def test_no_false_alarm_on_a_normal_week() -> None:
    history = _weeks(28)
    for offset in range(7):  # each day of the following week, normal for its weekday
        at = START + timedelta(days=28 + offset)
        normal = 300.0 if at.weekday() >= 5 else 1000.0
        verdict = volume_verdict(history, normal + 20, at)
        assert not verdict.anomalous, verdict.describe()
        assert verdict.basis == "same-weekday"


def test_a_weekday_volume_on_a_saturday_is_an_anomaly_that_a_plain_baseline_would_miss() -> None:
    history = _weeks(28)
    saturday = START + timedelta(days=33)
    assert saturday.weekday() == 5
    verdict = volume_verdict(history, 1000.0, saturday)
    assert verdict.anomalous and verdict.baseline is not None and verdict.baseline < 400


def test_leave_one_out_fires_on_a_short_history() -> None:
    # Seven runs of ~1000 rows, then 10: including the tested value in its own baseline would
    # drag the median/MAD toward it; leaving it out flags it as soon as the minimum history exists.
    history = [(START + timedelta(days=i), float(1000 + i)) for i in range(7)]
    verdict = volume_verdict(history, 10.0, START + timedelta(days=7))
    assert verdict.anomalous
    assert verdict.basis == "recent" and verdict.history == 7


def test_too_little_history_never_alerts() -> None:
    history = [(START + timedelta(days=i), 1000.0) for i in range(6)]
    verdict = volume_verdict(history, 1.0, START + timedelta(days=6))
    assert not verdict.anomalous and verdict.basis == "insufficient history (6 of 7 runs)"


def test_a_flat_history_needs_the_percentage_floor() -> None:
    history = [(START + timedelta(days=i), 1000.0) for i in range(10)]
    assert not volume_verdict(history, 1001.0, START + timedelta(days=10)).anomalous  # MAD 0, but 0.1%
    assert volume_verdict(history, 1500.0, START + timedelta(days=10)).anomalous
    strict = VolumeRule(min_change_pct=60.0)
    assert not volume_verdict(history, 1500.0, START + timedelta(days=10), strict).anomalous
