"""``nbpipe spark start|stop|status``: the project's managed local Spark servers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nbpipe.cli._common import JsonOpt, ProfileOpt, ProjectOpt, console, load, rel, say
from nbpipe.errors import NbpipeError

if TYPE_CHECKING:  # pragma: no cover
    from nbpipe.spark.server import Kind

spark_app = typer.Typer(
    help="Local Spark servers: a shared Spark Connect server, or a standalone master + worker.", no_args_is_help=True
)
ConnectOpt = Annotated[bool, typer.Option("--connect", help="The Spark Connect server.")]
StandaloneOpt = Annotated[bool, typer.Option("--standalone", help="The standalone master + worker.")]


@spark_app.command("start")
def spark_start(
    connect: ConnectOpt = False,
    standalone: StandaloneOpt = False,
    port: Annotated[int | None, typer.Option("--port", help="Connect gRPC / master port (default: free).")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait until ready.")] = 240.0,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Start (or reuse) a Spark Connect server (default) and/or a standalone master + worker."""
    from nbpipe.core.protocol import ENV_SPARK_MASTER, ENV_SPARK_REMOTE
    from nbpipe.spark import server as sparkserver

    proj = load(project, profile)
    kinds = _kinds(connect, standalone, ("connect",))
    if port is not None and len(kinds) > 1:
        raise NbpipeError("--port applies to one server", hint="start --connect and --standalone separately")
    for kind in kinds:
        start = sparkserver.start_connect_server if kind == "connect" else sparkserver.start_standalone
        info = start(proj, port=port, timeout_s=timeout)
        what = "already running" if info.reused else "started"
        say(("✓", "green"), f" {kind} {what}: {info.url} (pids {info.pids})")
        var = ENV_SPARK_REMOTE if kind == "connect" else ENV_SPARK_MASTER
        key = "remote" if kind == "connect" else "master"
        say(f'  use it: export {var}={info.url}  (or a profile with spark: {{{key}: "{info.url}"}})')
        say(f"  logs: {', '.join(rel(Path(p)) for p in info.logs.values())}")


@spark_app.command("stop")
def spark_stop(
    connect: ConnectOpt = False,
    standalone: StandaloneOpt = False,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Stop the project's managed Spark servers (both kinds unless one is named)."""
    from nbpipe.spark import server as sparkserver

    proj = load(project, profile)
    stopped = [i for k in _kinds(connect, standalone, sparkserver.KINDS) for i in sparkserver.stop(proj, k)]
    for info in stopped:
        say(f"stopped {info.kind} {info.url} (pids {info.pids})")
    if not stopped:
        say(("no managed Spark server was running", "dim"))


@spark_app.command("status")
def spark_status(
    connect: ConnectOpt = False,
    standalone: StandaloneOpt = False,
    as_json: JsonOpt = False,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Show the project's managed Spark servers; exit 1 if a named one is not running."""
    from nbpipe.spark import server as sparkserver

    proj = load(project, profile)
    found = {k: sparkserver.status(proj, k) for k in _kinds(connect, standalone, sparkserver.KINDS)}
    if as_json:
        console.print_json(json.dumps({k: i.to_dict() if i else None for k, i in found.items()}))
    else:
        for kind, info in found.items():
            if info is None:
                say(f"{kind}: ", ("not running", "dim"))
            else:
                say(f"{kind}: ", ("running", "green"), f" {info.url} since {info.started_at} (pids {info.pids})")
    raise typer.Exit(1 if (connect or standalone) and not all(found.values()) else 0)


def _kinds(connect: bool, standalone: bool, default: tuple[Kind, ...]) -> tuple[Kind, ...]:
    """The kinds named by ``--connect``/``--standalone``, or ``default`` when neither is given."""
    named: list[tuple[Kind, bool]] = [("connect", connect), ("standalone", standalone)]
    return tuple(kind for kind, on in named if on) or default
