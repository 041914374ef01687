"""Spark adapter: build the SparkSession a profile asks for.

``master: local[N]`` (the embedded default), ``master: spark://host:port`` (standalone), or
``remote: sc://host:port`` (Spark Connect). The same call (``ctx.spark`` → :func:`get_session`)
serves all three, so a notebook moves between them by switching ``--profile`` only.

Driver-side sessions (local and standalone) bind to 127.0.0.1, keep the UI and console progress
off unless asked, use the running interpreter for Python workers, a fixed UTC session time zone
and small shuffle partitions, and get ``spark.jars`` for the JDBC drivers the project's datasets
need. A Spark Connect client cannot change the server's driver or core settings, so it only sends
the runtime ``spark.sql.*`` settings; the server itself is started with the full profile conf by
:mod:`nbpipe.spark.server`.

``NBPIPE_SPARK_REMOTE`` (or ``NBPIPE_SPARK_MASTER``), when set, overrides the profile's Spark
target: ``nbpipe demo`` uses it to point every notebook at one shared Connect server.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import ValidationError

from nbpipe.core.config import Project, SparkConfig
from nbpipe.core.protocol import ENV_SPARK_MASTER as ENV_MASTER
from nbpipe.core.protocol import ENV_SPARK_REMOTE as ENV_REMOTE
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
# spark.sql.* settings that are fixed when the server starts; a Connect client may not send them.
STATIC_SQL_CONF: tuple[str, ...] = (
    "spark.sql.warehouse.dir",
    "spark.sql.catalogImplementation",
    "spark.sql.extensions",
    "spark.sql.hive.",
    "spark.sql.legacy.setCommandRejectsSparkCoreConfs",
    "spark.sql.connect.",
)
# JDBC URL scheme → the jar that provides its driver (Debian packages).
JDBC_DRIVER_JARS: dict[str, tuple[str, str]] = {
    "postgresql": ("/usr/share/java/postgresql.jar", "libpostgresql-jdbc-java"),
}
CONNECT_PROBE_TIMEOUT_S = 5.0


def prepare_environment() -> None:
    """Environment every Spark JVM and Python worker started from here needs."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")


def spark_home() -> Path:
    """The Spark distribution inside the installed pyspark wheel (``SPARK_HOME``)."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def is_remote(session: object) -> bool:
    """Whether ``session`` is a Spark Connect client session (not a driver in this process)."""
    return type(session).__module__.startswith("pyspark.sql.connect")


def jdbc_jars(project: Project) -> list[str]:
    """Jars of the JDBC drivers the project's ``format: jdbc`` datasets need, for ``spark.jars``.

    The driver is chosen from the dataset's ``options.url`` scheme (``jdbc:postgresql:`` → Debian's
    ``/usr/share/java/postgresql.jar``). Unknown schemes are left to the user's own ``spark.jars``.

    Raises:
        ConfigError: a dataset needs a driver whose jar is not installed (names the package).
    """
    jars: list[str] = []
    for name, ds in sorted(project.config.datasets.items()):
        if ds.format != "jdbc":
            continue
        url = ds.options.get("url", "")
        scheme = url.split(":", 2)[1] if url.startswith("jdbc:") and url.count(":") >= 2 else ""
        known = JDBC_DRIVER_JARS.get(scheme)
        if known is None:
            continue
        jar, package = known
        if not Path(jar).is_file():
            raise ConfigError(
                f"dataset {name!r} reads {scheme} over JDBC but the driver jar {jar} is missing",
                hint=f"install it: apt-get install -y {package} (or add your jar to the profile's spark.conf "
                "spark.jars)",
            )
        if jar not in jars:
            jars.append(jar)
    return jars


def spark_config(project: Project) -> SparkConfig:
    """The active profile's Spark settings, with ``NBPIPE_SPARK_REMOTE``/``_MASTER`` applied."""
    cfg = project.profile.spark
    remote = os.environ.get(ENV_REMOTE, "").strip()
    master = os.environ.get(ENV_MASTER, "").strip()
    if remote and master:
        raise ConfigError(
            f"both {ENV_REMOTE} and {ENV_MASTER} are set; Spark can use only one",
            hint=f"unset one of them (e.g. `unset {ENV_MASTER}`)",
        )
    if not remote and not master:
        return cfg
    try:
        override = {"remote": remote or None, "master": master or None}
        return SparkConfig.model_validate({**cfg.model_dump(), **override})
    except ValidationError as exc:
        var = ENV_REMOTE if remote else ENV_MASTER
        reason = exc.errors()[0]["msg"] if exc.errors() else str(exc)
        raise ConfigError(
            f"{var}={remote or master!r} is not usable: {reason}", hint=f"fix or unset {var}"
        ) from None


