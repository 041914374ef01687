"""nbpipe's own expectation types, declared to great-expectations so GX can load every suite.

Importing this module registers ``expect_column_values_to_be_in_dataset`` in GX's expectation
registry. GX cannot evaluate it (it needs another dataset), so its ``_validate`` reports that
nbpipe's fast path validates it; :func:`nbpipe.quality.run_checkpoint` always does.
"""

from __future__ import annotations

from typing import Any, ClassVar

from great_expectations.expectations.expectation import BatchExpectation
from great_expectations.expectations.model_field_types import MostlyField


class ExpectColumnValuesToBeInDataset(BatchExpectation):
    """Non-null ``column`` values must occur in ``dataset_column`` of another dataset (a foreign key)."""

    column: str
    dataset: str
    dataset_column: str | None = None
    mostly: MostlyField = 1.0  # GX's own field: 0..1, a float or a suite parameter

    domain_keys: ClassVar[tuple[str, ...]] = ("batch_id", "table", "column")
    success_keys: ClassVar[tuple[str, ...]] = ("dataset", "dataset_column", "mostly")
    metric_dependencies: ClassVar[tuple[str, ...]] = ("table.row_count",)

    def _validate(
        self,
        metrics: dict[str, Any],
        runtime_configuration: dict[str, Any] | None = None,
        execution_engine: Any = None,
    ) -> dict[str, Any]:
        return {
            "success": False,
            "result": {
                "observed_value": None,
                "details": {"message": "validated by nbpipe.quality.run_checkpoint (needs the referenced "
                                       f"dataset {self.dataset!r}), not by great-expectations"},
            },
        }
