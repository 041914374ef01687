"""``ScopeForTest``: a :class:`nbpipe.core.protocol.RunScope` for data-plane tests.

The data plane (``nbpipe.data``, ``nbpipe.quality``) types against ``RunScope``, not the notebook
facade, so its tests hand it this plain dataclass: a real run directory and event log, and the
Spark session the test already has (instead of building a ``RunContext`` and overwriting its
cached ``spark`` property through ``ctx.__dict__``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbpipe.core import events
from nbpipe.core.config import Project
from nbpipe.core.events import EventLog
from nbpipe.core.layout import RunDir
from nbpipe.core.protocol import Mode

if TYPE_CHECKING:  # pragma: no cover
    from nbpipe.core.protocol import RunScope


@dataclass
class ScopeForTest:
    """One run as the data plane sees it; ``log`` is the kernel's event log in ``run_dir``."""

    project: Project
    spark: Any
    run_dir: Path
    run_id: str = "r1"
    mode: Mode = "prod"
    pipeline: str | None = "ingest"
    attempt: int = 1
    log: EventLog = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)
        self.log = EventLog.in_run_dir(self.run_dir, source="kernel", attempt=self.attempt)

    @property
    def is_prod(self) -> bool:
        return self.mode == "prod"

    @property
    def staging_dir(self) -> Path:
        return RunDir(self.run_dir).staging

    def events(self, kind: str) -> list[dict[str, Any]]:
        """The events of ``kind`` logged so far in this run."""
        return events.of_kind(self.log.read(), kind)


if TYPE_CHECKING:  # pragma: no cover - mypy checks that the dataclass satisfies the protocol

    def _satisfies(scope: ScopeForTest) -> RunScope:
        return scope
