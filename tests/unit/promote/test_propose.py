"""What promote proposes from an explore run's observations (contracts and suites), without Spark."""

from __future__ import annotations

from pathlib import Path

from tests.support.projects import load


def test_promote_explains_an_output_the_explore_run_left_empty(tmp_path: Path) -> None:
    """An empty write has nothing to profile (nor a schema to read back): the contract comes from the
    run's recorded schema, and the warning says why no suite was suggested and what to do."""
    from nbpipe.promote.lint import LintReport
    from nbpipe.promote.model import Observed, PromoteResult
    from nbpipe.promote.propose import observe

    project = load(tmp_path, datasets={"report": {"format": "parquet", "partition_by": ["day"]}})
    result = PromoteResult("p", "p.ipynb", "r1", False, tmp_path, LintReport("p.ipynb"))
    schema = [{"name": "day", "type": "date", "nullable": True}, {"name": "n", "type": "bigint", "nullable": False}]
    changes, profiles = observe(project, "p", [Observed("report", "write", schema, str(tmp_path / "nowhere"), 0)],
                                result)
    assert profiles == {}
    (change,) = changes
    assert change.status == "created" and change.new is not None
    assert [(c.name, c.type) for c in change.new.columns] == [("day", "date"), ("n", "bigint")]
    assert result.warnings == ["dataset 'report': the explore run wrote no rows, so no suite is suggested; "
                               "promote with parameters that select data (-p NAME=VALUE)"]
