"""One Spark for a command that runs many notebooks (``nbpipe dag run``, ``nbpipe backfill``, ``nbpipe demo``).

On a local profile every notebook's kernel would start its own JVM: 10-15 s of Spark start-up per
run, most of a small day's cost. :func:`shared_spark` starts one Spark Connect server for the
command instead (``nbpipe.spark.server``, with the profile's master and conf), hands its URL to
every kernel and worker process through ``$NBPIPE_SPARK_REMOTE`` for the duration of the block
only, and stops it at the end, also on Ctrl-C or an error (unless it was already running, e.g.
from ``nbpipe spark start``).

Only commands that run two or more notebooks using Spark share one (:func:`spark_runs`): a lone
run gains nothing, and a notebook that never touches Spark should not pay for a JVM.
Nothing is started when the profile already points at a cluster or a Connect server (a
``spark.remote``, a non-local ``spark.master``, or ``$NBPIPE_SPARK_REMOTE``/``$NBPIPE_SPARK_MASTER``
set), or when the caller asks for per-kernel Spark (``--local-spark``).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from nbpipe.core.config import Project
from nbpipe.core.protocol import ENV_SPARK_MASTER, ENV_SPARK_REMOTE

if TYPE_CHECKING:  # pragma: no cover
    from nbpipe.spark.server import ServerInfo

ServerFn = Callable[["ServerInfo"], None]
# Code that starts Spark in a kernel: pyspark itself, ``ctx.spark``, or the context's Spark-backed reads and writes.
_USES_SPARK = re.compile(r"\bpyspark\b|\bspark\b|\bctx\.(?:read|write|check|incremental)\b")


def spark_runs(project: Project, pipelines: Iterable[str]) -> int:
    """How many of the runs of ``pipelines`` (one per item, repeats counted) have a notebook using Spark."""
    from nbpipe.errors import NbpipeError
    from nbpipe.run.engine import read_notebook

    found: dict[str, bool] = {}
    count = 0
    for name in pipelines:
        if name not in found:
            cfg = project.config.pipelines.get(name)
            try:
                nb = read_notebook(project.path(cfg.notebook)) if cfg is not None else None
            except NbpipeError:  # a missing or broken notebook: its run reports that
                nb = None
            code = "\n".join(c.source for c in nb.cells if c.cell_type == "code") if nb is not None else ""
            found[name] = bool(_USES_SPARK.search(code))
        count += found[name]
    return count


def wants_shared_spark(project: Project) -> bool:
    """Whether the profile runs Spark inside each kernel (a ``local`` master, no remote, no override)."""
    if os.environ.get(ENV_SPARK_REMOTE, "").strip() or os.environ.get(ENV_SPARK_MASTER, "").strip():
        return False
    spark = project.profile.spark
    return not spark.remote and (spark.master or "local[*]").startswith("local")


@contextlib.contextmanager
def shared_spark(project: Project, *, enabled: bool = True, on_server: ServerFn | None = None) -> Iterator[str | None]:
    """Run the block with one shared Spark Connect server when the profile is local; yield its URL.

    Args:
        project: The project; its active profile decides whether a server is needed and how it runs.
        enabled: False keeps per-kernel Spark (``--local-spark``): nothing is started.
        on_server: Called once the server is up (or found running).

    Yields:
        The server's URL, or None when nothing was started.

    Raises:
        ConfigError: the server could not start (the message names its log).
    """
    if not enabled or not wants_shared_spark(project):
        yield None
        return
    from nbpipe.spark.server import running

    with running(project, "connect") as server, environ(ENV_SPARK_REMOTE, server.url):
        if on_server is not None:
            on_server(server)
        yield server.url


@contextlib.contextmanager
def environ(name: str, value: str) -> Iterator[None]:
    """Set ``$name`` for the block (kernels and worker processes inherit it), then restore it."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old
