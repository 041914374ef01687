"""``nbpipe contracts diff DATASET``: a dataset's contract against the data at rest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nbpipe.core.config import Project
from nbpipe.core.contracts import (
    SchemaCheck,
    check_schema,
    contract_path,
    find_contract,
)
from nbpipe.core.layout import dataset_root
from nbpipe.errors import (
    DatasetError,
)
from nbpipe.promote.model import rel
from nbpipe.promote.propose import schema_of


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
        where = rel(contract_path(project, dataset), project.root)
        raise DatasetError(f"dataset {dataset!r} has no contract ({where} does not exist)",
                           hint="run `nbpipe promote NOTEBOOK` on the notebook that writes it")
    if cfg.format in ("jdbc", "kafka"):
        raise DatasetError(f"dataset {dataset!r} is a {cfg.format} source; `contracts diff` compares files")
    location = dataset_root(project, dataset, cfg)
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
    fields = schema_of(df)
    check = check_schema(contract, fields)
    present = {f["name"] for f in fields}
    strict = [c.name for c in contract.columns if not c.nullable and c.name in present]
    aggs = [F.count(F.lit(1)).alias("__rows")] + [
        F.sum(F.when(F.col(f"`{n}`").isNull(), 1).otherwise(0)).alias(f"n{i}") for i, n in enumerate(strict)]
    row = df.agg(*aggs).collect()[0]
    nulls = {n: int(row[f"n{i}"] or 0) for i, n in enumerate(strict)}
    return DataDrift(dataset, contract.version, rel(location, project.root), int(row["__rows"]), check,
                     {n: k for n, k in nulls.items() if k})
