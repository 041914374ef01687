"""``nbpipe promote``: freeze what an explore run observed into contracts, suites and nbpipe.yaml.

The service orders these steps, and writes nothing until every check passed::

    lint the notebook → explore run (or reuse one) → datasets read/written, with schemas
      → profile their data (local Spark) → proposed contracts, suites, pipeline entry
      → refuse breaking contract changes unless ``yes`` → write contracts, suites, nbpipe.yaml

Contract versions: a new contract is ``1.0``; an additive change bumps the minor version; a
removed or retyped column, tightened nullability or changed partitioning is refused with an
explanation of what breaks, and accepted with ``yes=True`` as a major bump. A dataset this
pipeline only reads but another pipeline writes keeps the contract its owner promoted.

Proposals are built in :mod:`.propose`, the result types live in :mod:`.model`, and ``data_drift``
(``nbpipe contracts diff DATASET``, :mod:`.drift`) compares a contract with the data at rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nbpipe.core import events as ev
from nbpipe.core.config import PipelineConfig, Project, check_name
from nbpipe.core.contracts import (
    save_contract,
)
from nbpipe.core.events import ProgressFn
from nbpipe.core.layout import RunDir
from nbpipe.errors import (
    ContractViolationError,
    NbpipeError,
    NotebookError,
    ParameterError,
    did_you_mean,
)
from nbpipe.promote.configedit import ConfigEditor
from nbpipe.promote.lint import lint_notebook, project_roots
from nbpipe.promote.model import PromoteResult, rel
from nbpipe.promote.propose import observe, observed_datasets, suite_change, typed_params

# -- target and explore run --------------------------------------------------------------------

LATEST = "latest"


def resolve_target(project: Project, target: str) -> tuple[str, str, PipelineConfig | None]:
    """``(pipeline name, notebook path relative to the project, existing config)`` for a name or path."""
    pipelines = project.config.pipelines
    if target in pipelines:
        return target, pipelines[target].notebook, pipelines[target]
    given = Path(target)
    candidates = [given] if given.is_absolute() else [Path.cwd() / given, project.root / given]
    found = next((c.resolve() for c in candidates if c.is_file()), None)
    if found is None:
        raise NotebookError(
            f"{target!r} is neither a pipeline in {project.source} nor a notebook file"
            + did_you_mean(target, pipelines),
            hint="pass a notebook path (e.g. notebooks/ingest_flights.ipynb) or a declared pipeline name",
        )
    if not found.is_relative_to(project.root):
        raise NotebookError(f"notebook {found} is outside the project {project.root}",
                            hint="move the notebook into the project so nbpipe.yaml can refer to it")
    rel = found.relative_to(project.root).as_posix()
    for name, cfg in pipelines.items():
        if project.path(cfg.notebook).resolve() == found:
            return name, rel, cfg
    name = found.stem.replace("-", "_").replace(" ", "_").replace(".", "_")
    if name and name[0].isdigit():
        name = f"nb_{name}"
    check_name(name, "pipeline")
    return name, rel, None


def _explore_config(notebook: str, existing: PipelineConfig | None) -> PipelineConfig:
    """The config of the explore run: the pipeline's own, with notebook defaults for required params."""
    if existing is None:
        return PipelineConfig(notebook=notebook)
    relaxed = {k: v.model_copy(update={"required": False}) for k, v in existing.params.items()}
    return existing.model_copy(update={"notebook": notebook, "params": relaxed, "retries": 0})


def _find_run(project: Project, pipeline: str, reuse: str, nb_hash: str) -> tuple[str, Path, list[str]]:
    """The run dir of the explore run to reuse: ``reuse`` is a run id (prefix) or ``latest``."""
    from nbpipe.run.store import RunStore

    notes: list[str] = []
    store = RunStore(project.store_url)
    try:
        if reuse == LATEST:
            rows = store.list_runs(pipeline, status="succeeded", limit=200)
            for row in (r for r in rows if r.get("mode") == "explore"):
                record = store.get_run(row["run_id"])
                if (record.get("fingerprint_parts") or {}).get("notebook") == nb_hash:
                    return row["run_id"], project.runs_dir / pipeline / row["run_id"], notes
            return "", Path(), [f"no successful explore run of {pipeline!r} with the current notebook code; "
                                "running it now"]
        record = store.get_run(reuse)
    finally:
        store.close()
    run_id = str(record["run_id"])
    status, mode, of = record.get("status"), record.get("mode"), record.get("pipeline")
    if (of, status, mode) != (pipeline, "succeeded", "explore"):
        raise ParameterError(
            f"run {run_id} is a {status} {mode} run of {of!r}; promote reuses only a succeeded explore run "
            f"of {pipeline!r}",
            hint=f"omit --reuse to run the notebook now, or `nbpipe runs {pipeline} --status succeeded`",
        )
    if (record.get("fingerprint_parts") or {}).get("notebook") != nb_hash:
        notes.append(f"the notebook's code changed since run {run_id}; promoting what that run observed")
    return run_id, project.runs_dir / pipeline / run_id, notes


