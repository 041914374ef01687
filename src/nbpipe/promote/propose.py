"""From an explore run's observations to proposals: each dataset's data loaded, profiled and turned into
a contract, a suite and typed parameters (nothing is written here)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from nbpipe.core import events as ev
from nbpipe.core.config import DatasetConfig, PipelineConfig, Project
from nbpipe.core.contracts import (
    CORRUPT_COLUMN,
    INTERNAL_PREFIX,
    Contract,
    contract_from_schema,
    contract_path,
    diff_contracts,
    find_contract,
    next_version,
)
from nbpipe.core.layout import dataset_root, explore_root
from nbpipe.promote.model import ContractChange, Observed, PromoteResult, Role, SuiteChange


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
def load_observed(project: Project, obs: Observed, spark: Any) -> Any:
    """The data the explore run saw: the sandbox output of a write, the source of a read."""
    cfg = project.config.datasets.get(obs.dataset) or DatasetConfig()
    if obs.role == "write":
        path = obs.path or str(explore_root(project) / obs.dataset)
        fmt, options = obs.fmt or "parquet", {}
    else:
        if cfg.format in ("jdbc", "kafka"):
            return None
        path = obs.path or str(dataset_root(project, obs.dataset, cfg))
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


def schema_of(df: Any) -> list[dict[str, Any]]:
    fields = [{"name": f.name, "type": f.dataType.simpleString(), "nullable": f.nullable} for f in df.schema]
    return [f for f in fields if f["name"] != CORRUPT_COLUMN and not f["name"].startswith(INTERNAL_PREFIX)]


def propose_contract(dataset: str, fields: list[dict[str, Any]], *, old: Contract | None,
                     cfg: DatasetConfig | None, nulls: Mapping[str, int] | None) -> Contract:
    """The contract the observed schema asks for (before versioning).

    Partitioning and primary key come from the dataset's config, else the old contract. A column the
    old contract declares non-null stays non-null unless the profiled data held nulls in it (Spark
    marks most columns nullable). What a person wrote is carried over: the dataset's description,
    owner and tags (from the old contract, else from ``nbpipe.yaml``) and each kept column's
    description, tags and ``pii`` flag.
    """
    partition_by = tuple(cfg.partition_by) if cfg and cfg.partition_by else (old.partition_by if old else ())
    primary_key = tuple(cfg.primary_key) if cfg and cfg.primary_key else (old.primary_key if old else ())
    keep_non_null = [c.name for c in (old.columns if old else ()) if not c.nullable
                     and (nulls is None or nulls.get(c.name, 0) == 0)]
    written = {c.name: {"description": c.description, "tags": c.tags, "pii": c.pii}
               for c in (old.columns if old else ())}
    fields = [{**f, **written.get(str(f["name"]), {})} for f in fields]
    description = (old.description if old else "") or (cfg.description if cfg else "")
    owner = (old.owner if old else "") or (cfg.owner if cfg else "")
    tags = (old.tags if old else ()) or tuple(cfg.tags if cfg else ())
    return contract_from_schema(dataset, fields, partition_by=partition_by, primary_key=primary_key,
                                non_null=keep_non_null, description=description, owner=owner, tags=tags)


def contract_change(project: Project, obs: Observed, fields: list[dict[str, Any]],
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


def suite_change(project: Project, dataset: str, profile: dict[str, Any], margin: float) -> SuiteChange:
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


def typed_params(project: Project, nb: Any, existing: PipelineConfig | None,
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


def observe(project: Project, pipeline: str, observed: list[Observed],
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
                df = load_observed(project, obs, spark)
            except Exception as exc:  # a third-party reader error: promote still writes the contract
                explained = True
                result.warnings.append(f"dataset {obs.dataset!r}: could not read its data ({type(exc).__name__}: "
                                       f"{str(exc).splitlines()[0] if str(exc) else ''}); no suite suggested")
        profile = profile_dataframe(df) if df is not None else None
        fields = obs.schema or (schema_of(df) if df is not None else None)
        if df is None and not explained:
            result.warnings.append(f"dataset {obs.dataset!r}: its data is no longer where the explore run "
                                   "left it; no suite suggested (run promote without --reuse)")
        if fields is None:
            result.warnings.append(f"dataset {obs.dataset!r}: the explore run recorded no schema and its "
                                   "data cannot be read; contract not written")
            continue
        nulls = {n: int(c.get("nulls", 0)) for n, c in profile["columns"].items()} if profile else None
        changes.append(contract_change(project, obs, fields, nulls))
        if profile is not None:
            profiles[obs.dataset] = profile
    return changes, profiles
