"""The kernel process's own stdout/stderr, masked before it reaches ``kernel.log``.

A kernel is started with the write end of a pipe as its stdout and stderr; a thread of the runner
reads the other end, masks secret values (:class:`~nbpipe.core.masking.StreamMasker`) and appends
to the log file. So a secret the kernel (or a process it starts: Spark's JVM, a subprocess) prints
is never on disk in clear, even when the runner is killed before the run finishes.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import threading
from pathlib import Path
from typing import IO

from nbpipe.core.masking import Masker, StreamMasker

_CHUNK = 65536
_DRAIN_S = 3.0  # how long close() waits for processes the kernel started to let go of the pipe


class MaskedLog:
    """A pipe whose write end a kernel gets as stdout/stderr; what arrives is masked and appended.

    Args:
        path: The log file (appended to; created when missing).
        masker: The secrets to mask; settable later with :attr:`masker`.
    """

    def __init__(self, path: Path, masker: Masker | None = None) -> None:
        self.path = Path(path)
        self._stream = StreamMasker(masker)
        self._lock = threading.Lock()
        read_fd, write_fd = os.pipe()
        self.writer: IO[bytes] = os.fdopen(write_fd, "wb", buffering=0)  # hand this to the kernel
        self._reader = os.fdopen(read_fd, "rb", buffering=0)
        self._out = open(self.path, "ab")  # noqa: SIM115 - closed by close()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._thread = threading.Thread(target=self._pump, name="nbpipe-kernel-log", daemon=True)
        self._thread.start()

    @property
    def masker(self) -> Masker:
        return self._stream.masker

    @masker.setter
    def masker(self, masker: Masker) -> None:
        with self._lock:
            self._stream.masker = masker

    def _pump(self) -> None:
        while True:
            try:
                chunk = self._reader.read(_CHUNK)
            except OSError:
                chunk = b""
            with self._lock:
                if not chunk:
                    self._write(self._stream.feed(self._decoder.decode(b"", final=True)) + self._stream.flush())
                    return
                self._write(self._stream.feed(self._decoder.decode(chunk)))

    def _write(self, text: str) -> None:
        if text and not self._out.closed:
            self._out.write(text.encode("utf-8", errors="replace"))
            self._out.flush()

    def close_writer(self) -> None:
        """Close this process's copy of the write end (once the kernel has it)."""
        with contextlib.suppress(OSError):
            self.writer.close()

    def close(self) -> None:
        """Wait until every writer let go of the pipe (the kernel stopped), write the rest, close.

        A process the kernel started may hold the pipe longer than the kernel lives; after a short
        wait the held-back tail is written masked and the file closed (later output is dropped).
        """
        self.close_writer()
        self._thread.join(_DRAIN_S)
        with self._lock:
            self._write(self._stream.flush())
            self._out.close()
        if not self._thread.is_alive():
            with contextlib.suppress(OSError):
                self._reader.close()
