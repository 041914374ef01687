"""Run the ``nbpipe`` CLI as a user does: a separate process in the project directory.

``run_cli`` waits for it and returns the completed process (exit code, stdout, stderr as text);
``start_cli`` starts it and returns the running process, for tests that signal, kill or race it.
The child gets this interpreter (``python -m nbpipe.cli``, so the tested checkout runs, not
whatever ``nbpipe`` is on ``PATH``) and this process's environment, without the Spark target
overrides (``NBPIPE_SPARK_REMOTE``/``_MASTER``: the project's profile decides unless ``env`` sets
them), plus ``env``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from nbpipe.core.protocol import ENV_SPARK_MASTER, ENV_SPARK_REMOTE

NBPIPE: tuple[str, ...] = (sys.executable, "-m", "nbpipe.cli")
TIMEOUT_S = 900.0


def cli_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a CLI child process: ours, minus the Spark target overrides, plus ``env``."""
    base = {k: v for k, v in os.environ.items() if k not in (ENV_SPARK_REMOTE, ENV_SPARK_MASTER)}
    return {**base, **(env or {})}


def run_cli(
    root: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """Run ``nbpipe ARGS…`` in ``root`` and wait for it (``TimeoutExpired`` after ``timeout`` seconds)."""
    return subprocess.run(
        [*NBPIPE, *args], cwd=root, env=cli_env(env), capture_output=True, text=True, timeout=timeout, check=False
    )


def start_cli(
    root: Path, *args: str, env: Mapping[str, str] | None = None, new_session: bool = False
) -> subprocess.Popen[str]:
    """Start ``nbpipe ARGS…`` in ``root`` with piped output; ``new_session`` gives it its own process group."""
    return subprocess.Popen(
        [*NBPIPE, *args],
        cwd=root,
        env=cli_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=new_session,
    )
