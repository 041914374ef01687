"""What a run's kernel measures of itself and of the Spark work it started.

When a run's notebook first touches ``ctx.spark``, the :class:`Meter` adds a job tag for the run
(``nbpipe-<run_id>-a<attempt>``) to the session, and every ``ctx.read``/``ctx.write``/``ctx.check``/
``ctx.incremental`` call adds one more for its duration (``…-op<n>``). ``spark.addTag`` is the one
tagging call that works on classic sessions and over Spark Connect alike (``setJobGroup`` and
``setLocalProperty`` need a SparkContext, which a Connect client lacks).

After every cell (IPython's ``post_run_cell``) the meter reads the task metrics of those tags from
Spark's REST API (:mod:`nbpipe.spark.metrics`) and appends one ``resources`` event to the run's
event log: the operations so far with their metrics, the cell's untagged Spark work (notebook
overhead), the executors' cores, when the session started, and the kernel's own CPU seconds and
peak RSS. The kernel measures (not the runner) because a local session's driver dies with the
kernel, which papermill shuts down at once; the event log is how the kernel reports anything.
A Spark that cannot be read is reported in the event (``spark_error``), never raised into a cell.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import resource
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from nbpipe.core import events

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

    from nbpipe.kernel.context import RunContext


_hooked: Any = None  # the post_run_cell callback registered last


def kernel_usage() -> dict[str, float]:
    """This process's CPU seconds (user + system) and peak resident memory."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu_s": round(usage.ru_utime + usage.ru_stime, 3), "peak_rss_bytes": usage.ru_maxrss * 1024}


def ui_url(ctx: RunContext, session: SparkSession) -> str | None:
    """The REST API's base URL: a driver session's own UI, or the Connect server's.

    A Connect client asks the server for its ``spark.ui.port`` (the servers nbpipe starts get a
    fixed free one) and reaches it on the host of the ``sc://`` URL.
    """
    from nbpipe.spark.session import is_remote, spark_config

    if not is_remote(session):
        return session.sparkContext.uiWebUrl
    host = urlsplit(str(spark_config(ctx.project).remote).split(";", 1)[0]).hostname or "127.0.0.1"
    port = str(session.conf.get("spark.ui.port", "4040"))
    return None if port == "0" or session.conf.get("spark.ui.enabled", "true") == "false" else f"http://{host}:{port}"


class Meter:
    """Tags a run's Spark jobs per dataset operation and reports their metrics after each cell."""

    def __init__(self, ctx: RunContext, *, enabled: bool) -> None:
        self.ctx = ctx
        self.enabled = enabled
        self.run_tag = f"nbpipe-{ctx.run_id}-a{ctx.attempt}"
        self.session: SparkSession | None = None
        self.started_at: dt.datetime | None = None
        self.ops: list[dict[str, Any]] = []
        self._overhead_so_far: dict[str, float] | None = None
        self._source: Any = None
        self._problem: str | None = None
        self._active: str | None = None  # the tag of the operation running now
        if enabled:
            with contextlib.suppress(ImportError):
                from IPython import get_ipython

                shell = get_ipython()
                if shell is not None:
                    global _hooked
                    if _hooked is not None:  # one meter reports: the newest context's
                        with contextlib.suppress(ValueError):
                            shell.events.unregister("post_run_cell", _hooked)
                    shell.events.register("post_run_cell", self._after_cell)
                    _hooked = self._after_cell

    def attach(self, session: SparkSession) -> None:
        """Tag ``session``'s jobs with the run and report after every cell from now on."""
        if not self.enabled or self.session is not None:
            return
        self.session = session
        self.started_at = events.utcnow()
        try:
            session.addTag(self.run_tag)
            if self._active is not None:
                session.addTag(self._active)
            url = ui_url(self.ctx, session)
        except Exception as exc:
            self._problem, url = f"{type(exc).__name__}: {exc}", None
        if url is None:
            self._problem = self._problem or "no Spark UI REST API to read task metrics from"
        else:
            from nbpipe.spark.metrics import SparkMetrics, warm_up

            self._source = SparkMetrics(url)
            threading.Thread(target=warm_up, args=(url,), daemon=True, name="nbpipe-metrics-warmup").start()

    @contextlib.contextmanager
    def op(self, kind: str, dataset: str) -> Iterator[None]:
        """Tag the Spark jobs started inside the block as operation ``kind`` on ``dataset``.

        An operation inside another (a check that quarantines, an incremental read) belongs to
        the outer one. A block that never touches Spark (a pandas check) starts no session.
        """
        if not self.enabled or self._active is not None:
            yield
            return
        tag = f"{self.run_tag}-op{len(self.ops) + 1}"
        self._active = tag
        started = events.utcnow()
        if self.session is not None:
            with contextlib.suppress(Exception):
                self.session.addTag(tag)
        try:
            yield
        finally:
            self._active = None
            if self.session is not None:
                with contextlib.suppress(Exception):
                    self.session.removeTag(tag)
            wall = (events.utcnow() - started).total_seconds()
            self.ops.append({"op": kind, "dataset": dataset, "tag": tag, "wall_s": round(wall, 3)})

    def _after_cell(self, result: Any) -> None:
        with contextlib.suppress(Exception):  # a report must never fail the cell it follows
            raw = getattr(getattr(result, "info", None), "raw_cell", "") or ""
            self.report(cell=getattr(result, "execution_count", None), first_line=raw.strip().split("\n", 1)[0][:120])

    def report(self, *, cell: int | None, first_line: str) -> dict[str, Any]:
        """Append one ``resources`` event: operations, this cell's untagged work, cores, kernel usage."""
        payload: dict[str, Any] = {
            "cell": cell, "cell_source": first_line, "kernel": kernel_usage(),
            "session_started_at": self.started_at.isoformat() if self.started_at else None,
            "ops": [{k: v for k, v in op.items() if k != "tag"} for op in self.ops],
        }
        if self._source is not None:
            try:
                self._measure(payload)
            except Exception as exc:
                self._problem = f"{type(exc).__name__}: {exc}"
        if self._problem:
            payload["spark_error"] = self._problem
        return self.ctx.log.emit(events.RESOURCES, **payload)

    def _measure(self, payload: dict[str, Any]) -> None:
        from nbpipe.spark import metrics

        src = self._source
        jobs = src.settled_jobs(self.run_tag)
        found = src.by_tag([self.run_tag, *(op["tag"] for op in self.ops)], jobs)
        tagged = metrics.empty()
        for op, out in zip(self.ops, payload["ops"], strict=True):
            out["metrics"] = found[op["tag"]]
            tagged = metrics.add(tagged, found[op["tag"]])
        overhead = metrics.minus(found[self.run_tag], tagged)
        previous = self._overhead_so_far or metrics.empty()
        payload["cell_metrics"] = metrics.minus(overhead, previous)
        payload["run_metrics"] = found[self.run_tag]
        payload["executor_cores"] = src.executor_cores()
        self._overhead_so_far = overhead
