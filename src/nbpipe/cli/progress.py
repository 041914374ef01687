"""The live progress view on stderr: pipeline, cell n/N, its first line, elapsed time, retries.

On a terminal the current cell is one updating status line; otherwise (CI logs, tests) every
event is printed as its own line. ``nbpipe run --progress-json`` prints each event as one JSON
object per line on stdout instead (:class:`JsonProgress`), for programs that drive a run (the
notebook panel), ending with a ``{"event": "result", ...}`` line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.markup import escape

from nbpipe.cli._common import err
from nbpipe.core import events as ev


class Progress:
    """A ``ProgressFn`` that prints runner and DAG progress events; use it as a context manager."""

    def __init__(self, pipeline: str) -> None:
        self.pipeline = pipeline
        self.status = err.status(f"{pipeline}: starting kernel…")
        self.live = sys.stderr.isatty()

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == ev.PROGRESS_PIPELINE_STARTED:
            self.pipeline = str(event["pipeline"])
            err.print(f"▶ {self.pipeline}", markup=False)
        elif kind == ev.PROGRESS_PIPELINE_FINISHED and event.get("status") == "upstream_failed":
            err.print(f"– {event['pipeline']}: not run, an upstream pipeline failed", markup=False)
        elif kind == ev.PROGRESS_CELL_STARTED:
            text = (
                f"{self.pipeline}: cell {event['n']}/{event['total']} · {event['first_line']} · "
                f"{event['elapsed_s']:.1f}s"
            )
            if self.live:
                self.status.update(escape(text))
            else:
                err.print(text, markup=False, soft_wrap=True)
        elif kind == ev.PROGRESS_ATTEMPT_STARTED and event.get("attempt", 1) > 1:
            err.print(f"{self.pipeline}: attempt {event['attempt']}/{event['of']}", markup=False)
        elif kind == ev.PROGRESS_RETRYING:
            err.print(
                f"[yellow]{escape(self.pipeline)}: attempt {event['attempt']} failed: {escape(str(event['error']))} — "
                f"retrying in {event['delay_s']:.1f}s[/]",
                soft_wrap=True,
            )

    def __enter__(self) -> Progress:
        if self.live:
            self.status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.status.stop()


class JsonProgress:
    """A ``ProgressFn`` printing each progress event as one JSON line on stdout, flushed at once."""

    def __call__(self, event: dict[str, Any]) -> None:
        self._print(event)

    def result(self, status: str, run_id: str, exit_code: int, run_dir: Path, error: Any) -> None:
        """The last line: the run's outcome and where its report is (the error already masked)."""
        error = error if isinstance(error, dict) else {}
        self._print({"event": "result", "status": status, "run_id": run_id, "exit_code": exit_code,
                     "report": str(Path(run_dir) / "report.html"),
                     "error": error.get("message"), "hint": error.get("hint")})

    @staticmethod
    def _print(event: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(event, default=str) + "\n")
        sys.stdout.flush()

    def __enter__(self) -> JsonProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None