def session_conf(cfg: SparkConfig, *, jars: Iterable[str] = ()) -> dict[str, str]:
    """The effective Spark configuration of a driver for ``cfg`` (defaults overlaid by the profile).

    Args:
        cfg: The profile's Spark settings.
        jars: Extra jars (e.g. from :func:`jdbc_jars`), merged into ``spark.jars``.
    """
    conf = dict(DEFAULT_CONF)
    if not cfg.remote:
        conf.update(LOCAL_CONF)
        # The UI serves the REST API run resources are measured from (nbpipe.spark.metrics): always
        # on, bound to 127.0.0.1; `ui: true` keeps Spark's usual port 4040, else a random one.
        conf["spark.ui.enabled"] = "true"
        if not cfg.ui:
            conf["spark.ui.port"] = "0"
    conf.update(cfg.conf)
    extra = [j for j in jars if j]
    if extra:
        given = [j for j in conf.get("spark.jars", "").split(",") if j]
        conf["spark.jars"] = ",".join(dict.fromkeys([*given, *extra]))
    return conf


def remote_conf(cfg: SparkConfig) -> dict[str, str]:
    """The settings a Spark Connect client sends: runtime ``spark.sql.*`` only.

    Driver, executor, UI and static SQL settings belong to the server (``nbpipe spark start``
    applies the profile's full conf there) and are left out here.
    """
    return {
        key: value
        for key, value in session_conf(cfg).items()
        if key.startswith("spark.sql.") and not key.startswith(STATIC_SQL_CONF)
    }


def check_remote_reachable(url: str, *, timeout_s: float = CONNECT_PROBE_TIMEOUT_S) -> None:
    """Fail fast, with the command to fix it, when nothing listens at a Spark Connect URL.

    The Connect client would otherwise retry for minutes before giving up.

    Raises:
        ConfigError: the host:port in ``url`` refuses or does not answer a TCP connection.
    """
    parts = urlsplit(url.split(";", 1)[0])
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 15002
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return
    except OSError as exc:
        raise ConfigError(
            f"no Spark Connect server answers at {url} ({host}:{port}: {exc.strerror or exc})",
            hint="start one with `nbpipe spark start --connect --port "
            f"{port}`, or point the profile's spark.remote (or ${ENV_REMOTE}) at a running server",
        ) from None


def build_session(cfg: SparkConfig, *, jars: Iterable[str] = ()) -> SparkSession:
    """Create (or reuse) the SparkSession described by ``cfg``.

    Args:
        cfg: Spark settings: ``master`` (local/standalone driver here) or ``remote`` (Connect client).
        jars: Extra jars for driver-side sessions (ignored by Connect clients: the server has them).

    Raises:
        ConfigError: pyspark is missing, the Connect server is unreachable, or Spark did not start.
    """
    prepare_environment()
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - pyspark is a hard dependency
        raise ConfigError("pyspark is not installed", hint="run `make test` or pip install nbpipe") from exc
    if cfg.remote:
        check_remote_reachable(cfg.remote)
        builder = SparkSession.builder.remote(cfg.remote)
        conf = remote_conf(cfg)
    else:
        builder = SparkSession.builder.master(cfg.master or "local[*]")
        conf = session_conf(cfg, jars=jars)
    builder = builder.appName(cfg.app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as exc:
        where = cfg.remote or cfg.master or "local[*]"
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ConfigError(
            f"could not start Spark ({where}): {type(exc).__name__}: {first}",
            hint="check the profile's spark.master/remote in nbpipe.yaml and that Java 17 is installed "
            "(`java -version`; on Debian: apt-get install -y openjdk-17-jre-headless)",
        ) from exc


def get_session(project: Project) -> SparkSession:
    """The SparkSession of the project's active profile (what ``ctx.spark`` returns)."""
    cfg = spark_config(project)
    return build_session(cfg, jars=() if cfg.remote else jdbc_jars(project))
