"""What ``nbpipe airflow export`` writes, decided from ``nbpipe.yaml`` and nbpipe's DAG.

Splitting rule: one Airflow DAG per schedule. Pipelines whose ``schedule:`` means the same cron
(``@daily``, ``@midnight`` and ``0 0 * * *`` are one schedule) share a DAG, with one task per
pipeline and a task edge wherever nbpipe's DAG (``core.dag``: reads/writes and ``depends_on``)
has an edge inside it. An edge between pipelines on different schedules is no task edge: the
upstream task lists the datasets it writes as ``outlets`` and the downstream task the datasets it
reads as ``inlets`` (Airflow ``Asset``s), so the dependency shows in Airflow's lineage and other
DAGs can be scheduled on those assets; each side keeps its own schedule. Pipelines without a
``schedule:`` are not exported (run them with ``nbpipe run`` or ``nbpipe dag run``).

Every task runs ``nbpipe run PIPELINE -p PARAM={{ ds }} --retries 0``: Airflow owns the retries
(the pipeline's ``retries``, ``retry_delay_s`` and nbpipe's doubling backoff), so nbpipe's own
never multiply with them. Exit codes whose every error class is not retryable
(:attr:`nbpipe.errors.NbpipeError.retryable`) fail the task at once. A try's ``execution_timeout``
is the pipeline's ``timeout_s`` plus :data:`TIMEOUT_GRACE_S`: nbpipe stops the run at ``timeout_s``
itself and records it (exit 12, retried); Airflow's kill is only the backstop.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from nbpipe.core import dag as nbdag
from nbpipe.core.config import PipelineConfig, Project
from nbpipe.core.layout import dataset_config, dataset_root
from nbpipe.core.schedule import PRESETS, cron_of
from nbpipe.errors import ConfigError, NbpipeError, did_you_mean

#: Seconds Airflow waits beyond ``timeout_s`` before it kills a try (nbpipe's start and record).
TIMEOUT_GRACE_S = 60.0
#: Dataset formats without a file location of their own (their Asset URI names the project).
_NOT_FILES = frozenset({"jdbc", "kafka"})
_CRON_CHARS = str.maketrans({"*": "x", "/": "-", ",": ".", "?": "q", "#": "h", "@": ""})
SCHEDULE_PARAM_FIX = (
    "declare the date parameter in nbpipe.yaml, e.g. params: {{run_date: {{type: date}}}}, "
    "or name the parameter Airflow fills with the run's date: schedule_param: <name> under pipelines.{name}"
)


@dataclass(frozen=True)
class AssetRef:
    """One dataset as an Airflow ``Asset``."""

    name: str
    uri: str


@dataclass(frozen=True)
class TaskPlan:
    """One pipeline as one task."""

    pipeline: str
    param: str
    command: list[str]  # the argv before ``-p PARAM={{ ds }}``
    retries: int
    retry_delay_s: float
    timeout_s: float | None  # Airflow's execution_timeout: the pipeline's timeout_s + TIMEOUT_GRACE_S
    inlets: list[AssetRef]
    outlets: list[AssetRef]
    upstream: list[str]  # tasks of the same DAG


@dataclass
class DagPlan:
    """One DAG file: the pipelines that share a schedule."""

    dag_id: str
    schedule: str
    project: str
    project_dir: str
    nbpipe_bin: str
    tasks: list[TaskPlan] = field(default_factory=list)


def exit_codes() -> tuple[dict[int, str], frozenset[int]]:
    """Every exit code of :mod:`nbpipe.errors` with its class names, and the codes never worth a retry."""
    names: dict[int, list[str]] = {}
    retry: dict[int, bool] = {}
    stack: list[type[NbpipeError]] = [NbpipeError]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__ != NbpipeError.__module__:
            continue
        names.setdefault(cls.exit_code, []).append(cls.__name__)
        retry[cls.exit_code] = retry.get(cls.exit_code, False) or cls.retryable
    described = {code: "/".join(sorted(names[code])) for code in sorted(names)}
    return described, frozenset(code for code, again in retry.items() if not again)


def schedule_param(project: Project, name: str, cfg: PipelineConfig) -> str:
    """The parameter Airflow fills with ``{{ ds }}``.

    ``schedule_param`` when set; else the pipeline's one ``type: date`` parameter; else the one
    named ``run_date`` (in nbpipe.yaml or the notebook's parameters cell).

    Raises:
        ConfigError: the parameter is unknown, ambiguous or missing; the message names the pipeline
            and the fix.
    """
    if cfg.schedule_param is not None:
        declared = set(cfg.params) | _notebook_params(project, name, cfg)
        if cfg.schedule_param not in declared:
            raise ConfigError(
                f"pipelines.{name}.schedule_param names {cfg.schedule_param!r}, which is not a parameter of "
                f"the pipeline{did_you_mean(cfg.schedule_param, declared)}",
                hint="name a parameter declared under params: or in the notebook's parameters cell",
            )
        return cfg.schedule_param
    dates = sorted(p for p, spec in cfg.params.items() if spec.type == "date")
    if len(dates) == 1:
        return dates[0]
    if len(dates) > 1:
        raise ConfigError(
            f"pipeline {name!r} is scheduled ({cfg.schedule}) and has several date parameters "
            f"({', '.join(dates)}): which one gets the run's date is ambiguous",
            hint=f"set pipelines.{name}.schedule_param to one of {', '.join(dates)}",
        )
    if "run_date" in cfg.params or "run_date" in _notebook_params(project, name, cfg):
        return "run_date"
    raise ConfigError(
        f"pipeline {name!r} is scheduled ({cfg.schedule}) but has no date parameter for the scheduler to fill",
        hint=SCHEDULE_PARAM_FIX.format(name=name),
    )


def _notebook_params(project: Project, name: str, cfg: PipelineConfig) -> set[str]:
    from nbpipe.run import engine

    nb = engine.read_notebook(project.notebook_path(name, cfg))
    return {p.name for p in engine.inspect_parameters(nb, cfg.kernel)}


def dag_id(project: str, schedule: str) -> str:
    """``<project>_<schedule>``: ``flights_daily``, ``flights_cron_30_6_x_x_1-5``."""
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", project) or "nbpipe"
    text = " ".join(schedule.split())
    slug = text[1:] if text in PRESETS else "cron_" + text.translate(_CRON_CHARS).replace(" ", "_")
    return f"{base}_{re.sub(r'[^A-Za-z0-9_.-]', '_', slug)}"


def asset(project: Project, dataset: str) -> AssetRef:
    """The Airflow asset of a dataset: its location as a ``file://`` URI, named ``<project>.<dataset>``."""
    cfg = dataset_config(project, dataset)
    name = f"{project.config.project}.{dataset}"
    if cfg.format in _NOT_FILES:
        return AssetRef(name=name, uri=f"nbpipe://{project.config.project}/{dataset}")
    return AssetRef(name=name, uri=dataset_root(project, dataset, cfg).as_uri())


def build(
    project: Project, only: Iterable[str] = (), *, nbpipe_bin: str, profile: str | None = None
) -> list[DagPlan]:
    """The DAG files for the scheduled pipelines (or the ones in ``only``), ordered by DAG id.

    Raises:
        ConfigError: a named pipeline is unknown or has no schedule; a scheduled pipeline has no
            parameter to fill with the run's date; nbpipe's DAG has a cycle.
    """
    pipelines = project.config.pipelines
    deps = nbdag.dependencies(pipelines)
    order = nbdag.order(pipelines)  # raises on a cycle
    selected = list(dict.fromkeys(only))
    for name in selected:
        if name not in pipelines:
            raise ConfigError(f"unknown pipeline {name!r}{did_you_mean(name, pipelines)}")
        if pipelines[name].schedule is None:
            raise ConfigError(
                f"pipeline {name!r} has no schedule, so there is nothing to export to Airflow",
                hint=f'add schedule: "@daily" (or cron, e.g. "30 6 * * 1-5") under pipelines.{name}',
            )
    wanted = set(selected) or {n for n, cfg in pipelines.items() if cfg.schedule is not None}
    groups: dict[str, list[str]] = {}
    for name in order:
        if name in wanted:
            groups.setdefault(cron_of(str(pipelines[name].schedule)), []).append(name)
    argv = [nbpipe_bin, "run"]
    suffix = ["--project", str(project.root)] + (["--profile", profile] if profile else [])
    plans: dict[str, DagPlan] = {}
    for members in groups.values():
        shown = next((s for s in (pipelines[n].schedule for n in members) if s in PRESETS), None)
        schedule = " ".join(str(shown or pipelines[members[0]].schedule).split())
        plan = DagPlan(
            dag_id=dag_id(project.config.project, schedule),
            schedule=schedule,
            project=project.config.project,
            project_dir=str(project.root),
            nbpipe_bin=nbpipe_bin,
        )
        if plan.dag_id in plans:  # two cron texts that differ only in characters a DAG id cannot hold
            plan.dag_id = f"{plan.dag_id}_{len(plans) + 1}"
        for name in members:
            cfg = pipelines[name]
            plan.tasks.append(
                TaskPlan(
                    pipeline=name,
                    param=schedule_param(project, name, cfg),
                    command=[*argv, name, *suffix, "--retries", "0"],
                    retries=cfg.retries,
                    retry_delay_s=cfg.retry_delay_s,
                    timeout_s=None if cfg.timeout_s is None else cfg.timeout_s + TIMEOUT_GRACE_S,
                    inlets=[asset(project, d) for d in cfg.reads],
                    outlets=[asset(project, d) for d in cfg.writes],
                    upstream=sorted(d for d in deps[name] if d in members),
                )
            )
        plans[plan.dag_id] = plan
    return [plans[k] for k in sorted(plans)]
