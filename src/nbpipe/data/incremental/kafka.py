"""Kafka adapter: read a bounded batch of a topic into a Spark DataFrame.

A run reads, per partition, from the committed offset (or the earliest one) up to the end offset
seen *at run start*, never further, so messages produced while the run works wait for the next
run. The reader uses confluent-kafka with ``assign()`` (no consumer-group join, no offset commits:
nbpipe's own state store holds the positions). The frame has columns ``topic, partition, offset,
timestamp, key, value`` plus the fields parsed from JSON values when ``options.schema`` (a Spark
DDL string) is given.

Dataset options (``nbpipe.yaml``)::

    events: {format: kafka, options: {bootstrap.servers: "127.0.0.1:9092", topic: events,
             value_format: json, schema: "id INT, name STRING", timeout_s: "60",
             reader: consumer, kafka.security.protocol: PLAINTEXT}}

``kafka.*`` options are passed to the client without the prefix. ``reader: spark`` switches to
Spark's Kafka source (``startingOffsets``/``endingOffsets``) for clusters that ship the
``spark-sql-kafka`` jar; end offsets are still taken with confluent-kafka. That path is not
exercised by the test suite (the jar is not available here) beyond its error message.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from nbpipe.core.config import DatasetConfig
from nbpipe.core.contracts import find_contract
from nbpipe.core.sqltext import sql_name
from nbpipe.data.incremental import positions as state
from nbpipe.errors import DatasetError, StateError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

    from nbpipe.core.protocol import RunScope

KNOWN_OPTIONS = ("bootstrap.servers", "topic", "value_format", "schema", "reader", "timeout_s")
BASE_SCHEMA = "topic STRING, partition INT, offset BIGINT, timestamp TIMESTAMP, key STRING, value STRING"
BASE_COLUMNS = ("topic", "partition", "offset", "timestamp", "key", "value")
Ranges = dict[str, tuple[int, int]]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KafkaOptions:
    """The validated ``options`` of a ``format: kafka`` dataset."""

    dataset: str
    bootstrap: str
    topic: str
    value_format: str = "json"
    schema: str | None = None
    reader: str = "consumer"
    timeout_s: float = 60.0
    client: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, name: str, cfg: DatasetConfig) -> KafkaOptions:
        """Validate ``cfg.options``; errors name the option and what is allowed."""
        opts = dict(cfg.options)
        client = {k[len("kafka."):]: v for k, v in opts.items() if k.startswith("kafka.")}
        for key in opts:
            if key not in KNOWN_OPTIONS and not key.startswith("kafka."):
                raise DatasetError(
                    f"dataset {name!r}: unknown Kafka option {key!r}{did_you_mean(key, KNOWN_OPTIONS)}",
                    hint=f"allowed: {', '.join(KNOWN_OPTIONS)}, or kafka.<client setting>",
                )
        for key in ("bootstrap.servers", "topic"):
            if not opts.get(key):
                raise DatasetError(
                    f"dataset {name!r}: Kafka option {key!r} is missing",
                    hint=f"set datasets.{name}.options.{key} in nbpipe.yaml",
                )
        checks = {"value_format": ("json", "string"), "reader": ("consumer", "spark")}
        for key, allowed in checks.items():
            if key in opts and opts[key] not in allowed:
                raise DatasetError(
                    f"dataset {name!r}: {key}={opts[key]!r}{did_you_mean(opts[key], allowed)}",
                    hint=f"allowed: {', '.join(allowed)}",
                )
        try:
            timeout = float(opts.get("timeout_s", "60"))
        except ValueError:
            raise DatasetError(f"dataset {name!r}: timeout_s={opts['timeout_s']!r} is not a number") from None
        return cls(
            dataset=name,
            bootstrap=opts["bootstrap.servers"],
            topic=opts["topic"],
            value_format=opts.get("value_format", "json"),
            schema=opts.get("schema") or None,
            reader=opts.get("reader", "consumer"),
            timeout_s=timeout,
            client=client,
        )


@dataclass
class KafkaBatch:
    """One bounded batch: the frame, the proposed position and exactly what was read."""

    df: DataFrame
    position: dict[str, Any]
    snapshot: dict[str, Any]
    rows: int
    warnings: list[str] = field(default_factory=list)


def consumer_config(opts: KafkaOptions, group: str) -> dict[str, Any]:
    """confluent-kafka settings: no auto commit (nbpipe keeps positions), EOF events on."""
    conf: dict[str, Any] = {
        "bootstrap.servers": opts.bootstrap,
        "group.id": group,
        "client.id": "nbpipe",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "error",
        "fetch.wait.max.ms": 100,
    }
    conf.update(opts.client)
    return conf


def _consumer(opts: KafkaOptions, group: str) -> Any:
    from confluent_kafka import Consumer, KafkaException

    try:
        return Consumer(consumer_config(opts, group), logger=log)
    except (KafkaException, ValueError) as exc:
        raise DatasetError(f"dataset {opts.dataset!r}: cannot create a Kafka consumer: {exc}",
                           hint=f"check datasets.{opts.dataset}.options in nbpipe.yaml") from exc


def query_offsets(consumer: Any, opts: KafkaOptions) -> tuple[dict[str, int], dict[str, int]]:
    """Earliest and end (high-water) offsets per partition, now.

    End offsets are the larger of the broker's ListOffsets answer and the high-water mark a fetch
    at that offset reports: some Kafka-protocol brokers (Tansu 0.6) answer ListOffsets with the
    last *batch's* base offset + 1, which would strand the tail of a multi-record batch.
    """
    from confluent_kafka import KafkaError, KafkaException, TopicPartition

    topic = opts.topic
    try:
        meta = consumer.list_topics(topic, timeout=opts.timeout_s)
    except KafkaException as exc:
        raise DatasetError(f"dataset {opts.dataset!r}: Kafka at {opts.bootstrap} is not reachable: {exc}",
                           hint="start the broker or fix options.bootstrap.servers") from exc
    found = meta.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        try:
            listed_all = consumer.list_topics(timeout=opts.timeout_s).topics
        except KafkaException:
            listed_all = {}
        names = [t for t in listed_all if t != topic and not t.startswith("__")]
        raise DatasetError(
            f"dataset {opts.dataset!r}: topic {topic!r} does not exist on {opts.bootstrap}"
            f"{did_you_mean(topic, names)}",
            hint="create the topic or fix options.topic in nbpipe.yaml",
        )
    starts: dict[str, int] = {}
    listed: dict[str, int] = {}
    for part in sorted(found.partitions):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, part), timeout=opts.timeout_s,
                                                   cached=False)
        starts[str(part)], listed[str(part)] = int(low), int(high)
    consumer.assign([TopicPartition(topic, int(p), off) for p, off in listed.items()])
    pending = set(listed)
    deadline = time.monotonic() + min(opts.timeout_s, 10.0)
    while pending and time.monotonic() < deadline:
        for msg in consumer.consume(500, timeout=0.2):
            err = msg.error()
            if err is not None and err.code() != KafkaError._PARTITION_EOF:
                raise DatasetError(f"dataset {opts.dataset!r}: probing {topic!r} failed: {err}")
            pending.discard(str(msg.partition()))
    ends = {}
    for part, high in listed.items():
        fetched = consumer.get_watermark_offsets(TopicPartition(topic, int(part)), cached=True)
        ends[part] = max(high, int(fetched[1])) if fetched else high
    consumer.unassign()
    return starts, ends


def consume_ranges(consumer: Any, opts: KafkaOptions, ranges: Mapping[str, tuple[int, int]]) -> list[tuple]:
    """Messages with ``from <= offset < until`` per partition, as rows of :data:`BASE_SCHEMA`.

    Raises:
        DatasetError: the broker reports an error, or the range is not complete within
            ``timeout_s`` (messages deleted, or an open transaction holds them back).
    """
    from confluent_kafka import KafkaError, TopicPartition

    todo = {p: r for p, r in ranges.items() if r[1] > r[0]}
    if not todo:
        return []
    consumer.assign([TopicPartition(opts.topic, int(p), frm) for p, (frm, _until) in todo.items()])
    rows: list[tuple] = []
    last = {p: frm - 1 for p, (frm, _until) in todo.items()}
    done: set[str] = set()
    deadline = time.monotonic() + opts.timeout_s
    while len(done) < len(todo):
        if time.monotonic() > deadline:
            stuck = ", ".join(f"[{p}] at {last[p] + 1} of {todo[p][1]}" for p in sorted(set(todo) - done))
            raise DatasetError(
                f"dataset {opts.dataset!r}: reading {opts.topic!r} timed out after {opts.timeout_s:g}s: "
                f"{stuck}",
                hint=f"raise datasets.{opts.dataset}.options.timeout_s, or check the broker",
            )
        for msg in consumer.consume(1000, timeout=0.5):
            part = str(msg.partition())
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    if part in todo and msg.offset() >= todo[part][1]:
                        done.add(part)
                    continue
                raise DatasetError(f"dataset {opts.dataset!r}: reading {opts.topic!r}[{part}] failed: {err}",
                                   hint="messages may have been deleted by retention; see the broker log")
            if part not in todo or part in done:
                continue
            offset = msg.offset()
            until = todo[part][1]
            if offset >= until:
                done.add(part)
                consumer.pause([TopicPartition(opts.topic, int(part))])
                continue
            last[part] = offset
            rows.append(_row(msg))
            if offset >= until - 1:
                done.add(part)
                consumer.pause([TopicPartition(opts.topic, int(part))])
    consumer.unassign()
    return rows


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", errors="replace")


def _row(msg: Any) -> tuple:
    ts_type, ts_ms = msg.timestamp()
    stamp = None if ts_type == 0 or ts_ms < 0 else dt.datetime.fromtimestamp(ts_ms / 1000, tz=dt.UTC)
    return (msg.topic(), msg.partition(), msg.offset(), stamp, _text(msg.key()), _text(msg.value()))


def to_frame(spark: SparkSession, rows: list[tuple], opts: KafkaOptions) -> DataFrame:
    """The batch as a DataFrame, with JSON fields parsed when a schema is configured."""
    df = spark.createDataFrame(rows, BASE_SCHEMA)
    return parse_values(df, opts)


def parse_values(df: DataFrame, opts: KafkaOptions) -> DataFrame:
    """Add the fields of JSON values (``options.schema``) as columns; bad JSON gives nulls."""
    if opts.value_format != "json" or not opts.schema:
        return df
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructType

    hint = 'e.g. schema: "id INT, name STRING, ts TIMESTAMP"'
    try:
        schema = StructType.fromDDL(opts.schema)
    except Exception as exc:
        raise DatasetError(f"dataset {opts.dataset!r}: options.schema is not a Spark DDL schema: {exc}",
                           hint=hint) from exc
    if not isinstance(schema, StructType):
        raise DatasetError(f"dataset {opts.dataset!r}: options.schema must list fields", hint=hint)
    clash = [f.name for f in schema.fields if f.name in BASE_COLUMNS]
    if clash:
        raise DatasetError(f"dataset {opts.dataset!r}: schema field {clash[0]!r} clashes with a Kafka column",
                           hint=f"rename it; the columns {', '.join(BASE_COLUMNS)} are always present")
    parsed = "__nbpipe_json"
    return df.withColumn(parsed, F.from_json(F.col("value"), schema)).select(*BASE_COLUMNS, f"{parsed}.*")


def spark_source(spark: SparkSession, opts: KafkaOptions, ranges: Ranges) -> DataFrame:
    """The same bounded batch through Spark's Kafka source (needs the spark-sql-kafka jar)."""
    parts = {opts.topic: [int(p) for p in ranges]}
    reader = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", opts.bootstrap)
        .option("assign", json.dumps(parts))
        .option("startingOffsets", json.dumps({opts.topic: {p: r[0] for p, r in ranges.items()}}))
        .option("endingOffsets", json.dumps({opts.topic: {p: r[1] for p, r in ranges.items()}}))
    )
    for key, value in opts.client.items():
        reader = reader.option(f"kafka.{key}", value)
    try:
        df = reader.load()
    except Exception as exc:
        raise DatasetError(
            f"dataset {opts.dataset!r}: Spark's Kafka source is not available: {str(exc).splitlines()[0]}",
            hint="add the jar (spark.jars.packages: org.apache.spark:spark-sql-kafka-0-10_2.13:<spark "
            "version>) to the profile's spark.conf, or drop options.reader to use the built-in reader",
        ) from exc
    base = df.selectExpr("topic", "partition", "offset", "timestamp",
                         "CAST(key AS STRING) AS key", "CAST(value AS STRING) AS value")
    return parse_values(base, opts)


