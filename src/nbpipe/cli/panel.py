"""Hidden, machine-facing commands the notebook panel (``ctx.panel()``) drives in a subprocess.

The panel lives in the kernel, which must not import the runner side (papermill, the store); it
asks the CLI instead. ``nbpipe panel-params PIPELINE`` prints the pipeline's effective parameter
definitions as JSON: the notebook's ``parameters`` cell overlaid by ``nbpipe.yaml`` (type, default,
bounds, choices, whether it is secret, its description), exactly what ``nbpipe run`` validates
against. The panel rebuilds :class:`~nbpipe.core.params.ParamDef` objects from it and validates with
:func:`nbpipe.core.params.resolve`, the same code as ``nbpipe run``.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from nbpipe.cli._common import ProfileOpt, ProjectOpt, load


def panel_params(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name from nbpipe.yaml.")],
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Print a pipeline's parameter definitions as JSON (for the notebook panel)."""
    from nbpipe.core.params import build_definitions
    from nbpipe.errors import ConfigError, did_you_mean
    from nbpipe.run import engine

    proj = load(project, profile)
    pipelines = proj.config.pipelines
    if pipeline not in pipelines:
        raise ConfigError(
            f"pipeline {pipeline!r} is not declared in {proj.source}{did_you_mean(pipeline, pipelines)}",
            hint=f"declared pipelines: {', '.join(sorted(pipelines)) or '(none)'}",
        )
    cfg = pipelines[pipeline]
    nb = engine.read_notebook(proj.path(cfg.notebook))
    declared = {p.name: p for p in engine.inspect_parameters(nb, cfg.kernel)}
    defs = build_definitions(list(declared.values()), cfg.params, proj.config.secrets.param_patterns,
                             pipeline=pipeline)
    out = []
    for name, d in defs.items():
        spec = cfg.params.get(name)
        note = declared[name].help if name in declared else ""
        out.append({
            "name": name, "type": d.type, "default": d.default if d.has_default and not d.secret else None,
            "has_default": d.has_default, "required": d.required,
            "choices": list(d.choices) if d.choices is not None else None, "min": d.min, "max": d.max,
            "secret": d.secret, "description": (spec.description if spec is not None else "") or note,
        })
    typer.echo(json.dumps({"pipeline": pipeline, "notebook": cfg.notebook, "params": out}, default=str))


def panel_runs(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name from nbpipe.yaml.")],
    limit: Annotated[int, typer.Option("--limit", min=1)] = 10,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Print a pipeline's recent runs with rows written and report path as JSON (for the panel)."""
    from pathlib import Path

    from nbpipe.run.store import RunStore

    proj = load(project, profile)
    out = []
    with RunStore(proj.store_url) as store:
        for row in store.list_runs(pipeline, limit=limit):
            record = store.get_run(row["run_id"])
            outputs = (record.get("datasets") or {}).get("outputs") or []
            written = sum(int(d.get("rows") or 0) for d in outputs) if outputs else None
            report = Path(str(row.get("run_dir") or "")) / "report.html"
            out.append({"run_id": row["run_id"], "status": row["status"], "started_at": row.get("started_at"),
                        "duration_s": row.get("duration_s"), "quality": row.get("quality"),
                        "rows_written": written, "report": str(report) if report.is_file() else None,
                        "error": row.get("error_message")})
    typer.echo(json.dumps(out, default=str))
