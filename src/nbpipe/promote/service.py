"""``nbpipe promote``: freeze what an explore run observed into contracts, suites and nbpipe.yaml.

The service orders these steps, and writes nothing until every check passed::

    lint the notebook → explore run (or reuse one) → datasets read/written, with schemas
      → profile their data (local Spark) → proposed contracts, suites, pipeline entry
      → refuse breaking contract changes unless ``yes`` → write contracts, suites, nbpipe.yaml

Contract versions: a new contract is ``1.0``; an additive change bumps the minor version; a
removed or retyped column, tightened nullability or changed partitioning is refused with an
explanation of what breaks, and accepted with ``yes=True`` as a major bump. A dataset this
pipeline only reads but another pipeline writes keeps the contract its owner promoted.

``data_drift`` (``nbpipe contracts diff DATASET``) compares a contract with the data at rest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from nbpipe.core import events as ev
from nbpipe.core.config import DatasetConfig, PipelineConfig, Project, check_name
from nbpipe.core.contracts import (
    CORRUPT_COLUMN,
    INTERNAL_PREFIX,
    Contract,
    ContractDiff,
    SchemaCheck,
    check_schema,
    contract_from_schema,
    contract_path,
    diff_contracts,
    find_contract,
    next_version,
    save_contract,
)
from nbpipe.core.events import ProgressFn
from nbpipe.errors import (
    ContractViolationError,
    DatasetError,
    NbpipeError,
    NotebookError,
    StoreError,
    did_you_mean,
)
from nbpipe.promote.configedit import ConfigEditor
from nbpipe.promote.lint import LintReport, lint_notebook, project_roots

Role = Literal["read", "write"]
LATEST = "latest"


@dataclass
class Observed:
    """A dataset the explore run read or wrote, as its events describe it."""

    dataset: str
    role: Role
    schema: list[dict[str, Any]] | None = None
    path: str | None = None
    rows: int | None = None
    fmt: str | None = None


@dataclass
class ContractChange:
    """What promote does to one dataset's contract."""

    dataset: str
    role: Role
    path: Path
    status: Literal["created", "updated", "unchanged", "kept"]
    old: Contract | None = None
    new: Contract | None = None
    diff: ContractDiff | None = None
    note: str = ""

    def render(self, root: Path) -> str:
        where = _rel(self.path, root)
        if self.status == "kept":
            return f"  · {where}: {self.note}"
        if self.status == "created" and self.new is not None:
            cols = ", ".join(f"{c.name}: {c.type}" + ("" if c.nullable else " not null")
                             for c in self.new.columns)
            return f"  + {where}: new contract, version {self.new.version} ({cols})"
        if self.status == "unchanged" and self.old is not None:
            return f"  = {where}: unchanged (version {self.old.version})"
        assert self.diff is not None
        return f"  ~ {where}: " + self.diff.render().replace("\n", "\n    ")


@dataclass
class SuiteChange:
    """What promote does to one dataset's expectation suite."""

    dataset: str
    path: Path
    status: Literal["created", "updated", "unchanged"]
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept_user: list[str] = field(default_factory=list)
    suite: dict[str, Any] = field(default_factory=dict)

    def render(self, root: Path) -> str:
        where = _rel(self.path, root)
        if self.status == "created":
            head = f"  + {where}: new suite, {len(self.added)} suggested expectation(s)"
        elif self.status == "unchanged":
            head = f"  = {where}: unchanged"
        else:
            head = f"  ~ {where}: {len(self.added)} suggestion(s) added, {len(self.removed)} replaced/dropped"
        if self.kept_user:
            head += f", {len(self.kept_user)} user-written kept"
        lines = [head] + [f"      + {d}" for d in self.added] + [f"      - {d}" for d in self.removed]
        return "\n".join(lines)


