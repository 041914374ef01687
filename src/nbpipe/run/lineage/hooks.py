"""The runner's entry points into lineage; they import ``openlineage`` only when lineage is on."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbpipe.core import events as ev
from nbpipe.core.config import Project
from nbpipe.core.masking import Masker
from nbpipe.run.lineage import outbox
from nbpipe.run.lineage.settings import resolve

if TYPE_CHECKING:  # pragma: no cover
    from nbpipe.run.lineage.emitter import LineageRun


def check(project: Project) -> None:
    """Raise :class:`~nbpipe.errors.ConfigError` now if the lineage configuration is unusable."""
    resolve(project)


def start(project: Project, *, pipeline: str, run_id: str, run_dir: Path, notebook: Path, params: dict[str, Any],
          masker: Masker, started: dt.datetime, backfill_id: str | None = None,
          log: ev.EventLog | None = None, mode: str = "prod", dag_run_id: str | None = None) -> LineageRun | None:
    """Emit the run's START (see :func:`nbpipe.run.lineage.emitter.start`); None when lineage is off.

    Lineage never fails a run: if the START cannot even be written, the run goes on without
    lineage and ``log`` gets a warning saying why. Explore runs (``nbpipe run --explore``) emit nothing.
    """
    if mode != "prod" or resolve(project) is None:
        return None
    try:
        from nbpipe.run.lineage import emitter

        return emitter.start(project, pipeline=pipeline, run_id=run_id, run_dir=run_dir, notebook=notebook,
                             params=params, masker=masker, started=started, backfill_id=backfill_id,
                             dag_run_id=dag_run_id)
    except Exception as exc:
        if log is not None:
            log.emit(ev.LOG, level="warning",
                     message="OpenLineage events are not emitted for this run: " + _reason(exc))
        return None


def close_orphan(project: Project, run_dir: Path, *, published: bool, ended: dt.datetime) -> bool:
    """Queue the ABORT (or COMPLETE, if it published) of a killed run that emitted START."""
    if not outbox.read_identity(run_dir):
        return False
    from nbpipe.run.lineage import emitter

    return emitter.close_orphan(project, run_dir, published=published, ended=ended)


def _reason(exc: BaseException) -> str:
    """An exception as text safe to record: an OS error's text, else only its class (it may quote a URL)."""
    return f"{type(exc).__name__}: {exc}" if isinstance(exc, OSError) else type(exc).__name__
