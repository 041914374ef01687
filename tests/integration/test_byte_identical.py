"""Reruns write byte-identical files, across Spark processes (each run's kernel starts its own JVM).

Spark's Parquet writer lists each column chunk's encodings in an order that changes from one JVM to
the next; nbpipe sorts them (:mod:`nbpipe.data.parquet_footer`), names files deterministically and
sorts rows, so the same input gives the same bytes in every process (for one Spark version: the
footer records it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.support.projects import write_config

pytestmark = [pytest.mark.spark, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent("""
    import datetime as dt, hashlib, json, sys
    from pathlib import Path
    from nbpipe.core.config import load_project
    from nbpipe.data.write import write_dataset
    from nbpipe.spark.session import build_session
    from nbpipe.core.config import SparkConfig
    from tests.support.scope import ScopeForTest

    root, run_id = Path(sys.argv[1]), sys.argv[2]
    spark = build_session(SparkConfig(master="local[2]", conf={"spark.sql.shuffle.partitions": "2"}))
    rows = [(dt.date(2013, 1, 1 + i % 2), f"C{i % 7}", i, float(i) / 3 if i % 5 else None, {"k": i})
            for i in range(40)]
    df = spark.createDataFrame(rows, "day date, carrier string, flight int, delay double, extra map<string,int>")
    project = load_project(project_dir=root)
    ctx = ScopeForTest(project, spark, root / "runs" / "ingest" / run_id, run_id=run_id)
    result = write_dataset(ctx, df, "flights")
    files = sorted(Path(result.path).rglob("*.parquet"))
    print(json.dumps({p.relative_to(result.path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                      for p in files}))
""")


def run_in_new_process(root: Path, run_id: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-c", WRITER, str(root), run_id], capture_output=True, text=True,
                          env=env, timeout=600, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_the_same_rows_give_the_same_bytes_in_separate_spark_processes(tmp_path: Path) -> None:
    root = write_config(tmp_path, project="t", profiles={"dev": {"spark": {"small_frame_rows": 0}}}, datasets={
        "flights": {"format": "parquet", "partition_by": ["day"], "write_mode": "overwrite_partitions"}},
        pipelines={"ingest": {"notebook": "notebooks/ingest.ipynb"}})
    first = run_in_new_process(root, "r1")
    second = run_in_new_process(root, "r2")
    assert sorted(first) == ["day=2013-01-01/part-00000.parquet", "day=2013-01-02/part-00000.parquet"]
    assert second == first, "two JVMs wrote different bytes for the same rows"
    for name in first:
        meta = pq.read_metadata(root / "runs" / "ingest" / "r1" / "staging" / "flights" / name)
        for g in range(meta.num_row_groups):
            for c in range(meta.num_columns):
                encodings = meta.row_group(g).column(c).encodings
                assert list(encodings) == sorted(encodings, key=ENCODING_ORDER.index), encodings


# parquet.thrift's Encoding values, in order (the canonical footer sorts by value)
ENCODING_ORDER = ["PLAIN", "GROUP_VAR_INT", "PLAIN_DICTIONARY", "RLE", "BIT_PACKED", "DELTA_BINARY_PACKED",
                  "DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY", "RLE_DICTIONARY", "BYTE_STREAM_SPLIT"]
