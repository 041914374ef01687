"""The lineage block, the client's standard configuration, OpenLineage dataset names and plan parsing."""

from __future__ import annotations

from pathlib import Path

import pytest
from openlineage.client.naming import dataset as ol_naming

from nbpipe.core.config import load_project
from nbpipe.core.lineage_names import dataset_name, jdbc_name, kafka_name
from nbpipe.data.column_lineage import parse
from nbpipe.errors import ConfigError, DatasetError
from nbpipe.run.lineage import jobinfo as build
from nbpipe.run.lineage.settings import resolve, resolved_transport
from tests.support.cli import run_cli
from tests.support.projects import load, write_config

CLEAN = {"OPENLINEAGE_URL": "", "OPENLINEAGE_CONFIG": "", "OPENLINEAGE_DISABLED": ""}


@pytest.mark.parametrize(("block", "says"), [
    ({"transport": {"type": "http"}}, "lineage.transport: the http transport needs url"),
    ({"transport": {"type": "http", "url": "ftp://x"}}, "is not an http(s) URL"),
    ({"transport": {"type": "http", "url": "http://h", "topic": "t"}}, "topic do not belong to the http transport"),
    ({"transport": {"type": "kafka", "topic": "t", "config": {"acks": "all"}}}, "needs config: {bootstrap.servers"),
    ({"transport": {"type": "s3"}}, "lineage.transport.type"),
    ({"transprot": {"type": "console"}}, "did you mean 'transport'"),
    ({"namespace": "has space"}, "lineage.namespace"),
])
def test_bad_lineage_block_names_the_key(tmp_path: Path, block: dict, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, project="p", lineage=block)
    assert says in caught.value.message


def test_bad_lineage_block_exits_2_without_a_traceback(tmp_path: Path) -> None:
    write_config(tmp_path, project="p", lineage={"transport": {"type": "http", "url": "nope"}})
    out = run_cli(tmp_path, "run", "anything")
    assert out.returncode == 2 and "lineage.transport" in out.stderr and "Traceback" not in out.stderr
    write_config(tmp_path / "off", project="p")
    off = run_cli(tmp_path / "off", "lineage", "flush", env=CLEAN)
    assert off.returncode == 2 and "lineage is off" in off.stderr


def test_off_by_default_and_the_standard_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    project = load(tmp_path / "a", project="flights")
    assert resolve(project, CLEAN) is None
    by_url = resolve(project, {**CLEAN, "OPENLINEAGE_URL": "http://u:p@ol:5000", "OPENLINEAGE_API_KEY": "k"})
    assert by_url is not None and by_url.namespace == "flights"
    assert by_url.endpoint == "http://ol:5000/api/v1/lineage"  # no credentials
    assert by_url.transport["auth"] == {"type": "api_key", "apiKey": "env:OPENLINEAGE_API_KEY"}
    assert resolved_transport(by_url.transport, {"OPENLINEAGE_API_KEY": "k"})["auth"]["apiKey"] == "k"
    (tmp_path / "a" / "openlineage.yml").write_text("transport: {type: file, log_file_path: /tmp/ol.json}\n")
    by_file = resolve(project, CLEAN)
    assert by_file is not None and by_file.transport["type"] == "file"
    (tmp_path / "a" / "openlineage.yml").write_text("transport: {type: file}\n")
    with pytest.raises(ConfigError, match="needs log_file_path"):
        resolve(project, CLEAN)
    assert resolve(project, {**CLEAN, "OPENLINEAGE_DISABLED": "true"}) is None
    with pytest.raises(ConfigError, match=r"lineage\.enabled is true"):
        resolve(load(tmp_path / "b", project="p", lineage={"enabled": True}), CLEAN)
    off = load(tmp_path / "c", project="p", lineage={"enabled": False, "transport": {"type": "console"}})
    assert resolve(off, {**CLEAN, "OPENLINEAGE_URL": "http://x"}) is None
    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE"):
        resolved_transport({"type": "http", "auth": {"type": "api_key", "apiKey": "env:NOT_SET_ANYWHERE"}}, {})


def test_names_follow_the_openlineage_naming_helpers(tmp_path: Path) -> None:
    project = load(tmp_path, project="p", datasets={
        "raw": {"path": "landing/raw", "format": "csv"},
        "events": {"format": "kafka", "options": {"bootstrap.servers": "b1:9092,b2:9092", "topic": "clicks"}},
        "orders": {"format": "jdbc", "options": {"url": "jdbc:postgresql://db.local:5433/shop?user=x",
                                                 "dbtable": "sales.orders"}},
        "bad": {"format": "jdbc", "options": {"url": "jdbc:postgresql:///shop", "dbtable": "(select 1) q"}},
        "flights": {"format": "parquet"},
    })
    raw = dataset_name(project, "raw")
    local = ol_naming.LocalFileSystem(path=str(tmp_path.resolve() / "landing" / "raw"))
    assert (raw.namespace, raw.name) == (local.get_namespace(), local.get_name())
    assert dataset_name(project, "flights").name == str(project.warehouse / "flights")
    kafka = ol_naming.Kafka(bootstrap_server_host="b1", port="9092", topic="clicks")
    assert dataset_name(project, "events").as_dict() == {"namespace": kafka.get_namespace(), "name": "clicks"}
    pg = ol_naming.Postgres(host="db.local", port="5433", database="shop", schema="sales", table="orders")
    assert dataset_name(project, "orders").as_dict() == {"namespace": pg.get_namespace(), "name": pg.get_name()}
    default_port = jdbc_name("jdbc:postgresql://h/db", "t")
    assert default_port.as_dict() == {"namespace": "postgres://h:5432", "name": "db.public.t"}
    assert jdbc_name("jdbc:mysql://h:3306/db", "t").name == "db.t"
    with pytest.raises(DatasetError, match="gives no OpenLineage name"):
        dataset_name(project, "bad")
    with pytest.raises(DatasetError, match=r"bootstrap\.servers"):
        kafka_name("nohost", "t", "x")


