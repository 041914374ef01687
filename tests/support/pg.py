"""Start a throwaway PostgreSQL server on 127.0.0.1 for tests (initdb + pg_ctl, trust auth).

Used by the session-scoped ``pg_url`` fixture in ``tests/integration/conftest.py``; also runnable
by hand (``python -m tests.support.pg``) to get a scratch server until Ctrl-C. :func:`jdbc_jar` is
the PostgreSQL JDBC driver Spark tests load (missing: skipped locally, a failure under CI). The server lives in a temp
directory owned by the ``postgres`` user when running as root (``initdb`` refuses root), listens
on loopback only with a free port, skips fsync, and is stopped and deleted afterwards.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.env import free_port, unavailable

APT_INSTALL = "apt-get install -y postgresql"
DEFAULT_BIN = "/usr/lib/postgresql/15/bin"
SERVER_OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100"


def jdbc_jar() -> Path:
    """The PostgreSQL JDBC driver jar nbpipe gives Spark; when it is missing, skip (fail under CI).

    The path and the Debian package come from ``nbpipe.spark.session.JDBC_DRIVER_JARS``, the table
    nbpipe itself uses, so the tests look where production looks.
    """
    from nbpipe.spark.session import JDBC_DRIVER_JARS

    jar, package = JDBC_DRIVER_JARS["postgresql"]
    if not Path(jar).is_file():
        unavailable(f"the PostgreSQL JDBC driver {jar} is missing; install it with: apt-get install -y {package}")
    return Path(jar)


class PostgresUnavailable(RuntimeError):
    """PostgreSQL server binaries are not installed."""


def find_bin_dir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``: $NBPIPE_PG_BIN, Debian's, newest first, or PATH."""
    candidates = [os.environ.get("NBPIPE_PG_BIN", ""), DEFAULT_BIN]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_major, reverse=True)
    which = shutil.which("initdb")
    candidates.append(str(Path(which).parent) if which else "")
    for candidate in filter(None, candidates):
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    return None


def _major(path: str) -> int:
    version = Path(path).parent.name
    return int(version) if version.isdigit() else 0


def _as_server_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _run(cmd: list[str], what: str, log: Path | None = None) -> None:
    proc = subprocess.run(_as_server_user(cmd), capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
        output = proc.stderr.strip() or proc.stdout.strip()
        log_tail = f"\nserver log:\n{tail}" if tail else ""
        raise RuntimeError(f"{what} failed (exit {proc.returncode}): {output}{log_tail}")


@contextlib.contextmanager
def postgres_server(dbname: str = "nbpipe_test") -> Iterator[str]:
    """Run a scratch PostgreSQL server; yield ``postgresql+psycopg://postgres@127.0.0.1:PORT/dbname``.

    Raises:
        PostgresUnavailable: no server binaries (install them with ``apt-get install -y postgresql``).
        RuntimeError: initdb or the server start failed (the message carries the server log).
    """
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise PostgresUnavailable(f"PostgreSQL server binaries (initdb, pg_ctl) not found: {APT_INSTALL}")
    root = Path(tempfile.mkdtemp(prefix="nbpipe-pg-"))
    data, sock, log = root / "data", root / "sock", root / "server.log"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    started = False
    try:
        _run([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
              "--locale=C", "--no-sync"], "initdb")
        for _attempt in range(3):  # the free port may be taken between choosing and binding it
            port = free_port()
            opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 {SERVER_OPTIONS}"
            try:
                _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "60",
                      "start"], "pg_ctl start", log)
                started = True
                break
            except RuntimeError:
                if _attempt == 2:
                    raise
        _create_database(port, dbname)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{dbname}"
    finally:
        if started:
            subprocess.run(_as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w",
                                            "stop"]), capture_output=True, timeout=120, check=False)
        shutil.rmtree(root, ignore_errors=True)


def _create_database(port: int, dbname: str) -> None:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                         autocommit=True, connect_timeout=30) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')


def create_database(url: str, dbname: str) -> str:
    """Create ``dbname`` on the server of ``url``; return the URL of the new database."""
    host, port = _host_port(url)
    _create_database(port, dbname)
    return f"postgresql+psycopg://postgres@{host}:{port}/{dbname}"


def drop_database(url: str, dbname: str) -> None:
    """Drop ``dbname`` (closing its leftover connections) on the server of ``url``."""
    import psycopg

    host, port = _host_port(url)
    with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def _host_port(url: str) -> tuple[str, int]:
    netloc = url.split("@", 1)[1].split("/", 1)[0]
    host, _, port = netloc.rpartition(":")
    return host, int(port)


if __name__ == "__main__":
    with postgres_server() as url:
        print(url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    sys.exit(0)
