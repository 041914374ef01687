"""Named failpoints: places where a test can make the runner die as if killed.

Set ``NBPIPE_FAILPOINT=<name>`` (or several, comma-separated) and the runner SIGKILLs itself when
it reaches that point — the same abrupt end as an OOM kill or a pulled plug, with no cleanup.
Crash-safety tests use it to prove that every point leaves either the old or the new state.
Unset, a failpoint costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

from nbpipe.core.protocol import ENV_FAILPOINT

ENV = ENV_FAILPOINT

# Every point the runner passes, in order. Tests iterate over this list.
POINTS = (
    "after_lock",
    "after_run_started",
    "before_execute",
    "after_execute",
    "after_gates",
    "after_publish_journal",
    "mid_publish",
    "after_publish",
    "after_commit",
    "after_record",
)


def hit(name: str) -> None:
    """Die here with SIGKILL if ``NBPIPE_FAILPOINT`` names this point."""
    wanted = os.environ.get(ENV)
    if wanted and name in wanted.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
