"""Managed local Spark servers: a Spark Connect server, and a standalone master + worker.

Starting Spark costs 11–14 s per process here; a Spark Connect server started once lets every
notebook attach in a few seconds instead, and a standalone master + worker is the smallest real
cluster to test ``master: spark://…`` profiles against. Both run from the pyspark wheel
(``SPARK_HOME`` = the package), bound to 127.0.0.1, as background processes in their own process
groups, so they outlive the command that started them and are stopped as a whole.

Everything about a server lives under ``<runs_dir>/.spark/``::

    connect.json      what is running: url, pids, ports, logs, start time (read by status/stop)
    connect.pid       the server's pid        connect.log     its output
    standalone.json   master.pid  worker.pid  master.log  worker.log  worker/ (executor work dir)
    <kind>.lock       held while starting or stopping, so two starts never race

``start_*`` is idempotent: a healthy server recorded there is reused (``ServerInfo.reused``);
a stale record (dead or recycled pids) is cleaned up and a fresh server started. A server that
exits or is not ready in time is stopped and reported with a ``ConfigError`` naming its log.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from nbpipe.core.config import Project
from nbpipe.errors import ConfigError
from nbpipe.spark._process import (
    CONNECT_CLASS,
    HOST,
    MARKERS,
    MASTER_CLASS,
    WORKER_CLASS,
    exit_code,
    free_port,
    log_excerpt,
    now_iso,
    pid_alive,
    port_open,
    running_as,
    spawn,
    terminate,
)
from nbpipe.spark.session import jdbc_jars, session_conf, spark_config, spark_home

Kind = Literal["connect", "standalone"]
KINDS: tuple[Kind, ...] = ("connect", "standalone")
ROLES: dict[str, tuple[str, ...]] = {"connect": ("connect",), "standalone": ("master", "worker")}
DEFAULT_TIMEOUT_S = 240.0
STOP_TIMEOUT_S = 30.0


@dataclasses.dataclass(frozen=True)
class ServerInfo:
    """A running (or just stopped) managed server.

    Attributes:
        kind: ``connect`` or ``standalone``.
        url: What a profile points at: ``sc://127.0.0.1:PORT`` or ``spark://127.0.0.1:PORT``.
        pids: Process id per role (``connect``; or ``master`` and ``worker``).
        ports: Port per endpoint (``grpc``; or ``master``, ``master_ui``, ``worker_ui``).
        logs: Log file per role.
        started_at: ISO UTC time the server was started.
        master: For ``connect``: the Spark master the server runs (``local[N]``).
        reused: True when ``start_*`` found this server already running.
    """

    kind: Kind
    url: str
    pids: dict[str, int]
    ports: dict[str, int]
    logs: dict[str, str]
    started_at: str
    master: str | None = None
    reused: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the content of ``<kind>.json``, plus ``reused``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServerInfo:
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})


# Servers started by this process, by (state dir, kind): stop() still finds them if their record was
# deleted underneath (e.g. a temp project removed while the server ran).
_STARTED: dict[tuple[str, str], ServerInfo] = {}


def state_dir(project: Project) -> Path:
    """``<runs_dir>/.spark``: pid files, logs and records of the project's managed servers."""
    return project.runs_dir / ".spark"


def status(project: Project, kind: Kind) -> ServerInfo | None:
    """The healthy managed server of ``kind``, or None.

    A record whose processes are all gone is stale and is removed here; a half-alive one (e.g.
    the worker died) is reported as None and replaced by the next ``start_*``.
    """
    info = _load(project, kind)
    if info is None:
        return None
    if _healthy(info):
        return info
    if not any(pid_alive(pid, MARKERS[role]) for role, pid in info.pids.items()):
        _clear(project, kind)
    return None


