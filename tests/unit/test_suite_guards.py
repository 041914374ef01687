"""Guards that keep the test suite from silently running less than it claims.

A test whose dependency (PostgreSQL, the JDBC driver, Chromium …) is missing goes through
``tests.support.env.unavailable``: skipped on a developer machine, a failure under CI. A bare
``pytest.skip`` would skip in CI too, so the one allowed below says why it cannot be provided.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nbpipe.spark import session as nbspark
from tests.support import pg

TESTS = Path(__file__).resolve().parents[1]
SKIP = re.compile(r"pytest\.skip\(|pytest\.importorskip\(|pytest\.mark\.skip(if)?\b")
# file → why its skip is a property of the machine's layout that CI cannot be asked to provide
ALLOWED = {
    "integration/test_publish.py": "cross-device staging needs /dev/shm on another filesystem than the tests",
    "support/env.py": "unavailable() itself: skips locally, fails under CI",
}


def test_no_test_skips_around_the_ci_rule() -> None:
    found = sorted(
        f"{path.relative_to(TESTS)}:{n}"
        for path in TESTS.rglob("*.py")
        if path != Path(__file__).resolve() and str(path.relative_to(TESTS)) not in ALLOWED
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SKIP.search(line)
    )
    assert not found, f"skip through tests.support.env.unavailable (fails under CI), not pytest.skip: {found}"


def test_a_missing_jdbc_driver_skips_locally_and_fails_under_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "postgresql.jar"
    monkeypatch.setitem(nbspark.JDBC_DRIVER_JARS, "postgresql", (str(missing), "libpostgresql-jdbc-java"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y libpostgresql-jdbc-java"):
        pg.jdbc_jar()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=f"{missing} is missing.*CI must provide it"):
        pg.jdbc_jar()
    missing.write_bytes(b"PK")
    assert pg.jdbc_jar() == missing


def test_ci_entry_point_runs_as_ci() -> None:
    text = (TESTS.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert 'export CI="${CI:-true}"' in text, ".ci/run must set CI so missing dependencies fail, not skip"
    assert text.index("export CI=") < text.index("make test")


def test_system_deps_installs_every_jdbc_driver_the_tests_load() -> None:
    """``make test`` (scripts/system-deps.sh) installs each driver jar nbpipe knows, so CI has it."""
    script = (TESTS.parent / "scripts" / "system-deps.sh").read_text(encoding="utf-8")
    for jar, package in nbspark.JDBC_DRIVER_JARS.values():
        assert f"[ -f {jar} ] || missing+=({package})" in script, f"system-deps.sh does not install {package}"
