"""The in-kernel API: ``nbpipe.context()`` and the ``RunContext`` a notebook works with.

The context learns everything from the environment the runner sets (``NBPIPE_*``) and reports
back only through the run's event log. Outside a run (a person in JupyterLab) it is in explore
mode with the ``dev`` profile, and its event log lives in a sandbox under ``runs/_explore/``.
"""

from __future__ import annotations

import contextlib
import math
import os
import uuid
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbpipe.core import events
from nbpipe.core.config import Project, check_name, load_project
from nbpipe.core.layout import RunDir
from nbpipe.core.protocol import ENV_PROFILE, ENV_PROJECT, Mode, read_handoff
from nbpipe.errors import NbpipeError
from nbpipe.kernel.resources import Meter

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Mapping

    import pandas as pd
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

    from nbpipe.core.config import WriteMode
    from nbpipe.data.write import WriteResult
    from nbpipe.kernel.widgets import Panel
    from nbpipe.quality.results import CheckResult

__all__ = ["Mode", "RunContext", "context", "reset"]

class RunContext:
    """What a notebook sees of nbpipe: mode, params, Spark, datasets, checks, metrics.

    It satisfies :class:`nbpipe.core.protocol.RunScope`, the view the data plane types against.
    """

    def __init__(
        self,
        project: Project,
        *,
        mode: Mode,
        run_id: str,
        run_dir: Path,
        pipeline: str | None,
        attempt: int,
        params: dict[str, Any],
    ) -> None:
        self.project = project
        self.mode: Mode = mode
        self.run_id = run_id
        self.run_dir = Path(run_dir)
        self.pipeline = pipeline
        self.attempt = attempt
        self.params = params
        self.log = events.EventLog.in_run_dir(self.run_dir, source="kernel", attempt=attempt)
        self.meter = Meter(self, enabled=mode != "explore" and pipeline is not None)

    def __repr__(self) -> str:
        return (
            f"<nbpipe context mode={self.mode} profile={self.project.profile_name} "
            f"pipeline={self.pipeline} run_id={self.run_id}>"
        )

    @property
    def is_prod(self) -> bool:
        return self.mode == "prod"

    @property
    def staging_dir(self) -> Path:
        """Where prod writes are staged until the runner publishes them."""
        return RunDir(self.run_dir).staging

    @cached_property
    def spark(self) -> SparkSession:
        """The SparkSession of the active profile (local, standalone master or Spark Connect)."""
        from nbpipe.spark.session import get_session

        session = get_session(self.project)
        self.meter.attach(session)
        return session

    def metric(self, name: str, value: float | int) -> float:
        """Record a numeric metric for the run record and the dashboard."""
        check_name(name, "metric")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise NbpipeError(
                f"metric {name!r}: {value!r} is not a number", hint="ctx.metric(name, <int or float>)"
            ) from None
        if math.isnan(number) or math.isinf(number):
            raise NbpipeError(f"metric {name!r} is {number}; only finite numbers can be recorded")
        self.log.emit(events.METRIC, name=name, value=number)
        return number

    def read(self, name: str, *, paths: list[str] | None = None, schema_override: Any = None) -> DataFrame:
        """Read a dataset: inferred schema in explore mode, contract-enforced in prod.

        Args:
            name: A dataset declared in ``nbpipe.yaml``.
            paths: Read exactly these files or directories (inside the dataset's path).
            schema_override: A contract, ``[{name, type, nullable}]`` or DDL string to use instead.
        """
        from nbpipe.data.column_lineage import tag
        from nbpipe.data.read import read_dataset

        with self.meter.op("read", name):
            df = read_dataset(self, name, paths=paths, schema_override=schema_override)
        return tag(df, name) if self.is_prod else df  # the write's column lineage traces back to it

    def write(self, df: DataFrame, name: str, *, mode: WriteMode | None = None) -> WriteResult:
        """Write a dataset: sandboxed in explore mode, staged for atomic publish in prod.

        Each partition the frame touches (or the whole dataset, unpartitioned) is staged whole and
        published atomically. In prod, rows breaking the primary key are quarantined (or fail the
        write, per ``on_bad_rows``).

        Args:
            df: The frame to write.
            name: A dataset declared in ``nbpipe.yaml``.
            mode: How the rows combine with those already stored; None uses
                ``datasets.<name>.write_mode``, else ``merge`` when the dataset has a primary key,
                else ``append``.

                * ``merge``: upsert by primary key (stored rows whose key is written are replaced).
                * ``append``: add rows not already stored (identical rows are kept once).
                * ``overwrite_partitions``: replace the partitions present in ``df``.
                * ``overwrite``: replace the whole dataset.
        """
        from nbpipe.data.write import write_dataset

        with self.meter.op("write", name):
            return write_dataset(self, df, name, mode=mode)

    def check(self, df: Any, suite: str, *, quarantine: bool = False, dataset: str | None = None,
              frames: Mapping[str, Any] | None = None) -> CheckResult:
        """Run a quality checkpoint: inline result in explore mode, a gate in prod.

        Args:
            df: A Spark or pandas frame.
            suite: The suite ``expectations/<suite>.json``.
            quarantine: Move failing rows to ``<dataset>__rejected`` instead of failing on them.
            dataset: The dataset whose quarantine receives them (default: the suite's name).
            frames: Frames that foreign-key expectations may refer to by name.
        """
        from nbpipe.quality.checkpoint import run_checkpoint

        with self.meter.op("check", dataset or suite):
            return run_checkpoint(self, df, suite, quarantine=quarantine, dataset=dataset, frames=frames)

    def to_arrow(self, df: DataFrame) -> pa.Table:
        """The rows of a Spark frame as a pyarrow Table, without a Spark job when nbpipe already has them.

        In a production run, a frame that ``ctx.check`` or ``ctx.write`` materialized (a small frame,
        see ``spark.small_frame_rows``) is returned from memory, as are the passing rows of a check
        with ``quarantine=True``; any other frame (and every frame in explore mode, whose files may
        change between cells) is collected with ``df.toArrow()``.
        """
        from nbpipe.data.small import cached

        found = cached(self, df)
        return found.table if found is not None else df.toArrow()

    def to_pandas(self, df: DataFrame) -> pd.DataFrame:
        """:meth:`to_arrow` as pandas (``Table.to_pandas()``: timestamps stay timezone-aware UTC)."""
        return self.to_arrow(df).to_pandas()

    def incremental(self, name: str, *, column: str | None = None, lookback: Any = None,
                    max_files: int | None = None) -> DataFrame:
        """Read only what no successful run of this pipeline has processed yet.

        Args:
            name: A dataset declared in ``nbpipe.yaml``.
            column: The watermark column (otherwise new files, or new Kafka offsets, are read).
            lookback: How far behind the watermark to read again (``"2 days"``, a number).
            max_files: Read at most this many new files per run.
        """
        from nbpipe.data.column_lineage import tag
        from nbpipe.data.incremental import read_incremental

        with self.meter.op("read", name):
            df = read_incremental(self, name, column=column, lookback=lookback, max_files=max_files)
        return tag(df, name) if self.is_prod else df  # the write's column lineage traces back to it

    def panel(self, pipeline: str | None = None) -> Panel:
        """Show the panel of a pipeline: parameters, Run in production, recent runs, promote.

        Widgets at a Jupyter kernel with ipywidgets; elsewhere (plain IPython, a run's notebook,
        nbconvert) static HTML with the equivalent ``nbpipe`` commands.

        Args:
            pipeline: A pipeline in ``nbpipe.yaml``; default: this run's pipeline, else the one
                whose notebook is open in JupyterLab.
        """
        from nbpipe.kernel.widgets import panel

        return panel(self.project, pipeline or self.pipeline)


