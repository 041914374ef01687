"""The cost model: a run's measured resources turned into priced, traceable lines.

Pure arithmetic over the run record's ``resources`` (see :mod:`nbpipe.run.resources`), shared by
the runner (the record's ``cost``) and the services that add costs up (:mod:`nbpipe.ops.cost`).

Compute of one run, in core-seconds:

* **allocated** = executor cores × the seconds the Spark session was held (per attempt, from the
  session's start to the attempt's end), plus one driver/kernel core × the run's wall time;
* **busy** per dataset operation = the executor run time of the tasks tagged with that
  ``ctx.read``/``ctx.write``/``ctx.check`` call;
* **notebook overhead** = the executor run time of the run's other tasks (per cell);
* **idle/start-up** = allocated executor core-seconds minus all busy time (never negative: when
  tasks report more than cores × time, allocation is raised to what they used).

Every line names the measured quantity and the price it was multiplied by, and the lines add up
to the total. Storage is priced per dataset by :func:`storage_line` (bytes on disk × GB-month).
"""

from __future__ import annotations

from typing import Any

GB = 1024**3
DAYS_PER_MONTH = 30.0
LINE_OP, LINE_OVERHEAD, LINE_IDLE, LINE_DRIVER, LINE_ESTIMATE = (
    "operation", "notebook_overhead", "idle_startup", "driver", "wall_clock_estimate")
LINES = (LINE_OP, LINE_OVERHEAD, LINE_IDLE, LINE_DRIVER, LINE_ESTIMATE)
DRIVER_CORES = 1


def _usd(core_s: float, core_hour_usd: float) -> float:
    return round(core_s / 3600.0 * core_hour_usd, 9)


def _line(kind: str, core_s: float, price: float, quantity: str, **extra: Any) -> dict[str, Any]:
    return {"line": kind, **extra, "quantity": quantity, "core_s": round(core_s, 6),
            "core_hour_usd": price, "usd": _usd(core_s, price)}


def run_cost(resources: dict[str, Any], *, duration_s: float, core_hour_usd: float,
             configured_cores: int | None, fallback_cores: int) -> dict[str, Any]:
    """The ``cost`` of one run record from its ``resources``.

    Args:
        resources: The record's ``resources`` (``spark.attempts``: cores, held time, ops, cells).
        duration_s: The run's wall time (the driver/kernel line).
        core_hour_usd: The profile's price of one core-hour.
        configured_cores: ``cost.profiles.<profile>.cores``; wins over the measured executor cores.
        fallback_cores: Cores when neither is known (``local[N]``, else this machine's).
    """
    price = core_hour_usd
    lines: list[dict[str, Any]] = []
    allocated = busy_total = 0.0
    cores_used: list[dict[str, Any]] = []
    for attempt in (resources.get("spark") or {}).get("attempts") or []:
        measured = attempt.get("executor_cores")
        cores, source = ((configured_cores, "cost.profiles") if configured_cores is not None
                         else (measured, "spark executors") if measured else (fallback_cores, "profile master"))
        held = float(attempt.get("held_s") or 0.0)
        cores_used.append({"attempt": attempt.get("attempt"), "cores": cores, "cores_from": source,
                           "held_s": round(held, 3)})
        busy = 0.0
        for op in attempt.get("ops") or []:
            run_s = float((op.get("metrics") or {}).get("executor_run_time_s") or 0.0)
            busy += run_s
            lines.append(_line(LINE_OP, run_s, price, "executor_run_time_s of the operation's tagged tasks",
                               op=op.get("op"), dataset=op.get("dataset"), attempt=attempt.get("attempt")))
        for cell in attempt.get("cells") or []:
            run_s = float((cell.get("metrics") or {}).get("executor_run_time_s") or 0.0)
            busy += run_s
            lines.append(_line(LINE_OVERHEAD, run_s, price, "executor_run_time_s of the cell's untagged tasks",
                               cell=cell.get("cell"), source=cell.get("source"), attempt=attempt.get("attempt")))
        held_core_s = max(cores * held, busy)
        allocated += held_core_s
        busy_total += busy
        lines.append(_line(LINE_IDLE, held_core_s - busy, price,
                           f"{cores} executor cores × {held:.3f} s held − busy executor time",
                           attempt=attempt.get("attempt")))
    driver_s = DRIVER_CORES * max(duration_s, 0.0)
    lines.append(_line(LINE_DRIVER, driver_s, price, f"{DRIVER_CORES} driver/kernel core × {duration_s:.3f} s run"))
    allocated += driver_s
    return {
        "currency": "USD", "core_hour_usd": price, "executors": cores_used,
        "allocated_core_s": round(allocated, 6), "busy_core_s": round(busy_total, 6),
        "lines": lines, "total_usd": round(sum(line["usd"] for line in lines), 9),
    }


def estimate_cost(duration_s: float, cores: int, core_hour_usd: float) -> dict[str, Any]:
    """The cost of a run recorded before resources were measured: wall time × the profile's cores."""
    line = _line(LINE_ESTIMATE, duration_s * cores, core_hour_usd,
                 f"{cores} cores × {duration_s:.3f} s wall time (recorded before resources were measured)")
    return {"currency": "USD", "core_hour_usd": core_hour_usd, "executors": [],
            "allocated_core_s": line["core_s"], "busy_core_s": 0.0, "lines": [line], "total_usd": line["usd"]}


def storage_line(dataset: str, nbytes: int, gb_month_usd: float, days: float, *, kind: str) -> dict[str, Any]:
    """The storage cost of ``nbytes`` kept ``days`` days at ``gb_month_usd`` (a 30-day month)."""
    usd = nbytes / GB * gb_month_usd * days / DAYS_PER_MONTH
    return {"line": "storage", "dataset": dataset, "kind": kind, "bytes": int(nbytes),
            "quantity": f"{nbytes} bytes on disk × {days:g} days / {DAYS_PER_MONTH:g}",
            "gb_month_usd": gb_month_usd, "usd": round(usd, 9)}
