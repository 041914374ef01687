"""The public surface of nbpipe, pinned (httpx's ``tests/test_exported_members.py`` is the model).

A change here is a change users see: notebooks, scripts, orchestrators and other tools rely on
these names, signatures, exit codes, file names, event kinds and environment variables. Moved
modules keep working for one release through shims that warn with ``DeprecationWarning``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
import warnings
from importlib import metadata

import pytest

import nbpipe
import nbpipe.errors as errors
from nbpipe.core import events, protocol
from nbpipe.core.config import (
    CostConfig,
    DatasetConfig,
    PipelineConfig,
    Profile,
    ProfileRate,
    ProjectConfig,
    SparkConfig,
)
from nbpipe.core.layout import RunDir
from nbpipe.core.lineage_config import LineageConfig


def test_root_exports() -> None:
    assert sorted(nbpipe.__all__) == ["NbpipeError", "RunContext", "__version__", "context"]
    for name in nbpipe.__all__:
        assert getattr(nbpipe, name) is not None
    assert nbpipe.NbpipeError is errors.NbpipeError
    assert callable(nbpipe.context)
    assert nbpipe.RunContext.__module__ == "nbpipe.kernel.context"


def test_importing_errors_does_not_load_the_kernel_side() -> None:
    code = ("import json, sys, nbpipe.errors; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('nbpipe'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == ["nbpipe", "nbpipe.errors"]


SIGNATURES = {
    "read": "(self, name: 'str', *, paths: 'list[str] | None' = None, schema_override: 'Any' = None)"
            " -> 'DataFrame'",
    "write": "(self, df: 'DataFrame', name: 'str', *, mode: 'WriteMode | None' = None)"
             " -> 'WriteResult'",
    "check": "(self, df: 'Any', suite: 'str', *, quarantine: 'bool' = False, dataset: 'str | None' = None,"
             " frames: 'Mapping[str, Any] | None' = None) -> 'CheckResult'",
    "incremental": "(self, name: 'str', *, column: 'str | None' = None, lookback: 'Any' = None,"
                   " max_files: 'int | None' = None) -> 'DataFrame'",
    "metric": "(self, name: 'str', value: 'float | int') -> 'float'",
    "to_arrow": "(self, df: 'DataFrame') -> 'pa.Table'",
    "to_pandas": "(self, df: 'DataFrame') -> 'pd.DataFrame'",
}


@pytest.mark.parametrize("method", sorted(SIGNATURES))
def test_run_context_method_signatures(method: str) -> None:
    assert str(inspect.signature(getattr(nbpipe.RunContext, method))) == SIGNATURES[method]


def test_run_context_members() -> None:
    public = sorted(m for m in dir(nbpipe.RunContext) if not m.startswith("_"))
    assert public == ["check", "incremental", "is_prod", "metric", "panel", "read", "spark", "staging_dir",
                      "to_arrow", "to_pandas", "write"]
    assert str(inspect.signature(nbpipe.RunContext.panel)) == "(self, pipeline: 'str | None' = None) -> 'Panel'"
    init = inspect.signature(nbpipe.RunContext.__init__)
    assert list(init.parameters) == ["self", "project", "mode", "run_id", "run_dir", "pipeline", "attempt", "params"]
    assert str(inspect.signature(nbpipe.context)) == (
        "(*, project_dir: 'str | Path | None' = None, profile: 'str | None' = None) -> 'RunContext'")


EXIT_CODES = {
    "NbpipeError": 1, "ConfigError": 2, "ParameterError": 3, "NotebookError": 4, "RunLockedError": 5,
    "DatasetError": 6, "ContractViolationError": 7, "BadRowsError": 8, "StateError": 9,
    "RunFailedError": 10, "CellExecutionError": 10, "CellCodeError": 10, "KernelDiedError": 11, "RunTimeoutError": 12,
    "QualityGateError": 13, "StoreError": 14, "RunCancelledError": 130,
}  # fmt: skip


def test_error_classes_and_exit_codes() -> None:
    found = {name: cls for name, cls in vars(errors).items()
             if inspect.isclass(cls) and issubclass(cls, errors.NbpipeError)}
    assert {name: cls.exit_code for name, cls in found.items()} == EXIT_CODES
    err = errors.CellExecutionError("boom", hint="fix it", cell_index=3, ename="ValueError", evalue="x",
                                    traceback=["tb"])
    assert (err.message, err.hint, err.cell_index, err.ename, err.evalue, err.traceback) == (
        "boom", "fix it", 3, "ValueError", "x", ["tb"])
    assert errors.did_you_mean("flihgts", ["flights", "planes"]) == " (did you mean 'flights'?)"
    assert errors.EXIT_CODES == {"succeeded": 0, "skipped": 0, "interrupted": 130}
    assert errors.RunCancelledError.exit_code == errors.EXIT_CODES["interrupted"]


def test_notebook_helpers() -> None:
    import nbpipe.notebook
    import nbpipe.warehouse

    for name in ("surrogate_key", "scd2_merge", "scd2_merge_snapshots", "current_versions", "as_of"):
        assert callable(getattr(nbpipe.warehouse, name))
    assert list(inspect.signature(nbpipe.notebook.run_tagged_cells).parameters) == ["path", "inputs", "tags"]


def test_quality_exports() -> None:
    import nbpipe.quality

    assert sorted(nbpipe.quality.__all__) == sorted([
        "FK_TYPE", "CheckResult", "ExpectationResult", "load_suite", "merge_suites", "new_suite",
        "profile_dataframe", "register_frame", "run_checkpoint", "save_suite", "suggest_suite", "suite_path",
        "unregister_frame", "validate_frame",
    ])
    for name in nbpipe.quality.__all__:
        assert getattr(nbpipe.quality, name) is not None


def test_console_script_and_module_entry_point() -> None:
    scripts = {e.name: e.value for e in metadata.entry_points(group="console_scripts") if e.name == "nbpipe"}
    assert scripts == {"nbpipe": "nbpipe.cli:main"}
    out = subprocess.run([sys.executable, "-m", "nbpipe.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for command in ("run", "backfill", "runs", "show", "promote", "contracts", "dag", "report", "init", "demo",
                    "spark", "monitor", "notify", "airflow", "lineage", "docs", "cost", "gc"):
        assert command in out.stdout
    assert "panel-params" not in out.stdout, "the panel's machine-facing commands are hidden"


def test_run_directory_file_names() -> None:
    assert (RunDir.RECORD, RunDir.EVENTS, RunDir.OUTPUT, RunDir.REPORT, RunDir.KERNEL_LOG, RunDir.STAGING) == (
        "run.json", "events.jsonl", "output.ipynb", "report.html", "kernel.log", "staging")
    assert (RunDir.LINEAGE, RunDir.LINEAGE_OUTBOX) == ("lineage.json", "lineage-outbox.jsonl")


def test_event_kinds() -> None:
    kinds = {k: v for k, v in vars(events).items() if k.isupper() and isinstance(v, str)
             and not k.startswith("PROGRESS_") and k != "EVENTS_FILE"}
    assert kinds == {
        "DATASET_READ": "dataset_read", "DATASET_STAGED": "dataset_staged", "DATASET_REJECTED": "dataset_rejected",
        "CHECK": "check", "METRIC": "metric", "STATE_PROPOSAL": "state_proposal", "LOG": "log",
        "ERROR_RAISED": "error_raised",
        "RESOURCES": "resources",
        "RUN_STARTED": "run_started", "ATTEMPT_STARTED": "attempt_started", "CELL_STARTED": "cell_started",
        "CELL_FINISHED": "cell_finished", "ATTEMPT_FINISHED": "attempt_finished", "PUBLISHED": "published",
        "STATE_COMMITTED": "state_committed", "RUN_FINISHED": "run_finished",
        "VOLUME_ANOMALY": "volume_anomaly", "NOTIFICATION_FAILED": "notification_failed",
    }


def test_documented_environment_variables() -> None:
    assert (protocol.ENV_PROFILE, protocol.ENV_SPARK_REMOTE, protocol.ENV_SPARK_MASTER) == (
        "NBPIPE_PROFILE", "NBPIPE_SPARK_REMOTE", "NBPIPE_SPARK_MASTER")
    assert all(name.startswith("NBPIPE_") for name in protocol.ALL_VARIABLES)
    assert len(set(protocol.ALL_VARIABLES)) == len(protocol.ALL_VARIABLES)


def test_nbpipe_yaml_schema_keys() -> None:
    assert list(ProjectConfig.model_fields) == ["project", "profiles", "datasets", "pipelines", "cost", "secrets",
                                                "runs", "notify", "alerts", "lineage"]
    assert list(LineageConfig.model_fields) == ["enabled", "namespace", "transport"]
    assert list(Profile.model_fields) == ["spark", "warehouse", "store", "runs_dir"]
    assert list(SparkConfig.model_fields) == ["master", "remote", "app_name", "conf", "ui", "small_frame_rows",
                                              "small_frame_input_mb"]
    assert list(DatasetConfig.model_fields) == ["path", "format", "options", "partition_by", "contract",
                                                "retention_days", "retention_column", "quarantine_retention_days",
                                                "on_bad_rows", "primary_key", "write_mode",
                                                "encoding", "follow_symlinks", "description", "owner", "tags",
                                                "pii", "expect_rows", "volume"]
    assert list(PipelineConfig.model_fields) == [
        "notebook", "params", "reads", "writes", "depends_on", "retries", "retry_delay_s", "timeout_s",
        "cell_timeout_s", "quality", "schedule", "schedule_param", "freshness", "kernel", "notify"]
    assert list(CostConfig.model_fields) == ["core_hour_usd", "gb_month_usd", "profiles"]
    assert list(ProfileRate.model_fields) == ["core_hour_usd", "cores"]


def test_run_record_cost_fields_and_the_cost_api() -> None:
    from nbpipe.core import costmodel
    from nbpipe.ops.cost import CostReport, CostRow, cost_breakdown

    assert costmodel.LINES == ("operation", "notebook_overhead", "idle_startup", "driver", "wall_clock_estimate")
    assert list(inspect.signature(cost_breakdown).parameters) == ["project", "store", "since", "by", "now"]
    assert {"rows", "lines", "storage"} <= set(CostReport.__dataclass_fields__)
    assert {"key", "compute_usd", "storage_usd", "previous_usd"} <= set(CostRow.__dataclass_fields__)


SHIMS = [
    ("nbpipe.config", "load_project", "nbpipe.core.config"),
    ("nbpipe.config", "SparkConfig", "nbpipe.core.config"),
    ("nbpipe.runner", "Runner", "nbpipe.run.runner"),
    ("nbpipe.runner", "RunResult", "nbpipe.run.runner"),
    ("nbpipe.store", "RunStore", "nbpipe.run.store"),
    ("nbpipe.spark", "spark_config", "nbpipe.spark.session"),
]


@pytest.mark.parametrize(("old", "name", "new"), SHIMS)
def test_moved_modules_forward_with_a_deprecation_warning(old: str, name: str, new: str) -> None:
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=rf"{old}\.{name} moved to {new}\.{name}"):
        value = getattr(module, name)
    assert value is getattr(importlib.import_module(new), name)


def test_spark_package_api_does_not_warn() -> None:
    from nbpipe.spark import session

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from nbpipe.spark import build_session, get_session
    assert (build_session, get_session) == (session.build_session, session.get_session)


def test_shims_refuse_unknown_names() -> None:
    import nbpipe.config

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        nbpipe.config.nope  # noqa: B018


def test_contract_keys_and_catalog_layout() -> None:
    """Contract keys (governance included) and the catalog site's paths, which run reports link to."""
    from nbpipe.core.contracts import Column, Contract
    from nbpipe.report.catalog import site

    assert list(Contract.model_fields) == ["dataset", "version", "description", "owner", "tags", "columns",
                                           "partition_by", "primary_key"]
    assert list(Column.model_fields) == ["name", "type", "nullable", "description", "tags", "pii"]
    assert (site.CATALOG_DIR, site.DATASETS_DIR, site.PIPELINES_DIR, site.FROM_RUN_REPORT) == (
        "_catalog", "datasets", "pipelines", "../../_catalog")


