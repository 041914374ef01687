"""Pipeline dependency graph: which pipeline must run before which (pure).

A pipeline depends on another when it reads a dataset the other writes, or names it in
``depends_on``. The order is deterministic (Kahn's algorithm, ties broken by name) and grouped in
levels whose pipelines can run in parallel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from nbpipe.core.config import PipelineConfig
from nbpipe.errors import ConfigError, did_you_mean


def dependencies(pipelines: Mapping[str, PipelineConfig]) -> dict[str, set[str]]:
    """``{pipeline: {pipelines it depends on}}``."""
    writers: dict[str, str] = {}
    for name, cfg in pipelines.items():
        for ds in cfg.writes:
            if ds in writers and writers[ds] != name:
                raise ConfigError(
                    f"dataset {ds!r} is written by two pipelines: {writers[ds]!r} and {name!r}",
                    hint="a dataset has one owner; write a second dataset and union them downstream",
                )
            writers[ds] = name
    deps: dict[str, set[str]] = {}
    for name, cfg in pipelines.items():
        found = {writers[ds] for ds in cfg.reads if ds in writers and writers[ds] != name}
        for dep in cfg.depends_on:
            if dep not in pipelines:
                raise ConfigError(
                    f"pipeline {name!r} depends on unknown pipeline {dep!r}{did_you_mean(dep, pipelines)}"
                )
            found.add(dep)
        deps[name] = found
    return deps


def levels(pipelines: Mapping[str, PipelineConfig], only: Iterable[str] | None = None) -> list[list[str]]:
    """Pipelines grouped in dependency order; each level can run in parallel.

    With ``only``, the selection plus everything upstream of it is returned.
    """
    deps = dependencies(pipelines)
    wanted = set(pipelines)
    if only is not None:
        wanted = set()
        stack = list(only)
        while stack:
            name = stack.pop()
            if name not in pipelines:
                raise ConfigError(f"unknown pipeline {name!r}{did_you_mean(name, pipelines)}")
            if name not in wanted:
                wanted.add(name)
                stack.extend(deps[name])
    remaining = {n: deps[n] & wanted for n in wanted}
    out: list[list[str]] = []
    while remaining:
        ready = sorted(n for n, d in remaining.items() if not d)
        if not ready:
            cycle = " → ".join(sorted(remaining))
            raise ConfigError(
                f"pipelines depend on each other in a cycle: {cycle}",
                hint="check reads/writes/depends_on of these pipelines in nbpipe.yaml",
            )
        out.append(ready)
        for n in ready:
            del remaining[n]
        for d in remaining.values():
            d.difference_update(ready)
    return out


def order(pipelines: Mapping[str, PipelineConfig], only: Iterable[str] | None = None) -> list[str]:
    """A single deterministic run order."""
    return [name for level in levels(pipelines, only) for name in level]
