"""``nbpipe notify test|send``: try the channels, or notify an event through alert state (orchestrators)."""

from __future__ import annotations

from typing import Annotated

import typer

from nbpipe.cli._common import ProfileOpt, ProjectOpt, err, load, say

notify_app = typer.Typer(help="Send notifications: test the channels, or report an event.", no_args_is_help=True)


@notify_app.command("test")
def notify_test(
    channel: Annotated[str | None, typer.Argument(help="Channel name (e.g. webhook1, ingest.slack1); all if none.")]
    = None,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Send a test message to a channel (or every channel); exit 2 if one was not delivered."""
    from nbpipe.errors import ConfigError
    from nbpipe.ops.notify import manual
    from nbpipe.ops.notify.service import Notifier
    from nbpipe.run.store import RunStore

    proj = load(project, profile)
    with RunStore(proj.store_url) as store:
        results = manual.test(Notifier(proj, store), channel)
    failed = 0
    for ch, problem in results:
        if problem is None:
            say(("✓", "green"), f" test message sent to {ch.name} ({ch.target})")
        else:
            failed += 1
            say(("✗", "red"), f" {ch.name} ({ch.target}): {problem['error']}", to=err)
    if failed:
        raise ConfigError(f"{failed} of {len(results)} test message(s) were not delivered",
                          hint="check the channel's URL or SMTP settings in nbpipe.yaml and that its env: "
                               "variables are set")


@notify_app.command("send")
def notify_send(
    event: Annotated[str, typer.Argument(help="failure, quality_warning, recovered, late, missing_data, "
                                              "volume_anomaly or success.")],
    pipeline: Annotated[str, typer.Option("--pipeline", help="The pipeline the event is about.")],
    run_id: Annotated[str | None, typer.Option("--run-id", help="The run the event is about.")] = None,
    detail: Annotated[str | None, typer.Option("--detail", help="The message (e.g. the orchestrator's).")] = None,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Notify EVENT for a pipeline through alert state (deduplicated); exits 0 even if delivery fails."""
    from nbpipe.ops.notify import manual
    from nbpipe.ops.notify.service import Notifier
    from nbpipe.run.store import RunStore

    proj = load(project, profile)
    manual.check_event(event, pipeline, proj)
    with RunStore(proj.store_url) as store:
        sent = manual.send(Notifier(proj, store), event, pipeline, run_id=run_id, detail=detail)
    if sent.state in ("opened", "reminder", "resolved", "info"):
        where = ", ".join(sent.channels) if sent.channels else "no channel subscribed to it"
        say(f"{event} for {pipeline}: {sent.state}; sent to {where}")
    elif sent.state == "suppressed":
        say(f"{event} for {pipeline}: the alert is already open ({sent.count} occurrences); not sent again")
    else:
        say(f"{event} for {pipeline}: {sent.state}; nothing sent")
    for problem in sent.problems:
        say(("warning:", "yellow"), " ", str(problem["message"]), to=err)
