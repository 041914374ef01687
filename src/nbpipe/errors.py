"""The nbpipe exception hierarchy, the CLI exit code of each class and whether a retry can help.

Every error says what failed, where, and how to fix it. Third-party errors are translated at
the adapter boundary (``raise X(...) from exc``) so callers only ever see these classes. Errors
raised inside a notebook's kernel reach the runner by name (``ename``); :func:`by_name` maps
them back to their class, so ``nbpipe run`` exits with the same code wherever an error was
raised. ``retry`` is the class's :attr:`~NbpipeError.retryable`: whether the runner retries an
attempt that failed with it (pipelines with ``retries:``)::

    NbpipeError                      exit 1   retry  root; raised directly when no subclass fits
    ├── ConfigError                  exit 2   -      nbpipe.yaml missing or invalid
    ├── ParameterError               exit 3   -      bad parameter or params file; unknown/ambiguous run id
    ├── NotebookError                exit 4   -      notebook missing, unreadable, no parameters cell
    ├── RunLockedError               exit 5   retry  another run of the same pipeline holds the lock
    ├── DatasetError                 exit 6   -      unknown dataset, missing input, name escaping root
    │   ├── ContractViolationError   exit 7   -      frame does not match the dataset's contract
    │   └── BadRowsError             exit 8   -      bad rows with ``on_bad_rows: fail``
    ├── StateError                   exit 9   retry  incremental state cannot be read or committed
    ├── RunFailedError               exit 10  retry  the notebook raised, or a gate failed
    │   ├── CellExecutionError       exit 10  retry  a cell raised (carries cell index, ename, evalue)
    │   │   └── CellCodeError        exit 10  -      a cell's code cannot run (SyntaxError, NameError)
    │   ├── KernelDiedError          exit 11  retry  the kernel process died (os._exit, SIGKILL, OOM)
    │   ├── RunTimeoutError          exit 12  retry  cell or whole-run timeout
    │   ├── QualityGateError         exit 13  -      a quality gate failed (``quality: fail``)
    │   └── RunCancelledError        exit 130 -      SIGINT/SIGTERM stopped the run (status ``cancelled``)
    └── StoreError                   exit 14  retry  run-history store unreachable or inconsistent
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from typing import ClassVar

HINT_SEPARATOR = "\n  hint: "  # between message and hint in ``str(error)`` (a kernel's ``evalue``)


class NbpipeError(Exception):
    """Root of every error nbpipe raises on purpose.

    Attributes:
        exit_code: The exit code of a command that ends with this error.
        retryable: Whether running the attempt again may succeed (a transient failure), or the
            notebook, its data or its configuration must change first.
        message: What failed and where.
        hint: How to fix it (a flag, a command, a key of nbpipe.yaml), or None.
        cell_index: The notebook cell that raised it, when it was raised in a kernel.
        ename: The exception class the kernel reported for that cell.
        evalue: The exception text the kernel reported for that cell.
        traceback: The kernel's traceback lines for that cell.
    """

    exit_code: ClassVar[int] = 1
    retryable: ClassVar[bool] = True

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
        self.message = message
        self.hint = hint
        self.cell_index = cell_index
        self.ename = ename
        self.evalue = evalue
        self.traceback: list[str] = traceback or []
        super().__init__(message if hint is None else f"{message}{HINT_SEPARATOR}{hint}")


class ConfigError(NbpipeError):
    """``nbpipe.yaml`` is missing or does not validate."""

    exit_code = 2
    retryable = False


class ParameterError(NbpipeError):
    """A run parameter is unknown, of the wrong type, or missing; or a given run id matches no run or several."""

    exit_code = 3
    retryable = False


class NotebookError(NbpipeError):
    """The notebook cannot be read or lacks what nbpipe needs (e.g. a ``parameters`` cell)."""

    exit_code = 4
    retryable = False


class RunLockedError(NbpipeError):
    """Another run of the same pipeline is in progress."""

    exit_code = 5
    retryable = True


class DatasetError(NbpipeError):
    """A dataset is unknown, its input is missing, or its name escapes the warehouse root."""

    exit_code = 6
    retryable = False


class ContractViolationError(DatasetError):
    """A DataFrame does not match its dataset's contract."""

    exit_code = 7
    retryable = False


class BadRowsError(DatasetError):
    """Input rows failed the contract and the dataset says ``on_bad_rows: fail``."""

    exit_code = 8
    retryable = False


class StateError(NbpipeError):
    """Incremental state could not be read, proposed or committed."""

    exit_code = 9
    retryable = True


class RunFailedError(NbpipeError):
    """A production run did not succeed."""

    exit_code = 10
    retryable = True


class CellExecutionError(RunFailedError):
    """A notebook cell raised an exception."""

    exit_code = 10
    retryable = True


class CellCodeError(CellExecutionError):
    """A cell's code cannot run as written (``SyntaxError``, ``NameError``): a retry cannot help."""

    exit_code = 10
    retryable = False


class KernelDiedError(RunFailedError):
    """The kernel process died while executing (``os._exit``, SIGKILL, out of memory)."""

    exit_code = 11
    retryable = True


class RunTimeoutError(RunFailedError):
    """A cell or the whole run exceeded its configured timeout."""

    exit_code = 12
    retryable = True


class QualityGateError(RunFailedError):
    """A quality checkpoint failed in a pipeline configured with ``quality: fail``."""

    exit_code = 13
    retryable = False


class RunCancelledError(RunFailedError):
    """SIGINT or SIGTERM stopped the run: recorded as ``cancelled``, nothing published."""

    exit_code = 130
    retryable = False


class StoreError(NbpipeError):
    """The run-history store could not be reached or is inconsistent."""

    exit_code = 14
    retryable = True


def all_errors() -> list[type[NbpipeError]]:
    """``NbpipeError`` and every subclass nbpipe defines, most specific (deepest) first."""
    found: list[type[NbpipeError]] = [NbpipeError, *_subclasses(NbpipeError)]
    own = [c for c in dict.fromkeys(found) if c.__module__ == "nbpipe" or c.__module__.startswith("nbpipe.")]
    return sorted(own, key=lambda c: len(c.__mro__), reverse=True)


def _subclasses(cls: type[NbpipeError]) -> Iterator[type[NbpipeError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def by_name(ename: str) -> type[NbpipeError] | None:
    """The nbpipe error class a kernel reported by name, or None for any other exception.

    Args:
        ename: The class name as a kernel reports it (``"ContractViolationError"``), or qualified
            by its module (``"nbpipe.errors.ContractViolationError"``).

    Example:
        >>> by_name("ContractViolationError").exit_code
        7
        >>> by_name("nbpipe.errors.StateError") is StateError, by_name("ValueError")
        (True, None)
    """
    module, _, name = ename.rpartition(".")
    for cls in all_errors():
        if cls.__name__ == name and module in ("", cls.__module__):
            return cls
    return None


def split_hint(text: str) -> tuple[str, str | None]:
    """Split ``str(error)`` of an :class:`NbpipeError` back into its message and hint."""
    message, sep, hint = text.partition(HINT_SEPARATOR)
    return message, (hint if sep else None)


EXIT_CODES: dict[str, int] = {
    "succeeded": 0,
    "skipped": 0,
    "interrupted": 130,
}


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest candidate, or an empty string."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""