@dataclass
class PromoteResult:
    """Everything ``nbpipe promote`` did (or would do), for the CLI to render."""

    pipeline: str
    notebook: str
    run_id: str
    reused: bool
    root: Path
    lint: LintReport
    contracts: list[ContractChange] = field(default_factory=list)
    suites: list[SuiteChange] = field(default_factory=list)
    config_diff: str = ""
    warnings: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    def render(self) -> str:
        how = "reused explore run" if self.reused else "explore run"
        head = f"promote {self.notebook} → pipeline {self.pipeline} ({how} {self.run_id})"
        lines = [head, self.lint.render()]
        lines.append("contracts:")
        lines += [c.render(self.root) for c in self.contracts] or ["  (no datasets read or written)"]
        lines.append("expectation suites:")
        lines += [s.render(self.root) for s in self.suites] or ["  (none)"]
        lines.append("nbpipe.yaml:" + ("" if self.config_diff else " unchanged"))
        lines += ["  " + line for line in self.config_diff.rstrip("\n").splitlines()]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        contracts = [
            {"dataset": c.dataset, "role": c.role, "path": _rel(c.path, self.root), "status": c.status,
             "old_version": c.old.version if c.old else None, "new_version": c.new.version if c.new else None,
             "diff": c.diff.to_dict() if c.diff else None, "note": c.note}
            for c in self.contracts
        ]
        suites = [
            {"dataset": s.dataset, "path": _rel(s.path, self.root), "status": s.status, "added": s.added,
             "removed": s.removed, "kept_user": s.kept_user}
            for s in self.suites
        ]
        return {"pipeline": self.pipeline, "notebook": self.notebook, "run_id": self.run_id,
                "reused": self.reused, "lint": [i.to_dict() for i in self.lint.issues],
                "contracts": contracts,
                "suites": suites, "config_diff": self.config_diff, "warnings": self.warnings,
                "written": [_rel(p, self.root) for p in self.written]}


