"""The machine's fingerprint key: what secret values are hashed with before they enter a fingerprint.

The key is 32 random bytes in ``<runs dir>/.nbpipe-private/fingerprint.key`` (hex), created on
first use with mode ``0600`` in a directory of mode ``0700`` that holds a ``.gitignore`` of ``*``,
so it is never committed even where the project's own ``.gitignore`` misses the runs directory. It
never leaves the machine: records and the run store hold only HMACs made with it and its public
:func:`~nbpipe.core.fingerprint.key_id`. Runs on machines with different keys (a shared PostgreSQL
store) never match on secret parameters; copy the file (keeping its mode) to share it.
"""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
from pathlib import Path

from nbpipe.errors import ConfigError

KEY_DIR = ".nbpipe-private"
KEY_FILE = "fingerprint.key"
_KEY_BYTES = 32


def key_path(runs_dir: Path) -> Path:
    """Where the fingerprint key of the runs directory ``runs_dir`` lives."""
    return Path(runs_dir) / KEY_DIR / KEY_FILE


def load_or_create(runs_dir: Path) -> bytes:
    """The fingerprint key, created on first use (safe when several runs start at once).

    Raises:
        ConfigError: the key file is readable by other users, or is not a valid key.
    """
    path = key_path(runs_dir)
    if not path.exists():
        _create(path)
    if os.name == "posix":
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(
                f"the fingerprint key {path} is readable by other users (mode {mode:o}); it protects the "
                "fingerprints of secret parameters",
                hint=f"chmod 600 {path}",
            )
    text = path.read_text(encoding="ascii", errors="replace").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise ConfigError(
            f"the fingerprint key {path} is not a key nbpipe wrote (expected {2 * _KEY_BYTES} hex digits)",
            hint=f"delete {path}: a new key is made on the next run (runs before it then count as changed)",
        )
    return key


def _create(path: Path) -> None:
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# nbpipe's private files: never commit them\n*\n", encoding="utf-8")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".key-")  # mkstemp creates it with mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(_KEY_BYTES) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # atomic and never replaces: a run that raced us keeps its key
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: rename, unless a racing run was first
            if not path.exists():
                os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
