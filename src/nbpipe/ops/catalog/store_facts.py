"""The run-store queries behind the catalog: a fixed number whatever the number of datasets and runs.

Production runs only (explore runs write to a sandbox, never to the datasets they name).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from nbpipe.errors import StoreError
from nbpipe.run.store_schema import checks, datasets, runs

_PROD = sa.or_(runs.c.mode.is_(None), runs.c.mode != "explore")


@contextmanager
def _reading(store: Any, what: str) -> Iterator[sa.Connection]:
    try:
        with store.engine.connect() as conn:
            yield conn
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(f"run store {store.safe_url}: could not read {what}: {type(exc).__name__}",
                         hint="check the `store:` of the profile in nbpipe.yaml") from exc


def outputs(store: Any) -> list[dict[str, Any]]:
    """Every dataset a succeeded production run wrote: dataset, started_at, rows, schema_version; oldest first."""
    query = (
        sa.select(datasets.c.dataset, runs.c.started_at, datasets.c.rows, datasets.c.schema_version)
        .join(runs, runs.c.run_id == datasets.c.run_id)
        .where(datasets.c.direction == "out", runs.c.status == "succeeded", _PROD)
        .order_by(runs.c.started_at, runs.c.run_id)
    )
    with _reading(store, "the dataset history") as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def last_successes(store: Any) -> dict[str, str]:
    """Per pipeline, when its newest succeeded production run ended (started, if it has no end)."""
    query = (
        sa.select(runs.c.pipeline, sa.func.max(sa.func.coalesce(runs.c.ended_at, runs.c.started_at)))
        .where(runs.c.status == "succeeded", _PROD)
        .group_by(runs.c.pipeline)
    )
    with _reading(store, "the last successful runs") as conn:
        return {str(p): str(at) for p, at in conn.execute(query) if at is not None}


def check_tallies(store: Any) -> dict[str, list[tuple[str, int, int]]]:
    """Per dataset, ``(started_at, expectations, passed)`` of each production run that checked it, oldest first."""
    passed = sa.func.sum(sa.case((checks.c.success.is_(True), 1), else_=0))
    query = (
        sa.select(checks.c.dataset, runs.c.run_id, runs.c.started_at, sa.func.count(), passed)
        .join(runs, runs.c.run_id == checks.c.run_id)
        .where(_PROD)
        .group_by(checks.c.dataset, runs.c.run_id, runs.c.started_at)
        .order_by(runs.c.started_at, runs.c.run_id)
    )
    out: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    with _reading(store, "the check history") as conn:
        for dataset, _run, started, total, ok in conn.execute(query).tuples():
            if dataset:
                out[str(dataset)].append((str(started), int(total), int(ok or 0)))
    return out
