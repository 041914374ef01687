"""Links from the panel to files of the project that JupyterLab opens (a run's ``report.html``).

In JupyterLab the kernel knows its notebook's path (``JPY_SESSION_NAME``, set by jupyter_server)
and the running servers describe themselves in the Jupyter runtime directory (``jpserver-*.json``:
``root_dir``, ``base_url``). A file under a server's root opens at ``<base_url>lab/tree/<path>``.
Without a server (plain IPython), the link is the path relative to the working directory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote


def _servers() -> list[dict[str, str]]:
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:  # pragma: no cover - jupyter_core ships with every kernel
        return []
    found = []
    for path in Path(jupyter_runtime_dir()).glob("jpserver-*.json"):
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and info.get("root_dir"):
            found.append({"root_dir": str(info["root_dir"]), "base_url": str(info.get("base_url") or "/")})
    return found


def lab_url(target: Path, notebook: str | None = None) -> str:
    """The URL that opens ``target`` in JupyterLab (or a relative path outside a server)."""
    target = Path(target).resolve()
    notebook = notebook if notebook is not None else os.environ.get("JPY_SESSION_NAME")
    for server in _servers():
        root = Path(server["root_dir"]).resolve()
        if notebook and not Path(notebook).resolve().is_relative_to(root):
            continue
        if target.is_relative_to(root):
            base = server["base_url"] if server["base_url"].endswith("/") else server["base_url"] + "/"
            return f"{base}lab/tree/{quote(target.relative_to(root).as_posix())}"
    return os.path.relpath(target, Path.cwd())
