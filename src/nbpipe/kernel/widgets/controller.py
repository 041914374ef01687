"""Running a pipeline in production from the kernel without blocking it.

:class:`RunController` starts ``nbpipe run PIPELINE -p … --progress-json`` as a child process (in
its own session, so a kernel interrupt does not reach it), reads the JSON progress lines on a
background thread and hands each event to a callback: the panel updates its widgets from that
thread (ipywidgets 8 sends state from any thread). :meth:`RunController.cancel` sends SIGTERM,
which ``nbpipe run`` records as a ``cancelled`` run (exit 130) that published nothing.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nbpipe.kernel.widgets._cli import Cli, CliError, error_of

EventFn = Callable[[dict[str, Any]], None]


@dataclass
class Outcome:
    """How the child ended: exit code, the ``result`` line (if it got that far), an error."""

    exit_code: int
    result: dict[str, Any] = field(default_factory=dict)
    error: CliError | None = None


class RunController:
    """One ``nbpipe run`` child at a time: start, follow its progress, cancel it."""

    def __init__(self, cli: Cli, pipeline: str, on_event: EventFn, on_done: Callable[[Outcome], None]) -> None:
        self.cli, self.pipeline = cli, pipeline
        self.on_event, self.on_done = on_event, on_done
        self.process: subprocess.Popen[str] | None = None
        self.thread: threading.Thread | None = None
        self.cancelled = False
        self.argv: list[str] = []

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, args: list[str], env: dict[str, str]) -> None:
        """Start ``nbpipe run`` with ``args`` (``-p`` pairs); ``env`` holds the secrets' variables."""
        if self.running:
            raise RuntimeError("a run started from this panel is still going; cancel it or wait")
        self.cancelled = False
        self.argv = self.cli.command("run", self.pipeline, *args, "--progress-json")
        self.process = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.cli.project,
            env=self.cli.environment(env), start_new_session=True, bufsize=1,
        )
        self.thread = threading.Thread(target=self._follow, args=(self.process,), name="nbpipe-panel-run",
                                       daemon=True)
        self.thread.start()

    def cancel(self) -> bool:
        """Ask the run to stop (SIGTERM); False when nothing is running."""
        if not self.running or self.process is None:
            return False
        self.cancelled = True
        self.process.send_signal(signal.SIGTERM)
        return True

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the follower thread (tests and scripts; the panel never blocks on it)."""
        if self.thread is not None:
            self.thread.join(timeout)

    def _follow(self, process: subprocess.Popen[str]) -> None:
        stderr: list[str] = []
        reader = threading.Thread(target=lambda: stderr.extend(process.stderr or []), daemon=True)
        reader.start()
        result: dict[str, Any] = {}
        assert process.stdout is not None
        for line in process.stdout:
            if not line.startswith("{"):
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "result":
                result = event
            self._safe(self.on_event, event)
        code = process.wait()
        reader.join()
        error = None if code == 0 or result else error_of("".join(stderr), code)
        self._safe(self.on_done, Outcome(code, result, error))

    @staticmethod
    def _safe(fn: Callable[[Any], None], arg: Any) -> None:
        try:
            fn(arg)
        except Exception as exc:  # a display bug must not kill the follower and orphan the child
            import sys

            print(f"nbpipe panel: {type(exc).__name__}: {exc}", file=sys.stderr)
