"""The Airflow export's plan: DAGs per schedule, the date parameter, assets and the exit-code policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nbpipe import errors
from nbpipe.core.config import load_project
from nbpipe.errors import ConfigError
from nbpipe.ops.airflow import plan
from tests.support.projects import build_project

BIN = "/opt/venv/bin/nbpipe"
DATE = {"run_date": {"type": "date"}}


def project(root: Path, **pipelines: dict[str, Any]) -> Any:
    build_project(
        root,
        project="shop",
        datasets={"orders": {"format": "parquet"}, "raw": {"path": "landing/raw", "format": "csv"},
                  "events": {"format": "kafka"}, "daily": {"format": "parquet"}},
        pipelines=pipelines,
        notebooks=["ok"],
    )
    return load_project(project_dir=root)


def test_exit_codes_cover_every_error_class_and_retry_only_what_a_retry_can_fix() -> None:
    described, not_retried = plan.exit_codes()
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.NbpipeError)]
    for cls in classes:
        assert cls.__name__ in described[cls.exit_code].split("/")
    # A code is never retried only when every class with that code is deterministic: exit 10 is
    # shared by CellCodeError (deterministic) and CellExecutionError (transient), so it is retried.
    assert not_retried == {2, 3, 4, 6, 7, 8, 13, 130}
    assert all(not c.retryable for c in classes if c.exit_code in not_retried)
    assert all(any(c.retryable for c in classes if c.exit_code == code) for code in set(described) - not_retried)


def test_pipelines_on_one_schedule_share_a_dag_and_edges_across_schedules_become_assets(tmp_path: Path) -> None:
    proj = project(
        tmp_path,
        ingest={"notebook": "ok.ipynb", "params": DATE, "reads": ["raw"], "writes": ["orders"], "schedule": "@daily",
                "retries": 3, "retry_delay_s": 30, "timeout_s": 600},
        report={"notebook": "ok.ipynb", "params": DATE, "reads": ["orders"], "writes": ["daily"],
                "schedule": "0 0 * * *"},  # the same schedule as @daily, written as cron
        stream={"notebook": "ok.ipynb", "params": DATE, "reads": ["events", "daily"], "schedule": "*/15 * * * 1-5"},
        adhoc={"notebook": "ok.ipynb", "params": DATE, "reads": ["orders"]},  # no schedule: not exported
    )
    dags = plan.build(proj, nbpipe_bin=BIN, profile="prod")

    assert [(d.dag_id, d.schedule, [t.pipeline for t in d.tasks]) for d in dags] == [
        ("shop_cron_x-15_x_x_x_1-5", "*/15 * * * 1-5", ["stream"]),
        ("shop_daily", "@daily", ["ingest", "report"]),
    ]
    daily = {t.pipeline: t for t in dags[1].tasks}
    assert daily["report"].upstream == ["ingest"] and daily["ingest"].upstream == []
    ingest = daily["ingest"]
    assert (ingest.retries, ingest.retry_delay_s, ingest.param) == (3, 30.0, "run_date")
    assert ingest.timeout_s == 600 + plan.TIMEOUT_GRACE_S  # nbpipe times out first and records it
    assert daily["report"].timeout_s is None
    assert ingest.command == [BIN, "run", "ingest", "--project", str(proj.root), "--profile", "prod", "--retries", "0"]
    assert ingest.inlets == [plan.AssetRef("shop.raw", (proj.root / "landing" / "raw").as_uri())]
    assert ingest.outlets == [plan.AssetRef("shop.orders", (proj.warehouse / "orders").as_uri())]
    stream = dags[0].tasks[0]
    assert stream.upstream == []  # its upstream (report) is in another DAG: linked by the asset only
    assert stream.inlets == [plan.AssetRef("shop.events", "nbpipe://shop/events"),
                             plan.AssetRef("shop.daily", (proj.warehouse / "daily").as_uri())]


def test_the_date_parameter_is_the_declared_date_else_run_date_else_schedule_param(tmp_path: Path) -> None:
    proj = project(
        tmp_path,
        typed={"notebook": "ok.ipynb", "params": {"day": {"type": "date"}, "n": {"type": "int"}}, "schedule": "@daily"},
        from_notebook={"notebook": "ok.ipynb", "schedule": "@daily"},  # run_date is in the parameters cell
        named={"notebook": "ok.ipynb", "params": {"a": {"type": "date"}, "b": {"type": "date"}},
               "schedule": "@daily", "schedule_param": "b"},
        label={"notebook": "ok.ipynb", "schedule": "@daily", "schedule_param": "label"},  # a notebook parameter
    )
    pipes = proj.config.pipelines
    assert [plan.schedule_param(proj, n, pipes[n]) for n in ("typed", "from_notebook", "named", "label")] == [
        "day", "run_date", "b", "label"]


@pytest.mark.parametrize(
    ("pipeline", "message", "hint"),
    [
        ({"params": {"a": {"type": "date"}, "b": {"type": "date"}}},
         "pipeline 'p' is scheduled (@daily) and has several date parameters (a, b)",
         "set pipelines.p.schedule_param to one of a, b"),
        ({"notebook": "no_date.ipynb"},
         "pipeline 'p' is scheduled (@daily) but has no date parameter for the scheduler to fill",
         "schedule_param: <name> under pipelines.p"),
        ({"schedule_param": "run_dat"},
         "pipelines.p.schedule_param names 'run_dat', which is not a parameter of the pipeline "
         "(did you mean 'run_date'?)",
         "name a parameter declared under params"),
    ],
)
def test_a_schedule_without_a_date_parameter_to_fill_names_the_pipeline_and_the_fix(
    tmp_path: Path, pipeline: dict[str, Any], message: str, hint: str
) -> None:
    (tmp_path / "no_date.ipynb").write_text((Path(__file__).parents[2] / "notebooks" / "secret.ipynb").read_text())
    proj = project(tmp_path, p={"notebook": "ok.ipynb", "schedule": "@daily", **pipeline})
    with pytest.raises(ConfigError) as caught:
        plan.build(proj, nbpipe_bin=BIN)
    assert message in caught.value.message
    assert hint in str(caught.value.hint)


def test_named_pipelines_must_exist_and_be_scheduled(tmp_path: Path) -> None:
    proj = project(tmp_path, daily={"notebook": "ok.ipynb", "params": DATE, "schedule": "@daily"},
                   adhoc={"notebook": "ok.ipynb", "params": DATE})
    with pytest.raises(ConfigError, match=r"unknown pipeline 'dayly' \(did you mean 'daily'\?\)"):
        plan.build(proj, ["dayly"], nbpipe_bin=BIN)
    with pytest.raises(ConfigError, match="pipeline 'adhoc' has no schedule") as caught:
        plan.build(proj, ["adhoc"], nbpipe_bin=BIN)
    assert 'schedule: "@daily"' in str(caught.value.hint)
    assert [t.pipeline for d in plan.build(proj, ["daily"], nbpipe_bin=BIN) for t in d.tasks] == ["daily"]


def test_schedule_param_without_a_schedule_is_refused_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'schedule_param' needs a 'schedule'"):
        project(tmp_path, p={"notebook": "ok.ipynb", "schedule_param": "run_date"})


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [("@hourly", "shop_hourly"), ("30 6 * * 1-5", "shop_cron_30_6_x_x_1-5"),
     ("0  0 1,15 * *", "shop_cron_0_0_1.15_x_x")],
)
def test_dag_ids_are_readable_and_valid(schedule: str, expected: str) -> None:
    assert plan.dag_id("shop", schedule) == expected
