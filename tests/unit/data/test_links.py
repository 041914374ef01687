"""The symlink rule of dataset listings (no Spark)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nbpipe.data.links import linked_part, listing, walk
from nbpipe.errors import DatasetError


def test_links_are_refused_unless_followed_and_cycles_end(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    (root / "d=1").mkdir(parents=True)
    (root / "d=1" / "a.csv").write_text("id\n1\n")
    (root / "_SUCCESS").write_text("")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.csv").write_text("id\n2\n")
    os.symlink(outside, root / "d=2")
    os.symlink(root, outside / "loop")  # a cycle back into the root
    with pytest.raises(DatasetError, match=r"d=2 is a symbolic link \(to .*outside\)") as info:
        walk(root, "raw", follow=False)
    assert "datasets.raw.follow_symlinks: true" in (info.value.hint or "")
    assert sorted(listing(root, "raw", follow=True)) == ["d=1/a.csv", "d=2/x.csv"]
    assert linked_part(root / "d=2" / "x.csv", root.resolve()) == root / "d=2"
    assert linked_part(root / "d=1" / "a.csv", root.resolve()) is None
