"""Run records: run ids, versions, git facts, and building ``run.json`` from the event log.

Pure: reads files and environment facts, imports no engine (versions come from package metadata).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import secrets as _secrets
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from nbpipe.core import events as ev
from nbpipe.core.layout import RunDir

SCHEMA_VERSION = 1
RUN_JSON = RunDir.RECORD
OUTPUT_NOTEBOOK = RunDir.OUTPUT
REPORT_HTML = RunDir.REPORT

Clock = Callable[[], dt.datetime]


def new_run_id(now: dt.datetime | None = None) -> str:
    """A sortable run id: UTC time to the microsecond plus a short random suffix."""
    now = (now or ev.utcnow()).astimezone(dt.UTC)
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond:06d}Z-" + _secrets.token_hex(3)


def iso(t: dt.datetime | None) -> str | None:
    return t.astimezone(dt.UTC).isoformat() if t else None


def nbpipe_version() -> str:
    """nbpipe's own version, from package metadata (``0.0.0`` in a source tree)."""
    try:
        return metadata.version("nbpipe")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


def versions() -> dict[str, str]:
    """Versions of the moving parts, from package metadata (no imports)."""
    out = {"python": platform.python_version()}
    for dist, key in (
        ("nbpipe", "nbpipe"),
        ("papermill", "papermill"),
        ("nbconvert", "nbconvert"),
        ("nbclient", "nbclient"),
        ("pyspark", "pyspark"),
        ("great-expectations", "great_expectations"),
    ):
        try:
            out[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[key] = "not installed"
    return out


def git_facts(root: Path) -> dict[str, Any]:
    """The commit and dirty flag of the project checkout (``None`` outside git)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=False
        )
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def retry_command(
    pipeline: str,
    params: dict[str, Any],
    secret_names: set[str],
    profile: str,
    resume_run_id: str | None = None,
    env_variables: Mapping[str, str] | None = None,
) -> str:
    """The exact command that retries a run (secret values are never spelled out).

    A secret read with ``-p name=env:VAR`` is written back as ``env:VAR`` (``env_variables``);
    any other secret as ``env:NAME`` in upper case, the variable to export.
    """
    if resume_run_id:
        parts = ["nbpipe", "run", pipeline, "--resume", resume_run_id]
    else:
        parts = ["nbpipe", "run", pipeline]
        for key, value in params.items():
            if key in secret_names:
                parts += ["-p", f"{key}=env:{(env_variables or {}).get(key, key.upper())}"]
            else:
                import json

                text = value if isinstance(value, str) else json.dumps(value)
                parts += ["-p", f"{key}={text}"]
    if profile != "dev":
        parts += ["--profile", profile]
    return shlex.join(parts)


def cells_summary(nb: dict[str, Any]) -> list[dict[str, Any]]:
    """Per code cell: index, first line, status and duration from papermill's metadata."""
    out = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        pm = cell.get("metadata", {}).get("papermill", {})
        status = pm.get("status", "pending")
        if pm.get("exception") or any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            state = "error"
        elif status == "completed":
            state = "ok"
        elif status == "running":
            state = "error"
        else:
            state = "not_run"
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        first = next((line for line in source.splitlines() if line.strip()), "")
        tags = cell.get("metadata", {}).get("tags", [])
        out.append(
            {
                "index": index,
                "execution_count": cell.get("execution_count"),
                "first_line": first[:120],
                "status": state,
                "duration_s": pm.get("duration"),
                "tags": list(tags),
            }
        )
    return out


def dataset_entries(events: list[dict[str, Any]], attempt: int | None) -> dict[str, list[dict[str, Any]]]:
    inputs, outputs = [], []
    keys = ("dataset", "rows", "bytes", "schema_version", "rejected_rows", "path", "partitions", "sandbox", "engine")
    for e in ev.of_kind(events, ev.DATASET_READ, attempt):
        inputs.append({k: e.get(k) for k in keys if k in e})
    for e in ev.of_kind(events, ev.DATASET_STAGED, attempt):
        outputs.append({k: e.get(k) for k in keys if k in e})
    for e in ev.of_kind(events, ev.DATASET_REJECTED, attempt):
        outputs.append({k: e.get(k) for k in keys if k in e} | {"rejected": True})
    return {"inputs": inputs, "outputs": outputs}


def checks_entries(events: list[dict[str, Any]], attempt: int | None) -> list[dict[str, Any]]:
    keep = ("suite", "dataset", "success", "gate", "statistics", "results", "rejected_rows", "notes", "duration_s",
            "engine")
    return [{k: e.get(k) for k in keep} for e in ev.of_kind(events, ev.CHECK, attempt)]


def metrics_entries(events: list[dict[str, Any]], attempt: int | None) -> dict[str, float]:
    return {e["name"]: e["value"] for e in ev.of_kind(events, ev.METRIC, attempt)}


def proposals(events: list[dict[str, Any]], attempt: int | None) -> dict[str, Any]:
    """The incremental state proposals of an attempt: ``{dataset: position}``."""
    return {e["dataset"]: e.get("position") for e in ev.of_kind(events, ev.STATE_PROPOSAL, attempt)}


def gate_passed(check: dict[str, Any]) -> bool:
    """Whether a ``check`` event let the data go on (events from earlier versions lack the field)."""
    passed = check.get("gate_passed")
    if passed is None:
        return bool(check.get("success")) or bool(check.get("rejected_rows"))
    return bool(passed)


def quality_status(checks: list[dict[str, Any]]) -> str:
    if not checks:
        return "none"
    if all(c.get("success") for c in checks):
        return "passed"
    if any(c.get("gate") == "fail" and not gate_passed(c) for c in checks):
        return "failed"
    return "warned"


def host_facts() -> dict[str, Any]:
    return {"host": platform.node(), "pid": os.getpid(), "argv": [Path(sys.argv[0]).name, *sys.argv[1:]]}


def read_record(path: Path) -> dict[str, Any]:
    """A run.json, or ``{}`` when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON atomically (a temp file renamed over ``path``)."""
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
