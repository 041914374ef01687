"""``nbpipe monitor``: data alerts (late, missing data, volume, rejected rows, failing checks) from the run store."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from nbpipe.cli._common import ProfileOpt, ProjectOpt, err, load, say

if TYPE_CHECKING:  # pragma: no cover
    from nbpipe.ops.monitor.service import MonitorPass

_STYLE = {"error": "red", "warning": "yellow"}
FAIL_ON = ("none", "warning", "error")


def monitor(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit (for cron or a scheduler).")] = False,
    interval: Annotated[str, typer.Option("--interval", help="Time between passes without --once (30s, 5m, 1h).")]
    = "5m",
    fail_on: Annotated[str, typer.Option("--fail-on", help="Exit 1 after --once if a finding is at least this "
                                                          "severe: none, warning or error.")] = "none",
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Evaluate data alerts, keep their state, send what is new or resolved."""
    from nbpipe.core.schedule import parse_duration
    from nbpipe.errors import ParameterError, did_you_mean
    from nbpipe.ops.monitor.service import Monitor
    from nbpipe.run.store import RunStore

    if fail_on not in FAIL_ON:
        raise ParameterError(f"--fail-on {fail_on!r} is not a level{did_you_mean(fail_on, FAIL_ON)}",
                             hint=f"use one of: {', '.join(FAIL_ON)}")
    try:
        pause = parse_duration(interval).total_seconds()
    except ValueError as exc:
        raise ParameterError(f"--interval: {exc}", hint="e.g. --interval 5m") from None
    proj = load(project, profile)
    with RunStore(proj.store_url) as store:
        watcher = Monitor(proj, store)
        while True:
            result = watcher.once()
            _print(result)
            if once:
                break
            time.sleep(pause)
    worst = result.worst()
    if fail_on != "none" and worst is not None and FAIL_ON.index(worst) >= FAIL_ON.index(fail_on):
        raise typer.Exit(1)


def _print(result: MonitorPass) -> None:
    stamp = result.at.isoformat(timespec="seconds")
    opened = {(f.subject, f.rule) for f in result.opened}
    for f in result.findings:
        state = "new" if (f.subject, f.rule) in opened else "open"
        say((f.severity, _STYLE.get(f.severity, "")), f" {f.rule} {f.subject} [{state}]: {f.message}")
    for d in result.resolved:
        say(("resolved", "green"), f" {d.alert['rule']} {d.alert['subject']}: {d.message}")
    if result.digest_sent:
        say("digest of the open alerts sent")
    for problem in result.problems:
        say(("warning:", "yellow"), " ", str(problem["message"]), to=err)
    if not result.findings and not result.resolved:
        say(f"{stamp}: no findings")
    else:
        say(f"{stamp}: {len(result.findings)} finding(s), {len(result.resolved)} resolved")
