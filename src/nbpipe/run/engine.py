"""Notebook execution adapter: papermill parameterization and execution on a fresh kernel.

The only module that imports papermill/nbclient. It injects parameters with papermill's
translators (values are data, never code), executes with papermill's execution manager (cell
timing metadata, the notebook saved as cells run), and translates every way a kernel can fail —
an exception, a dead kernel, a cell or whole-run timeout — into nbpipe errors that name the cell.
Whether a cell failed is the kernel's execute reply (:mod:`nbpipe.run.replies`), not its outputs.
Secrets are masked before anything is written: the notebook as it is saved while cells run, and the
kernel's own output on its way to ``kernel.log`` (:mod:`nbpipe.run.kernel_log`).

The runner does not call papermill: it asks an :class:`Executor` to run each attempt's
:class:`ExecutionRequest` (kedro's pluggable executors, httpx's transports).
:class:`PapermillExecutor` is the default; tests inject a fake that runs no kernel.
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NotebookExecutionManager

from nbpipe.core import events as ev
from nbpipe.core.events import ProgressFn
from nbpipe.core.masking import Masker
from nbpipe.core.params import NotebookParam, ResolvedParams
from nbpipe.errors import (
    CellCodeError,
    CellExecutionError,
    KernelDiedError,
    NotebookError,
    RunFailedError,
    RunTimeoutError,
)
from nbpipe.run.kernel_log import MaskedLog
from nbpipe.run.kernelpool import KernelPool, adopt_code, environment_file
from nbpipe.run.replies import ExecutionOutcome, ReplyLog, mark_clean_stop

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
# Exceptions (``ename``) a cell raises when its code cannot run as written: a retry cannot help.
CODE_ERRORS = frozenset({"SyntaxError", "IndentationError", "TabError", "NameError", "UnboundLocalError"})
# Spark refusing a query's plan (analysis, parsing, the analyzer's iteration limit) is deterministic too.
PLAN_ERRORS = frozenset({"AnalysisException", "ParseException"})
_PLAN_LIMIT = re.compile(r"Max iterations \(\d+\) reached for batch")


def is_code_error(ename: str, evalue: str | None) -> bool:
    """Whether a cell's error says its code cannot run as written, so that a retry cannot help.

    A missing input path is an ``AnalysisException`` too, but one that a later attempt may not meet.
    """
    text = evalue or ""
    if ename in CODE_ERRORS or _PLAN_LIMIT.search(text):
        return True
    return ename in PLAN_ERRORS and "PATH_NOT_FOUND" not in text and "Path does not exist" not in text


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read a notebook, with an error naming the file when it is missing or broken."""
    path = Path(path)
    if not path.is_file():
        raise NotebookError(f"notebook {path} does not exist", hint="check the pipeline's 'notebook:' in nbpipe.yaml")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises several unrelated types
        raise NotebookError(
            f"notebook {path} cannot be read: {exc}", hint="open it in JupyterLab and save it again"
        ) from exc
    # The metadata papermill's inspection, parameterization and execution manager expect.
    nb.metadata.setdefault("papermill", {"default_parameters": {}, "parameters": {}, "environment_variables": {}})
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
        cell.metadata.setdefault("papermill", {})
    return nb


def parameters_cell_index(nb: nbformat.NotebookNode) -> int:
    for i, cell in enumerate(nb.cells):
        if PARAMETERS_TAG in cell.get("metadata", {}).get("tags", []):
            return i
    return -1


def inspect_parameters(nb: nbformat.NotebookNode, kernel_name: str = "python3") -> list[NotebookParam]:
    """The parameters declared in the ``parameters`` cell, using papermill's inspection."""
    if parameters_cell_index(nb) < 0:
        return []
    from papermill.inspection import _infer_parameters

    found = _infer_parameters(nb, name=kernel_name, language=nb.metadata.get("kernelspec", {}).get("language"))
    return [
        NotebookParam(name=p.name, default_source=p.default, inferred_type=p.inferred_type_name, help=p.help)
        for p in found
    ]


