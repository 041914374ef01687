"""The same pipeline on embedded Spark, a real standalone cluster and a real Spark Connect server.

One standalone master + worker and one Spark Connect server are started for the module (by
``nbpipe.spark.server``, on 127.0.0.1) and stopped at its end; ``nbpipe run`` is called as a user
would, switching only ``--profile``. Also covers the managed-server life cycle: reuse, status,
stale records, a startup failure naming its log, and a clean stop.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nbpipe.core.config import load_project
from nbpipe.errors import ConfigError
from nbpipe.spark import server as sparkserver
from tests.support import cluster
from tests.support.cli import run_cli
from tests.support.projects import write_config

pytestmark = [pytest.mark.spark, pytest.mark.cluster, pytest.mark.slow]


@pytest.fixture(scope="module")
def project_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cluster") / "project"
    return cluster.write_project(
        root, master_port=sparkserver.free_port(), connect_port=sparkserver.free_port()
    )


@pytest.fixture(scope="module")
def servers(project_root: Path) -> Iterator[dict[str, Any]]:
    with cluster.started_servers(project_root) as found:
        yield found


@pytest.fixture(scope="module")
def runs(project_root: Path, servers: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``nbpipe run spark_pipeline --profile P`` for dev, standalone and connect: their run.json."""
    records: dict[str, dict[str, Any]] = {}
    for profile in ("dev", "standalone", "connect"):
        proc = run_cli(
            project_root, "run", cluster.PIPELINE, "-p", f"min_fare={cluster.MIN_FARE}", "--profile", profile
        )
        assert proc.returncode == 0, f"--profile {profile} failed:\n{proc.stdout}\n{proc.stderr}"
        run_dirs = sorted((project_root / "runs" / cluster.PIPELINE).iterdir())
        records[profile] = json.loads((run_dirs[-1] / "run.json").read_text())
    return records


def _metrics(record: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in record["metrics"].items() if not k.startswith("backend_")}


def test_same_pipeline_same_results_on_local_standalone_and_connect(
    runs: dict[str, dict[str, Any]], servers: dict[str, Any]
) -> None:
    expected = cluster.expected_metrics()
    for profile, record in runs.items():
        assert record["status"] == "succeeded" and record["profile"] == profile
        assert _metrics(record) == pytest.approx(expected), profile
    assert (
        runs["dev"]["metrics"]["backend_connect"] == 0 and runs["dev"]["metrics"]["backend_standalone"] == 0
    )
    assert runs["standalone"]["metrics"]["backend_standalone"] == 1
    assert runs["connect"]["metrics"]["backend_connect"] == 1
    # The queries ran in the managed server's Spark application (its conf), not in the kernel.
    assert runs["connect"]["metrics"]["backend_connect_port"] == servers["connect"].ports["grpc"]
    assert runs["dev"]["metrics"]["backend_connect_port"] == 0


def test_standalone_run_executed_on_the_cluster(
    runs: dict[str, dict[str, Any]], servers: dict[str, Any]
) -> None:
    state = sparkserver.master_state(servers["standalone"])
    apps = state.get("completedapps", []) + state.get("activeapps", [])
    assert [a["name"] for a in apps].count("nbpipe") >= 1, apps
    assert sparkserver.alive_workers(servers["standalone"].ports["master_ui"]) == 1


def test_start_again_reuses_the_running_servers(project_root: Path, servers: dict[str, Any]) -> None:
    connect = load_project(project_dir=project_root, profile="connect")
    again = sparkserver.start_connect_server(connect)
    assert again.reused and again.pids == servers["connect"].pids and again.url == servers["connect"].url
    standalone = load_project(project_dir=project_root, profile="standalone")
    again_sa = sparkserver.start_standalone(standalone)
    assert again_sa.reused and again_sa.pids == servers["standalone"].pids
    with pytest.raises(ConfigError, match=r"already runs at sc://127\.0\.0\.1"):
        sparkserver.start_connect_server(connect, port=sparkserver.free_port())


def test_cli_status_reports_both_servers(project_root: Path, servers: dict[str, Any]) -> None:
    proc = run_cli(project_root, "spark", "status", "--connect", "--standalone", "--json")
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["connect"]["url"] == servers["connect"].url
    assert shown["standalone"]["url"] == servers["standalone"].url
    assert shown["standalone"]["pids"] == servers["standalone"].pids


def test_connect_profile_without_server_fails_fast_with_the_start_command(tmp_path: Path) -> None:
    port = sparkserver.free_port()
    root = cluster.write_project(tmp_path / "p", master_port=sparkserver.free_port(), connect_port=port)
    proc = run_cli(root, "run", cluster.PIPELINE, "--profile", "connect")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert f"no Spark Connect server answers at sc://127.0.0.1:{port}" in out, out
    assert f"nbpipe spark start --connect --port {port}" in out, out


def test_stale_records_are_cleaned_and_never_kill_a_stranger(tmp_path: Path) -> None:
    root = cluster.write_project(tmp_path / "p", master_port=1, connect_port=2)
    project = load_project(project_dir=root)
    sdir = sparkserver.state_dir(project)
    sdir.mkdir(parents=True)
    # Our own pid is alive but is not a Spark server: a recycled pid must be left alone.
    stranger = sparkserver.ServerInfo(
        kind="connect",
        url="sc://127.0.0.1:2",
        pids={"connect": os.getpid()},
        ports={"grpc": 2},
        logs={"connect": str(sdir / "connect.log")},
        started_at="2013-01-01T00:00:00+00:00",
    )
    sparkserver._save(project, stranger)
    assert (sdir / "connect.pid").read_text().strip() == str(os.getpid())
    assert sparkserver.status(project, "connect") is None
    assert not (sdir / "connect.json").exists() and not (sdir / "connect.pid").exists()
    # A torn record still lets stop() find the pid files; it stops nothing that is not ours.
    (sdir / "standalone.json").write_text("{not json")
    (sdir / "master.pid").write_text(f"{os.getpid()}\n")
    stopped = sparkserver.stop(project, "standalone")
    assert [s.pids for s in stopped] == [{"master": os.getpid()}]
    assert not (sdir / "master.pid").exists()