def contract_schema(ctx: RunScope, name: str) -> str | None:
    """The JSON value schema from the dataset's contract: its columns minus the Kafka columns."""
    contract = find_contract(ctx.project, name)
    if contract is None:
        return None
    fields = [c for c in contract.columns if c.name not in BASE_COLUMNS]
    return ", ".join(f"{sql_name(c.name)} {c.type}" for c in fields) or None


def read_kafka(
    ctx: RunScope,
    name: str,
    cfg: DatasetConfig,
    position: dict[str, Any],
    *,
    resume: Mapping[str, Any] | None = None,
) -> KafkaBatch:
    """Read the next bounded batch of dataset ``name`` (or exactly the resumed run's batch)."""
    opts = KafkaOptions.from_config(name, cfg)
    if opts.value_format == "json" and not opts.schema:
        opts = replace(opts, schema=contract_schema(ctx, name))
    committed = state.committed_offsets(position, opts.topic, name)
    consumer = _consumer(opts, group=f"nbpipe-{ctx.pipeline or 'explore'}")
    try:
        starts, ends = query_offsets(consumer, opts)
        if resume is not None:
            ranges, new_position = _resumed_ranges(resume, opts, starts)
            warnings: list[str] = []
        else:
            ranges, warnings = state.kafka_ranges(committed, ends, starts, topic=opts.topic)
            new_position = state.advance_kafka(position, opts.topic, ranges)
        if opts.reader == "spark" and any(u > f for f, u in ranges.values()):
            df = spark_source(ctx.spark, opts, ranges)
            rows = int(df.count())
        else:
            records = consume_ranges(consumer, opts, ranges) if opts.reader == "consumer" else []
            df = to_frame(ctx.spark, records, opts)
            rows = len(records)
    finally:
        consumer.close()
    snapshot = {"topic": opts.topic, "ranges": {p: [f, u] for p, (f, u) in ranges.items()}}
    return KafkaBatch(df, new_position, snapshot, rows, warnings)


def _resumed_ranges(
    resume: Mapping[str, Any], opts: KafkaOptions, starts: Mapping[str, int]
) -> tuple[Ranges, dict[str, Any]]:
    snap = resume["snapshot"]
    if snap.get("topic") != opts.topic:
        raise StateError(f"the resumed run read topic {snap.get('topic')!r}, not {opts.topic!r}",
                         hint="restore options.topic, or start a fresh run without --resume")
    ranges = {str(p): (int(r[0]), int(r[1])) for p, r in snap.get("ranges", {}).items()}
    for part, (frm, until) in ranges.items():
        if until > frm and frm < starts.get(part, 0):
            raise StateError(
                f"cannot resume {opts.topic!r}[{part}]: offsets from {frm} were deleted by retention",
                hint="start a fresh run without --resume",
            )
    return ranges, dict(resume["position"])
