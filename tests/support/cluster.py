"""Test helpers for Spark beyond local: a project with one Spark pipeline, three profiles, servers.

``write_project`` lays out a throwaway project whose ``spark_pipeline`` notebook reads a tiny
CSV through ``ctx.spark``, transforms it (filter, group-by, a pandas UDF, a Parquet round trip)
and records the results with ``ctx.metric``. Its ``nbpipe.yaml`` has a ``dev`` profile (embedded
``local[2]``), a ``standalone`` profile (``spark://127.0.0.1:P``) and a ``connect`` profile
(``sc://127.0.0.1:Q``), so the same pipeline runs on each by switching ``--profile`` only.
``started_servers`` starts the standalone master + worker and the Connect server those profiles
point at (concurrently, to halve the wait) and stops them afterwards.
"""

from __future__ import annotations

import contextlib
import csv
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from tests.support.projects import write_config

PIPELINE = "spark_pipeline"
MIN_FARE = 5.0
TRIPS = [  # city, fare, ts (UTC)
    ("nyc", "12.5", "2013-01-01 05:10:00"),
    ("nyc", "3.0", "2013-01-01 06:00:00"),
    ("nyc", "7.25", "2013-01-02 23:59:00"),
    ("sf", "20.0", "2013-01-01 00:00:00"),
    ("sf", "4.99", "2013-01-03 12:00:00"),
    ("la", "5.0", "2013-01-04 08:30:00"),
    ("la", "100.0", "2013-01-05 18:45:00"),
    ("bos", "1.0", "2013-01-06 01:00:00"),
]

CELLS = [
    "import nbpipe\n"
    "import pandas as pd\n"
    "from pyspark.sql import functions as F\n"
    "ctx = nbpipe.context()\n"
    "spark = ctx.spark\n"
    "remote = type(spark).__module__.startswith('pyspark.sql.connect')\n"
    "backend = 'connect' if remote else spark.sparkContext.master\n"
    "print('BACKEND', backend)\n"
    "ctx.metric('backend_connect', int(remote))\n"
    "ctx.metric('backend_standalone', int(backend.startswith('spark://')))\n"
    "ctx.metric('backend_connect_port', int(spark.conf.get('spark.connect.grpc.binding.port', '0')))",
    "cfg = ctx.project.dataset('trips')\n"
    "trips = (spark.read.options(**cfg.options).csv(str(ctx.project.path(cfg.path)))\n"
    "         .selectExpr('city', 'cast(fare as double) as fare', 'cast(ts as timestamp) as ts'))\n"
    "kept = trips.where(F.col('fare') >= min_fare)\n"
    "by_city = (kept.groupBy('city').agg(F.count('*').alias('n'), F.sum('fare').alias('total'))\n"
    "           .orderBy('city'))\n"
    "rows = by_city.collect()\n"
    "rows",
    "@F.pandas_udf('double')\n"
    "def with_tip(fare: pd.Series) -> pd.Series:\n"
    "    return fare * 1.1\n"
    "tipped = kept.select(with_tip('fare').alias('t')).agg(F.sum('t')).first()[0]\n"
    "epoch = kept.select(F.sum(F.unix_timestamp('ts'))).first()[0]",
    "out = str(ctx.run_dir / 'by_city.parquet')\n"
    "by_city.write.mode('overwrite').parquet(out)\n"
    "back = spark.read.parquet(out).agg(F.sum('n')).first()[0]\n"
    "ctx.metric('rows_in', trips.count())\n"
    "ctx.metric('rows_kept', kept.count())\n"
    "ctx.metric('cities', len(rows))\n"
    "ctx.metric('total_fare', round(sum(r['total'] for r in rows), 6))\n"
    "ctx.metric('tipped', round(tipped, 6))\n"
    "ctx.metric('epoch_sum', epoch)\n"
    "ctx.metric('parquet_rows', back)\n"
    "ctx.metric('utc', int(spark.conf.get('spark.sql.session.timeZone') == 'UTC'))\n"
    "ctx.metric('shuffle_partitions', int(spark.conf.get('spark.sql.shuffle.partitions')))",
]


