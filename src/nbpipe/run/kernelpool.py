"""A kernel started ahead, so that the next notebook of a sequential DAG run does not wait for one.

A kernel costs ≈ 0.8 s to boot and the first cell ≈ 1 s more to import nbpipe and the Spark Connect
client (pandas, pyarrow, grpc). ``KernelPool.prestart`` launches the process and returns at once;
the kernel boots and pre-imports (``nbpipe.kernel._preload``, nothing bound in the user namespace) while
the current notebook runs. ``take`` hands it to the next run when the kernel name and working
directory match and the process is alive; otherwise the run starts its own kernel as usual.

The spare is started with this process's environment only. The run that takes it hands over its own
environment (run id, parameters, secrets) before the first cell, through a file readable only by
this user that the kernel deletes as it reads it, so no value travels as code or stays on disk.
Every spare is used at most once, and the pool shuts an unused one down on ``close``.

Only ipykernel kernel specs are pre-started (others start per run). All methods must be called
from the thread that executes notebooks: kernel managers belong to that thread's event loop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbpipe.run.kernel_log import MaskedLog

log = logging.getLogger(__name__)
PRELOAD_LINE = "import nbpipe.kernel._preload as _nbpipe_preload; del _nbpipe_preload"


@dataclass
class Spare:
    """A started kernel waiting for a run."""

    km: Any  # jupyter_client AsyncKernelManager with a (possibly still booting) kernel
    kernel_name: str
    cwd: Path
    log_path: Path  # the kernel's own stdout/stderr since it started
    log: MaskedLog  # masks with the secrets of the run that takes it (set by that run)

    def alive(self) -> bool:
        from jupyter_core.utils import run_sync

        try:
            return bool(run_sync(self.km.is_alive)())
        except Exception:  # a broken manager is a dead kernel
            return False

    def shutdown(self) -> None:
        from jupyter_core.utils import run_sync

        with contextlib.suppress(Exception):
            if run_sync(self.km.is_alive)():
                run_sync(self.km.shutdown_kernel)(now=True)
        with contextlib.suppress(Exception):
            run_sync(self.km.cleanup_resources)()
        self.close_log()
        self.log_path.unlink(missing_ok=True)

    def close_log(self) -> None:
        """Wait for the kernel's output to drain (masked) into :attr:`log_path`, then close it."""
        with contextlib.suppress(OSError):
            self.log.close()


class KernelPool:
    """At most one spare kernel, for the next notebook run by the same process."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._spare: Spare | None = None
        self.started = 0  # spares launched
        self.taken = 0  # spares handed to a run
        _remove_stale(log_dir)

    def prestart(self, kernel_name: str, cwd: Path) -> None:
        """Launch a spare kernel (returns once the process is started; it boots on its own).

        Never raises: without a spare the next run simply starts its own kernel.
        """
        if self._spare is not None:
            return
        name: str | None = None
        log_file: MaskedLog | None = None
        km: Any = None
        try:
            if not _is_ipykernel(kernel_name):
                return
            from jupyter_client import AsyncKernelManager
            from jupyter_core.utils import run_sync

            self.log_dir.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix="spare-", suffix=".log", dir=self.log_dir)
            os.close(fd)
            log_file = MaskedLog(Path(name))
            km = AsyncKernelManager(kernel_name=kernel_name)
            run_sync(km.start_kernel)(
                cwd=str(cwd),
                env=dict(os.environ),
                stdout=log_file.writer,
                stderr=log_file.writer,
                extra_arguments=[f"--IPKernelApp.exec_lines={PRELOAD_LINE}"],
            )
            log_file.close_writer()  # the kernel holds it now: the pipe ends when the kernel does
        except Exception:
            log.debug("no kernel started ahead (%s); the next run starts its own", kernel_name, exc_info=True)
            if km is not None:
                with contextlib.suppress(Exception):
                    run_sync(km.shutdown_kernel)(now=True)
            if log_file is not None:
                log_file.close()
            if name is not None:
                Path(name).unlink(missing_ok=True)
            return
        self._spare = Spare(km, kernel_name, Path(cwd), Path(name), log_file)
        self.started += 1

    def take(self, kernel_name: str, cwd: Path) -> Spare | None:
        """The spare, if it fits this run and is alive (a misfit or dead one is shut down)."""
        spare, self._spare = self._spare, None
        if spare is None:
            return None
        if spare.kernel_name != kernel_name or spare.cwd != Path(cwd) or not spare.alive():
            log.debug("kernel started ahead not used (kernel %s in %s); starting a fresh one", kernel_name, cwd)
            spare.shutdown()
            return None
        self.taken += 1
        return spare

    def close(self) -> None:
        spare, self._spare = self._spare, None
        if spare is not None:
            spare.shutdown()


def environment_file(env: dict[str, str], directory: Path) -> Path:
    """Write ``env`` as JSON to a new file only this user can read; the kernel deletes it."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".kernel-env-", suffix=".json", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(env, fh)
    return Path(name)


def adopt_code(env_file: Path) -> str:
    """Code the taken kernel runs (silently) before the first cell: adopt the run's environment."""
    return (
        "import json as _j, os as _o\n"
        f"with open({str(env_file)!r}, encoding='utf-8') as _f:\n"
        "    _o.environ.update(_j.load(_f))\n"
        f"_o.unlink({str(env_file)!r})\n"
        "del _j, _o, _f\n"
    )


def _remove_stale(log_dir: Path, max_age_s: float = 3600.0) -> None:
    """Remove what a killed process left behind: spare logs and environment files older than an hour."""
    import time

    if not log_dir.is_dir():
        return
    for path in [*log_dir.glob("spare-*.log"), *log_dir.glob(".kernel-env-*.json")]:
        with contextlib.suppress(OSError):
            if time.time() - path.stat().st_mtime > max_age_s:
                path.unlink()


def _is_ipykernel(kernel_name: str) -> bool:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        argv = KernelSpecManager().get_kernel_spec(kernel_name).argv
    except (NoSuchKernel, OSError, ValueError):
        return False
    return any("ipykernel" in part for part in argv)
