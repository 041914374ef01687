"""Processes of the local Spark servers: spawn, wait for ports, signal, reap (POSIX only)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from nbpipe.spark.session import spark_home

HOST = "127.0.0.1"
CONNECT_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
MARKERS = {"connect": CONNECT_CLASS, "master": MASTER_CLASS, "worker": WORKER_CLASS}


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


CHILDREN: dict[int, subprocess.Popen[bytes]] = {}  # servers started by this process, for reaping


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = HOST, timeout_s: float = 0.5) -> bool:
    """Whether something accepts TCP connections at ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        return sock.connect_ex((host, port)) == 0


def pid_alive(pid: int, marker: str | None = None) -> bool:
    """Whether ``pid`` runs (not a zombie) and, if ``marker`` is given, its command line holds it.

    The marker (a Java class name) tells a server of ours from an unrelated process that was
    given the same pid after ours died.
    """
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return False
        if stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
            return False
        return marker is None or marker in cmdline
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    for var in ("SPARK_REMOTE", "SPARK_LOCAL_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "SPARK_API_MODE"):
        env.pop(var, None)
    env.update(
        SPARK_HOME=str(spark_home()),
        SPARK_LOCAL_IP=HOST,
        SPARK_CONNECT_MODE="0",
        PYSPARK_PYTHON=env.get("PYSPARK_PYTHON") or sys.executable,
        PYSPARK_DRIVER_PYTHON=env.get("PYSPARK_DRIVER_PYTHON") or sys.executable,
    )
    # No REST submission server: it would take the fixed port 6066.
    env["SPARK_MASTER_OPTS"] = f"{env.get('SPARK_MASTER_OPTS', '')} -Dspark.master.rest.enabled=false".strip()
    return env


def spawn(cmd: list[str], log: Path, cwd: Path) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"\n== {now_iso()} nbpipe: {' '.join(cmd)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=child_env(),
            start_new_session=True,
        )
    CHILDREN[proc.pid] = proc
    return proc.pid


def running_as(pid: int, role: str) -> bool:
    """Whether a server process runs: our own child by its exit status, any other pid by /proc.

    A child's command line is briefly unreadable while ``spark-class`` execs the JVM, so the marker
    test is only for pids this process did not start (recorded by another ``nbpipe``).
    """
    proc = CHILDREN.get(pid)
    if proc is not None:
        return proc.poll() is None
    return pid_alive(pid, MARKERS[role])


def exit_code(pid: int) -> int | None:
    proc = CHILDREN.get(pid)
    if proc is None:
        return None
    with contextlib.suppress(subprocess.TimeoutExpired):
        return proc.wait(timeout=5)
    return None


def log_excerpt(log: Path, lines: int = 6) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    start = max((i for i, line in enumerate(text) if line.startswith("== ")), default=0)
    tail = text[start + 1 :]
    errors = [line for line in tail if "Exception" in line or "Error" in line or "ERROR" in line]
    picked = (errors or tail)[-lines:]
    return ("\n    " + "\n    ".join(picked)) if picked else ""


def terminate(pids: dict[str, int], timeout_s: float) -> None:
    """SIGTERM each live process group of ``pids`` (role -> pid; the last role first), SIGKILL stragglers."""
    roles = reversed(list(pids.items()))
    live = [(role, pid) for role, pid in roles if pid_alive(pid, MARKERS.get(role))]
    for _role, pid in live:
        send_signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while any(pid_alive(pid) for _r, pid in live) and time.monotonic() < deadline:
        reap()
        time.sleep(0.2)
    for _role, pid in live:
        # The whole group: also Python workers or executors that outlived their JVM.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    for _role, pid in live:
        proc = CHILDREN.pop(pid, None)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)


def send_signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def reap() -> None:
    for proc in list(CHILDREN.values()):
        proc.poll()