def test_start_refuses_a_port_in_use(tmp_path: Path) -> None:
    root = cluster.write_project(tmp_path / "p", master_port=1, connect_port=2)
    project = load_project(project_dir=root)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot start the Spark Connect server on 127.0.0.1:{port}"):
            sparkserver.start_connect_server(project, port=port)
    assert sparkserver.status(project, "connect") is None


def test_startup_failure_names_the_log_and_cleans_up(tmp_path: Path) -> None:
    root = cluster.write_project(tmp_path / "p", master_port=1, connect_port=2)
    project = load_project(project_dir=root)
    with pytest.raises(ConfigError) as info:
        sparkserver.start_connect_server(project, master="nonsense://nowhere", timeout_s=300)
    log = sparkserver.state_dir(project) / "connect.log"
    message = str(info.value)
    assert "exited with code" in message and str(log) in message, message
    assert "exited with code 1" in message, message
    assert "SparkException: Master must either be yarn or start with spark, k8s, or local" in message, message
    assert "nonsense://nowhere" in log.read_text()
    assert not (sparkserver.state_dir(project) / "connect.json").exists()


_ONE_PASS_SCRIPT = """
import json, sys
from pathlib import Path
from nbpipe.data import strict
from nbpipe.data.read import read_dataset
from nbpipe.core import events
from nbpipe.core.config import load_project
from nbpipe.kernel.context import RunContext

strict.SMALL_SOURCE_BYTES = -1  # force the one-pass quarantine (observe + per-task writes)
root = Path(sys.argv[1])
project = load_project(project_dir=root, profile="connect")
out = {}
for run_id, files in (("clean", ["b.csv"]), ("dirty", ["a.csv", "b.csv"])):
    ctx = RunContext(project, mode="prod", run_id=run_id, run_dir=root / "runs" / "x" / run_id, pipeline="x",
                     attempt=1, params={})
    df = read_dataset(ctx, "raw", paths=[str(root / "landing" / f) for f in files])
    read = events.of_kind(ctx.log.read(), events.DATASET_READ)[0]
    out[run_id] = {"connect": type(ctx.spark).__module__, "accepted": sorted(r.city for r in df.collect()),
                   "counts": [read["rows"], read["accepted_rows"], read["rejected_rows"]],
                   "reasons": read["rejected_reasons"],
                   "staged": (ctx.staging_dir / "raw__rejected").is_dir()}
print("RESULT " + json.dumps(out))
"""


def test_one_pass_strict_read_over_connect_counts_every_row(tmp_path: Path, servers: dict[str, Any]) -> None:
    """The big-source path (rows counted by an observation during the quarantine write) on a Connect server."""
    import subprocess

    from nbpipe.core.contracts import contract_from_schema, save_contract

    root = tmp_path / "p"
    (root / "landing").mkdir(parents=True)
    (root / "landing" / "a.csv").write_text("city,fare\nnyc,1.5\nsf,abc\nla\n,3.0\n")
    (root / "landing" / "b.csv").write_text("city,fare\nbos,2.0\nsea,4.5\n")
    write_config(root, profiles={"connect": {"spark": {"remote": servers["connect"].url}}},
                 datasets={"raw": {"path": "landing", "format": "csv", "options": {"header": "true"}}})
    save_contract(contract_from_schema("raw", [{"name": "city", "type": "string", "nullable": False},
                                               {"name": "fare", "type": "double", "nullable": True}]),
                  root / "contracts" / "raw.yaml")
    proc = subprocess.run([sys.executable, "-c", _ONE_PASS_SCRIPT, str(root)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT ", 1)[1])
    assert out["clean"]["connect"].startswith("pyspark.sql.connect")
    assert out["clean"] == {**out["clean"], "accepted": ["bos", "sea"], "counts": [2, 2, 0], "reasons": {},
                            "staged": False}
    assert out["dirty"]["accepted"] == ["bos", "nyc", "sea"] and out["dirty"]["counts"] == [6, 3, 3]
    assert out["dirty"]["reasons"] == {"column city: null in non-null column": 1,
                                       "column fare: 'abc' is not double": 1, "malformed line": 1}
    assert out["dirty"]["staged"]



def test_stop_terminates_every_process_and_frees_the_ports(
    project_root: Path, servers: dict[str, Any]
) -> None:
    project = load_project(project_dir=project_root)
    # Even with its record deleted underneath, a server this process started is found and stopped.
    for name in ("connect.json", "connect.pid"):
        (sparkserver.state_dir(project) / name).unlink()
    stopped = sparkserver.stop(project)
    assert sorted(s.kind for s in stopped) == ["connect", "standalone"]
    for info in servers.values():
        for role, pid in info.pids.items():
            assert not sparkserver.pid_alive(pid, sparkserver.MARKERS[role]), (role, pid)
        for port in info.ports.values():
            assert not sparkserver.port_open(port), port
    assert (
        sparkserver.status(project, "connect") is None and sparkserver.status(project, "standalone") is None
    )
    assert sparkserver.stop(project) == []
