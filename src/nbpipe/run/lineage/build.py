"""OpenLineage run events of one nbpipe run, built with ``openlineage.client.event_v2``/``facet_v2``.

Job: namespace = the project (or ``lineage.namespace``), name = the pipeline. Facets:

* job: ``jobType`` (BATCH, integration NBPIPE, jobType NOTEBOOK), ``sourceCode`` (the notebook's
  code cells as saved — parameters are injected only into the executed copy, and secret values are
  masked), ``sourceCodeLocation`` (git remote, commit and path; left out outside git or without a
  remote: never invented);
* run: ``nominalTime`` (the ``run_date`` parameter), ``parent`` (the backfill, or Airflow's task
  from ``OPENLINEAGE_PARENT_ID``/``OPENLINEAGE_ROOT_PARENT_ID``), ``errorMessage`` (FAIL/ABORT,
  masked), ``test`` (every expectation of the run's checks);
* datasets: ``schema``, ``dataSource``; outputs ``outputStatistics`` (rows, bytes, files) and
  ``columnLineage`` (what the kernel derived from the Spark plan of the write); checked datasets
  ``dataQualityAssertions`` (expected and actual values as strings).

This module imports ``openlineage``: only an enabled lineage reaches it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from openlineage.client import event_v2 as ol
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    data_quality_assertions_dataset,
    datasource_dataset,
    error_message_run,
    job_type_job,
    nominal_time_run,
    output_statistics_output_dataset,
    parent_run,
    schema_dataset,
    source_code_job,
    source_code_location_job,
    test_run,
)
from openlineage.client.serde import Serde

from nbpipe.core.lineage_names import OLName, source_uri
from nbpipe.run.lineage.jobinfo import JobInfo

PRODUCER = "https://github.com/nbpipe/nbpipe"


__all__ = ["JobInfo", "event", "input_dataset", "output_dataset"]


def job_facets(info: JobInfo) -> dict[str, Any]:
    facets: dict[str, Any] = {
        "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="NBPIPE", jobType="NOTEBOOK",
                                                producer=PRODUCER),
    }
    if info.source_code is not None:
        facets["sourceCode"] = source_code_job.SourceCodeJobFacet(language="python", sourceCode=info.source_code,
                                                                  producer=PRODUCER)
    if info.git:
        facets["sourceCodeLocation"] = source_code_location_job.SourceCodeLocationJobFacet(
            type="git", url=info.git["url"], repoUrl=info.git["url"], path=info.git.get("path"),
            version=info.git.get("commit"), producer=PRODUCER)
    return facets


def run_facets(info: JobInfo, *, error: str | None = None, tests: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    facets: dict[str, Any] = {}
    if info.nominal_time:
        facets["nominalTime"] = nominal_time_run.NominalTimeRunFacet(nominalStartTime=info.nominal_time,
                                                                     producer=PRODUCER)
    parent = info.parents.get("parent")
    if parent:
        root = info.parents.get("root")
        facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=parent["run_id"]),
            job=parent_run.Job(namespace=parent["namespace"], name=parent["job"]),
            root=parent_run.Root(run=parent_run.RootRun(runId=root["run_id"]),
                                 job=parent_run.RootJob(namespace=root["namespace"], name=root["job"]))
            if root else None,
            producer=PRODUCER)
    if error:
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(message=error, programmingLanguage="python",
                                                                        producer=PRODUCER)
    if tests:
        facets["test"] = test_run.TestRunFacet(tests=[test_run.TestExecution(**t) for t in tests], producer=PRODUCER)
    return facets


def event(state: str, at: str, info: JobInfo, *, inputs: list[Any] | None = None, outputs: list[Any] | None = None,
          error: str | None = None, tests: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One run event as a JSON-ready dict (what the outbox stores and the transports send)."""
    built = ol.RunEvent(
        eventType=ol.RunState[state],
        eventTime=at,
        run=ol.Run(runId=info.run_id, facets=run_facets(info, error=error, tests=tests)),
        job=ol.Job(namespace=info.namespace, name=info.job, facets=job_facets(info)),
        inputs=inputs or [],
        outputs=outputs or [],
        producer=PRODUCER,
    )
    return Serde.to_dict(built)


