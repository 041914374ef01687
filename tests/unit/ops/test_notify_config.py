"""Bad notify/alert configuration is refused at load with the key, the value and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbpipe.errors import ConfigError
from tests.support.projects import load


def refused(tmp_path: Path, **config: object) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, project="t", **config)
    return info.value.message


def test_unknown_on_event_names_the_key_and_lists_the_allowed_events(tmp_path: Path) -> None:
    message = refused(tmp_path, notify=[{"on": ["failure", "failed_run"], "webhook": "https://hooks.example/x"}])
    assert "notify.0.on: unknown event 'failed_run' in 'on'" in message
    assert "allowed: failure, quality_warning, recovered, late, missing_data, volume_anomaly, success" in message


def test_expect_rows_min_above_max(tmp_path: Path) -> None:
    message = refused(tmp_path, datasets={"flights": {"expect_rows": {"min": 10, "max": 5}}})
    assert "datasets.flights.expect_rows: expect_rows min 10 is above max 5; swap them or drop one" in message


def test_a_channel_needs_exactly_one_target(tmp_path: Path) -> None:
    both = refused(tmp_path, notify=[{"webhook": "https://a.example/x", "slack": "env:SLACK"}])
    assert "needs exactly one of webhook, slack, email (got webhook, slack)" in both
    assert "got none" in refused(tmp_path, notify=[{"on": ["failure"]}])


def test_webhook_must_be_a_url_or_env_variable(tmp_path: Path) -> None:
    message = refused(tmp_path, notify=[{"webhook": "hooks.example/x"}])
    assert "'webhook' must be an http(s) URL or env:VAR" in message


def test_email_settings_are_checked(tmp_path: Path) -> None:
    message = refused(tmp_path, notify=[{"email": {"host": "smtp.example", "from": "nbpipe", "to": "a@b.c"}}])
    assert "'nbpipe' is not an email address" in message
    login = refused(tmp_path, notify=[{"email": {"host": "smtp.example", "from": "x@y.z", "to": ["a@b.c"],
                                                 "username": "u"}}])
    assert "set both 'username' and 'password'" in login


def test_alerts_block_is_checked(tmp_path: Path) -> None:
    assert "not a duration" in refused(tmp_path, alerts={"remind_after": "tomorrow"})
    assert "digest_at '25:00' is not a time of day" in refused(tmp_path, alerts={"digest_at": "25:00"})


def test_valid_notify_config_loads(tmp_path: Path) -> None:
    project = load(tmp_path, project="t",
                   datasets={"flights": {"expect_rows": {"min": 1}, "volume": {"threshold": 4, "min_history": 5}}},
                   notify=[{"name": "ops", "on": ["failure", "recovered"], "slack": "env:SLACK_URL"},
                           {"email": {"host": "smtp.example", "port": 465, "security": "ssl", "from": "n@x.io",
                                      "to": "oncall@x.io", "username": "n", "password": "env:SMTP_PASSWORD"}}],
                   alerts={"remind_after": "24h", "rate_limit_per_hour": 5, "digest_at": "08:30"})
    assert [r.on for r in project.config.notify] == [["failure", "recovered"], ["failure"]]
    assert project.config.notify[1].email is not None and project.config.notify[1].email.to == ["oncall@x.io"]
    assert project.config.datasets["flights"].volume is not None
    assert project.config.datasets["flights"].volume.rule().min_history == 5


def test_unquoted_on_key_as_users_write_it(tmp_path: Path) -> None:
    """YAML 1.1 reads a bare ``on:`` as ``true``; it still means the events."""
    from nbpipe.core.config import load_project

    (tmp_path / "nbpipe.yaml").write_text("project: t\nnotify:\n  - on: [late, recovered]\n    slack: env:SLACK\n")
    assert load_project(project_dir=tmp_path).config.notify[0].on == ["late", "recovered"]
    (tmp_path / "nbpipe.yaml").write_text("project: t\nnotify:\n  - {on: [lat], slack: env:SLACK}\n")
    with pytest.raises(ConfigError, match=r"notify\.0\.on: unknown event 'lat' in 'on' \(did you mean 'late'\?\)"):
        load_project(project_dir=tmp_path)