def test_parent_ids_in_the_airflow_format() -> None:
    run = "01936f2a-7c1e-7d3a-9b8e-2f9a1c3d4e5f"
    assert build.parent_from_env(f"ns/dag.task/{run}") == {"namespace": "ns", "job": "dag.task", "run_id": run}
    assert build.parent_from_env(f"ns/a/b/{run}") == {"namespace": "ns", "job": "a/b", "run_id": run}
    assert build.parent_from_env("ns/job/not-a-uuid") is None and build.parent_from_env("garbage") is None
    one, two = build.backfill_parent("ns", "p", "backfill-1"), build.backfill_parent("ns", "p", "backfill-1")
    assert one == two and one["job"] == "p.backfill"


PLAN = """Project [order_id#5, name#1, double_amount#6L, label#4]
+- Project [order_id#5, name#1, double_amount#6L, label#4]
   +- Join Inner, (order_id#5 = order_id#7)
      :- Project [id#0 AS order_id#5, name#1, (amount#2L * cast(2 as bigint)) AS double_amount#6L]
      :  +- SubqueryAlias nbpipe__raw
      :     +- Project [id#0, name#1, amount#2L]
      :        +- Filter (id#0 > 0)
      :           +- LogicalRDD [id#0, name#1, amount#2L], false
      +- Project [id#3 AS order_id#7, label#4]
         +- SubqueryAlias nbpipe__dim
            +- Project [id#3, label#4]
               +- LogicalRDD [id#3, label#4], false
"""


def test_column_lineage_from_a_plan() -> None:
    found = parse(PLAN, ["order_id", "name", "double_amount", "label"])
    assert found == {
        "order_id": [{"dataset": "raw", "field": "id", "subtype": "IDENTITY"}],
        "name": [{"dataset": "raw", "field": "name", "subtype": "IDENTITY"}],
        "double_amount": [{"dataset": "raw", "field": "amount", "subtype": "TRANSFORMATION"}],
        "label": [{"dataset": "dim", "field": "label", "subtype": "IDENTITY"}],
    }
    assert parse(PLAN, ["only_one"]) is None  # the plan does not describe these columns
    assert parse("Filter (a#1 > 0)\n+- LogicalRDD [a#1], false", ["a"]) is None


def test_config_loads_with_a_valid_block(tmp_path: Path) -> None:
    write_config(tmp_path, project="p", lineage={"namespace": "prod", "transport": {
        "type": "http", "url": "https://ol.example.com", "auth": {"type": "api_key", "apiKey": "env:OL_KEY"}}})
    project = load_project(project_dir=tmp_path)
    settings = resolve(project, CLEAN)
    assert settings is not None and settings.namespace == "prod"
    assert settings.transport["timeout"] == 2.0 and settings.transport["retry"]["total"] == 0


def test_run_report_lineage_summary(tmp_path: Path) -> None:
    from nbpipe.core.lineage_names import run_lineage

    project = load(tmp_path, project="shop", datasets={"raw": {"path": "landing", "format": "csv"},
                                                       "orders": {"format": "parquet"}},
                   pipelines={"orders": {"notebook": "o.ipynb", "reads": ["raw"], "writes": ["orders"]}})
    record = {"pipeline": "orders", "lineage": {"run_id": "0193-run"},
              "datasets": {"inputs": [{"dataset": "raw", "rows": 3}, {"dataset": "extra", "rows": 1}],
                           "outputs": [{"dataset": "orders", "rows": 2}, {"dataset": "scratch", "sandbox": True}]}}
    summary = run_lineage(project, record)
    assert summary["pipeline"] == {"namespace": "shop", "name": "orders", "run_id": "0193-run"}
    assert summary["inputs"] == [
        {"dataset": "raw", "namespace": "file", "name": str(tmp_path.resolve() / "landing"), "rows": 3,
         "declared": True},
        {"dataset": "extra", "namespace": None, "name": None, "rows": 1, "declared": False},
    ]
    assert summary["outputs"] == [{"dataset": "orders", "namespace": "file", "name": str(project.warehouse / "orders"),
                                   "rows": 2, "declared": True}]
