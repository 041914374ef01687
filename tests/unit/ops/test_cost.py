"""The cost model's arithmetic and ``cost_breakdown`` over a real SQLite store and real files on disk."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from nbpipe.core import costmodel
from nbpipe.core.config import load_project
from nbpipe.errors import ConfigError, ParameterError
from nbpipe.ops.cost import RUN_RECORDS, cost_breakdown, parse_since
from nbpipe.run.store import RunStore
from tests.support.projects import write_config

NOW = dt.datetime(2013, 2, 1, tzinfo=dt.UTC)
PRICE = 0.36  # per core-hour: 1 core-second = $0.0001


def _resources(ops: list[tuple[str, float]], overhead: float, cores: int | None, held: float) -> dict[str, Any]:
    return {"spark": {"attempts": [{
        "attempt": 1, "executor_cores": cores, "held_s": held,
        "ops": [{"op": "write", "dataset": d, "metrics": {"executor_run_time_s": s}} for d, s in ops],
        "cells": [{"cell": 5, "source": "df.count()", "metrics": {"executor_run_time_s": overhead}}],
    }]}}


def test_run_cost_splits_allocated_core_seconds_into_lines_that_add_up() -> None:
    cost = costmodel.run_cost(_resources([("big", 30.0), ("small", 2.0)], 3.0, 2, 50.0), duration_s=60.0,
                              core_hour_usd=PRICE, configured_cores=None, fallback_cores=8)
    got = {(line["line"], line.get("dataset")): line["core_s"] for line in cost["lines"]}
    assert got == {("operation", "big"): 30.0, ("operation", "small"): 2.0, ("notebook_overhead", None): 3.0,
                   ("idle_startup", None): 2 * 50.0 - 35.0, ("driver", None): 60.0}
    assert cost["allocated_core_s"] == 2 * 50.0 + 60.0 and cost["busy_core_s"] == 35.0
    assert cost["total_usd"] == pytest.approx(160.0 * 0.0001)
    assert sum(line["usd"] for line in cost["lines"]) == pytest.approx(cost["total_usd"])
    assert cost["executors"] == [{"attempt": 1, "cores": 2, "cores_from": "spark executors", "held_s": 50.0}]


def test_configured_cores_win_and_busy_time_never_makes_idle_negative() -> None:
    cluster = costmodel.run_cost(_resources([("big", 30.0)], 0.0, 2, 10.0), duration_s=10.0, core_hour_usd=PRICE,
                                 configured_cores=64, fallback_cores=2)
    assert cluster["executors"][0]["cores_from"] == "cost.profiles"
    assert cluster["allocated_core_s"] == 64 * 10.0 + 10.0
    busy = costmodel.run_cost(_resources([("big", 30.0)], 0.0, None, 10.0), duration_s=10.0, core_hour_usd=PRICE,
                              configured_cores=None, fallback_cores=1)
    [idle] = [line for line in busy["lines"] if line["line"] == "idle_startup"]
    assert idle["core_s"] == 0.0 and busy["allocated_core_s"] == 30.0 + 10.0
    no_spark = costmodel.run_cost({"spark": None}, duration_s=7.2, core_hour_usd=PRICE, configured_cores=None,
                                  fallback_cores=4)
    assert [line["line"] for line in no_spark["lines"]] == ["driver"]


@pytest.fixture
def project(tmp_path: Path) -> Any:
    root = write_config(
        tmp_path / "p", project="c", profiles={"dev": {}, "cluster": {"spark": {"master": "spark://h:7077"}}},
        datasets={"big": {"format": "parquet"}, "small": {"format": "parquet"}},
        pipelines={"load": {"notebook": "load.ipynb", "writes": ["big", "small"]},
                   "tiny": {"notebook": "tiny.ipynb", "writes": []}},
        cost={"core_hour_usd": PRICE, "gb_month_usd": 2.0, "profiles": {"cluster": {"cores": 16}}},
    )
    for rel, size in (("warehouse/big/part-0.parquet", 3 * 1024**2), ("warehouse/small/part-0.parquet", 1024),
                      ("warehouse/big__rejected/nbpipe_run_id=r1/part-0.parquet", 2048),
                      ("runs/load/r1/run.json", 512)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"\0" * size)
    return load_project(project_dir=root)


def _save(store: RunStore, run_id: str, pipeline: str, day: str, ops: list[tuple[str, float]],
          idle: float) -> None:
    lines = [{"line": "operation", "op": "write", "dataset": d, "core_s": s, "usd": s * 0.0001} for d, s in ops]
    lines.append({"line": "idle_startup", "core_s": idle, "usd": idle * 0.0001})
    lines.append({"line": "driver", "core_s": 0.0, "usd": 0.0})  # one per run: what runs are counted by
    store.save_run({"run_id": run_id, "pipeline": pipeline, "status": "succeeded", "started_at": f"{day}T06:00:00Z",
                    "cost": {"lines": lines}, "cost_usd": sum(x["usd"] for x in lines)}, [])


def test_cost_breakdown_by_pipeline_dataset_and_day_with_the_previous_period(project: Any) -> None:
    with RunStore(project.store_url) as store:
        _save(store, "r1", "load", "2013-01-20", [("big", 100.0), ("small", 1.0)], 10.0)
        _save(store, "r2", "load", "2013-01-25", [("big", 300.0), ("small", 1.0)], 10.0)
        _save(store, "r3", "tiny", "2013-01-25", [], 5.0)
        _save(store, "r0", "load", "2013-01-10", [("big", 50.0)], 10.0)  # the previous 14 days
        _save(store, "old", "load", "2012-12-01", [("big", 9999.0)], 0.0)  # outside both windows
        by_pipe = cost_breakdown(project, store, since="14d", by="pipeline", now=NOW)
        by_ds = cost_breakdown(project, store, since="14d", by="dataset", now=NOW)
        by_day = cost_breakdown(project, store, since="14d", by="day", now=NOW)
    load = {r.key: r for r in by_pipe.rows}["load"]
    assert (load.runs, load.core_s) == (2, 422.0) and load.compute_usd == pytest.approx(0.0422)
    assert load.previous_usd == pytest.approx(0.006 + load.storage_usd)
    assert by_pipe.compute_usd == pytest.approx(0.0427) == by_ds.compute_usd == by_day.compute_usd
    assert by_pipe.lines == pytest.approx({"operation": 0.0402, "idle_startup": 0.0025, "driver": 0.0})
    datasets = {r.key: r for r in by_ds.rows}
    assert datasets["big"].compute_usd == pytest.approx(0.04) and datasets["small"].compute_usd == pytest.approx(2e-4)
    assert (datasets["big"].runs, datasets["small"].runs) == (2, 2)  # operations on the dataset
    assert datasets["(idle / start-up)"].compute_usd == pytest.approx(0.0025)
    assert datasets["big"].storage_bytes == 3 * 1024**2 + 2048  # the dataset and its quarantine
    assert datasets[RUN_RECORDS].storage_bytes == 512
    assert datasets["big"].storage_usd == pytest.approx((3 * 1024**2 + 2048) / 1024**3 * 2.0 * 14 / 30)
    assert [r.key for r in by_day.rows] == ["2013-01-25", "2013-01-20", "2013-01-10"]
    assert by_day.rows[-1].compute_usd == 0 and by_day.rows[-1].previous_usd == pytest.approx(0.006)
    assert by_pipe.movers()[0].key == "load"
    assert by_pipe.total_usd == pytest.approx(by_pipe.compute_usd + by_pipe.storage_usd)
    doc = by_ds.to_dict()
    assert doc["prices"] == {"core_hour_usd": PRICE, "gb_month_usd": 2.0}
    assert all("quantity" in s and "gb_month_usd" in s for s in doc["storage"])


def test_bad_input_names_the_flag_or_key(project: Any, tmp_path: Path) -> None:
    for bad in ("soon", "0d", "-3d", ""):
        with pytest.raises(ParameterError, match="--since") as err:
            parse_since(bad)
        assert err.value.exit_code == 3 and "--since 30d" in str(err.value.hint)
    with RunStore(project.store_url) as store, pytest.raises(ParameterError, match="--by 'week'"):
        cost_breakdown(project, store, by="week")
    for cost, needle in (({"core_hour_usd": -0.1}, "cost.core_hour_usd"),
                         ({"gb_month_usd": -1}, "cost.gb_month_usd"),
                         ({"profiles": {"dev": {"core_hour_usd": -2}}}, "cost.profiles.dev.core_hour_usd"),
                         ({"profiles": {"dev": {"cores": 0}}}, "cost.profiles.dev.cores"),
                         ({"profiles": {"clustr": {"cores": 8}}}, "did you mean 'cluster'")):
        root = write_config(tmp_path / "bad", profiles={"dev": {}, "cluster": {}}, cost=cost)
        with pytest.raises(ConfigError, match=needle.replace(".", r"\.").replace("'", ".")):
            load_project(project_dir=root)


def test_a_cluster_profile_is_priced_for_its_own_cores(project: Any) -> None:
    cluster = load_project(project_dir=project.root, profile="cluster")
    assert cluster.spark_cores == 16 and cluster.config.cost.rate("cluster") == (PRICE, 16)
    assert project.config.cost.rate("dev") == (PRICE, None)