def parameterize(
    nb: nbformat.NotebookNode, params: ResolvedParams, *, kernel_name: str, secret_env: Mapping[str, str]
) -> nbformat.NotebookNode:
    """Insert the injected-parameters cell after the ``parameters`` cell.

    Ordinary values are written by papermill's translator as literals. Secret values never appear in
    the notebook: the injected cell reads them from the kernel's environment (``secret_env`` maps
    parameter name to the variable holding its JSON value).
    """
    from papermill.parameterize import parameterize_notebook

    plain = {k: v for k, v in params.values.items() if k not in secret_env}
    nb = parameterize_notebook(nb, plain, kernel_name=kernel_name, language="python")
    if secret_env:
        idx = next(i for i, c in enumerate(nb.cells) if INJECTED_TAG in c.metadata.get("tags", []))
        lines = [
            f"{name} = __import__('json').loads(__import__('os').environ[{var!r}])  # secret, from env"
            for name, var in secret_env.items()
        ]
        nb.cells[idx].source = nb.cells[idx].source.rstrip("\n") + "\n" + "\n".join(lines) + "\n"
        nb.metadata.papermill["parameters"] = {**plain, **{k: "***" for k in secret_env}}
    return nb


@dataclass
class ExecutionLimits:
    cell_timeout_s: float | None = None
    run_timeout_s: float | None = None  # the time this attempt has (what earlier attempts left)
    startup_timeout_s: float = 60.0
    run_limit_s: float | None = None  # the whole run's timeout_s, as errors name it


@dataclass(frozen=True)
class ExecutionRequest:
    """One attempt's notebook execution, as the runner asks an :class:`Executor` for it.

    Attributes:
        notebook: The pipeline's notebook, as written (the executor injects the parameters).
        output_path: Where the executed notebook goes (``output.ipynb`` of the run directory).
        params: The resolved parameters of the run.
        kernel_name: The Jupyter kernel to start.
        cwd: The kernel's working directory (the notebook's folder).
        env: The kernel's whole environment, with the runner's handoff (:mod:`nbpipe.core.protocol`).
        limits: Cell and whole-run timeouts.
        secret_env: Secret parameter name → the variable of ``env`` that holds its JSON value.
        kernel_log_path: Where the kernel process's own stdout/stderr is appended.
        on_progress: Receives ``cell_started``/``cell_finished`` progress events.
        prestart_next: Another run follows: boot its kernel while this one runs (when pooled).
        masker: Masks secret values in everything written while the notebook runs (the notebook
            as it is saved, the kernel log, progress events).
    """

    notebook: Path
    output_path: Path
    params: ResolvedParams
    kernel_name: str
    cwd: Path
    env: Mapping[str, str]
    limits: ExecutionLimits
    secret_env: Mapping[str, str] = field(default_factory=dict)
    kernel_log_path: Path | None = None
    on_progress: ProgressFn | None = None
    prestart_next: bool = False
    masker: Masker = field(default_factory=Masker)


class Executor(Protocol):
    """What the runner needs from notebook execution; :class:`PapermillExecutor` is the default.

    The kernel answers only through the run's event log and files (:mod:`nbpipe.core.events`,
    :mod:`nbpipe.core.layout`), so an executor writes the executed notebook and raises; it returns
    at most whether the notebook stopped early (``None`` means every cell ran).
    """

    def execute(self, request: ExecutionRequest) -> ExecutionOutcome | None:
        """Run one attempt's notebook; write ``request.output_path`` even when it fails.

        Raises:
            CellExecutionError: a cell raised; ``ename`` names the exception class (the runner maps
                an nbpipe error's name back to its class); ``CellCodeError`` when the code cannot run.
            KernelDiedError: the kernel process died.
            RunTimeoutError: a cell or the whole run exceeded its limit.
            RunFailedError: execution failed otherwise.
            NotebookError: the notebook cannot be read or parameterized.
        """
        ...

    def prestart(self, kernel_name: str, cwd: Path) -> None:
        """Boot a kernel for a run that follows, so its start overlaps other work (may do nothing)."""
        ...

    def close(self) -> None:
        """Release what the executor holds (kernels started ahead)."""
        ...


