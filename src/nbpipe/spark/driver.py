"""Telling a dead Spark driver from any other Spark error, and saying so.

When the driver JVM dies (out of memory on a huge line or a big ``collect()``, the OOM killer, a
SIGKILL), the next call into it fails with whatever the transport saw: ``ConnectionRefusedError``,
py4j's "Answer from Java side is empty", a gRPC ``UNAVAILABLE``. :func:`driver_guard` turns those
into a :class:`~nbpipe.errors.KernelDiedError` (exit 11, retryable) that says the driver died, most
likely out of memory, and names the log holding the JVM's last words: the run's ``kernel.log`` in a
run (the kernel's stdout/stderr, where a local driver's output goes), the Connect server's
``connect.log`` for a managed Spark Connect server.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nbpipe.core.config import Project
from nbpipe.core.layout import RunDir
from nbpipe.errors import KernelDiedError, NbpipeError

_CONNECTION_TEXTS = ("Answer from Java side is empty", "Error while sending or receiving", "Connection refused",
                     "StatusCode.UNAVAILABLE", "Socket closed", "failed to connect to all addresses")


def driver_pid(spark: Any) -> int | None:
    """The pid of a local session's driver JVM (None for a Spark Connect client or without one)."""
    proc = getattr(getattr(getattr(spark, "sparkContext", None), "_gateway", None), "proc", None) \
        if not type(spark).__module__.startswith("pyspark.sql.connect") else None
    return getattr(proc, "pid", None)


def driver_dead(spark: Any) -> bool:
    """Whether a local session's driver JVM has exited."""
    if type(spark).__module__.startswith("pyspark.sql.connect"):
        return False
    proc = getattr(getattr(getattr(spark, "sparkContext", None), "_gateway", None), "proc", None)
    return proc is not None and proc.poll() is not None


def looks_like_lost_driver(exc: BaseException) -> bool:
    """Whether ``exc`` is what a call into a driver that went away raises."""
    if isinstance(exc, ConnectionError):
        return True
    if type(exc).__name__ == "Py4JNetworkError":
        return True
    text = str(exc)
    return any(t in text for t in _CONNECTION_TEXTS)


def driver_log(project: Project, run_dir: Path | None, remote: bool) -> Path | None:
    """The log that holds a dead driver's output: the Connect server's, or the run's kernel log."""
    if remote:
        log = project.runs_dir / ".spark" / "connect.log"
        return log if log.is_file() else None
    return RunDir(run_dir).kernel_log if run_dir is not None else None


def died(spark: Any, exc: BaseException, project: Project, run_dir: Path | None, what: str) -> KernelDiedError:
    """The error for a driver lost while doing ``what``."""
    remote = type(spark).__module__.startswith("pyspark.sql.connect")
    log = driver_log(project, run_dir, remote)
    driver = "the Spark Connect server" if remote else "the Spark driver (JVM" + (
        f", pid {driver_pid(spark)})" if driver_pid(spark) else ")")
    where = f"; its last output is in {log}" if log is not None else \
        "; its output went to the terminal that started this notebook's kernel"
    return KernelDiedError(
        f"{driver} died while {what}, most likely out of memory (a huge line or collect(), or the system's "
        f"OOM killer){where} ({type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]})",
        hint="look for java.lang.OutOfMemoryError in that log; give the driver more memory (the profile's "
        "spark.conf spark.driver.memory), or split the input (e.g. lines over a few hundred MB)",
    )


@contextmanager
def driver_guard(spark_of: Any, project: Project, run_dir: Path | None, what: str) -> Iterator[None]:
    """Translate the failure of a lost Spark driver inside the block into :class:`KernelDiedError`.

    ``spark_of`` is the session or a callable returning it (so that a session is not started only to
    guard a block that never needs one). Other errors pass through unchanged.
    """
    try:
        yield
    except Exception as exc:
        cause = exc.__cause__ if isinstance(exc, NbpipeError) else exc
        if cause is None:
            raise
        spark = spark_of() if callable(spark_of) else spark_of
        if not (looks_like_lost_driver(cause) or driver_dead(spark)):
            raise
        raise died(spark, cause, project, run_dir, what) from exc
