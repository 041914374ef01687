"""``nbpipe init`` creates a project that runs at once, and never overwrites."""

from __future__ import annotations

import json
import subprocess
import sys


def test_init_then_run(tmp_path):
    root = tmp_path / "my-proj"
    first = subprocess.run([sys.executable, "-m", "nbpipe.cli", "init", str(root)], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert (root / "nbpipe.yaml").read_text().startswith("# nbpipe project configuration")
    assert "project: my_proj" in (root / "nbpipe.yaml").read_text()
    (root / "nbpipe.yaml").write_text((root / "nbpipe.yaml").read_text() + "# my edit\n")
    again = subprocess.run([sys.executable, "-m", "nbpipe.cli", "init", str(root)], capture_output=True, text=True)
    assert "kept" in again.stdout and (root / "nbpipe.yaml").read_text().endswith("# my edit\n")
    run = subprocess.run(
        [sys.executable, "-m", "nbpipe.cli", "run", "hello", "-p", "run_date=2024-01-31"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    record = json.loads(next((root / "runs" / "hello").glob("*/run.json")).read_text())
    assert record["metrics"] == {"days_in_month": 31.0}
