"""The run-history store: runs, their facts, incremental state and the publish journal.

This adapter owns every table nbpipe keeps in a database (SQLAlchemy 2 Core, no ORM). SQLite is
the embedded default (WAL journal, busy timeout, ``BEGIN IMMEDIATE`` for writes, so parallel runs
in several processes can share one file); PostgreSQL (``postgresql+psycopg://``) serves teams.
Every SQLAlchemy or driver error is translated into :class:`nbpipe.errors.StoreError` whose
message names the URL with its password masked and says how to fix it.

Timestamps go in as ISO-8601 strings (naive ones are taken as UTC) and come out as ISO-8601
UTC strings (``2013-01-02T06:00:00+00:00``) whatever the backend.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from nbpipe.errors import ParameterError, StoreError, did_you_mean
from nbpipe.run import store_migrations
from nbpipe.run.store_schema import (
    KEPT,
    RUN_CHILDREN,
    SUMMARY_COLUMNS,
    Row,
    child_rows,
    datasets,
    dumps,
    events,
    full_record,
    loads,
    meta,
    metadata,
    metrics,
    publish_journal,
    run_row,
    runs,
    state,
    state_history,
    without,
)

SCHEMA_VERSION = 2  # nbpipe.run.store_migrations brings older stores up to it
SQLITE_BUSY_TIMEOUT_S = 60.0
RUN_STATUSES = ("succeeded", "failed", "cancelled", "skipped", "running")
_PG_SCHEMA_LOCK = 7_426_001  # pg_advisory_xact_lock key that serialises schema creation
SUPPORTED_URLS = "sqlite:///runs/nbpipe.db or postgresql+psycopg://user:password@host:5432/db"
# The database drivers nbpipe supports, and how to install each (sqlite3 ships with Python).
DRIVER_INSTALL = {
    ("sqlite", "pysqlite"): "the sqlite3 module is part of Python; use a Python built with it",
    ("postgresql", "psycopg"): "pip install 'psycopg[binary]>=3.1,<4'",
}


def driver_problem(parsed: sa.URL) -> str | None:
    """Why nbpipe cannot use the database driver ``parsed`` names, or None when it is supported."""
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if (backend, driver) in DRIVER_INSTALL:
        return None
    if backend == "postgresql":
        return f"the driver {driver!r} is not supported for PostgreSQL; use postgresql+psycopg://"
    if backend == "sqlite":
        return f"the driver {driver!r} is not supported for SQLite; use sqlite:///PATH"
    return f"{backend!r} databases are not supported"


def mask_url(url: str) -> str:
    """Return ``url`` with its password replaced by ``***``."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return url.rsplit("@", 1)[-1]


def _hint(exc: BaseException, url: str) -> str:
    text = str(getattr(exc, "orig", None) or exc).lower()
    if "database is locked" in text:
        return (f"another process kept the SQLite store locked for over {SQLITE_BUSY_TIMEOUT_S:.0f} s; "
                "retry, or use a PostgreSQL store for many parallel runs")
    if "unable to open database file" in text or "readonly database" in text:
        return "check that the directory of the SQLite file exists and is writable"
    if any(s in text for s in ("connect", "refused", "timeout expired", "resolve host", "authentication")):
        return ("check that the database server is running and reachable, and the `store:` URL of the "
                "active profile in nbpipe.yaml (user, password, host, port, database)")
    if any(s in text for s in ("no such table", "does not exist")):
        return "the store schema is incomplete; point `store:` at a fresh database or restore the table"
    if isinstance(exc, sa_exc.IntegrityError):
        return "the store rejected inconsistent data; report this with the run id"
    return f"check the `store:` URL in nbpipe.yaml (now {url})"


