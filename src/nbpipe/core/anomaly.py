"""Volume anomalies: is this run's row count unusual against a robust baseline of recent runs?

The baseline never contains the value under test (leave-one-out): a detector that puts the tested
value into its own median/deviation caps its own score and cannot fire on short histories. It is
the median and the MAD (scaled to a standard deviation) of recent successful runs — of the same
weekday when there is enough history for that slot, else of all recent runs. Nothing is flagged
before ``min_history`` runs, and a deviation must also exceed a percentage floor, so a perfectly
flat history (MAD 0) does not turn a one-row change into an alarm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from statistics import median

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution × this = its standard deviation


@dataclass(frozen=True)
class VolumeRule:
    """When a row count is anomalous: a robust z-score and a relative change, both exceeded."""

    threshold: float = 3.5  # robust z-score (|x - median| / (1.4826 · MAD))
    min_history: int = 7  # runs needed before judging at all
    min_change_pct: float = 20.0  # and at least this far from the median, in percent
    window: int = 28  # most recent runs considered
    weekday_min: int = 4  # same-weekday runs needed to use the weekday slot


@dataclass(frozen=True)
class VolumeVerdict:
    """The judgement of one value; ``anomalous`` False also when there is too little history."""

    value: float
    anomalous: bool
    baseline: float | None  # the median it was compared with
    score: float | None  # robust z-score (inf when the history is flat and the change is above the floor)
    change_pct: float | None
    basis: str  # "weekday" | "recent" | "insufficient history (N of M runs)"
    history: int

    def describe(self) -> str:
        if self.baseline is None:
            return f"{self.value:,.0f} rows: {self.basis}"
        direction = "above" if self.value > self.baseline else "below"
        return (
            f"{self.value:,.0f} rows is {abs(self.change_pct or 0):.0f}% {direction} the {self.basis} median "
            f"{self.baseline:,.0f} of {self.history} runs (robust z {self.score:.1f})"
        )


def volume_verdict(
    history: Sequence[tuple[datetime, float]], value: float, at: datetime, rule: VolumeRule | None = None
) -> VolumeVerdict:
    """Judge ``value`` observed at ``at`` against ``history`` (earlier runs' time and rows, any order).

    ``history`` must not contain the run being judged (the caller leaves it out).
    """
    rule = rule or VolumeRule()
    recent = sorted(history, key=lambda item: item[0])[-rule.window :]
    if len(recent) < rule.min_history:
        basis = f"insufficient history ({len(recent)} of {rule.min_history} runs)"
        return VolumeVerdict(value, False, None, None, None, basis, len(recent))
    same_day = [rows for when, rows in recent if when.weekday() == at.weekday()]
    if len(same_day) >= rule.weekday_min:
        sample, basis = same_day, "same-weekday"
    else:
        sample, basis = [rows for _, rows in recent], "recent"
    centre = float(median(sample))
    mad = float(median(abs(rows - centre) for rows in sample))
    change_pct = (value - centre) / centre * 100.0 if centre else (0.0 if value == centre else float("inf"))
    sigma = MAD_TO_SIGMA * mad
    score = abs(value - centre) / sigma if sigma > 0 else (0.0 if value == centre else float("inf"))
    anomalous = score > rule.threshold and abs(change_pct) >= rule.min_change_pct
    return VolumeVerdict(value, anomalous, centre, score, change_pct, basis, len(sample))
