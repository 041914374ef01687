"""nbpipe.yaml declarations that used to load and fail later, blaming the user's value (pure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nbpipe.core.config import load_project
from nbpipe.errors import ConfigError
from tests.support.projects import write_config


def load(root: Path, **config: Any):
    return load_project(project_dir=write_config(root, **config))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "float", "min": 1, "max": 0}, "pipelines.daily.params.p: 'min' 1 is above 'max' 0"),
        ({"min": 3, "max": 2}, "pipelines.daily.params.p: 'min' 3 is above 'max' 2"),
        ({"type": "int", "min": "abc"}, "pipelines.daily.params.p: 'min' 'abc' is not of type int"),
        ({"type": "date", "max": "tomorrow"}, "'max' 'tomorrow' is not of type date (expected YYYY-MM-DD)"),
        ({"type": "float", "min": float("nan")}, "'min' must be a number, not NaN"),
        ({"type": "int", "choices": [1, "two"]}, "choice 'two' is not of type int"),
        ({"type": "bool", "min": False}, "'min'/'max' apply to str, int, float, date, datetime parameters"),
        ({"type": "list", "max": [1]}, "not to a list"),
    ],
)
def test_inconsistent_parameter_declarations_are_refused_at_load(tmp_path: Path, spec: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, pipelines={"daily": {"notebook": "d.ipynb", "params": {"p": spec}}})
    assert message in info.value.message
    assert "Value error" not in info.value.message


def test_consistent_declarations_load(tmp_path: Path) -> None:
    project = load(tmp_path, pipelines={"daily": {"notebook": "nb/d.ipynb", "params": {
        "day": {"type": "date", "min": "2013-01-01", "max": "2013-12-31"},
        "n": {"type": "int", "choices": [1, 2]},
        "r": {"min": 0, "max": 1},
    }}})
    assert project.notebook_path("daily") == tmp_path.resolve() / "nb" / "d.ipynb"


@pytest.mark.parametrize("notebook", ["../../../../etc/passwd", "/etc/passwd", "nb/../../outside.ipynb"])
def test_a_notebook_outside_the_project_is_refused_at_load(tmp_path: Path, notebook: str) -> None:
    with pytest.raises(ConfigError, match=r"pipelines\.daily\.notebook .* is outside the project directory") as info:
        load(tmp_path, pipelines={"daily": {"notebook": notebook}})
    assert info.value.hint is not None and "relative to nbpipe.yaml" in info.value.hint


def test_an_absolute_notebook_path_inside_the_project_is_fine(tmp_path: Path) -> None:
    inside = tmp_path.resolve() / "d.ipynb"
    assert load(tmp_path, pipelines={"daily": {"notebook": str(inside)}}).notebook_path("daily") == inside


@pytest.mark.parametrize("url", ["mysql://u:hunter2@h/db", "postgresql+psycopg2://h/db", "oracle://h", "runs.db"])
def test_an_unsupported_store_url_is_refused_at_load(tmp_path: Path, url: str) -> None:
    scheme = r"profiles\.dev\.store: the run store URL scheme .* is not supported"
    with pytest.raises(ConfigError, match=scheme) as info:
        load(tmp_path, profiles={"dev": {"store": url}})
    assert "sqlite:///runs/nbpipe.db or postgresql+psycopg://" in info.value.message
    assert "hunter2" not in info.value.message


@pytest.mark.parametrize("url", ["sqlite:///runs/x.db", "sqlite+pysqlite:///:memory:", "postgresql+psycopg://h/db",
                                 "postgresql://u@h/db"])
def test_supported_store_urls_load(tmp_path: Path, url: str) -> None:
    assert load(tmp_path, profiles={"dev": {"store": url}}).profile.store == url
