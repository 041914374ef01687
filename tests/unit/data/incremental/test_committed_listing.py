"""A downstream incremental read of a published dataset offers only committed files."""

from __future__ import annotations

import os
from pathlib import Path

from nbpipe.core.manifest import new_manifest, write_manifest
from nbpipe.data import links
from nbpipe.data.incremental.files import committed_only


def _part(root: Path, unit: str, name: str, data: bytes) -> Path:
    path = root / unit / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_files_of_an_uncommitted_publish_wait_for_its_commit(tmp_path: Path) -> None:
    root = tmp_path / "events"
    _part(root, "day=2024-01-01", "part-0.parquet", b"v1 day 1")
    _part(root, "day=2024-01-02", "part-0.parquet", b"v1 day 2")
    write_manifest(root, new_manifest("events", "r1", root, None, None))
    # A second publish is half done: day 2 replaced in place, day 3 added, no new manifest yet.
    replaced = _part(root, "day=2024-01-02", "part-0.parquet", b"v2 day 2, longer")
    os.utime(replaced, ns=(1, 1))
    _part(root, "day=2024-01-03", "part-0.parquet", b"v2 day 3")

    listing = links.listing(root, "events", False)
    assert sorted(listing) == ["day=2024-01-01/part-0.parquet", "day=2024-01-02/part-0.parquet",
                               "day=2024-01-03/part-0.parquet"]
    assert sorted(committed_only(root, listing)) == ["day=2024-01-01/part-0.parquet"], (
        "the replaced day and the new day belong to a publish that has not committed")

    write_manifest(root, new_manifest("events", "r2", root, None, None))
    assert committed_only(root, links.listing(root, "events", False)) == links.listing(root, "events", False)


def test_a_folder_without_a_manifest_is_offered_as_listed(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    _part(root, "date=2024-01-01", "a.csv", b"id\n1\n")
    listing = links.listing(root, "landing", False)
    assert committed_only(root, listing) == listing and len(listing) == 1
