"""The run report's "Resources" section: which step cost what, from run.json ``resources`` and ``cost``.

One row per priced line of the record's ``cost`` (:mod:`nbpipe.core.costmodel`): each dataset
operation with the Spark task metrics of its tagged jobs, each cell's untagged Spark work, the
executors' idle/start-up time and the driver/kernel; then what the kernel and the runner used.
"""

from __future__ import annotations

from typing import Any

_LABELS = {"idle_startup": "idle / start-up", "driver": "driver / kernel",
           "wall_clock_estimate": "wall-clock estimate"}


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def resources_view(record: dict[str, Any]) -> dict[str, Any] | None:
    """Rows and facts for the section, or None when the record has no cost lines."""
    cost = _as_dict(record.get("cost"))
    lines = [x for x in _as_list(cost.get("lines")) if isinstance(x, dict)]
    if not lines:
        return None
    resources = _as_dict(record.get("resources"))
    attempts = [a for a in _as_list(_as_dict(resources.get("spark")).get("attempts")) if isinstance(a, dict)]
    ops: dict[tuple[Any, int], dict[str, Any]] = {}
    cells: dict[tuple[Any, Any], dict[str, Any]] = {}
    for a in attempts:
        for i, op in enumerate(x for x in _as_list(a.get("ops")) if isinstance(x, dict)):
            ops[(a.get("attempt"), i)] = _as_dict(op.get("metrics"))
        for cell in (x for x in _as_list(a.get("cells")) if isinstance(x, dict)):
            cells[(a.get("attempt"), cell.get("cell"))] = _as_dict(cell.get("metrics"))
    rows, seen = [], dict.fromkeys((a.get("attempt") for a in attempts), 0)
    for line in lines:
        kind = line.get("line")
        metrics: dict[str, Any] = {}
        if kind == "operation":
            label = f"{line.get('op')} {line.get('dataset')}"
            index = seen.get(line.get("attempt"), 0)
            seen[line.get("attempt")] = index + 1
            metrics = ops.get((line.get("attempt"), index), {})
        elif kind == "notebook_overhead":
            label = f"cell In [{line.get('cell')}]: {line.get('source') or ''}"
            metrics = cells.get((line.get("attempt"), line.get("cell")), {})
        else:
            label = _LABELS.get(str(kind), str(kind))
        rows.append({"kind": kind, "label": label, "quantity": line.get("quantity"), "core_s": line.get("core_s"),
                     "usd": line.get("usd"), "m": metrics})
    kernel, runner = _as_dict(resources.get("kernel")), _as_dict(resources.get("runner"))
    return {
        "rows": rows,
        "total_usd": cost.get("total_usd"),
        "core_hour_usd": cost.get("core_hour_usd"),
        "allocated_core_s": cost.get("allocated_core_s"),
        "busy_core_s": cost.get("busy_core_s"),
        "executors": [x for x in _as_list(cost.get("executors")) if isinstance(x, dict)],
        "kernel": kernel, "runner": runner,
        "errors": [str(a["error"]) for a in attempts if a.get("error")],
    }
