"""The nbpipe exception hierarchy and the CLI exit code of each class.

Every error says what failed, where, and how to fix it. Third-party errors are translated at
the adapter boundary (``raise X(...) from exc``) so callers only ever see these classes::

    NbpipeError                      exit 1   root; never raised directly
    ├── ConfigError                  exit 2   nbpipe.yaml missing or invalid
    ├── ParameterError               exit 3   unknown / wrong type / missing required parameter
    ├── NotebookError                exit 4   notebook missing, unreadable, no parameters cell
    ├── RunLockedError               exit 5   another run of the same pipeline holds the lock
    ├── RunFailedError               exit 10  the notebook raised, or a gate failed
    │   ├── CellExecutionError       exit 10  a cell raised (carries cell index, ename, evalue)
    │   ├── KernelDiedError          exit 11  the kernel process died (os._exit, SIGKILL, OOM)
    │   ├── RunTimeoutError          exit 12  cell or whole-run timeout
    │   └── QualityGateError         exit 13  a quality gate failed (``quality: fail``)
    ├── DatasetError                 exit 6   unknown dataset, missing input, name escaping root
    │   ├── ContractViolationError   exit 7   frame does not match the dataset's contract
    │   └── BadRowsError             exit 8   bad rows with ``on_bad_rows: fail``
    ├── StateError                   exit 9   incremental state cannot be read or committed
    └── StoreError                   exit 14  run-history store unreachable or inconsistent
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class NbpipeError(Exception):
    """Root of every error nbpipe raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\n  hint: {hint}")


class ConfigError(NbpipeError):
    """``nbpipe.yaml`` is missing or does not validate."""

    exit_code = 2


class ParameterError(NbpipeError):
    """A run parameter is unknown, of the wrong type, or missing."""

    exit_code = 3


class NotebookError(NbpipeError):
    """The notebook cannot be read or lacks what nbpipe needs (e.g. a ``parameters`` cell)."""

    exit_code = 4


class RunLockedError(NbpipeError):
    """Another run of the same pipeline is in progress."""

    exit_code = 5


class DatasetError(NbpipeError):
    """A dataset is unknown, its input is missing, or its name escapes the warehouse root."""

    exit_code = 6


class ContractViolationError(DatasetError):
    """A DataFrame does not match its dataset's contract."""

    exit_code = 7


class BadRowsError(DatasetError):
    """Input rows failed the contract and the dataset says ``on_bad_rows: fail``."""

    exit_code = 8


class StateError(NbpipeError):
    """Incremental state could not be read, proposed or committed."""

    exit_code = 9


class RunFailedError(NbpipeError):
    """A production run did not succeed."""

    exit_code = 10

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        cell_index: int | None = None,
        ename: str | None = None,
        evalue: str | None = None,
        traceback: list[str] | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.cell_index = cell_index
        self.ename = ename
        self.evalue = evalue
        self.traceback = traceback or []


class CellExecutionError(RunFailedError):
    """A notebook cell raised an exception."""

    exit_code = 10


class KernelDiedError(RunFailedError):
    """The kernel process died while executing (``os._exit``, SIGKILL, out of memory)."""

    exit_code = 11


class RunTimeoutError(RunFailedError):
    """A cell or the whole run exceeded its configured timeout."""

    exit_code = 12


class QualityGateError(RunFailedError):
    """A quality checkpoint failed in a pipeline configured with ``quality: fail``."""

    exit_code = 13


class StoreError(NbpipeError):
    """The run-history store could not be reached or is inconsistent."""

    exit_code = 14


EXIT_CODES: dict[str, int] = {
    "succeeded": 0,
    "skipped": 0,
    "interrupted": 130,
}


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest candidate, or an empty string."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""
