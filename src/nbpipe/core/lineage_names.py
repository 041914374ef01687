"""Datasets named per OpenLineage's naming conventions (spec/Naming.md), and a run's lineage.

* files (csv, json, parquet, on local disk): namespace ``file``, name the absolute path;
* Kafka topics: namespace ``kafka://{bootstrap host}:{port}``, name the topic;
* JDBC tables: namespace ``{scheme}://{host}:{port}`` (``postgres``, ``mysql``, …), name
  ``{database}.{schema}.{table}`` (``{database}.{table}`` where the database has no schemas).

The rules are those of ``openlineage.client.naming.dataset`` (``LocalFileSystem``, ``Kafka``,
``Postgres``, ``MySQL``; the tests hold them equal); they are written out here because the run
report shows these names on every run, and a project with lineage off must not import the client.

:func:`run_lineage` is the run report's lineage section as data: this run's inputs → pipeline →
outputs with their OpenLineage names (pure, in ``core`` so the report layer can call it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from nbpipe.core.config import DatasetConfig, Project
from nbpipe.core.layout import dataset_config, dataset_root
from nbpipe.errors import DatasetError

# JDBC subprotocol → OpenLineage scheme, and whether its names carry a schema.
_JDBC = {"postgresql": ("postgres", True), "mysql": ("mysql", False), "mariadb": ("mysql", False),
         "sqlserver": ("mssql", True), "oracle": ("oracle", False), "db2": ("db2", True)}
_DEFAULT_SCHEMA = {"postgres": "public", "mssql": "dbo"}


@dataclass(frozen=True)
class OLName:
    """An OpenLineage dataset identity."""

    namespace: str
    name: str

    def as_dict(self) -> dict[str, str]:
        return {"namespace": self.namespace, "name": self.name}


def dataset_name(project: Project, dataset: str, cfg: DatasetConfig | None = None) -> OLName:
    """The OpenLineage name of an nbpipe dataset.

    Raises:
        DatasetError: the dataset's location cannot be named (e.g. a JDBC URL without a host).
    """
    cfg = cfg or dataset_config(project, dataset)
    if cfg.format == "kafka":
        return kafka_name(cfg.options.get("bootstrap.servers", ""), cfg.options.get("topic", ""), dataset)
    if cfg.format == "jdbc":
        return jdbc_name(cfg.options.get("url", ""), cfg.options.get("dbtable", ""), dataset)
    return OLName("file", str(dataset_root(project, dataset, cfg)))


def kafka_name(bootstrap: str, topic: str, dataset: str = "?") -> OLName:
    """``kafka://host:port`` and the topic (the first bootstrap server names the cluster)."""
    first = bootstrap.split(",")[0].strip().split("://")[-1]
    host, _, port = first.rpartition(":")
    if not host or not port.isdigit() or not topic:
        raise DatasetError(
            f"dataset {dataset!r}: Kafka bootstrap.servers {first!r} / topic {topic!r} give no OpenLineage name",
            hint=f"set datasets.{dataset}.options to bootstrap.servers: host:port and topic: NAME")
    return OLName(f"kafka://{host}:{port}", topic)


def jdbc_name(url: str, table: str, dataset: str = "?") -> OLName:
    """``postgres://host:port`` and ``db.schema.table`` from a JDBC URL and ``dbtable``."""
    rest = url.removeprefix("jdbc:")
    parts = urlsplit(rest)
    scheme, has_schema = _JDBC.get(parts.scheme, (parts.scheme, True))
    database = parts.path.lstrip("/").split(";")[0]
    if not parts.hostname or not database or not table or "(" in table or " " in table.strip():
        raise DatasetError(
            f"dataset {dataset!r}: JDBC url {url.split('?')[0].split('@')[-1]!r} with dbtable {table!r} "
            "gives no OpenLineage name (it needs jdbc:<db>://host:port/database and a table name)",
            hint=f"set datasets.{dataset}.options.dbtable to schema.table (a subquery has no dataset name)")
    port = parts.port or {"postgres": 5432, "mysql": 3306, "mssql": 1433, "oracle": 1521, "db2": 50000}.get(scheme)
    pieces = table.strip().split(".")
    if has_schema and len(pieces) == 1:
        pieces = [_DEFAULT_SCHEMA.get(scheme, "public"), *pieces]
    return OLName(f"{scheme}://{parts.hostname}:{port}", ".".join([database, *pieces]))


def source_uri(name: OLName) -> str:
    """A URI for the ``dataSource`` facet: the namespace, or ``file://`` plus the path for files."""
    return f"file://{name.name}" if name.namespace == "file" else name.namespace


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
