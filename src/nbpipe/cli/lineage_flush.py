"""``nbpipe lineage flush``: deliver the OpenLineage events runs could not deliver."""

from __future__ import annotations

import typer

from nbpipe.cli._common import ProfileOpt, ProjectOpt, load, say


def flush(project: ProjectOpt = None, profile: ProfileOpt = None) -> None:
    """Send the OpenLineage events still in run outboxes to the configured endpoint."""
    from nbpipe.errors import ConfigError, NbpipeError
    from nbpipe.run.lineage import outbox
    from nbpipe.run.lineage.settings import resolve

    proj = load(project, profile)
    settings = resolve(proj)
    waiting = outbox.pending_runs(proj.runs_dir)
    if settings is None:
        raise ConfigError(
            f"lineage is off for project {proj.config.project!r}"
            + (f"; {len(waiting)} run(s) still hold undelivered events" if waiting else ""),
            hint="configure lineage: {transport: {type: http, url: ...}} in nbpipe.yaml or set OPENLINEAGE_URL",
        )
    if not waiting:
        say("nothing to deliver: every OpenLineage event was sent")
        raise typer.Exit(0)
    from nbpipe.run.lineage.forward import flush as deliver_all

    result = deliver_all(settings, proj.runs_dir)
    say(f"delivered {result.sent} OpenLineage event(s) of {result.runs} run(s) to {settings.endpoint}; "
        f"{result.left} left")
    if result.error:
        raise NbpipeError(result.error + f"; {result.left} event(s) kept",
                          hint="check that the endpoint is up and reachable, then run `nbpipe lineage flush` again")