def _rel(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


# -- target and explore run --------------------------------------------------------------------
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
        raise StoreError(
            f"run {run_id} is a {status} {mode} run of {of!r}; promote reuses only a succeeded explore run "
            f"of {pipeline!r}",
            hint=f"omit --reuse to run the notebook now, or `nbpipe runs {pipeline} --status succeeded`",
        )
    if (record.get("fingerprint_parts") or {}).get("notebook") != nb_hash:
        notes.append(f"the notebook's code changed since run {run_id}; promoting what that run observed")
    return run_id, project.runs_dir / pipeline / run_id, notes


def observed_datasets(events: list[dict[str, Any]]) -> list[Observed]:
    """Datasets the last attempt read and wrote (latest event per dataset; own outputs are writes)."""
    attempts = [e.get("attempt") for e in events if e.get("kind") == ev.ATTEMPT_STARTED]
    last = max((a for a in attempts if isinstance(a, int)), default=None)
    found: dict[str, Observed] = {}
    for e in events:
        kind = e.get("kind")
        if kind not in (ev.DATASET_READ, ev.DATASET_STAGED):
            continue
        if last is not None and e.get("attempt") != last:
            continue
        name = str(e.get("dataset") or "")
        if not name or "__" in name or e.get("rejected"):
            continue  # quarantine outputs (<name>__rejected) are nbpipe's, not the notebook's
        role: Role = "read" if kind == ev.DATASET_READ else "write"
        previous = found.get(name)
        if previous is not None and previous.role == "write" and role == "read":
            continue
        schema = e.get("schema")
        found[name] = Observed(name, role, list(schema) if isinstance(schema, list) else None,
                               e.get("path"), e.get("rows"), e.get("format"))
    return list(found.values())


# -- data ---------------------------------------------------------------------------------------
def _load(project: Project, obs: Observed, spark: Any) -> Any:
    """The data the explore run saw: the sandbox output of a write, the source of a read."""
    cfg = project.config.datasets.get(obs.dataset) or DatasetConfig()
    if obs.role == "write":
        path = obs.path or str(project.warehouse / "_explore" / obs.dataset)
        fmt, options = obs.fmt or "parquet", {}
    else:
        if cfg.format in ("jdbc", "kafka"):
            return None
        path = obs.path or str(project.path(cfg.path) if cfg.path else project.warehouse / obs.dataset)
        fmt, options = obs.fmt or cfg.format, dict(cfg.options)
    if "://" not in path and not Path(path).exists():
        return None
    reader = spark.read.format(fmt).options(**options)
    if obs.schema and fmt in ("csv", "json") and obs.role == "read":
        fields = [f for f in obs.schema if not str(f["name"]).startswith(INTERNAL_PREFIX)]
        reader = reader.schema(", ".join(f"`{f['name']}` {f['type']}" for f in fields))
    df = reader.load(path)
    wanted = [str(f["name"]) for f in obs.schema or []] or df.columns
    internal = {c for c in df.columns if c == CORRUPT_COLUMN or c.startswith(INTERNAL_PREFIX)}
    keep = [c for c in wanted if c in df.columns and c not in internal]
    return df.select(*[f"`{c}`" for c in keep]) if keep != df.columns else df


def _schema_of(df: Any) -> list[dict[str, Any]]:
    fields = [{"name": f.name, "type": f.dataType.simpleString(), "nullable": f.nullable} for f in df.schema]
    return [f for f in fields if f["name"] != CORRUPT_COLUMN and not f["name"].startswith(INTERNAL_PREFIX)]


def propose_contract(dataset: str, fields: list[dict[str, Any]], *, old: Contract | None,
                     cfg: DatasetConfig | None, nulls: Mapping[str, int] | None) -> Contract:
    """The contract the observed schema asks for (before versioning).

    Partitioning and primary key come from the dataset's config, else the old contract. A column the
    old contract declares non-null stays non-null unless the profiled data held nulls in it (Spark
    marks most columns nullable); descriptions are carried over.
    """
    partition_by = tuple(cfg.partition_by) if cfg and cfg.partition_by else (old.partition_by if old else ())
    primary_key = tuple(cfg.primary_key) if cfg and cfg.primary_key else (old.primary_key if old else ())
    keep_non_null = [c.name for c in (old.columns if old else ()) if not c.nullable
                     and (nulls is None or nulls.get(c.name, 0) == 0)]
    described = {c.name: c.description for c in (old.columns if old else ()) if c.description}
    fields = [{**f, "description": described.get(str(f["name"]), "")} for f in fields]
    description = old.description if old else (cfg.description if cfg else "")
    return contract_from_schema(dataset, fields, partition_by=partition_by, primary_key=primary_key,
                                non_null=keep_non_null, description=description)


def _contract_change(project: Project, obs: Observed, fields: list[dict[str, Any]],
                     nulls: Mapping[str, int] | None) -> ContractChange:
    path = contract_path(project, obs.dataset)
    old = find_contract(project, obs.dataset)
    proposed = propose_contract(obs.dataset, fields, old=old, cfg=project.config.datasets.get(obs.dataset),
                                nulls=nulls)
    if old is None:
        return ContractChange(obs.dataset, obs.role, path, "created", None, proposed)
    diff = diff_contracts(old, proposed)
    if not diff.changed:
        return ContractChange(obs.dataset, obs.role, path, "unchanged", old, old, diff)
    new = proposed.model_copy(update={"version": next_version(old, diff)})
    diff.new_version = new.version
    return ContractChange(obs.dataset, obs.role, path, "updated", old, new, diff)


def _suite_change(project: Project, dataset: str, profile: dict[str, Any], margin: float) -> SuiteChange:
    from nbpipe.quality.profile import SUGGESTED, merge_suites, suggest_suite
    from nbpipe.quality.suites import describe, load_suite, suite_path

    path = suite_path(project.root, dataset)
    suggested = suggest_suite(dataset, profile, margin=margin)
    if not path.is_file():
        return SuiteChange(dataset, path, "created", [describe(e) for e in suggested["expectations"]],
                           suite=suggested)
    existing = load_suite(project.root, dataset)
    merged = merge_suites(existing, suggested)

    def keys(suite: dict[str, Any]) -> list[str]:
        exps = suite["expectations"]
        return [json.dumps([e["type"], e["kwargs"]], sort_keys=True, default=str) for e in exps]

    before, after = keys(existing), keys(merged)
    added = [describe(e) for e, k in zip(merged["expectations"], after, strict=True) if k not in before]
    removed = [describe(e) for e, k in zip(existing["expectations"], before, strict=True) if k not in after]
    user = [describe(e) for e in merged["expectations"] if (e.get("meta") or {}).get("nbpipe") != SUGGESTED]
    status: Literal["updated", "unchanged"] = "updated" if added or removed else "unchanged"
    return SuiteChange(dataset, path, status, added, removed, user, merged)


def _params(project: Project, nb: Any, existing: PipelineConfig | None,
            warnings: list[str]) -> dict[str, dict[str, Any]]:
    from nbpipe.core.params import build_definitions, literal_default
    from nbpipe.run import engine

    declared = engine.inspect_parameters(nb)
    specs = existing.params if existing else {}
    defs = build_definitions(declared, specs, project.config.secrets.param_patterns)
    out: dict[str, dict[str, Any]] = {}
    for p in declared:
        default, literal = literal_default(p.default_source)
        if (p.name in specs and specs[p.name].type) or (literal and default is not None):
            out[p.name] = {"type": defs[p.name].type}
        else:
            out[p.name] = {}
            warnings.append(f"parameter {p.name!r}: no type could be inferred from its default "
                            f"`{p.default_source}`; set its type in nbpipe.yaml (pipelines.*.params)")
    return out


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
    observed = observed_datasets(list(ev.read_events(run_dir / ev.EVENTS_FILE)))
    result = PromoteResult(name, notebook, run_id, reused, project.root, lint, warnings=warnings)
    changes, profiles = _observe(project, name, observed, result)
    result.contracts = changes
    result.suites = [_suite_change(project, ds, prof, margin) for ds, prof in profiles.items()]
    editor = ConfigEditor(project.source or project.root / "nbpipe.yaml")
    for o in observed:
        if o.role == "write" and o.dataset not in project.config.datasets:
            editor.declare_dataset(o.dataset, {"format": "parquet"}, comment="declared by nbpipe promote")
    editor.set_pipeline(name, notebook=notebook, params=_params(project, nb, existing, result.warnings),
                        reads=[o.dataset for o in observed if o.role == "read"],
                        writes=[o.dataset for o in observed if o.role == "write"])
    result.warnings += editor.notes
    editor.validate()
    result.config_diff = editor.diff()
    breaking = [c for c in changes if c.diff is not None and c.diff.breaking and c.status == "updated"]
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

    runner = Runner(project, on_progress=on_progress)
    try:
        res = runner.run(name, dict(params or {}), mode="explore", config=_explore_config(notebook, existing))
    finally:
        runner.close()
    if res.status != "succeeded":
        error = res.error or NbpipeError(f"the explore run {res.run_id} of {notebook} failed")
        error.hint = (error.hint + "; " if error.hint else "") + (
            f"promote needs a succeeded explore run: fix the notebook (see {_rel(res.run_dir, project.root)}"
            "/report.html) and run `nbpipe promote` again")
        raise error
    return res.run_id, res.run_dir


def _observe(project: Project, pipeline: str, observed: list[Observed],
             result: PromoteResult) -> tuple[list[ContractChange], dict[str, dict[str, Any]]]:
    """Contract changes and data profiles of the observed datasets (Spark only when data is there)."""
    from nbpipe.quality.profile import profile_dataframe

    changes: list[ContractChange] = []
    profiles: dict[str, dict[str, Any]] = {}
    spark = None
    for obs in observed:
        pipelines = project.config.pipelines.items()
        owners = [p for p, cfg in pipelines if p != pipeline and obs.dataset in cfg.writes]
        if obs.role == "read" and owners:
            changes.append(ContractChange(obs.dataset, "read", contract_path(project, obs.dataset), "kept",
                                          note=f"written by pipeline {owners[0]!r}, which owns its contract"))
            continue
        df, explained = None, False
        if obs.rows == 0 and obs.schema:
            # Nothing to profile (and an empty Parquet directory has no schema to read back).
            explained = True
            verb = "wrote" if obs.role == "write" else "read"
            result.warnings.append(f"dataset {obs.dataset!r}: the explore run {verb} no rows, so no suite is "
                                   "suggested; promote with parameters that select data (-p NAME=VALUE)")
        else:
            if spark is None:
                from nbpipe.spark.session import get_session

                spark = get_session(project)
            try:
                df = _load(project, obs, spark)
            except Exception as exc:  # a third-party reader error: promote still writes the contract
                explained = True
                result.warnings.append(f"dataset {obs.dataset!r}: could not read its data ({type(exc).__name__}: "
                                       f"{str(exc).splitlines()[0] if str(exc) else ''}); no suite suggested")
        profile = profile_dataframe(df) if df is not None else None
        fields = obs.schema or (_schema_of(df) if df is not None else None)
        if df is None and not explained:
            result.warnings.append(f"dataset {obs.dataset!r}: its data is no longer where the explore run "
                                   "left it; no suite suggested (run promote without --reuse)")
        if fields is None:
            result.warnings.append(f"dataset {obs.dataset!r}: the explore run recorded no schema and its "
                                   "data cannot be read; contract not written")
            continue
        nulls = {n: int(c.get("nulls", 0)) for n, c in profile["columns"].items()} if profile else None
        changes.append(_contract_change(project, obs, fields, nulls))
        if profile is not None:
            profiles[obs.dataset] = profile
    return changes, profiles


# -- contracts diff -----------------------------------------------------------------------------
@dataclass
class DataDrift:
    """How the data at rest differs from its dataset's contract."""

    dataset: str
    version: str
    location: str
    rows: int
    schema: SchemaCheck
    null_violations: dict[str, int] = field(default_factory=dict)

    @property
    def breaking(self) -> bool:
        """Columns missing or retyped, or nulls in non-null columns: production reads would reject data."""
        return bool(self.schema.missing or self.schema.retyped or self.null_violations)

    @property
    def changed(self) -> bool:
        return self.breaking or bool(self.schema.extra)

    def render(self) -> str:
        head = f"contract {self.dataset} {self.version} vs data at {self.location} ({self.rows} rows)"
        if not self.changed:
            return f"{head}: matches"
        lines = [head + (": BREAKING" if self.breaking else ": drifted (additive)")]
        check = self.schema
        lines += [f"  - {c.name}: {c.type} (in the contract, missing from the data)" for c in check.missing]
        lines += [f"  + {f['name']}: {f['type']} (in the data, not in the contract)" for f in check.extra]
        lines += [f"  ~ {r.name}: contract {r.new}, data {r.old}" for r in self.schema.retyped]
        lines += [f"  ! {n}: {k} null value(s) in a non-null column" for n, k in self.null_violations.items()]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "version": self.version, "location": self.location,
                "rows": self.rows, "missing": [c.field() for c in self.schema.missing],
                "extra": self.schema.extra,
                "retyped": [{"name": r.name, "contract": r.new, "data": r.old} for r in self.schema.retyped],
                "null_violations": self.null_violations, "breaking": self.breaking}


