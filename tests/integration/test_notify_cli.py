"""``nbpipe notify send`` as an orchestrator's failure callback calls it, and the bad-input exit codes."""

from __future__ import annotations

import pytest

from nbpipe.core.config import load_project
from nbpipe.errors import ParameterError
from nbpipe.ops.notify import manual
from nbpipe.ops.notify.service import Notifier
from nbpipe.run.store import RunStore
from tests.integration.test_notify import TOKEN, project_with, run, table
from tests.support.cli import run_cli
from tests.support.env import free_port
from tests.support.notify_servers import HttpReceiver


@pytest.mark.slow
def test_under_airflow_the_run_stays_quiet_and_the_failure_callback_notifies_once(tmp_path, monkeypatch):
    dead = f"http://127.0.0.1:{free_port()}/down?token={TOKEN}"
    with HttpReceiver() as http:
        root = project_with(tmp_path, [{"on": ["failure"], "webhook": http.url("/hook")},
                                       {"name": "down", "on": ["failure"], "webhook": dead, "retries": 0}])
        monkeypatch.setenv("NBPIPE_ORCHESTRATOR", "airflow")
        failed = run(root, True)
        assert failed.status == "failed" and http.received == []  # Airflow may still retry the task
        [alert] = table(root, "alerts")
        assert (alert["status"], alert["count"], alert["notified_at"]) == ("open", 1, None)
        detail = "Task toggle failed after 3 tries (exit code 10)"
        sent = run_cli(root, "notify", "send", "failure", "--pipeline", "toggle", "--detail", detail)
        assert sent.returncode == 0, sent.stderr  # even though the second channel is down
        assert "failure for toggle: opened; sent to webhook1, down" in sent.stdout
        assert "warning: the failure notification to channel 'down' (http://127.0.0.1:" in sent.stderr
        again = run_cli(root, "notify", "send", "failure", "--pipeline", "toggle", "--detail", detail)
        assert again.returncode == 0 and "the alert is already open (3 occurrences); not sent again" in again.stdout
        unknown = run_cli(root, "notify", "send", "failed", "--pipeline", "toggle")
        [body] = http.bodies("/hook")
    assert (body["event"], body["state"], body["message"]) == ("failure", "opened", detail)
    assert body["run"]["id"] == failed.run_id and body["run"]["retry_command"] == "nbpipe run toggle -p flag=true"
    assert body["alert"]["count"] == 2
    assert unknown.returncode == 3 and "error: unknown event 'failed' (did you mean 'failure'?)" in unknown.stderr
    assert "hint: use one of: failure, quality_warning, recovered, late" in unknown.stderr
    assert TOKEN not in sent.stdout + sent.stderr
    deliveries = [(d["channel"], d["status"]) for d in table(root, "deliveries")]
    assert deliveries == [("webhook1", "sent"), ("down", "failed")]
    with RunStore(load_project(project_dir=root).store_url) as store, pytest.raises(ParameterError) as info:
        manual.send(Notifier(load_project(project_dir=root), store), "failure", "toggel")
    assert "--pipeline 'toggel' is not declared in nbpipe.yaml (did you mean 'toggle'?)" in info.value.message
    assert info.value.exit_code == 3


def test_config_errors_exit_2_naming_the_key(tmp_path):
    root = project_with(tmp_path, [{"on": ["failure", "outage"], "webhook": "https://hooks.example/x"}])
    sent = run_cli(root, "notify", "send", "failure", "--pipeline", "toggle")
    assert sent.returncode == 2
    assert "notify.0.on: unknown event 'outage' in 'on'; allowed: failure, quality_warning" in sent.stderr
    root.joinpath("nbpipe.yaml").write_text(
        "project: t\npipelines:\n  toggle: {notebook: toggle.ipynb, schedule: '0 25 * * *'}\n")
    bad_cron = run_cli(root, "run", "toggle")
    assert bad_cron.returncode == 2, bad_cron.stderr
    assert "pipelines.toggle.schedule: schedule '0 25 * * *' is not a valid cron expression" in bad_cron.stderr
    assert "Traceback" not in bad_cron.stderr + sent.stderr
    assert not (root / "runs").exists()  # nothing half-done


@pytest.mark.slow
def test_nbpipe_run_prints_an_undelivered_failure_notification_and_keeps_its_exit_code(tmp_path):
    port = free_port()
    root = project_with(tmp_path, [{"on": ["failure"], "webhook": f"http://127.0.0.1:{port}/x?token={TOKEN}",
                                    "retries": 0}])
    proc = run_cli(root, "run", "toggle", "-p", "flag=true")
    assert proc.returncode == 10, proc.stderr
    assert (f"warning: the failure notification to channel 'webhook1' (http://127.0.0.1:{port}) was not "
            "delivered: ConnectError") in proc.stderr
    assert TOKEN not in proc.stdout + proc.stderr