def test_published_dataset_file_names() -> None:
    """Names other tools see in a published dataset's folder (all skipped by Spark, pyarrow and pandas)."""
    from nbpipe.core import layout, manifest

    assert (layout.MARKER, manifest.MANIFEST, manifest.PREVIOUS, manifest.PREVIOUS_SUFFIX) == (
        "_nbpipe_run.marker", "_nbpipe_manifest.json", ".nbpipe_prev", ".prev")


def test_notification_schema_and_config_keys() -> None:
    from nbpipe.core.config import NotifyRule
    from nbpipe.core.notify import EVENTS, AlertsConfig, EmailChannel
    from nbpipe.ops.notify import SCHEMA

    assert SCHEMA == "nbpipe.notification/1"
    assert EVENTS == ("failure", "quality_warning", "recovered", "late", "missing_data", "volume_anomaly", "success")
    assert list(NotifyRule.model_fields) == ["name", "on", "webhook", "slack", "email", "timeout_s", "retries"]
    assert list(EmailChannel.model_fields) == ["host", "port", "security", "from_", "to", "username", "password"]
    assert list(AlertsConfig.model_fields) == ["remind_after", "rate_limit_per_hour", "digest_at"]


def test_run_statuses_and_panel_names() -> None:
    """A run's statuses (``cancelled``: SIGINT/SIGTERM, exit 130) and the panel's documented names."""
    from nbpipe.data import _display
    from nbpipe.kernel.widgets import form
    from nbpipe.run.store import RUN_STATUSES

    assert RUN_STATUSES == ("succeeded", "failed", "cancelled", "skipped", "running")
    assert (_display.ENV_WIDGETS, form.SECRET_PREFIX) == ("NBPIPE_WIDGETS", "NBPIPE_PANEL_SECRET_")


def test_dashboard_pages_and_gc_failpoints() -> None:
    from nbpipe.ops.retention import GC_POINTS
    from nbpipe.report.dashboard import pages

    assert (pages.INDEX, pages.COST, pages.STORAGE, pages.pipeline_page("p")) == (
        "index.html", "cost.html", "storage.html", "pipeline-p.html")
    assert GC_POINTS == ("gc_after_manifest", "gc_mid_delete", "gc_after_run_dirs")
