"""A run's measured resources and its cost, as written into run.json and the store.

The kernel reports what it measured after every cell (``resources`` events, written by
:mod:`nbpipe.kernel.resources`: Spark task metrics per tagged dataset operation and per cell's
untagged work, the executors' cores, the kernel's CPU seconds and peak RSS). This module, on the
runner side, keeps the last report of each attempt (they are cumulative), adds how long each
attempt held its Spark session and the runner's own CPU seconds and peak RSS, and prices the
result with :func:`nbpipe.core.costmodel.run_cost` under the profile's rates.

Record fields: ``resources`` (``spark.attempts[]``, ``kernel``, ``runner``), ``cost`` (priced
lines, each naming its measured quantity and price) and ``cost_usd`` (the total).
"""

from __future__ import annotations

import datetime as dt
import resource
from typing import Any

from nbpipe.core import costmodel
from nbpipe.core import events as ev
from nbpipe.core.config import Project

_CPU_AT_START: dict[str, float] = {}


def _cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def begin(run_id: str) -> None:
    """Remember the runner's CPU time when run ``run_id`` starts (one process may run many)."""
    _CPU_AT_START[run_id] = _cpu_now()


def runner_usage(run_id: str) -> dict[str, float | None]:
    """The runner's CPU seconds spent since :func:`begin` and its peak RSS (process lifetime)."""
    start = _CPU_AT_START.pop(run_id, None)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"cpu_s": None if start is None else round(_cpu_now() - start, 3), "peak_rss_bytes": rss}


def _ts(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _measured(metrics: dict[str, Any] | None) -> bool:
    return bool(metrics) and any(metrics.get(k) for k in ("tasks", "executor_run_time_s"))  # type: ignore[union-attr]


def collect(events: list[dict[str, Any]], attempts: list[dict[str, Any]], run_id: str) -> dict[str, Any]:
    """The record's ``resources`` from the kernel's ``resources`` events and the attempts' end times."""
    reports = [e for e in ev.of_kind(events, ev.RESOURCES) if e.get("source") == "kernel"]
    ended = {a.get("attempt"): _ts(a.get("ended_at")) for a in attempts}
    spark: list[dict[str, Any]] = []
    kernel: list[dict[str, Any]] = []
    for number in sorted({e.get("attempt") for e in reports}, key=lambda a: a or 0):
        mine = [e for e in reports if e.get("attempt") == number]
        last = mine[-1]
        kernel.append({"attempt": number, **(last.get("kernel") or {})})
        started = _ts(last.get("session_started_at"))
        if started is None:
            continue
        end = ended.get(number) or _ts(last.get("ts")) or started
        spark.append({
            "attempt": number,
            "session_started_at": last.get("session_started_at"),
            "held_s": round(max((end - started).total_seconds(), 0.0), 3),
            "executor_cores": last.get("executor_cores"),
            "measured": "run_metrics" in last,
            "error": last.get("spark_error"),
            "totals": last.get("run_metrics"),
            "ops": last.get("ops") or [],
            "cells": [{"cell": e.get("cell"), "source": e.get("cell_source"), "metrics": e["cell_metrics"]}
                      for e in mine if _measured(e.get("cell_metrics"))],
        })
    return {
        "spark": {"attempts": spark} if spark else None,
        "kernel": {
            "attempts": kernel,
            "cpu_s": round(sum(float(k.get("cpu_s") or 0) for k in kernel), 3) if kernel else None,
            "peak_rss_bytes": max((int(k.get("peak_rss_bytes") or 0) for k in kernel), default=None),
        },
        "runner": runner_usage(run_id),
    }


def record_fields(project: Project, run_id: str, events: list[dict[str, Any]], attempts: list[dict[str, Any]],
                  duration_s: float) -> dict[str, Any]:
    """``resources``, ``cost`` and ``cost_usd`` of a run record."""
    found = collect(events, attempts, run_id)
    price, cores = project.config.cost.rate(project.profile_name)
    fallback = project.spark_cores
    cost = costmodel.run_cost(found, duration_s=duration_s, core_hour_usd=price,
                              configured_cores=cores, fallback_cores=fallback)
    return {"resources": found, "cost": cost, "cost_usd": round(cost["total_usd"], 6)}
