"""One run's OpenLineage events: START when it starts, one of COMPLETE/FAIL/ABORT when it ends.

The runner calls :func:`start` right after it took the lock — it writes the run's identity
(``lineage.json``: a UUID v7, job, start time) and leaves importing the client and building START
to the background thread — and :meth:`LineageRun.finish` before it writes the record; the next
run's recovery calls :func:`close_orphan` for a run whose runner was killed. Events go to the
run's outbox first (:mod:`~nbpipe.run.lineage.outbox`) and the background thread forwards them
(:mod:`~nbpipe.run.lineage.forward`); :meth:`finish` waits for that at most the transport's
timeout, so a dead endpoint costs a run no more than that, and what was not delivered is kept,
retried and reported as a warning.

A skipped run (its inputs and code unchanged) ends with COMPLETE, no outputs and no statistics:
it started, so it must end, and nothing it did failed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbpipe.core import events as ev
from nbpipe.core import records
from nbpipe.core.config import Project
from nbpipe.core.lineage_names import OLName, dataset_name
from nbpipe.core.masking import Masker
from nbpipe.errors import DatasetError
from nbpipe.run.lineage import outbox
from nbpipe.run.lineage.forward import Forwarder
from nbpipe.run.lineage.jobinfo import MAX_SOURCE_CHARS, JobInfo, backfill_parent, dag_parent, parent_from_env, uuid7
from nbpipe.run.lineage.settings import LineageSettings, resolve

ENV_PARENT = "OPENLINEAGE_PARENT_ID"
ENV_ROOT_PARENT = "OPENLINEAGE_ROOT_PARENT_ID"
NOMINAL_PARAMS = ("run_date", "date", "ds", "logical_date")
START_WAIT_S = 60.0  # the client's import plus building START; only a machine under heavy load gets near it


@dataclass
class LineageRun:
    """The lineage of one run in progress."""

    project: Project
    settings: LineageSettings
    info: JobInfo
    run_dir: Path
    masker: Masker
    forwarder: Forwarder
    emitted: list[str]
    warnings: list[str]
    started_at: str

    def _emit(self, event: dict[str, Any]) -> None:
        outbox.append(self.project.runs_dir, self.run_dir, self.masker.data(event))
        self.emitted.append(str(event["eventType"]))
        outbox.write_identity(self.run_dir, self.identity())
        self.forwarder.kick()

    def identity(self) -> dict[str, Any]:
        return {"run_id": self.info.run_id, "namespace": self.info.namespace, "job": self.info.job,
                "started_at": self.started_at, "events": list(self.emitted), "endpoint": self.settings.endpoint}

    def emit_start(self, notebook: Path, pipeline: str) -> None:
        """Build and queue START (in the forwarder's thread: the client's import is slow)."""
        from nbpipe.run.lineage import build

        self.info.source_code = _source(notebook, self.masker)
        self.info.git = _git(self.project.root, notebook)
        cfg = self.project.config.pipelines.get(pipeline)
        declared_in = _declared(self.project, cfg.reads if cfg else [], self.warnings)
        declared_out = _declared(self.project, cfg.writes if cfg else [], self.warnings)
        self._emit(build.event("START", self.started_at, self.info,
                               inputs=[build.input_dataset(n, d) for d, n in declared_in],
                               outputs=[build.output_dataset(n, d) for d, n in declared_out]))

    def finish(self, *, status: str, error: str | None, ended: dt.datetime, log: ev.EventLog,
               attempt: int | None) -> dict[str, Any]:
        """Emit the closing event, wait briefly for delivery; return the record's ``lineage`` entry."""
        events = list(ev.read_events(log.path))
        state = "COMPLETE" if status in ("succeeded", "skipped") else "FAIL"
        if not self.forwarder.ready.wait(START_WAIT_S):
            self.warnings.append(f"the OpenLineage START event was not ready within {START_WAIT_S:g} s")
        if self.forwarder.first_error:
            self.warnings.append(f"the OpenLineage START event could not be built ({self.forwarder.first_error})")
        try:
            from nbpipe.run.lineage import build

            inputs, outputs, tests = datasets(self.project, events, attempt, published=status == "succeeded",
                                              warnings=self.warnings)
            self._emit(build.event(state, records.iso(ended) or "", self.info, inputs=inputs, outputs=outputs,
                                   error=error if state == "FAIL" else None, tests=tests))
        except Exception as exc:
            self.warnings.append(f"the OpenLineage {state} event could not be built ({type(exc).__name__})")
        result = self.forwarder.close(self.settings.timeout_s + 1.0)
        if result.error:
            pending = len(outbox.pending(self.run_dir))
            self.warnings.append(f"{result.error}; {pending} event(s) of this run kept in "
                                 f"{self.run_dir.name}/lineage-outbox.jsonl, sent by a later run or "
                                 "`nbpipe lineage flush`")
        warn_log = ev.EventLog(log.path, source="runner", attempt=attempt, masker=self.masker)
        for text in self.warnings:
            warn_log.emit(ev.LOG, level="warning", message=text)
        return {**self.identity(), "pending": len(outbox.pending(self.run_dir))}


