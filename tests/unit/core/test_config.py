"""nbpipe.yaml loading and validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbpipe.core.config import find_config, inside, load_project
from nbpipe.errors import ConfigError, DatasetError


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "nbpipe.yaml").write_text(text)
    return tmp_path


def test_defaults_and_discovery_from_a_subdirectory(tmp_path):
    write(tmp_path, "project: x\npipelines:\n  a: {notebook: a.ipynb}\n")
    sub = tmp_path / "notebooks" / "deep"
    sub.mkdir(parents=True)
    assert find_config(sub) == tmp_path / "nbpipe.yaml"
    project = load_project(sub)
    assert project.root == tmp_path.resolve()
    assert project.profile_name == "dev"
    assert project.store_url == f"sqlite:///{tmp_path.resolve()}/runs/nbpipe.db"
    assert project.pipeline("a").retries == 0


def test_unknown_key_names_file_path_and_allowed(tmp_path):
    write(tmp_path, "pipelines:\n  a: {notebook: a.ipynb, retires: 2}\n")
    with pytest.raises(ConfigError) as info:
        load_project(project_dir=tmp_path)
    msg = str(info.value)
    assert str(tmp_path / "nbpipe.yaml") in msg
    assert "pipelines.a.retires: unknown key (did you mean 'retries'?)" in msg
    assert "allowed: " in msg and "timeout_s" in msg


def test_bad_literal_lists_allowed_values(tmp_path):
    write(tmp_path, "pipelines:\n  a: {notebook: a.ipynb, quality: strict}\n")
    with pytest.raises(ConfigError, match=r"pipelines.a.quality: Input should be 'fail' or 'warn' \(got 'strict'\)"):
        load_project(project_dir=tmp_path)


def test_unknown_profile_and_pipeline(tmp_path):
    write(
        tmp_path,
        "profiles: {dev: {}, cluster: {spark: {remote: 'sc://127.0.0.1:15002'}}}\n"
        "pipelines: {ingest_flights: {notebook: a.ipynb}}\n",
    )
    with pytest.raises(ConfigError, match=r"profile 'clustr' is not defined.*did you mean 'cluster'"):
        load_project(project_dir=tmp_path, profile="clustr")
    project = load_project(project_dir=tmp_path, profile="cluster")
    assert project.profile.spark.remote == "sc://127.0.0.1:15002"
    with pytest.raises(ConfigError, match=r"did you mean 'ingest_flights'"):
        project.pipeline("ingest_flight")


def test_invalid_spark_and_yaml(tmp_path):
    write(tmp_path, "profiles: {dev: {spark: {remote: 'http://x'}}}\n")
    with pytest.raises(ConfigError, match=r"Spark Connect URL"):
        load_project(project_dir=tmp_path)
    write(tmp_path, "pipelines: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_project(project_dir=tmp_path)


def test_missing_config(tmp_path):
    with pytest.raises(ConfigError, match="nbpipe init"):
        load_project(project_dir=tmp_path)


@pytest.mark.parametrize("name", ["../etc", "a/b", "", "1abc", "a b", "..", "/abs"])
def test_names_cannot_escape(tmp_path, name):
    write(tmp_path, "datasets: {ok: {path: data}}\n")
    project = load_project(project_dir=tmp_path)
    with pytest.raises(DatasetError, match="is not allowed"):
        project.dataset(name)


def test_dataset_names_in_config_are_validated(tmp_path):
    write(tmp_path, "datasets: {'../x': {path: data}}\n")
    with pytest.raises(ConfigError, match=r"name '\.\./x' is not allowed"):
        load_project(project_dir=tmp_path)


def test_inside_refuses_escape(tmp_path):
    assert inside(tmp_path, tmp_path / "a" / "b", "path") == (tmp_path / "a" / "b").resolve()
    with pytest.raises(DatasetError, match="escapes its root"):
        inside(tmp_path / "wh", tmp_path / "wh" / ".." / "other", "dataset path")
