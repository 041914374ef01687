"""The ``nbpipe`` command line: parse, call services, print. No logic of its own.

Exit codes: 0 success (or skipped, up to date); 1 unexpected error; 2 config; 3 parameters;
4 notebook; 5 pipeline locked; 6 dataset; 7 contract violation; 8 bad rows; 9 state; 10 a cell
raised; 11 kernel died; 12 timeout; 13 quality gate; 14 store; 130 interrupted.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from nbpipe.core.protocol import ENV_SPARK_MASTER, ENV_SPARK_REMOTE
from nbpipe.errors import NbpipeError

app = typer.Typer(
    name="nbpipe",
    help="Explore in notebooks, promote them to strict, incremental, monitored pipelines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
contracts_app = typer.Typer(help="Schema contracts of datasets.", no_args_is_help=True)
app.add_typer(contracts_app, name="contracts")
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

ProjectOpt = Annotated[Path | None, typer.Option("--project", help="Project directory (default: walk up from cwd).")]
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", help="Profile from nbpipe.yaml (default: dev or $NBPIPE_PROFILE).")
]


def _project(project: Path | None, profile: str | None) -> Any:
    from nbpipe.core.config import load_project

    return load_project(project_dir=project, profile=profile)


def _fail(exc: NbpipeError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc.message}", markup=True, soft_wrap=True)
    if exc.hint:
        err.print(f"[yellow]hint:[/] {exc.hint}", soft_wrap=True)
    return typer.Exit(exc.exit_code)


class _Progress:
    """Live progress: cell n/N, its first line, elapsed time."""

    def __init__(self, pipeline: str) -> None:
        self.pipeline = pipeline
        self.status = err.status(f"{pipeline}: starting kernel…")
        self.live = sys.stderr.isatty()

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "pipeline_started":
            self.pipeline = str(event["pipeline"])
            err.print(f"▶ {self.pipeline}", markup=False)
        elif kind == "pipeline_finished" and event.get("status") == "upstream_failed":
            err.print(f"– {event['pipeline']}: not run, an upstream pipeline failed", markup=False)
        elif kind == "cell_started":
            text = (
                f"{self.pipeline}: cell {event['n']}/{event['total']} · {event['first_line']} · "
                f"{event['elapsed_s']:.1f}s"
            )
            if self.live:
                self.status.update(text)
            else:
                err.print(text, markup=False, soft_wrap=True)
        elif kind == "attempt_started" and event.get("attempt", 1) > 1:
            err.print(f"{self.pipeline}: attempt {event['attempt']}/{event['of']}", markup=False)
        elif kind == "retrying":
            err.print(
                f"[yellow]{self.pipeline}: attempt {event['attempt']} failed: {event['error']} — "
                f"retrying in {event['delay_s']:.1f}s[/]",
                soft_wrap=True,
            )

    def __enter__(self) -> _Progress:
        if self.live:
            self.status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.status.stop()


@app.command()
def run(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name from nbpipe.yaml.")],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "-p", "--param", help="NAME=VALUE (repeatable); VALUE env:VAR reads a secret from the environment."
        ),
    ] = None,
    params_file: Annotated[Path | None, typer.Option("--params-file", help="YAML/JSON mapping of parameters.")] = None,
    explore: Annotated[
        bool, typer.Option("--explore", help="Run in explore mode (sandboxed writes, no state).")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Run even if code, parameters and inputs are unchanged.")
    ] = False,
    resume: Annotated[
        str | None,
        typer.Option("--resume", help="Repeat a failed run (RUN_ID) with its parameters and exact input snapshot."),
    ] = None,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Run a pipeline's notebook in production mode and write its run record."""
    from nbpipe.core.params import load_params_file, parse_cli_pairs
    from nbpipe.run.runner import Runner

    try:
        proj = _project(project, profile)
        given: dict[str, Any] = {}
        if params_file is not None:
            if not params_file.is_file():
                raise NbpipeError(f"params file {params_file} does not exist")
            given.update(load_params_file(params_file.read_text(encoding="utf-8"), str(params_file)))
        cli_pairs = parse_cli_pairs(param or [])
        given.update(cli_pairs)
        with _Progress(pipeline) as progress:
            runner = Runner(proj, on_progress=progress)
            try:
                result = runner.run(
                    pipeline,
                    given,
                    from_cli=frozenset(cli_pairs),
                    mode="explore" if explore else "prod",
                    force=force,
                    resume=resume,
                )
            finally:
                runner.close()
    except NbpipeError as exc:
        raise _fail(exc) from None
    rel = _rel(result.run_dir)
    if result.status == "skipped":
        console.print(
            f"[dim]–[/] {pipeline}: {result.record.get('skipped_reason')} (use --force to run anyway)", soft_wrap=True
        )
        raise typer.Exit(0)
    if result.status == "succeeded":
        warn = f" with {len(result.record['warnings'])} warning(s)" if result.record["warnings"] else ""
        console.print(
            f"[green]✓[/] {pipeline} run {result.run_id} succeeded{warn} in {result.record['duration_s']:.1f}s"
        )
        for w in result.record["warnings"]:
            console.print(f"  [yellow]warning:[/] {w}", soft_wrap=True)
    else:
        assert result.error is not None
        err.print(f"[bold red]✗ {pipeline} run {result.run_id} failed:[/] {result.error.message}", soft_wrap=True)
        if result.error.hint:
            err.print(f"[yellow]hint:[/] {result.error.hint}", soft_wrap=True)
        err.print(f"retry: [bold]{result.record['retry_command']}[/]", soft_wrap=True)
    console.print(f"  record: {rel}/report.html", soft_wrap=True)
    raise typer.Exit(result.exit_code)


