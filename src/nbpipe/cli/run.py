"""``nbpipe run``: one production (or explore) run of a pipeline's notebook."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nbpipe.cli._common import ProfileOpt, ProjectOpt, err, load, print_error, rel, say
from nbpipe.cli.progress import JsonProgress, Progress
from nbpipe.errors import ParameterError


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
    retries: Annotated[
        int | None,
        typer.Option("--retries", min=0, max=20, help="Override the pipeline's retries (0 when a scheduler retries)."),
    ] = None,
    progress_json: Annotated[
        bool, typer.Option("--progress-json", hidden=True, help="Progress as one JSON object per line on stdout.")
    ] = False,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Run a pipeline's notebook in production mode and write its run record.

    SIGTERM cancels the run like Ctrl-C: it is recorded as ``cancelled`` (exit 130), nothing published.
    """
    from nbpipe.core.params import load_params_file, parse_cli_pairs
    from nbpipe.ops.notify.service import run_observer
    from nbpipe.run.cancel import sigterm_interrupts
    from nbpipe.run.runner import Runner

    sigterm_interrupts()

    proj = load(project, profile)
    given: dict[str, Any] = {}
    if params_file is not None:
        given.update(load_params_file(read_params_file(params_file), str(params_file)))
    cli_pairs = parse_cli_pairs(param or [])
    given.update(cli_pairs)
    config = None if retries is None else proj.pipeline(pipeline).model_copy(update={"retries": retries})
    observer = run_observer(proj)
    with (JsonProgress() if progress_json else Progress(pipeline)) as progress, \
            Runner(proj, on_progress=progress, on_finished=observer) as runner:
        result = runner.run(
            pipeline,
            given,
            from_cli=frozenset(cli_pairs),
            mode="explore" if explore else "prod",
            force=force,
            resume=resume,
            config=config,
        )
    if isinstance(progress, JsonProgress):
        progress.result(result.status, result.run_id, result.exit_code, result.run_dir, result.record.get("error"))
    if result.status == "skipped":
        say(("–", "dim"), f" {pipeline}: ", str(result.record.get("skipped_reason")), " (use --force to run anyway)")
        raise typer.Exit(0)
    if result.status == "succeeded":
        warnings = result.record["warnings"]
        warn = f" with {len(warnings)} warning(s)" if warnings else ""
        say(("✓", "green"), f" {pipeline} run {result.run_id} succeeded{warn} in {result.record['duration_s']:.1f}s")
        for w in warnings:
            say("  ", ("warning:", "yellow"), " ", str(w))
    else:
        assert result.error is not None
        # The record's copy of the error has secret values masked; the exception's text may not.
        shown = result.record.get("error") or {}
        message, hint = shown.get("message", result.error.message), shown.get("hint", result.error.hint)
        print_error(str(message), hint and str(hint), title=f"✗ {pipeline} run {result.run_id} {result.status}:")
        retry = str(result.record["retry_command"])  # keeps each -p name=env:VAR as given
        say("retry: ", (retry, "bold"), to=err)
        for w in result.record.get("warnings") or []:  # e.g. a notification that was not delivered
            say(("warning:", "yellow"), " ", str(w), to=err)
    say(f"  record: {rel(result.run_dir)}/report.html")
    raise typer.Exit(result.exit_code)


def read_params_file(path: Path) -> str:
    """The text of a ``--params-file``; a missing, unreadable or binary file is a ParameterError."""
    fix = "pass a UTF-8 YAML or JSON file holding a mapping, e.g. run_date: 2013-01-02"
    if not path.exists():
        raise ParameterError(f"params file {path} does not exist", hint=fix)
    if not path.is_file():
        raise ParameterError(f"params file {path} is not a file", hint=fix)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParameterError(f"params file {path} cannot be read: {exc.strerror or exc}", hint=fix) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParameterError(
            f"params file {path} is not UTF-8 text (byte {exc.start} cannot be decoded); is it a binary file?",
            hint=fix,
        ) from None
