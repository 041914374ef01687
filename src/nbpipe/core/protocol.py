"""The runner↔kernel protocol: what the runner process hands the notebook's kernel, in one place.

A production run is two processes. The runner (``nbpipe run``) resolves parameters, builds the
kernel's environment with :func:`kernel_env` and starts the kernel through papermill; inside the
kernel :func:`read_handoff` turns that environment back into a :class:`Handoff`, from which
``nbpipe.context()`` builds its ``RunContext``. The kernel answers only through the run's event log
(:mod:`nbpipe.core.events`) and the files named by :mod:`nbpipe.core.layout`.

Every ``NBPIPE_*`` variable either side reads is named here. :class:`RunScope` is the narrow view of
a run that the kernel-side data plane (``nbpipe.data``, ``nbpipe.quality``) types against, so that it
never depends on the facade (``nbpipe.kernel.context.RunContext``) that calls it (dlt's
``SupportsPipeline`` pattern).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from nbpipe.errors import StateError

if TYPE_CHECKING:  # pragma: no cover
    from nbpipe.core.config import Project
    from nbpipe.core.events import EventLog

Mode = Literal["explore", "prod"]

# ---- set by the runner for the kernel (and documented for users where marked)
ENV_PROJECT = "NBPIPE_PROJECT"
ENV_PROFILE = "NBPIPE_PROFILE"  # documented: the default profile of every command
ENV_MODE = "NBPIPE_MODE"
ENV_RUN_ID = "NBPIPE_RUN_ID"
ENV_RUN_DIR = "NBPIPE_RUN_DIR"
ENV_PIPELINE = "NBPIPE_PIPELINE"
ENV_ATTEMPT = "NBPIPE_ATTEMPT"
ENV_PARAMS = "NBPIPE_PARAMS"
ENV_SECRET_PREFIX = "NBPIPE_SECRET_"  # + parameter name: one variable per secret, never in NBPIPE_PARAMS
ENV_STATE = "NBPIPE_STATE"  # file with the pipeline's committed incremental positions
ENV_RESUME = "NBPIPE_RESUME_SNAPSHOT"  # file with the ranges of the failed run being resumed
ENV_BACKFILL_DAY = "NBPIPE_BACKFILL_DAY"  # the day (YYYY-MM-DD) a backfill run re-processes
# ---- set by users or by `nbpipe spark start` / `nbpipe demo`
ENV_SPARK_REMOTE = "NBPIPE_SPARK_REMOTE"  # documented: Spark Connect URL overriding the profile
ENV_SPARK_MASTER = "NBPIPE_SPARK_MASTER"  # documented: Spark master overriding the profile
# ---- tests only
ENV_FAILPOINT = "NBPIPE_FAILPOINT"

ALL_VARIABLES = (ENV_PROJECT, ENV_PROFILE, ENV_MODE, ENV_RUN_ID, ENV_RUN_DIR, ENV_PIPELINE, ENV_ATTEMPT,
                 ENV_PARAMS, ENV_STATE, ENV_RESUME, ENV_BACKFILL_DAY, ENV_SPARK_REMOTE, ENV_SPARK_MASTER, ENV_FAILPOINT)


@dataclass(frozen=True)
class Handoff:
    """What the runner tells one attempt's kernel (the decoded ``NBPIPE_*`` environment)."""

    project_dir: Path
    profile: str
    mode: Mode
    run_id: str
    run_dir: Path
    pipeline: str
    attempt: int
    params: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, Any] = field(default_factory=dict)
    state_file: Path | None = None
    resume_file: Path | None = None
    backfill_day: str | None = None  # one day of ``nbpipe backfill``: ctx.incremental reads that day's files