class PapermillExecutor:
    """The default :class:`Executor`: papermill parameterization, then :func:`execute` on a fresh kernel.

    Args:
        pool: Kernels started ahead (``Runner(prestart_kernels=True)``); without it each attempt starts
            its kernel when it runs.
    """

    def __init__(self, pool: KernelPool | None = None) -> None:
        self.pool = pool

    def execute(self, request: ExecutionRequest) -> ExecutionOutcome:
        nb = read_notebook(request.notebook)
        nb = parameterize(nb, request.params, kernel_name=request.kernel_name, secret_env=request.secret_env)
        return execute(
            nb,
            request.output_path,
            kernel_name=request.kernel_name,
            cwd=request.cwd,
            env=request.env,
            limits=request.limits,
            on_progress=request.on_progress,
            kernel_log_path=request.kernel_log_path,
            pool=self.pool,
            prestart_next=request.prestart_next,
            masker=request.masker,
        )

    def prestart(self, kernel_name: str, cwd: Path) -> None:
        if self.pool is not None:
            self.pool.prestart(kernel_name, cwd)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


class _Manager(NotebookExecutionManager):
    """papermill's execution manager: saves masked, reports progress, calls ``on_first_cell`` once."""

    def __init__(
        self,
        nb: nbformat.NotebookNode,
        output_path: Path,
        *,
        on_progress: ProgressFn | None = None,
        on_first_cell: Callable[[], None] | None = None,
        masker: Masker | None = None,
    ) -> None:
        self.masker = masker or Masker()
        super().__init__(nb, output_path=str(output_path), progress_bar=False, autosave_cell_every=10)
        self.on_progress = on_progress
        self.on_first_cell = on_first_cell
        self.last_started: int | None = None
        self.code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
        self.started = time.monotonic()

    def save(self, **kwargs: Any) -> None:
        """Write the notebook as it is now, secrets masked (papermill saves as cells run)."""
        if self.output_path:
            write_notebook(self.nb, Path(self.output_path), mask=self.masker if self.masker else None)
        self.last_save_time = self.now()

    def cell_start(self, cell: Any, cell_index: int | None = None, **kw: Any) -> None:
        self.last_started = cell_index
        super().cell_start(cell, cell_index, **kw)
        if self.on_first_cell is not None:  # this kernel is up: boot the next one meanwhile
            start_next, self.on_first_cell = self.on_first_cell, None
            start_next()
        if self.on_progress and cell.cell_type == "code" and cell_index is not None:
            first = next((ln for ln in cell.source.splitlines() if ln.strip()), "")
            self.on_progress(
                {
                    "event": ev.PROGRESS_CELL_STARTED,
                    "index": cell_index,
                    "n": self.code_cells.index(cell_index) + 1,
                    "total": len(self.code_cells),
                    "first_line": self.masker.text(first[:100]),
                    "elapsed_s": time.monotonic() - self.started,
                }
            )

    def cell_complete(self, cell: Any, cell_index: int | None = None, **kw: Any) -> None:
        super().cell_complete(cell, cell_index, **kw)
        if self.on_progress and cell.cell_type == "code" and cell_index is not None:
            self.on_progress(
                {
                    "event": ev.PROGRESS_CELL_FINISHED,
                    "index": cell_index,
                    "n": self.code_cells.index(cell_index) + 1,
                    "total": len(self.code_cells),
                    "duration_s": cell.metadata.papermill.get("duration"),
                    "status": cell.metadata.papermill.get("status"),
                    "elapsed_s": time.monotonic() - self.started,
                }
            )


class _Client(PapermillNotebookClient):
    """papermill's client; a kernel started ahead first adopts the run's environment (``env_file``)."""

    env_file: Path | None = None

    def papermill_execute_cells(self) -> None:
        if self.env_file is not None:
            # A kernel started ahead adopts this run's environment before any cell runs.
            reply = self.wait_for_reply(self.kc.execute(adopt_code(self.env_file), silent=True, store_history=False))
            if reply is None or reply["content"].get("status") != "ok":
                raise RuntimeError("the kernel started ahead could not adopt the run's environment")
        super().papermill_execute_cells()