def expected_metrics(min_fare: float = MIN_FARE) -> dict[str, float]:
    """What the notebook must record, computed here in plain Python."""
    import datetime as dt

    kept = [(c, float(f), t) for c, f, t in TRIPS if float(f) >= min_fare]
    epoch = sum(int(dt.datetime.fromisoformat(t).replace(tzinfo=dt.UTC).timestamp()) for _c, _f, t in kept)
    return {
        "rows_in": float(len(TRIPS)),
        "rows_kept": float(len(kept)),
        "cities": float(len({c for c, _f, _t in kept})),
        "total_fare": round(sum(f for _c, f, _t in kept), 6),
        "tipped": round(sum(f * 1.1 for _c, f, _t in kept), 6),
        "epoch_sum": float(epoch),
        "parquet_rows": float(len(kept)),
        "utc": 1.0,
        "shuffle_partitions": 2.0,
    }


def notebook() -> nbformat.NotebookNode:
    """The fixture notebook: a papermill ``parameters`` cell, then :data:`CELLS`."""
    cells = [new_code_cell(f"min_fare = {MIN_FARE}", metadata={"tags": ["parameters"]})]
    cells += [new_code_cell(src) for src in CELLS]
    book = new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
    )
    for i, cell in enumerate(book.cells):
        cell["id"] = f"cell-{i}"
    return book


def write_project(root: Path, *, master_port: int, connect_port: int) -> Path:
    """Create the project (config, notebook, CSV) in ``root``; profiles point at the given ports."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    with open(root / "data" / "trips.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["city", "fare", "ts"])
        writer.writerows(TRIPS)
    nbformat.write(notebook(), root / f"{PIPELINE}.ipynb")
    conf = {"spark.sql.shuffle.partitions": "2"}
    config = {
        "project": "cluster_test",
        "profiles": {
            "dev": {"spark": {"master": "local[2]", "conf": conf}},
            "standalone": {
                "spark": {
                    "master": f"spark://127.0.0.1:{master_port}",
                    "conf": {**conf, "spark.executor.memory": "512m", "spark.cores.max": "2"},
                }
            },
            "connect": {"spark": {"remote": f"sc://127.0.0.1:{connect_port}", "conf": conf}},
        },
        "datasets": {"trips": {"path": "data/trips.csv", "format": "csv", "options": {"header": "true"}}},
        "pipelines": {PIPELINE: {"notebook": f"{PIPELINE}.ipynb", "params": {"min_fare": {"type": "float"}}}},
    }
    return write_config(root, **config)


@contextlib.contextmanager
def started_servers(root: Path, timeout_s: float = 300.0) -> Iterator[dict[str, Any]]:
    """Start the ``standalone`` and ``connect`` profiles' servers at once; stop both afterwards.

    Yields ``{"standalone": ServerInfo, "connect": ServerInfo}``; re-raises a start failure after
    stopping whatever did start.
    """
    from nbpipe.core.config import load_project
    from nbpipe.spark import server as sparkserver

    standalone = load_project(project_dir=root, profile="standalone")
    connect = load_project(project_dir=root, profile="connect")
    found: dict[str, Any] = {}
    errors: list[BaseException] = []

    def start(kind: str) -> None:
        try:
            if kind == "connect":
                found[kind] = sparkserver.start_connect_server(
                    connect, master="local[2]", timeout_s=timeout_s
                )
            else:
                found[kind] = sparkserver.start_standalone(
                    standalone, cores=2, memory="1g", timeout_s=timeout_s
                )
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(k,)) for k in ("standalone", "connect")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        if errors:
            raise errors[0]
        yield found
    finally:
        sparkserver.stop(standalone)