def start_connect_server(
    project: Project,
    *,
    port: int | None = None,
    master: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> ServerInfo:
    """Start (or reuse) a Spark Connect server for the project on 127.0.0.1.

    The server runs ``master`` (default: the active profile's ``local[N]`` master, else
    ``local[*]``) with the profile's full Spark conf (UTC, shuffle partitions, JDBC jars, …), so
    Connect clients get the same behaviour as an embedded session.

    Args:
        project: The project; its active profile supplies conf, runs dir and default port.
        port: gRPC port. Default: the port of the profile's ``spark.remote`` when it names
            127.0.0.1/localhost, else a free port.
        master: Spark master inside the server (``local[2]``, or ``spark://…`` of a cluster).
        timeout_s: How long to wait for the server to accept connections.

    Returns:
        The server; ``reused`` is True when a healthy one was already running.

    Raises:
        ConfigError: the port is taken, or the server exited / was not ready in time (the
            message names the log file and quotes its last error lines).
    """
    cfg = spark_config(project)
    with _locked(project, "connect"):
        existing = _reuse(project, "connect", port, "grpc")
        if existing is not None:
            return existing
        port = port or _profile_port(cfg.remote, "sc") or free_port()
        _ensure_free(port, "Spark Connect server", "--port")
        chosen = master or (cfg.master if cfg.master else f"local[{os.cpu_count() or 2}]")
        server_cfg = cfg.model_copy(update={"remote": None, "master": chosen})
        conf = session_conf(server_cfg, jars=jdbc_jars(project))
        ui_port = free_port()  # the REST API run resources are read from (nbpipe.spark.metrics)
        conf.update(
            {
                "spark.ui.port": str(ui_port),
                "spark.connect.grpc.binding.address": HOST,
                "spark.connect.grpc.binding.port": str(port),
                "spark.log.level": conf.get("spark.log.level", "WARN"),
            }
        )
        sdir = state_dir(project)
        log = sdir / "connect.log"
        cmd = [str(spark_home() / "bin" / "spark-submit"), "--class", CONNECT_CLASS]
        cmd += ["--name", "nbpipe-connect", "--master", chosen]
        for key, value in sorted(conf.items()):
            cmd += ["--conf", f"{key}={value}"]
        cmd.append("spark-internal")
        pid = spawn(cmd, log, sdir)
        info = ServerInfo(
            kind="connect",
            url=f"sc://{HOST}:{port}",
            pids={"connect": pid},
            ports={"grpc": port, "ui": ui_port},
            logs={"connect": str(log)},
            started_at=now_iso(),
            master=chosen,
        )
        _save(project, info)
        _wait(project, info, "connect", "Spark Connect server", lambda: port_open(port), timeout_s)
        _STARTED[(str(sdir), "connect")] = info
        return info


def start_standalone(
    project: Project,
    *,
    port: int | None = None,
    cores: int | None = None,
    memory: str = "2g",
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> ServerInfo:
    """Start (or reuse) a Spark standalone master and one worker on 127.0.0.1.

    Args:
        project: The project; its runs dir holds logs and the worker's work dir.
        port: Master port. Default: the port of the profile's ``spark://`` master when it names
            127.0.0.1/localhost, else a free port. The web UIs get free ports.
        cores: Worker cores (default: all CPUs).
        memory: Worker memory for executors (``2g``); executors take 1g each by default.
        timeout_s: How long to wait for the master to be up and the worker registered.

    Returns:
        The cluster (``url`` is ``spark://127.0.0.1:PORT``); ``reused`` when already running.

    Raises:
        ConfigError: the port is taken, or the master or worker exited / did not come up in time.
    """
    cfg = spark_config(project)
    with _locked(project, "standalone"):
        existing = _reuse(project, "standalone", port, "master")
        if existing is not None:
            return existing
        port = port or _profile_port(cfg.master, "spark") or free_port()
        _ensure_free(port, "Spark master", "--port")
        ui, worker_ui = free_port(), free_port()
        sdir = state_dir(project)
        url = f"spark://{HOST}:{port}"
        spark_class = str(spark_home() / "bin" / "spark-class")
        logs = {"master": str(sdir / "master.log"), "worker": str(sdir / "worker.log")}
        master_pid = spawn(
            [spark_class, MASTER_CLASS, "--host", HOST, "--port", str(port), "--webui-port", str(ui)],
            Path(logs["master"]),
            sdir,
        )
        info = ServerInfo(
            kind="standalone",
            url=url,
            pids={"master": master_pid},
            ports={"master": port, "master_ui": ui, "worker_ui": worker_ui},
            logs=logs,
            started_at=now_iso(),
        )
        _save(project, info)

        def master_up() -> bool:
            return port_open(port) and port_open(ui)

        _wait(project, info, "standalone", "Spark master", master_up, timeout_s)
        work_dir = sdir / "worker"
        work_dir.mkdir(parents=True, exist_ok=True)
        worker_cmd = [spark_class, WORKER_CLASS, url, "--host", HOST, "--webui-port", str(worker_ui)]
        worker_cmd += ["--cores", str(cores or os.cpu_count() or 2), "--memory", memory]
        worker_cmd += ["--work-dir", str(work_dir)]
        worker_pid = spawn(worker_cmd, Path(logs["worker"]), sdir)
        info = dataclasses.replace(info, pids={"master": master_pid, "worker": worker_pid})
        _save(project, info)
        _wait(project, info, "standalone", "Spark worker", lambda: alive_workers(ui) > 0, timeout_s)
        _STARTED[(str(sdir), "standalone")] = info
        return info


def alive_workers(master_ui_port: int) -> int:
    """Number of ALIVE workers the master's web UI (``/json/``) reports; 0 when unreachable."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{master_ui_port}/json/", timeout=2) as resp:
            data = json.loads(resp.read().decode())
    except (OSError, ValueError):
        return 0
    return sum(1 for w in data.get("workers", []) if w.get("state") == "ALIVE")


def master_state(info: ServerInfo) -> dict[str, Any]:
    """The standalone master's ``/json/`` state (workers, active and completed applications)."""
    with urllib.request.urlopen(f"http://{HOST}:{info.ports['master_ui']}/json/", timeout=5) as resp:
        data: dict[str, Any] = json.loads(resp.read().decode())
    return data


def stop(
    project: Project, kind: Kind | None = None, *, timeout_s: float = STOP_TIMEOUT_S
) -> list[ServerInfo]:
    """Stop the managed server(s) of ``kind`` (both kinds when None) and remove their records.

    Sends SIGTERM to each server's process group (the JVM and the Python workers it forked),
    then SIGKILL after ``timeout_s``. Idempotent: stopping nothing returns an empty list.

    Returns:
        The servers that were recorded (running or stale) and are now gone.
    """
    stopped: list[ServerInfo] = []
    for k in KINDS if kind is None else (kind,):
        with _locked(project, k):
            info = _load(project, k) or _STARTED.get((str(state_dir(project)), k))
            _STARTED.pop((str(state_dir(project)), k), None)
            if info is None:
                continue
            terminate(info.pids, timeout_s)
            _clear(project, k)
            stopped.append(info)
    return stopped


@contextlib.contextmanager
def running(project: Project, kind: Kind = "connect", **options: Any) -> Iterator[ServerInfo]:
    """Start (or reuse) a server for the block; stop it afterwards unless it was already running.

    Example (what ``nbpipe demo`` does)::

        with running(project, "connect") as server:
            os.environ[ENV_SPARK_REMOTE] = server.url   # every kernel attaches to it
            ...run the pipelines...
    """
    start = start_connect_server if kind == "connect" else start_standalone
    info = start(project, **options)
    try:
        yield info
    finally:
        if not info.reused:
            stop(project, kind)


# -- internals ---------------------------------------------------------------------------------


def _record_path(project: Project, kind: Kind) -> Path:
    return state_dir(project) / f"{kind}.json"


def _load(project: Project, kind: Kind) -> ServerInfo | None:
    path = _record_path(project, kind)
    try:
        return ServerInfo.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError):
        # A torn or foreign record: recover what pid files say, so stop() can still act.
        pids = {}
        for role in ROLES[kind]:
            with contextlib.suppress(OSError, ValueError):
                pids[role] = int((state_dir(project) / f"{role}.pid").read_text().strip())
        return ServerInfo(kind=kind, url="", pids=pids, ports={}, logs={}, started_at="") if pids else None


def _save(project: Project, info: ServerInfo) -> None:
    sdir = state_dir(project)
    sdir.mkdir(parents=True, exist_ok=True)
    for role, pid in info.pids.items():
        (sdir / f"{role}.pid").write_text(f"{pid}\n")
    path = _record_path(project, info.kind)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({**info.to_dict(), "reused": False}, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _clear(project: Project, kind: Kind) -> None:
    sdir = state_dir(project)
    for name in [f"{kind}.json", *(f"{role}.pid" for role in ROLES[kind])]:
        with contextlib.suppress(FileNotFoundError):
            (sdir / name).unlink()


@contextlib.contextmanager
def _locked(project: Project, kind: Kind) -> Iterator[None]:
    sdir = state_dir(project)
    sdir.mkdir(parents=True, exist_ok=True)
    fd = os.open(sdir / f"{kind}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _healthy(info: ServerInfo) -> bool:
    if not info.pids or not all(pid_alive(pid, MARKERS[role]) for role, pid in info.pids.items()):
        return False
    endpoint = "grpc" if info.kind == "connect" else "master"
    return endpoint in info.ports and port_open(info.ports[endpoint])


def _reuse(project: Project, kind: Kind, port: int | None, endpoint: str) -> ServerInfo | None:
    """The healthy recorded server (marked reused), after cleaning up a stale or half-dead one."""
    info = _load(project, kind)
    if info is None:
        return None
    if _healthy(info) and (kind == "connect" or "worker" in info.pids):
        if port is not None and info.ports.get(endpoint) != port:
            raise ConfigError(
                f"a {kind} server of this project already runs at {info.url}, not on port {port}",
                hint=f"use {info.url}, or stop it first: nbpipe spark stop --{kind}",
            )
        return dataclasses.replace(info, reused=True)
    terminate(info.pids, STOP_TIMEOUT_S)
    _clear(project, kind)
    return None


def _profile_port(url: str | None, scheme: str) -> int | None:
    if not url or not url.startswith(f"{scheme}://"):
        return None
    parts = urlsplit(url.split(";", 1)[0])
    if parts.hostname in (HOST, "localhost") and parts.port:
        return parts.port
    return None


def _ensure_free(port: int, what: str, flag: str) -> None:
    if port_open(port):
        raise ConfigError(
            f"cannot start the {what} on {HOST}:{port}: another process listens there",
            hint=f"choose another port ({flag} PORT, or change the profile's URL), or stop that process",
        )


def _wait(project: Project, info: ServerInfo, kind: Kind, what: str, ready: Any, timeout_s: float) -> None:
    """Poll ``ready()`` until true; on exit or timeout stop everything and raise naming the log."""
    deadline = time.monotonic() + timeout_s
    while True:
        if ready():
            return
        dead = [role for role, pid in info.pids.items() if not running_as(pid, role)]
        if dead or time.monotonic() > deadline:
            role = dead[0] if dead else list(info.pids)[-1]
            code = exit_code(info.pids[role]) if dead else None
            terminate(info.pids, STOP_TIMEOUT_S)
            _clear(project, kind)
            log = info.logs[role]
            why = f"exited with code {code}" if dead else f"was not ready after {timeout_s:.0f}s"
            raise ConfigError(
                f"the {what} ({role}, pid {info.pids[role]}) {why}; see its log {log}"
                f"{log_excerpt(Path(log))}",
                hint=f"read {log}; check Java 17 (`java -version`) and free ports, then retry "
                f"`nbpipe spark start --{kind}`",
            )
        time.sleep(0.25)


