"""What every incremental read shares: the batch it returns, the runner's committed state and resume
snapshot, and the dataset's root, key and contract."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbpipe.core import events
from nbpipe.core.config import DatasetConfig
from nbpipe.core.contracts import find_contract
from nbpipe.core.layout import dataset_root
from nbpipe.core.protocol import ENV_RESUME, ENV_STATE, handoff_json
from nbpipe.errors import DatasetError, StateError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

    from nbpipe.core.protocol import RunScope

FILE_FORMATS = ("csv", "json", "parquet")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass
class Batch:
    """What one incremental read returns to the context and proposes to the runner."""

    df: DataFrame
    kind: str
    position: dict[str, Any]
    snapshot: dict[str, Any]
    rows: int
    warnings: list[str] = field(default_factory=list)

    def proposal(self, dataset: str) -> dict[str, Any]:
        """The ``state_proposal`` event payload.

        The read kind is under ``incremental`` (and in ``position["kind"]``): an event's own
        ``kind`` field is the event kind, ``state_proposal``.
        """
        return {
            "dataset": dataset,
            "incremental": self.kind,
            "position": self.position,
            "snapshot": self.snapshot,
            "rows": self.rows,
            "warnings": self.warnings,
        }


# --------------------------------------------------------------------------- state from the runner


def committed_state() -> dict[str, Any]:
    """The committed positions ``{dataset: position}`` of this pipeline (``{}`` outside a run)."""
    return handoff_json(ENV_STATE)


def resume_snapshots() -> dict[str, Any]:
    """``{dataset: state_proposal payload}`` of the failed run being resumed (``{}`` otherwise)."""
    return handoff_json(ENV_RESUME)


def resume_part(resume: Mapping[str, Any] | None, kind: str, name: str) -> Mapping[str, Any] | None:
    if resume is None:
        return None
    position = resume.get("position")
    found = resume.get("incremental") or (position.get("kind") if isinstance(position, Mapping) else None)
    if found != kind or not isinstance(resume.get("snapshot"), Mapping) or not isinstance(position, Mapping):
        raise StateError(
            f"the resumed run read dataset {name!r} as {found!r}, this read is {kind!r}",
            hint="resume with the same notebook code, or start a fresh run without --resume",
        )
    return resume


def primary_key(ctx: RunScope, name: str, cfg: DatasetConfig) -> list[str]:
    """The dataset's ``primary_key`` from nbpipe.yaml, else from its contract."""
    if cfg.primary_key:
        return list(cfg.primary_key)
    contract = find_contract(ctx.project, name)
    return list(contract.primary_key) if contract is not None else []


def emit_read(ctx: RunScope, name: str, rows: int, path: str, kind: str) -> None:
    ctx.log.emit(events.DATASET_READ, dataset=name, rows=rows, bytes=None, schema_version=None,
                 rejected_rows=0, path=path, incremental=kind)


def source_root(ctx: RunScope, name: str, cfg: DatasetConfig) -> Path:
    """The root directory (or file) of a path dataset (``core.layout.dataset_root``); it must exist."""
    if not cfg.path:
        raise DatasetError(f"dataset {name!r} has no path", hint=f"set datasets.{name}.path in nbpipe.yaml")
    root = dataset_root(ctx.project, name, cfg)
    if not root.exists():
        raise DatasetError(
            f"input of dataset {name!r} is missing: {root} does not exist",
            hint=f"land data there first (e.g. `make demo`), or fix datasets.{name}.path in nbpipe.yaml",
        )
    return root