def data_drift(project: Project, dataset: str, *, spark: Any = None) -> DataDrift:
    """Compare ``dataset``'s contract with the data currently at its location.

    Raises:
        DatasetError: the dataset is unknown, has no contract, or no data at its location.
    """
    cfg = project.dataset(dataset)
    contract = find_contract(project, dataset)
    if contract is None:
        where = _rel(contract_path(project, dataset), project.root)
        raise DatasetError(f"dataset {dataset!r} has no contract ({where} does not exist)",
                           hint="run `nbpipe promote NOTEBOOK` on the notebook that writes it")
    if cfg.format in ("jdbc", "kafka"):
        raise DatasetError(f"dataset {dataset!r} is a {cfg.format} source; `contracts diff` compares files")
    location = project.path(cfg.path) if cfg.path else project.warehouse / dataset
    if not location.exists():
        raise DatasetError(f"dataset {dataset!r} has no data at {location}",
                           hint=f"run the pipeline that writes it, or check datasets.{dataset}.path")
    if spark is None:
        from nbpipe.spark.session import get_session

        spark = get_session(project)
    from pyspark.sql import functions as F

    options = dict(cfg.options)
    if cfg.format == "csv" and not any(k.lower() == "inferschema" for k in options):
        options["inferSchema"] = "true"  # as explore reads see it, which is what promote froze
    df = spark.read.format(cfg.format).options(**options).load(str(location))
    fields = _schema_of(df)
    check = check_schema(contract, fields)
    present = {f["name"] for f in fields}
    strict = [c.name for c in contract.columns if not c.nullable and c.name in present]
    aggs = [F.count(F.lit(1)).alias("__rows")] + [
        F.sum(F.when(F.col(f"`{n}`").isNull(), 1).otherwise(0)).alias(f"n{i}") for i, n in enumerate(strict)]
    row = df.agg(*aggs).collect()[0]
    nulls = {n: int(row[f"n{i}"] or 0) for i, n in enumerate(strict)}
    return DataDrift(dataset, contract.version, _rel(location, project.root), int(row["__rows"]), check,
                     {n: k for n, k in nulls.items() if k})
