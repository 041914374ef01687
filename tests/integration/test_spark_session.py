"""``nbpipe.spark.session``: the session a profile asks for, on real local Spark.

One embedded session is built for the module, the way ``ctx.spark`` builds it (``get_session``
on a project whose dataset reads PostgreSQL over JDBC), and checked for what production relies
on: loopback binding, no UI, UTC, the profile's shuffle partitions, the JDBC driver on the class
path and Python workers on this interpreter. Conf and override rules are checked without Spark.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from nbpipe.core.config import Project, SparkConfig
from nbpipe.errors import ConfigError
from nbpipe.spark import session as nbspark
from tests.support.pg import jdbc_jar
from tests.support.projects import load

PG_JAR = "/usr/share/java/postgresql.jar"


def _project(root: Path, spark: dict[str, Any], **datasets: dict[str, Any]) -> Project:
    return load(root, project="s", profiles={"dev": {"spark": spark}}, datasets=datasets)


JDBC = {"format": "jdbc", "options": {"url": "jdbc:postgresql://127.0.0.1:5432/db", "dbtable": "t"}}


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(nbspark.ENV_REMOTE, raising=False)
    monkeypatch.delenv(nbspark.ENV_MASTER, raising=False)


def test_driver_conf_binds_loopback_and_serves_the_ui_on_a_random_port() -> None:
    conf = nbspark.session_conf(SparkConfig(master="local[2]", conf={"spark.sql.shuffle.partitions": "3"}))
    assert conf["spark.driver.host"] == conf["spark.driver.bindAddress"] == "127.0.0.1"
    # the UI's REST API is where run resources are read from; a random port unless `ui: true`
    assert conf["spark.ui.enabled"] == "true" and conf["spark.ui.port"] == "0"
    assert conf["spark.ui.showConsoleProgress"] == "false"
    assert conf["spark.sql.session.timeZone"] == "UTC" and conf["spark.sql.shuffle.partitions"] == "3"
    assert "spark.ui.port" not in nbspark.session_conf(SparkConfig(ui=True))


def test_jars_merge_with_the_profiles_own_spark_jars() -> None:
    cfg = SparkConfig(conf={"spark.jars": "/opt/a.jar"})
    assert nbspark.session_conf(cfg, jars=[PG_JAR, "/opt/a.jar"])["spark.jars"] == f"/opt/a.jar,{PG_JAR}"
    assert "spark.jars" not in nbspark.session_conf(SparkConfig())


def test_connect_clients_send_runtime_sql_conf_only() -> None:
    cfg = SparkConfig(
        remote="sc://127.0.0.1:15002",
        conf={
            "spark.sql.shuffle.partitions": "2",
            "spark.executor.memory": "1g",
            "spark.sql.warehouse.dir": "/x",
            "spark.ui.showConsoleProgress": "true",
        },
    )
    conf = nbspark.remote_conf(cfg)
    assert conf["spark.sql.shuffle.partitions"] == "2" and conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.sql.sources.partitionOverwriteMode"] == "dynamic"
    assert all(k.startswith("spark.sql.") for k in conf)
    assert "spark.sql.warehouse.dir" not in conf


def test_jdbc_jars_follow_the_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = _project(tmp_path / "a", {}, raw={"format": "csv", "path": "x"})
    assert nbspark.jdbc_jars(plain) == []
    other = _project(tmp_path / "b", {}, t={"format": "jdbc", "options": {"url": "jdbc:sqlserver://h/db"}})
    assert nbspark.jdbc_jars(other) == []
    monkeypatch.setitem(
        nbspark.JDBC_DRIVER_JARS, "postgresql", (str(tmp_path / "no.jar"), "libpostgresql-jdbc-java")
    )
    pg = _project(tmp_path / "c", {}, orders=JDBC, more=JDBC)
    with pytest.raises(ConfigError, match="dataset 'more' reads postgresql over JDBC") as info:
        nbspark.jdbc_jars(pg)
    assert "apt-get install -y libpostgresql-jdbc-java" in str(info.value)


def test_env_override_switches_the_profile_to_connect_or_a_master(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path, {"master": "local[2]", "conf": {"spark.sql.shuffle.partitions": "2"}})
    assert nbspark.spark_config(project).master == "local[2]"
    monkeypatch.setenv(nbspark.ENV_REMOTE, "sc://127.0.0.1:15002")
    cfg = nbspark.spark_config(project)
    assert cfg.remote == "sc://127.0.0.1:15002" and cfg.master is None
    assert cfg.conf == {"spark.sql.shuffle.partitions": "2"}
    monkeypatch.setenv(nbspark.ENV_MASTER, "spark://127.0.0.1:7077")
    with pytest.raises(ConfigError, match="both NBPIPE_SPARK_REMOTE and NBPIPE_SPARK_MASTER are set"):
        nbspark.spark_config(project)
    monkeypatch.delenv(nbspark.ENV_MASTER)
    monkeypatch.setenv(nbspark.ENV_REMOTE, "http://127.0.0.1:15002")
    with pytest.raises(ConfigError, match=r"NBPIPE_SPARK_REMOTE='http://127\.0\.0\.1:15002' is not usable"):
        nbspark.spark_config(project)


def test_unreachable_connect_server_fails_fast_with_the_start_command() -> None:
    from nbpipe.spark.server import free_port

    port = free_port()
    with pytest.raises(ConfigError) as info:
        nbspark.build_session(SparkConfig(remote=f"sc://127.0.0.1:{port}"))
    assert f"no Spark Connect server answers at sc://127.0.0.1:{port}" in str(info.value)
    assert info.value.hint is not None and f"nbpipe spark start --connect --port {port}" in info.value.hint


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    assert str(jdbc_jar()) == PG_JAR
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    # A session (or bare context) left by another module, active in this thread or not, would
    # ignore our static conf (spark.jars): stop whatever JVM context is alive.
    active = SparkSession.getActiveSession() or SparkSession._instantiatedSession
    if active is not None:
        active.stop()
    if SparkContext._active_spark_context is not None:
        SparkContext._active_spark_context.stop()
    # A JVM started by another module has the driver's classpath of its launch: only a new JVM puts
    # spark.jars on it (what a notebook's kernel gets), so end the old one and let get_session launch.
    gateway = SparkContext._gateway
    if gateway is not None:
        proc = getattr(gateway, "proc", None)
        gateway.shutdown()
        if proc is not None:
            proc.stdin.close()
            proc.wait(timeout=60)
        SparkContext._gateway = None
        SparkContext._jvm = None
    root = tmp_path_factory.mktemp("session")
    project = _project(
        root, {"master": "local[2]", "conf": {"spark.sql.shuffle.partitions": "3"}}, orders=JDBC
    )
    spark = nbspark.get_session(project)
    yield spark
    spark.stop()


@pytest.mark.spark
def test_local_session_is_bound_to_loopback_with_the_profiles_conf(session: Any) -> None:
    conf = session.sparkContext.getConf()
    assert (
        conf.get("spark.driver.host") == "127.0.0.1" and conf.get("spark.driver.bindAddress") == "127.0.0.1"
    )
    # the UI serves the REST API run resources are read from: on loopback, on a random port
    url = session.sparkContext.uiWebUrl
    assert url is not None and url.startswith("http://127.0.0.1:") and not url.endswith(":4040")
    assert session.conf.get("spark.sql.session.timeZone") == "UTC"
    assert session.conf.get("spark.sql.shuffle.partitions") == "3"
    assert session.sparkContext.master == "local[2]" and not nbspark.is_remote(session)
    row = session.sql("SELECT unix_timestamp(timestamp'2013-01-01 05:00:00') AS s").first()
    assert row["s"] == 1357016400  # parsed as UTC whatever the machine's zone


@pytest.mark.spark
def test_local_session_has_the_postgres_jdbc_driver(session: Any) -> None:
    assert PG_JAR in session.sparkContext.getConf().get("spark.jars").split(",")
    # The driver class loads (else ClassNotFoundException when Spark registers it) and the read gets
    # as far as connecting, to a port nothing listens on.
    reader = session.read.format("jdbc").options(
        url="jdbc:postgresql://127.0.0.1:1/none", dbtable="t", driver="org.postgresql.Driver"
    )
    with pytest.raises(Exception, match=r"FAILED_JDBC\.CONNECTION.*Couldn't connect to the database") as info:
        reader.load()
    assert "ClassNotFoundException" not in str(info.value)


@pytest.mark.spark
def test_python_workers_run_on_this_interpreter(session: Any) -> None:
    from pyspark.sql import functions as F

    @F.pandas_udf("string")  # type: ignore[call-overload]
    def interpreter(x: pd.Series) -> pd.Series:
        import sys as worker_sys

        return x.map(lambda _: worker_sys.executable)

    used = {r[0] for r in session.range(2).select(interpreter("id")).collect()}
    assert used == {sys.executable}