@app.command()
def backfill(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name from nbpipe.yaml.")],
    start: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--to", help="Last day (included), YYYY-MM-DD.")],
    day_param: Annotated[str, typer.Option("--param", help="The parameter that gets each day.")] = "run_date",
    parallel: Annotated[int, typer.Option("--parallel", min=1, help="Days run at the same time.")] = 1,
    param: Annotated[list[str] | None, typer.Option("-p", help="NAME=VALUE common to every day (repeatable).")] = None,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Run a pipeline once per day; done days are skipped, so rerunning resumes."""
    from nbpipe.core.params import parse_cli_pairs
    from nbpipe.ops import backfill as service

    colors = {"succeeded": "green", "failed": "red", "skipped": "dim"}

    def on_day(day: Any) -> None:
        took = f" in {day.duration_s:.1f}s" if day.duration_s is not None else ""
        err.print(f"{pipeline} {day.day}: [{colors.get(day.status, 'white')}]{day.status}[/]{took}", soft_wrap=True)

    try:
        proj = _project(project, profile)
        pairs = parse_cli_pairs(param or [])
        result = service.backfill(
            proj,
            pipeline,
            start=service.parse_day(start, "--from"),
            end=service.parse_day(end, "--to"),
            param=day_param,
            parallel=parallel,
            given=dict(pairs),
            from_cli=frozenset(pairs),
            on_day=on_day,
        )
    except NbpipeError as exc:
        raise _fail(exc) from None
    table = Table("day", "status", "run id", "duration", "error", title=f"backfill {pipeline} ({result.backfill_id})")
    for d in result.days:
        table.add_row(
            d.day,
            f"[{colors.get(d.status, 'white')}]{d.status}[/]",
            d.run_id or "",
            f"{d.duration_s:.1f}s" if d.duration_s is not None else "",
            (d.error or "")[:70],
        )
    console.print(table)
    for w in result.warnings:
        console.print(f"[yellow]warning:[/] {w}", soft_wrap=True)
    counts = ", ".join(f"{result.count(s)} {s}" for s in ("succeeded", "skipped", "failed"))
    console.print(f"{pipeline}: {len(result.days)} day(s): {counts}")
    if result.exit_code:
        err.print(
            f"rerun to retry the failed days (done days are skipped): [bold]nbpipe backfill {pipeline} "
            f"--from {start} --to {end}"
            + (f" --param {day_param}" if day_param != "run_date" else "")
            + "".join(f" -p {k}={v}" for k, v in pairs.items())
            + "[/]",
            soft_wrap=True,
        )
    raise typer.Exit(result.exit_code)


@app.command("runs")
def runs_cmd(
    pipeline: Annotated[str | None, typer.Argument(help="Only runs of this pipeline.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="succeeded | failed | skipped | running")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """List recent runs from the run-history store."""
    from nbpipe.run.store import RunStore

    try:
        proj = _project(project, profile)
        with RunStore(proj.store_url) as store:
            rows = store.list_runs(pipeline, status=status, limit=limit)
    except NbpipeError as exc:
        raise _fail(exc) from None
    if as_json:
        console.print_json(json.dumps(rows, default=str))
        return
    table = Table("run id", "pipeline", "status", "started", "duration", "quality", "error")
    colors = {"succeeded": "green", "failed": "red", "running": "cyan", "skipped": "dim"}
    for r in rows:
        dur = r.get("duration_s")
        table.add_row(
            r["run_id"],
            r["pipeline"],
            f"[{colors.get(r['status'], 'white')}]{r['status']}[/]",
            str(r.get("started_at") or "")[:19],
            f"{dur:.1f}s" if dur is not None else "",
            r.get("quality") or "",
            (r.get("error_message") or "")[:60],
        )
    console.print(table)


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix is enough).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole run.json.")] = False,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Show one run: status, parameters, cells, datasets, checks, metrics."""
    from nbpipe.run.store import RunStore

    try:
        proj = _project(project, profile)
        with RunStore(proj.store_url) as store:
            record = store.get_run(run_id)
    except NbpipeError as exc:
        raise _fail(exc) from None
    if as_json:
        console.print_json(json.dumps(record, default=str))
        return
    color = {"succeeded": "green", "failed": "red"}.get(record.get("status", ""), "white")
    console.print(
        f"[bold]{record.get('pipeline')}[/] run {record.get('run_id')}: [{color}]{record.get('status')}[/]"
        f" in {record.get('duration_s')}s (exit {record.get('exit_code')})"
    )
    console.print(f"  params: {json.dumps(record.get('params', {}))}", soft_wrap=True)
    error = record.get("error")
    if error:
        console.print(f"  [red]error:[/] {error.get('message')}", soft_wrap=True)
        if error.get("hint"):
            console.print(f"  [yellow]hint:[/] {error['hint']}", soft_wrap=True)
    for a in record.get("attempts", []):
        console.print(f"  attempt {a['attempt']}: {a['status']} ({a.get('duration_s')}s) {a.get('error') or ''}")
    for side in ("inputs", "outputs"):
        for d in record.get("datasets", {}).get(side, []):
            console.print(f"  {side[:-1]}: {d.get('dataset')} rows={d.get('rows')} rejected={d.get('rejected_rows')}")
    for c in record.get("checks", []):
        console.print(f"  check {c.get('suite')}: {'passed' if c.get('success') else 'FAILED'}")
    for name, value in record.get("metrics", {}).items():
        console.print(f"  metric {name} = {value}")
    run_dir = Path(proj.runs_dir) / str(record.get("pipeline")) / str(record.get("run_id"))
    console.print(f"  record: {_rel(run_dir)}/report.html", soft_wrap=True)


@app.command()
def promote(
    target: Annotated[str, typer.Argument(help="Notebook path or pipeline name.")],
    yes: Annotated[bool, typer.Option("--yes", help="Accept breaking contract changes (major version bump).")] = False,
    reuse: Annotated[
        str | None,
        typer.Option("--reuse", help="Reuse a succeeded explore run (RUN_ID, or 'latest') instead of running."),
    ] = None,
    margin: Annotated[
        float, typer.Option("--margin", min=0.0, help="Widen observed ranges/row counts in suggested checks.")
    ] = 0.1,
    param: Annotated[
        list[str] | None, typer.Option("-p", "--param", help="NAME=VALUE for the explore run (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Freeze an explored notebook: contracts, suggested suites and its nbpipe.yaml pipeline entry."""
    from nbpipe.core.params import parse_cli_pairs
    from nbpipe.promote.service import promote as promote_service

    try:
        proj = _project(project, profile)
        with _Progress(f"promote {target}") as progress:
            result = promote_service(
                proj,
                target,
                yes=yes,
                reuse_run=reuse,
                margin=margin,
                params=parse_cli_pairs(param or []),
                on_progress=progress,
            )
    except NbpipeError as exc:
        raise _fail(exc) from None
    if as_json:
        console.print_json(json.dumps(result.to_dict(), default=str))
        return
    console.print(result.render(), markup=False, highlight=False, soft_wrap=True)


@contracts_app.command("diff")
def contracts_diff(
    dataset: Annotated[str, typer.Argument(help="Dataset name from nbpipe.yaml.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Compare a dataset's contract with its current data; exit 7 on a breaking difference."""
    from nbpipe.errors import ContractViolationError
    from nbpipe.promote.service import data_drift

    try:
        proj = _project(project, profile)
        drift = data_drift(proj, dataset)
    except NbpipeError as exc:
        raise _fail(exc) from None
    if as_json:
        console.print_json(json.dumps(drift.to_dict(), default=str))
    else:
        console.print(drift.render(), markup=False, highlight=False, soft_wrap=True)
    if drift.breaking:
        raise typer.Exit(ContractViolationError.exit_code)


dag_app = typer.Typer(help="Run pipelines in dependency order.", no_args_is_help=True)
app.add_typer(dag_app, name="dag")


def _print_outcomes(outcomes: list[Any]) -> int:
    table = Table("pipeline", "status", "run id", "duration", "message")
    colors = {"succeeded": "green", "failed": "red", "skipped": "dim", "upstream_failed": "yellow"}
    for o in outcomes:
        table.add_row(
            o.pipeline,
            f"[{colors.get(o.status, 'white')}]{o.status}[/]",
            o.run_id or "",
            f"{o.duration_s:.1f}s",
            o.message[:80],
        )
    console.print(table)
    return 1 if any(o.status in ("failed", "upstream_failed") for o in outcomes) else 0


@dag_app.command("run")
def dag_run(
    pipelines: Annotated[
        list[str] | None, typer.Argument(help="Pipelines to run (with their upstream); all if none.")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("-p", "--param", help="NAME=VALUE for every pipeline that declares NAME.")
    ] = None,
    parallel: Annotated[int, typer.Option("--parallel", min=1, help="Pipelines run at once.")] = 1,
    force: Annotated[bool, typer.Option("--force", help="Run even when up to date.")] = False,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Run pipelines in dependency order; downstream of a failure is not run."""
    from nbpipe.core.params import parse_cli_pairs
    from nbpipe.ops.dag import run_dag

    try:
        proj = _project(project, profile)
        pairs = parse_cli_pairs(param or [])
        per_pipeline = {name: _params_for(proj, name, pairs) for name in proj.config.pipelines}
        with _Progress("dag") as progress:
            outcomes = run_dag(
                proj, only=pipelines or None, params=per_pipeline, parallel=parallel, force=force, on_progress=progress
            )
    except NbpipeError as exc:
        raise _fail(exc) from None
    raise typer.Exit(_print_outcomes(outcomes))


def _params_for(project: Any, pipeline: str, pairs: dict[str, str]) -> dict[str, str]:
    """The subset of ``pairs`` a pipeline declares (in nbpipe.yaml or its parameters cell)."""
    from nbpipe.run import engine

    cfg = project.pipeline(pipeline)
    declared = set(cfg.params)
    nb_path = project.path(cfg.notebook)
    if nb_path.exists():
        declared |= {p.name for p in engine.inspect_parameters(engine.read_notebook(nb_path), cfg.kernel)}
    return {k: v for k, v in pairs.items() if k in declared}


@app.command()
def report(
    out: Annotated[Path | None, typer.Option("--out", help="Output directory (default: the runs directory).")] = None,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Write the static pipeline-health dashboard (index.html) from the run store."""
    from nbpipe.report.dashboard import render
    from nbpipe.run.store import RunStore

    try:
        proj = _project(project, profile)
        with RunStore(proj.store_url) as store:
            page = render(proj, store, out or proj.runs_dir)
    except NbpipeError as exc:
        raise _fail(exc) from None
    console.print(f"dashboard: {_rel(page)}")


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Project directory (created if missing).")] = Path("."),
    name: Annotated[str | None, typer.Option("--name", help="Project name (default: the directory name).")] = None,
) -> None:
    """Create a project: nbpipe.yaml, an example notebook, contracts/, expectations/, runs/."""
    from nbpipe.promote.scaffold import init_project

    try:
        created, kept = init_project(directory, name)
    except NbpipeError as exc:
        raise _fail(exc) from None
    for path in created:
        console.print(f"[green]created[/] {_rel(path)}")
    for path in kept:
        console.print(f"[dim]kept[/] {_rel(path)} (exists)")
    console.print(f"next: cd {directory} && nbpipe run hello -p run_date=2024-01-31")


@app.command()
def demo(
    days: Annotated[int, typer.Option("--days", min=1, max=365, help="Days of 2013 to land (from Jan 1).")] = 7,
    land_only: Annotated[bool, typer.Option("--land-only", help="Only land the sample data.")] = False,
    local_spark: Annotated[
        bool,
        typer.Option("--local-spark", help="Let every notebook start its own local Spark instead of sharing one."),
    ] = False,
    parallel: Annotated[int, typer.Option("--parallel", min=1, help="Pipelines run at once (as in dag run).")] = 1,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Land NYC flights 2013 as daily CSV drops and run every example pipeline in order."""
    import datetime as dt
    from concurrent.futures import ThreadPoolExecutor

    from nbpipe.examples.flights import FIRST_DAY, land
    from nbpipe.ops.dag import run_dag

    def landed(summary: dict[str, Any]) -> None:
        console.print(
            f"landed {days} day(s) of 2013 flights into {_rel(proj.root / 'data' / 'landing')}: "
            f"{len(summary['written'])} file(s) written, {len(summary['skipped'])} unchanged"
        )

    try:
        proj = _project(project, profile)
        if land_only:
            landed(land(proj.root, days=days))
            return
        last_day = (FIRST_DAY + dt.timedelta(days=days - 1)).isoformat()
        per_pipeline = {name: _params_for(proj, name, {"run_date": last_day}) for name in proj.config.pipelines}
        with contextlib.ExitStack() as stack:

            def prepare() -> None:
                # Runs while the first notebook's kernel boots. Land while the Spark server starts (a JVM
                # in its own process): none of the three waits for another.
                landing = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="nbpipe-land"))
                pending = landing.submit(land, proj.root, days=days)
                if not local_spark and not (proj.profile.spark.remote or os.environ.get(ENV_SPARK_REMOTE)):
                    # One Spark for every notebook: a kernel attaches in ~1 s instead of starting a JVM.
                    from nbpipe.spark.server import running

                    server = stack.enter_context(running(proj, "connect"))
                    stack.enter_context(_env(ENV_SPARK_REMOTE, server.url))
                    console.print(f"shared Spark Connect server: {server.url} (logs: {_rel(proj.runs_dir)}/.spark/)")
                landed(pending.result())

            with _Progress("demo") as progress:
                outcomes = run_dag(proj, params=per_pipeline, parallel=parallel, on_progress=progress, prepare=prepare)
    except NbpipeError as exc:
        raise _fail(exc) from None
    code = _print_outcomes(outcomes)
    from nbpipe.report.dashboard import render
    from nbpipe.run.store import RunStore

    with RunStore(proj.store_url) as store:
        page = render(proj, store, proj.runs_dir)
    console.print(f"run records: {_rel(proj.runs_dir)}/<pipeline>/<run_id>/report.html · history: `nbpipe runs`")
    console.print(f"dashboard:   {_rel(page)}")
    raise typer.Exit(code)


spark_app = typer.Typer(
    help="Local Spark servers: a shared Spark Connect server, or a standalone master + worker.", no_args_is_help=True
)
app.add_typer(spark_app, name="spark")
ConnectOpt = Annotated[bool, typer.Option("--connect", help="The Spark Connect server.")]
StandaloneOpt = Annotated[bool, typer.Option("--standalone", help="The standalone master + worker.")]


def _spark_kinds(connect: bool, standalone: bool, default: tuple[str, ...]) -> tuple[Any, ...]:
    chosen = tuple(k for k, on in (("connect", connect), ("standalone", standalone)) if on)
    return chosen or default


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
    from nbpipe.spark import server as sparkserver

    try:
        proj = _project(project, profile)
        kinds = _spark_kinds(connect, standalone, ("connect",))
        if port is not None and len(kinds) > 1:
            raise NbpipeError("--port applies to one server", hint="start --connect and --standalone separately")
        for kind in kinds:
            start = sparkserver.start_connect_server if kind == "connect" else sparkserver.start_standalone
            info = start(proj, port=port, timeout_s=timeout)
            what = "already running" if info.reused else "started"
            console.print(f"[green]✓[/] {kind} {what}: {info.url} (pids {info.pids})", soft_wrap=True)
            var = ENV_SPARK_REMOTE if kind == "connect" else ENV_SPARK_MASTER
            key = "remote" if kind == "connect" else "master"
            console.print(f'  use it: export {var}={info.url}  (or a profile with spark: {{{key}: "{info.url}"}})')
            console.print(f"  logs: {', '.join(_rel(Path(p)) for p in info.logs.values())}", soft_wrap=True)
    except NbpipeError as exc:
        raise _fail(exc) from None


@spark_app.command("stop")
def spark_stop(
    connect: ConnectOpt = False,
    standalone: StandaloneOpt = False,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Stop the project's managed Spark servers (both kinds unless one is named)."""
    from nbpipe.spark import server as sparkserver

    try:
        proj = _project(project, profile)
        stopped = [i for k in _spark_kinds(connect, standalone, sparkserver.KINDS) for i in sparkserver.stop(proj, k)]
    except NbpipeError as exc:
        raise _fail(exc) from None
    for info in stopped:
        console.print(f"stopped {info.kind} {info.url} (pids {info.pids})")
    if not stopped:
        console.print("[dim]no managed Spark server was running[/]")


@spark_app.command("status")
def spark_status(
    connect: ConnectOpt = False,
    standalone: StandaloneOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Show the project's managed Spark servers; exit 1 if a named one is not running."""
    from nbpipe.spark import server as sparkserver

    try:
        proj = _project(project, profile)
        kinds = _spark_kinds(connect, standalone, sparkserver.KINDS)
        found = {k: sparkserver.status(proj, k) for k in kinds}
    except NbpipeError as exc:
        raise _fail(exc) from None
    if as_json:
        console.print_json(json.dumps({k: i.to_dict() if i else None for k, i in found.items()}))
    else:
        for kind, info in found.items():
            if info is None:
                console.print(f"{kind}: [dim]not running[/]")
            else:
                console.print(f"{kind}: [green]running[/] {info.url} since {info.started_at} (pids {info.pids})")
    raise typer.Exit(1 if (connect or standalone) and not all(found.values()) else 0)


@contextlib.contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except NbpipeError as exc:  # pragma: no cover - commands translate their own errors
        raise SystemExit(_fail(exc).exit_code) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise SystemExit(130) from None


