"""``nbpipe airflow export``: Airflow 3 DAG files for the scheduled pipelines of a project.

:mod:`.plan` decides the DAGs (one per schedule), their tasks, assets and exit-code policy from
``nbpipe.yaml`` and nbpipe's DAG; :mod:`.render` turns each into a Python file that imports only
Airflow (``dag.py.jinja``) and writes it.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nbpipe.core.config import Project
from nbpipe.errors import ConfigError
from nbpipe.ops.airflow import plan as _plan
from nbpipe.ops.airflow import render as _render

__all__ = ["Exported", "export", "nbpipe_executable"]


@dataclass(frozen=True)
class Exported:
    """What an export wrote: per DAG file, its DAG id and its pipelines; the stale files it removed."""

    files: list[tuple[Path, str, list[str]]]
    removed: list[Path]
    unscheduled: list[str]


def nbpipe_executable(given: str | None = None) -> str:
    """The absolute path of the ``nbpipe`` command the tasks run: ``given``, else the one running now.

    Raises:
        ConfigError: ``given`` (``--nbpipe-bin``) is not an executable file, or none can be found.
    """
    if given is not None:
        found = shutil.which(given)
        if found is None:
            raise ConfigError(
                f"--nbpipe-bin {given!r} is not an executable file",
                hint="pass the absolute path of the nbpipe command Airflow's workers run, e.g. /opt/venv/bin/nbpipe",
            )
        return os.path.abspath(found)
    beside = Path(sys.executable).parent / "nbpipe"  # the console script of this interpreter's environment
    if beside.is_file() and os.access(beside, os.X_OK):
        return os.path.abspath(beside)
    found = shutil.which("nbpipe")
    if found is None:
        raise ConfigError(
            "cannot tell where the nbpipe command is installed",
            hint="pass it with --nbpipe-bin /path/to/venv/bin/nbpipe",
        )
    return os.path.abspath(found)


def export(
    project: Project,
    out: Path,
    only: Iterable[str] = (),
    *,
    nbpipe_bin: str | None = None,
    profile: str | None = None,
) -> Exported:
    """Write the DAG files of ``project``'s scheduled pipelines (or of ``only``) into ``out``.

    Nothing is written unless every DAG could be planned and rendered. A full export (no
    ``only``) also removes the files an earlier export of this project wrote for schedules no
    pipeline uses any more.
    """
    selected = list(only)
    plans = _plan.build(project, selected, nbpipe_bin=nbpipe_executable(nbpipe_bin), profile=profile)
    written, removed = _render.write(plans, out, project=project.config.project, prune=not selected)
    by_path = {out / f"{p.dag_id}.py": p for p in plans}
    unscheduled = [] if selected else sorted(n for n, c in project.config.pipelines.items() if c.schedule is None)
    return Exported(
        files=[(path, by_path[path].dag_id, [t.pipeline for t in by_path[path].tasks]) for path in written],
        removed=removed,
        unscheduled=unscheduled,
    )