_current: RunContext | None = None


def context(*, project_dir: str | Path | None = None, profile: str | None = None) -> RunContext:
    """Return the run context: the runner's when executed by nbpipe, else an explore sandbox."""
    global _current
    env = os.environ
    if _current is not None and project_dir is None and profile is None:
        return _current
    root = project_dir or env.get(ENV_PROJECT)
    project = load_project(project_dir=Path(root) if root else None, profile=profile or env.get(ENV_PROFILE))
    handoff = read_handoff(env)
    if handoff is not None:
        ctx = RunContext(project, mode=handoff.mode, run_id=handoff.run_id, run_dir=handoff.run_dir,
                         pipeline=handoff.pipeline or None, attempt=handoff.attempt, params=handoff.params)
        _report_errors_to_runner()
    else:
        session = f"session-{uuid.uuid4().hex[:8]}"
        run_dir = RunDir.explore(project.runs_dir, session).path
        ctx = RunContext(project, mode="explore", run_id=session, run_dir=run_dir, pipeline=None, attempt=1, params={})
    _current = ctx
    return ctx


def _report_errors_to_runner() -> None:
    """In a kernel run by nbpipe, record the class of every ``NbpipeError`` a cell raises.

    The runner learns a failed cell's exception only by its bare class name (``ename``); a library's
    own ``StoreError`` or ``DatasetError`` has the same name as nbpipe's. The ``error_raised``
    event, written here with the module-qualified class, is what lets the runner map an error back
    to its nbpipe class (and exit code) only when nbpipe's class was really raised. The traceback is
    shown exactly as IPython shows it otherwise.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - ipykernel always has IPython
        return
    shell = get_ipython()
    if shell is None or NbpipeError in shell.custom_exceptions:
        return

    def on_error(shell: Any, etype: type[BaseException], value: BaseException, tb: Any,
                 tb_offset: int | None = None) -> None:
        with contextlib.suppress(Exception):  # reporting must never hide the error itself
            if _current is not None:
                _current.log.emit(events.ERROR_RAISED, error_class=f"{etype.__module__}.{etype.__qualname__}")
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)

    shell.set_custom_exc((NbpipeError,), on_error)


def reset() -> None:
    """Forget the cached context (tests, or after changing ``NBPIPE_*`` variables)."""
    global _current
    _current = None
