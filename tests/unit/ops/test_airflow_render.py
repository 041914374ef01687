"""The Airflow export's files: Python that imports only Airflow, literals for every value, safe commands."""

from __future__ import annotations

import ast
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import jinja2
import pytest

from nbpipe.core.config import load_project
from nbpipe.ops.airflow import export, nbpipe_executable, plan, render
from tests.support.cli import run_cli
from tests.support.projects import build_project

DATE = {"run_date": {"type": "date"}}
STDLIB = {"__future__", "datetime", "logging", "subprocess"}


def make(root: Path, **pipelines: dict[str, Any]) -> Any:
    build_project(root, project="shop", pipelines=pipelines, notebooks=["ok"],
                  datasets={"orders": {"format": "parquet"}})
    return load_project(project_dir=root)


def constants(source: str) -> dict[str, Any]:
    """The module-level ``NAME = literal`` assignments of a generated file."""
    tree = ast.parse(source)
    return {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id.isupper()
    }


def airflow_render(template: str, ds: str) -> str:
    """Render a ``bash_command`` the way Airflow does (Jinja; no OpenLineage provider installed)."""
    return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(template).render(ds=ds, macros={})


def test_the_file_imports_only_airflow_and_holds_every_value_as_a_literal(tmp_path: Path) -> None:
    root = tmp_path / "it's {{ odd }} $(touch pwned)"  # a quote, Airflow's Jinja and a shell substitution
    proj = make(root, ingest={"notebook": "ok.ipynb", "params": DATE, "writes": ["orders"], "schedule": "@daily",
                              "retries": 2, "retry_delay_s": 5, "timeout_s": 90})
    binary = str(tmp_path / "bin dir" / "nbpipe")
    [dag] = plan.build(proj, nbpipe_bin=binary)
    source = render.render(dag)
    tree = ast.parse(source)

    imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert {m.split(".")[0] for m in imported} == {"airflow"} | STDLIB
    assert "schedule_interval" not in source and "airflow.operators" not in source  # no Airflow 2 idioms
    assert source.splitlines()[0] == render.marker("shop")
    values = constants(source)
    assert (values["NBPIPE"], values["PROJECT_DIR"]) == (binary, str(root))
    assert values["NOT_RETRIED"] == {2: "ConfigError", 3: "ParameterError", 4: "NotebookError", 6: "DatasetError",
                                     7: "ContractViolationError", 8: "BadRowsError", 13: "QualityGateError",
                                     130: "RunCancelledError"}

    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "NbpipeRun")
    kwargs = {k.arg: k.value for k in call.keywords}
    assert ast.literal_eval(kwargs["skip_on_exit_code"]) is None
    assert ast.literal_eval(kwargs["retries"]) == 2
    assert ast.unparse(kwargs["retry_delay"]) == "datetime.timedelta(seconds=5.0)"
    assert ast.unparse(kwargs["execution_timeout"]) == f"datetime.timedelta(seconds={90 + plan.TIMEOUT_GRACE_S})"
    assert ast.literal_eval(kwargs["retry_exponential_backoff"]) == 2.0
    orders = (root / "warehouse" / "orders").as_uri()
    assert ast.unparse(kwargs["outlets"]) == f"[Asset(name='shop.orders', uri={orders!r})]"
    dag_call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "DAG")
    dag_kwargs = {k.arg: ast.unparse(k.value) for k in dag_call.keywords}
    assert (dag_kwargs["schedule"], dag_kwargs["catchup"], dag_kwargs["max_active_runs"]) == ("'@daily'", "False", "1")

    # What the task's shell runs once Airflow rendered the template: exactly these arguments.
    command = values["OPENLINEAGE_ENV"] + ast.literal_eval(kwargs["bash_command"].right)
    assert shlex.split(airflow_render(command, ds="2026-01-05")) == [
        binary, "run", "ingest", "--project", str(root), "--retries", "0", "-p", "run_date=2026-01-05"]


