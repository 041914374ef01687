"""Integration fixtures: one local Spark session, a throwaway PostgreSQL server and fresh databases.

* ``spark``: the shared ``local[2]`` session (small shuffles), built the way ``ctx.spark`` builds it.
* ``spark_connect_url``: a Spark Connect server (``local[2]``) for the session, for tests whose
  kernels attach to one Spark instead of each starting a JVM.
* ``clean_env``: removes the runner's incremental handoff variables (``NBPIPE_STATE``,
  ``NBPIPE_RESUME_SNAPSHOT``) so a test sets exactly the ones it means to.
* ``pg_url`` / ``pg_database``: a PostgreSQL server for the session and fresh databases on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from nbpipe.core.config import SparkConfig
from nbpipe.core.protocol import ENV_RESUME, ENV_STATE
from tests.support import pg
from tests.support.env import unavailable
from tests.support.projects import write_config

LOCAL_SPARK = SparkConfig(master="local[2]", conf={"spark.sql.shuffle.partitions": "2"})


@pytest.fixture(scope="module")
def spark() -> Any:
    """The ``local[2]`` SparkSession every Spark module shares (one JVM for the whole test session).

    ``getOrCreate`` hands every module the same session, so the JVM starts once. The handle is taken
    per module, not per session, because two modules stop the active session when they finish
    (``test_promote`` and ``test_spark_session`` need a session with their own static conf): a
    session-scoped handle would be dead for every module that runs after them, whereas here the next
    module simply gets a new one.
    """
    from nbpipe.spark.session import build_session

    return build_session(LOCAL_SPARK)


@pytest.fixture(scope="session")
def spark_connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Spark Connect server running ``local[2]`` with small shuffles, started once per session.

    A server already running for the same directory is reused and left running; one started here is
    stopped at the end of the session.
    """
    from nbpipe.core.config import load_project
    from nbpipe.spark import server as sparkserver

    conf = {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"}
    root = write_config(tmp_path_factory.getbasetemp() / "spark-connect", project="spark_server",
                        profiles={"dev": {"spark": {"master": "local[2]", "conf": conf}}})
    project = load_project(project_dir=root)
    info = sparkserver.start_connect_server(project, master="local[2]", timeout_s=600)
    try:
        yield str(info.url)
    finally:
        if not info.reused:
            sparkserver.stop(project, "connect")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No committed positions or resume snapshot leak in from the environment (use with ``usefixtures``)."""
    monkeypatch.delenv(ENV_STATE, raising=False)
    monkeypatch.delenv(ENV_RESUME, raising=False)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a database on a PostgreSQL server started for this test session on 127.0.0.1.

    Skips (fails under CI) with the install command if PostgreSQL is not installed.
    """
    if pg.find_bin_dir() is None:
        unavailable(f"PostgreSQL server binaries not found; install them with: {pg.APT_INSTALL}")
    with pg.postgres_server() as url:
        yield url


@pytest.fixture
def pg_database(pg_url: str) -> Iterator[Callable[[], str]]:
    """Factory of fresh, empty databases on the session's server; they are dropped afterwards."""
    created: list[str] = []

    def make() -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        url = pg.create_database(pg_url, name)
        created.append(name)
        return str(url)

    yield make
    for name in created:
        pg.drop_database(pg_url, name)
