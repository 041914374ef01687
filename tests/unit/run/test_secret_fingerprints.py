"""Fingerprints never hold an unkeyed hash of a secret (issue #20), and the key behaves as documented.

An unsalted SHA-256 over a secret parameter can be reversed by guessing: these tests recompute the
hashes an attacker would try (the value alone, as JSON, the parameters as nbpipe used to fingerprint
them) and look for them in every file the run left and in the run store.
"""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nbpipe.core import events as ev
from nbpipe.core import fingerprint as fp
from nbpipe.core.config import load_project
from nbpipe.run.fingerprint_key import key_path
from nbpipe.run.runner import Runner, RunResult
from tests.support.fakes import FakeExecutor, Outcome
from tests.support.projects import build_project

SECRET = "hunter2-correct-horse"
OTHER = "hunter3-battery-staple"
JDBC_PASSWORD = "pg-Pa55word-42"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = build_project(
        tmp_path / "project",
        datasets={"landing": {"path": "landing", "format": "csv"},
                  "orders": {"format": "jdbc", "options": {
                      "url": f"jdbc:postgresql://db.example/shop?user=etl&password={JDBC_PASSWORD}",
                      "dbtable": "orders", "password": JDBC_PASSWORD}}},
        pipelines={"secret": {"reads": ["landing"], "writes": ["orders"]}},
    )
    (root / "landing").mkdir()
    (root / "landing" / "a.csv").write_text("id\n1\n")
    return root


def run(root: Path, **kwargs: Any) -> RunResult:
    with Runner(load_project(project_dir=root), executor=FakeExecutor([Outcome()])) as runner:
        return runner.run("secret", **kwargs)


def guesses(value: str) -> set[str]:
    """Unkeyed hashes of ``value`` an attacker holding the record would try (hex, as stored)."""
    forms = [value, json.dumps(value), fp.canonical_json(value), fp.canonical_json({"api_token": value})]
    found = {hashlib.sha256(f.encode()).hexdigest() for f in forms}
    shapes = ({"api_token": value}, {"api_token": value, "region": "eu"}, {"region": value},
              {"api_token": "", "region": value})
    for params in shapes:
        found.add(fp.params_fingerprint(params).removeprefix(fp.PREFIX))  # how nbpipe used to do it
    return found


def leaked(root: Path, secrets: list[str]) -> list[str]:
    """Files under ``root`` (run records, events, the SQLite store and its WAL) holding a guessable hash."""
    wanted = {h: s for s in secrets for h in guesses(s)}
    hits = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes().decode("latin-1")
        hits += [f"{path.relative_to(root)}: sha256 of {wanted[h]!r}" for h in wanted if h in data]
    return hits


def test_run_json_and_the_store_hold_no_unkeyed_hash_of_a_secret(project: Path) -> None:
    first = run(project, given={"api_token": SECRET}, from_cli=frozenset({"api_token"}))
    assert first.status == "succeeded" and first.record["params"]["api_token"] == "***"
    assert leaked(project, [SECRET, JDBC_PASSWORD]) == []
    with Runner(load_project(project_dir=project), executor=FakeExecutor()) as runner:
        stored = json.dumps([runner.store.get_run(first.run_id), runner.store.get_events(first.run_id)])
    assert not [h for h in guesses(SECRET) | guesses(JDBC_PASSWORD) if h in stored]
    assert first.record["fingerprint_parts"]["key"].startswith("key:")


def test_the_keyed_fingerprint_still_tells_secrets_apart(project: Path) -> None:
    first = run(project, given={"api_token": SECRET})
    same = run(project, given={"api_token": SECRET})
    assert same.status == "skipped", "the same secret on the same machine: up to date"
    other = run(project, given={"api_token": OTHER})
    assert other.status == "succeeded"
    assert other.record["fingerprint_parts"]["params"] != first.record["fingerprint_parts"]["params"]


def test_secrets_from_the_environment_are_keyed_too(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGION_SECRET_VALUE", "eu-west-secret-9")
    result = run(project, given={"region": "env:REGION_SECRET_VALUE"})
    assert result.status == "succeeded" and result.record["params"]["region"] == "***"
    assert leaked(project, ["eu-west-secret-9"]) == []


def test_a_changed_database_password_changes_the_dataset_part_without_leaking_it(project: Path) -> None:
    first = run(project)
    config = (project / "nbpipe.yaml").read_text()
    (project / "nbpipe.yaml").write_text(config.replace(JDBC_PASSWORD, "pg-N3w-password"))
    again = run(project)
    assert again.status == "succeeded"
    assert again.record["fingerprint_parts"]["dataset:orders"] != first.record["fingerprint_parts"]["dataset:orders"]
    assert leaked(project, [JDBC_PASSWORD, "pg-N3w-password"]) == []


def test_the_key_is_private_and_git_ignored(project: Path) -> None:
    run(project, given={"api_token": SECRET})
    path = key_path(load_project(project_dir=project).runs_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    assert (path.parent / ".gitignore").read_text().splitlines()[-1] == "*"
    assert len(bytes.fromhex(path.read_text().strip())) == 32
    key = run(project, given={"api_token": SECRET}).record
    assert key["status"] == "skipped", "the key is made once and reused"


def test_a_run_with_another_key_is_not_skipped_and_says_why(project: Path) -> None:
    first = run(project, given={"api_token": SECRET})
    path = key_path(load_project(project_dir=project).runs_dir)
    path.unlink()  # as on another machine sharing the run store
    again = run(project, given={"api_token": SECRET})
    assert again.status == "succeeded"
    (why,) = [e for e in ev.read_events(again.run_dir / ev.EVENTS_FILE) if "fingerprint_changed" in e]
    assert why["message"] == (
        "not skipped: parameters changed; secret values were fingerprinted with another key "
        f"(run {first.run_id} ran on another machine?); nbpipe.yaml entry of dataset `orders` changed "
        f"since run {first.run_id}"), "the JDBC password in its options is keyed as well"


def test_a_key_readable_by_others_is_not_used_and_the_run_still_runs(project: Path) -> None:
    run(project, given={"api_token": SECRET})
    path = key_path(load_project(project_dir=project).runs_dir)
    path.chmod(0o644)
    again = run(project, given={"api_token": SECRET})
    assert again.status == "succeeded", "not skipped, not failed"
    (why,) = [e for e in ev.read_events(again.run_dir / ev.EVENTS_FILE) if "fingerprint_changed" in e]
    assert why["not_skippable"] == [
        f"the fingerprint key cannot be used: the fingerprint key {path} is readable by other users (mode 644); "
        f"it protects the fingerprints of secret parameters (fix: chmod 600 {path})"]
    assert leaked(project, [SECRET]) == []


def test_a_damaged_key_is_not_used(project: Path) -> None:
    run(project, given={"api_token": SECRET})
    path = key_path(load_project(project_dir=project).runs_dir)
    path.write_text("not a key\n")
    again = run(project, given={"api_token": SECRET})
    assert again.status == "succeeded"
    (why,) = [e for e in ev.read_events(again.run_dir / ev.EVENTS_FILE) if "fingerprint_changed" in e]
    assert "is not a key nbpipe wrote" in why["not_skippable"][0] and f"delete {path}" in why["not_skippable"][0]


def test_no_key_is_made_for_a_project_without_secrets(make_project: Callable[..., Path]) -> None:
    root = make_project(pipelines={"ok": {}})
    with Runner(load_project(project_dir=root), executor=FakeExecutor()) as runner:
        assert runner.run("ok").status == "succeeded"
        assert not key_path(runner.project.runs_dir).exists()
