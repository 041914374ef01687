"""Which commands share one Spark: local profiles, two or more runs of notebooks that use Spark."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nbpipe.core.protocol import ENV_SPARK_MASTER, ENV_SPARK_REMOTE
from nbpipe.ops.shared_spark import environ, shared_spark, spark_runs, wants_shared_spark
from tests.support.projects import copy_notebook, load


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_SPARK_REMOTE, raising=False)
    monkeypatch.delenv(ENV_SPARK_MASTER, raising=False)


@pytest.mark.parametrize(
    ("spark", "env", "shared"),
    [
        ({}, {}, True),
        ({"master": "local[2]"}, {}, True),
        ({"master": "spark://10.0.0.5:7077"}, {}, False),
        ({"remote": "sc://127.0.0.1:15002"}, {}, False),
        ({}, {ENV_SPARK_REMOTE: "sc://127.0.0.1:15002"}, False),
        ({}, {ENV_SPARK_MASTER: "local[1]"}, False),
    ],
)
def test_only_a_local_profile_without_overrides_shares(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean: None, spark: dict, env: dict, shared: bool
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    project = load(tmp_path, profiles={"dev": {"spark": spark}})
    assert wants_shared_spark(project) is shared


def test_only_notebooks_that_use_spark_count(tmp_path: Path) -> None:
    copy_notebook(tmp_path, "incremental_ingest", as_name="spark_nb")  # imports pyspark, ctx.incremental
    copy_notebook(tmp_path, "ok", as_name="plain_nb")
    project = load(tmp_path, pipelines={"s": {"notebook": "spark_nb.ipynb"}, "p": {"notebook": "plain_nb.ipynb"},
                                        "gone": {"notebook": "missing.ipynb"}})
    assert spark_runs(project, ["s", "p", "gone"]) == 1
    assert spark_runs(project, ["s"] * 3 + ["p"] * 2) == 3


def test_disabled_or_remote_starts_nothing_and_the_environment_is_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean: None
) -> None:
    project = load(tmp_path)
    with shared_spark(project, enabled=False) as url:
        assert url is None and ENV_SPARK_REMOTE not in os.environ
    monkeypatch.setenv(ENV_SPARK_REMOTE, "sc://127.0.0.1:1")
    with shared_spark(project) as url:
        assert url is None
    with environ(ENV_SPARK_REMOTE, "sc://127.0.0.1:2"):
        assert os.environ[ENV_SPARK_REMOTE] == "sc://127.0.0.1:2"
    assert os.environ[ENV_SPARK_REMOTE] == "sc://127.0.0.1:1"
