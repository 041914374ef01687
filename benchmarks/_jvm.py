"""CPU seconds spent by the JVMs of one benchmark case (kernels' local Spark, or the Connect server).

A sampler thread polls every ``java`` process whose command line or working directory lies under
the case's project root (the Connect server's logs and the kernels' working directory are there)
and keeps the last CPU time seen per process; the total is the JVMs' user + system seconds. A JVM
that exits between two samples loses at most its last ``interval`` of CPU.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType

import psutil


class JvmCpu:
    """``with JvmCpu(root) as jvm: ...`` then ``jvm.seconds`` and ``jvm.processes``."""

    def __init__(self, root: Path, interval: float = 0.5) -> None:
        self.root = str(Path(root).resolve())
        self.interval = interval
        self._seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _ours(self, proc: psutil.Process) -> bool:
        try:
            if proc.name() != "java":
                return False
            return self.root in " ".join(proc.cmdline()) or proc.cwd().startswith(self.root)
        except (psutil.Error, OSError):
            return False

    def _sample(self) -> None:
        for proc in psutil.process_iter():
            if proc.pid in self._seen or self._ours(proc):
                try:
                    t = proc.cpu_times()
                    self._seen[proc.pid] = t.user + t.system
                except psutil.Error:
                    pass

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> JvmCpu:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._sample()
        self._stop.set()
        self._thread.join()

    @property
    def seconds(self) -> float:
        return sum(self._seen.values())

    @property
    def processes(self) -> int:
        return len(self._seen)
