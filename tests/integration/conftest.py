"""Integration fixtures: a throwaway PostgreSQL server (``pg_url``) and fresh databases on it."""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest


def _load_pg() -> ModuleType:
    """Import ``tests/pg.py`` by path (``tests`` is not a package, and pytest may not have it on sys.path)."""
    name = "nbpipe_tests_pg"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "pg.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


pg = _load_pg()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a database on a PostgreSQL server started for this test session on 127.0.0.1.

    Skips (fails when ``CI=true``) with the install command if PostgreSQL is not installed.
    """
    if pg.find_bin_dir() is None:
        message = f"PostgreSQL server binaries not found; install them with: {pg.APT_INSTALL}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with pg.postgres_server() as url:
        yield url


@pytest.fixture
def pg_database(pg_url: str) -> Iterator[Callable[[], str]]:
    """Factory of fresh, empty databases on the session's server; they are dropped afterwards."""
    created: list[str] = []

    def make() -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        url = pg.create_database(pg_url, name)
        created.append(name)
        return str(url)

    yield make
    for name in created:
        pg.drop_database(pg_url, name)