def _schema(fields: list[Mapping[str, Any]] | None) -> schema_dataset.SchemaDatasetFacet | None:
    if not fields:
        return None
    return schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(name=str(f.get("name")), type=str(f.get("type") or "") or None,
                                                        ordinal_position=i + 1)
                for i, f in enumerate(fields) if f.get("name")],
        producer=PRODUCER)


def _base_facets(name: OLName, dataset: str, fields: list[Mapping[str, Any]] | None) -> dict[str, Any]:
    facets: dict[str, Any] = {"dataSource": datasource_dataset.DatasourceDatasetFacet(
        name=dataset, uri=source_uri(name), producer=PRODUCER)}
    schema = _schema(fields)
    if schema is not None:
        facets["schema"] = schema
    return facets


def input_dataset(name: OLName, dataset: str, *, fields: list[Mapping[str, Any]] | None = None,
                  assertions: list[dict[str, Any]] | None = None) -> ol.InputDataset:
    input_facets: dict[str, Any] = {}
    if assertions:
        input_facets["dataQualityAssertions"] = _assertions(assertions)
    return ol.InputDataset(namespace=name.namespace, name=name.name, facets=_base_facets(name, dataset, fields),
                           inputFacets=input_facets)


def output_dataset(name: OLName, dataset: str, *, fields: list[Mapping[str, Any]] | None = None,
                   rows: int | None = None, size: int | None = None, files: int | None = None,
                   column_lineage: dict[str, list[dict[str, Any]]] | None = None,
                   assertions: list[dict[str, Any]] | None = None) -> ol.OutputDataset:
    facets = _base_facets(name, dataset, fields)
    if column_lineage:
        facets["columnLineage"] = column_lineage_dataset.ColumnLineageDatasetFacet(
            fields={col: column_lineage_dataset.Fields(inputFields=[
                column_lineage_dataset.InputField(
                    namespace=src["namespace"], name=src["name"], field=src["field"],
                    transformations=[column_lineage_dataset.Transformation(
                        type="DIRECT", subtype=src["subtype"], masking=False)])
                for src in sources]) for col, sources in column_lineage.items() if sources},
            producer=PRODUCER)
    if assertions:
        facets["dataQualityAssertions"] = _assertions(assertions)
    stats: dict[str, Any] = {}
    if rows is not None or size is not None:
        stats["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=rows, size=size, fileCount=files, producer=PRODUCER)
    return ol.OutputDataset(namespace=name.namespace, name=name.name, facets=facets, outputFacets=stats)


def _assertions(items: list[dict[str, Any]]) -> data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet:
    keep = ("assertion", "success", "column", "severity", "name", "expected", "actual", "content", "contentType")
    return data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
        assertions=[data_quality_assertions_dataset.Assertion(**{k: a[k] for k in keep if a.get(k) is not None})
                    for a in items],
        producer=PRODUCER)


def expectation_results(check: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The expectations of one ``check`` event as assertion/test entries (expected and actual as strings)."""
    out = []
    severity = "error" if check.get("gate") == "fail" else "warn"
    for r in check.get("results") or []:
        kwargs = dict(r.get("kwargs") or {})
        column = kwargs.pop("column", None)
        kwargs.pop("result_format", None)
        if r.get("observed_value") is not None:
            actual = _text(r["observed_value"])
        elif r.get("unexpected_count") is not None:
            actual = f"{r['unexpected_count']} unexpected of {r.get('element_count')}"
        else:
            actual = None
        out.append({
            "assertion": str(r.get("expectation_type")),
            "success": bool(r.get("success")),
            "column": str(column) if column is not None else None,
            "severity": severity,
            "name": f"{check.get('suite')}:{r.get('expectation_type')}" + (f"({column})" if column else ""),
            "expected": _text(kwargs) if kwargs else "0 unexpected",
            "actual": actual,
            "content": _text({"type": r.get("expectation_type"), "kwargs": r.get("kwargs") or {}}),
            "contentType": "json",
        })
    return out


def as_tests(assertions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Assertion entries as ``test`` run-facet executions."""
    return [{"name": a["name"], "status": "pass" if a["success"] else "fail", "severity": a["severity"],
             "type": a["assertion"], "expected": a["expected"], "actual": a["actual"], "content": a["content"],
             "contentType": a["contentType"]} for a in assertions if True]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