def execute(
    nb: nbformat.NotebookNode,
    output_path: Path,
    *,
    kernel_name: str,
    cwd: Path,
    env: Mapping[str, str],
    limits: ExecutionLimits,
    on_progress: ProgressFn | None = None,
    kernel_log_path: Path | None = None,
    pool: KernelPool | None = None,
    prestart_next: bool = False,
    masker: Masker | None = None,
) -> ExecutionOutcome:
    """Execute ``nb`` in a new kernel, writing it (masked) to ``output_path`` as it runs and at the end.

    The kernel's own stdout/stderr (not the cells' output, which goes into the notebook) is appended
    to ``kernel_log_path``, masked on its way: Spark's JVM logs and kernel warnings land there
    instead of the terminal.

    A cell fails when its execute reply is an error; ``sys.exit()``/``sys.exit(0)``/``raise
    SystemExit`` stop the notebook cleanly (the outcome names that cell, later cells do not run).

    With a ``pool``, a fitting kernel started ahead is used (it adopts ``env`` before the first cell),
    and with ``prestart_next`` the pool starts the next run's kernel once this one runs its first cell.

    Returns:
        Whether the notebook stopped early, and at which cell.

    Raises:
        CellExecutionError: a cell raised (the error carries cell index, ename, evalue, traceback);
            ``CellCodeError`` when its code cannot run as written (:data:`CODE_ERRORS`).
        KernelDiedError: the kernel process died.
        RunTimeoutError: a cell exceeded ``cell_timeout_s`` or the run exceeded ``run_timeout_s``.
    """
    spare = pool.take(kernel_name, cwd) if pool is not None else None
    start_next = functools.partial(pool.prestart, kernel_name, cwd) if pool is not None and prestart_next else None
    masker = masker or Masker()
    manager = _Manager(nb, output_path, on_progress=on_progress, on_first_cell=start_next, masker=masker)
    replies = ReplyLog()
    client = _Client(
        manager,
        km=spare.km if spare is not None else None,
        timeout=limits.cell_timeout_s,
        startup_timeout=limits.startup_timeout_s,
        kernel_name=kernel_name,
        log_output=False,
        shutdown_kernel="immediate",
        on_cell_executed=replies,
    )
    run_timed_out = threading.Event()
    finished = threading.Event()

    def _watchdog() -> None:
        if limits.run_timeout_s is None or finished.wait(limits.run_timeout_s):
            return
        run_timed_out.set()
        _kill_kernel(client)

    watchdog = threading.Thread(target=_watchdog, name="nbpipe-run-timeout", daemon=True)
    watchdog.start()
    manager.notebook_start()
    error: BaseException | None = None
    kernel_log = MaskedLog(kernel_log_path, masker) if kernel_log_path and spare is None else None
    if spare is not None:
        spare.log.masker = masker  # the kernel started ahead writes this run's secrets from now on
    try:
        extra: dict[str, Any] = {"stdout": kernel_log.writer, "stderr": kernel_log.writer} if kernel_log else {}
        if spare is not None and pool is not None:
            client.env_file = environment_file(dict(env), pool.log_dir)
            extra["cleanup_kc"] = True  # the client does not own a kernel it was handed; stop it anyway
        client.execute(cwd=str(cwd), env=dict(env), **extra)
    except (CellTimeoutError, DeadKernelError, RuntimeError, KeyboardInterrupt) as exc:
        error = exc
    finally:
        finished.set()
        if spare is not None:
            if client.km is not None:  # not cleaned up by the client (it failed before running)
                spare.shutdown()
            spare.close_log()
            if kernel_log_path is not None and spare.log_path.is_file():
                with open(kernel_log_path, "ab") as log_out:
                    log_out.write(spare.log_path.read_bytes())
            spare.log_path.unlink(missing_ok=True)
            if client.env_file is not None:
                client.env_file.unlink(missing_ok=True)
        if kernel_log is not None:
            kernel_log.close()
        if error is not None and manager.last_started is not None:
            # papermill marks the cell "completed" in its finally; it did not complete.
            meta = manager.nb.cells[manager.last_started].metadata.papermill
            meta["status"], meta["exception"] = "failed", True
        manager.notebook_complete()  # marks every pending cell before a failed one completed
        stop = replies.first_error
        if error is None and stop is not None and stop.clean_exit:
            mark_clean_stop(manager.nb, stop.cell_index)
        manager.save()
    nb = manager.nb
    running = manager.last_started if error is not None or run_timed_out.is_set() else _running_cell(nb)
    if run_timed_out.is_set():
        raise RunTimeoutError(
            f"the run exceeded its timeout of {limits.run_limit_s or limits.run_timeout_s:g} s"
            + (f" while executing {cell_label(nb, running)}" if running is not None else ""),
            hint="raise the pipeline's timeout_s in nbpipe.yaml, or make the notebook faster",
            cell_index=running,
        )
    if error is not None:
        if isinstance(error, KeyboardInterrupt):
            raise error
        if isinstance(error, CellTimeoutError):
            raise RunTimeoutError(
                f"{cell_label(nb, running)} exceeded the cell timeout of {limits.cell_timeout_s:g} s",
                hint="raise the pipeline's cell_timeout_s in nbpipe.yaml, or make the cell faster",
                cell_index=running,
            ) from None
        if isinstance(error, DeadKernelError):
            raise KernelDiedError(
                "the kernel died"
                + (f" while executing {cell_label(nb, running)}" if running is not None else "")
                + " (os._exit, a signal such as SIGKILL, or running out of memory)",
                hint="check memory use of that cell (dmesg shows OOM kills); the executed notebook "
                "shows the output up to the crash",
                cell_index=running,
            ) from None
        raise RunFailedError(
            f"notebook execution failed: {type(error).__name__}: {error}",
            hint="see kernel.log in the run directory for the kernel's own output, then rerun",
            cell_index=running,
        ) from None
    failed = replies.first_error
    if failed is None:
        return ExecutionOutcome()
    if failed.clean_exit:
        return ExecutionOutcome(stopped_at=failed.cell_index, label=cell_label(nb, failed.cell_index))
    index, ename, evalue = failed.cell_index, failed.ename, failed.evalue
    raise (CellCodeError if is_code_error(ename, evalue) else CellExecutionError)(
        masker.text(f"{cell_label(nb, index)} raised {ename}" + (f": {evalue}" if evalue else "")),
        hint="see the traceback in report.html or output.ipynb, fix the notebook or its input, then rerun",
        cell_index=index,
        ename=ename,
        evalue=masker.text(evalue),
        traceback=[masker.text(line) for line in failed.traceback or _error_traceback(nb, index)],
    )


