"""Spark's own task metrics, summed per job tag, from the driver's monitoring REST API.

Why the REST API (``/api/v1/applications/{id}/jobs|stages|executors``): it is the one source that
serves local sessions, standalone clusters and Spark Connect alike. A Spark Connect client has no
JVM to reach (sparkMeasure and ``sc._jvm`` listeners do not work there), but the tags it adds
with ``spark.addTag`` show up in the REST API's ``jobTags``, on a classic session too (prefixed
with the session and thread: matched here by suffix). Spark's event log would need a file the
kernel can read and is flushed late; the status tracker has no task metrics.

The driver's UI serves the API: nbpipe turns it on for driver sessions on a random 127.0.0.1 port
(:func:`nbpipe.spark.session.session_conf`) and on the Connect servers it starts
(:mod:`nbpipe.spark.server` records the port). The first request to a fresh UI takes seconds
(Jersey starts lazily), so :func:`warm_up` is called in the background when the session starts.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterable
from typing import Any

REQUEST_TIMEOUT_S = 30.0
SETTLE_TIMEOUT_S = 5.0
# REST stage field -> (record key, factor to the record's unit)
STAGE_METRICS: dict[str, tuple[str, float]] = {
    "executorRunTime": ("executor_run_time_s", 1e-3),
    "executorCpuTime": ("executor_cpu_time_s", 1e-9),
    "inputBytes": ("input_bytes", 1),
    "inputRecords": ("input_records", 1),
    "outputBytes": ("output_bytes", 1),
    "outputRecords": ("output_records", 1),
    "shuffleReadBytes": ("shuffle_read_bytes", 1),
    "shuffleWriteBytes": ("shuffle_write_bytes", 1),
    "memoryBytesSpilled": ("memory_spilled_bytes", 1),
    "diskBytesSpilled": ("disk_spilled_bytes", 1),
}
PEAK = ("peakExecutionMemory", "peak_execution_memory_bytes")
FINAL_STAGE_STATES = ("COMPLETE", "FAILED", "SKIPPED")
METRIC_KEYS = (*(key for key, _ in STAGE_METRICS.values()), PEAK[1], "tasks", "stages", "jobs")


def empty() -> dict[str, float]:
    return dict.fromkeys(METRIC_KEYS, 0)


def minus(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    """``a - b`` per summed metric (peaks are kept from ``a``), never below zero."""
    return {k: (a.get(k, 0) if k == PEAK[1] else round(max(a.get(k, 0) - b.get(k, 0), 0), 6)) for k in METRIC_KEYS}


def add(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    """``a + b`` per summed metric; the larger peak."""
    return {k: (max(a.get(k, 0), b.get(k, 0)) if k == PEAK[1] else round(a.get(k, 0) + b.get(k, 0), 6))
            for k in METRIC_KEYS}


def has_tag(job: dict[str, Any], tag: str) -> bool:
    """Whether ``job`` carries ``tag``.

    Spark prefixes a user's tag: ``spark-session-<id>-thread-<id>-<tag>`` on a classic session,
    ``SparkConnect_SessionTag_User_<user>_Session_<id>_Tag_<tag>`` over Connect.
    """
    return any(t == tag or t.endswith(("-" + tag, "_Tag_" + tag)) for t in job.get("jobTags") or ())


class SparkMetrics:
    """Read one Spark application's jobs, stages and executors through its UI's REST API."""

    def __init__(self, ui_url: str) -> None:
        self.base = ui_url.rstrip("/") + "/api/v1/applications"
        self._app: str | None = None
        self._cores: int | None = None
        self._stages: dict[int, list[dict[str, Any]]] = {}  # finished stages, by id

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base + path, timeout=REQUEST_TIMEOUT_S) as resp:
            return json.load(resp)

    @property
    def app(self) -> str:
        if self._app is None:
            apps = self._get("")
            self._app = "/" + str(apps[0]["id"])
        return self._app

    def all_jobs(self) -> list[dict[str, Any]]:
        return list(self._get(self.app + "/jobs"))

    def executor_cores(self) -> int | None:
        """Cores of the active executors (a local session's driver is its executor); asked once."""
        if self._cores is None:
            found = self._get(self.app + "/executors")
            workers = [int(e.get("totalCores") or 0) for e in found if e.get("id") != "driver"]
            self._cores = (sum(workers) if workers else sum(int(e.get("totalCores") or 0) for e in found)) or None
        return self._cores

    def settled_jobs(self, tag: str) -> list[dict[str, Any]]:
        """The application's jobs once none with ``tag`` is still running (job ends reach the API late)."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        jobs = self.all_jobs()
        while time.monotonic() < deadline and any(j.get("status") == "RUNNING" for j in jobs if has_tag(j, tag)):
            time.sleep(0.05)
            jobs = self.all_jobs()
        return jobs

    def _stage(self, stage_id: int) -> list[dict[str, Any]]:
        """The attempts of one stage; kept once none can change any more."""
        if stage_id in self._stages:
            return self._stages[stage_id]
        attempts = list(self._get(f"{self.app}/stages/{stage_id}?details=false"))
        if all(a.get("status") in FINAL_STAGE_STATES for a in attempts):
            self._stages[stage_id] = attempts
        return attempts

    def by_tag(self, tags: Iterable[str], jobs: list[dict[str, Any]] | None = None) -> dict[str, dict[str, float]]:
        """Task metrics summed over the stages of the jobs carrying each tag.

        Only the stages of tagged jobs are fetched, each once it has finished, so a report costs
        one request for the job list plus one per new stage, however long the server has run.
        """
        all_jobs = self.all_jobs() if jobs is None else jobs
        out: dict[str, dict[str, float]] = {}
        for tag in tags:
            tagged = [j for j in all_jobs if has_tag(j, tag)]
            total = empty()
            total["jobs"] = len(tagged)
            for sid in sorted({int(s) for j in tagged for s in j.get("stageIds") or ()}):
                for stage in self._stage(sid):
                    if stage.get("status") == "SKIPPED":
                        continue
                    total["stages"] += 1
                    total["tasks"] += int(stage.get("numCompleteTasks") or 0) + int(stage.get("numFailedTasks") or 0)
                    for name, (key, factor) in STAGE_METRICS.items():
                        total[key] += float(stage.get(name) or 0) * factor
                    total[PEAK[1]] = max(total[PEAK[1]], float(stage.get(PEAK[0]) or 0))
            out[tag] = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in total.items()}
        return out


def warm_up(ui_url: str) -> None:
    """Make the UI's first (slow) REST request, so the first measurement does not wait for it."""
    try:
        SparkMetrics(ui_url).app  # noqa: B018 - the request is the point
    except (OSError, ValueError, LookupError):
        pass