def kernel_env(handoff: Handoff, base: Mapping[str, str], *, python: str) -> dict[str, str]:
    """The environment of a kernel that runs one attempt (``base`` plus the handoff variables).

    Secret parameters travel one variable each (``NBPIPE_SECRET_<name>``), never in ``NBPIPE_PARAMS``;
    Spark workers get this interpreter and the loopback address unless ``base`` says otherwise.
    """
    env = dict(base)
    env.update({
        ENV_PROJECT: str(handoff.project_dir),
        ENV_PROFILE: handoff.profile,
        ENV_MODE: handoff.mode,
        ENV_RUN_ID: handoff.run_id,
        ENV_RUN_DIR: str(handoff.run_dir),
        ENV_PIPELINE: handoff.pipeline,
        ENV_ATTEMPT: str(handoff.attempt),
        ENV_PARAMS: json.dumps({k: v for k, v in handoff.params.items() if k not in handoff.secrets}),
        "PYSPARK_PYTHON": env.get("PYSPARK_PYTHON", python),
        "SPARK_LOCAL_IP": env.get("SPARK_LOCAL_IP", "127.0.0.1"),
    })
    env.pop(ENV_RESUME, None)
    env.pop(ENV_BACKFILL_DAY, None)
    if handoff.backfill_day is not None:
        env[ENV_BACKFILL_DAY] = handoff.backfill_day
    if handoff.state_file is not None:
        env[ENV_STATE] = str(handoff.state_file)
    if handoff.resume_file is not None:
        env[ENV_RESUME] = str(handoff.resume_file)
    for name, value in handoff.secrets.items():
        env[secret_variable(name)] = json.dumps(value)
    return env


def secret_variable(name: str) -> str:
    """The variable that carries secret parameter ``name`` to the kernel."""
    return f"{ENV_SECRET_PREFIX}{name}"


def read_handoff(env: Mapping[str, str]) -> Handoff | None:
    """The runner's handoff from a kernel's environment, or None outside a run (explore in JupyterLab)."""
    if not (env.get(ENV_RUN_ID) and env.get(ENV_RUN_DIR)):
        return None
    params = json.loads(env.get(ENV_PARAMS, "{}"))
    secrets = {key[len(ENV_SECRET_PREFIX):]: json.loads(value)
               for key, value in env.items() if key.startswith(ENV_SECRET_PREFIX)}
    return Handoff(
        project_dir=Path(env.get(ENV_PROJECT, ".")),
        profile=env.get(ENV_PROFILE, ""),
        mode="prod" if env.get(ENV_MODE, "prod") == "prod" else "explore",
        run_id=env[ENV_RUN_ID],
        run_dir=Path(env[ENV_RUN_DIR]),
        pipeline=env.get(ENV_PIPELINE, ""),
        attempt=int(env.get(ENV_ATTEMPT, "1")),
        params={**params, **secrets},
        secrets=secrets,
        state_file=Path(env[ENV_STATE]) if env.get(ENV_STATE) else None,
        resume_file=Path(env[ENV_RESUME]) if env.get(ENV_RESUME) else None,
        backfill_day=env.get(ENV_BACKFILL_DAY) or None,
    )


def handoff_json(variable: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The JSON object in the file named by ``variable`` (``{}`` when unset: explore mode).

    Raises:
        StateError: the file is missing, unreadable or not a JSON object.
    """
    path = (os.environ if env is None else env).get(variable)
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StateError(
            f"{variable} points to {path}, which does not exist",
            hint="run the notebook through `nbpipe run`, or unset the variable to read in explore mode",
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise StateError(f"cannot read {variable} file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise StateError(f"{variable} file {path} must hold a JSON object {{dataset: ...}}")
    return data


class RunScope(Protocol):
    """The view of one run that the kernel-side data plane needs (``RunContext`` satisfies it)."""

    project: Project
    mode: Mode
    run_id: str
    run_dir: Path
    pipeline: str | None
    attempt: int
    log: EventLog

    @property
    def is_prod(self) -> bool: ...

    @property
    def staging_dir(self) -> Path: ...

    @property
    def spark(self) -> Any: ...
