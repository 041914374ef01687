"""A dataset's contract against its current data (``nbpipe contracts diff``), and source headers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nbpipe.core.config import Project
from nbpipe.core.contracts import (
    CORRUPT_COLUMN,
    ContractDiff,
    contract_from_schema,
    contract_path,
    diff_contracts,
    load_contract,
)
from nbpipe.core.layout import dataset_config
from nbpipe.data.sources import flexible_frame, locate
from nbpipe.data.write import (
    frame_fields,
)

if TYPE_CHECKING:  # pragma: no cover

    pass

# --------------------------------------------------------------------------- contracts vs data
def diff_contract_with_data(project: Project, dataset: str) -> ContractDiff:
    """Compare a dataset's contract with the schema of its current data (``nbpipe contracts diff``).

    The data side is read as explore mode would (inferred schema); a column is nullable on the
    data side when it holds nulls.
    """
    from pyspark.sql import functions as F

    from nbpipe.spark.session import get_session

    contract = load_contract(contract_path(project, dataset))
    cfg = dataset_config(project, dataset)
    src = locate(project, dataset, cfg, None)
    df = flexible_frame(get_session(project), dataset, cfg, src, None)
    fields = [f for f in frame_fields(df) if f["name"] != CORRUPT_COLUMN]
    names = [f["name"] for f in fields]
    nulls = {}
    if names and (src.files or cfg.format == "jdbc"):
        row = df.agg(*[F.count(F.when(F.col(f"`{c}`").isNull(), 1)) for c in names]).collect()[0]
        nulls = dict(zip(names, row, strict=True))
    data_fields = [{**f, "nullable": bool(nulls.get(f["name"]))} for f in fields]
    diff = diff_contracts(contract, contract_from_schema(dataset, data_fields, version=contract.version),
                          compare_keys=False)
    diff.new_version = None
    return diff
