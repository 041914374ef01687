"""Bounded Kafka batches against a real Kafka-protocol broker (Tansu) and real Spark."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from nbpipe.core import events
from nbpipe.core.protocol import ENV_RESUME, ENV_STATE
from nbpipe.data.incremental import read_incremental
from nbpipe.data.incremental.kafka import KafkaOptions, consume_ranges, query_offsets, read_kafka
from nbpipe.errors import DatasetError, StateError
from tests.support import kafka_broker as kb
from tests.support.projects import load
from tests.support.scope import ScopeForTest

pytestmark = [pytest.mark.spark, pytest.mark.kafka, pytest.mark.usefixtures("clean_env")]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with kb.TansuBroker(tmp_path_factory.mktemp("kafka")) as running:
        yield running


class Topic:
    """A fresh topic on the broker, a project whose dataset ``events`` reads it, and a runner-like read."""

    def __init__(self, root: Path, broker: Any, spark: Any, mp: pytest.MonkeyPatch, partitions: int,
                 **options: str) -> None:
        self.name = f"t_{uuid.uuid4().hex[:8]}"
        self.broker, self.spark, self.mp, self.root = broker, spark, mp, root
        kb.create_topic(broker.bootstrap, self.name, partitions)
        opts = {"bootstrap.servers": broker.bootstrap, "topic": self.name, "timeout_s": "30", **options}
        self.project = load(root, project="k", datasets={"events": {"format": "kafka", "options": opts}})
        self.runs = 0

    def produce(self, items: list[tuple[int, dict | str]]) -> None:
        kb.produce(self.broker.bootstrap, self.name, [
            (p, f"k{p}".encode(), (json.dumps(v) if isinstance(v, dict) else v).encode()) for p, v in items
        ])

    def context(self) -> ScopeForTest:
        self.runs += 1
        run_id = f"r{self.runs}"
        return ScopeForTest(self.project, self.spark, self.root / "runs" / run_id, run_id=run_id, pipeline="p")

    def read(self, committed: dict | None, resume: dict | None = None) -> tuple[list[Any], dict]:
        ctx = self.context()
        ctx.run_dir.mkdir(parents=True)
        (ctx.run_dir / "state_in.json").write_text(json.dumps({"events": committed} if committed else {}))
        self.mp.setenv(ENV_STATE, str(ctx.run_dir / "state_in.json"))
        if resume is not None:
            (ctx.run_dir / "resume.json").write_text(json.dumps({"events": resume}))
            self.mp.setenv(ENV_RESUME, str(ctx.run_dir / "resume.json"))
        else:
            self.mp.delenv(ENV_RESUME, raising=False)
        df = read_incremental(ctx, "events")
        (proposal,) = events.of_kind(ctx.log.read(), events.STATE_PROPOSAL)
        (read,) = events.of_kind(ctx.log.read(), events.DATASET_READ)
        assert read["rows"] == proposal["rows"]
        return df.orderBy("partition", "offset").collect(), proposal


@pytest.fixture
def topic_factory(tmp_path: Path, broker: Any, spark: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    def make(partitions: int = 1, **options: str) -> Topic:
        root = tmp_path / uuid.uuid4().hex[:6]
        root.mkdir()
        return Topic(root, broker, spark, monkeypatch, partitions, **options)

    return make


def test_bounded_batches_and_committed_offsets(topic_factory: Any) -> None:
    t = topic_factory(partitions=3, schema="id INT, name STRING")
    t.produce([(i % 3, {"id": i, "name": f"n{i}"}) for i in range(10)])
    rows, prop = t.read(None)
    assert sorted(r["id"] for r in rows) == list(range(10))
    assert rows[0].asDict().keys() == {"topic", "partition", "offset", "timestamp", "key", "value", "id",
                                       "name"}
    assert {r["key"] for r in rows} == {"k0", "k1", "k2"} and rows[0]["timestamp"] is not None
    assert prop["incremental"] == "kafka" and prop["rows"] == 10
    assert prop["position"] == {"kind": "kafka", "topic": t.name, "offsets": {"0": 4, "1": 3, "2": 3}}
    assert prop["snapshot"]["ranges"] == {"0": [0, 4], "1": [0, 3], "2": [0, 3]}
    # the runner committed the position: the next run gets only what is new, on any partition
    t.produce([(1, {"id": 10, "name": "n10"}), (2, {"id": 11, "name": "n11"})])
    rows2, prop2 = t.read(prop["position"])
    assert [(r["partition"], r["offset"], r["id"]) for r in rows2] == [(1, 3, 10), (2, 3, 11)]
    assert prop2["position"]["offsets"] == {"0": 4, "1": 4, "2": 4}
    rows3, prop3 = t.read(prop2["position"])
    assert rows3 == [] and prop3["rows"] == 0 and prop3["position"] == prop2["position"]


def test_messages_produced_after_run_start_are_not_included(topic_factory: Any, spark: Any) -> None:
    t = topic_factory(partitions=2)
    t.produce([(0, "a"), (0, "b"), (1, "c")])
    opts = KafkaOptions.from_config("events", t.project.dataset("events"))
    consumer = kb_consumer(opts)
    try:
        starts, ends = query_offsets(consumer, opts)  # run start
        assert ends == {"0": 2, "1": 1} and starts == {"0": 0, "1": 0}
        t.produce([(0, "late1"), (1, "late2"), (1, "late3")])  # while the run works
        rows = consume_ranges(consumer, opts, {p: (starts[p], ends[p]) for p in ends})
    finally:
        consumer.close()
    assert sorted((r[1], r[2], r[5]) for r in rows) == [(0, 0, "a"), (0, 1, "b"), (1, 0, "c")]
    # the late messages are the next run's batch
    committed = {"kind": "kafka", "topic": t.name, "offsets": ends}
    later, prop = t.read(committed)
    assert [r["value"] for r in later] == ["late1", "late2", "late3"]
    assert prop["position"]["offsets"] == {"0": 3, "1": 3}


def kb_consumer(opts: KafkaOptions) -> Any:
    from nbpipe.data.incremental.kafka import _consumer

    return _consumer(opts, group="test")


def test_string_values_without_schema_and_explore_read(topic_factory: Any) -> None:
    t = topic_factory(value_format="string")
    t.produce([(0, "plain text"), (0, "ünïcode")])
    ctx = t.context()
    df = read_incremental(ctx, "events")  # no NBPIPE_STATE: explore-style empty state
    assert df.columns == ["topic", "partition", "offset", "timestamp", "key", "value"]
    assert [r["value"] for r in df.orderBy("offset").collect()] == ["plain text", "ünïcode"]
    (prop,) = events.of_kind(ctx.log.read(), events.STATE_PROPOSAL)
    assert prop["position"]["offsets"] == {"0": 2}


def test_resume_reads_the_same_offsets(topic_factory: Any) -> None:
    t = topic_factory(partitions=2, schema="id INT")
    t.produce([(0, {"id": 1}), (1, {"id": 2})])
    _, first = t.read(None)
    t.produce([(0, {"id": 3}), (1, {"id": 4})])
    rows_failed, failed = t.read(first["position"])  # this run fails after reading
    t.produce([(0, {"id": 5})])  # arrives before the resume
    rows, resumed = t.read(first["position"], resume=failed)
    assert [r["id"] for r in rows] == [r["id"] for r in rows_failed] == [3, 4]
    assert resumed["position"] == failed["position"] and resumed["snapshot"] == failed["snapshot"]


def test_spark_reader_without_the_jar_says_how_to_add_it(topic_factory: Any) -> None:
    t = topic_factory(reader="spark")
    t.produce([(0, "x")])
    with pytest.raises(DatasetError, match="spark-sql-kafka"):
        t.read(None)


def test_kafka_errors_say_what_to_fix(topic_factory: Any, tmp_path: Path) -> None:
    t = topic_factory()
    cfg = t.project.dataset("events")
    def with_options(**extra: str) -> Any:
        return cfg.model_copy(update={"options": {**cfg.options, **extra}})

    with pytest.raises(DatasetError, match="did you mean 'value_format'"):
        KafkaOptions.from_config("events", with_options(value_fromat="json"))
    with pytest.raises(DatasetError, match="did you mean 'json'"):
        KafkaOptions.from_config("events", with_options(value_format="jsn"))
    with pytest.raises(DatasetError, match=r"'bootstrap\.servers' is missing"):
        KafkaOptions.from_config("events", with_options(**{"bootstrap.servers": ""}))
    missing = cfg.model_copy(update={"options": {**cfg.options, "topic": t.name + "x"}})
    with pytest.raises(DatasetError, match=f"did you mean '{t.name}'"):
        read_kafka(t.context(), "events", missing, {})
    with pytest.raises(StateError, match="read from topic 'other'"):
        t.read({"kind": "kafka", "topic": "other", "offsets": {"0": 0}})
    with pytest.raises(StateError, match="recreated"):
        t.read({"kind": "kafka", "topic": t.name, "offsets": {"0": 99}})


def test_json_fields_come_from_the_contract_when_no_schema_is_given(topic_factory: Any) -> None:
    t = topic_factory()
    contract = {
        "dataset": "events", "version": "1.0",
        "columns": [{"name": "offset", "type": "bigint"}, {"name": "value", "type": "string"},
                    {"name": "id", "type": "int"}, {"name": "name", "type": "string"}],
        "partition_by": [], "primary_key": [],
    }
    (t.root / "contracts").mkdir()
    (t.root / "contracts" / "events.yaml").write_text(yaml.safe_dump(contract, sort_keys=False))
    t.produce([(0, {"id": 7, "name": "seven", "extra": True}), (0, "not json")])
    rows, _ = t.read(None)
    assert rows[0]["id"] == 7 and rows[0]["name"] == "seven"
    assert rows[1]["value"] == "not json" and rows[1]["id"] is None
    assert list(rows[0].asDict())[-2:] == ["id", "name"]
