"""A Spark driver that dies under a read is reported as such, with its log, not as ConnectionRefusedError.

The driver JVM is really killed (SIGKILL, as the kernel's OOM killer would) in a separate Python
process with its own session, so the shared test session is not touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [pytest.mark.spark, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent('''
    import json, os, signal, sys, time
    from pathlib import Path
    from nbpipe.core.config import SparkConfig
    from nbpipe.data.{module} import {function}
    from nbpipe.errors import NbpipeError
    from nbpipe.spark.session import build_session
    from tests.support.projects import ProjectForTest

    root = Path(sys.argv[1])
    spark = build_session(SparkConfig(master="local[1]", conf={{"spark.sql.shuffle.partitions": "1"}}))
    p = ProjectForTest(root, spark=spark, project="t",
                       datasets={{"raw": {{"path": "landing/raw", "format": "csv", "options": {{"header": "true"}}}},
                                 "out": {{"format": "parquet", "write_mode": "overwrite"}}}})
    frame = spark.createDataFrame([(1, "a")], "id int, name string")  # made while the driver lives
    p.land("raw", "date=2013-01-01/a.csv", "id,name\\n1,a\\n")
    ctx = p.scope("r1")
    jvm = spark.sparkContext._gateway.proc
    os.kill(jvm.pid, signal.SIGKILL)  # the driver dies, as under the OOM killer
    jvm.wait(60)
    try:
        {function}(ctx, frame, "out") if "{function}" == "write_dataset" else {function}(ctx, "raw")
    except NbpipeError as exc:
        print(json.dumps({{"class": type(exc).__name__, "exit": exc.exit_code, "message": exc.message,
                          "hint": exc.hint, "pid": jvm.pid, "log": str(ctx.run_dir / "kernel.log")}}))
''')


@pytest.mark.parametrize(("module", "function", "what"), [
    ("read", "read_dataset", "reading dataset 'raw'"),
    ("incremental", "read_incremental", "reading dataset 'raw'"),
    ("write", "write_dataset", "writing dataset 'out'"),
])
def test_a_killed_driver_is_reported_as_a_dead_driver_naming_its_log(
    tmp_path: Path, module: str, function: str, what: str
) -> None:
    script = tmp_path / "die.py"
    script.write_text(SCRIPT.format(module=module, function=function))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    env.pop("NBPIPE_STATE", None)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "p")], capture_output=True, text=True,
                          env=env, timeout=600, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, proc.stdout + proc.stderr[-3000:]
    found = json.loads(lines[-1])
    assert (found["class"], found["exit"]) == ("KernelDiedError", 11)
    assert f"the Spark driver (JVM, pid {found['pid']}) died while {what}" in found["message"]
    assert "most likely out of memory" in found["message"]
    assert f"its last output is in {found['log']}" in found["message"]
    assert "ConnectionRefusedError" not in found["class"] and "spark.driver.memory" in found["hint"]
