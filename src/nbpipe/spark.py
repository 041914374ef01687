"""Spark adapter: build the SparkSession a profile asks for.

``master: local[N]`` (the embedded default), ``master: spark://host:port`` (standalone), or
``remote: sc://host:port`` (Spark Connect). Local sessions bind to 127.0.0.1, keep the UI and
console progress off unless asked, use the running interpreter for Python workers and a fixed
session time zone, so the same code gives the same data everywhere.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from nbpipe.config import Project, SparkConfig
from nbpipe.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

DEFAULT_CONF: dict[str, str] = {
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.parquet.compression.codec": "snappy",
    "spark.sql.adaptive.enabled": "true",
}
LOCAL_CONF: dict[str, str] = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.memory": "2g",
}


def prepare_environment() -> None:
    """Environment every Spark JVM and Python worker started from here needs."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")


def session_conf(cfg: SparkConfig) -> dict[str, str]:
    """The effective Spark configuration for ``cfg`` (defaults overlaid by the profile)."""
    conf = dict(DEFAULT_CONF)
    if not cfg.remote:
        conf.update(LOCAL_CONF)
        conf["spark.ui.enabled"] = "true" if cfg.ui else "false"
    conf.update(cfg.conf)
    return conf


def build_session(cfg: SparkConfig) -> SparkSession:
    """Create (or reuse) the SparkSession described by ``cfg``."""
    prepare_environment()
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - pyspark is a hard dependency
        raise ConfigError("pyspark is not installed", hint="run `make test` or pip install nbpipe") from exc
    builder = SparkSession.builder.appName(cfg.app_name)
    builder = builder.remote(cfg.remote) if cfg.remote else builder.master(cfg.master or "local[*]")
    for key, value in session_conf(cfg).items():
        if cfg.remote and key.startswith(("spark.driver.", "spark.ui.")):
            continue
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as exc:
        where = cfg.remote or cfg.master or "local[*]"
        raise ConfigError(
            f"could not start Spark ({where}): {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            hint="check the profile's spark.master/remote in nbpipe.yaml and that Java 17 is installed "
            "(`java -version`; on Debian: apt-get install -y openjdk-17-jre-headless)",
        ) from exc


def get_session(project: Project) -> SparkSession:
    """The SparkSession of the project's active profile."""
    return build_session(project.profile.spark)
