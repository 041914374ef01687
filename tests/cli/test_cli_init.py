"""``nbpipe init`` creates a project that runs at once, and never overwrites."""

from __future__ import annotations

import json

from tests.support.cli import run_cli


def test_init_then_run(tmp_path):
    root = tmp_path / "my-proj"
    first = run_cli(tmp_path, "init", str(root))
    assert first.returncode == 0, first.stderr
    assert (root / "nbpipe.yaml").read_text().startswith("# nbpipe project configuration")
    assert "project: my_proj" in (root / "nbpipe.yaml").read_text()
    (root / "nbpipe.yaml").write_text((root / "nbpipe.yaml").read_text() + "# my edit\n")
    again = run_cli(tmp_path, "init", str(root))
    assert "kept" in again.stdout and (root / "nbpipe.yaml").read_text().endswith("# my edit\n")
    run = run_cli(root, "run", "hello", "-p", "run_date=2024-01-31")
    assert run.returncode == 0, run.stderr
    record = json.loads(next((root / "runs" / "hello").glob("*/run.json")).read_text())
    assert record["metrics"] == {"days_in_month": 31.0}