def test_a_hostile_project_name_stays_a_literal(tmp_path: Path) -> None:
    name = 'x"""\nimport os; os.system("touch pwned")\n"""\\'
    build_project(tmp_path, project=name, notebooks=["ok"],
                  pipelines={"p": {"notebook": "ok.ipynb", "params": DATE, "schedule": "@daily"}})
    [dag] = plan.build(load_project(project_dir=tmp_path), nbpipe_bin=sys.executable)
    tree = ast.parse(render.render(dag))
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import) and n.names[0].name == "os"]
    assert re.fullmatch(r"x_+import_os__os\.system__touch_pwned_+daily", dag.dag_id)
    dag_call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "DAG")
    assert ast.literal_eval({k.arg: k.value for k in dag_call.keywords}["tags"]) == ["nbpipe", name]


def test_openlineage_parent_ids_are_passed_only_when_the_provider_is_there() -> None:
    class Plugin:
        @staticmethod
        def lineage_parent_id(ti: str) -> str:
            return f"ns/dag.task/{ti}"

        @staticmethod
        def lineage_root_parent_id(ti: str) -> str:
            return f"ns/dag/{ti}-root"

    template = render.OPENLINEAGE_ENV + "nbpipe run p"
    with_plugin = jinja2.Environment().from_string(template).render(
        macros={"OpenLineageProviderPlugin": Plugin}, task_instance="r1")
    assert shlex.split(with_plugin) == [
        "OPENLINEAGE_PARENT_ID=ns/dag.task/r1", "OPENLINEAGE_ROOT_PARENT_ID=ns/dag/r1-root", "nbpipe", "run", "p"]
    without = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(template).render(macros={})
    assert without == "nbpipe run p"


def test_a_full_export_replaces_this_projects_stale_files_only(tmp_path: Path) -> None:
    proj = make(tmp_path / "project", ingest={"notebook": "ok.ipynb", "params": DATE, "schedule": "@daily"})
    out = tmp_path / "dags"
    out.mkdir()
    (out / "shop_hourly.py").write_text(render.marker("shop") + "\n")  # an earlier export, schedule gone
    (out / "other_daily.py").write_text(render.marker("other") + "\n")  # another project's
    (out / "hand_written.py").write_text("from airflow.sdk import DAG\n")
    done = export(proj, out, nbpipe_bin=sys.executable)
    assert [(p.name, dag_id, tasks) for p, dag_id, tasks in done.files] == [("shop_daily.py", "shop_daily", ["ingest"])]
    assert [p.name for p in done.removed] == ["shop_hourly.py"]
    assert sorted(p.name for p in out.iterdir()) == ["hand_written.py", "other_daily.py", "shop_daily.py"]
    # A selective export writes only its pipelines' DAGs and removes nothing.
    (out / "shop_hourly.py").write_text(render.marker("shop") + "\n")
    assert export(proj, out, ["ingest"], nbpipe_bin=sys.executable).removed == []
    assert (out / "shop_hourly.py").exists()


def test_nbpipe_bin_must_be_an_executable(tmp_path: Path) -> None:
    from nbpipe.errors import ConfigError

    with pytest.raises(ConfigError, match="--nbpipe-bin") as caught:
        nbpipe_executable(str(tmp_path / "missing"))
    assert "absolute path" in str(caught.value.hint)
    assert nbpipe_executable(sys.executable) == sys.executable


def test_cli_export_bad_input_exits_2_naming_the_pipeline_and_writes_nothing(tmp_path: Path) -> None:
    root = build_project(tmp_path / "project", project="shop", notebooks=["ok"], pipelines={
        "good": {"notebook": "ok.ipynb", "params": DATE, "schedule": "@daily"},
        "nodate": {"notebook": "ok.ipynb", "params": {"a": {"type": "date"}, "b": {"type": "date"}},
                   "schedule": "@hourly"},
    })
    out = tmp_path / "dags"
    done = run_cli(root, "airflow", "export", "--out", str(out))
    assert done.returncode == 2, done.stderr
    assert "error: pipeline 'nodate' is scheduled (@hourly) and has several date parameters (a, b)" in done.stderr
    assert "hint: set pipelines.nodate.schedule_param to one of a, b" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not out.exists()  # nothing half-done: not even the good pipeline's DAG

    done = run_cli(root, "airflow", "export", "good", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "DAG shop_daily (1 task(s): good)" in done.stdout
    assert (out / "shop_daily.py").is_file()
