"""Listing a file dataset's files with its symlink rule (``follow_symlinks``, default false).

The root of a dataset is resolved and must lie inside the project or the warehouse
(:func:`nbpipe.core.layout.dataset_root`); a symbolic link *under* it could still point anywhere
(``landing/x.csv -> /etc/passwd``). So, unless the dataset sets ``follow_symlinks: true``, a read or
an incremental listing that meets a link (to a file or a directory, wherever it points, inside the
project too) fails naming the link and its target, before Spark reads anything. With
``follow_symlinks: true`` links are followed wherever they point, directory links included (each
real directory once, so a link cycle ends). Names Spark skips (:func:`nbpipe.core.layout.hidden`)
are skipped here too, links or not.
"""

from __future__ import annotations

import os
from pathlib import Path

from nbpipe.core.layout import Listing, hidden
from nbpipe.errors import DatasetError


def refuse_link(name: str, link: Path) -> DatasetError:
    """The error for a symbolic link met under dataset ``name`` without ``follow_symlinks``."""
    try:
        target = os.readlink(link)
    except OSError:
        target = "?"
    return DatasetError(
        f"dataset {name!r}: {link} is a symbolic link (to {target}); nbpipe does not follow links in a "
        "dataset's files unless the dataset allows it",
        hint=f"replace the link with the file itself, or set datasets.{name}.follow_symlinks: true in "
        "nbpipe.yaml to read what it points to",
    )


def linked_part(path: Path, base: Path) -> Path | None:
    """The first symbolic link on the way from ``base`` (resolved) down to ``path``, if any."""
    for part in [path, *path.parents]:
        if part.resolve() == base and not part.is_symlink():
            return None
        if part.is_symlink():
            return part
    return None


def walk(root: Path, name: str, follow: bool) -> list[Path]:
    """The data files under ``root`` (or ``root`` itself if a file), sorted, hidden names skipped.

    Raises:
        DatasetError: a symbolic link under ``root`` and ``follow`` is false.
    """
    if root.is_symlink() and not follow:
        raise refuse_link(name, root)
    if not root.is_dir():
        return [root]
    out: list[Path] = []
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=follow):
        here = Path(dirpath)
        st = here.stat()
        if (st.st_dev, st.st_ino) in seen:  # a link cycle, or a directory linked twice
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not hidden(d))
        for entry in [*dirnames, *filenames]:
            if not hidden(entry) and not follow and (here / entry).is_symlink():
                raise refuse_link(name, here / entry)
        out.extend(here / f for f in filenames if not hidden(f) and (here / f).is_file())
    return sorted(out)


def listing(root: Path, name: str, follow: bool) -> Listing:
    """:func:`walk` as an incremental listing: relative path (``/``) -> size and mtime of the file read."""
    found: Listing = {}
    for path in walk(root, name, follow):
        try:
            st = path.stat()
        except FileNotFoundError:  # removed while listing, or a dangling link
            continue
        rel = path.name if path == root else path.relative_to(root).as_posix()
        found[rel] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return found
