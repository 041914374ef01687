"""Calling the ``nbpipe`` CLI from the kernel: the panel's only way to reach the runner side.

The kernel side must not import the runner, the store or papermill, so the panel starts
``python -m nbpipe.cli`` (the kernel's own interpreter) with ``--project``/``--profile`` of the
notebook's project. A command that fails prints ``error: …`` / ``hint: …`` on stderr and exits with
its documented code; :class:`CliError` carries those back to the panel unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbpipe.core import protocol

# A run's handoff to its kernel: never passed on to a command the panel starts. The documented
# overrides (NBPIPE_PROFILE, NBPIPE_SPARK_REMOTE, NBPIPE_SPARK_MASTER) are.
_HANDOFF = {protocol.ENV_PROJECT, protocol.ENV_MODE, protocol.ENV_RUN_ID, protocol.ENV_RUN_DIR,
            protocol.ENV_PIPELINE, protocol.ENV_ATTEMPT, protocol.ENV_PARAMS, protocol.ENV_STATE,
            protocol.ENV_RESUME, protocol.ENV_BACKFILL_DAY}


class CliError(Exception):
    """An ``nbpipe`` command the panel ran failed; ``message``/``hint`` are what it printed."""

    def __init__(self, message: str, hint: str | None, exit_code: int) -> None:
        super().__init__(message)
        self.message, self.hint, self.exit_code = message, hint, exit_code


@dataclass(frozen=True)
class Cli:
    """How to run ``nbpipe`` for one project and profile."""

    project: Path
    profile: str | None = None

    def command(self, *args: str) -> list[str]:
        """The argv of ``nbpipe ARGS… --project P [--profile X]``."""
        tail = ["--project", str(self.project)] + (["--profile", self.profile] if self.profile else [])
        return [sys.executable, "-m", "nbpipe.cli", *args, *tail]

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The child's environment: the kernel's, without a run's handoff, plus ``extra``."""
        env = {k: v for k, v in os.environ.items()
               if k not in _HANDOFF and not k.startswith(protocol.ENV_SECRET_PREFIX)}
        env["NO_COLOR"] = "1"
        env["COLUMNS"] = "200"
        env.update(extra or {})
        return env

    def run(self, *args: str, timeout: float | None = None) -> str:
        """Run a command to its end; its stdout, or :class:`CliError` with what it printed."""
        try:
            done = subprocess.run(self.command(*args), capture_output=True, text=True, cwd=self.project,
                                  env=self.environment(), timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise CliError(f"`{shell_line(self.command(*args))}` did not finish within {timeout:g} s",
                           "run it in a terminal to see what it is waiting for", 1) from None
        except OSError as exc:
            raise CliError(f"cannot run nbpipe in {self.project}: {exc.strerror or exc}",
                           "check that the project directory exists (nbpipe.yaml)", 1) from None
        if done.returncode != 0:
            raise error_of(done.stderr, done.returncode)
        return done.stdout

    def json(self, *args: str, timeout: float | None = None) -> Any:
        """Run a command that prints JSON; the parsed value."""
        return json.loads(self.run(*args, timeout=timeout))


def error_of(stderr: str, code: int) -> CliError:
    """The ``error:``/``hint:`` a failed command printed (its last lines if it printed neither)."""
    message, hint = "", None
    for line in stderr.splitlines():
        text = line.strip()
        if text.startswith("error:") or ("failed:" in text and text.startswith("✗")):
            message = text.partition(":")[2].strip() if text.startswith("error:") else text
        elif text.startswith("hint:") and message:
            hint = text[len("hint:"):].strip()
        elif message and not hint and text and not text.startswith(("retry:", "record:")):
            message += "\n" + text
    if not message:
        message = "\n".join(stderr.strip().splitlines()[-5:]) or f"nbpipe exited with code {code}"
    return CliError(message, hint, code)


def shell_line(argv: Sequence[str]) -> str:
    """``argv`` as the ``nbpipe …`` command a person would type (without the interpreter)."""
    import shlex

    args = list(argv)
    if args[1:3] == ["-m", "nbpipe.cli"]:
        args = ["nbpipe", *args[3:]]
    return shlex.join(args)