def _kill_kernel(client: Any) -> None:
    km = getattr(client, "km", None)
    provisioner = getattr(km, "provisioner", None)
    process = getattr(provisioner, "process", None)
    pid = getattr(process, "pid", None)
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def cell_label(nb: nbformat.NotebookNode, index: int | None) -> str:
    """How a user finds a cell: its position, and the ``In [n]`` prompt when it ran."""
    if index is None:
        return "a cell"
    count = nb.cells[index].get("execution_count") if 0 <= index < len(nb.cells) else None
    return f"cell {index} (In [{count}])" if count else f"cell {index}"


def _running_cell(nb: nbformat.NotebookNode) -> int | None:
    for i, cell in enumerate(nb.cells):
        if cell.get("metadata", {}).get("papermill", {}).get("status") == "running":
            return i
    return None


def _error_traceback(nb: nbformat.NotebookNode, index: int) -> list[str]:
    """The traceback of the cell's error output, for a reply that carried none."""
    for out in nb.cells[index].get("outputs", []):
        if out.get("output_type") == "error":
            return list(out.get("traceback", []))
    return []


def write_notebook(nb: nbformat.NotebookNode, path: Path, mask: Callable[[str], str] | None = None) -> None:
    """Write ``nb`` atomically, optionally masking secrets in every string it holds."""
    text = nbformat.writes(nb)
    if mask is not None:
        data = json.loads(text)
        text = json.dumps(_mask_json(data, mask), indent=1, ensure_ascii=False) + "\n"
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _mask_json(value: Any, mask: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, list):
        return [_mask_json(v, mask) for v in value]
    if isinstance(value, dict):
        return {k: _mask_json(v, mask) for k, v in value.items()}
    return value
