"""Recovery masks a killed run's files again with the recovering run's secrets (fake executor, real store)."""

from __future__ import annotations

import json

from nbpipe.core import events as ev
from tests.support.fakes import FakeExecutor

SECRET = "tok<&>\"'-4b3a2c1d-SECRET"
MARK = "4b3a2c1d"


def test_the_next_run_masks_what_a_killed_run_left_in_clear(make_project, runner_for):
    root = make_project(pipelines={"secret": {}})
    runner = runner_for(root, executor=FakeExecutor())
    # A run whose runner was killed, with files written in clear (e.g. by an older nbpipe).
    orphan = root / "runs" / "secret" / "20240101T000000Z-000001"
    orphan.mkdir(parents=True)
    (orphan / "output.ipynb").write_text(json.dumps({"cells": [{"outputs": [{"text": f"token {SECRET}"}]}]}))
    (orphan / "kernel.log").write_text(f"token {SECRET!r}\n")
    (orphan / "attempt-1.ipynb").write_text(json.dumps({"text": repr(SECRET)}))
    ev.EventLog.in_run_dir(orphan, source="kernel").emit("log", level="warning", message=f"t={SECRET}")
    runner.store.start_run(orphan.name, "secret", started_at="2024-01-01T00:00:00+00:00", mode="prod",
                           profile="default", params={}, run_dir=str(orphan))
    assert MARK in (orphan / "kernel.log").read_text()

    result = runner.run("secret", {"api_token": SECRET})
    assert result.status == "succeeded"
    assert any("closed" in w or "killed" in w for w in json.loads((orphan / "run.json").read_text())["warnings"])
    for path in (root / "runs").rglob("*"):
        if path.is_file():
            assert MARK.encode() not in path.read_bytes(), f"secret left in {path.relative_to(root)}"
    assert (orphan / "kernel.log").read_text() == "token '***'\n"