def start(project: Project, *, pipeline: str, run_id: str, run_dir: Path, notebook: Path,
          params: Mapping[str, Any], masker: Masker, started: dt.datetime,
          backfill_id: str | None = None, dag_run_id: str | None = None) -> LineageRun | None:
    """Start a run's lineage: its identity now, START built and sent in the background; None when off."""
    settings = resolve(project)
    if settings is None:
        return None
    warnings: list[str] = []
    info = JobInfo(namespace=settings.namespace, job=pipeline, run_id=uuid7(started), nominal_time=_nominal(params),
                   parents=_parents(settings.namespace, pipeline, backfill_id, warnings, dag_run_id))
    run = LineageRun(project, settings, info, run_dir, masker, None, [], warnings,  # type: ignore[arg-type]
                     records.iso(started) or "")
    outbox.write_identity(run_dir, run.identity())  # a killed run is closed from this (close_orphan)
    run.forwarder = Forwarder(settings, project.runs_dir, run_dir, first=lambda: run.emit_start(notebook, pipeline))
    return run


def close_orphan(project: Project, run_dir: Path, *, published: bool, ended: dt.datetime) -> bool:
    """Append the closing event of a killed run that emitted START; return whether one was added.

    ``published``: the run's outputs were published (its record says succeeded) → COMPLETE; else ABORT.
    The event stays in that run's outbox; the recovering run's forwarder (or a flush) sends it.
    """
    identity = outbox.read_identity(run_dir)
    emitted = list(identity.get("events") or [])
    if not identity.get("run_id") or {"COMPLETE", "FAIL", "ABORT"} & set(emitted):
        return False
    if resolve(project) is None:
        return False
    from nbpipe.run.lineage import build

    info = JobInfo(namespace=str(identity["namespace"]), job=str(identity["job"]), run_id=str(identity["run_id"]))
    if "START" not in emitted:  # killed before its background thread wrote START: the pair is sent now
        outbox.append(project.runs_dir, run_dir, build.event("START", str(identity.get("started_at")), info))
        emitted.append("START")
    state = "COMPLETE" if published else "ABORT"
    message = None if published else "the runner process was killed before the run finished; nothing was published"
    outbox.append(project.runs_dir, run_dir, build.event(state, records.iso(ended) or "", info, error=message))
    outbox.write_identity(run_dir, {**identity, "events": [*emitted, state]})
    return True


def datasets(project: Project, events: list[dict[str, Any]], attempt: int | None, *, published: bool,
             warnings: list[str]) -> tuple[list[Any], list[Any], list[dict[str, Any]]]:
    """Inputs, outputs (with statistics only when published) and test results of a run's last attempt."""
    from nbpipe.run.lineage import build

    checks = ev.of_kind(events, ev.CHECK, attempt)
    by_dataset: dict[str, list[dict[str, Any]]] = {}
    all_assertions: list[dict[str, Any]] = []
    for check in checks:
        found = build.expectation_results(check)
        by_dataset.setdefault(str(check.get("dataset") or check.get("suite")), []).extend(found)
        all_assertions.extend(found)
    inputs, seen = [], set()
    for e in ev.of_kind(events, ev.DATASET_READ, attempt):
        name = _name(project, str(e.get("dataset")), warnings)
        if name is None or name in seen:
            continue
        seen.add(name)
        inputs.append(build.input_dataset(name, str(e["dataset"]), fields=e.get("schema"),
                                          assertions=by_dataset.pop(str(e["dataset"]), None)))
    outputs, names = [], lineage_names(project, events, attempt, warnings)
    for e in ev.of_kind(events, ev.DATASET_STAGED, attempt) + ev.of_kind(events, ev.DATASET_REJECTED, attempt):
        if e.get("sandbox"):
            continue
        name = _name(project, str(e.get("dataset")), warnings)
        if name is None:
            continue
        stats = {"rows": e.get("rows"), "size": e.get("bytes"), "files": None} if published else {}
        outputs.append(build.output_dataset(
            name, str(e["dataset"]), fields=e.get("schema"), **stats,
            column_lineage=_column_lineage(e.get("column_lineage"), names),
            assertions=by_dataset.pop(str(e["dataset"]), None)))
    return inputs, outputs, build.as_tests(all_assertions)


