"""The commit manifest of a publish, the reader's view of it and the checks before a publish (no Spark).

Units are staged by hand (a data file and the run's marker per partition), exactly where
``ctx.write`` stages them; the publish, the kill (a real SIGKILL at the ``mid_publish`` failpoint,
in a child process) and the manifest are real.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nbpipe.core.config import Project
from nbpipe.core.layout import RunDir, publish_work_dir, write_marker
from nbpipe.core.manifest import MANIFEST, PREVIOUS, changes_since_commit, committed_files, read_manifest
from nbpipe.errors import DatasetError
from nbpipe.run import failpoints
from nbpipe.run.preflight import check_untouched, check_writable, outputs
from nbpipe.run.publish import publish
from tests.support.privileges import unprivileged
from tests.support.projects import load

DAYS = ["day=2024-01-06", "day=2024-01-07"]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return load(tmp_path, project="t", datasets={"daily": {"format": "parquet", "partition_by": ["day"]},
                                                  "whole": {"format": "parquet"}})


def stage(project: Project, run_id: str, dataset: str, units: dict[str, bytes]) -> tuple[Path, list[dict[str, Any]]]:
    """Stage ``{unit: file bytes}`` for ``dataset`` as run ``run_id``; return its run dir and staged events."""
    run_dir = project.runs_dir / "p" / run_id
    base = RunDir(run_dir).staging / dataset
    for unit, data in units.items():
        (base / unit).mkdir(parents=True, exist_ok=True)
        (base / unit / "part-00000.parquet").write_bytes(data)
        write_marker(base / unit, run_id=run_id, attempt=1, dataset=dataset)
    partitioned = units.keys() != {""}
    event = {"kind": "dataset_staged", "dataset": dataset, "partition_by": ["day"] if partitioned else [],
             "partitions": [u for u in units if u], "rows": len(units), "bytes": 1, "format": "parquet"}
    return run_dir, [event]


def contents(files: list[Path] | None) -> list[bytes]:
    assert files is not None
    return [f.read_bytes() for f in files]


def publish_killed(project: Project, run_dir: Path, staged: list[dict[str, Any]]) -> None:
    """Publish in a child process that SIGKILLs itself after the first unit is swapped in."""
    code = ("import json, sys; from nbpipe.core.config import load_project; from nbpipe.run.publish import publish; "
            "publish(load_project(project_dir=sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]))")
    proc = subprocess.run([sys.executable, "-c", code, str(project.root), str(run_dir), json.dumps(staged)],
                          env={**os.environ, failpoints.ENV: "mid_publish"}, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def test_killed_mid_publish_the_manifest_still_names_the_previous_publish_whole(project: Project) -> None:
    root = project.warehouse / "daily"
    run1, staged1 = stage(project, "r1", "daily", {d: f"old {d}".encode() for d in DAYS})
    publish(project, run1, staged1)
    first = read_manifest(root)
    assert first is not None and (first["version"], first["run_id"], sorted(first["units"])) == (1, "r1", DAYS)
    assert contents(committed_files(root, "daily")) == [b"old day=2024-01-06", b"old day=2024-01-07"]

    run2, staged2 = stage(project, "r2", "daily", {d: f"new {d}".encode() for d in DAYS})
    publish_killed(project, run2, staged2)
    plain = [(root / d / "part-00000.parquet").read_bytes() for d in DAYS]
    assert plain == [b"new day=2024-01-06", b"old day=2024-01-07"], "a plain reader sees a mix"
    assert read_manifest(root) == first, "nothing was committed"
    resolved = committed_files(root, "daily")
    assert contents(resolved) == [b"old day=2024-01-06", b"old day=2024-01-07"]
    assert resolved is not None and resolved[0].parent == root / DAYS[0] / PREVIOUS
    assert changes_since_commit("daily", root) is not None
    assert not changes_since_commit("daily", root), "the units of a publish in flight are not foreign"

    publish(project, run2, staged2)  # roll forward, as the next run's recovery does
    second = read_manifest(root)
    assert second is not None and (second["version"], second["run_id"]) == (2, "r2")
    assert contents(committed_files(root, "daily")) == [b"new day=2024-01-06", b"new day=2024-01-07"]
    assert not list(root.glob(f"*/{PREVIOUS}")) and not publish_work_dir(root, "r2").exists()
    publish(project, run2, staged2)
    assert read_manifest(root) == second, "publishing again commits nothing new"


def test_untouched_units_keep_their_entry_and_new_units_are_added(project: Project) -> None:
    root = project.warehouse / "daily"
    run1, staged1 = stage(project, "r1", "daily", {DAYS[0]: b"a"})
    publish(project, run1, staged1)
    run2, staged2 = stage(project, "r2", "daily", {DAYS[1]: b"b"})
    publish(project, run2, staged2)
    manifest = read_manifest(root)
    assert manifest is not None
    assert {u: e["run_id"] for u, e in manifest["units"].items()} == {DAYS[0]: "r1", DAYS[1]: "r2"}
    assert manifest["units"][DAYS[1]]["files"]["part-00000.parquet"]["size"] == 1


def test_a_dataset_published_before_manifests_is_read_as_listed_then_adopted(project: Project) -> None:
    root = project.warehouse / "daily"
    (root / DAYS[0]).mkdir(parents=True)
    (root / DAYS[0] / "part-00000.parquet").write_bytes(b"legacy")
    assert committed_files(root, "daily") is None
    assert changes_since_commit("daily", root) is None
    run2, staged2 = stage(project, "r2", "daily", {DAYS[1]: b"new"})
    publish(project, run2, staged2)
    manifest = read_manifest(root)
    assert manifest is not None and {u: e["run_id"] for u, e in manifest["units"].items()} == {
        DAYS[0]: None, DAYS[1]: "r2"}
    assert contents(committed_files(root, "daily")) == [b"legacy", b"new"]


def test_a_whole_dataset_swap_carries_its_manifest(project: Project) -> None:
    root = project.warehouse / "whole"
    for n, run_id in enumerate(("r1", "r2"), start=1):
        run_dir, staged = stage(project, run_id, "whole", {"": run_id.encode()})
        publish(project, run_dir, staged)
        manifest = read_manifest(root)
        assert manifest is not None and (manifest["version"], manifest["run_id"]) == (n, run_id)
        assert contents(committed_files(root, "whole")) == [run_id.encode()]


def test_changes_outside_the_publish_step_are_found_and_refused(project: Project) -> None:
    root = project.warehouse / "daily"
    run1, staged1 = stage(project, "r1", "daily", {d: b"x" for d in DAYS})
    publish(project, run1, staged1)
    (root / DAYS[0] / PREVIOUS).mkdir()  # left by a publish killed after its commit: not data
    (root / DAYS[0] / PREVIOUS / "part-00000.parquet.prev").write_bytes(b"kept")
    check_untouched(project, ["daily"])
    (root / DAYS[0] / "extra.parquet").write_bytes(b"bypass")
    (root / DAYS[1] / "part-00000.parquet").write_bytes(b"rewritten")
    (root / "day=2024-01-08").mkdir()
    (root / "day=2024-01-08" / "part-00000.parquet").write_bytes(b"new day")
    changes = changes_since_commit("daily", root)
    assert changes is not None
    assert changes.added == [f"{DAYS[0]}/extra.parquet", "day=2024-01-08/part-00000.parquet"]
    assert changes.changed == [f"{DAYS[1]}/part-00000.parquet"] and changes.removed == []
    with pytest.raises(DatasetError) as exc:
        check_untouched(project, outputs(project, ["daily"], []))
    message = str(exc.value)
    assert "dataset 'daily' was changed outside nbpipe's publish step since run r1 published it" in message
    assert f"2 file(s) added ({DAYS[0]}/extra.parquet, day=2024-01-08/part-00000.parquet)" in message
    assert f"1 file(s) changed ({DAYS[1]}/part-00000.parquet)" in message
    assert "those files were left as they are" in message and exc.value.exit_code == 6
    assert "ctx.write(df, 'daily')" in (exc.value.hint or "") and str(root / MANIFEST) in (exc.value.hint or "")
    (root / DAYS[0] / "extra.parquet").unlink()
    (root / DAYS[1]).joinpath("part-00000.parquet").unlink()
    changes = changes_since_commit("daily", root)
    assert changes is not None and changes.removed == [f"{DAYS[1]}/part-00000.parquet"]


def test_check_writable_names_the_directory_a_publish_needs(project: Project) -> None:
    """A read-only warehouse is refused before anything moves (checked in a child that obeys mode bits)."""
    _, staged = stage(project, "r1", "daily", {DAYS[0]: b"a"})
    project.warehouse.mkdir(parents=True, exist_ok=True)
    check_writable(project, "r1", staged)  # writable: passes
    code = ("import json, sys; from nbpipe.core.config import load_project; from nbpipe.run.preflight import "
            "check_writable; from nbpipe.errors import DatasetError\n"
            "try:\n    check_writable(load_project(project_dir=sys.argv[1]), 'r1', json.loads(sys.argv[2]))\n"
            "except DatasetError as exc:\n    print(exc.exit_code, exc.message, '|', exc.hint)\n")
    os.chmod(project.warehouse, 0o555)
    try:
        proc = subprocess.run([*unprivileged(), sys.executable, "-c", code, str(project.root), json.dumps(staged)],
                              capture_output=True, text=True, check=False)
    finally:
        os.chmod(project.warehouse, 0o755)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"6 cannot publish dataset 'daily': {project.warehouse} is not writable"), proc.stdout
    assert "nothing was published and no state was committed" in proc.stdout
    assert f"chmod -R u+w {project.warehouse}" in proc.stdout
    assert not list(project.warehouse.iterdir()), "nothing was moved"


def test_an_os_error_mid_publish_is_a_dataset_error_naming_the_path(project: Project) -> None:
    """No traceback from deep inside the publish: the error names the dataset, the run and the path."""
    run_dir, staged = stage(project, "r1", "daily", {DAYS[0]: b"a"})
    project.warehouse.mkdir(parents=True, exist_ok=True)
    (project.warehouse / "daily").write_text("a file where the dataset folder should be")
    with pytest.raises(DatasetError) as exc:
        publish(project, run_dir, staged)
    assert str(exc.value).startswith(
        f"the publish of dataset 'daily' by run 'r1' stopped at {project.warehouse / 'daily'}: File exists")
    assert "its next run completes this publish first" in (exc.value.hint or "")
    assert isinstance(exc.value.__cause__, OSError) and exc.value.exit_code == 6
