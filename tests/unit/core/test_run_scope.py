"""``RunScope``: the notebook facade and the tests' ``ScopeForTest`` both provide all of it, alike."""

from __future__ import annotations

import inspect
from pathlib import Path

from nbpipe.core.protocol import RunScope
from nbpipe.kernel.context import RunContext
from tests.support.projects import load
from tests.support.scope import ScopeForTest

MISSING = object()


def scope_members() -> set[str]:
    """The protocol's attributes and properties."""
    return set(RunScope.__annotations__) | {n for n, v in vars(RunScope).items() if isinstance(v, property)}


def test_facade_and_test_double_provide_every_run_scope_member_alike(tmp_path: Path) -> None:
    project = load(tmp_path, project="t")
    run_dir = tmp_path / "runs" / "p" / "r1"
    ctx = RunContext(project, mode="prod", run_id="r1", run_dir=run_dir, pipeline="p", attempt=2, params={})
    scope = ScopeForTest(project, None, run_dir, run_id="r1", pipeline="p", attempt=2)
    assert scope_members() >= {"project", "mode", "run_id", "run_dir", "pipeline", "attempt", "log", "is_prod",
                               "staging_dir", "spark"}
    for obj in (ctx, scope):  # looked up statically: reading ctx.spark would start Spark
        missing = sorted(n for n in scope_members() if inspect.getattr_static(obj, n, MISSING) is MISSING)
        assert missing == [], f"{type(obj).__name__} lacks {missing}"
    same = ("mode", "run_id", "run_dir", "pipeline", "attempt", "is_prod", "staging_dir")
    assert {n: getattr(scope, n) for n in same} == {n: getattr(ctx, n) for n in same}
    assert (scope.log.path, scope.log.source, scope.log.attempt) == (ctx.log.path, ctx.log.source, ctx.log.attempt)