def lineage_names(project: Project, events: list[dict[str, Any]], attempt: int | None,
                  warnings: list[str]) -> dict[str, OLName]:
    names = {}
    for e in ev.of_kind(events, ev.DATASET_READ, attempt):
        found = _name(project, str(e.get("dataset")), warnings)
        if found is not None:
            names[str(e["dataset"])] = found
    return names


def _column_lineage(raw: Any, names: Mapping[str, OLName]) -> dict[str, list[dict[str, Any]]] | None:
    """The kernel's ``{column: [{dataset, field, subtype}]}`` with datasets as OpenLineage names."""
    if not isinstance(raw, dict):
        return None
    out: dict[str, list[dict[str, Any]]] = {}
    for col, sources in raw.items():
        mapped = [{**names[s["dataset"]].as_dict(), "field": s["field"], "subtype": s.get("subtype", "IDENTITY")}
                  for s in sources if isinstance(s, dict) and s.get("dataset") in names]
        if mapped:
            out[str(col)] = mapped
    return out or None


def _name(project: Project, dataset: str, warnings: list[str]) -> OLName | None:
    try:
        return dataset_name(project, dataset)
    except DatasetError as exc:
        text = f"dataset {dataset!r} is left out of the OpenLineage events: {exc.message}"
        if text not in warnings:
            warnings.append(text)
        return None


def _declared(project: Project, names: list[str], warnings: list[str]) -> list[tuple[str, OLName]]:
    out = []
    for d in names:
        found = _name(project, d, warnings)
        if found is not None:
            out.append((d, found))
    return out


def _source(notebook: Path, masker: Masker) -> str | None:
    """The notebook's code cells as saved (no injected parameters), secrets masked, capped in size."""
    try:
        nb = json.loads(notebook.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return None
    cells = ["".join(c["source"]) if isinstance(c.get("source"), list) else str(c.get("source", ""))
             for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    return masker.text("\n\n".join(cells))[: MAX_SOURCE_CHARS]


def _git(root: Path, notebook: Path) -> dict[str, str] | None:
    """Remote URL (without credentials), commit and notebook path; None outside git or without a remote."""
    from nbpipe.core.lineage_config import redact_url

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=5, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None

    commit, url, top = git("rev-parse", "HEAD"), git("remote", "get-url", "origin"), git("rev-parse", "--show-toplevel")
    if not commit or not url or not top:
        return None
    url = redact_url(url) if "://" in url else url  # scp-like git@host:org/repo.git has no password
    return {"url": url, "commit": commit, "path": os.path.relpath(notebook, top)}


def _nominal(params: Mapping[str, Any]) -> str | None:
    for key in NOMINAL_PARAMS:
        value = params.get(key)
        if isinstance(value, (dt.date, str)) and value:
            try:
                day = value if isinstance(value, dt.date) else dt.datetime.fromisoformat(str(value))
            except ValueError:
                continue
            when = day if isinstance(day, dt.datetime) else dt.datetime(day.year, day.month, day.day)
            return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).isoformat()
    return None


def _parents(namespace: str, pipeline: str, backfill_id: str | None, warnings: list[str],
             dag_run_id: str | None = None) -> dict[str, Any]:
    airflow = parent_from_env(os.environ.get(ENV_PARENT))
    root = parent_from_env(os.environ.get(ENV_ROOT_PARENT))
    for var in (ENV_PARENT, ENV_ROOT_PARENT):
        if os.environ.get(var) and parent_from_env(os.environ[var]) is None:
            warnings.append(f"{var} is not namespace/job/run-uuid; the run's OpenLineage parent leaves it out")
    if backfill_id:
        return {"parent": backfill_parent(namespace, pipeline, backfill_id), "root": root or airflow}
    if dag_run_id:
        return {"parent": dag_parent(namespace, dag_run_id), "root": root or airflow}
    if airflow:
        return {"parent": airflow, "root": root}
    return {}
