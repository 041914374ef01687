"""What every event of a run repeats, and its run id: pure, so a run's START costs no client import.

``openlineage`` takes seconds to import on a busy machine (its package imports every transport);
the runner only creates the run's identity here and leaves building and sending the events to
the background thread (:mod:`~nbpipe.run.lineage.forward`).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

MAX_SOURCE_CHARS = 200_000


@dataclass
class JobInfo:
    """Identity, job facets and run facets known at start."""

    namespace: str
    job: str
    run_id: str
    source_code: str | None = None
    git: dict[str, str] | None = None  # url, commit, path
    nominal_time: str | None = None
    parents: dict[str, Any] = field(default_factory=dict)  # parent / root: {namespace, job, run_id}


def uuid7(at: dt.datetime) -> str:
    """A UUID version 7 (RFC 9562: 48-bit Unix milliseconds, then random bits), as the client's
    ``generate_new_uuid`` makes, without importing the client."""
    ms = int(at.timestamp() * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms << 80) | (0x7 << 76) | (((rand >> 62) & 0xFFF) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def parent_from_env(value: str | None) -> dict[str, str] | None:
    """``namespace/job/run_id`` (the Airflow provider's format) as a parent, or None if malformed."""
    if not value:
        return None
    namespace, _, rest = value.partition("/")
    job, _, run_id = rest.rpartition("/")
    try:
        uuid.UUID(run_id)
    except ValueError:
        return None
    if not namespace or not job:
        return None
    return {"namespace": namespace, "job": job, "run_id": run_id}


def dag_parent(namespace: str, dag_run_id: str) -> dict[str, str]:
    """The ``nbpipe dag run`` a run belongs to, as a parent run (job ``dag``; UUID derived from its id)."""
    return {"namespace": namespace, "job": "dag",
            "run_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"nbpipe:{namespace}:{dag_run_id}"))}


def backfill_parent(namespace: str, pipeline: str, backfill_id: str) -> dict[str, str]:
    """The backfill a run belongs to, as a parent run (its UUID derived from the backfill id)."""
    return {"namespace": namespace, "job": f"{pipeline}.backfill",
            "run_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"nbpipe:{namespace}:{backfill_id}"))}
