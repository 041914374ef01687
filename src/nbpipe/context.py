"""The in-kernel API: ``nbpipe.context()`` and the ``RunContext`` a notebook works with.

The context learns everything from the environment the runner sets (``NBPIPE_*``) and reports
back only through the run's event log. Outside a run (a person in JupyterLab) it is in explore
mode with the ``dev`` profile, and its event log lives in a sandbox under ``runs/_explore/``.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nbpipe import events
from nbpipe.config import Project, check_name, load_project
from nbpipe.errors import NbpipeError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

Mode = Literal["explore", "prod"]

ENV_RUN_ID = "NBPIPE_RUN_ID"
ENV_RUN_DIR = "NBPIPE_RUN_DIR"
ENV_MODE = "NBPIPE_MODE"
ENV_PROFILE = "NBPIPE_PROFILE"
ENV_PROJECT = "NBPIPE_PROJECT"
ENV_PIPELINE = "NBPIPE_PIPELINE"
ENV_ATTEMPT = "NBPIPE_ATTEMPT"
ENV_PARAMS = "NBPIPE_PARAMS"
ENV_SECRET_PREFIX = "NBPIPE_SECRET_"


class RunContext:
    """What a notebook sees of nbpipe: mode, params, Spark, datasets, checks, metrics."""

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
        return self.run_dir / "staging"

    @cached_property
    def spark(self) -> SparkSession:
        """The SparkSession of the active profile (local, standalone master or Spark Connect)."""
        from nbpipe.spark import get_session

        return get_session(self.project)

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

    def read(self, name: str, **kwargs: Any) -> Any:
        """Read a dataset: inferred schema in explore mode, contract-enforced in prod."""
        from nbpipe.catalog import read_dataset

        return read_dataset(self, name, **kwargs)

    def write(self, df: Any, name: str, **kwargs: Any) -> Any:
        """Write a dataset: sandboxed in explore mode, staged for atomic publish in prod."""
        from nbpipe.catalog import write_dataset

        return write_dataset(self, df, name, **kwargs)

    def check(self, df: Any, suite: str, **kwargs: Any) -> Any:
        """Run a quality checkpoint: inline result in explore mode, a gate in prod."""
        from nbpipe.quality import run_checkpoint

        return run_checkpoint(self, df, suite, **kwargs)

    def incremental(self, name: str, **kwargs: Any) -> Any:
        """Read only what no successful run of this pipeline has processed yet."""
        from nbpipe.incremental import read_incremental

        return read_incremental(self, name, **kwargs)


_current: RunContext | None = None


def context(*, project_dir: str | Path | None = None, profile: str | None = None) -> RunContext:
    """Return the run context: the runner's when executed by nbpipe, else an explore sandbox."""
    global _current
    env = os.environ
    if _current is not None and project_dir is None and profile is None:
        return _current
    root = project_dir or env.get(ENV_PROJECT)
    project = load_project(project_dir=Path(root) if root else None, profile=profile or env.get(ENV_PROFILE))
    if env.get(ENV_RUN_ID) and env.get(ENV_RUN_DIR):
        params = json.loads(env.get(ENV_PARAMS, "{}"))
        for key, value in env.items():
            if key.startswith(ENV_SECRET_PREFIX):
                params[key[len(ENV_SECRET_PREFIX) :]] = json.loads(value)
        mode: Mode = "prod" if env.get(ENV_MODE, "prod") == "prod" else "explore"
        ctx = RunContext(
            project,
            mode=mode,
            run_id=env[ENV_RUN_ID],
            run_dir=Path(env[ENV_RUN_DIR]),
            pipeline=env.get(ENV_PIPELINE),
            attempt=int(env.get(ENV_ATTEMPT, "1")),
            params=params,
        )
    else:
        session = f"session-{uuid.uuid4().hex[:8]}"
        ctx = RunContext(
            project,
            mode="explore",
            run_id=session,
            run_dir=project.runs_dir / "_explore" / session,
            pipeline=None,
            attempt=1,
            params={},
        )
    _current = ctx
    return ctx


def reset() -> None:
    """Forget the cached context (tests, or after changing ``NBPIPE_*`` variables)."""
    global _current
    _current = None