class RunStore:
    """Read and write run history, incremental state and the publish journal in one database."""

    def __init__(self, url: str) -> None:
        """Connect to ``url`` and create the schema if it is missing.

        Args:
            url: ``sqlite:////abs/path/nbpipe.db`` or ``postgresql+psycopg://user:pw@host:5432/db``.

        Raises:
            StoreError: the URL is invalid, the driver is missing, the database is unreachable, or
                the schema was written by a newer nbpipe.
        """
        self.url = url
        self.safe_url = mask_url(url)
        try:
            parsed = sa.make_url(url)
        except sa_exc.ArgumentError as exc:
            raise StoreError(
                f"run store URL {self.safe_url!r} is not a valid database URL",
                hint="use sqlite:///runs/nbpipe.db or postgresql+psycopg://user:password@host:5432/db",
            ) from exc
        self._password = parsed.password
        self.dialect = parsed.get_backend_name()
        problem = driver_problem(parsed)
        if problem is not None:
            raise StoreError(f"run store {self.safe_url}: {problem}",
                             hint=f"set `store:` of the profile in nbpipe.yaml to {SUPPORTED_URLS}")
        try:
            self.engine = self._create_engine(parsed)
        except ImportError as exc:
            install = DRIVER_INSTALL[(self.dialect, parsed.get_driver_name())]
            raise StoreError(
                f"run store {self.safe_url}: the {parsed.get_driver_name()} database driver is not installed ({exc})",
                hint=install,
            ) from exc
        except sa_exc.SQLAlchemyError as exc:
            raise self._error("open the store", exc) from exc
        except OSError as exc:
            raise StoreError(f"run store {self.safe_url}: cannot create the SQLite file's directory: {exc}",
                             hint="check the `store:` path in nbpipe.yaml and that its directory is writable",
                             ) from exc
        self.schema_version = self._create_schema()

    def _create_engine(self, parsed: sa.URL) -> sa.Engine:
        if self.dialect != "sqlite":
            args = {"connect_timeout": 10} if self.dialect == "postgresql" else {}
            return sa.create_engine(parsed, pool_pre_ping=True, connect_args=args)
        if parsed.database and parsed.database != ":memory:" and not parsed.query.get("uri"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # the driver's own BEGIN is off; _on_begin issues it
            cursor = dbapi_conn.cursor()
            for pragma in (f"busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}", "journal_mode = WAL",
                           "synchronous = NORMAL", "foreign_keys = ON"):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            # Writers take the write lock up front: a deferred transaction that reads and then
            # writes fails at once (SQLITE_BUSY, no waiting) if another process committed between.
            write = conn.get_execution_options().get("nbpipe_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    def _error(self, action: str, exc: BaseException) -> StoreError:
        lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        if self._password:
            reason = reason.replace(self._password, "***")
        return StoreError(f"run store {self.safe_url}: could not {action}: {reason}",
                          hint=_hint(exc, self.safe_url))

    @contextmanager
    def _tx(self, action: str, *, write: bool = True) -> Iterator[sa.Connection]:
        """One transaction; SQLAlchemy, driver and JSON errors become :class:`StoreError`."""
        try:
            with self.engine.connect() as conn:
                if write:
                    conn = conn.execution_options(nbpipe_write=True)
                with conn.begin():
                    yield conn
        except StoreError:
            raise
        except (sa_exc.SQLAlchemyError, TypeError, ValueError) as exc:
            raise self._error(action, exc) from exc

    def _create_schema(self) -> int:
        with self._tx("create the store schema") as conn:
            if self.dialect == "postgresql":  # concurrent CREATE TABLEs would collide in pg_type
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_SCHEMA_LOCK})
            metadata.create_all(conn)
            found = conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
            if found is None:
                conn.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
            elif int(found) > SCHEMA_VERSION:
                raise StoreError(
                    f"run store {self.safe_url} has schema version {found}, newer than this nbpipe's "
                    f"{SCHEMA_VERSION}",
                    hint="upgrade nbpipe (pip install -U nbpipe) or point `store:` at another database",
                )
            elif int(found) < SCHEMA_VERSION:  # written by an older nbpipe: migrate, keeping every row
                found = str(store_migrations.migrate(conn, int(found)))
                conn.execute(meta.update().where(meta.c.key == "schema_version").values(value=found))
        return int(found or SCHEMA_VERSION)

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------ runs
    def start_run(self, run_id: str, pipeline: str, *, started_at: str, mode: str, profile: str,
                  params: dict[str, Any], run_dir: str) -> None:
        """Insert (or reset) the row of a run with status ``running``, before it executes."""
        row = {"run_id": run_id, "pipeline": pipeline, "status": "running", "mode": mode, "profile": profile,
               "started_at": started_at, "params_json": dumps(params), "run_dir": str(run_dir)}
        with self._tx(f"start run {run_id!r}") as conn:
            self._upsert(conn, runs, row, ["run_id"])

    def save_run(self, record: dict[str, Any], events: list[dict[str, Any]]) -> None:
        """Upsert a run's row from its run.json ``record`` and replace all its child rows, atomically.

        Args:
            record: the run.json dict (schema v1); optional extra keys ``fingerprint``, ``run_dir``
                and ``skipped_reason`` fill the columns of the same name.
            events: the run's events (``events.jsonl``), stored in order.
        """
        for key in ("run_id", "pipeline", "status"):
            if not record.get(key):
                raise StoreError(f"cannot save a run record without {key!r}",
                                 hint="pass the run.json dict the runner builds (nbpipe.core.records)")
        run_id = record["run_id"]
        with self._tx(f"save run {run_id!r}") as conn:
            kept = sa.select(*(runs.c[k] for k in KEPT)).where(runs.c.run_id == run_id)
            old = conn.execute(kept).mappings().first()
            self._upsert(conn, runs, run_row(record, dict(old or {})), ["run_id"])
            for table in RUN_CHILDREN:
                conn.execute(table.delete().where(table.c.run_id == run_id))
            for table, rows in child_rows(record, events).items():
                if rows:
                    conn.execute(table.insert(), [{"run_id": run_id, **r} for r in rows])

    def list_runs(self, pipeline: str | None = None, status: str | None = None,
                  limit: int = 20) -> list[dict[str, Any]]:
        """Summaries of the newest runs (newest first), optionally of one pipeline and/or status."""
        if status is not None and status not in RUN_STATUSES:
            raise StoreError(f"unknown run status {status!r}{did_you_mean(status, RUN_STATUSES)}",
                             hint=f"use one of: {', '.join(RUN_STATUSES)}")
        if limit < 1:
            raise StoreError(f"the run list limit must be at least 1, got {limit}", hint="pass --limit 20")
        query = sa.select(*SUMMARY_COLUMNS).order_by(runs.c.started_at.desc(), runs.c.run_id.desc()).limit(limit)
        if pipeline is not None:
            query = query.where(runs.c.pipeline == pipeline)
        if status is not None:
            query = query.where(runs.c.status == status)
        return self._rows("list runs", query)

    def get_run(self, run_id: str) -> dict[str, Any]:
        """The full record of a run, found by its id or a unique prefix of it.

        Raises:
            ParameterError: no run matches (with a did-you-mean) or the prefix matches several runs
                (a usage error: the run id given is wrong, the store is fine).
            StoreError: the store cannot be read.
        """
        pattern = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        ids: list[str] = []
        with self._tx(f"read run {run_id!r}", write=False) as conn:
            query = sa.select(runs).where(runs.c.run_id.like(pattern, escape="\\"))
            query = query.order_by(runs.c.run_id).limit(11)
            found: list[Row] = [dict(r) for r in conn.execute(query).mappings()]
            if not found:
                recent = sa.select(runs.c.run_id).order_by(runs.c.started_at.desc()).limit(500)
                ids = list(map(str, conn.execute(recent).scalars()))
        exact = [r for r in found if r["run_id"] == run_id]
        if exact or len(found) == 1:
            return full_record((exact or found)[0])
        if found:
            shown = ", ".join(r["run_id"] for r in found[:10]) + (", …" if len(found) > 10 else "")
            raise ParameterError(f"run id prefix {run_id!r} is ambiguous: it matches {shown}",
                                 hint="type more characters of the run id")
        near = did_you_mean(run_id, ids) or did_you_mean(run_id, [i[: len(run_id)] for i in ids])
        raise ParameterError(f"no run {run_id!r} in the run store {self.safe_url}{near}",
                             hint="list runs with `nbpipe runs [PIPELINE]`")

    def get_events(self, run_id: str) -> list[dict[str, Any]]:
        """The stored events of one run (exact id), in their original order."""
        query = sa.select(events).where(events.c.run_id == run_id).order_by(events.c.seq)
        out: list[Row] = []
        for row in self._rows(f"read the events of run {run_id!r}", query):
            event = {"ts": row["ts"], "kind": row["kind"], "source": row["source"]}
            if row["attempt"] is not None:
                event["attempt"] = row["attempt"]
            out.append({**event, **(loads(row["payload_json"]) or {})})
        return out

    def last_successful(self, pipeline: str, *, params_fingerprint: str | None = None) -> dict[str, Any] | None:
        """Summary (with ``fingerprint``) of the newest succeeded run of ``pipeline``, or None.

        Args:
            pipeline: The pipeline.
            params_fingerprint: Only runs whose record has this ``fingerprint_parts.params``
                (backfills compare a day with the last success *for that day's parameters*).
        """
        query = (sa.select(*SUMMARY_COLUMNS).where(runs.c.pipeline == pipeline, runs.c.status == "succeeded")
                 .order_by(runs.c.started_at.desc(), runs.c.run_id.desc()).limit(1))
        if params_fingerprint is not None:
            query = query.where(runs.c.record_json.contains(f'"params": {json.dumps(params_fingerprint)}'))
        found = self._rows(f"find the last successful run of {pipeline!r}", query)
        return found[0] if found else None

    def runs_before(self, cutoff_iso: str) -> list[dict[str, Any]]:
        """Summaries of the runs started before ``cutoff_iso``, oldest first (for gc)."""
        query = sa.select(*SUMMARY_COLUMNS).where(runs.c.started_at < cutoff_iso)
        return self._rows("list old runs", query.order_by(runs.c.started_at, runs.c.run_id))

    def delete_runs(self, run_ids: list[str]) -> int:
        """Delete runs with all their child rows in one transaction; return how many runs went."""
        deleted = 0
        with self._tx("delete runs") as conn:
            for start in range(0, len(run_ids), 500):
                chunk = list(run_ids[start : start + 500])
                for table in RUN_CHILDREN:
                    conn.execute(table.delete().where(table.c.run_id.in_(chunk)))
                deleted += conn.execute(runs.delete().where(runs.c.run_id.in_(chunk))).rowcount
        return deleted

    # ------------------------------------------------------------------------------- dashboard
    def metrics_history(self, pipeline: str | None = None,
                        since_iso: str | None = None) -> list[dict[str, Any]]:
        """Every metric of every run, oldest run first: run_id, pipeline, started_at, status, name, value."""
        query = sa.select(*_RUN_KEYS, metrics.c.name, metrics.c.value).join(metrics)
        return self._rows("read the metric history", _history(query, pipeline, since_iso, metrics.c.name))

    def dataset_history(self, pipeline: str | None = None, since_iso: str | None = None,
                        dataset: str | None = None) -> list[dict[str, Any]]:
        """Datasets read (``in``) and written (``out``) per run, oldest run first."""
        facts = ("dataset", "direction", "rows", "bytes", "rejected_rows", "schema_version")
        query = sa.select(*_RUN_KEYS, *(datasets.c[k] for k in facts)).join(datasets)
        if dataset is not None:
            query = query.where(datasets.c.dataset == dataset)
        query = _history(query, pipeline, since_iso, datasets.c.dataset)
        return self._rows("read the dataset history", query)

    # ----------------------------------------------------------------------------------- state
    def get_state(self, pipeline: str) -> dict[str, dict[str, Any]]:
        """The committed position of every dataset of ``pipeline``: ``{dataset: position}``."""
        query = sa.select(state.c.dataset, state.c.position_json).where(state.c.pipeline == pipeline)
        rows = self._rows(f"read the state of {pipeline!r}", query)
        return {r["dataset"]: loads(r["position_json"]) for r in rows}

    def state_history(self, pipeline: str, dataset: str | None = None) -> list[dict[str, Any]]:
        """Every position ever committed for ``pipeline``, oldest first, with run_id and committed_at."""
        query = sa.select(state_history).where(state_history.c.pipeline == pipeline)
        if dataset is not None:
            query = query.where(state_history.c.dataset == dataset)
        rows = self._rows(f"read the state history of {pipeline!r}", query.order_by(state_history.c.id))
        return [{**without(r, "position_json"), "position": loads(r["position_json"])} for r in rows]

    def commit_state(self, pipeline: str, run_id: str, positions: dict[str, dict[str, Any]], *,
                     committed_at: str) -> None:
        """Upsert the positions of ``pipeline`` and append them to the history, in one transaction."""
        with self._tx(f"commit the state of {pipeline!r} for run {run_id!r}") as conn:
            self._commit_state(conn, pipeline, run_id, positions, committed_at)

    def _commit_state(self, conn: sa.Connection, pipeline: str, run_id: str,
                      positions: dict[str, dict[str, Any]], committed_at: str) -> None:
        for dataset, position in positions.items():
            if not isinstance(dataset, str) or not dataset:
                raise StoreError(f"cannot commit the state of {pipeline!r}: {dataset!r} is no dataset name",
                                 hint="positions map dataset names to position dicts")
            row = {"pipeline": pipeline, "dataset": dataset, "position_json": dumps(position, strict=True),
                   "run_id": run_id, "committed_at": committed_at}
            self._upsert(conn, state, row, ["pipeline", "dataset"])
            conn.execute(state_history.insert().values(**row))

    # --------------------------------------------------------------------------- publish journal
    def begin_publish(self, run_id: str, pipeline: str, payload: dict[str, Any]) -> int:
        """Journal a publish as ``pending`` before any data moves; return the journal id."""
        row = {"run_id": run_id, "pipeline": pipeline, "payload_json": dumps(payload, strict=True),
               "status": "pending", "created_at": dt.datetime.now(dt.UTC)}
        insert = publish_journal.insert().values(**row).returning(publish_journal.c.id)
        with self._tx(f"journal the publish of run {run_id!r}") as conn:
            return int(conn.execute(insert).scalar_one())

    def finish_publish(self, journal_id: int, *, pipeline: str, run_id: str,
                       positions: dict[str, dict[str, Any]], committed_at: str) -> None:
        """Mark the journal entry done AND commit the state in one transaction: both or neither.

        Finishing an entry that is already ``done`` changes nothing (another recoverer won).

        Raises:
            StoreError: the journal id is unknown, or the transaction failed and nothing changed.
        """
        with self._tx(f"finish publish #{journal_id} of run {run_id!r}") as conn:
            where = publish_journal.c.id == journal_id
            if conn.execute(sa.select(publish_journal.c.status).where(where)).scalar() is None:
                raise StoreError(f"no publish journal entry #{journal_id} in the run store {self.safe_url}",
                                 hint="use the id begin_publish returned (see pending_publishes())")
            update = publish_journal.update().where(where, publish_journal.c.status == "pending")
            if conn.execute(update.values(status="done", finished_at=committed_at)).rowcount:
                self._commit_state(conn, pipeline, run_id, positions, committed_at)

    def publish_done(self, run_id: str) -> bool:
        """Whether a publish of ``run_id`` finished (its outputs are published and its state committed)."""
        query = sa.select(publish_journal.c.id).where(publish_journal.c.run_id == run_id,
                                                      publish_journal.c.status == "done")
        return bool(self._rows(f"read the publish journal of run {run_id!r}", query.limit(1)))

    def pending_publishes(self, pipeline: str | None = None) -> list[dict[str, Any]]:
        """Journal entries still ``pending`` (a runner died between publish and commit), oldest first."""
        query = sa.select(publish_journal).where(publish_journal.c.status == "pending")
        if pipeline is not None:
            query = query.where(publish_journal.c.pipeline == pipeline)
        rows = self._rows("list pending publishes", query.order_by(publish_journal.c.id))
        return [{**without(r, "payload_json"), "payload": loads(r["payload_json"])} for r in rows]

    # --------------------------------------------------------------------------------- helpers
    def _rows(self, action: str, query: sa.Select[Any]) -> list[dict[str, Any]]:
        with self._tx(action, write=False) as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def _upsert(self, conn: sa.Connection, table: sa.Table, row: dict[str, Any], keys: list[str]) -> None:
        updates = {k: v for k, v in row.items() if k not in keys}
        if self.dialect in ("sqlite", "postgresql"):
            if self.dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert
            else:
                from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
            conn.execute(insert(table).values(**row).on_conflict_do_update(index_elements=keys, set_=updates))
            return
        where = sa.and_(*(table.c[k] == row[k] for k in keys))
        if not conn.execute(table.update().where(where).values(**updates)).rowcount:
            conn.execute(table.insert().values(**row))


_RUN_KEYS = (runs.c.run_id, runs.c.pipeline, runs.c.started_at, runs.c.status)


def _history(query: sa.Select[Any], pipeline: str | None, since_iso: str | None, name: Any) -> sa.Select[Any]:
    if pipeline is not None:
        query = query.where(runs.c.pipeline == pipeline)
    if since_iso is not None:
        query = query.where(runs.c.started_at >= since_iso)
    return query.order_by(runs.c.started_at, runs.c.run_id, name)


