"""GX's verdict on each expectation is cached, so a kernel with unchanged suites does not import GX."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SUITE = {
    "name": "orders",
    "expectations": [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "x", "min_value": "1",
                                                                  "strict_min": "false"}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "x", "max_vlaue": 1}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x", "mostly": 0.5}},
    ],
}

PROBE = """
import json, sys
from nbpipe.quality.gx_model import prepare
prepared = prepare(json.loads(sys.argv[1]))
print(json.dumps({"effective": prepared.effective, "errors": prepared.errors,
                  "gx_imported": "great_expectations" in sys.modules}, sort_keys=True, default=str))
"""


def _prepare_in_a_fresh_process(cache: Path) -> dict:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(SUITE)], env=env, capture_output=True,
                          text=True, check=True, timeout=300)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_second_kernel_gets_the_same_verdicts_without_importing_gx(tmp_path: Path) -> None:
    first = _prepare_in_a_fresh_process(tmp_path)
    assert first["gx_imported"], "the first build goes through great-expectations"
    built = first["effective"][0]["kwargs"]
    assert built["min_value"] == 1.0 and not built.get("strict_min"), built
    assert "unknown kwarg 'max_vlaue'" in first["errors"]["1"]
    cached = sorted((tmp_path / "nbpipe" / "gx-verdicts").glob("*.json"))
    assert len(cached) == 3, "one verdict per expectation, refusals included"

    second = _prepare_in_a_fresh_process(tmp_path)
    assert not second["gx_imported"], "unchanged expectations are answered from the cache"
    assert (second["effective"], second["errors"]) == (first["effective"], first["errors"])


def test_a_damaged_cache_entry_is_rebuilt_through_gx(tmp_path: Path) -> None:
    _prepare_in_a_fresh_process(tmp_path)
    for entry in (tmp_path / "nbpipe" / "gx-verdicts").glob("*.json"):
        entry.write_text("{not json")
    again = _prepare_in_a_fresh_process(tmp_path)
    assert again["gx_imported"]
    assert "unknown kwarg 'max_vlaue'" in again["errors"]["1"]
    assert all(json.loads(e.read_text()) for e in (tmp_path / "nbpipe" / "gx-verdicts").glob("*.json"))