# -- the service --------------------------------------------------------------------------------
def promote(
    project: Project,
    target: str,
    *,
    yes: bool = False,
    reuse_run: str | None = None,
    margin: float = 0.1,
    params: Mapping[str, Any] | None = None,
    on_progress: ProgressFn | None = None,
    dry_run: bool = False,
) -> PromoteResult:
    """Promote an explored notebook: contracts, suggested suites and its nbpipe.yaml entry.

    Args:
        project: The loaded project.
        target: A notebook path or a pipeline name.
        yes: Accept breaking contract changes (major version bump).
        reuse_run: Reuse this succeeded explore run (id or prefix), or ``"latest"`` for the newest one
            of the current notebook code; None runs the notebook now.
        margin: How much observed ranges and row counts are widened in suggested expectations.
        params: Parameter values for the explore run (default: the notebook's own defaults).
        on_progress: Receives the runner's progress events during the explore run.
        dry_run: Build and return the proposal (breaking changes included) but write nothing.

    Raises:
        NotebookError: the target cannot be found, or the linter found errors.
        ContractViolationError: a contract change would break readers and ``yes`` is False.
        RunFailedError: the explore run failed.
    """
    from nbpipe.core.fingerprint import notebook_fingerprint
    from nbpipe.run import engine

    name, notebook, existing = resolve_target(project, target)
    nb = engine.read_notebook(project.path(notebook))
    lint = lint_notebook(nb, name=notebook, roots=project_roots(project), project_root=project.root)
    if lint.errors:
        raise NotebookError(f"{notebook} is not ready for production:\n" + lint.render(),
                            hint="fix the errors above (warnings are fine), then run `nbpipe promote` again")
    warnings: list[str] = []
    run_id, run_dir = "", Path()
    if reuse_run:
        run_id, run_dir, notes = _find_run(project, name, reuse_run, notebook_fingerprint(nb))
        warnings += notes
    reused = bool(run_id)
    if not run_id:
        run_id, run_dir = _explore(project, name, notebook, existing, params, on_progress)
    observed = observed_datasets(list(ev.read_events(RunDir(run_dir).events)))
    result = PromoteResult(name, notebook, run_id, reused, project.root, lint, warnings=warnings)
    changes, profiles = observe(project, name, observed, result)
    result.contracts = changes
    result.suites = [suite_change(project, ds, prof, margin) for ds, prof in profiles.items()]
    editor = ConfigEditor(project.source or project.root / "nbpipe.yaml")
    for o in observed:
        if o.role == "write" and o.dataset not in project.config.datasets:
            editor.declare_dataset(o.dataset, {"format": "parquet"}, comment="declared by nbpipe promote")
    editor.set_pipeline(name, notebook=notebook, params=typed_params(project, nb, existing, result.warnings),
                        reads=[o.dataset for o in observed if o.role == "read"],
                        writes=[o.dataset for o in observed if o.role == "write"])
    result.warnings += editor.notes
    editor.validate()
    result.config_diff = editor.diff()
    breaking = [c for c in changes if c.diff is not None and c.diff.breaking and c.status == "updated"]
    if dry_run:
        return result
    if breaking and not yes:
        raise ContractViolationError(
            "promote would break the contract of "
            + ", ".join(f"dataset {c.dataset!r} ({c.diff.old_version} -> {c.diff.new_version})"
                        for c in breaking if c.diff)
            + ":\n" + "\n".join(f"  * {c.dataset}: {text}" for c in breaking if c.diff
                                for text in c.diff.breaking_changes)
            + "\nnothing was written",
            hint=f"if the change is intended, accept it (major version bump) with `nbpipe promote {target} "
            f"--yes --reuse {run_id}`; otherwise change the notebook so it keeps the old schema",
        )
    for c in changes:
        if c.status in ("created", "updated") and c.new is not None:
            result.written.append(save_contract(c.new, c.path))
    from nbpipe.quality.suites import save_suite

    for s in result.suites:
        if s.status != "unchanged":
            result.written.append(save_suite(project.root, s.suite))
    if editor.save():
        result.written.append(editor.path)
    return result


def _explore(project: Project, name: str, notebook: str, existing: PipelineConfig | None,
             params: Mapping[str, Any] | None, on_progress: ProgressFn | None) -> tuple[str, Path]:
    from nbpipe.run.runner import Runner

    with Runner(project, on_progress=on_progress) as runner:
        res = runner.run(name, dict(params or {}), mode="explore", config=_explore_config(notebook, existing))
    if res.status != "succeeded":
        error = res.error or NbpipeError(f"the explore run {res.run_id} of {notebook} failed")
        error.hint = (error.hint + "; " if error.hint else "") + (
            f"promote needs a succeeded explore run: fix the notebook (see {rel(res.run_dir, project.root)}"
            "/report.html) and run `nbpipe promote` again")
        raise error
    return res.run_id, res.run_dir
