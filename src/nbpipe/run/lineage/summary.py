"""This run's lineage for the run report: inputs → pipeline → outputs, with OpenLineage names.

Pure (no ``openlineage`` import): the report renders it on every run, lineage on or off.
"""

from __future__ import annotations

from typing import Any

from nbpipe.core.config import Project
from nbpipe.errors import DatasetError
from nbpipe.run.lineage.naming import dataset_name


def run_lineage(project: Project, record: dict[str, Any]) -> dict[str, Any]:
    """The lineage of the run whose ``run.json`` is ``record``.

    Returns:
        ``{"pipeline": {namespace, name, run_id}, "inputs": [...], "outputs": [...]}``; each dataset
        ``{dataset, namespace, name, rows, declared}`` (``namespace``/``name`` are None when the
        dataset cannot be named, ``declared`` says whether nbpipe.yaml lists it under the
        pipeline's reads/writes). ``run_id`` is the OpenLineage run id when lineage was emitted.
    """
    pipeline = str(record.get("pipeline"))
    cfg = project.config.pipelines.get(pipeline)
    datasets = record.get("datasets") or {}
    lineage = project.config.lineage

    def entry(item: dict[str, Any], declared: list[str]) -> dict[str, Any]:
        name = str(item.get("dataset"))
        namespace: str | None = None
        ol_name: str | None = None
        try:
            ol = dataset_name(project, name)
            namespace, ol_name = ol.namespace, ol.name
        except DatasetError:
            pass
        return {"dataset": name, "namespace": namespace, "name": ol_name, "rows": item.get("rows"),
                "declared": name in declared}

    def unique(items: list[dict[str, Any]], declared: list[str]) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        for item in items:
            if not item.get("sandbox") and str(item.get("dataset")) not in seen:
                seen[str(item.get("dataset"))] = entry(item, declared)
        return list(seen.values())

    return {
        "pipeline": {"namespace": lineage.namespace or project.config.project, "name": pipeline,
                     "run_id": (record.get("lineage") or {}).get("run_id")},
        "inputs": unique(datasets.get("inputs") or [], cfg.reads if cfg else []),
        "outputs": unique(datasets.get("outputs") or [], cfg.writes if cfg else []),
    }
